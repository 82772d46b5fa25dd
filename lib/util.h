/* util.h: small shared pieces of the smtpwatch core: errors, diagnostics,
 * durations, timestamps, string helpers.  No globals, no clock reads. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One problem found in an input: shaped like jansson's json_error_t. */
struct sw_error {
	char source[256]; /* file name, URL path or "<memory>" */
	int line;         /* 1-based, 0 when not known */
	int column;       /* 1-based, 0 when not known */
	bool warning;     /* true: reported but not fatal */
	char text[320];
};

/* A list of problems, for --check-config which reports every one. */
struct sw_diag {
	struct sw_error *items;
	size_t n, cap;
	size_t n_errors; /* items with warning == false */
};

void sw_error_set(struct sw_error *e, const char *source, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Append an error (warning=false) or a warning; never fails (drops on OOM). */
void sw_diag_add(struct sw_diag *d, bool warning, const char *source, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void sw_diag_clear(struct sw_diag *d);

/* "30s", "5m", "2h", "7d", "1w"; a bare number is seconds.  -EINVAL otherwise. */
int sw_duration_parse(const char *s, int64_t *ret_seconds);
/* The shortest exact form: 90 -> "90s", 300 -> "5m", 7200 -> "2h", 604800 -> "7d". */
void sw_duration_format(int64_t seconds, char *buf, size_t n);

/* ISO-8601 "2026-11-20T08:01:12.6195833Z" (0..7 fractional digits, Z or
 * +hh:mm) to Unix seconds (fraction dropped). -EINVAL if malformed. */
int sw_time_parse(const char *s, int64_t *ret_seconds);
/* Unix seconds to "2026-11-20T08:01:12Z"; buf must hold 21 bytes. */
void sw_time_format(int64_t t, char *buf, size_t n);
/* "2027-01-31" to the Unix second at 00:00:00Z of that day. -EINVAL if malformed. */
int sw_date_parse(const char *s, int64_t *ret_seconds);

/* Lower-case an ASCII string in place; returns it. */
char *sw_strlower(char *s);
/* strdup that lower-cases; NULL in, NULL out. */
char *sw_strdup_lower(const char *s);
/* Trim ASCII white space at both ends, in place; returns s. */
char *sw_strtrim(char *s);

/* A growable byte buffer (HTTP bodies, rendered documents). */
struct sw_buf {
	char *data; /* always NUL-terminated when len > 0 or after sw_buf_putc */
	size_t len, cap;
};
int sw_buf_append(struct sw_buf *b, const void *p, size_t n);
int sw_buf_printf(struct sw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sw_buf_clear(struct sw_buf *b);

/* Percent-encode for application/x-www-form-urlencoded and URL queries.
 * Returns a malloc'd string, NULL on OOM. */
char *sw_url_encode(const char *s);

/* Is the URL's host a loopback address (127.0.0.0/8, ::1, localhost)? */
bool sw_url_is_loopback(const char *url);
/* https:// anywhere, http:// only for loopback.  0 or -EINVAL with why. */
int sw_url_check(const char *url, char *why, size_t n);

/* Free a string after overwriting it (secrets). NULL is fine. */
void sw_free_secret(char *s);
