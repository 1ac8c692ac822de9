/*
 * dillnetd configuration: a libconfig file (default DN_CONFIG_DEFAULT_PATH)
 * parsed into struct dn_config.  Every setting has a default except
 * ip.address; every value is checked (type, range, syntax) and anything the
 * schema does not know is an error, so a typo never silently falls back to a
 * default.
 *
 * No DPDK here: this file and config.c are linked into the unit tests and
 * the fuzzer.  The schema (names, kinds, ranges, defaults, one-line docs)
 * lives in a single table in config.c; dn_config_keys() exposes it so tests
 * can check that the sample file and the manual page cover every key.
 */
#ifndef DN_CONFIG_H
#define DN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"
#include "tcp_settings.h"

#define DN_CONFIG_DEFAULT_PATH "/etc/dillnet/dillnetd.conf"

#define DN_CONF_LIST_MAX  32   /* entries in any list setting */
#define DN_CONF_STR_MAX   256  /* bytes of one list string, NUL included */
#define DN_CONF_NAME_MAX  33   /* group name: 32 bytes + NUL */
#define DN_CONF_PATH_MAX  108  /* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define DN_CONF_FILE_MAX  (1u << 20) /* largest config file accepted */

struct dn_conf_strlist {
	unsigned n;
	char v[DN_CONF_LIST_MAX][DN_CONF_STR_MAX];
};

struct dn_conf_uidlist {
	unsigned n;
	uint32_t v[DN_CONF_LIST_MAX];
};

/* A group as written: by name (resolved when the daemon starts, so a config
 * can be checked on a host where the group does not exist yet) or by gid. */
struct dn_conf_group {
	bool by_name;
	uint32_t gid;                 /* valid when !by_name */
	char name[DN_CONF_NAME_MAX];  /* valid when by_name */
};

struct dn_conf_grouplist {
	unsigned n;
	struct dn_conf_group v[DN_CONF_LIST_MAX];
};

struct dn_conf_mac {
	bool set;                     /* false: use the port's own address */
	uint8_t addr[6];
};

/* Addresses are kept in network byte order, as they go on the wire. */
struct dn_conf_cidr {
	uint32_t addr;
	uint32_t prefix_len;          /* 1..32 */
	uint32_t netmask;             /* derived from prefix_len */
};

enum dn_poll_mode { DN_POLL_ADAPTIVE, DN_POLL_BUSY };
/* Same order as the stack's DN_TCP_CCS (checked in config.c). */
enum dn_cc_algo { DN_CC_CUBIC, DN_CC_NEWRENO };
/* Field types of the tcp group, by kind (tcp_settings.h). */
#define DN_CONF_TCP_T_INT  uint32_t
#define DN_CONF_TCP_T_BOOL bool
#define DN_CONF_TCP_T_CC   enum dn_cc_algo

struct dn_conf_fault_dir {
	double loss;                  /* probabilities, 0..1 */
	double duplicate;
	double reorder;
	double corrupt;
	uint32_t reorder_gap;         /* frames a reordered frame is held back */
	uint32_t reorder_max_us;      /* ... or at most this long */
	uint32_t delay_us;
	uint32_t jitter_us;
	uint64_t rate;                /* bytes per second, 0 = unlimited */
	uint32_t burst;               /* bytes; 0 = the injector's default */
};

