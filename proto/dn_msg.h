/*
 * Control-message framing shared by the daemon, dillnetctl and libdillnet.
 *
 * Both AF_LOCAL SOCK_SEQPACKET sockets (app.sock and ctl.sock) carry one
 * message per datagram: a fixed header and a payload whose size is fixed per
 * type (or, for replies that list things, a count and that many entries).
 * Every request gets exactly one reply with the same type and request id,
 * flag DN_MSG_F_REPLY, and `result` 0 or a positive errno value.
 *
 * The receiver checks in order (dn_msg_check): frame length within bounds,
 * header length field equals the frame, exact payload size for the type,
 * NUL-terminated strings, and only then does it look at the meaning.
 */
#ifndef DN_MSG_H
#define DN_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DN_PROTO_MAGIC  0x444e4554u  /* "DNET" */
#define DN_PROTO_MAJOR  1
#define DN_PROTO_MINOR  0
#define DN_MSG_MAX      65536        /* largest frame, header included */

#define DN_MSG_F_REPLY  0x0001

struct dn_msg_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;       /* payload bytes after this header */
	uint32_t req_id;
	uint32_t result;    /* replies: 0 or errno */
};

/* HELLO opens every connection on either socket. */
#define DN_FEAT_NONE 0ull
struct dn_msg_hello {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint64_t features;
	char     name[32];  /* program name for logs, NUL-terminated */
};

/* ---- ctl payloads -------------------------------------------------- */
struct dn_ctl_status {
	char     version[16];
	uint64_t uptime_ms;
	uint32_t pid;
	uint32_t poll_mode;          /* 0 adaptive, 1 busy */
	char     port_name[64];      /* DPDK device name */
	char     driver[32];
	uint8_t  mac[6];
	uint8_t  link_up;
	uint8_t  prefix_len;
	uint32_t link_speed_mbps;
	uint32_t ip4;                /* host order */
	uint32_t gateway;
	uint32_t mtu;
	uint32_t log_level;
	uint32_t apps;
	uint32_t fault_enabled;
};

struct dn_ctl_port {
	char     port_name[64];
	char     driver[32];
	uint8_t  mac[6];
	uint8_t  link_up;
	uint8_t  full_duplex;
	uint32_t link_speed_mbps;
	uint32_t mtu;
	uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
};

struct dn_ctl_arp_entry {
	uint32_t ip4;
	uint8_t  mac[6];
	uint8_t  state;              /* 0 incomplete, 1 reachable, 2 stale */
	uint8_t  pad;
	uint32_t age_ms;
	uint32_t queued;             /* packets waiting for resolution */
};

struct dn_ctl_counter {
	char     name[48];
	uint64_t value;
};

/* List replies: a count and that many entries. */
struct dn_ctl_list {
	uint32_t count;
	uint32_t pad;
};

struct dn_ctl_loglevel {
	char level[16];
};

/*
 * Message types, written once.  X(NAME, number, request payload rule,
 * reply payload rule).  Rules: DN_SZ_NONE, DN_SZ_FIXED(type),
 * DN_SZ_LIST(entry type).
 */
#define DN_MSG_TYPES(X) \
	X(HELLO,         1, DN_SZ_FIXED(struct dn_msg_hello),  DN_SZ_FIXED(struct dn_msg_hello)) \
	X(CTL_STATUS,   16, DN_SZ_NONE,                        DN_SZ_FIXED(struct dn_ctl_status)) \
	X(CTL_PORT,     17, DN_SZ_NONE,                        DN_SZ_FIXED(struct dn_ctl_port)) \
	X(CTL_ARP,      18, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_arp_entry)) \
	X(CTL_COUNTERS, 19, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_counter)) \
	X(CTL_LOGLEVEL, 20, DN_SZ_FIXED(struct dn_ctl_loglevel), DN_SZ_NONE)

enum dn_msg_type {
#define X(name, num, rq, rp) DN_MSG_##name = num,
	DN_MSG_TYPES(X)
#undef X
};

enum dn_sz_kind { DN_SZK_NONE, DN_SZK_FIXED, DN_SZK_LIST };
struct dn_sz_rule {
	enum dn_sz_kind kind;
	uint32_t size;   /* FIXED: payload size; LIST: entry size */
};
#define DN_SZ_NONE        ((struct dn_sz_rule){ DN_SZK_NONE, 0 })
#define DN_SZ_FIXED(t)    ((struct dn_sz_rule){ DN_SZK_FIXED, sizeof(t) })
#define DN_SZ_LIST(t)     ((struct dn_sz_rule){ DN_SZK_LIST, sizeof(t) })

/* Name of a type for logs ("CTL_STATUS"), or NULL when unknown. */
const char *dn_msg_type_name(uint16_t type);

/*
 * Validate a received frame.  Returns 0 and fills *hdr on success, else a
 * positive errno: EMSGSIZE (frame shorter than a header or longer than
 * DN_MSG_MAX, or len field disagreeing with the frame), ENOMSG (unknown
 * type), EBADMSG (payload size wrong for the type and direction, list count
 * disagreeing with the size, or a string not NUL-terminated).
 * is_reply selects which of the two payload rules applies.
 */
int dn_msg_check(const void *frame, size_t frame_len, int is_reply,
		 struct dn_msg_hdr *hdr);

/* Fill a header for a payload of len bytes. */
void dn_msg_hdr_init(struct dn_msg_hdr *h, uint16_t type, uint16_t flags,
		     uint32_t len, uint32_t req_id, uint32_t result);

/* HELLO helpers: fill ours; check a peer's (0, or EPROTO with a message
 * naming both versions written to err). */
void dn_msg_hello_init(struct dn_msg_hello *h, const char *name);
int dn_msg_hello_check(const struct dn_msg_hello *h, char *err, size_t errlen);

#endif
