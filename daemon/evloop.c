#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Registrations live in a small table indexed by slot; the epoll data word
 * carries slot and a generation so an event for an fd removed earlier in the
 * same batch is recognised and skipped. */
struct dn_ev_reg {
	int fd;
	uint32_t gen;
	dn_ev_cb cb;
	void *arg;
};

struct dn_evloop {
	int epfd;
	struct dn_ev_reg *regs;
	uint32_t nregs, cap;
};

struct dn_evloop *dn_evloop_new(void)
{
	struct dn_evloop *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		free(ev);
		return NULL;
	}
	return ev;
}

void dn_evloop_free(struct dn_evloop *ev)
{
	if (!ev)
		return;
	close(ev->epfd);
	free(ev->regs);
	free(ev);
}

static int find_slot(const struct dn_evloop *ev, int fd)
{
	for (uint32_t i = 0; i < ev->cap; i++)
		if (ev->regs[i].cb && ev->regs[i].fd == fd)
			return (int)i;
	return -1;
}

int dn_evloop_add(struct dn_evloop *ev, int fd, uint32_t events, dn_ev_cb cb, void *arg)
{
	uint32_t slot;
	if (!cb || fd < 0 || find_slot(ev, fd) >= 0) {
		errno = EINVAL;
		return -1;
	}
	for (slot = 0; slot < ev->cap; slot++)
		if (!ev->regs[slot].cb)
			break;
	if (slot == ev->cap) {
		uint32_t ncap = ev->cap ? ev->cap * 2 : 16;
		struct dn_ev_reg *n = realloc(ev->regs, ncap * sizeof(*n));
		if (!n)
			return -1;
		for (uint32_t i = ev->cap; i < ncap; i++)
			n[i] = (struct dn_ev_reg){ .fd = -1 };
		ev->regs = n;
		ev->cap = ncap;
	}
	struct dn_ev_reg *r = &ev->regs[slot];
	r->gen++;
	struct epoll_event e = { .events = events,
				 .data.u64 = ((uint64_t)r->gen << 32) | slot };
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	r->fd = fd;
	r->cb = cb;
	r->arg = arg;
	ev->nregs++;
	return 0;
}

int dn_evloop_mod(struct dn_evloop *ev, int fd, uint32_t events)
{
	int slot = find_slot(ev, fd);
	if (slot < 0) {
		errno = ENOENT;
		return -1;
	}
	struct epoll_event e = { .events = events,
				 .data.u64 = ((uint64_t)ev->regs[slot].gen << 32) | (uint32_t)slot };
	return epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e);
}

int dn_evloop_del(struct dn_evloop *ev, int fd)
{
	int slot = find_slot(ev, fd);
	if (slot < 0) {
		errno = ENOENT;
		return -1;
	}
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
	ev->regs[slot].cb = NULL;
	ev->regs[slot].fd = -1;
	ev->regs[slot].gen++;
	ev->nregs--;
	return 0;
}

int dn_evloop_run_once(struct dn_evloop *ev, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(ev->epfd, evs, 64, timeout_ms);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		if (slot >= ev->cap)
			continue;
		struct dn_ev_reg *r = &ev->regs[slot];
		if (!r->cb || r->gen != gen)
			continue;
		r->cb(ev, r->fd, evs[i].events, r->arg);
	}
	return n;
}

int dn_evloop_fd(const struct dn_evloop *ev)
{
	return ev->epfd;
}
