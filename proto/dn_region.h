/*
 * dn_region: the per-app shared-memory region (a sealed memfd the daemon
 * creates at APP_ATTACH and maps; the app maps the same fd).
 *
 *   offset 0          struct dn_region_hdr      written once by the daemon
 *   hdr.cmd_ring_off  struct dn_ring_shared     command ring indices
 *   hdr.evt_ring_off  struct dn_ring_shared     event ring indices
 *   hdr.cmd_data_off  cmd_size bytes            command records (app -> daemon)
 *   hdr.evt_data_off  evt_size bytes            event records (daemon -> app)
 *   hdr.slots_off     nslots x slot_size        socket buffers, page aligned
 *
 * A slot (one per TCP connection, allocated by the daemon, named in the
 * TCP_CONNECT / TCP_ACCEPT replies) is:
 *
 *   +0                 struct dn_slot_hdr: rx ring indices, tx ring indices
 *   +DN_SLOT_HDR_SIZE  rx data (rx_size bytes): daemon produces, app consumes
 *   +.. + rx_size      tx data (tx_size bytes): app produces, daemon consumes;
 *                      unacknowledged bytes stay here (retransmission buffer)
 *
 * Slots and data areas are page aligned so the daemon can give a freed
 * slot's pages back and idle sockets cost only the pages they touched.
 *
 * Capacity (issue 14): the region is one large *sparse* memfd.  Its size
 * is fixed and sealed at attach (the app must not be able to shrink it
 * under the daemon), but it is only address space: a page is committed
 * when one side first touches it, and the slot table has one slot per
 * socket the app may hold (apps.max_sockets), not per socket the memory
 * budget could fill.  So with the defaults (16,384 slots of 4 KiB + 256 KiB
 * + 256 KiB) the region spans about 8 GiB of address space on each side
 * and commits nothing for slots never used.  A slot costs its header page
 * plus the ring pages its traffic touched: a connection that exchanged a
 * few bytes holds 12 KiB of region.
 *  - The daemon hands slots out from a slot table (struct dn_slot_table):
 *    never-used slots in order, then freed ones, O(1) either way.
 *  - When TCP lets go of a slot (closed, reset, or released at TIME-WAIT)
 *    the daemon punches its pages out of the memfd (fallocate
 *    PUNCH_HOLE | KEEP_SIZE; the seals forbid only shrinking and growing),
 *    which also unmaps them from the app: the next user of the slot starts
 *    from zero-filled, uncommitted pages.
 *  - The memory an app's region may commit is bounded by
 *    apps.region_mb: the daemon reads the memfd's allocated blocks
 *    (st_blocks, O(1)) before it hands out a slot and refuses a new socket
 *    with ENOMEM beyond the bound; EMFILE when every slot is in use.  An
 *    app can still touch the pages of its own slots itself: that memory is
 *    charged to whoever touches it first (memcg), and the bound on what
 *    the region can ever commit is its size.
 *  - Every index and size the daemon acts on still comes from its private
 *    layout and ring views (see "The rule for everything an app can
 *    write" in DESIGN.md); the one word added that an app writes is its
 *    tx rings' capacity, below.
 *
 * Rings that start small and grow (dn_ring.h "Capacity"): a slot's rx
 * and tx rings start at DN_SLOT_INIT_CAP (16 KiB) of their rx_size /
 * tx_size and only that part of their pages is ever touched until they
 * grow, so a long-lived connection moving small messages stays at a few
 * pages however much it moved.  Each ring's producer owns its capacity
 * word and doubles it with use: the daemon grows rx when more than half
 * of it arrived in one round trip while the app kept up, or when the peer
 * sent past the room (a passive connection's ring grows at once to the 64
 * KiB its SYN-ACK offered); libdillnet grows tx when a write finds it
 * full.  The daemon checks the tx capacity word the app writes (a power
 * of two within tx_size, and no more bytes than it says): a wrong one is
 * a violation like any corrupt index.  Capacity is not given back while
 * the connection lives (the kernel does not shrink either); the pages are
 * when the slot is released.
 */
