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
 *
 * Errors in proto/: checks of what the other side wrote (dn_msg_check, the
 * region's and rings' validators) return 0 or a positive errno, the value
 * a reply or an event record carries; byte and record I/O return a count,
 * with a sentinel for corrupt indices (DN_RING_CORRUPT, -1).  The
 * exceptions are dn_ring_attach and dn_ring_grow, which return -1 and set
 * errno.
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
	uint8_t  state;              /* 0 incomplete, 1 reachable, 2 stale, 3 failed */
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
	uint32_t flags;           /* DN_CTL_LIST_* */
};
/* The daemon had more entries than one reply holds; these are the first. */
#define DN_CTL_LIST_TRUNCATED 1u

struct dn_ctl_loglevel {
	char level[16];
};

/* ---- app payloads (app.sock) ---------------------------------------
 *
 * Which path carries what: requests here create, name or destroy state and
 * each needs an errno reply (attach, detach, listen, connect, accept,
 * shutdown, close).  Data-path hints (tx kick, rx window update) and
 * readiness/completion events travel as records in the region's command
 * and event rings instead (dn_region.h): no system call unless the other
 * side sleeps, no reply needed.
 *
 * Socket ids are chosen by the daemon and only mean something to the app
 * that got them; the daemon checks every id against that app's table.
 */

/* APP_ATTACH request: 0 fields mean "policy default"; the daemon caps
 * every request at the policy limit. */
struct dn_app_attach_req {
	uint32_t want_slots;
	uint32_t flags;               /* must be 0 */
};

/* APP_ATTACH reply.  With it, as SCM_RIGHTS in this order (nfds of them):
 *   [0] memfd of the region (sealed: no shrink, no grow, no more seals),
 *   [1] eventfd the daemon signals to wake the app (events, rx data,
 *       tx/command room),
 *   [2] eventfd the app signals to wake the daemon (commands).
 * Both eventfds are non-blocking (the flag belongs to the shared file
 * description): wait for them with poll/epoll, then read to reset.
 * The app maps region_size bytes and checks them with dn_region_attach();
 * the layout fields repeat the region header so a mismatch is caught
 * before mapping. */
#define DN_ATTACH_NFDS 3
struct dn_app_attach_rep {
	uint64_t region_size;
	uint32_t layout_version;      /* DN_REGION_VERSION */
	uint32_t nslots;
	uint32_t rx_size;
	uint32_t tx_size;
	uint32_t app_id;              /* daemon's id for logs and ctl */
	uint32_t nfds;                /* DN_ATTACH_NFDS */
	uint32_t max_listen;          /* policy: listeners this app may own */
	uint32_t pad;
};

/* TCP_LISTEN: port 0 picks a port, written back in the reply. */
struct dn_tcp_listen_req {
	uint32_t ip4;                 /* host order; 0 = any local address */
	uint16_t port;
	uint16_t pad;
	uint32_t backlog;
	uint32_t flags;               /* must be 0 */
};

/* TCP_BIND: may this app bind ip4:port?  Checks the address (EADDRNOTAVAIL)
 * and the listen port policy (EACCES, logged), as bind(2) does, for APIs
 * whose bind comes before the listen (mTCP's mtcp_bind); reserves
 * nothing: TCP_LISTEN checks again and claims the port. */
struct dn_tcp_bind_req {
	uint32_t ip4;                 /* host order; 0 = any local address */
	uint16_t port;                /* 0: any port, always allowed */
	uint16_t pad;                 /* must be 0 */
	uint32_t flags;               /* must be 0 */
	uint32_t pad2;                /* must be 0 */
};

/* TCP_CONNECT: the reply comes once the SYN is queued; completion is an
 * EVT_CONNECTED in the event ring with result 0 or the errno, so the app
 * enforces its own deadline (and TCP_CLOSEs with DN_CLOSE_ABORT on
 * expiry). */
struct dn_tcp_connect_req {
	uint32_t ip4;                 /* host order */
	uint16_t port;
	uint16_t pad;
	uint32_t flags;               /* must be 0 */
	uint32_t pad2;
};

/* Requests naming one existing socket: TCP_ACCEPT (sock = listener;
 * EAGAIN when nothing is pending, wait for EVT_ACCEPTABLE), TCP_SHUTDOWN
 * (FIN after the bytes in the tx ring when the daemon sees this request),
 * TCP_CLOSE (how: DN_CLOSE_*). */
#define DN_CLOSE_GRACEFUL 0  /* like close(2): queued data then FIN, RST if unread rx */
#define DN_CLOSE_ABORT    1  /* RST now, drop everything */
struct dn_tcp_sock_req {
	uint32_t sock;
	uint32_t how;                 /* TCP_CLOSE only; 0 otherwise */
};

/* TCP_SETOPT: a per-connection option on a connected (or connecting)
 * socket.  value 0 or 1; EINVAL otherwise or for an unknown option. */
#define DN_TCPOPT_NODELAY   1     /* 1: no Nagle (RFC 9293 3.7.4) */
#define DN_TCPOPT_KEEPALIVE 2     /* 1: keepalive probes (RFC 9293 3.8.4) */
struct dn_tcp_setopt_req {
	uint32_t sock;
	uint16_t opt;
	uint16_t pad;                 /* must be 0 */
	uint32_t value;
	uint32_t pad2;                /* must be 0 */
};

/* Reply to TCP_LISTEN, TCP_CONNECT and TCP_ACCEPT. */
struct dn_tcp_sock_rep {
	uint32_t sock;                /* socket id for commands and requests */
	uint32_t slot;                /* buffer slot; DN_SLOT_NONE for listeners */
	uint32_t local_ip4;           /* host order */
	uint32_t peer_ip4;            /* 0 for listeners */
	uint16_t local_port;          /* the bound port (listen port 0 resolved) */
	uint16_t peer_port;
	uint32_t pad;
};

