/*
 * Reply printers: for every reply view one function per output format,
 * gathered in dn_views[] below.  Adding a reply type means adding its two
 * functions and one row; nothing else branches on the command.
 *
 * Payloads were validated by dn_msg_check (exact sizes, list counts,
 * NUL-terminated strings) before any printer runs.  Structs are still
 * copied out with memcpy so nothing depends on the buffer's alignment.
 */
#include "ctl.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

/* ---- small formatting helpers ----------------------------------------- */

static const char *const dn_level_names[] = {
#define X(n, s, p) s,
	DN_LOG_LEVELS(X)
#undef X
};

/* The status reply carries enum dn_log_level as a number. */
static const char *level_name(uint32_t l, char *buf, size_t n)
{
	if (l < DN_LOG_NLEVELS)
		return dn_level_names[l];
	snprintf(buf, n, "level-%u", l);
	return buf;
}

static const char *poll_mode_name(uint32_t m, char *buf, size_t n)
{
	static const char *const names[] = { "adaptive", "busy" };
	if (m < sizeof(names) / sizeof(names[0]))
		return names[m];
	snprintf(buf, n, "mode-%u", m);
	return buf;
}

static const char *arp_state_name(uint8_t s, char *buf, size_t n)
{
	static const char *const names[] = { "incomplete", "reachable", "stale", "failed" };
	if (s < sizeof(names) / sizeof(names[0]))
		return names[s];
	snprintf(buf, n, "state-%u", s);
	return buf;
}

