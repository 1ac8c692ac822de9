/*
 * libFuzzer target: control-message validation.  Every input is one frame
 * as it would arrive on app.sock or ctl.sock; it is checked as a request
 * and as a reply, and a frame that passes is held to what dn_msg_check
 * promises (length, known type, HELLO payload safe to read).
 */
#include "dn_msg.h"

#include <stdlib.h>
#include <string.h>

static void check_one(const uint8_t *frame, size_t size, int is_reply)
{
	struct dn_msg_hdr h;
	int rc = dn_msg_check(frame, size, is_reply, &h);
	if (rc != 0)
		return;
	/* Promises of a passing frame. */
	if (size < sizeof(h) || size > DN_MSG_MAX || h.len != size - sizeof(h))
		__builtin_trap();
	if (!dn_msg_type_name(h.type))
		__builtin_trap();
	if (h.type == DN_MSG_HELLO && h.len == sizeof(struct dn_msg_hello)) {
		struct dn_msg_hello hello;
		char err[128];
		memcpy(&hello, frame + sizeof(h), sizeof(hello));
		/* The name was checked to be terminated: strlen stays inside. */
		if (strlen(hello.name) >= sizeof(hello.name))
			__builtin_trap();
		dn_msg_hello_check(&hello, err, sizeof(err));
		if (!memchr(err, '\0', sizeof(err)))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, 8-byte aligned like a receive buffer, so
	 * ASan sees any read past the frame. */
	uint8_t *frame = malloc(size ? size : 1);
	if (!frame)
		return 0;
	memcpy(frame, data, size);
	check_one(frame, size, 0);
	check_one(frame, size, 1);

	/* The HELLO check on arbitrary bytes (magic/version/name unchecked). */
	if (size >= sizeof(struct dn_msg_hello)) {
		struct dn_msg_hello hello;
		char err[96];
		memcpy(&hello, frame, sizeof(hello));
		dn_msg_hello_check(&hello, err, sizeof(err));
	}
	free(frame);
	return 0;
}
