/*
 * L2/L3 part of the stack: Ethernet, ARP, IPv4, ICMP.
 *
 * struct dn_l3 is embedded in struct dn_stack (stack.h).  This header does
 * not include stack.h (stack.h includes it while defining struct dn_stack),
 * so it only uses struct dn_stack through pointers; files that call these
 * functions include stack.h.
 *
 * Byte order: every address, port, length and identifier in this API is in
 * HOST byte order.  Only the bytes in frames are in network byte order.
 */
#ifndef DN_L3_H
#define DN_L3_H

#include <stddef.h>
#include <stdint.h>

struct dn_stack;

/* ---- sizes and tunables --------------------------------------------- */

#define DN_ETH_HLEN        14
#define DN_ETH_ZLEN        60      /* minimum frame without FCS (802.3) */
#define DN_IP4_HLEN        20      /* we never send options */
#define DN_ETH_P_IP        0x0800
#define DN_ETH_P_ARP       0x0806
#define DN_ETH_P_VLAN      0x8100
#define DN_IPPROTO_ICMP    1
#define DN_IPPROTO_TCP     6
#define DN_IP4_DEFAULT_TTL 64      /* RFC 1700 / RFC 1122 3.2.1.7 */

#define DN_ARP_ENTRIES      256    /* fixed-size cache */
#define DN_ARP_BUCKETS      64     /* hash chains (power of two) */
#define DN_ARP_QUEUE_PER    4      /* frames waiting per unresolved entry */
#define DN_ARP_QUEUE_TOTAL  64     /* frames waiting in all */
#define DN_ARP_MAX_TRIES    3      /* requests sent before giving up */
#define DN_ARP_RETRY_US     1000000ULL   /* 1 s between requests */
#define DN_ARP_REACHABLE_US 60000000ULL  /* reachable for 60 s after a reply */
#define DN_ARP_STALE_US     60000000ULL  /* then stale for 60 s, then evicted */
#define DN_ARP_FAILED_US    3000000ULL   /* failed entries answer EHOSTUNREACH
					  * for 3 s before a new attempt */
#define DN_ARP_REFRESH_US   1000000ULL   /* at most one refresh request per
					  * second for a stale entry in use */
/* Per-source bounds on unresolved work (issue 10 item 6), so one app
 * connecting to unused on-link addresses cannot take the cache or the
 * queue from the others.  A source is the uid the sender gave (l3.tx_src,
 * set by TCP for a connection's segments); frames with no known sender
 * (RSTs to strays, ICMP replies) are keyed by the destination's hash
 * bucket instead: nothing in them names an app to charge. */
#define DN_ARP_INCOMPLETE_MAX     64  /* unresolved entries in all */
#define DN_ARP_INCOMPLETE_PER_SRC 8   /* unresolved entries per source */
#define DN_ARP_QUEUE_PER_SRC      16  /* frames waiting per source */
#define DN_L3_SRC_NONE        0xffffffffu  /* sender unknown */
#define DN_L3_SRC_BUCKET      0xffffff00u  /* | bucket: no uid comes this high */
#define DN_IP4_TX_SLOTS     256    /* frames from dn_ip4_alloc not yet sent */

/* ICMP error rate limit (RFC 1812 4.3.2.8): token bucket. */
#define DN_ICMP_ERR_RATE    100    /* errors per second */
#define DN_ICMP_ERR_BURST   10     /* bucket depth */

/* ---- counters ---------------------------------------------------------
 * X(name, description).  Every drop path has its own counter.  The same
 * list generates the struct fields, the names and the descriptions, so
 * they never drift.
 */