static const char *mac_str(const uint8_t m[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return buf;
}

/* Addresses travel in host order. */
static const char *ip4_str(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = htonl(ip) };
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void uptime_str(uint64_t ms, char *buf, size_t n)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400;
	if (d)
		snprintf(buf, n, "%" PRIu64 "d %02u:%02u:%02u", d,
			 (unsigned)(s % 86400 / 3600), (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
	else
		snprintf(buf, n, "%02u:%02u:%02u",
			 (unsigned)(s / 3600), (unsigned)(s % 3600 / 60), (unsigned)(s % 60));
}

/* Strings from the daemon shown on a terminal: anything but printable
 * ASCII becomes \xNN, so a hostile or corrupt name cannot send escape
 * sequences to the operator's terminal.  Device and counter names are
 * ASCII, so nothing legitimate is mangled. */
static const char *safe(const char *s, size_t max, char *buf, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < max && s[i] && o + 5 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}
#define SAFE(field) safe((field), sizeof(field), (char[4 * sizeof(field) + 1]){0}, 4 * sizeof(field) + 1)

/* Text key/value line, keys padded so values line up. */
#define KV(o, key, ...) do { \
	fprintf((o)->f, "%-16s ", key); \
	fprintf((o)->f, __VA_ARGS__); \
	fputc('\n', (o)->f); \
} while (0)

/* List replies: the count and the i-th entry, copied out. */
static uint32_t list_count(const struct dn_reply *r)
{
	struct dn_ctl_list l;
	memcpy(&l, r->payload, sizeof(l));
	return l.count;
}

static int list_truncated(const struct dn_reply *r)
{
	struct dn_ctl_list l;
	memcpy(&l, r->payload, sizeof(l));
	return (l.flags & DN_CTL_LIST_TRUNCATED) != 0;
}

static void list_entry(const struct dn_reply *r, uint32_t i, void *e, size_t size)
{
	memcpy(e, r->payload + sizeof(struct dn_ctl_list) + (size_t)i * size, size);
}

/* ---- status ------------------------------------------------------------- */

static void status_text(const struct dn_out *o, const struct dn_reply *r)
{
	struct dn_ctl_status s;
	char b1[64], b2[INET_ADDRSTRLEN], b3[18];

	memcpy(&s, r->payload, sizeof(s));
	uptime_str(s.uptime_ms, b1, sizeof(b1));
	KV(o, "version", "%s", SAFE(s.version));
	KV(o, "uptime", "%s", b1);
	KV(o, "pid", "%u", s.pid);
	KV(o, "port", "%s", SAFE(s.port_name));
	KV(o, "driver", "%s", SAFE(s.driver));
	KV(o, "mac", "%s", mac_str(s.mac, b3));
	if (s.link_up)
		KV(o, "link", "up, %u Mb/s", s.link_speed_mbps);
	else
		KV(o, "link", "down");
	if (s.ip4)
		KV(o, "address", "%s/%u", ip4_str(s.ip4, b2), s.prefix_len);
	else
		KV(o, "address", "none");
	KV(o, "gateway", "%s", s.gateway ? ip4_str(s.gateway, b2) : "none");
	KV(o, "mtu", "%u", s.mtu);
	KV(o, "poll mode", "%s", poll_mode_name(s.poll_mode, b1, sizeof(b1)));
	KV(o, "log level", "%s", level_name(s.log_level, b1, sizeof(b1)));
	KV(o, "apps", "%u", s.apps);
	KV(o, "fault injector", "%s", s.fault_enabled ? "on" : "off");
}

static void status_json(const struct dn_out *o, const struct dn_reply *r)
{
	struct dn_ctl_status s;
	struct dn_json j;
	char b[32];   /* an address, or a mode/level name with a number */

	memcpy(&s, r->payload, sizeof(s));
	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_str(&j, "version", s.version, sizeof(s.version));
	dn_json_u64(&j, "uptime_ms", s.uptime_ms);
	dn_json_u64(&j, "pid", s.pid);
	dn_json_str(&j, "port", s.port_name, sizeof(s.port_name));
	dn_json_str(&j, "driver", s.driver, sizeof(s.driver));
	dn_json_str(&j, "mac", mac_str(s.mac, (char[18]){0}), 18);
	dn_json_bool(&j, "link_up", s.link_up);
	dn_json_u64(&j, "link_speed_mbps", s.link_speed_mbps);
	if (s.ip4)
		dn_json_str(&j, "address", ip4_str(s.ip4, b), sizeof(b));
	else
		dn_json_null(&j, "address");
	dn_json_u64(&j, "prefix_len", s.prefix_len);
	if (s.gateway)
		dn_json_str(&j, "gateway", ip4_str(s.gateway, b), sizeof(b));
	else
		dn_json_null(&j, "gateway");
	dn_json_u64(&j, "mtu", s.mtu);
	dn_json_str(&j, "poll_mode", poll_mode_name(s.poll_mode, b, sizeof(b)), sizeof(b));
	dn_json_str(&j, "log_level", level_name(s.log_level, b, sizeof(b)), sizeof(b));
	dn_json_u64(&j, "apps", s.apps);
	dn_json_bool(&j, "fault_injector", s.fault_enabled);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- port --------------------------------------------------------------- */

/* The port's counters, named once for both formats. */
#define DN_PORT_STATS(X) \
	X(ipackets) X(opackets) X(ibytes) X(obytes) \
	X(imissed) X(ierrors) X(oerrors) X(rx_nombuf)

static void port_text(const struct dn_out *o, const struct dn_reply *r)
{
	struct dn_ctl_port p;
	char mac[18];

	memcpy(&p, r->payload, sizeof(p));
	KV(o, "port", "%s", SAFE(p.port_name));
	KV(o, "driver", "%s", SAFE(p.driver));
	KV(o, "mac", "%s", mac_str(p.mac, mac));
	if (p.link_up)
		KV(o, "link", "up, %u Mb/s, %s duplex", p.link_speed_mbps,
		   p.full_duplex ? "full" : "half");
	else
		KV(o, "link", "down");
	KV(o, "mtu", "%u", p.mtu);
#define X(f) KV(o, #f, "%" PRIu64, (uint64_t)p.f);
	DN_PORT_STATS(X)
#undef X
}

static void port_json(const struct dn_out *o, const struct dn_reply *r)
{
	struct dn_ctl_port p;
	struct dn_json j;
	char mac[18];

	memcpy(&p, r->payload, sizeof(p));
	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_str(&j, "port", p.port_name, sizeof(p.port_name));
	dn_json_str(&j, "driver", p.driver, sizeof(p.driver));
	dn_json_str(&j, "mac", mac_str(p.mac, mac), sizeof(mac));
	dn_json_bool(&j, "link_up", p.link_up);
	dn_json_bool(&j, "full_duplex", p.full_duplex);
	dn_json_u64(&j, "link_speed_mbps", p.link_speed_mbps);
	dn_json_u64(&j, "mtu", p.mtu);
	dn_json_obj_begin(&j, "stats");
#define X(f) dn_json_u64(&j, #f, p.f);
	DN_PORT_STATS(X)
#undef X
	dn_json_obj_end(&j);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- arp ---------------------------------------------------------------- */

static void arp_text(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	char ip[INET_ADDRSTRLEN], mac[18], st[16];

	fprintf(o->f, "%-15s  %-17s  %-10s  %10s  %6s\n",
		"ADDRESS", "MAC", "STATE", "AGE(ms)", "QUEUED");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_arp_entry e;
		list_entry(r, i, &e, sizeof(e));
		fprintf(o->f, "%-15s  %-17s  %-10s  %10u  %6u\n", ip4_str(e.ip4, ip),
			e.state == 0 ? "-" : mac_str(e.mac, mac),
			arp_state_name(e.state, st, sizeof(st)), e.age_ms, e.queued);
	}
	if (n == 0)
		fprintf(o->f, "(no entries)\n");
}

static void arp_json(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	struct dn_json j;
	char ip[INET_ADDRSTRLEN], mac[18], st[16];

	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_arr_begin(&j, "arp");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_arp_entry e;
		list_entry(r, i, &e, sizeof(e));
		dn_json_obj_begin(&j, NULL);
		dn_json_str(&j, "address", ip4_str(e.ip4, ip), sizeof(ip));
		if (e.state == 0)
			dn_json_null(&j, "mac");
		else
			dn_json_str(&j, "mac", mac_str(e.mac, mac), sizeof(mac));
		dn_json_str(&j, "state", arp_state_name(e.state, st, sizeof(st)), sizeof(st));
		dn_json_u64(&j, "age_ms", e.age_ms);
		dn_json_u64(&j, "queued", e.queued);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- counters ----------------------------------------------------------- */

/* "show counters PREFIX" filters here: the request carries no filter, so
 * the daemon needs nothing to support it. */
static int counter_wanted(const struct dn_out *o, const struct dn_ctl_counter *c)
{
	if (o->argc < 1)
		return 1;
	return strncmp(c->name, o->argv[0], strlen(o->argv[0])) == 0;
}

static void counters_text(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r), shown = 0;
	int w = 4;

	/* Width of the name column from the names actually shown. */
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_counter c;
		list_entry(r, i, &c, sizeof(c));
		if (counter_wanted(o, &c) && (int)strlen(SAFE(c.name)) > w)
			w = (int)strlen(SAFE(c.name));
	}
	fprintf(o->f, "%-*s  %20s\n", w, "NAME", "VALUE");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_counter c;
		list_entry(r, i, &c, sizeof(c));
		if (!counter_wanted(o, &c))
			continue;
		fprintf(o->f, "%-*s  %20" PRIu64 "\n", w, SAFE(c.name), c.value);
		shown++;
	}
	if (shown == 0)
		fprintf(o->f, o->argc ? "(no counters match \"%s\")\n" : "(no counters)\n",
			o->argc ? o->argv[0] : "");
}

