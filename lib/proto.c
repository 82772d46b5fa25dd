/* proto.c: the control protocol, one JSON object per line each way. */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strip one trailing "\n" or "\r\n" from the length of a line. */
static size_t line_len(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

/* See proto.h. */
int sw_proto_request_parse(const char *line, size_t len, json_t **ret, char *why, size_t n)
{
	json_error_t je;
	json_t *root;

	if (len > SW_PROTO_MAX_LINE) {
		snprintf(why, n, "request longer than %d bytes", SW_PROTO_MAX_LINE);
		return -EINVAL;
	}
	root = json_loadb(line, line_len(line, len), JSON_DECODE_ANY, &je);
	if (root == NULL) {
		snprintf(why, n, "invalid JSON at column %d: %s", je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(why, n, "request is not a JSON object");
		goto fail;
	}
	if (!json_is_string(json_object_get(root, "cmd"))) {
		snprintf(why, n, "request has no \"cmd\" string");
		goto fail;
	}
	*ret = root;
	return 0;
fail:
	json_decref(root);
	return -EINVAL;
}

/* Dump a reply object as one compact line with "\n"; steals obj. */
static char *reply_line(json_t *obj)
{
	char *s, *line = NULL;

	if (obj == NULL)
		return NULL;
	/* JSON_COMPACT never emits a newline; strings escape theirs. */
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (s == NULL)
		return NULL;
	if (asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	free(s);
	return line;
}

/* See proto.h. */
char *sw_proto_reply_ok(json_t *data)
{
	json_t *obj = json_object();

	if (obj == NULL) {
		json_decref(data);
		return NULL;
	}
	if (json_object_set_new(obj, "ok", json_true()) < 0 ||
	    json_object_set_new(obj, "data", data != NULL ? data : json_object()) < 0) {
		json_decref(obj);
		return NULL;
	}
	return reply_line(obj);
}

/* See proto.h. */
char *sw_proto_reply_ok_dumped(const char *data, size_t len)
{
	static const char head[] = SW_PROTO_OK_HEAD;
	char *line = malloc(sizeof(head) - 1 + len + sizeof(SW_PROTO_OK_TAIL));

	if (line == NULL)
		return NULL;
	memcpy(line, head, sizeof(head) - 1);
	memcpy(line + sizeof(head) - 1, data, len);
	memcpy(line + sizeof(head) - 1 + len, SW_PROTO_OK_TAIL, sizeof(SW_PROTO_OK_TAIL));
	return line;
}

/* See proto.h. */
char *sw_proto_reply_error(const char *fmt, ...)
{
	json_t *obj;
	char *text = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	obj = json_pack("{s:b,s:s}", "ok", 0, "error", text);
	if (obj == NULL) {
		/* Not valid UTF-8: say so rather than lose the reply. */
		obj = json_pack("{s:b,s:s}", "ok", 0, "error", "error text is not valid UTF-8");
	}
	free(text);
	return reply_line(obj);
}

/* See proto.h. */
int sw_proto_reply_parse(const char *line, size_t len, json_t **ret_data, char *why, size_t n)
{
	json_error_t je;
	json_t *root, *ok, *data;
	const char *e;
	int r = -EINVAL;

	root = json_loadb(line, line_len(line, len), JSON_DECODE_ANY, &je);
	if (root == NULL) {
		snprintf(why, n, "invalid JSON reply at column %d: %s", je.column, je.text);
		return -EINVAL;
	}
	ok = json_object_get(root, "ok");
	if (!json_is_object(root) || !json_is_boolean(ok)) {
		snprintf(why, n, "reply has no \"ok\" boolean");
		goto out;
	}
	if (json_is_false(ok)) {
		e = json_string_value(json_object_get(root, "error"));
		snprintf(why, n, "%s", e != NULL ? e : "unknown error");
		r = -EPROTO;
		goto out;
	}
	data = json_object_get(root, "data");
	*ret_data = json_incref(data != NULL ? data : json_null());
	r = 0;
out:
	json_decref(root);
	return r;
}
