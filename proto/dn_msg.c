#include "dn_msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct dn_msg_desc {
	uint16_t type;
	const char *name;
	struct dn_sz_rule req, rep;
};

static const struct dn_msg_desc dn_msg_table[] = {
#define X(name, num, rq, rp) { num, #name, rq, rp },
	DN_MSG_TYPES(X)
#undef X
};

static const struct dn_msg_desc *find_desc(uint16_t type)
{
	for (size_t i = 0; i < sizeof(dn_msg_table) / sizeof(dn_msg_table[0]); i++)
		if (dn_msg_table[i].type == type)
			return &dn_msg_table[i];
	return NULL;
}

const char *dn_msg_type_name(uint16_t type)
{
	const struct dn_msg_desc *d = find_desc(type);
	return d ? d->name : NULL;
}

static int str_ok(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* Per-type string checks; runs only after the size is known to be exact. */
static int strings_ok(uint16_t type, int is_reply, const uint8_t *p, uint32_t len)
{
	switch (type) {
	case DN_MSG_HELLO: {
		const struct dn_msg_hello *h = (const void *)p;
		return str_ok(h->name, sizeof(h->name));
	}
	case DN_MSG_CTL_STATUS:
		if (is_reply) {
			const struct dn_ctl_status *s = (const void *)p;
			return str_ok(s->version, sizeof(s->version)) &&
			       str_ok(s->port_name, sizeof(s->port_name)) &&
			       str_ok(s->driver, sizeof(s->driver));
		}
		return 1;
	case DN_MSG_CTL_PORT:
		if (is_reply) {
			const struct dn_ctl_port *s = (const void *)p;
			return str_ok(s->port_name, sizeof(s->port_name)) &&
			       str_ok(s->driver, sizeof(s->driver));
		}
		return 1;
	case DN_MSG_CTL_COUNTERS:
		if (is_reply) {
			const struct dn_ctl_list *l = (const void *)p;
			const struct dn_ctl_counter *c = (const void *)(l + 1);
			for (uint32_t i = 0; i < l->count; i++)
				if (!str_ok(c[i].name, sizeof(c[i].name)))
					return 0;
		}
		return 1;
	case DN_MSG_CTL_APPS:
		if (is_reply) {
			const struct dn_ctl_list *l = (const void *)p;
			const struct dn_ctl_app *a = (const void *)(l + 1);
			for (uint32_t i = 0; i < l->count; i++)
				if (!str_ok(a[i].name, sizeof(a[i].name)))
					return 0;
		}
		return 1;
	case DN_MSG_CTL_CONNS:
		if (is_reply) {
			const struct dn_ctl_list *l = (const void *)p;
			const struct dn_ctl_tcpconn *c = (const void *)(l + 1);
			for (uint32_t i = 0; i < l->count; i++)
				if (!str_ok(c[i].state_name, sizeof(c[i].state_name)) ||
				    !str_ok(c[i].cc_name, sizeof(c[i].cc_name)))
					return 0;
		}
		return 1;
	case DN_MSG_CTL_LOGLEVEL:
		if (!is_reply) {
			const struct dn_ctl_loglevel *l = (const void *)p;
			return str_ok(l->level, sizeof(l->level));
		}
		return 1;
	default:
		(void)len;
		return 1;
	}
}

int dn_msg_check(const void *frame, size_t frame_len, int is_reply,
		 struct dn_msg_hdr *hdr)
{
	struct dn_msg_hdr h;

	if (frame_len < sizeof(h) || frame_len > DN_MSG_MAX)
		return EMSGSIZE;
	memcpy(&h, frame, sizeof(h));
	if ((size_t)h.len != frame_len - sizeof(h))
		return EMSGSIZE;
	const struct dn_msg_desc *d = find_desc(h.type);
	if (!d)
		return ENOMSG;
	/* An error reply carries no payload whatever the type. */
	if (is_reply && h.result != 0)
		return h.len == 0 ? (*hdr = h, 0) : EBADMSG;
	struct dn_sz_rule r = is_reply ? d->rep : d->req;
	const uint8_t *p = (const uint8_t *)frame + sizeof(h);
	switch (r.kind) {
	case DN_SZK_NONE:
		if (h.len != 0)
			return EBADMSG;
		break;
	case DN_SZK_FIXED:
		if (h.len != r.size)
			return EBADMSG;
		break;
	case DN_SZK_LIST: {
		struct dn_ctl_list l;
		if (h.len < sizeof(l))
			return EBADMSG;
		memcpy(&l, p, sizeof(l));
		if ((uint64_t)l.count * r.size != h.len - sizeof(l))
			return EBADMSG;
		break;
	}
	}
	if (h.len && !strings_ok(h.type, is_reply, p, h.len))
		return EBADMSG;
	*hdr = h;
	return 0;
}

void dn_msg_hdr_init(struct dn_msg_hdr *h, uint16_t type, uint16_t flags,
		     uint32_t len, uint32_t req_id, uint32_t result)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->flags = flags;
	h->len = len;
	h->req_id = req_id;
	h->result = result;
}

void dn_msg_hello_init(struct dn_msg_hello *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	h->magic = DN_PROTO_MAGIC;
	h->major = DN_PROTO_MAJOR;
	h->minor = DN_PROTO_MINOR;
	h->features = DN_FEAT_NONE;
	snprintf(h->name, sizeof(h->name), "%s", name ? name : "");
}

int dn_msg_hello_check(const struct dn_msg_hello *h, char *err, size_t errlen)
{
	if (h->magic != DN_PROTO_MAGIC) {
		snprintf(err, errlen, "bad magic 0x%08x (not a dillnet peer)", h->magic);
		return EPROTO;
	}
	if (h->major != DN_PROTO_MAJOR) {
		snprintf(err, errlen, "protocol version mismatch: peer speaks %u.%u, we speak %u.%u",
			 h->major, h->minor, DN_PROTO_MAJOR, DN_PROTO_MINOR);
		return EPROTO;
	}
	if (err && errlen)
		err[0] = '\0';
	return 0;
}
