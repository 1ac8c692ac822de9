/*
 * The daemon's control-plane event loop: an epoll set the poll loop waits
 * on when idle (adaptive mode) or checks with timeout 0 between bursts
 * (busy mode).  Control sockets, app sockets and wakeup fds register here.
 */
#ifndef DN_EVLOOP_H
#define DN_EVLOOP_H

#include <stdint.h>

struct dn_evloop;
typedef void (*dn_ev_cb)(struct dn_evloop *ev, int fd, uint32_t events, void *arg);

struct dn_evloop *dn_evloop_new(void);
void dn_evloop_free(struct dn_evloop *ev);
/* events: EPOLLIN/EPOLLOUT/...; returns 0 or -1 with errno. */
int dn_evloop_add(struct dn_evloop *ev, int fd, uint32_t events, dn_ev_cb cb, void *arg);
int dn_evloop_mod(struct dn_evloop *ev, int fd, uint32_t events);
/* Safe to call from inside a callback, also for the fd being served. */
int dn_evloop_del(struct dn_evloop *ev, int fd);
/* Wait up to timeout_ms (-1 forever, 0 poll) and run callbacks; returns the
 * number of events served or -1 with errno (EINTR is returned, not hidden,
 * so signal flags get checked). */
int dn_evloop_run_once(struct dn_evloop *ev, int timeout_ms);
int dn_evloop_fd(const struct dn_evloop *ev);

#endif
