/*
 * SACK (RFC 2018): the sender's scoreboard of SACKed ranges and the loss
 * recovery helpers of RFC 6675 (IsLost, SetPipe, NextSeg rule 1), plus
 * the receiver's choice of SACK blocks from its out-of-order ranges.
 *
 * The scoreboard is a small sorted array of disjoint ranges above snd_una;
 * when it is full the highest range is dropped (ranges near snd_una matter
 * most for loss detection and a dropped range only costs a spurious
 * retransmission).
 */
#include <string.h>

#include "tcp_int.h"

static void recount(struct dn_tcp_conn *c)
{
	uint32_t n = 0;
	for (int i = 0; i < c->nsb; i++)
		n += c->sb[i].end - c->sb[i].start;
	c->sacked_bytes = n;
}

static void insert(struct dn_tcp_conn *c, uint32_t l, uint32_t r)
{
	/* Merge with every overlapping or adjacent range, then insert in
	 * order. */
	int i = 0;
	while (i < c->nsb) {
		struct dn_tcp_range *x = &c->sb[i];
		if (DN_SEQ_LT(r, x->start) || DN_SEQ_GT(l, x->end)) {
			i++;
			continue;
		}
		l = DN_SEQ_MIN(l, x->start);
		r = DN_SEQ_MAX(r, x->end);
		memmove(&c->sb[i], &c->sb[i + 1],
			(size_t)(c->nsb - i - 1) * sizeof(c->sb[0]));
		c->nsb--;
	}
	int pos = 0;
	while (pos < c->nsb && DN_SEQ_LT(c->sb[pos].start, l))
		pos++;
	if (c->nsb == DN_TCP_SACK_MAX) {
		if (pos == DN_TCP_SACK_MAX)
			return;
		c->nsb--;   /* drop the highest */
	}
	memmove(&c->sb[pos + 1], &c->sb[pos],
		(size_t)(c->nsb - pos) * sizeof(c->sb[0]));
	c->sb[pos].start = l;
	c->sb[pos].end = r;
	c->nsb++;
}

void dn_tcp_sack_update(struct dn_tcp_conn *c, const struct dn_tcp_opts *o)
{
	for (int k = 0; k < o->nsack; k++) {
		uint32_t l = o->sack[k][0], r = o->sack[k][1];
		/* Only blocks inside what we sent and above snd_una count
		 * (D-SACKs below snd_una and forged blocks are ignored). */
		if (!DN_SEQ_LT(l, r) || DN_SEQ_LEQ(r, c->snd_una) ||
		    DN_SEQ_GT(r, c->snd_max))
			continue;
		if (DN_SEQ_LT(l, c->snd_una))
			l = c->snd_una;
		insert(c, l, r);
	}
	recount(c);
}

void dn_tcp_sack_advance(struct dn_tcp_conn *c)
{
	int j = 0;
	for (int i = 0; i < c->nsb; i++) {
		struct dn_tcp_range x = c->sb[i];
		if (DN_SEQ_LEQ(x.end, c->snd_una))
			continue;
		if (DN_SEQ_LT(x.start, c->snd_una))
			x.start = c->snd_una;
		c->sb[j++] = x;
	}
	c->nsb = (uint8_t)j;
	recount(c);
}

void dn_tcp_sack_clear(struct dn_tcp_conn *c)
{
	c->nsb = 0;
	c->sacked_bytes = 0;
}

bool dn_tcp_sack_is_sacked(const struct dn_tcp_conn *c, uint32_t seq,
			   uint32_t *run_end)
{
	for (int i = 0; i < c->nsb; i++)
		if (DN_SEQ_GEQ(seq, c->sb[i].start) && DN_SEQ_LT(seq, c->sb[i].end)) {
			if (run_end)
				*run_end = c->sb[i].end;
			return true;
		}
	return false;
}

