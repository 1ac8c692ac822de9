/*
 * time.c: the library's clock and deadline helpers.
 *
 * Deadlines are absolute milliseconds on CLOCK_MONOTONIC, as in libdill, so
 * wall-clock steps never shorten or stretch a wait.  Internally waits are
 * computed in nanoseconds and use ppoll, whose timespec timeout avoids the
 * up-to-1 ms early or late wakeups that poll's millisecond argument causes.
 */
#include "handle.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

int64_t dnl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

DILLNET_EXPORT int64_t dillnet_now(void)
{
	return dnl_now_ns() / 1000000;
}

int64_t dnl_ns_left(int64_t deadline)
{
	if (deadline < 0)
		return INT64_MAX;
	if (deadline > INT64_MAX / 1000000)
		return INT64_MAX;
	return deadline * 1000000 - dnl_now_ns();
}

int dnl_poll_until(struct pollfd *fds, int nfds, int64_t deadline)
{
	for (;;) {
		int64_t left = dnl_ns_left(deadline);
		struct timespec ts, *tp = NULL;
		if (left != INT64_MAX) {
			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tp = &ts;
		}
		int n = ppoll(fds, (nfds_t)nfds, tp, NULL);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

DILLNET_EXPORT int dillnet_msleep(int64_t deadline)
{
	if (deadline < 0) {
		/* No deadline: sleep for good, as libdill does. */
		for (;;)
			pause();
	}
	struct timespec ts = { .tv_sec = deadline / 1000,
			       .tv_nsec = (deadline % 1000) * 1000000 };
	int rc;
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
				     NULL)) == EINTR)
		;
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}