#define DN_L3_COUNTERS(X) \
	X(eth_rx,               "Ethernet frames received") \
	X(eth_rx_short,         "frames shorter than an Ethernet header") \
	X(eth_rx_not_for_us,    "frames for another MAC or a multicast group") \
	X(eth_rx_bad_src,       "frames with a multicast, broadcast or our own source MAC") \
	X(eth_rx_vlan,          "VLAN-tagged frames (not supported, dropped)") \
	X(eth_rx_unknown_type,  "frames with an EtherType we do not handle") \
	X(arp_rx,               "ARP packets received") \
	X(arp_rx_request,       "ARP requests for our address") \
	X(arp_rx_reply,         "ARP replies received") \
	X(arp_rx_bad,           "malformed ARP packets (length, htype, ptype, hlen, plen, op)") \
	X(arp_rx_bad_sender,    "ARP packets with a bad sender MAC or IP") \
	X(arp_rx_not_for_us,    "ARP requests for other addresses") \
	X(arp_rx_not_learned,   "ARP senders for us outside our subnet (answered, not cached)") \
	X(arp_rx_conflict,      "ARP packets claiming our IP from another MAC") \
	X(arp_gratuitous,       "gratuitous ARP packets received") \
	X(arp_tx_request,       "ARP requests sent") \
	X(arp_tx_reply,         "ARP replies sent") \
	X(arp_tx_gratuitous,    "gratuitous ARP announcements sent") \
	X(arp_learned,          "ARP entries created or refreshed") \
	X(arp_evicted,          "ARP entries evicted (aged out or table full)") \
	X(arp_queued,           "frames queued waiting for resolution") \
	X(arp_queue_overflow,   "frames dropped: resolution queue full") \
	X(arp_resolve_failed,   "resolutions that failed (no reply after retries)") \
	X(arp_resolve_dropped,  "queued frames dropped because resolution failed") \
	X(arp_unreachable,      "sends refused while an entry is in failed state") \
	X(arp_src_limited,      "resolutions refused: the source has its share of unresolved entries") \
	X(arp_queue_src_limited,"frames dropped: the source has its share of the resolution queue") \
	X(arp_incomplete_evicted,"unresolved entries evicted for another source's resolution") \
	X(ip_rx,                "IPv4 packets received") \
	X(ip_rx_short,          "IPv4 packets shorter than 20 bytes") \
	X(ip_rx_bad_version,    "IPv4 packets with version != 4") \
	X(ip_rx_bad_hlen,       "IPv4 packets with IHL < 5 or beyond the frame") \
	X(ip_rx_bad_len,        "IPv4 total length < IHL or > frame") \
	X(ip_rx_bad_csum,       "IPv4 header checksum errors") \
	X(ip_rx_fragment,       "IPv4 fragments (no reassembly, dropped)") \
	X(ip_rx_bad_src,        "IPv4 packets from a broadcast, multicast, loopback, zero or class E source") \
	X(ip_rx_not_for_us,     "IPv4 packets for another destination") \
	X(ip_rx_unknown_proto,  "IPv4 packets for a protocol we do not run") \
	X(ip_rx_delivered,      "IPv4 packets delivered to ICMP or TCP") \
	X(ip_tx,                "IPv4 packets built for sending (before ARP)") \
	X(ip_tx_no_route,       "sends with no route (ENETUNREACH)") \
	X(ip_tx_bad_frame,      "sends of a frame not from dn_ip4_alloc or too long") \
	X(ip_tx_no_addr,        "sends with no local address configured") \
	X(icmp_rx,              "ICMP messages received") \
	X(icmp_rx_short,        "ICMP messages shorter than 8 bytes") \
	X(icmp_rx_bad_csum,     "ICMP checksum errors") \
	X(icmp_rx_echo,         "ICMP echo requests received") \
	X(icmp_rx_echo_bcast,   "ICMP echo requests to broadcast (ignored, RFC 1122 3.2.2.6)") \
	X(icmp_rx_echo_reply,   "ICMP echo replies received (ignored)") \
	X(icmp_rx_unreach,      "ICMP destination unreachable received") \
	X(icmp_rx_time_exceeded,"ICMP time exceeded received") \
	X(icmp_rx_bad_quote,    "ICMP errors whose quoted header is unusable") \
	X(icmp_rx_other,        "ICMP messages of other types (ignored)") \
	X(icmp_tx_echo_reply,   "ICMP echo replies sent") \
	X(icmp_tx_unreach,      "ICMP protocol unreachable sent") \
	X(icmp_tx_rate_limited, "ICMP errors suppressed by the rate limit") \
	X(icmp_tx_too_big,      "echo requests too large to answer") \
	X(tx_alloc_fail,        "frames not sent: io->alloc returned NULL")

struct dn_l3_counters {
#define DN_X_(name, desc) uint64_t name;
	DN_L3_COUNTERS(DN_X_)
#undef DN_X_
};

/* ---- ARP cache ---------------------------------------------------------- */

/* The values are the ctl wire numbering (proto/dn_msg.h: 0 incomplete,
 * 1 reachable, 2 stale; 3 failed); FREE never leaves the stack. */
#define DN_ARP_STATES(X) \
	X(INCOMPLETE, "incomplete") \
	X(REACHABLE,  "reachable") \
	X(STALE,      "stale") \
	X(FAILED,     "failed") \
	X(FREE,       "free")

enum dn_arp_state {
#define DN_X_(name, str) DN_ARP_##name,
	DN_ARP_STATES(DN_X_)
#undef DN_X_
};

#define DN_ARP_NIL 0xffffu   /* end of a chain / queue */

struct dn_arp_entry {
	uint32_t ip;            /* host order */
	uint8_t mac[6];
	uint8_t state;          /* enum dn_arp_state */
	uint8_t tries;          /* requests sent while incomplete */
	uint64_t timer_us;      /* incomplete: next retry; reachable: turns
				 * stale; stale: evicted; failed: freed */
	uint64_t updated_us;    /* last confirmation (or creation) */
	uint64_t refresh_us;    /* last refresh request for a stale entry */
	uint64_t used_us;       /* last frame sent through it (LRU eviction) */
	uint16_t next;          /* hash chain or free list */
	uint16_t q_head, q_tail; /* pending frames (index into the pool) */
	uint8_t q_len;
	uint32_t src;           /* incomplete: the source that started it */
};