#ifndef DN_REGION_H
#define DN_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "dn_ring.h"

#define DN_REGION_MAGIC    0x47524e44u   /* "DNRG" little-endian */
#define DN_REGION_VERSION  2u   /* 2: ring capacity words (dn_ring.h) */
#define DN_REGION_PAGE     4096u
#define DN_SLOT_HDR_SIZE   DN_REGION_PAGE
#define DN_SLOT_NONE       UINT32_MAX     /* listeners own no buffer slot */

/* Capacity a slot's rings start with (dn_ring.h "Capacity"): the daemon
 * grows the rx ring as the peer fills the window, the app its tx ring as
 * it finds it full, each doubling up to rx_size / tx_size. */
#define DN_SLOT_INIT_CAP   (16u << 10)

/* Limits the layout accepts (both sides check them). */
#define DN_REGION_MAX_SLOTS   65536u
#define DN_REGION_MIN_BUF     DN_REGION_PAGE           /* rx/tx ring bytes */
#define DN_REGION_MAX_BUF     (64u << 20)
#define DN_REGION_MAX_SIZE    (64ull << 30)

/* Defaults for the daemon config: one slot per socket an app may hold
 * (apps.max_sockets); the region is sparse, so slots cost address space
 * until they are used. */
#define DN_REGION_DEF_SLOTS   16384u
#define DN_REGION_DEF_RX      (256u << 10)
#define DN_REGION_DEF_TX      (256u << 10)

/* ---- records ----------------------------------------------------------- */

/* Commands, app -> daemon.  X(NAME, number, what the daemon does). */
#define DN_CMD_TYPES(X) \
	X(NOP, 1, "answer with EVT_NOP carrying the same cookie") \
	X(TX,  2, "socket's tx tail moved: send what the window allows") \
	X(RX,  3, "socket's rx head moved: room freed, maybe update window")

enum dn_cmd_op {
#define X(name, num, what) DN_CMD_##name = num,
	DN_CMD_TYPES(X)
#undef X
};

struct dn_cmd {
	uint16_t op;       /* DN_CMD_* */
	uint16_t flags;    /* must be 0 */
	uint32_t sock;     /* socket id from a control reply (0 for NOP) */
	uint64_t cookie;   /* opaque to the daemon; echoed by NOP */
	uint64_t arg[2];   /* per op; must be 0 where unused */
};

/* Events, daemon -> app. */
#define DN_EVT_TYPES(X) \
	X(NOP,        1, "reply to CMD_NOP, cookie echoed") \
	X(READABLE,   2, "rx tail moved or rx EOF set") \
	X(WRITABLE,   3, "tx head moved: acknowledged bytes freed") \
	X(CONNECTED,  4, "a pending connect finished; result 0 or errno") \
	X(ACCEPTABLE, 5, "listener has a connection to accept") \
	X(RESET,      6, "connection broke; result is the errno (ECONNRESET...)") \
	X(CLOSED,     7, "daemon released the socket and its slot")

enum dn_evt_op {
#define X(name, num, what) DN_EVT_##name = num,
	DN_EVT_TYPES(X)
#undef X
};

struct dn_evt {
	uint16_t op;       /* DN_EVT_* */
	uint16_t flags;
	uint32_t sock;
	int32_t  result;   /* 0 or a positive errno */
	uint32_t pad;
	uint64_t cookie;   /* NOP: the command's cookie */
	uint64_t arg;
};

_Static_assert(sizeof(struct dn_cmd) == 32, "dn_cmd is a 32-byte record");
_Static_assert(sizeof(struct dn_evt) == 32, "dn_evt is a 32-byte record");

/* Name of an op for logs, or NULL. */
const char *dn_cmd_name(uint16_t op);
const char *dn_evt_name(uint16_t op);

/* ---- layout ------------------------------------------------------------ */

/* Slot header: the shared indices of the slot's two rings. */
struct dn_slot_hdr {
	struct dn_ring_shared rx;  /* daemon produces, app consumes */
	struct dn_ring_shared tx;  /* app produces, daemon consumes */
};
_Static_assert(sizeof(struct dn_slot_hdr) <= DN_SLOT_HDR_SIZE, "slot header fits");

