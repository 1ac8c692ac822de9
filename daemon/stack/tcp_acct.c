/*
 * What outlives an app: TIME-WAIT entries and orphans (connections their
 * owner closed), kept on lists oldest first, globally and per uid, with
 * caps as Linux has them (tcp_max_tw_buckets, tcp_max_orphans) plus
 * per-uid ones, so one app's churn or its dead connections to a peer
 * that stopped reading cannot fill the connection table for the others
 * (issue 10 items 2 and 3).
 *
 * Lists change as states change; the caps are enforced when the
 * outermost TCP entry point returns (dn_tcp_leave), where no caller holds
 * a connection pointer: the oldest TIME-WAIT entries beyond a cap are
 * recycled (RFC 9293 3.10.8 lets TIME-WAIT end early at the cost of the
 * protection it gives, which Linux also gives up when its buckets run
 * out), the oldest orphans beyond a cap are reset (RFC 9293 3.10.5 ABORT:
 * RST to the peer).
 *
 * Also here: the per-connection rate limit of challenge ACKs and of
 * duplicate ACKs for out-of-window segments (RFC 5961 7, Linux
 * tcp_invalid_ratelimit).
 */
#include <errno.h>
#include <stdlib.h>

#include "tcp_int.h"

_Static_assert(DN_TCP_UID_NONE == DN_L3_SRC_NONE,
	       "an uncharged connection is an unknown sender to ARP");

static uint32_t uid_bucket(uint32_t uid)
{
	return (uid * 2654435761u >> 16) & (DN_TCP_UID_BUCKETS - 1);
}

static struct dn_tcp_uidacct *uid_find(const struct dn_tcp *t, uint32_t uid)
{
	for (struct dn_tcp_uidacct *a = t->uids[uid_bucket(uid)]; a; a = a->next)
		if (a->uid == uid)
			return a;
	return NULL;
}

static void uid_put(struct dn_tcp *t, struct dn_tcp_uidacct *a)
{
	if (--a->refs)
		return;
	struct dn_tcp_uidacct **p = &t->uids[uid_bucket(a->uid)];
	while (*p != a)
		p = &(*p)->next;
	*p = a->next;
	free(a);
}

void dn_tcp_set_uid(struct dn_tcp_conn *c, uint32_t uid)
{
	struct dn_tcp *t = dn_tcp_of(c);
	if (c->uid == uid && (c->acct || uid == DN_TCP_UID_NONE))
		return;
	uint8_t cls = c->aclass;
	/* Off the lists while the charge moves, back on after. */
	c->flags |= DN_TCPF_FREED;
	dn_tcp_acct_update(c);
	c->flags &= ~DN_TCPF_FREED;
	if (c->acct) {
		uid_put(t, c->acct);
		c->acct = NULL;
	}
	c->uid = uid;
	if (uid != DN_TCP_UID_NONE) {
		struct dn_tcp_uidacct *a = uid_find(t, uid);
		if (!a) {
			a = calloc(1, sizeof(*a));
			/* No memory: the connection stays uncharged (the global
			 * caps still hold it). */
			if (a) {
				a->uid = uid;
				uint32_t b = uid_bucket(uid);
				a->next = t->uids[b];
				t->uids[b] = a;
			}
		}
		if (a) {
			a->refs++;
			c->acct = a;
		}
	}
	if (cls != DN_TCP_AC_NONE)
		dn_tcp_acct_update(c);
}

void dn_tcp_uid_usage(const struct dn_stack *st, uint32_t uid,
		      uint32_t *time_wait, uint32_t *orphans)
{
	const struct dn_tcp_uidacct *a = uid_find(&st->tcp, uid);
	if (time_wait)
		*time_wait = a ? a->tw.n : 0;
	if (orphans)
		*orphans = a ? a->orph.n : 0;
}

/* ---- lists ------------------------------------------------------------ */

static void gl_remove(struct dn_tcp_clist *l, struct dn_tcp_conn *c)
{
	if (c->gprev)
		c->gprev->gnext = c->gnext;
	else
		l->head = c->gnext;
	if (c->gnext)
		c->gnext->gprev = c->gprev;
	else
		l->tail = c->gprev;
	c->gnext = c->gprev = NULL;
	l->n--;
}