struct dn_arp_pending {
	void *frame;
	uint8_t *data;
	uint16_t len;
	uint16_t next;
	uint32_t src;           /* the source that sent it */
};

/* What the ctl server sees of one ARP entry. */
struct dn_arp_view {
	uint32_t ip;            /* host order */
	uint8_t mac[6];         /* zero while incomplete or failed */
	enum dn_arp_state state;
	const char *state_name; /* "incomplete", "reachable", "stale", "failed" */
	uint64_t age_us;        /* since the last confirmation */
	uint64_t expires_us;    /* until the next state change */
	unsigned queued;        /* frames waiting for resolution */
	unsigned tries;         /* requests sent (incomplete) */
};

/* ---- the per-stack L2/L3 state ----------------------------------------- */

struct dn_l3 {
	struct dn_arp_entry arp[DN_ARP_ENTRIES];
	uint16_t arp_bucket[DN_ARP_BUCKETS];
	uint16_t arp_free;              /* free entry list */
	unsigned arp_used;
	uint64_t arp_next_us;           /* earliest ARP timer (UINT64_MAX: none) */

	struct dn_arp_pending pend[DN_ARP_QUEUE_TOTAL];
	uint16_t pend_free;
	unsigned pend_used;

	/* Frames handed out by dn_ip4_alloc and not yet sent: the io interface
	 * does not map a frame handle back to its data, so we remember it. */
	struct { void *frame; uint8_t *data; uint16_t cap; } txs[DN_IP4_TX_SLOTS];
	unsigned txs_next;

	uint16_t ip_id;                 /* IPv4 identification counter */

	/* ICMP error token bucket (RFC 1812 4.3.2.8), in millionths of a
	 * message. */
	uint64_t icmp_tokens;
	uint64_t icmp_last_us;

	uint32_t netmask;               /* derived from conf.prefix_len */

	/* Who the frame now being sent is for (a uid), DN_L3_SRC_NONE
	 * otherwise: TCP sets it around a connection's sends. */
	uint32_t tx_src;

	struct dn_l3_counters c;
};

/* ---- what the IPv4 layer hands to TCP ------------------------------ */

struct dn_ip4_info {
	uint32_t src, dst;      /* host order */
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint8_t hlen;           /* header length in bytes (IHL * 4) */
	uint16_t tot_len;       /* total length from the header (validated) */
	uint16_t id;
	int bcast;              /* addressed to a broadcast address */
	const uint8_t *hdr;     /* the IPv4 header, tot_len bytes valid */
};

/* ---- checksums (RFC 1071) -----------------------------------------------
 * Sums are 32-bit partial ones'-complement sums of the data read as
 * big-endian 16-bit words, so they combine with host-order values (as in
 * dn_ip4_pseudo_sum).  dn_csum_add may be chained; only the last chunk may
 * have an odd length.  dn_csum_fold returns the checksum in host order:
 * store it with a big-endian write.  Verifying: dn_csum(hdr, n) == 0 when
 * the stored checksum is right.
 */
uint32_t dn_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t dn_csum_fold(uint32_t sum);
uint16_t dn_csum(const void *data, size_t len);
/* Pseudo-header sum for TCP/UDP (RFC 9293 3.1): src, dst host order,
 * l4len = TCP header + data length. */
uint32_t dn_ip4_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto,
			   uint16_t l4len);

/* ---- output for L4 protocols, without copying ----------------------------
 * dn_ip4_alloc gets a frame from io->alloc and returns where the L4 header
 * goes; *room is how many L4 bytes fit (MTU - 20, or less if the buffer is
 * small).  NULL (counted as tx_alloc_fail) when no buffer is free.
 *
 * dn_ip4_send writes the IPv4 and Ethernet headers in front of the l4len
 * bytes the caller wrote (L4 checksum is the caller's: use
 * dn_ip4_pseudo_sum), picks the next hop (on-link by prefix, else the
 * gateway), resolves it with ARP (queueing the frame while resolving) and
 * hands it to io->xmit.  src 0 means our address.  Always takes ownership
 * of the frame.  Returns 0 (sent or queued) or an errno value:
 *   ENETUNREACH   no route to dst
 *   EHOSTUNREACH  ARP resolution of the next hop failed recently
 *   ENOBUFS       ARP resolution queue full (frame dropped)
 *   EADDRNOTAVAIL no local address configured
 *   EMSGSIZE      l4len > room
 *   EINVAL        frame not from dn_ip4_alloc (or already sent)
 * At most DN_IP4_TX_SLOTS frames may be allocated and not yet sent;
 * dn_ip4_abandon gives one back without sending it.
 */