/* The layout, computed by dn_region_layout(); the daemon keeps this copy
 * privately.  All offsets are from the region base, in bytes. */
struct dn_region_layout {
	uint64_t total_size;    /* bytes to map (a multiple of the page size) */
	uint64_t cmd_ring_off;  /* struct dn_ring_shared of the command ring */
	uint64_t evt_ring_off;  /* struct dn_ring_shared of the event ring */
	uint64_t cmd_data_off;  /* command ring data, cmd_size bytes */
	uint64_t evt_data_off;  /* event ring data, evt_size bytes */
	uint64_t slots_off;     /* first slot, page aligned */
	uint64_t slot_size;     /* DN_SLOT_HDR_SIZE + rx_size + tx_size */
	uint32_t cmd_size;      /* power of two, multiple of sizeof(dn_cmd) */
	uint32_t evt_size;      /* power of two, multiple of sizeof(dn_evt) */
	uint32_t nslots;        /* socket buffer slots */
	uint32_t rx_size;       /* per-slot rx ring bytes, power of two */
	uint32_t tx_size;       /* per-slot tx ring bytes, power of two */
	uint32_t pad;
};

/*
 * The header at offset 0.  The daemon writes it once before handing out the
 * fd; apps only read it.  The counters after it are live and written by one
 * side each (on their own cache lines).
 */
struct dn_region_hdr {
	uint32_t magic;         /* DN_REGION_MAGIC */
	uint16_t version;       /* DN_REGION_VERSION: layout of this header */
	uint16_t hdr_size;      /* sizeof(struct dn_region_hdr) */
	uint32_t cmd_rec_size;  /* sizeof(struct dn_cmd) */
	uint32_t evt_rec_size;  /* sizeof(struct dn_evt) */
	struct dn_region_layout layout;
	/* Bumped by the daemon for every event it could not queue. */
	_Alignas(DN_CACHELINE) _Atomic uint64_t evt_lost;
	/* Bumped by the app for every command it could not queue. */
	_Alignas(DN_CACHELINE) _Atomic uint64_t cmd_lost;
};

/*
 * Compute a layout for nslots slots of rx_size/tx_size byte rings (powers
 * of two within DN_REGION_MIN_BUF..DN_REGION_MAX_BUF, nslots <=
 * DN_REGION_MAX_SLOTS; nslots may be 0).  The command and event rings get
 * room for 8 records per slot, at least 256.  Returns 0 or EINVAL.
 */
int dn_region_layout(struct dn_region_layout *l, uint32_t nslots,
		     uint32_t rx_size, uint32_t tx_size);

/* Daemon: write the header and zero every ring's indices in a region of
 * l->total_size bytes at base (freshly mapped, already zero-filled). */
void dn_region_init(void *base, const struct dn_region_layout *l);

/* One side's view of a mapped region. */
struct dn_region {
	uint8_t *base;
	struct dn_region_layout l;  /* private copy */
	struct dn_region_hdr *hdr;
	struct dn_ring cmd;         /* daemon: consumer; app: producer */
	struct dn_ring evt;         /* daemon: producer; app: consumer */
	uint64_t lost_seen;         /* other side's *_lost last seen */
	int memfd;                  /* daemon, region from dn_region_create:
				     * the memfd (punch holes, st_blocks);
				     * -1 otherwise */
};

/*
 * Daemon: create a region for layout l: a sealed sparse memfd of
 * l->total_size bytes (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), mapped
 * and initialised, and open the daemon's view on it.  Only the header and
 * ring pages are touched.  Returns 0 (v->memfd is the fd to pass to the
 * app; the daemon keeps it too) or an errno.
 */
int dn_region_create(struct dn_region *v, const struct dn_region_layout *l,
		     const char *name);
/* Unmap a region and close its memfd (when it has one). */
void dn_region_destroy(struct dn_region *v);
/* Bytes of the region backed by memory now (the memfd's allocated blocks);
 * 0 for a region without a memfd. */
