/*
 * Logging: to the journal (sd_journal_send with PRIORITY) when running under
 * systemd, to stderr otherwise.  Never called per packet on the fast path:
 * count drops in counters instead.
 */
#ifndef DN_LOG_H
#define DN_LOG_H

#define DN_LOG_LEVELS(X) \
	X(ERR,   "err",   3) \
	X(WARN,  "warn",  4) \
	X(NOTICE,"notice",5) \
	X(INFO,  "info",  6) \
	X(DEBUG, "debug", 7)

enum dn_log_level {
#define X(n, s, p) DN_LOG_##n,
	DN_LOG_LEVELS(X)
#undef X
	DN_LOG_NLEVELS
};

struct dn_log {
	enum dn_log_level level;
	int to_journal;
};

/* Parse "err", "warn", ...; returns the level or -1. */
int dn_log_level_parse(const char *s);
const char *dn_log_level_name(enum dn_log_level l);
void dn_log_init(struct dn_log *lg, enum dn_log_level level);
void dn_log(const struct dn_log *lg, enum dn_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define dn_err(lg, ...)    dn_log(lg, DN_LOG_ERR, __VA_ARGS__)
#define dn_warn(lg, ...)   dn_log(lg, DN_LOG_WARN, __VA_ARGS__)
#define dn_notice(lg, ...) dn_log(lg, DN_LOG_NOTICE, __VA_ARGS__)
#define dn_info(lg, ...)   dn_log(lg, DN_LOG_INFO, __VA_ARGS__)
#define dn_debug(lg, ...)  dn_log(lg, DN_LOG_DEBUG, __VA_ARGS__)

#endif