uint8_t *dn_ip4_alloc(struct dn_stack *st, void **frame, size_t *room);
int dn_ip4_send(struct dn_stack *st, void *frame, uint32_t src, uint32_t dst,
		uint8_t proto, size_t l4len);
void dn_ip4_abandon(struct dn_stack *st, void *frame);

/* Is addr one of ours (unicast) / a broadcast we accept (host order)? */
int dn_ip4_is_local(const struct dn_stack *st, uint32_t addr);
int dn_ip4_is_bcast(const struct dn_stack *st, uint32_t addr);

/* ---- read-only views for the ctl server ------------------------------ */

void dn_arp_foreach(const struct dn_stack *st,
		    void (*cb)(const struct dn_arp_view *e, void *arg),
		    void *arg);
/* Walks the L2/L3 counters, then TCP's (dn_tcp_counters_foreach). */
void dn_stack_counters_foreach(const struct dn_stack *st,
			       void (*cb)(const char *name, uint64_t value,
					  void *arg),
			       void *arg);
/* Name and description of L3 counter i (0 .. DN_L3_NCOUNTERS-1). */
#define DN_L3_ONE_(name, desc) + 1
#define DN_L3_NCOUNTERS (0 DN_L3_COUNTERS(DN_L3_ONE_))
const char *dn_l3_counter_name(unsigned i);
const char *dn_l3_counter_desc(unsigned i);
const char *dn_arp_state_name(enum dn_arp_state s);

/* Gratuitous ARP announcement of our address (RFC 5227 2.3); the daemon
 * calls it at start. */
void dn_stack_announce(struct dn_stack *st);

/* ---- hooks TCP provides (tcp_stub.c has weak no-op versions) ---------- */

/* An ICMP destination unreachable (type 3) or time exceeded (type 11)
 * arrived quoting a TCP segment we sent: quoted_ip points at the quoted
 * IPv4 header (validated: version 4, IHL, our source address, protocol 6,
 * at least IHL*4 + 8 bytes), len bytes of quote are readable.  The ICMP
 * header itself is at quoted_ip - 8, so for type 3 code 4 (fragmentation
 * needed, RFC 1191) the next-hop MTU is dn_get16(quoted_ip - 2).  Errors
 * that arrived as broadcasts are not passed on. */
void dn_tcp_icmp_error(struct dn_stack *st, uint8_t type, uint8_t code,
		       const uint8_t *quoted_ip, size_t len);
void dn_tcp_counters_foreach(const struct dn_stack *st,
			     void (*cb)(const char *name, uint64_t value,
					void *arg),
			     void *arg);

/* ---- internal to eth/arp/ipv4/icmp/stack.c ---------------------------- */

void dn_eth_input(struct dn_stack *st, const uint8_t *data, size_t len);
void dn_arp_input(struct dn_stack *st, const uint8_t *pkt, size_t len);
void dn_ip4_input(struct dn_stack *st, const uint8_t *pkt, size_t len,
		  int l2_bcast);
void dn_icmp_input(struct dn_stack *st, const struct dn_ip4_info *ip,
		   const uint8_t *msg, size_t len);
/* Protocol unreachable for an unknown protocol (rate-limited). */
void dn_icmp_send_unreach(struct dn_stack *st, const struct dn_ip4_info *ip,
			  uint8_t code);

void dn_arp_init(struct dn_stack *st);
void dn_arp_fini(struct dn_stack *st);
uint64_t dn_arp_poll(struct dn_stack *st);   /* returns absolute next timer */
/* Resolve next_hop and transmit; frame/data already hold the Ethernet
 * header except the destination MAC.  Takes ownership.  0 or errno. */
int dn_arp_output(struct dn_stack *st, uint32_t next_hop, void *frame,
		  uint8_t *data, uint16_t len);
void dn_arp_send(struct dn_stack *st, uint16_t op, const uint8_t *tha,
		 uint32_t tpa, const uint8_t *eth_dst);

/* Alloc a frame with room for an IPv4 packet; data/cap out.  NULL and
 * tx_alloc_fail counted when none. */
void *dn_l2_alloc(struct dn_stack *st, uint8_t **data, uint16_t *cap);
/* Write IPv4 + Ethernet headers in front of an L4 payload at
 * data + 34 (pad to 60 bytes) and send it.  Takes ownership; 0 or
 * errno as dn_ip4_send. */
int dn_ip4_output(struct dn_stack *st, void *frame, uint8_t *data,
		  uint16_t cap, uint32_t src, uint32_t dst, uint8_t proto,
		  size_t l4len);

/* Big-endian accessors: frames are not aligned, so go byte by byte. */
static inline uint16_t dn_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t dn_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
static inline void dn_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void dn_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
