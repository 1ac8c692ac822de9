/*
 * libFuzzer target: the ctl request path as a hostile (or buggy) root
 * client sees it, minus the socket: dn_ctl_serve_frame with the daemon's
 * real handler table (daemon/ctl_handlers.c), a real stack, a real fault
 * injector and a stand-in port.
 *
 * The input is a script of records [op][len hi][len lo][len bytes]:
 *   op & 3 == 0: the bytes as a frame, exactly as received;
 *   op & 3 == 1: a frame whose header is made consistent (type from the
 *                first two bytes, length field matching), so the fuzzer
 *                reaches the handlers quickly;
 *   op & 3 == 2: one handler called directly (index from the first byte)
 *                with the rest as its payload and a small reply room from
 *                the second byte, to walk the cut-to-fit paths;
 *   op & 3 == 3: change the state the handlers report on: a listener on a
 *                port from the bytes, or (op bit 2) a frame into the stack
 *                (ARP entries, half-open connections).
 * op bit 3 makes the stand-in port report unterminated names.
 * Every reply must pass the checks dillnetctl applies (dn_msg_check), fit
 * the room given and not be the server's EPROTO for a broken reply; nothing may crash, leak or leave frames behind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_handlers.h"
#include "fuzz_io.h"

struct fz_port {
	int unterminated;
};

static void port_info(void *port, struct dn_ctl_port *o)
{
	struct fz_port *p = port;
	memset(o, 0, sizeof(*o));
	memset(o->port_name, p->unterminated ? 'p' : 0, sizeof(o->port_name));
	memset(o->driver, p->unterminated ? 'd' : 0, sizeof(o->driver));
	o->mtu = 1500;
}

static void port_counters(const void *port, dn_ctl_counter_fn cb, void *arg)
{
	(void)port;
	cb("port_fuzz", 1, arg);
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A reply must be well framed, no bigger than the room, and (for a type
 * the protocol knows) pass the client's checks. */
static void check_reply(const uint8_t *out, size_t n, size_t cap)
{
	struct dn_msg_hdr h;
	if (n == 0)
		return;
	if (n > cap || n < sizeof(h))
		abort();
	memcpy(&h, out, sizeof(h));
	if (!(h.flags & DN_MSG_F_REPLY) || h.len != n - sizeof(h))
		abort();
	/* EPROTO is the server's verdict on a handler's reply that failed
	 * its own checks (ctl.c): a handler bug, never the client's. */
	if (h.result == EPROTO)
		abort();
	if (dn_msg_type_name(h.type)) {
		if (dn_msg_check(out, n, 1, &h) != 0)
			abort();
	} else if (h.len != 0 || h.result == 0) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t us[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	struct fz_io io = { 0 };
	struct fz_port port = { 0 };
	struct dn_log log;
	struct dn_fault fault;
	struct dn_tcpsock ts;
	int fault_on = 0;
	struct dn_stack *st = calloc(1, sizeof(*st));
	uint8_t *out = malloc(DN_MSG_MAX);
	uint8_t *frame = malloc(DN_MSG_MAX);
	if (!st || !out || !frame)
		goto out;
	struct dn_stack_conf conf = { .ip4 = 0xc6120002u, .prefix_len = 24,
				      .gateway = 0xc6120001u, .mtu = 1500 };
	memcpy(conf.mac, us, 6);
	if (dn_stack_init(st, &conf, &fz_ops, &io, 0) != 0)
		goto out;
	struct dn_fault_conf fc;
	memset(&fc, 0, sizeof(fc));
	struct dn_fault_hooks fh = { .lower = &fz_ops, .lower_ctx = &io, .now_us = &st->now_us };
	dn_fault_init(&fault, &fc, &fh);
	memset(&ts, 0, sizeof(ts));
	/* Quiet unless an input raises the level itself. */
	dn_log_init(&log, DN_LOG_ERR);
	log.to_journal = 0;
	struct dn_ctlh h = {
		.port = &port, .port_info = port_info, .port_counters = port_counters,
		.st = st, .fault = &fault, .tsock = &ts, .apps = NULL, .log = &log,
		.version = "fuzz", .now_us = mono_us, .start_us = mono_us(), .pid = 1,
		.busy_poll = 0, .fault_on = &fault_on,
	};
	struct dn_ctl_conf cc = { .handlers = dn_ctlh_table, .nhandlers = dn_ctlh_ntable,
				  .ctx = &h, .log = &log, .listen_fd = -1 };

	size_t off = 0;
	while (off + 3 <= size) {
		uint8_t op = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		const uint8_t *b = data + off;
		off += len;
		port.unterminated = (op & 8) != 0;
		fault_on = (op & 16) != 0;
		switch (op & 3) {
		case 0: {
			/* Exact-size heap copy: ASan sees reads past the end. */
			uint8_t *f = malloc(len ? len : 1);
			if (!f)
				goto done;
			memcpy(f, b, len);
			check_reply(out, dn_ctl_serve_frame(&cc, f, len, out, DN_MSG_MAX), DN_MSG_MAX);
			free(f);
			break;
		}
		case 1: {
			struct dn_msg_hdr hd;
			uint16_t type = len >= 2 ? (uint16_t)(b[0] | b[1] << 8) : 0;
			size_t pl = len >= 2 ? len - 2 : 0;
			if (pl > DN_MSG_MAX - sizeof(hd))
				pl = DN_MSG_MAX - sizeof(hd);
			/* Small type numbers are the ones that mean something. */
			if (!(op & 4))
				type = (uint16_t)(16 + type % 10);
			dn_msg_hdr_init(&hd, type, 0, (uint32_t)pl, 7, 0);
			memcpy(frame, &hd, sizeof(hd));
			if (pl)
				memcpy(frame + sizeof(hd), b + 2, pl);
			check_reply(out, dn_ctl_serve_frame(&cc, frame, sizeof(hd) + pl, out, DN_MSG_MAX),
				    DN_MSG_MAX);
			break;
		}
		case 2: {
			if (len < 2)
				break;
			const struct dn_ctl_handler_entry *e = &dn_ctlh_table[b[0] % dn_ctlh_ntable];
			size_t room = (size_t)b[1] * 16;
			uint32_t ol = 0;
			uint8_t *req = malloc(len - 2 ? len - 2 : 1);
			uint8_t *o = malloc(room ? room : 1);
			if (!req || !o) {
				free(req);
				free(o);
				goto done;
			}
			memcpy(req, b + 2, len - 2);
			int r = e->fn(&h, req, (uint32_t)(len - 2), o, room, &ol);
			if (r < 0 || (r == 0 && ol > room))
				abort();
			free(req);
			free(o);
			break;
		}
		case 3:
			if (op & 4) {
				uint8_t *f = malloc(len ? len : 1);
				if (!f)
					goto done;
				memcpy(f, b, len);
				dn_stack_input(st, f, len);
				free(f);
			} else if (len >= 2) {
				int err = 0;
				(void)dn_tcp_listen(st, 0, (uint16_t)(b[0] << 8 | b[1]), 4, NULL, &err);
			}
			st->now_us += 100000;
			(void)dn_stack_poll(st);
			break;
		}
	}
done:
	dn_fault_fini(&fault);
	dn_stack_fini(st);
	if (io.outstanding != 0)
		abort();
out:
	free(st);
	free(out);
	free(frame);
	return 0;
}
