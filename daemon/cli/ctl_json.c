/*
 * A minimal streaming JSON writer.  It tracks commas per nesting level so
 * the printers cannot produce invalid JSON by forgetting one, and it escapes
 * every string, because names and versions come from the daemon and a
 * script parsing our output must never choke on a quote or a stray byte.
 */
#include "ctl.h"

#include <inttypes.h>
#include <string.h>

void dn_json_init(struct dn_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->depth = 0;
	j->first[0] = 1;
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0.
 * Overlong forms, surrogates and values past U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void put_string(FILE *f, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max);

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t l;

		switch (c) {
		case '"':  fputs("\\\"", f); i++; continue;
		case '\\': fputs("\\\\", f); i++; continue;
		case '\n': fputs("\\n", f);  i++; continue;
		case '\r': fputs("\\r", f);  i++; continue;
		case '\t': fputs("\\t", f);  i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		l = utf8_len(p + i, n - i);
		if (l == 0) {
			/* Not UTF-8: JSON text must be, so say so visibly. */
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(p + i, 1, l, f);
		i += l;
	}
	fputc('"', f);
}

/* Comma and key before a member. */
static void member(struct dn_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	if (key) {
		put_string(j->f, key, strlen(key));
		fputc(':', j->f);
	}
}

static void open_level(struct dn_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	/* Deeper than any view needs is a programming error; stay valid
	 * (commas may be off) rather than overrun the array. */
	if (j->depth + 1 < DN_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = 1;
}

static void close_level(struct dn_json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void dn_json_obj_begin(struct dn_json *j, const char *key) { open_level(j, key, '{'); }
void dn_json_obj_end(struct dn_json *j)                    { close_level(j, '}'); }
void dn_json_arr_begin(struct dn_json *j, const char *key) { open_level(j, key, '['); }
void dn_json_arr_end(struct dn_json *j)                    { close_level(j, ']'); }

void dn_json_str(struct dn_json *j, const char *key, const char *s, size_t max)
{
	member(j, key);
	put_string(j->f, s, max);
}

void dn_json_u64(struct dn_json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void dn_json_bool(struct dn_json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void dn_json_null(struct dn_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void dn_json_finish(struct dn_json *j)
{
	fputc('\n', j->f);
}
