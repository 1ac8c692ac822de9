/*
 * Eventfd wakeups, shared by the daemon and libdillnet (one copy instead
 * of one per file).  Both sides open their eventfds non-blocking.
 */
#ifndef DN_EFD_H
#define DN_EFD_H

#include <stdint.h>
#include <unistd.h>

/* Wake whoever sleeps on fd.  A failed write is EAGAIN (the counter is
 * saturated, so the sleeper wakes anyway) or EBADF for an fd already
 * closed in teardown; neither needs handling. */
static inline void dn_efd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

/* Reset the counter after waking (EAGAIN: it was 0 already). */
static inline void dn_efd_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

#endif
