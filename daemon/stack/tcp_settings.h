/*
 * The TCP settings an operator can set (the tcp group of dillnetd.conf),
 * written once.  This list drives:
 *   - the config schema (daemon/config.c: key "tcp.NAME", range, default,
 *     documentation) and the fields of struct dn_config's tcp group;
 *   - the stack's defaults (dn_tcp_init in tcp.c), so a stack made
 *     without a file (unit tests, fuzzers) runs with what the daemon
 *     runs with;
 *   - the copy from the file onto struct dn_tcp_conf (dn_config_tcp_conf).
 * Settings of struct dn_tcp_conf that are not here (MSS cap, RTO bounds,
 * retries, SACK, RACK ...) are not configurable and keep their defaults in
 * dn_tcp_init.
 *
 * X(KIND, NAME, FIELD, SCALE, DEFAULT, MIN, MAX, DOC):
 *   KIND     INT (uint32_t in the file), BOOL, or CC (a congestion
 *            control keyword, stored as enum dn_tcp_cc_algo);
 *   NAME     the key in the tcp group and the field of struct dn_config;
 *   FIELD    the field of struct dn_tcp_conf;
 *   SCALE    file unit -> stack unit (seconds -> microseconds: 1000000);
 *   DEFAULT  in file units: a number, true/false, or the keyword bare;
 *   MIN, MAX the accepted range in file units (INT only); MAX * SCALE must
 *            fit FIELD (checked at compile time in config.c).
 * No includes: config.h and tcp.c each include what the X expansion needs.
 */
#ifndef DN_TCP_SETTINGS_H
#define DN_TCP_SETTINGS_H

#define DN_TCP_SETTINGS(X) \
	X(CC, congestion_control, cc, 1, cubic, 0, 0, \
	  "congestion control: cubic or newreno") \
	X(INT, time_wait_s, time_wait_us, 1000000, 60, 1, 240, \
	  "TIME-WAIT duration (2MSL), seconds") \
	X(INT, initial_window, init_cwnd_segs, 1, 10, 1, 64, \
	  "initial congestion window, segments") \
	X(INT, delayed_ack_ms, delack_us, 1000, 40, 0, 500, \
	  "delayed-ACK timeout, milliseconds; 0 acks every segment") \
	X(INT, keepalive_idle_s, keepalive_idle_us, 1000000, 7200, 1, 86400, \
	  "idle seconds before the first keepalive probe") \
	X(INT, keepalive_interval_s, keepalive_intvl_us, 1000000, 75, 1, 3600, \
	  "seconds between keepalive probes") \
	X(INT, keepalive_count, keepalive_probes, 1, 9, 1, 127, \
	  "unanswered probes before the connection is dropped") \
	X(INT, syn_backlog, syn_backlog_max, 1, 1024, 1, 65535, \
	  "half-open connections kept per listener") \
	X(BOOL, syn_cookies, syncookies, 1, true, 0, 1, \
	  "answer with SYN cookies when the backlog is full") \
	X(INT, max_connections, max_conns, 1, 131072, 1, 1048576, \
	  "connections in the whole daemon") \
	X(INT, max_time_wait, max_tw, 1, 16384, 0, 1048576, \
	  "TIME-WAIT entries in all; beyond it the oldest is recycled") \
	X(INT, max_time_wait_per_uid, max_tw_per_uid, 1, 4096, 0, 1048576, \
	  "TIME-WAIT entries charged to one uid; 0 = no per-uid cap") \
	X(INT, max_orphans, max_orphans, 1, 4096, 0, 1048576, \
	  "connections closed by their app and not finished, in all; beyond it the oldest is reset") \
	X(INT, max_orphans_per_uid, max_orphans_per_uid, 1, 1024, 0, 1048576, \
	  "such orphans charged to one uid; 0 = no per-uid cap") \
	X(INT, orphan_retries, orphan_retries, 1, 8, 0, 255, \
	  "retransmissions or zero-window probes an orphan makes before it is reset") \
	X(INT, fin_timeout_s, fin_wait_2_us, 1000000, 60, 1, 3600, \
	  "seconds an orphan waits in FIN-WAIT-2 for the peer's FIN") \
	X(INT, challenge_ack_limit, challenge_ack_limit, 1, 1000, 0, 1000000, \
	  "challenge ACKs per second in all, randomized around it; 0 = no global budget") \
	X(INT, invalid_ratelimit_ms, invalid_ratelimit_us, 1000, 500, 0, 60000, \
	  "per connection, least milliseconds between challenge or out-of-window ACKs")

/* A default in stack units, by kind (needs tcp.h and stdbool.h). */
#define DN_TCPSET_DEF_INT(def, scale)  ((uint64_t)(def) * (scale))
#define DN_TCPSET_DEF_BOOL(def, scale) ((def) ? 1 : 0)
#define DN_TCPSET_DEF_CC(def, scale)   DN_TCPSET_CC_##def
#define DN_TCPSET_CC_cubic   DN_TCP_CC_CUBIC
#define DN_TCPSET_CC_newreno DN_TCP_CC_NEWRENO

#endif