/* RFC 6675 4 IsLost(seq) for seq not SACKed. */
static bool is_lost(const struct dn_tcp_conn *c, uint32_t seq)
{
	uint32_t bytes = 0;
	int ranges = 0;
	for (int i = 0; i < c->nsb; i++) {
		if (DN_SEQ_LEQ(c->sb[i].end, seq))
			continue;
		ranges++;
		uint32_t s = DN_SEQ_MAX(c->sb[i].start, seq);
		bytes += c->sb[i].end - s;
	}
	return ranges >= DN_TCP_DUPTHRESH ||
	       bytes > (uint32_t)(DN_TCP_DUPTHRESH - 1) * c->mss;
}

bool dn_tcp_sack_loss_detected(const struct dn_tcp_conn *c)
{
	return c->nsb && is_lost(c, c->snd_una);
}

/* RFC 6675 4 SetPipe(), hole by hole (IsLost is constant in a hole). */
uint32_t dn_tcp_sack_pipe(const struct dn_tcp_conn *c)
{
	uint32_t pipe = 0;
	uint32_t a = c->snd_una;
	for (int i = 0; i <= c->nsb; i++) {
		uint32_t b = i < c->nsb ? c->sb[i].start : c->snd_max;
		if (DN_SEQ_LT(a, b)) {
			if (!is_lost(c, a))
				pipe += b - a;
			if (DN_SEQ_LT(a, c->high_rxt)) {
				uint32_t e = DN_SEQ_MIN(b, c->high_rxt);
				pipe += e - a;
			}
		}
		if (i < c->nsb)
			a = DN_SEQ_MAX(a, c->sb[i].end);
	}
	return pipe;
}

/* RFC 6675 4 NextSeg() rule 1: the first unSACKed octet above HighRxt
 * that IsLost, up to the next SACKed range. */
bool dn_tcp_sack_next_lost(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len)
{
	uint32_t a = DN_SEQ_MAX(c->snd_una, c->high_rxt);
	for (int i = 0; i < c->nsb; i++) {
		uint32_t b = c->sb[i].start;
		if (DN_SEQ_LT(a, b)) {
			if (!is_lost(c, a))
				return false;   /* later holes are less lost */
			*seq = a;
			*len = b - a;
			return true;
		}
		a = DN_SEQ_MAX(a, c->sb[i].end);
	}
	return false;
}

uint32_t dn_tcp_sack_bytes_in(const struct dn_tcp_conn *c, uint32_t a,
			      uint32_t b)
{
	uint32_t n = 0;
	if (!DN_SEQ_LT(a, b))
		return 0;
	for (int i = 0; i < c->nsb; i++) {
		uint32_t s = DN_SEQ_MAX(c->sb[i].start, a);
		uint32_t e = DN_SEQ_MIN(c->sb[i].end, b);
		if (DN_SEQ_LT(s, e))
			n += e - s;
	}
	return n;
}

/* RFC 6675 4 NextSeg() rule 3: the first unSACKed octet above HighRxt
 * and below the highest SACKed one, lost or not. */
bool dn_tcp_sack_next_hole(const struct dn_tcp_conn *c, uint32_t *seq,
			   uint32_t *len)
{
	uint32_t a = DN_SEQ_MAX(c->snd_una, c->high_rxt);
	for (int i = 0; i < c->nsb; i++) {
		uint32_t b = c->sb[i].start;
		if (DN_SEQ_LT(a, b)) {
			*seq = a;
			*len = b - a;
			return true;
		}
		a = DN_SEQ_MAX(a, c->sb[i].end);
	}
	return false;
}

/* Receiver: the range holding the latest arrival first (RFC 2018 4), then
 * the others in sequence order. */
int dn_tcp_sack_blocks(const struct dn_tcp_conn *c, uint32_t blk[][2], int max)
{
	int n = 0;
	int first = -1;
	for (int i = 0; i < c->nooo; i++)
		if (DN_SEQ_GEQ(c->last_ooo.start, c->ooo[i].start) &&
		    DN_SEQ_LT(c->last_ooo.start, c->ooo[i].end))
			first = i;
	if (first >= 0 && n < max) {
		blk[n][0] = c->ooo[first].start;
		blk[n][1] = c->ooo[first].end;
		n++;
	}
	for (int i = 0; i < c->nooo && n < max; i++) {
		if (i == first)
			continue;
		blk[n][0] = c->ooo[i].start;
		blk[n][1] = c->ooo[i].end;
		n++;
	}
	return n;
}