static void gl_append(struct dn_tcp_clist *l, struct dn_tcp_conn *c)
{
	c->gnext = NULL;
	c->gprev = l->tail;
	if (l->tail)
		l->tail->gnext = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void ul_remove(struct dn_tcp_clist *l, struct dn_tcp_conn *c)
{
	if (c->uprev)
		c->uprev->unext = c->unext;
	else
		l->head = c->unext;
	if (c->unext)
		c->unext->uprev = c->uprev;
	else
		l->tail = c->uprev;
	c->unext = c->uprev = NULL;
	l->n--;
}

static void ul_append(struct dn_tcp_clist *l, struct dn_tcp_conn *c)
{
	c->unext = NULL;
	c->uprev = l->tail;
	if (l->tail)
		l->tail->unext = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static struct dn_tcp_clist *glist(struct dn_tcp *t, uint8_t cls)
{
	return cls == DN_TCP_AC_TW ? &t->tw : &t->orph;
}

static struct dn_tcp_clist *ulist(struct dn_tcp_uidacct *a, uint8_t cls)
{
	return cls == DN_TCP_AC_TW ? &a->tw : &a->orph;
}

static uint8_t wanted_class(const struct dn_tcp_conn *c)
{
	if (c->flags & DN_TCPF_FREED)
		return DN_TCP_AC_NONE;
	if (c->state == DN_TCP_TIME_WAIT)
		return DN_TCP_AC_TW;
	if (dn_tcp_is_orphan(c) && c->state != DN_TCP_CLOSED &&
	    c->state != DN_TCP_LISTEN)
		return DN_TCP_AC_ORPHAN;
	return DN_TCP_AC_NONE;
}

static uint32_t cap_of(const struct dn_tcp_conf *cf, uint8_t cls, bool per_uid)
{
	if (cls == DN_TCP_AC_TW)
		return per_uid ? cf->max_tw_per_uid : cf->max_tw;
	return per_uid ? cf->max_orphans_per_uid : cf->max_orphans;
}

void dn_tcp_acct_update(struct dn_tcp_conn *c)
{
	struct dn_tcp *t = dn_tcp_of(c);
	uint8_t want = wanted_class(c);
	if (want == c->aclass)
		return;
	if (c->aclass != DN_TCP_AC_NONE) {
		gl_remove(glist(t, c->aclass), c);
		if (c->acct)
			ul_remove(ulist(c->acct, c->aclass), c);
	}
	c->aclass = want;
	if (want == DN_TCP_AC_NONE)
		return;
	struct dn_tcp_clist *g = glist(t, want);
	gl_append(g, c);
	if (g->n > cap_of(&t->conf, want, false))
		t->over_cap = true;
	if (c->acct) {
		struct dn_tcp_uidacct *a = c->acct;
		struct dn_tcp_clist *u = ulist(a, want);
		ul_append(u, c);
		uint32_t ucap = cap_of(&t->conf, want, true);
		if (ucap && u->n > ucap && !a->dirty) {
			a->dirty = true;
			a->refs++;            /* kept until looked at */
			a->dnext = t->dirty;
			t->dirty = a;
			t->over_cap = true;
		}
	}
}

/* ---- enforcing the caps ------------------------------------------------ */

/* Make room: the oldest entry of a class goes (returns false if it could
 * not leave the list, which cannot happen but must not loop). */
static bool evict(struct dn_stack *st, struct dn_tcp_conn *c, int ctr)
{
	st->tcp.ctr[ctr]++;
	if (c->aclass == DN_TCP_AC_TW) {
		dn_tcp_done(c);
	} else {
		dn_tcp_send_rst_conn(c);
		dn_tcp_drop_conn(c, ECONNRESET);
	}
	return c->aclass == DN_TCP_AC_NONE;
}

void dn_tcp_acct_enforce(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	const struct dn_tcp_conf *cf = &t->conf;
	t->over_cap = false;
	while (t->dirty) {
		struct dn_tcp_uidacct *a = t->dirty;
		t->dirty = a->dnext;
		a->dnext = NULL;
		while (cf->max_tw_per_uid && a->tw.n > cf->max_tw_per_uid)
			if (!evict(st, a->tw.head, DN_TCP_C_TW_RECYCLED_UID))
				break;
		while (cf->max_orphans_per_uid && a->orph.n > cf->max_orphans_per_uid)
			if (!evict(st, a->orph.head, DN_TCP_C_ORPHANS_RESET_UID))
				break;
		a->dirty = false;
		uid_put(t, a);
	}
	while (t->tw.n > cf->max_tw)
		if (!evict(st, t->tw.head, DN_TCP_C_TW_RECYCLED))
			break;
	while (t->orph.n > cf->max_orphans)
		if (!evict(st, t->orph.head, DN_TCP_C_ORPHANS_RESET_CAP))
			break;
}

/* The table is full: recycle the oldest TIME-WAIT entry nobody holds, so
 * one owner's TIME-WAIT cannot keep another's connection out. */
bool dn_tcp_acct_make_room(struct dn_stack *st)
{
	for (struct dn_tcp_conn *c = st->tcp.tw.head; c; c = c->gnext) {
		if (c->flags & DN_TCPF_OWNED)
			continue;
		DN_TCP_CTR(st, TW_RECYCLED_ALLOC);
		dn_tcp_done(c);
		return true;
	}
	return false;
}

/* A connection goes for good. */
void dn_tcp_acct_forget(struct dn_tcp_conn *c)
{
	c->flags |= DN_TCPF_FREED;
	dn_tcp_acct_update(c);
	if (c->acct) {
		uid_put(dn_tcp_of(c), c->acct);
		c->acct = NULL;
	}
}

void dn_tcp_acct_fini(struct dn_stack *st)
{
	struct dn_tcp *t = &st->tcp;
	for (uint32_t b = 0; b < DN_TCP_UID_BUCKETS; b++)
		while (t->uids[b]) {
			struct dn_tcp_uidacct *a = t->uids[b];
			t->uids[b] = a->next;
			free(a);
		}
	t->dirty = NULL;
}

/* ---- challenge and out-of-window ACKs ----------------------------------- */

bool dn_tcp_oow_limited(struct dn_tcp_conn *c)
{
	/* last_oow_us holds the time plus one (0: never). */
	uint64_t now1 = c->st->now_us + 1;
	uint64_t iv = dn_tcp_of(c)->conf.invalid_ratelimit_us;
	if (iv && c->last_oow_us && now1 - c->last_oow_us < iv)
		return true;
	c->last_oow_us = now1;
	return false;
}