static void counters_json(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	struct dn_json j;

	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_arr_begin(&j, "counters");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_counter c;
		list_entry(r, i, &c, sizeof(c));
		if (!counter_wanted(o, &c))
			continue;
		dn_json_obj_begin(&j, NULL);
		dn_json_str(&j, "name", c.name, sizeof(c.name));
		dn_json_u64(&j, "value", c.value);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- apps --------------------------------------------------------------- */

/* Attach time travels as wall-clock milliseconds; operators read local
 * time. */
static const char *wall_str(uint64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "%" PRIu64, ms);
	return buf;
}

static void apps_text(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	char when[32];

	/* UID_* columns: what the app's uid holds in all (the apps.per_uid
	 * limits), departed apps' connections and kept regions included. */
	fprintf(o->f, "%-8s %-6s %-6s %-5s %-20s %7s %6s %10s %14s %14s %8s %8s %8s %8s %8s %12s  %s\n",
		"PID", "UID", "GID", "ID", "NAME", "SOCKETS", "LISTEN", "REGION", "BYTES_IN",
		"BYTES_OUT", "UID_APPS", "UID_PEND", "UID_SOCK", "UID_LSTN", "UID_ORPH",
		"UID_REGION", "ATTACHED");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_app a;
		list_entry(r, i, &a, sizeof(a));
		/* The name comes from the app's own HELLO: untrusted. */
		fprintf(o->f, "%-8u %-6u %-6u %-5u %-20s %7u %6u %10" PRIu64 " %14" PRIu64
			" %14" PRIu64 " %8u %8u %8u %8u %8u %12" PRIu64 "  %s\n", a.pid, a.uid,
			a.gid, a.app_id, SAFE(a.name), a.sockets, a.listeners, a.region_size,
			a.bytes_in, a.bytes_out, a.uid_apps, a.uid_pending, a.uid_sockets,
			a.uid_listeners, a.uid_orphans, a.uid_region,
			wall_str(a.attach_time_ms, when, sizeof(when)));
	}
	if (n == 0)
		fprintf(o->f, "(no applications attached)\n");
}

