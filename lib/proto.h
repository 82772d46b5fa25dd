/* proto.h: the control protocol, one JSON object per line each way:
 * {"cmd":"status",...} -> {"ok":true,"data":{...}} | {"ok":false,"error":"..."} */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define SW_PROTO_MAX_LINE (64 * 1024)

/* Parse a request line: an object with a string "cmd".  New reference in
 * *ret; -EINVAL with why otherwise. */
int sw_proto_request_parse(const char *line, size_t len, json_t **ret, char *why, size_t n);
/* Encode replies as one line ending in "\n"; malloc'd.  data is stolen. */
char *sw_proto_reply_ok(json_t *data);
/* The ok reply around data that is already compact JSON text of len bytes
 * without a newline (a long list rendered piecewise); NULL on out of memory. */
char *sw_proto_reply_ok_dumped(const char *data, size_t len);
/* The same reply built in place, without that copy: SW_PROTO_OK_HEAD, the
 * data's compact JSON text, SW_PROTO_OK_TAIL. */
#define SW_PROTO_OK_HEAD "{\"ok\":true,\"data\":"
#define SW_PROTO_OK_TAIL "}\n"
char *sw_proto_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a reply line: 0 and *ret_data (new ref) when ok, -EPROTO with the
 * error text in why when ok is false, -EINVAL when malformed. */
int sw_proto_reply_parse(const char *line, size_t len, json_t **ret_data, char *why, size_t n);
