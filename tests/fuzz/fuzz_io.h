/*
 * The frame io the stack fuzzers give dn_stack_init: malloc'd buffers,
 * every byte the stack sends read once (so ASan sees a short frame), and a
 * count of buffers handed out and not yet sent or released, which must be
 * 0 when the stack is gone.  io_ctx is a struct fz_io.  Header-only: each
 * fuzzer is one translation unit (see the Makefile's fuzz rule).
 */
#ifndef FUZZ_IO_H
#define FUZZ_IO_H

#include <stdint.h>
#include <stdlib.h>

#include "stack.h"

#define FZ_FRAME_CAP 2048

struct fz_io {
	long outstanding;
};

static void *fz_alloc(void *ctx, uint8_t **data, uint16_t *cap)
{
	struct fz_io *io = ctx;
	uint8_t *b = malloc(FZ_FRAME_CAP);
	if (!b)
		return NULL;
	io->outstanding++;
	*data = b;
	*cap = FZ_FRAME_CAP;
	return b;
}

static void fz_xmit(void *ctx, void *frame, uint16_t len)
{
	struct fz_io *io = ctx;
	if (len > FZ_FRAME_CAP)
		abort();
	volatile uint8_t x = 0;
	for (uint16_t i = 0; i < len; i++)
		x ^= ((uint8_t *)frame)[i];
	(void)x;
	io->outstanding--;
	free(frame);
}

static void fz_release(void *ctx, void *frame)
{
	struct fz_io *io = ctx;
	io->outstanding--;
	free(frame);
}

static const struct dn_stack_io fz_ops = { fz_alloc, fz_xmit, fz_release };

#endif