static void apps_json(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	struct dn_json j;

	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_arr_begin(&j, "apps");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_app a;
		list_entry(r, i, &a, sizeof(a));
		dn_json_obj_begin(&j, NULL);
		dn_json_u64(&j, "pid", a.pid);
		dn_json_u64(&j, "uid", a.uid);
		dn_json_u64(&j, "gid", a.gid);
		dn_json_u64(&j, "app_id", a.app_id);
		dn_json_str(&j, "name", a.name, sizeof(a.name));
		dn_json_u64(&j, "attach_time_ms", a.attach_time_ms);
		dn_json_u64(&j, "sockets", a.sockets);
		dn_json_u64(&j, "slots", a.slots);
		dn_json_u64(&j, "region_size", a.region_size);
		dn_json_u64(&j, "bytes_in", a.bytes_in);
		dn_json_u64(&j, "bytes_out", a.bytes_out);
		dn_json_u64(&j, "listeners", a.listeners);
		dn_json_u64(&j, "uid_apps", a.uid_apps);
		dn_json_u64(&j, "uid_pending", a.uid_pending);
		dn_json_u64(&j, "uid_sockets", a.uid_sockets);
		dn_json_u64(&j, "uid_listeners", a.uid_listeners);
		dn_json_u64(&j, "uid_orphans", a.uid_orphans);
		dn_json_u64(&j, "uid_region", a.uid_region);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- connections --------------------------------------------------------- */

/* "198.18.0.2:80", with "*" for an address or port of 0 (a listener's
 * remote end, or any local address). */
static const char *endpoint_str(uint32_t ip, uint16_t port, char *buf, size_t n)
{
	char a[INET_ADDRSTRLEN];

	if (port)
		snprintf(buf, n, "%s:%u", ip ? ip4_str(ip, a) : "*", port);
	else
		snprintf(buf, n, "%s:*", ip ? ip4_str(ip, a) : "*");
	return buf;
}

/* Microseconds as milliseconds with three decimals, without floats. */
static const char *ms_str(uint64_t us, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRIu64 ".%03u", us / 1000, (unsigned)(us % 1000));
	return buf;
}