/* ---- ctl payloads for apps ----------------------------------------- */
struct dn_ctl_app {
	uint32_t pid;
	uint32_t uid;
	uint32_t gid;
	uint32_t app_id;
	uint64_t attach_time_ms;      /* CLOCK_REALTIME, ms since the epoch */
	uint32_t sockets;             /* open sockets incl. listeners */
	uint32_t slots;               /* buffer slots in its region */
	uint64_t region_size;
	uint64_t bytes_in;            /* payload delivered to the app */
	uint64_t bytes_out;           /* payload taken from the app */
	char     name[32];            /* from its HELLO, NUL-terminated */
	/* Limits (dillnetd.conf(5), apps.per_uid): this app's listeners
	 * and what its uid holds in all, departed apps' connections and
	 * kept regions included. */
	uint32_t listeners;
	uint32_t uid_apps;            /* attached + departed with connections */
	uint32_t uid_pending;         /* connections not attached yet */
	uint32_t uid_sockets;
	uint32_t uid_listeners;
	uint32_t uid_orphans;         /* connections left by departed apps */
	uint64_t uid_region;          /* bytes */
};

/* CTL_CONNS entry: one TCP connection or listener, like a line of ss -ti. */
struct dn_ctl_tcpconn {
	uint32_t local_ip4, remote_ip4;   /* host order */
	uint16_t local_port, remote_port;
	uint8_t  state;                   /* enum dn_tcp_state */
	uint8_t  cc;                      /* enum dn_tcp_cc_algo */
	uint8_t  sack, timestamps;
	uint8_t  wscale_snd, wscale_rcv;
	uint16_t pad;
	char     state_name[16];          /* "ESTABLISHED", NUL-terminated */
	char     cc_name[16];             /* "cubic", NUL-terminated */
	uint32_t send_q, unsent, recv_q;  /* bytes */
	uint32_t snd_wnd, rcv_wnd, cwnd, ssthresh, mss;
	uint64_t srtt_us, rttvar_us, rto_us, retransmits;
	uint32_t app_pid, app_id;         /* 0: no app (orphaned) */
};

/* CTL_KILL_CONN: reset every connection matching the 4-tuple (ports 0
 * and addresses 0 match anything); ESRCH when none did. */
struct dn_ctl_kill_conn {
	uint32_t local_ip4, remote_ip4;   /* host order */
	uint16_t local_port, remote_port;
	uint32_t pad;
};

struct dn_ctl_kill_app {
	uint32_t pid;                 /* every app of this pid; ESRCH if none */
	uint32_t pad;
};

/*
 * Message types, written once.  X(NAME, number, request payload rule,
 * reply payload rule).  Rules: DN_SZ_NONE, DN_SZ_FIXED(type),
 * DN_SZ_LIST(entry type).
 */
#define DN_MSG_TYPES(X) \
	X(HELLO,         1, DN_SZ_FIXED(struct dn_msg_hello),  DN_SZ_FIXED(struct dn_msg_hello)) \
	X(APP_ATTACH,    2, DN_SZ_FIXED(struct dn_app_attach_req), DN_SZ_FIXED(struct dn_app_attach_rep)) \
	X(APP_DETACH,    3, DN_SZ_NONE,                        DN_SZ_NONE) \
	X(TCP_LISTEN,    4, DN_SZ_FIXED(struct dn_tcp_listen_req), DN_SZ_FIXED(struct dn_tcp_sock_rep)) \
	X(TCP_CONNECT,   5, DN_SZ_FIXED(struct dn_tcp_connect_req), DN_SZ_FIXED(struct dn_tcp_sock_rep)) \
	X(TCP_ACCEPT,    6, DN_SZ_FIXED(struct dn_tcp_sock_req), DN_SZ_FIXED(struct dn_tcp_sock_rep)) \
	X(TCP_SHUTDOWN,  7, DN_SZ_FIXED(struct dn_tcp_sock_req), DN_SZ_NONE) \
	X(TCP_CLOSE,     8, DN_SZ_FIXED(struct dn_tcp_sock_req), DN_SZ_NONE) \
	X(TCP_SETOPT,    9, DN_SZ_FIXED(struct dn_tcp_setopt_req), DN_SZ_NONE) \
	X(TCP_BIND,     10, DN_SZ_FIXED(struct dn_tcp_bind_req), DN_SZ_NONE) \
	X(CTL_STATUS,   16, DN_SZ_NONE,                        DN_SZ_FIXED(struct dn_ctl_status)) \
	X(CTL_PORT,     17, DN_SZ_NONE,                        DN_SZ_FIXED(struct dn_ctl_port)) \
	X(CTL_ARP,      18, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_arp_entry)) \
	X(CTL_COUNTERS, 19, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_counter)) \
	X(CTL_LOGLEVEL, 20, DN_SZ_FIXED(struct dn_ctl_loglevel), DN_SZ_NONE) \
	X(CTL_APPS,     21, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_app)) \
	X(CTL_KILL_APP, 22, DN_SZ_FIXED(struct dn_ctl_kill_app), DN_SZ_NONE) \
	X(CTL_CONNS,    23, DN_SZ_NONE,                        DN_SZ_LIST(struct dn_ctl_tcpconn)) \
	X(CTL_KILL_CONN, 24, DN_SZ_FIXED(struct dn_ctl_kill_conn), DN_SZ_NONE)

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
