/*
 * iol.c: iolist validation and the generic bytestream calls.
 *
 * bsend/brecv/bsendl/brecvl look up the handle, check the list, claim the
 * direction (EBUSY when another thread is already in it, ECONNRESET when an
 * earlier failure broke it) and hand over to the handle's kind.
 */
#include "iol.h"

#include <errno.h>

int dnl_iol_check(const struct iolist *first, const struct iolist *last,
		  int send, size_t *total)
{
	*total = 0;
	/* libdill's bsendl(3)/brecvl(3): both ends named, and last ends the
	 * chain (an empty list is not a list; use bsend(s, buf, 0)). */
	if (!first || !last || last->iol_next)
		goto inval;
	/* Floyd's cycle check, stopping at last: slow advances one node per
	 * two steps of the walk.  A list that loops without passing last
	 * meets itself; one that ends without reaching it hits NULL. */
	const struct iolist *it = first, *slow = first;
	size_t sum = 0;
	unsigned step = 0;
	for (;;) {
		if (it->iol_rsvd != 0)
			goto inval;
		if (send && !it->iol_base && it->iol_len)
			goto inval;
		if (sum + it->iol_len < sum)
			goto inval;
		sum += it->iol_len;
		if (it == last)
			break;
		it = it->iol_next;
		if (!it)
			goto inval;
		if (++step % 2 == 0)
			slow = slow->iol_next;
		if (it == slow)
			goto inval;
	}
	*total = sum;
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

static int xfer(int s, struct iolist *first, struct iolist *last,
		int64_t deadline, int dir)
{
	struct dnl_handle *h = dnl_handle_get(s, DNL_KIND_ANY);
	if (!h)
		return -1;
	int rc = -1;
	int (*fn)(struct dnl_handle *, struct iolist *, struct iolist *,
		  int64_t) = dir == DNL_SEND ? h->vt->bsendl : h->vt->brecvl;
	if (!fn) {
		errno = ENOTSUP;
		goto out;
	}
	size_t total;
	if (dnl_iol_check(first, last, dir == DNL_SEND, &total) < 0)
		goto out;
	if (dnl_dir_begin(h, dir) < 0)
		goto out;
	rc = fn(h, first, last, deadline);
	dnl_dir_end(h, dir, rc);
out:;
	int e = errno;
	dnl_handle_put(h);
	errno = e;
	return rc;
}

DILLNET_EXPORT int dillnet_bsendl(int s, struct iolist *first,
				  struct iolist *last, int64_t deadline)
{
	return xfer(s, first, last, deadline, DNL_SEND);
}

DILLNET_EXPORT int dillnet_brecvl(int s, struct iolist *first,
				  struct iolist *last, int64_t deadline)
{
	return xfer(s, first, last, deadline, DNL_RECV);
}

DILLNET_EXPORT int dillnet_bsend(int s, const void *buf, size_t len,
				 int64_t deadline)
{
	struct iolist iol = { (void *)buf, len, NULL, 0 };
	return xfer(s, &iol, &iol, deadline, DNL_SEND);
}

DILLNET_EXPORT int dillnet_brecv(int s, void *buf, size_t len,
				 int64_t deadline)
{
	struct iolist iol = { buf, len, NULL, 0 };
	return xfer(s, &iol, &iol, deadline, DNL_RECV);
}