static void conns_text(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	char l[32], rem[32], rtt[32], rto[32], pid[16];

	fprintf(o->f, "%-12s %-21s %-21s %8s %8s %8s %10s %10s %6s %-8s %s\n",
		"STATE", "LOCAL", "REMOTE", "SEND-Q", "RECV-Q", "CWND", "RTT(ms)",
		"RTO(ms)", "RETR", "CC", "PID");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_tcpconn c;
		list_entry(r, i, &c, sizeof(c));
		if (c.app_pid)
			snprintf(pid, sizeof(pid), "%u", c.app_pid);
		else
			snprintf(pid, sizeof(pid), "-");
		fprintf(o->f, "%-12s %-21s %-21s %8u %8u %8u %10s %10s %6" PRIu64 " %-8s %s\n",
			SAFE(c.state_name),
			endpoint_str(c.local_ip4, c.local_port, l, sizeof(l)),
			endpoint_str(c.remote_ip4, c.remote_port, rem, sizeof(rem)),
			c.send_q, c.recv_q, c.cwnd,
			ms_str(c.srtt_us, rtt, sizeof(rtt)), ms_str(c.rto_us, rto, sizeof(rto)),
			c.retransmits, SAFE(c.cc_name), pid);
	}
	if (n == 0)
		fprintf(o->f, "(no connections)\n");
	if (list_truncated(r))
		fprintf(o->f, "(only the first %u connections fit in one reply)\n", n);
}

static void json_addr(struct dn_json *j, const char *key, uint32_t ip)
{
	char a[INET_ADDRSTRLEN];

	if (ip)
		dn_json_str(j, key, ip4_str(ip, a), sizeof(a));
	else
		dn_json_null(j, key);
}

