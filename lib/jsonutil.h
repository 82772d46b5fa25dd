/* jsonutil.h: the JSON forms of smtpwatch values that every document
 * shares (alerts, control replies, status).  Apart from util.h so that
 * util stays free of jansson. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Unix seconds as the string "2026-11-20T08:01:12Z" (sw_time_format);
 * NULL on OOM, like json_string(). */
json_t *sw_json_time(int64_t t);
/* sw_json_time, or JSON null when t <= 0 ("never", "not yet"). */
json_t *sw_json_time_or_null(int64_t t);
/* The day of t as "2026-11-20", or JSON null when t <= 0. */
json_t *sw_json_day_or_null(int64_t t);
/* Is text one JSON object written compactly, as jansson's JSON_COMPACT
 * dump writes it: no white space outside strings, strings of valid UTF-8
 * without controls or a \u0000 escape, nothing after the object, nested
 * at most 64 deep?  One pass, no tree built: how the store checks the
 * evidence it hands out as text (false sends it the slow way, through
 * SQLite's JSON parser). */
bool sw_json_compact_object(const char *text);
