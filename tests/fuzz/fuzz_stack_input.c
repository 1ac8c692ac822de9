/*
 * libFuzzer target: arbitrary frames into dn_stack_input.
 *
 * The input is a little program so that one run can walk the ARP cache
 * through its states: a sequence of records
 *   [ctl byte][len hi][len lo][len bytes of frame]
 * where the ctl byte's low 4 bits advance virtual time (0..15 x 0.5 s, then
 * dn_stack_poll runs) and bit 4 makes the stack send a datagram to an
 * address taken from the frame (exercising resolution and the queue).
 * Frames get a valid Ethernet header for us half the time (bit 5) so the
 * fuzzer reaches ARP/IPv4/ICMP quickly.  The capture io checks that every
 * buffer is sent or released exactly once and that nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_io.h"
#include "stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t us[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	struct fz_io io = { 0 };
	struct dn_stack *st = calloc(1, sizeof *st);
	if (!st)
		return 0;
	struct dn_stack_conf conf = { .ip4 = 0xc6120002u, .prefix_len = 24,
				      .gateway = 0xc6120001u, .mtu = 1500 };
	memcpy(conf.mac, us, 6);
	if (dn_stack_init(st, &conf, &fz_ops, &io, 0) != 0) {
		free(st);
		return 0;
	}
	size_t off = 0;
	while (off + 3 <= size) {
		uint8_t ctl = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		/* Copy into an exact-size heap buffer so ASan sees any read
		 * past the end of the frame. */
		size_t flen = len + ((ctl & 0x20) ? 14 : 0);
		uint8_t *f = malloc(flen ? flen : 1);
		if (!f)
			break;
		if (ctl & 0x20) {
			memcpy(f, us, 6);
			f[6] = 0x02; f[7] = 0; f[8] = 0; f[9] = 0; f[10] = 0;
			f[11] = 0x01;
			f[12] = 0x08;
			f[13] = (ctl & 0x40) ? 0x06 : 0x00;
			memcpy(f + 14, data + off, len);
		} else {
			memcpy(f, data + off, len);
		}
		dn_stack_input(st, f, flen);
		if ((ctl & 0x10) && len >= 4) {
			void *fr;
			size_t room;
			uint8_t *p = dn_ip4_alloc(st, &fr, &room);
			if (p) {
				uint32_t dst = (uint32_t)f[flen - 4] << 24 |
					       (uint32_t)f[flen - 3] << 16 |
					       (uint32_t)f[flen - 2] << 8 | f[flen - 1];
				size_t n = len < room ? len : room;
				memcpy(p, data + off, n);
				(void)dn_ip4_send(st, fr, 0, dst, f[0], n);
			}
		}
		free(f);
		off += len;
		st->now_us += (uint64_t)(ctl & 0x0f) * 500000;
		(void)dn_stack_poll(st);
	}
	dn_stack_fini(st);
	free(st);
	if (io.outstanding != 0)
		abort();
	return 0;
}
