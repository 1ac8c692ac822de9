/*
 * TCP option parsing (RFC 9293 3.2).  Written to survive anything: a kind
 * without room for its length byte, length 0 or 1 (which would loop or
 * step backwards), a length running past the header, options of the wrong
 * length (ignored), MSS 0 and a window scale above 14.
 */
#include <string.h>

#include "tcp_int.h"

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WS 3
#define OPT_SACKOK 4
#define OPT_SACK 5
#define OPT_TS 8

void dn_tcp_parse_opts(const uint8_t *p, size_t len, bool syn,
		       struct dn_tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	size_t i = 0;
	while (i < len) {
		uint8_t kind = p[i];
		if (kind == OPT_EOL)
			break;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		/* Every other kind has a length byte (RFC 9293 3.2). */
		if (i + 1 >= len)
			break;
		uint8_t olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			break;   /* malformed: stop, keep what we have */
		const uint8_t *v = p + i + 2;
		switch (kind) {
		case OPT_MSS:
			/* Only meaningful on SYN (RFC 9293 3.7.1). */
			if (olen == 4 && syn) {
				o->mss_ok = 1;
				o->mss = dn_get16(v);
			}
			break;
		case OPT_WS:
			if (olen == 3 && syn) {
				o->ws_ok = 1;
				/* RFC 7323 2.3: log a shift > 14 and use 14. */
				o->ws = v[0] > DN_TCP_MAX_WSCALE ?
					DN_TCP_MAX_WSCALE : v[0];
			}
			break;
		case OPT_SACKOK:
			if (olen == 2 && syn)
				o->sackok = 1;
			break;
		case OPT_SACK:
			/* RFC 2018 3: 8n + 2 bytes. */
			if (olen >= 10 && (olen - 2) % 8 == 0 && !syn) {
				int n = (olen - 2) / 8;
				for (int k = 0; k < n && o->nsack < 4; k++) {
					o->sack[o->nsack][0] = dn_get32(v + 8 * k);
					o->sack[o->nsack][1] = dn_get32(v + 8 * k + 4);
					o->nsack++;
				}
			}
			break;
		case OPT_TS:
			if (olen == 10) {
				o->ts_ok = 1;
				o->tsval = dn_get32(v);
				o->tsecr = dn_get32(v + 4);
			}
			break;
		default:
			break;
		}
		i += olen;
	}
}
