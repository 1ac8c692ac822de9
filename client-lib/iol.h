/* iol.h: iolist checks shared by every bytestream kind (internal). */
#ifndef DNL_IOL_H
#define DNL_IOL_H

#include "handle.h"

/* 0 when [first, last] is a well-formed list, as libdill's bsendl(3) and
 * brecvl(3) define it: both set, last->iol_next NULL, last reachable from
 * first without a cycle, every iol_rsvd 0, and the total length fits in
 * size_t.  Otherwise -1 with EINVAL.  *total gets the
 * byte count.  send: a NULL iol_base with a non-zero length is EINVAL too
 * (only receives may skip). */
int dnl_iol_check(const struct iolist *first, const struct iolist *last,
		  int send, size_t *total);

#endif
