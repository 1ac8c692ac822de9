/*
 * dillnetd configuration parser and checker.
 *
 * One table (dn_items below) is the schema: path, kind, field, range,
 * default and a line of documentation per setting.  The loader walks the
 * libconfig tree and looks every node up in that table, so a setting or
 * group the table does not name is an error; defaults are written in file
 * syntax in the same table and go through the same setters as file values,
 * so a default can never bypass a check.  Tests use dn_config_key() to prove
 * the sample file and the manual page name every key in the table.
 */
#include "config.h"
#include "fault.h"
#include "tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(sizeof(enum dn_log_level) == sizeof(int) &&
	       sizeof(enum dn_poll_mode) == sizeof(int) &&
	       sizeof(enum dn_cc_algo) == sizeof(int), "K_ENUM stores an int");
_Static_assert(DN_CONF_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
	       "DN_CONF_PATH_MAX must match sun_path");

/* ---- schema ----------------------------------------------------------- */

enum dn_kind {
	K_BOOL,      /* bool */
	K_INT,       /* uint32_t or uint64_t (by field size) */
	K_FLOAT,     /* double; integers accepted (0 and 1 read naturally) */
	K_STR,       /* char[size], checked by .valid */
	K_ENUM,      /* int-sized enum, one of .names */
	K_MAC,       /* struct dn_conf_mac, "" or aa:bb:cc:dd:ee:ff */
	K_CIDR,      /* struct dn_conf_cidr, "a.b.c.d/n" */
	K_IPV4,      /* uint32_t network order, "" (=0) or "a.b.c.d" */
	K_MODE,      /* uint32_t, octal string: libconfig 1.5 reads 0660 as 660 */
	K_GROUP,     /* struct dn_conf_group, name string or gid integer */
	K_STRLIST,   /* struct dn_conf_strlist, elements checked by .valid */
	K_UIDLIST,   /* struct dn_conf_uidlist */
	K_GROUPLIST, /* struct dn_conf_grouplist */
};

#define F_POW2 1u    /* K_INT: must be a power of two */

typedef int (*dn_valid_fn)(const char *s, char *why, size_t n);

struct dn_item {
	struct dn_config_key key;   /* path, type words, default, doc */
	enum dn_kind kind;
	size_t off, size;
	int64_t min, max;           /* K_INT */
	double dmin, dmax;          /* K_FLOAT */
	unsigned flags;
	dn_valid_fn valid;          /* K_STR, K_STRLIST */
	const char *const *names;   /* K_ENUM, NULL-terminated */
};

static int v_lcores(const char *s, char *why, size_t n);
static int v_prefix(const char *s, char *why, size_t n);
static int v_devname(const char *s, char *why, size_t n);
static int v_vdev(const char *s, char *why, size_t n);
static int v_pci(const char *s, char *why, size_t n);
static int v_arg(const char *s, char *why, size_t n);
static int v_path(const char *s, char *why, size_t n);

static const char *const dn_log_names[] = {
#define X(n, s, p) s,
	DN_LOG_LEVELS(X)
#undef X
	NULL
};
static const char *const dn_poll_names[] = { "adaptive", "busy", NULL };
static const char *const dn_cc_names[] = {
#define X(n, s) s,
	DN_TCP_CCS(X)
#undef X
	NULL
};
_Static_assert((int)DN_CC_CUBIC == (int)DN_TCP_CC_CUBIC && (int)DN_CC_NEWRENO == (int)DN_TCP_CC_NEWRENO,
	       "enum dn_cc_algo follows DN_TCP_CCS");

#define FLD(f) .off = offsetof(struct dn_config, f), \
	       .size = sizeof(((struct dn_config *)0)->f)
#define KEY(p, t, d, doc_) .key = { p, t, d, doc_ }

#define BOOL(p, f, d, doc) \
	{ KEY(p, "boolean", d, doc), .kind = K_BOOL, FLD(f) }
#define INT(p, f, lo, hi, d, doc) \
	{ KEY(p, "integer", d, doc), .kind = K_INT, FLD(f), .min = lo, .max = hi }
#define POW2(p, f, lo, hi, d, doc) \
	{ KEY(p, "integer, power of two", d, doc), .kind = K_INT, FLD(f), \
	  .min = lo, .max = hi, .flags = F_POW2 }
#define PROB(p, f, d, doc) \
	{ KEY(p, "number 0..1", d, doc), .kind = K_FLOAT, FLD(f), \
	  .dmin = 0.0, .dmax = 1.0 }
#define STR(p, f, v, d, doc) \
	{ KEY(p, "string", d, doc), .kind = K_STR, FLD(f), .valid = v }
#define ENUM(p, f, nm, d, doc) \
	{ KEY(p, "string (keyword)", d, doc), .kind = K_ENUM, FLD(f), .names = nm }
#define TYPED(p, t, k, f, d, doc) \
	{ KEY(p, t, d, doc), .kind = k, FLD(f) }
#define SLIST(p, f, v, d, doc) \
	{ KEY(p, "list of strings", d, doc), .kind = K_STRLIST, FLD(f), .valid = v }

/* Fault settings are the same for both directions. */
#define FAULT_DIR(dir) \
	PROB("fault." #dir ".loss", fault.dir.loss, "0.0", \
	     "probability that a frame is dropped"), \
	PROB("fault." #dir ".duplicate", fault.dir.duplicate, "0.0", \
	     "probability that a frame is delivered twice"), \
	PROB("fault." #dir ".reorder", fault.dir.reorder, "0.0", \
	     "probability that a frame is held back behind later ones"), \
	INT("fault." #dir ".reorder_gap", fault.dir.reorder_gap, 1, 1024, "3", \
	    "how many frames a reordered frame is held back"), \
	INT("fault." #dir ".reorder_max_us", fault.dir.reorder_max_us, 1, 10000000, \
	    "10000", "longest time a reordered frame is held back, microseconds"), \
	INT("fault." #dir ".delay_us", fault.dir.delay_us, 0, 10000000, "0", \
	    "fixed delay added to every frame, microseconds"), \
	INT("fault." #dir ".jitter_us", fault.dir.jitter_us, 0, 10000000, "0", \
	    "random extra delay, 0..jitter_us microseconds"), \
	PROB("fault." #dir ".corrupt", fault.dir.corrupt, "0.0", \
	     "probability that one byte of a frame is flipped"), \
	{ KEY("fault." #dir ".rate", "integer", "0", \
	      "bandwidth limit in bytes per second, 0 = unlimited"), \
	  .kind = K_INT, FLD(fault.dir.rate), .min = 0, .max = 100000000000LL }, \
	INT("fault." #dir ".burst", fault.dir.burst, 0, 1073741824, "0", \
	    "rate limiter bucket depth, bytes; 0 = 50 ms of rate (at least two frames)")

