/*
 * Seeded fault injector (see fault.h).
 *
 * Order of impairments for each frame: rate limit (a policer, so it sees
 * the offered load), loss, corruption, duplication, then reorder or delay.
 * Held frames sit in a small array sorted by release time; the reorder
 * impairment also releases a frame after `reorder_gap` later frames passed.
 */
#include <string.h>

#include "fault.h"

/* splitmix64 (Steele, Lea, Flood 2014): tiny, full period, good enough
 * for test impairments, and every state including 0 is valid. */
static uint64_t rnd(struct dn_fault_dir *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rnd_unit(struct dn_fault_dir *d)
{
	return (double)(rnd(d) >> 11) * 0x1.0p-53;
}

static int chance(struct dn_fault_dir *d, double p)
{
	return p > 0 && rnd_unit(d) < p;
}

static uint64_t now(const struct dn_fault *f)
{
	return *f->clock;
}

static void dir_conf(struct dn_fault_dir *d, const struct dn_fault_dir_conf *c,
		     uint64_t t)
{
	d->conf = *c;
	/* Keep the byte-microsecond arithmetic below 2^64: 1e15 B/s and a
	 * 2^40-byte bucket are both far beyond any real link. */
	if (d->conf.rate_bytes_per_s > 1000000000000000ULL)
		d->conf.rate_bytes_per_s = 1000000000000000ULL;
	if (d->conf.reorder_gap == 0)
		d->conf.reorder_gap = 3;
	if (d->conf.reorder_max_us == 0)
		d->conf.reorder_max_us = 10000;
	d->active = c->loss > 0 || c->dup > 0 || c->reorder > 0 ||
		    c->delay_us || c->jitter_us || c->corrupt > 0 ||
		    c->rate_bytes_per_s;
	/* A jitter of UINT64_MAX would make rnd() % (jitter + 1) divide by
	 * zero; nobody means more than an hour. */
	if (d->conf.jitter_us > 3600000000ULL)
		d->conf.jitter_us = 3600000000ULL;
	if (d->conf.delay_us > 3600000000ULL)
		d->conf.delay_us = 3600000000ULL;
	if (d->conf.reorder_max_us > 3600000000ULL)
		d->conf.reorder_max_us = 3600000000ULL;
	uint64_t burst = c->burst_bytes;
	if (burst == 0) {
		burst = d->conf.rate_bytes_per_s / 20;
		if (burst < 2 * 1514)
			burst = 2 * 1514;
	}
	if (burst > (1ULL << 40))
		burst = 1ULL << 40;
	d->tok_max = burst * 1000000ULL;
	d->tokens = d->tok_max;
	d->tok_last_us = t;
}

static void seed_dirs(struct dn_fault *f, uint64_t seed)
{
	f->seed = seed;
	/* Separate streams, so rx impairments do not shift when tx traffic
	 * changes (and the other way round). */
	f->rx.rng = seed ^ 0x5258000000000000ULL;   /* "RX" */
	f->tx.rng = seed ^ 0x5458000000000000ULL;   /* "TX" */
	(void)rnd(&f->rx);
	(void)rnd(&f->tx);
}

void dn_fault_init(struct dn_fault *f, const struct dn_fault_conf *conf,
		   const struct dn_fault_hooks *hooks)
{
	static const struct dn_fault_conf off;
	memset(f, 0, sizeof *f);
	f->h = *hooks;
	f->clock = hooks->now_us ? hooks->now_us : &f->now_us;
	if (!conf)
		conf = &off;
	seed_dirs(f, conf->seed);
	dir_conf(&f->rx, &conf->rx, now(f));
	dir_conf(&f->tx, &conf->tx, now(f));
}

void dn_fault_set_conf(struct dn_fault *f, const struct dn_fault_conf *conf)
{
	if (conf->seed != f->seed)
		seed_dirs(f, conf->seed);
	dir_conf(&f->rx, &conf->rx, now(f));
	dir_conf(&f->tx, &conf->tx, now(f));
}

static void drop(struct dn_fault *f, void *frame)
{
	f->h.lower->release(f->h.lower_ctx, frame);
}

static void sink(struct dn_fault *f, struct dn_fault_dir *d, void *frame,
		 uint8_t *data, uint16_t len)
{
	d->c.passed++;
	if (d == &f->rx)
		f->h.rx_deliver(f->h.rx_ctx, frame, data, len);
	else
		f->h.lower->xmit(f->h.lower_ctx, frame, len);
}

static void held_remove(struct dn_fault_dir *d, unsigned i)
{
	memmove(&d->held[i], &d->held[i + 1],
		(d->nheld - i - 1) * sizeof d->held[0]);
	d->nheld--;
}

/* Deliver, then let out reordered frames whose gap has passed.  Each held
 * frame is taken out of the array before its delivery, so a sink that
 * comes back into the injector sees a consistent state. */
static void deliver(struct dn_fault *f, struct dn_fault_dir *d, void *frame,
		    uint8_t *data, uint16_t len)
{
	sink(f, d, frame, data, len);
	for (;;) {
		unsigned i;
		for (i = 0; i < d->nheld; i++)
			if (d->held[i].due_count && d->c.passed >= d->held[i].due_count)
				break;
		if (i == d->nheld)
			return;
		struct dn_fault_held h = d->held[i];
		held_remove(d, i);
		sink(f, d, h.frame, h.data, h.len);
	}
}

static void hold(struct dn_fault *f, struct dn_fault_dir *d, void *frame,
		 uint8_t *data, uint16_t len, uint64_t due_us,
		 uint64_t due_count)
{
	if (d->nheld == DN_FAULT_HOLD_MAX) {
		d->c.hold_overflow++;
		drop(f, frame);
		return;
	}
	/* After every frame due at the same time, so equal delays keep
	 * their order. */
	unsigned i = d->nheld;
	while (i > 0 && d->held[i - 1].due_us > due_us)
		i--;
	memmove(&d->held[i + 1], &d->held[i], (d->nheld - i) * sizeof d->held[0]);
	d->held[i] = (struct dn_fault_held){ frame, data, len, due_us, due_count };
	d->nheld++;
}

static void schedule(struct dn_fault *f, struct dn_fault_dir *d, void *frame,
		     uint8_t *data, uint16_t len)
{
	const struct dn_fault_dir_conf *c = &d->conf;
	uint64_t delay = c->delay_us;
	if (c->jitter_us)
		delay += rnd(d) % (c->jitter_us + 1);
	if (chance(d, c->reorder)) {
		d->c.reordered++;
		hold(f, d, frame, data, len, now(f) + delay + c->reorder_max_us,
		     d->c.passed + c->reorder_gap);
	} else if (delay) {
		d->c.delayed++;
		hold(f, d, frame, data, len, now(f) + delay, 0);
	} else {
		deliver(f, d, frame, data, len);
	}
}

static int rate_ok(struct dn_fault *f, struct dn_fault_dir *d, uint16_t len)
{
	uint64_t rate = d->conf.rate_bytes_per_s;
	uint64_t t = now(f);
	uint64_t dt = t > d->tok_last_us ? t - d->tok_last_us : 0;
	d->tok_last_us = t;
	/* Refill rate bytes per second = rate byte-microseconds per us. */
	if (dt >= (d->tok_max - d->tokens) / rate + 1)
		d->tokens = d->tok_max;
	else
		d->tokens += dt * rate;
	if (d->tokens > d->tok_max)
		d->tokens = d->tok_max;
	uint64_t need = (uint64_t)len * 1000000ULL;
	if (d->tokens < need)
		return 0;
	d->tokens -= need;
	return 1;
}

static void impair(struct dn_fault *f, struct dn_fault_dir *d, void *frame,
		   uint8_t *data, uint16_t len)
{
	const struct dn_fault_dir_conf *c = &d->conf;
	if (c->rate_bytes_per_s && !rate_ok(f, d, len)) {
		d->c.rate_dropped++;
		drop(f, frame);
		return;
	}
	if (chance(d, c->loss)) {
		d->c.dropped++;
		drop(f, frame);
		return;
	}
	if (chance(d, c->corrupt) && data && len) {
		uint64_t r = rnd(d);
		data[(r >> 3) % len] ^= (uint8_t)(1u << (r & 7));
		d->c.corrupted++;
	}
	if (chance(d, c->dup)) {
		uint8_t *d2 = NULL;
		uint16_t cap = 0;
		void *copy = data ? f->h.lower->alloc(f->h.lower_ctx, &d2, &cap)
				  : NULL;
		if (copy && cap >= len) {
			memcpy(d2, data, len);
			d->c.duplicated++;
			schedule(f, d, copy, d2, len);
		} else {
			if (copy)
				drop(f, copy);
			d->c.dup_fail++;
		}
	}
	schedule(f, d, frame, data, len);
}

void dn_fault_rx(struct dn_fault *f, void *frame, uint8_t *data, uint16_t len)
{
	if (!f->rx.active && f->rx.nheld == 0) {
		f->rx.c.passed++;
		f->h.rx_deliver(f->h.rx_ctx, frame, data, len);
		return;
	}
	impair(f, &f->rx, frame, data, len);
}

/* ---- the io table the stack sees ---------------------------------------- */

static void *fio_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	struct dn_fault *f = ctx;
	return f->h.lower->alloc(f->h.lower_ctx, data, cap);
}