static void conns_json(const struct dn_out *o, const struct dn_reply *r)
{
	uint32_t n = list_count(r);
	struct dn_json j;

	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_arr_begin(&j, "connections");
	for (uint32_t i = 0; i < n; i++) {
		struct dn_ctl_tcpconn c;
		list_entry(r, i, &c, sizeof(c));
		dn_json_obj_begin(&j, NULL);
		dn_json_str(&j, "state", c.state_name, sizeof(c.state_name));
		json_addr(&j, "local_address", c.local_ip4);
		dn_json_u64(&j, "local_port", c.local_port);
		json_addr(&j, "remote_address", c.remote_ip4);
		dn_json_u64(&j, "remote_port", c.remote_port);
		dn_json_str(&j, "cc", c.cc_name, sizeof(c.cc_name));
		dn_json_bool(&j, "sack", c.sack);
		dn_json_bool(&j, "timestamps", c.timestamps);
		dn_json_u64(&j, "wscale_snd", c.wscale_snd);
		dn_json_u64(&j, "wscale_rcv", c.wscale_rcv);
		dn_json_u64(&j, "send_q", c.send_q);
		dn_json_u64(&j, "unsent", c.unsent);
		dn_json_u64(&j, "recv_q", c.recv_q);
		dn_json_u64(&j, "snd_wnd", c.snd_wnd);
		dn_json_u64(&j, "rcv_wnd", c.rcv_wnd);
		dn_json_u64(&j, "cwnd", c.cwnd);
		dn_json_u64(&j, "ssthresh", c.ssthresh);
		dn_json_u64(&j, "mss", c.mss);
		dn_json_u64(&j, "srtt_us", c.srtt_us);
		dn_json_u64(&j, "rttvar_us", c.rttvar_us);
		dn_json_u64(&j, "rto_us", c.rto_us);
		dn_json_u64(&j, "retransmits", c.retransmits);
		if (c.app_pid)
			dn_json_u64(&j, "app_pid", c.app_pid);
		else
			dn_json_null(&j, "app_pid");
		dn_json_u64(&j, "app_id", c.app_id);
		dn_json_obj_end(&j);
	}
	dn_json_arr_end(&j);
	dn_json_bool(&j, "truncated", list_truncated(r));
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- done: replies with no payload (set, kill) ------------------------- */

/* Say what the daemon accepted, in the command's own words. */
static void done_text(const struct dn_out *o, const struct dn_reply *r)
{
	char args[256] = "";
	size_t used = 0;

	(void)r;
	for (int i = 0; i < o->argc && used < sizeof(args); i++)
		used += (size_t)snprintf(args + used, sizeof(args) - used, "%s%s",
					 i ? " " : "", o->argv[i]);
	if (o->done) {
		fprintf(o->f, o->done, args);
		fputc('\n', o->f);
	} else {
		fputs("ok\n", o->f);
	}
}

static void done_json(const struct dn_out *o, const struct dn_reply *r)
{
	struct dn_json j;

	(void)r;
	dn_json_init(&j, o->f);
	dn_json_obj_begin(&j, NULL);
	dn_json_bool(&j, "ok", 1);
	dn_json_arr_begin(&j, "args");
	for (int i = 0; i < o->argc; i++)
		dn_json_str(&j, NULL, o->argv[i], strlen(o->argv[i]));
	dn_json_arr_end(&j);
	dn_json_obj_end(&j);
	dn_json_finish(&j);
}

/* ---- the table ---------------------------------------------------------- */

static const dn_print_fn dn_views[DN_VIEW_COUNT][DN_FMT_COUNT] = {
	[DN_VIEW_STATUS]   = { [DN_FMT_TEXT] = status_text,   [DN_FMT_JSON] = status_json },
	[DN_VIEW_PORT]     = { [DN_FMT_TEXT] = port_text,     [DN_FMT_JSON] = port_json },
	[DN_VIEW_ARP]      = { [DN_FMT_TEXT] = arp_text,      [DN_FMT_JSON] = arp_json },
	[DN_VIEW_COUNTERS] = { [DN_FMT_TEXT] = counters_text, [DN_FMT_JSON] = counters_json },
	[DN_VIEW_APPS]     = { [DN_FMT_TEXT] = apps_text,     [DN_FMT_JSON] = apps_json },
	[DN_VIEW_CONNS]    = { [DN_FMT_TEXT] = conns_text,    [DN_FMT_JSON] = conns_json },
	[DN_VIEW_DONE]     = { [DN_FMT_TEXT] = done_text,     [DN_FMT_JSON] = done_json },
};

void dn_print_reply(const struct dn_out *o, enum dn_view v, const struct dn_reply *r)
{
	/* A view missing a format is a bug in this table, not the daemon's. */
	if (v >= DN_VIEW_COUNT || !dn_views[v][o->fmt]) {
		fprintf(stderr, "dillnetctl: internal error: no printer for this reply\n");
		return;
	}
	dn_views[v][o->fmt](o, r);
}

void dn_print_error(const struct dn_out *o, const char *cmd, uint32_t result)
{
	const char *msg = strerror((int)result);

	switch (result) {
	case ENOMSG:        /* the daemon does not know the message type */
	case EOPNOTSUPP:    /* it knows it but has no handler */
	case ENOSYS:
		fprintf(stderr, "dillnetctl: %s: not supported by this daemon (%s)\n", cmd, msg);
		break;
	default:
		fprintf(stderr, "dillnetctl: %s: %s\n", cmd, msg);
		break;
	}
	if (o->fmt == DN_FMT_JSON) {
		struct dn_json j;
		dn_json_init(&j, o->f);
		dn_json_obj_begin(&j, NULL);
		dn_json_obj_begin(&j, "error");
		dn_json_u64(&j, "errno", result);
		dn_json_str(&j, "message", msg, strlen(msg));
		dn_json_obj_end(&j);
		dn_json_obj_end(&j);
		dn_json_finish(&j);
	}
}