struct dn_config {
	char source[256];             /* file name the values came from */
	struct {
		char lcores[64];      /* "0", "0-1", "0,2-3" */
		bool hugepages;       /* false: --no-huge */
		uint32_t memory_mb;   /* -m; 0: let DPDK decide */
		char file_prefix[64];
		bool telemetry;       /* false: --no-telemetry */
		struct dn_conf_strlist vdevs;      /* --vdev each */
		struct dn_conf_strlist pci_allow;  /* -a each */
		struct dn_conf_strlist extra_args; /* appended verbatim */
	} eal;
	struct {
		char device[64];      /* "" = first port */
		struct dn_conf_mac mac;
		uint32_t mtu;
		uint32_t rx_desc;
		uint32_t tx_desc;
		uint32_t mbufs;
	} port;
	struct {
		struct dn_conf_cidr address;
		uint32_t gateway;     /* 0 = none (on-link only) */
	} ip;
	struct {
		char app_path[DN_CONF_PATH_MAX];
		struct dn_conf_group app_group;
		uint32_t app_mode;
		char ctl_path[DN_CONF_PATH_MAX];
		struct dn_conf_group ctl_group;
		uint32_t ctl_mode;
	} sockets;
	struct {
		enum dn_log_level level;
	} log;
	struct {
		enum dn_poll_mode mode;
		uint32_t idle_us;     /* idle time before the loop sleeps */
		uint32_t max_sleep_ms;
	} poll;
	struct {
		struct dn_conf_uidlist allowed_uids;
		struct dn_conf_grouplist allowed_groups;
		uint32_t max_apps;
		uint32_t max_sockets;      /* per app */
		uint32_t region_mb;        /* per app shared region */
		uint32_t listen_port_min;  /* per app listen range */
		uint32_t listen_port_max;
		uint32_t rx_buffer;        /* per socket, power of two */
		uint32_t tx_buffer;
		uint32_t max_listeners;    /* per app */
		uint32_t hello_timeout_ms; /* accept to attached */
		uint32_t max_pending;      /* connections not attached yet, in all */
		struct {                   /* everything one uid holds at once */
			uint32_t max_apps;
			uint32_t max_pending;
			uint32_t max_sockets;      /* departed apps' included */
			uint32_t max_listeners;
			uint32_t region_mb;        /* departed apps' kept regions included */
		} per_uid;
	} apps;
	/* Generated from the one list of TCP settings (tcp_settings.h). */
	struct {
#define DN_X(kind, name, field, scale, def, lo, hi, doc) DN_CONF_TCP_T_##kind name;
		DN_TCP_SETTINGS(DN_X)
#undef DN_X
	} tcp;
	struct {
		bool enabled;
		uint64_t seed;
		struct dn_conf_fault_dir rx, tx;
	} fault;
};

/* Load a file.  On success fills *c (every field: defaults for what the file
 * leaves out) and returns 0.  On failure returns -1, leaves *c untouched and
 * writes ALL errors found, one per line, "FILE:LINE: what is wrong" (or
 * "FILE: ..." when no line applies), into err (truncated to errlen).  A
 * syntax error stops at the first one, as libconfig does, and the checks
 * between settings (gateway on-link, listen range, region size, distinct
 * socket paths) run only once every value is valid.  The file must be
 * a regular file of at most DN_CONF_FILE_MAX bytes, owned by root or the
 * caller and not writable by others (it can make the daemon load code). */
int dn_config_load_file(struct dn_config *c, const char *path,
			char *err, size_t errlen);
/* Same from memory; name stands for FILE in messages (NULL: "<string>"). */
int dn_config_load_string(struct dn_config *c, const char *text,
			  const char *name, char *err, size_t errlen);
/* Same with an explicit length (the fuzzer); a NUL byte inside is an error. */
int dn_config_load_buf(struct dn_config *c, const char *buf, size_t len,
		       const char *name, char *err, size_t errlen);
/* All defaults; ip.address stays zero (it has no default).  Returns 0. */
int dn_config_defaults(struct dn_config *c);

/* EAL argument vector: "dillnetd", -l, [--no-huge --no-shconf], [-m N],
 * --vdev..., -a..., --file-prefix, [--no-telemetry], extra args; argv[argc]
 * is NULL.  rte_eal_init may reorder argv, so free it only with
 * dn_config_eal_argv_free, which keeps its own copy of the pointers.
 * Returns 0, or -1 with errno = ENOMEM. */
int dn_config_eal_argv(const struct dn_config *c, char ***argv, int *argc);
void dn_config_eal_argv_free(char **argv, int argc);

/* Print the effective configuration in the file's own syntax (every setting,
 * defaults included); the output loads back to the same struct. */
void dn_config_print(const struct dn_config *c, FILE *f);

/* The fault injector's configuration (daemon/stack/fault.h) from the fault
 * group: the seed always, the impairments only when fault.enabled (an
 * all-zero direction passes frames straight through). */
struct dn_fault_conf;
void dn_config_fault(const struct dn_config *c, struct dn_fault_conf *out);

/* The tcp group onto the stack's TCP settings (daemon/stack/tcp.h): every
 * setting of tcp_settings.h, converted to the stack's units; the stack's
 * other settings are left as they are. */
struct dn_tcp_conf;
void dn_config_tcp_conf(const struct dn_config *c, struct dn_tcp_conf *t);

/* Resolve a group (name or gid) to a gid.  0, or -1 with a message. */
int dn_config_group_gid(const struct dn_conf_group *g, gid_t *gid,
			char *err, size_t errlen);

/* The schema, for tests and tools: full dotted path ("port.mtu"), the kind
 * of value in words, the default in file syntax (NULL: required), one line
 * of documentation. */
struct dn_config_key {
	const char *path;
	const char *type;
	const char *def;
	const char *doc;
};
const struct dn_config_key *dn_config_key(size_t i); /* NULL past the end */

#endif