static void fio_release(void *ctx, void *frame)
{
	struct dn_fault *f = ctx;
	f->h.lower->release(f->h.lower_ctx, frame);
}

static void fio_xmit(void *ctx, void *frame, uint16_t len)
{
	struct dn_fault *f = ctx;
	if (!f->tx.active && f->tx.nheld == 0) {
		f->tx.c.passed++;
		f->h.lower->xmit(f->h.lower_ctx, frame, len);
		return;
	}
	uint8_t *data = f->h.frame_data ?
		f->h.frame_data(f->h.lower_ctx, frame) : NULL;
	impair(f, &f->tx, frame, data, len);
}

const struct dn_stack_io dn_fault_io = {
	.alloc = fio_alloc,
	.xmit = fio_xmit,
	.release = fio_release,
};

/* ---- timers and teardown ------------------------------------------------ */

static uint64_t dir_poll(struct dn_fault *f, struct dn_fault_dir *d)
{
	while (d->nheld && d->held[0].due_us <= now(f)) {
		struct dn_fault_held h = d->held[0];
		held_remove(d, 0);
		deliver(f, d, h.frame, h.data, h.len);
	}
	return d->nheld ? d->held[0].due_us : UINT64_MAX;
}

uint64_t dn_fault_poll(struct dn_fault *f)
{
	uint64_t a = dir_poll(f, &f->rx);
	uint64_t b = dir_poll(f, &f->tx);
	uint64_t next = a < b ? a : b;
	if (next == UINT64_MAX)
		return UINT64_MAX;
	return next > now(f) ? next - now(f) : 0;
}

void dn_fault_fini(struct dn_fault *f)
{
	struct dn_fault_dir *dirs[2] = { &f->rx, &f->tx };
	for (int k = 0; k < 2; k++) {
		struct dn_fault_dir *d = dirs[k];
		while (d->nheld) {
			void *frame = d->held[d->nheld - 1].frame;
			d->nheld--;
			drop(f, frame);
		}
	}
}

void dn_fault_counters_foreach(const struct dn_fault *f,
			       void (*cb)(const char *name, uint64_t value,
					  void *arg),
			       void *arg)
{
#define DN_X_(name, desc) cb("fault_rx_" #name, f->rx.c.name, arg);
	DN_FAULT_COUNTERS(DN_X_)
#undef DN_X_
#define DN_X_(name, desc) cb("fault_tx_" #name, f->tx.c.name, arg);
	DN_FAULT_COUNTERS(DN_X_)
#undef DN_X_
}
