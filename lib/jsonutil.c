/* jsonutil.c: see jsonutil.h. */
#include "jsonutil.h"

#include <string.h>

#include "util.h"

/* See jsonutil.h. */
json_t *sw_json_time(int64_t t)
{
	char buf[32];

	sw_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

/* See jsonutil.h. */
json_t *sw_json_time_or_null(int64_t t)
{
	return t <= 0 ? json_null() : sw_json_time(t);
}

/* See jsonutil.h. */
json_t *sw_json_day_or_null(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	sw_time_format(t, buf, sizeof(buf));
	buf[10] = '\0';
	return json_string(buf);
}

/* ---- sw_json_compact_object ---- */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Past the string at p (its opening '"'), or NULL. */
static const char *compact_string(const char *p)
{
	for (p++;;) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL; /* a control, or the end */
		if (c >= 0x80) {
			if ((p = sw_utf8_next(p)) == NULL)
				return NULL;
			continue;
		}
		if (c != '\\') {
			p++;
			continue;
		}
		c = (unsigned char)p[1];
		if (c == 'u') {
			if (!is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]) ||
			    memcmp(p + 2, "0000", 4) == 0)
				return NULL;
			p += 6;
		} else if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL) {
			p += 2;
		} else {
			return NULL;
		}
	}
}

static const char *digits(const char *p)
{
	const char *s = p;

	while (*p >= '0' && *p <= '9')
		p++;
	return p > s ? p : NULL;
}

/* Past the number at p, or NULL. */
static const char *compact_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if ((p = digits(p)) == NULL)
		return NULL;
	if (*p == '.' && (p = digits(p + 1)) == NULL)
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if ((p = digits(p)) == NULL)
			return NULL;
	}
	return p;
}

#define COMPACT_DEPTH_MAX 64

/* Past the value at p, or NULL. */
static const char *compact_value(const char *p, int depth)
{
	switch (*p) {
	case '"':
		return compact_string(p);
	case 't':
		return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
	case '[':
	case '{': {
		char close = *p == '[' ? ']' : '}';
		bool object = *p == '{';
		if (depth >= COMPACT_DEPTH_MAX)
			return NULL;
		if (*++p == close)
			return p + 1;
		for (;;) {
			if (object) {
				if (*p != '"' || (p = compact_string(p)) == NULL || *p++ != ':')
					return NULL;
			}
			if ((p = compact_value(p, depth + 1)) == NULL)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	default:
		return (*p == '-' || (*p >= '0' && *p <= '9')) ? compact_number(p) : NULL;
	}
}

/* See jsonutil.h. */
bool sw_json_compact_object(const char *text)
{
	const char *end;

	if (text == NULL || text[0] != '{')
		return false;
	end = compact_value(text, 0);
	return end != NULL && *end == '\0';
}
