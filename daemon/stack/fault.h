/*
 * Seeded fault injector between the port and the stack.
 *
 * The kernel here has no netem, so impairments for tests and simulations
 * come from this: loss, duplication, reordering, delay with jitter,
 * corruption and a rate limit, set separately for each direction.  All
 * randomness comes from a per-direction PRNG seeded from conf.seed, so a
 * run is repeatable for a seed and a sequence of frames and times.  Time is
 * virtual: it is read from *hooks.now_us (e.g. &stack->now_us).
 *
 * Wiring:
 *   receive:  port -> dn_fault_rx(f, frame, data, len) -> hooks.rx_deliver
 *             (which typically calls dn_stack_input, then releases the frame)
 *   transmit: the stack is given io = &dn_fault_io, io_ctx = f; alloc and
 *             release go straight to hooks.lower, xmit goes through the
 *             impairments to hooks.lower->xmit.
 *   timers:   dn_fault_poll(f) releases held frames that are due and says
 *             when the next one is (microseconds, UINT64_MAX if none).
 * Frames are opaque handles; one that is dropped goes back through
 * hooks.lower->release.  An all-zero configuration passes everything
 * straight through (the default: off).
 */
#ifndef DN_FAULT_H
#define DN_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define DN_FAULT_HOLD_MAX 512   /* frames held per direction */

/* One direction's impairments.  Probabilities are 0..1 (0 = off). */
struct dn_fault_dir_conf {
	double loss;              /* drop the frame */
	double dup;               /* send it twice (the copy is delayed
				   * independently) */
	double reorder;           /* hold it back ... */
	uint32_t reorder_gap;     /* ... until this many later frames have
				   * passed (0 = 3) ... */
	uint64_t reorder_max_us;  /* ... or at most this long (0 = 10 ms) */
	uint64_t delay_us;        /* fixed delay for every frame */
	uint64_t jitter_us;       /* plus uniform 0..jitter_us (reorders
				   * frames when larger than their spacing) */
	double corrupt;           /* flip one random bit of one random byte */
	uint64_t rate_bytes_per_s;/* token-bucket policer; 0 = unlimited */
	uint32_t burst_bytes;     /* bucket depth (0 = 50 ms of rate, at
				   * least 2 full frames) */
};

struct dn_fault_conf {
	uint64_t seed;
	struct dn_fault_dir_conf rx, tx;
};

#define DN_FAULT_COUNTERS(X) \
	X(passed,        "frames delivered") \
	X(dropped,       "frames dropped by the loss probability") \
	X(duplicated,    "frames duplicated") \
	X(reordered,     "frames held back to reorder them") \
	X(delayed,       "frames delayed") \
	X(corrupted,     "frames with a flipped bit") \
	X(rate_dropped,  "frames dropped by the rate limit") \
	X(hold_overflow, "frames dropped: too many held") \
	X(dup_fail,      "duplications skipped (no buffer or no data access)")

struct dn_fault_counters {
#define DN_X_(name, desc) uint64_t name;
	DN_FAULT_COUNTERS(DN_X_)
#undef DN_X_
};

struct dn_fault_held {
	void *frame;
	uint8_t *data;            /* NULL on tx without hooks.frame_data */
	uint16_t len;
	uint64_t due_us;          /* release at this time ... */
	uint64_t due_count;       /* ... or once `passed` reaches this (0: no) */
};

struct dn_fault_dir {
	struct dn_fault_dir_conf conf;
	int active;               /* any impairment configured */
	uint64_t rng;             /* splitmix64 state */
	uint64_t tokens;          /* byte-microseconds (bytes * 1e6) */
	uint64_t tok_last_us;
	uint64_t tok_max;
	struct dn_fault_held held[DN_FAULT_HOLD_MAX]; /* sorted by due_us */
	unsigned nheld;
	struct dn_fault_counters c;
};

struct dn_fault_hooks {
	const struct dn_stack_io *lower;  /* the port */
	void *lower_ctx;
	/* Optional: the data of a frame handle, so tx frames can be
	 * corrupted and duplicated (the io interface only passes handles on
	 * xmit).  Without it those two impairments are skipped on tx. */
	uint8_t *(*frame_data)(void *lower_ctx, void *frame);
	/* Receive side: takes ownership of the frame. */
	void (*rx_deliver)(void *rx_ctx, void *frame, uint8_t *data,
			   uint16_t len);
	void *rx_ctx;
	/* Virtual clock; NULL means the now_us field of struct dn_fault,
	 * which the caller then sets. */
	const uint64_t *now_us;
};

struct dn_fault {
	struct dn_fault_hooks h;
	const uint64_t *clock;
	uint64_t now_us;
	uint64_t seed;
	struct dn_fault_dir rx, tx;
};

/* The io table to give the stack (with io_ctx = the struct dn_fault). */
extern const struct dn_stack_io dn_fault_io;

void dn_fault_init(struct dn_fault *f, const struct dn_fault_conf *conf,
		   const struct dn_fault_hooks *hooks);
/* Change the impairments; held frames stay held.  Reseeds only if the
 * seed changed. */
void dn_fault_set_conf(struct dn_fault *f, const struct dn_fault_conf *conf);
/* Releases every held frame through hooks.lower->release. */
void dn_fault_fini(struct dn_fault *f);

/* A received frame; takes ownership. */
void dn_fault_rx(struct dn_fault *f, void *frame, uint8_t *data, uint16_t len);
/* Release due frames; returns microseconds to the next release or
 * UINT64_MAX. */
uint64_t dn_fault_poll(struct dn_fault *f);

/* Counters as fault_rx_<name> and fault_tx_<name>. */
void dn_fault_counters_foreach(const struct dn_fault *f,
			       void (*cb)(const char *name, uint64_t value,
					  void *arg),
			       void *arg);

#endif
