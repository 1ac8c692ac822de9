#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

static const struct {
	const char *name;
	int prio;
} dn_levels[] = {
#define X(n, s, p) { s, p },
	DN_LOG_LEVELS(X)
#undef X
};

int dn_log_level_parse(const char *s)
{
	for (int i = 0; i < DN_LOG_NLEVELS; i++)
		if (strcmp(s, dn_levels[i].name) == 0)
			return i;
	return -1;
}

const char *dn_log_level_name(enum dn_log_level l)
{
	return (unsigned)l < DN_LOG_NLEVELS ? dn_levels[l].name : "?";
}

void dn_log_init(struct dn_log *lg, enum dn_log_level level)
{
	lg->level = level;
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal;
	 * then native journal entries with priorities are better than text. */
	lg->to_journal = getenv("JOURNAL_STREAM") != NULL;
}

void dn_log(const struct dn_log *lg, enum dn_log_level l, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (lg && l > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (lg && lg->to_journal)
		sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", dn_levels[l].prio,
				"SYSLOG_IDENTIFIER=dillnetd", NULL);
	else
		fprintf(stderr, "dillnetd[%s]: %s\n", dn_levels[l].name, buf);
}