uint64_t dn_region_committed(const struct dn_region *v);

/*
 * Daemon: the slot table of a region.  Slots never handed out come in
 * order from `next`; freed ones wait on a stack and are reused first (their
 * pages were punched out, so which one comes back does not matter).
 */
struct dn_slot_table {
	uint32_t nslots;
	uint32_t next;              /* slots [next, nslots) never handed out */
	uint32_t nfree;             /* entries on the free stack */
	uint32_t used;              /* slots handed out now */
	uint32_t *free;             /* free stack */
	uint8_t *inuse;             /* per slot: handed out */
};

/* 0 or ENOMEM. */
int dn_slot_table_init(struct dn_slot_table *t, uint32_t nslots);
void dn_slot_table_fini(struct dn_slot_table *t);

/*
 * Take a slot of v for a new socket and zero its ring indices.  Returns 0
 * with *slot set, EMFILE when every slot is in use, or ENOMEM when the
 * region already commits more than max_commit bytes (0: no bound).
 */
int dn_region_slot_get(struct dn_region *v, struct dn_slot_table *t,
		       uint64_t max_commit, uint32_t *slot);
/*
 * Give a slot back: its pages (header and both rings) are punched out of
 * the memfd and return to the system; the app's mapping of them reads as
 * zeros from here on.  Returns 0, or EINVAL for a slot not handed out.
 */
int dn_region_slot_put(struct dn_region *v, struct dn_slot_table *t, uint32_t slot);

/* Daemon: open a view on a region it initialised, from its own layout.
 * Returns 0, or EPROTO if the ring indices are already corrupt. */
int dn_region_open_daemon(struct dn_region *v, void *base,
			  const struct dn_region_layout *l);

/* App: validate the header the daemon wrote against mapped_size (magic,
 * version, record sizes, every offset and size in bounds and not
 * overlapping) and open a view.  Returns 0, EPROTO (not a region or another
 * version) or EBADMSG (inconsistent layout). */
int dn_region_attach(struct dn_region *v, void *base, size_t mapped_size);

/*
 * Record I/O.  Each returns 1 (one record moved), 0 (ring empty / full) or
 * -1 when the other side's index is invalid or not on a record boundary
 * (a protocol violation of the peer: for the daemon, disconnect the app).
 * Pops also check the record (known op, flags and unused fields 0, socket
 * id not checked: that needs the daemon's socket table); an invalid record
 * is -1 too, after it was consumed.
 * Pushes bump the *_lost counter when the ring is full.
 */
int dn_region_cmd_pop(struct dn_region *v, struct dn_cmd *c);      /* daemon */
int dn_region_evt_push(struct dn_region *v, const struct dn_evt *e); /* daemon */
int dn_region_cmd_push(struct dn_region *v, const struct dn_cmd *c); /* app */
int dn_region_evt_pop(struct dn_region *v, struct dn_evt *e);      /* app */

/* True once per change of the other side's *_lost counter: rescan. */
int dn_region_peer_lost(struct dn_region *v, int is_daemon);

/* Check a command record's fields (not its socket id): 0 or EBADMSG. */
int dn_cmd_check(const struct dn_cmd *c);

/* Offset of a slot's header, or 0 when slot >= nslots (0 is never a valid
 * slot offset: the header lives there). */
uint64_t dn_region_slot_off(const struct dn_region_layout *l, uint32_t slot);

/* Daemon: zero a slot's ring indices before handing it to a new socket. */
int dn_region_slot_reset(struct dn_region *v, uint32_t slot);

/* Either side: private ring views of a slot, from the private layout.  The
 * daemon uses rx as producer and tx as consumer; the app the other way.
 * Returns 0, EINVAL (slot out of range) or EPROTO (corrupt indices).
 * Open once when the slot is handed out and keep the views for the life of
 * the socket: reopening reloads from shared memory the index the app must
 * not be able to move (the daemon's own). */
int dn_region_slot_rings(struct dn_region *v, uint32_t slot,
			 struct dn_ring *rx, struct dn_ring *tx);

#endif
