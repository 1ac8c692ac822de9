/*
 * libFuzzer target for the configuration parser.  Any input must either be
 * refused with a message or load; a loaded configuration must print, load
 * back to the identical struct (so print and parse agree on every kind of
 * value) and give an EAL argument vector.  ASan/LSan catch crashes and
 * leaks, including in libconfig's own error paths.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* libconfig 1.5 (Debian 12) leaks the text of a string token when a syntax
 * error is found with that string as the look-ahead token (its grammar has
 * no %destructor for strings; later libconfig versions added one), e.g.
 * 'x "abc";'.  That is the library's, bounded to one string per refused
 * file, so it is suppressed here by its allocation sites (both in the
 * lexer, which allocates nothing else that outlives a parse); leaks of anything
 * else, such as a setting tree we failed to destroy, are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\n"   /* a non-empty string token */
	       "leak:libconfig_yylex\n"; /* an empty one: "" */
}

static struct dn_config a, b;
static char err[2048];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dn_config_load_buf(&a, (const char *)data, size, "fuzz", err, sizeof err) < 0) {
		/* A refusal must say something. */
		if (err[0] == '\0')
			abort();
		return 0;
	}

	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return 0;
	dn_config_print(&a, m);
	fclose(m);
	if (dn_config_load_string(&b, text, "printed", err, sizeof err) < 0) {
		fprintf(stderr, "printed configuration does not load: %s\n%s\n", err, text);
		abort();
	}
	memcpy(b.source, a.source, sizeof b.source);
	if (memcmp(&a, &b, sizeof a) != 0) {
		fprintf(stderr, "printed configuration loads differently:\n%s\n", text);
		abort();
	}
	free(text);

	char **argv;
	int argc;
	if (dn_config_eal_argv(&a, &argv, &argc) == 0) {
		if (argv[argc] != NULL)
			abort();
		dn_config_eal_argv_free(argv, argc);
	}
	return 0;
}