static const struct dn_item dn_items[] = {
	STR("eal.lcores", eal.lcores, v_lcores, "\"0\"",
	    "CPU cores for DPDK (-l): \"0\", \"0-1\", \"0,2-3\""),
	BOOL("eal.hugepages", eal.hugepages, "true",
	     "use hugepages; false passes --no-huge --no-shconf"),
	INT("eal.memory_mb", eal.memory_mb, 0, 1048576, "256",
	    "DPDK memory in MiB (-m); 0 lets DPDK decide"),
	STR("eal.file_prefix", eal.file_prefix, v_prefix, "\"dillnet\"",
	    "DPDK runtime file prefix (--file-prefix)"),
	BOOL("eal.telemetry", eal.telemetry, "false",
	     "DPDK telemetry socket; false passes --no-telemetry"),
	SLIST("eal.vdevs", eal.vdevs, v_vdev, "[]",
	      "virtual devices (--vdev each), e.g. \"net_tap0,iface=dn0\""),
	SLIST("eal.pci_allow", eal.pci_allow, v_pci, "[]",
	      "PCI devices to probe (-a each), e.g. \"0000:01:00.0\"; empty: none (--no-pci)"),
	SLIST("eal.extra_args", eal.extra_args, v_arg, "[]",
	      "further EAL arguments, appended as given"),

	STR("port.device", port.device, v_devname, "\"\"",
	    "DPDK port name or PCI address; \"\" = first port"),
	TYPED("port.mac", "string (MAC address)", K_MAC, port.mac, "\"\"",
	      "override the port's MAC address; \"\" keeps it"),
	INT("port.mtu", port.mtu, 68, 9000, "1500", "IP MTU of the port"),
	POW2("port.rx_desc", port.rx_desc, 64, 16384, "1024",
	     "receive ring descriptors"),
	POW2("port.tx_desc", port.tx_desc, 64, 16384, "1024",
	     "transmit ring descriptors"),
	INT("port.mbufs", port.mbufs, 1024, 4194304, "16383",
	    "packet buffers in the pool"),

	TYPED("ip.address", "string (a.b.c.d/n)", K_CIDR, ip.address, NULL,
	      "the daemon's IPv4 address and prefix length (required)"),
	TYPED("ip.gateway", "string (a.b.c.d)", K_IPV4, ip.gateway, "\"\"",
	      "default gateway, on the address's network; \"\" = none"),

	STR("sockets.app_path", sockets.app_path, v_path, "\"/run/dillnet/app.sock\"",
	    "the applications' control socket"),
	TYPED("sockets.app_group", "string (group) or integer (gid)", K_GROUP,
	      sockets.app_group, "\"dillnet\"", "group owning the app socket"),
	TYPED("sockets.app_mode", "string (octal)", K_MODE, sockets.app_mode,
	      "\"0660\"", "permissions of the app socket"),
	STR("sockets.ctl_path", sockets.ctl_path, v_path, "\"/run/dillnet/ctl.sock\"",
	    "the operators' (dillnetctl) socket"),
	TYPED("sockets.ctl_group", "string (group) or integer (gid)", K_GROUP,
	      sockets.ctl_group, "\"root\"", "group owning the ctl socket"),
	TYPED("sockets.ctl_mode", "string (octal)", K_MODE, sockets.ctl_mode,
	      "\"0600\"", "permissions of the ctl socket"),

	ENUM("log.level", log.level, dn_log_names, "\"info\"",
	     "least important message logged: err, warn, notice, info, debug"),

	ENUM("poll.mode", poll.mode, dn_poll_names, "\"adaptive\"",
	     "adaptive: sleep when idle; busy: never sleep"),
	INT("poll.idle_us", poll.idle_us, 0, 1000000, "200",
	    "idle microseconds before an adaptive loop sleeps"),
	INT("poll.max_sleep_ms", poll.max_sleep_ms, 1, 1000, "10",
	    "longest sleep of an idle loop, milliseconds"),

	{ KEY("apps.allowed_uids", "list of integers (uids)", "[]",
	      "uids allowed to attach, besides the groups below"),
	  .kind = K_UIDLIST, FLD(apps.allowed_uids) },
	{ KEY("apps.allowed_groups", "list of group names or gids", "[\"dillnet\"]",
	      "members of these groups may attach"),
	  .kind = K_GROUPLIST, FLD(apps.allowed_groups) },
	INT("apps.max_apps", apps.max_apps, 1, 4096, "64",
	    "applications attached at once"),
	INT("apps.max_sockets", apps.max_sockets, 1, 65536, "16384",
	    "sockets per application"),
	INT("apps.region_mb", apps.region_mb, 1, 65536, "1024",
	    "memory an application's shared region may commit, MiB"),
	INT("apps.listen_port_min", apps.listen_port_min, 1, 65535, "1024",
	    "lowest port an application may listen on"),
	INT("apps.listen_port_max", apps.listen_port_max, 1, 65535, "65535",
	    "highest port an application may listen on"),
	POW2("apps.rx_buffer", apps.rx_buffer, 4096, 67108864, "262144",
	     "receive buffer per socket, bytes"),
	POW2("apps.tx_buffer", apps.tx_buffer, 4096, 67108864, "262144",
	     "transmit buffer per socket, bytes"),
	INT("apps.max_listeners", apps.max_listeners, 1, 65536, "1024",
	    "listening sockets per application"),
	INT("apps.hello_timeout_ms", apps.hello_timeout_ms, 100, 60000, "2000",
	    "milliseconds a new app connection has to say HELLO and attach"),
	INT("apps.max_pending", apps.max_pending, 1, 4096, "64",
	    "connections not attached yet, all users together; the oldest goes"),
	INT("apps.per_uid.max_apps", apps.per_uid.max_apps, 1, 4096, "16",
	    "applications one uid has attached (departed ones with live connections count)"),
	INT("apps.per_uid.max_pending", apps.per_uid.max_pending, 1, 4096, "8",
	    "connections one uid has not attached yet; the oldest goes"),
	INT("apps.per_uid.max_sockets", apps.per_uid.max_sockets, 1, 1048576, "16384",
	    "sockets of one uid's applications, departed ones' included"),
	INT("apps.per_uid.max_listeners", apps.per_uid.max_listeners, 1, 1048576, "1024",
	    "listening sockets of one uid's applications"),
	INT("apps.per_uid.region_mb", apps.per_uid.region_mb, 1, 1048576, "16384",
	    "memory one uid's shared-memory regions may commit, MiB, kept ones included (each counts as apps.region_mb)"),

	/* The tcp group comes from the one list in tcp_settings.h. */
#define TCP_ITEM_INT(name, sdef, lo, hi, doc) \
	INT("tcp." #name, tcp.name, lo, hi, sdef, doc),
#define TCP_ITEM_BOOL(name, sdef, lo, hi, doc) \
	BOOL("tcp." #name, tcp.name, sdef, doc),
#define TCP_ITEM_CC(name, sdef, lo, hi, doc) \
	ENUM("tcp." #name, tcp.name, dn_cc_names, "\"" sdef "\"", doc),
#define TCP_ITEM(kind, name, field, scale, def, lo, hi, doc) \
	TCP_ITEM_##kind(name, #def, lo, hi, doc)
	DN_TCP_SETTINGS(TCP_ITEM)
#undef TCP_ITEM

	BOOL("fault.enabled", fault.enabled, "false",
	     "turn the fault injector on"),
	{ KEY("fault.seed", "integer", "1", "seed of the injector's random numbers"),
	  .kind = K_INT, FLD(fault.seed), .min = 0, .max = INT64_MAX },
	FAULT_DIR(rx),
	FAULT_DIR(tx),
};

#define DN_NITEMS (sizeof dn_items / sizeof dn_items[0])

const struct dn_config_key *dn_config_key(size_t i)
{
	return i < DN_NITEMS ? &dn_items[i].key : NULL;
}

static const struct dn_item *dn_find_item(const char *path)
{
	for (size_t i = 0; i < DN_NITEMS; i++)
		if (strcmp(dn_items[i].key.path, path) == 0)
			return &dn_items[i];
	return NULL;
}

/* A group is any proper prefix (ending at a '.') of some item's path. */
static int dn_is_group(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < DN_NITEMS; i++) {
		const char *p = dn_items[i].key.path;
		if (strncmp(p, path, n) == 0 && p[n] == '.')
			return 1;
	}
	return 0;
}

/* ---- error collection ------------------------------------------------- */

struct dn_ctx {
	const char *name;           /* FILE in messages */
	char *err;
	size_t errlen, used;
	int nerr;
	struct dn_config *c;
	unsigned lines[DN_NITEMS];  /* line an item came from; 0 = default */
	bool seen[DN_NITEMS];
};

static void dn_cerrv(struct dn_ctx *x, unsigned line, const char *fmt, va_list ap)
{
	x->nerr++;
	if (!x->err || x->errlen == 0 || x->used + 1 >= x->errlen)
		return;
	char *p = x->err + x->used;
	size_t room = x->errlen - x->used;
	int k;
	if (x->used > 0) {
		/* Errors are one per line; the newline goes between them. */
		*p++ = '\n';
		room--;
		x->used++;
	}
	if (line)
		k = snprintf(p, room, "%s:%u: ", x->name, line);
	else
		k = snprintf(p, room, "%s: ", x->name);
	if (k < 0)
		k = 0;
	if ((size_t)k >= room) {
		x->used = x->errlen - 1;
		return;
	}
	int m = vsnprintf(p + k, room - k, fmt, ap);
	if (m < 0)
		m = 0;
	size_t add = (size_t)k + (size_t)m;
	x->used += add < room ? add : room - 1;
}

__attribute__((format(printf, 3, 4)))
static void dn_cerr(struct dn_ctx *x, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dn_cerrv(x, line, fmt, ap);
	va_end(ap);
}

/* Quote a user string for a message: printable ASCII only, bounded. */
static const char *dn_quote(const char *s, char *buf, size_t n)
{
	size_t o = 0;
	buf[o++] = '"';
	for (; *s && o + 8 < n; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			buf[o++] = (char)ch;
		} else {
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
		}
	}
	if (*s) {
		buf[o++] = '.';
		buf[o++] = '.';
		buf[o++] = '.';
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *dn_type_words(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

/* ---- value syntax checks ---------------------------------------------- */

static int dn_why(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int dn_why(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Strict unsigned decimal: digits only, no sign, no leading zero, bounded. */
static int dn_parse_dec(const char **sp, unsigned long max, unsigned long *out)
{
	const char *s = *sp;
	unsigned long v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*sp = s;
	*out = v;
	return 0;
}

/* DPDK's -l syntax in its plain form: N or N-M, comma separated. */
static int v_lcores(const char *s, char *why, size_t n)
{
	const char *p = s;
	if (!*p)
		return dn_why(why, n, "is empty; name at least one core");
	for (;;) {
		unsigned long a, b;
		if (dn_parse_dec(&p, 1023, &a) < 0)
			goto bad;
		b = a;
		if (*p == '-') {
			p++;
			if (dn_parse_dec(&p, 1023, &b) < 0 || b < a)
				goto bad;
		}
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	return dn_why(why, n, "is not a core list (like \"0\", \"0-1\" or \"0,2-3\", cores 0..1023)");
}

static int dn_isalnum(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z');
}

/* The prefix becomes a directory name under /var/run/dpdk. */
static int v_prefix(const char *s, char *why, size_t n)
{
	if (!dn_isalnum((unsigned char)s[0]))
		goto bad;
	for (const char *p = s; *p; p++)
		if (!dn_isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			goto bad;
	return 0;
bad:
	return dn_why(why, n, "is not a file prefix (letters, digits, '_' and '-', starting with a letter or digit)");
}

static int dn_printable_word(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int v_devname(const char *s, char *why, size_t n)
{
	if (!dn_printable_word(s))
		return dn_why(why, n, "is not a device name (printable, no spaces)");
	return 0;
}

/* "driver[,key=value...]": becomes the value of --vdev. */
static int v_vdev(const char *s, char *why, size_t n)
{
	if (!dn_isalnum((unsigned char)s[0]) || !dn_printable_word(s))
		return dn_why(why, n, "is not a device (like \"net_tap0,iface=dn0\": starts with a letter or digit, printable, no spaces)");
	return 0;
}

static int dn_hexn(const char *s, int k)
{
	for (int i = 0; i < k; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return 0;
	}
	return 1;
}

/* [DDDD:]BB:DD.F, optionally ",devargs", as -a takes it. */
static int v_pci(const char *s, char *why, size_t n)
{
	const char *p = s;
	if (dn_hexn(p, 4) && p[4] == ':')
		p += 5;
	if (!(dn_hexn(p, 2) && p[2] == ':' && dn_hexn(p + 3, 2) && p[5] == '.' &&
	      p[6] >= '0' && p[6] <= '7'))
		goto bad;
	p += 7;
	if (*p == '\0' || (*p == ',' && p[1] && dn_printable_word(p)))
		return 0;
bad:
	return dn_why(why, n, "is not a PCI address (like \"0000:01:00.0\", optionally \",devargs\")");
}

static int v_arg(const char *s, char *why, size_t n)
{
	if (!*s)
		return dn_why(why, n, "is empty");
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return dn_why(why, n, "contains a control character");
	return 0;
}

/* Socket paths: absolute, and they must fit in sockaddr_un.sun_path with
 * the terminating NUL, or bind() would fail or silently truncate. */
static int v_path(const char *s, char *why, size_t n)
{
	size_t len = strlen(s);
	if (s[0] != '/')
		return dn_why(why, n, "is not an absolute path");
	if (len > DN_CONF_PATH_MAX - 1)
		return dn_why(why, n, "is %zu bytes long; a socket path holds at most %d",
			      len, DN_CONF_PATH_MAX - 1);
	if (s[len - 1] == '/')
		return dn_why(why, n, "names a directory, not a socket");
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return dn_why(why, n, "contains a control character");
	return 0;
}

/* Group names as shadow-utils accepts them, at most 32 bytes. */
static int v_groupname(const char *s, char *why, size_t n)
{
	size_t len = strlen(s);
	if (len == 0 || len > DN_CONF_NAME_MAX - 1)
		goto bad;
	if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		goto bad;
	for (size_t i = 1; i < len; i++) {
		char ch = s[i];
		if (dn_isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.')
			continue;
		if (ch == '$' && i == len - 1)
			continue;
		goto bad;
	}
	return 0;
bad:
	return dn_why(why, n, "is not a group name (1..32 of letters, digits, '_', '-', '.', starting with a letter or '_')");
}

/* Strict dotted quad: exactly four decimal parts 0..255, no leading zeros
 * (which some parsers read as octal). */
static int dn_parse_ipv4(const char **sp, uint32_t *out)
{
	const char *p = *sp;
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		unsigned long v;
		if (i > 0) {
			if (*p != '.')
				return -1;
			p++;
		}
		if (dn_parse_dec(&p, 255, &v) < 0)
			return -1;
		a = (a << 8) | (uint32_t)v;
	}
	*sp = p;
	*out = htonl(a);
	return 0;
}

/* Host addresses only: not 0/8, loopback, multicast or 240/4 (incl.
 * broadcast). */
static int dn_bad_host(uint32_t be)
{
	uint32_t a = ntohl(be);
	uint32_t top = a >> 24;
	return top == 0 || top == 127 || top >= 224;
}

static void dn_fmt_ipv4(uint32_t be, char *buf, size_t n)
{
	uint32_t a = ntohl(be);
	snprintf(buf, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ---- setters: one per kind -------------------------------------------- */

#define WHY 200

static void *dn_field(struct dn_ctx *x, const struct dn_item *it)
{
	return (char *)x->c + it->off;
}

static int dn_want(struct dn_ctx *x, const struct dn_item *it, const char *label,
		   config_setting_t *s, int ok, const char *expected)
{
	if (ok)
		return 0;
	dn_cerr(x, config_setting_source_line(s), "%s: expected %s, got %s",
	       label ? label : it->key.path, expected,
	       dn_type_words(config_setting_type(s)));
	return -1;
}

static int dn_is_int(config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int dn_set_group(struct dn_ctx *x, const struct dn_item *it, const char *label,
			config_setting_t *s, struct dn_conf_group *g)
{
	char why[WHY], q[96];
	if (dn_is_int(s)) {
		long long v = config_setting_get_int64(s);
		/* (gid_t)-1 means "no change" to chown(): never a real gid. */
		if (v < 0 || v > 4294967294LL) {
			dn_cerr(x, config_setting_source_line(s),
			       "%s: gid %lld is out of range (0..4294967294)", label, v);
			return -1;
		}
		memset(g, 0, sizeof *g);
		g->gid = (uint32_t)v;
		return 0;
	}
	if (dn_want(x, it, label, s, config_setting_type(s) == CONFIG_TYPE_STRING,
		    "a group name (string) or gid (integer)") < 0)
		return -1;
	const char *str = config_setting_get_string(s);
	if (v_groupname(str, why, sizeof why) < 0) {
		dn_cerr(x, config_setting_source_line(s), "%s: %s %s", label,
		       dn_quote(str, q, sizeof q), why);
		return -1;
	}
	memset(g, 0, sizeof *g);
	g->by_name = true;
	snprintf(g->name, sizeof g->name, "%s", str);
	return 0;
}

static int dn_is_list(config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
}

static int dn_set_list(struct dn_ctx *x, const struct dn_item *it, config_setting_t *s)
{
	const char *path = it->key.path;
	char label[128], why[WHY], q[96];
	int bad = 0;
	if (dn_want(x, it, NULL, s, dn_is_list(s), "a list ([ ... ] or ( ... ))") < 0)
		return -1;
	int n = config_setting_length(s);
	if (n > DN_CONF_LIST_MAX) {
		dn_cerr(x, config_setting_source_line(s), "%s: %d entries, at most %d",
		       path, n, DN_CONF_LIST_MAX);
		return -1;
	}
	/* Build into a copy so a bad element leaves the field as it was. */
	union {
		struct dn_conf_strlist sl;
		struct dn_conf_uidlist ul;
		struct dn_conf_grouplist gl;
	} *tmp = calloc(1, sizeof *tmp);
	if (!tmp) {
		dn_cerr(x, 0, "%s: out of memory", path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		unsigned line = config_setting_source_line(e);
		snprintf(label, sizeof label, "%s[%d]", path, i);
		if (it->kind == K_STRLIST) {
			if (dn_want(x, it, label, e, config_setting_type(e) == CONFIG_TYPE_STRING,
				    "a string") < 0) {
				bad = 1;
				continue;
			}
			const char *str = config_setting_get_string(e);
			if (strlen(str) >= DN_CONF_STR_MAX) {
				dn_cerr(x, line, "%s: %zu bytes long, at most %d", label,
				       strlen(str), DN_CONF_STR_MAX - 1);
				bad = 1;
			} else if (it->valid(str, why, sizeof why) < 0) {
				dn_cerr(x, line, "%s: %s %s", label, dn_quote(str, q, sizeof q), why);
				bad = 1;
			} else {
				snprintf(tmp->sl.v[i], DN_CONF_STR_MAX, "%s", str);
			}
		} else if (it->kind == K_UIDLIST) {
			if (dn_want(x, it, label, e, dn_is_int(e), "an integer (uid)") < 0) {
				bad = 1;
				continue;
			}
			long long v = config_setting_get_int64(e);
			if (v < 0 || v > 4294967294LL) {
				dn_cerr(x, line, "%s: uid %lld is out of range (0..4294967294)",
				       label, v);
				bad = 1;
			} else {
				tmp->ul.v[i] = (uint32_t)v;
			}
		} else {
			if (dn_set_group(x, it, label, e, &tmp->gl.v[i]) < 0)
				bad = 1;
		}
	}
	if (!bad) {
		/* n sits first in all three list types. */
		tmp->sl.n = (unsigned)n;
		memcpy(dn_field(x, it), tmp, it->size);
	}
	free(tmp);
	return bad ? -1 : 0;
}

static int dn_set(struct dn_ctx *x, const struct dn_item *it, config_setting_t *s)
{
	const char *path = it->key.path;
	unsigned line = config_setting_source_line(s);
	void *f = dn_field(x, it);
	char why[WHY], q[96];
	const char *str = NULL;

	switch (it->kind) {
	case K_BOOL:
		if (dn_want(x, it, NULL, s, config_setting_type(s) == CONFIG_TYPE_BOOL,
			    "a boolean (true or false)") < 0)
			return -1;
		*(bool *)f = config_setting_get_bool(s) != 0;
		return 0;
	case K_INT: {
		if (dn_want(x, it, NULL, s, dn_is_int(s), "an integer") < 0)
			return -1;
		long long v = config_setting_get_int64(s);
		if (v < it->min || v > it->max) {
			dn_cerr(x, line, "%s: %lld is out of range (%" PRId64 "..%" PRId64 ")",
			       path, v, it->min, it->max);
			return -1;
		}
		if ((it->flags & F_POW2) && (v & (v - 1)) != 0) {
			dn_cerr(x, line, "%s: %lld is not a power of two", path, v);
			return -1;
		}
		if (it->size == sizeof(uint64_t))
			*(uint64_t *)f = (uint64_t)v;
		else
			*(uint32_t *)f = (uint32_t)v;
		return 0;
	}
	case K_FLOAT: {
		if (dn_want(x, it, NULL, s, dn_is_int(s) ||
			    config_setting_type(s) == CONFIG_TYPE_FLOAT, "a number") < 0)
			return -1;
		double v = dn_is_int(s) ? (double)config_setting_get_int64(s)
					: config_setting_get_float(s);
		if (!(v >= it->dmin && v <= it->dmax)) {
			dn_cerr(x, line, "%s: %g is out of range (%g..%g)", path, v,
			       it->dmin, it->dmax);
			return -1;
		}
		*(double *)f = v;
		return 0;
	}
	case K_GROUP:
		return dn_set_group(x, it, path, s, f);
	case K_STRLIST:
	case K_UIDLIST:
	case K_GROUPLIST:
		return dn_set_list(x, it, s);
	default:
		break;
	}

	/* The remaining kinds are all written as strings. */
	if (dn_want(x, it, NULL, s, config_setting_type(s) == CONFIG_TYPE_STRING,
		    "a string") < 0)
		return -1;
	str = config_setting_get_string(s);
	dn_quote(str, q, sizeof q);

	switch (it->kind) {
	case K_STR:
		/* Syntax first: its message says more than a length would. */
		if (it->valid(str, why, sizeof why) < 0) {
			dn_cerr(x, line, "%s: %s %s", path, q, why);
			return -1;
		}
		if (strlen(str) >= it->size) {
			dn_cerr(x, line, "%s: %zu bytes long, at most %zu", path,
			       strlen(str), it->size - 1);
			return -1;
		}
		snprintf(f, it->size, "%s", str);
		return 0;
	case K_ENUM:
		for (int i = 0; it->names[i]; i++) {
			if (strcmp(str, it->names[i]) == 0) {
				*(int *)f = i;
				return 0;
			}
		}
		{
			char list[128];
			size_t o = 0;
			list[0] = '\0';
			for (int i = 0; it->names[i] && o < sizeof list; i++)
				o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
						      i ? ", " : "", it->names[i]);
			dn_cerr(x, line, "%s: %s is not one of: %s", path, q, list);
		}
		return -1;
	case K_MAC: {
		struct dn_conf_mac m = { 0 };
		if (*str) {
			const char *p = str;
			for (int i = 0; i < 6; i++) {
				if (!dn_hexn(p, 2) || p[2] != (i < 5 ? ':' : '\0'))
					goto bad_mac;
				m.addr[i] = (uint8_t)strtoul((char[3]){ p[0], p[1], 0 }, NULL, 16);
				p += 3;
			}
			if (m.addr[0] & 1) {
				dn_cerr(x, line, "%s: %s is a multicast address; a port needs a unicast one",
				       path, q);
				return -1;
			}
			if (!(m.addr[0] | m.addr[1] | m.addr[2] | m.addr[3] | m.addr[4] | m.addr[5])) {
				dn_cerr(x, line, "%s: %s is the all-zero address", path, q);
				return -1;
			}
			m.set = true;
		}
		*(struct dn_conf_mac *)f = m;
		return 0;
bad_mac:
		dn_cerr(x, line, "%s: %s is not a MAC address (aa:bb:cc:dd:ee:ff)", path, q);
		return -1;
	}
	case K_CIDR: {
		const char *p = str;
		uint32_t a;
		unsigned long len;
		if (dn_parse_ipv4(&p, &a) < 0 || *p++ != '/' ||
		    dn_parse_dec(&p, 32, &len) < 0 || *p != '\0' || len == 0) {
			dn_cerr(x, line, "%s: %s is not an IPv4 address with prefix length (a.b.c.d/n, n = 1..32)",
			       path, q);
			return -1;
		}
		uint32_t mask = htonl(len == 32 ? 0xffffffffu : ~(0xffffffffu >> len));
		/* On /31 and /32 every address is a host (RFC 3021). */
		if (dn_bad_host(a) || (len <= 30 && ((a & ~mask) == 0 || (a | mask) == 0xffffffffu))) {
			dn_cerr(x, line, "%s: %s is not a usable host address", path, q);
			return -1;
		}
		struct dn_conf_cidr *cd = f;
		cd->addr = a;
		cd->prefix_len = (uint32_t)len;
		cd->netmask = mask;
		return 0;
	}
	case K_IPV4: {
		const char *p = str;
		uint32_t a = 0;
		if (*str) {
			if (dn_parse_ipv4(&p, &a) < 0 || *p != '\0') {
				dn_cerr(x, line, "%s: %s is not an IPv4 address (a.b.c.d)", path, q);
				return -1;
			}
			if (dn_bad_host(a)) {
				dn_cerr(x, line, "%s: %s is not a usable host address", path, q);
				return -1;
			}
		}
		*(uint32_t *)f = a;
		return 0;
	}
	case K_MODE: {
		unsigned long v = 0;
		size_t len = strlen(str);
		int ok = len >= 1 && len <= 4;
		for (size_t i = 0; ok && i < len; i++) {
			if (str[i] < '0' || str[i] > '7')
				ok = 0;
			else
				v = v * 8 + (unsigned long)(str[i] - '0');
		}
		if (!ok || v > 0777) {
			dn_cerr(x, line, "%s: %s is not a permission mode (octal, \"0000\"..\"0777\")",
			       path, q);
			return -1;
		}
		*(uint32_t *)f = (uint32_t)v;
		return 0;
	}
	default:
		dn_cerr(x, line, "%s: internal error: unhandled kind", path);
		return -1;
	}
}

/* ---- tree walk -------------------------------------------------------- */

static void dn_walk(struct dn_ctx *x, config_setting_t *grp, const char *prefix)
{
	int n = config_setting_length(grp);
	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);
		char path[160];
		unsigned line = config_setting_source_line(s);
		if (!name)  /* only list elements lack names; groups hold none */
			continue;
		snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
		const struct dn_item *it = dn_find_item(path);
		if (it) {
			size_t k = (size_t)(it - dn_items);
			x->seen[k] = true;
			x->lines[k] = line;
			dn_set(x, it, s);
		} else if (dn_is_group(path)) {
			if (config_setting_type(s) != CONFIG_TYPE_GROUP)
				dn_cerr(x, line, "%s: expected a group ({ ... }), got %s", path,
				       dn_type_words(config_setting_type(s)));
			else
				dn_walk(x, s, path);
		} else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
			dn_cerr(x, line, "unknown group '%s'", path);
		} else {
			dn_cerr(x, line, "unknown setting '%s'", path);
		}
	}
}

/* ---- lexical pre-scan --------------------------------------------------
 * Two things libconfig 1.5 does that a privileged daemon must not accept:
 * "@include" opens any file named (even from a string), and an integer
 * literal that does not fit in 32 bits without an L suffix is silently
 * truncated (rate = 4294967296 would read as 0, "unlimited").  The scan
 * follows libconfig's lexer closely enough for valid files: comments (#, //,
 * C style), strings with escapes, names, numbers. */

struct dn_scan {
	unsigned include_line;      /* first @include, 0 if none */
	unsigned overflow_line[8];  /* lines of too-large literals */
	char overflow_text[8][48];
	int noverflow;
};

static int dn_namech(int ch)
{
	return dn_isalnum(ch) || ch == '_' || ch == '-' || ch == '*';
}

static void dn_prescan(const char *s, struct dn_scan *sc)
{
	unsigned line = 1;
	memset(sc, 0, sizeof *sc);
	while (*s) {
		char ch = *s;
		if (ch == '\n') {
			line++;
			s++;
		} else if (ch == '#' || (ch == '/' && s[1] == '/')) {
			while (*s && *s != '\n')
				s++;
		} else if (ch == '/' && s[1] == '*') {
			s += 2;
			while (*s && !(s[0] == '*' && s[1] == '/')) {
				if (*s == '\n')
					line++;
				s++;
			}
			if (*s)
				s += 2;
		} else if (ch == '"') {
			s++;
			while (*s && *s != '"') {
				if (*s == '\\' && s[1])
					s++;
				if (*s == '\n')
					line++;
				s++;
			}
			if (*s)
				s++;
		} else if (ch == '@') {
			if (strncmp(s, "@include", 8) == 0 && !sc->include_line)
				sc->include_line = line;
			s++;
		} else if (dn_isalnum((unsigned char)ch) && !(ch >= '0' && ch <= '9')) {
			while (dn_namech((unsigned char)*s))
				s++;
		} else if (ch == '*') {
			while (dn_namech((unsigned char)*s))
				s++;
		} else if ((ch >= '0' && ch <= '9') ||
			   ((ch == '-' || ch == '+') && s[1] >= '0' && s[1] <= '9')) {
			const char *b = s;
			int hex = 0, fl = 0;
			if (*s == '-' || *s == '+')
				s++;
			if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
				hex = 1;
				s += 2;
			}
			while (dn_isalnum((unsigned char)*s) || *s == '.' ||
			       (!hex && (*s == '-' || *s == '+') && (s[-1] == 'e' || s[-1] == 'E'))) {
				if (!hex && (*s == '.' || *s == 'e' || *s == 'E'))
					fl = 1;
				s++;
			}
			size_t len = (size_t)(s - b);
			if (fl || (len > 0 && (b[len - 1] == 'L')))
				continue;
			char tok[48];
			int big = len >= sizeof tok;
			if (!big) {
				memcpy(tok, b, len);
				tok[len] = '\0';
				errno = 0;
				long long v = strtoll(tok, NULL, hex ? 16 : 10);
				big = errno == ERANGE || v > INT32_MAX || v < INT32_MIN;
			}
			if (big && sc->noverflow < 8) {
				sc->overflow_line[sc->noverflow] = line;
				snprintf(sc->overflow_text[sc->noverflow], sizeof sc->overflow_text[0],
					 "%.*s%s", (int)(len > 40 ? 40 : len), b, len > 40 ? "..." : "");
				sc->noverflow++;
			}
		} else {
			s++;
		}
	}
}

/* ---- cross-field checks ----------------------------------------------- */

static unsigned dn_line_of(struct dn_ctx *x, const char *path)
{
	const struct dn_item *it = dn_find_item(path);
	return it ? x->lines[it - dn_items] : 0;
}

static void dn_cross_check(struct dn_ctx *x)
{
	struct dn_config *c = x->c;
	char a[16], b[16];

	if (c->ip.gateway) {
		const struct dn_conf_cidr *cd = &c->ip.address;
		uint32_t gw = c->ip.gateway;
		dn_fmt_ipv4(gw, a, sizeof a);
		dn_fmt_ipv4(cd->addr & cd->netmask, b, sizeof b);
		if ((gw & cd->netmask) != (cd->addr & cd->netmask))
			dn_cerr(x, dn_line_of(x, "ip.gateway"),
			       "ip.gateway: %s is not on the network %s/%u of ip.address",
			       a, b, cd->prefix_len);
		else if (gw == cd->addr)
			dn_cerr(x, dn_line_of(x, "ip.gateway"),
			       "ip.gateway: %s is the daemon's own address", a);
		else if (cd->prefix_len <= 30 &&
			 ((gw & ~cd->netmask) == 0 || (gw | cd->netmask) == 0xffffffffu))
			dn_cerr(x, dn_line_of(x, "ip.gateway"),
			       "ip.gateway: %s is the network or broadcast address of %s/%u",
			       a, b, cd->prefix_len);
	}
	if (c->apps.listen_port_min > c->apps.listen_port_max)
		dn_cerr(x, dn_line_of(x, "apps.listen_port_max") ?: dn_line_of(x, "apps.listen_port_min"),
		       "apps.listen_port_min (%u) is above apps.listen_port_max (%u)",
		       c->apps.listen_port_min, c->apps.listen_port_max);
	if ((uint64_t)c->apps.region_mb << 20 <
	    (uint64_t)c->apps.rx_buffer + c->apps.tx_buffer)
		dn_cerr(x, dn_line_of(x, "apps.region_mb"),
		       "apps.region_mb (%u MiB) cannot hold one socket's buffers (rx_buffer + tx_buffer = %u bytes)",
		       c->apps.region_mb, c->apps.rx_buffer + c->apps.tx_buffer);
	if (strcmp(c->sockets.app_path, c->sockets.ctl_path) == 0)
		dn_cerr(x, dn_line_of(x, "sockets.ctl_path") ?: dn_line_of(x, "sockets.app_path"),
		       "sockets.ctl_path: the same path as sockets.app_path");
}

/* ---- loading ---------------------------------------------------------- */

/* Defaults go through the same setters as file values: one small libconfig
 * document "k0 = <default>; k1 = ..." is parsed and each value applied. */
static int dn_apply_defaults(struct dn_ctx *x, int only_unseen)
{
	size_t cap = 64, used = 0;
	char *doc = NULL;
	config_t cf;
	int rc = -1;

	config_init(&cf);
	for (size_t i = 0; i < DN_NITEMS; i++)
		if (dn_items[i].key.def)
			cap += strlen(dn_items[i].key.def) + 32;
	doc = malloc(cap);
	if (!doc) {
		dn_cerr(x, 0, "out of memory");
		goto cleanup;
	}
	doc[0] = '\0';
	for (size_t i = 0; i < DN_NITEMS; i++)
		if (dn_items[i].key.def)
			used += (size_t)snprintf(doc + used, cap - used, "k%zu = %s;\n", i,
						 dn_items[i].key.def);
	if (!config_read_string(&cf, doc)) {
		dn_cerr(x, 0, "internal error: built-in defaults: line %d: %s",
		       config_error_line(&cf), config_error_text(&cf));
		goto cleanup;
	}
	for (size_t i = 0; i < DN_NITEMS; i++) {
		char k[32];
		if (only_unseen && x->seen[i])
			continue;
		if (!dn_items[i].key.def) {
			if (only_unseen)
				dn_cerr(x, 0, "%s: required setting is missing", dn_items[i].key.path);
			continue;
		}
		snprintf(k, sizeof k, "k%zu", i);
		config_setting_t *s = config_lookup(&cf, k);
		if (!s) {
			dn_cerr(x, 0, "internal error: default of %s lost", dn_items[i].key.path);
			continue;
		}
		dn_set(x, &dn_items[i], s);
	}
	rc = 0;
cleanup:
	config_destroy(&cf);
	free(doc);
	return rc;
}

int dn_config_defaults(struct dn_config *c)
{
	struct dn_ctx x = { .name = "<defaults>", .c = c };
	memset(c, 0, sizeof *c);
	snprintf(c->source, sizeof c->source, "<defaults>");
	if (dn_apply_defaults(&x, 0) < 0 || x.nerr)
		return -1;
	return 0;
}

int dn_config_load_buf(struct dn_config *c, const char *buf, size_t len,
		       const char *name, char *err, size_t errlen)
{
	struct dn_ctx *x = NULL;
	struct dn_scan sc;
	char *text = NULL;
	config_t cf;
	int rc = -1;

	config_init(&cf);
	if (err && errlen)
		err[0] = '\0';
	if (!name)
		name = "<string>";
	x = calloc(1, sizeof *x);
	if (x)
		x->c = calloc(1, sizeof *x->c);
	if (!x || !x->c) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		goto cleanup;
	}
	x->name = name;
	x->err = err;
	x->errlen = errlen;

	if (len > DN_CONF_FILE_MAX) {
		dn_cerr(x, 0, "%zu bytes; a configuration holds at most %u", len,
		       DN_CONF_FILE_MAX);
		goto cleanup;
	}
	const char *nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;
		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		dn_cerr(x, line, "contains a NUL byte");
		goto cleanup;
	}
	text = malloc(len + 1);
	if (!text) {
		dn_cerr(x, 0, "out of memory");
		goto cleanup;
	}
	memcpy(text, buf, len);
	text[len] = '\0';

	dn_prescan(text, &sc);
	if (sc.include_line) {
		dn_cerr(x, sc.include_line, "@include is not supported; keep the configuration in one file");
		goto cleanup;
	}
	if (!config_read_string(&cf, text)) {
		int l = config_error_line(&cf);
		dn_cerr(x, l > 0 ? (unsigned)l : 0, "%s", config_error_text(&cf));
		goto cleanup;
	}
	if (sc.noverflow) {
		for (int i = 0; i < sc.noverflow; i++)
			dn_cerr(x, sc.overflow_line[i],
			       "%s does not fit in 32 bits; write 64-bit integers with an L suffix (e.g. 4294967296L)",
			       sc.overflow_text[i]);
		goto cleanup;
	}

	dn_walk(x, config_root_setting(&cf), "");
	if (dn_apply_defaults(x, 1) < 0)
		goto cleanup;
	if (x->nerr == 0)
		dn_cross_check(x);
	if (x->nerr == 0) {
		snprintf(x->c->source, sizeof x->c->source, "%s", name);
		memcpy(c, x->c, sizeof *c);
		rc = 0;
	}
cleanup:
	config_destroy(&cf);
	free(text);
	if (x)
		free(x->c);
	free(x);
	return rc;
}

int dn_config_load_string(struct dn_config *c, const char *text,
			  const char *name, char *err, size_t errlen)
{
	return dn_config_load_buf(c, text, strlen(text), name, err, errlen);
}

int dn_config_load_file(struct dn_config *c, const char *path,
			char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, rc = -1;

	if (!err)
		errlen = 0;
	if (errlen)
		err[0] = '\0';
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the
	 * daemon in open(); it is refused below as not a regular file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto cleanup;
	}
	/* The file can add EAL arguments (-d loads a shared object), so a file
	 * someone else could have written must not configure a root daemon. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %u; it must belong to root or uid %u",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto cleanup;
	}
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0)) {
		snprintf(err, errlen, "%s: writable by %s (mode %04o); refusing it",
			 path, (st.st_mode & S_IWOTH) ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777));
		goto cleanup;
	}
	if (st.st_size > (off_t)DN_CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: %lld bytes; a configuration holds at most %u",
			 path, (long long)st.st_size, DN_CONF_FILE_MAX);
		goto cleanup;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto cleanup;
	}
	/* Read to EOF but no further than the limit, whatever fstat said. */
	for (;;) {
		size_t want = (size_t)st.st_size + 1 - got;
		if (want == 0) {
			snprintf(err, errlen, "%s: changed while being read", path);
			goto cleanup;
		}
		ssize_t k = read(fd, buf + got, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			goto cleanup;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	rc = dn_config_load_buf(c, buf, got, path, err, errlen);
cleanup:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- EAL arguments ---------------------------------------------------- */

int dn_config_eal_argv(const struct dn_config *c, char ***argvp, int *argcp)
{
	size_t cap = 16 + 2 * (size_t)c->eal.vdevs.n + 2 * (size_t)c->eal.pci_allow.n +
		     (size_t)c->eal.extra_args.n;
	/* Room for the vector twice: a copy of the pointers is kept after
	 * argv[argc] for freeing, because rte_eal_init (getopt) permutes
	 * argv[0..argc). */
	char **argv = calloc(2 * (cap + 1), sizeof *argv);
	int argc = 0;
	char num[32];

	if (!argv)
		goto fail;
#define ADD(s) do { \
		if (!(argv[argc] = strdup(s))) \
			goto fail; \
		argc++; \
	} while (0)
	ADD("dillnetd");
	ADD("-l");
	ADD(c->eal.lcores);
	if (!c->eal.hugepages) {
		/* --in-memory would be the obvious partner, but DPDK 22.11
		 * rejects it together with --no-huge; --no-shconf keeps the
		 * process from creating shared config files all the same. */
		ADD("--no-huge");
		ADD("--no-shconf");
	}
	if (c->eal.memory_mb) {
		snprintf(num, sizeof num, "%u", c->eal.memory_mb);
		ADD("-m");
		ADD(num);
	}
	for (unsigned i = 0; i < c->eal.vdevs.n; i++) {
		ADD("--vdev");
		ADD(c->eal.vdevs.v[i]);
	}
	/* No allow list means no PCI probing at all: EAL would otherwise try
	 * to take every NIC it can bind, including the host's own. */
	if (c->eal.pci_allow.n == 0)
		ADD("--no-pci");
	for (unsigned i = 0; i < c->eal.pci_allow.n; i++) {
		ADD("-a");
		ADD(c->eal.pci_allow.v[i]);
	}
	ADD("--file-prefix");
	ADD(c->eal.file_prefix);
	if (!c->eal.telemetry)
		ADD("--no-telemetry");
	for (unsigned i = 0; i < c->eal.extra_args.n; i++)
		ADD(c->eal.extra_args.v[i]);
#undef ADD
	argv[argc] = NULL;
	memcpy(argv + argc + 1, argv, (size_t)argc * sizeof *argv);
	*argvp = argv;
	*argcp = argc;
	return 0;
fail:
	if (argv) {
		for (int i = 0; i < argc; i++)
			free(argv[i]);
		free(argv);
	}
	errno = ENOMEM;
	return -1;
}

void dn_config_eal_argv_free(char **argv, int argc)
{
	if (!argv)
		return;
	/* argv[argc + 1 .. 2 * argc] holds the original pointers. */
	for (int i = 0; i < argc; i++)
		free(argv[argc + 1 + i]);
	free(argv);
}

/* ---- printing --------------------------------------------------------- */

static void dn_print_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void dn_print_group(FILE *f, const struct dn_conf_group *g)
{
	if (g->by_name)
		dn_print_str(f, g->name);
	else
		fprintf(f, "%uL", g->gid);
}

static void dn_print_value(FILE *f, const struct dn_config *c, const struct dn_item *it)
{
	const void *p = (const char *)c + it->off;
	char a[24];
	switch (it->kind) {
	case K_BOOL:
		fputs(*(const bool *)p ? "true" : "false", f);
		break;
	case K_INT:
		if (it->size == sizeof(uint64_t))
			fprintf(f, "%" PRIu64 "L", *(const uint64_t *)p);
		else
			fprintf(f, "%" PRIu32 "%s", *(const uint32_t *)p,
				*(const uint32_t *)p > INT32_MAX ? "L" : "");
		break;
	case K_FLOAT: {
		char b[40];
		snprintf(b, sizeof b, "%.17g", *(const double *)p);
		fprintf(f, "%s%s", b, strpbrk(b, ".e") ? "" : ".0");
		break;
	}
	case K_STR:
		dn_print_str(f, p);
		break;
	case K_ENUM:
		dn_print_str(f, it->names[*(const int *)p]);
		break;
	case K_MAC: {
		const struct dn_conf_mac *m = p;
		if (m->set)
			fprintf(f, "\"%02x:%02x:%02x:%02x:%02x:%02x\"", m->addr[0], m->addr[1],
				m->addr[2], m->addr[3], m->addr[4], m->addr[5]);
		else
			fputs("\"\"", f);
		break;
	}
	case K_CIDR: {
		const struct dn_conf_cidr *cd = p;
		dn_fmt_ipv4(cd->addr, a, sizeof a);
		fprintf(f, "\"%s/%u\"", a, cd->prefix_len);
		break;
	}
	case K_IPV4:
		if (*(const uint32_t *)p) {
			dn_fmt_ipv4(*(const uint32_t *)p, a, sizeof a);
			fprintf(f, "\"%s\"", a);
		} else {
			fputs("\"\"", f);
		}
		break;
	case K_MODE:
		fprintf(f, "\"%04o\"", *(const uint32_t *)p);
		break;
	case K_GROUP:
		dn_print_group(f, p);
		break;
	case K_STRLIST: {
		const struct dn_conf_strlist *l = p;
		fputc('[', f);
		for (unsigned i = 0; i < l->n; i++) {
			fputs(i ? ", " : " ", f);
			dn_print_str(f, l->v[i]);
		}
		fputs(l->n ? " ]" : "]", f);
		break;
	}
	case K_UIDLIST: {
		const struct dn_conf_uidlist *l = p;
		/* A list, not an array: uids above 2^31 need the L form, and
		 * an array may not mix int and int64. */
		fputc('(', f);
		for (unsigned i = 0; i < l->n; i++)
			fprintf(f, "%s%uL", i ? ", " : " ", l->v[i]);
		fputs(l->n ? " )" : ")", f);
		break;
	}
	case K_GROUPLIST: {
		const struct dn_conf_grouplist *l = p;
		fputc('(', f);
		for (unsigned i = 0; i < l->n; i++) {
			fputs(i ? ", " : " ", f);
			dn_print_group(f, &l->v[i]);
		}
		fputs(l->n ? " )" : ")", f);
		break;
	}
	}
}

void dn_config_print(const struct dn_config *c, FILE *f)
{
	char open[64] = "";   /* dotted group path currently open */
	int depth = 0;

	fprintf(f, "# effective configuration (from %s)\n", c->source);
	for (size_t i = 0; i < DN_NITEMS; i++) {
		const struct dn_item *it = &dn_items[i];
		const char *path = it->key.path;
		const char *leaf = strrchr(path, '.');
		size_t glen = leaf ? (size_t)(leaf - path) : 0;
		char grp[64];
		snprintf(grp, sizeof grp, "%.*s", (int)glen, path);
		if (strcmp(grp, open) != 0) {
			/* Close groups until the open path is a prefix of grp. */
			while (depth > 0) {
				size_t ol = strlen(open);
				if (strncmp(grp, open, ol) == 0 && grp[ol] == '.')
					break;
				char *dot = strrchr(open, '.');
				if (dot)
					*dot = '\0';
				else
					open[0] = '\0';
				depth--;
				fprintf(f, "%*s};\n", 2 * depth, "");
			}
			/* Open the remaining components. */
			const char *rest = grp + strlen(open) + (depth ? 1 : 0);
			while (*rest) {
				const char *dot = strchr(rest, '.');
				size_t l = dot ? (size_t)(dot - rest) : strlen(rest);
				fprintf(f, "%s%*s%.*s: {\n", depth == 0 ? "\n" : "", 2 * depth,
					"", (int)l, rest);
				depth++;
				rest += l + (dot ? 1 : 0);
			}
			snprintf(open, sizeof open, "%s", grp);
		}
		fprintf(f, "%*s%s = ", 2 * depth, "", leaf ? leaf + 1 : path);
		dn_print_value(f, c, it);
		fputs(";\n", f);
	}
	while (depth-- > 0)
		fprintf(f, "%*s};\n", 2 * depth, "");
}

/* ---- fault injector --------------------------------------------------- */

static void dn_fault_dir_map(const struct dn_conf_fault_dir *in,
			     struct dn_fault_dir_conf *out)
{
	memset(out, 0, sizeof *out);
	out->loss = in->loss;
	out->dup = in->duplicate;
	out->reorder = in->reorder;
	out->reorder_gap = in->reorder_gap;
	out->reorder_max_us = in->reorder_max_us;
	out->delay_us = in->delay_us;
	out->jitter_us = in->jitter_us;
	out->corrupt = in->corrupt;
	out->rate_bytes_per_s = in->rate;
	out->burst_bytes = in->burst;
}

/* Every value of the list fits its stack field (MAX * SCALE). */
#define TCP_FITS(kind, name, field, scale, def, lo, hi, doc) \
	_Static_assert((uint64_t)(hi) * (scale) <= \
		       (uint64_t)(__typeof__(((struct dn_tcp_conf *)0)->field))~0ull, \
		       "tcp." #name " does not fit dn_tcp_conf." #field);
DN_TCP_SETTINGS(TCP_FITS)
#undef TCP_FITS

void dn_config_tcp_conf(const struct dn_config *c, struct dn_tcp_conf *t)
{
#define X(kind, name, field, scale, def, lo, hi, doc) \
	t->field = (__typeof__(t->field))((uint64_t)c->tcp.name * (scale));
	DN_TCP_SETTINGS(X)
#undef X
}

void dn_config_fault(const struct dn_config *c, struct dn_fault_conf *out)
{
	memset(out, 0, sizeof *out);
	/* The seed is kept even when off, so turning the injector on by a
	 * reload starts from the configured seed. */
	out->seed = c->fault.seed;
	if (!c->fault.enabled)
		return;
	dn_fault_dir_map(&c->fault.rx, &out->rx);
	dn_fault_dir_map(&c->fault.tx, &out->tx);
}

/* ---- group resolution ------------------------------------------------- */

int dn_config_group_gid(const struct dn_conf_group *g, gid_t *gid,
			char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char *buf = NULL;
	size_t n = 1024;
	int e, rc = -1;

	if (!g->by_name) {
		*gid = (gid_t)g->gid;
		return 0;
	}
	for (;;) {
		char *nb = realloc(buf, n);
		if (!nb) {
			snprintf(err, errlen, "group %s: out of memory", g->name);
			goto cleanup;
		}
		buf = nb;
		e = getgrnam_r(g->name, &gr, buf, n, &res);
		if (e != ERANGE || n >= (1u << 20))
			break;
		n *= 2;
	}
	if (!res) {
		snprintf(err, errlen, "group %s: %s", g->name,
			 e ? strerror(e) : "no such group");
		goto cleanup;
	}
	*gid = gr.gr_gid;
	rc = 0;
cleanup:
	free(buf);
	return rc;
}
