/* util.h: small shared pieces of the smtpwatch core: errors, diagnostics,
 * durations, timestamps, string helpers.  No globals, no clock reads. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
/* sw_diag_add with a va_list. */
void sw_diag_addv(struct sw_diag *d, bool warning, const char *source, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
void sw_diag_clear(struct sw_diag *d);
/* Stable-sort items[from..n) by file, each in the order its first problem
 * came, and by line within it (a loader's problems in file order). */
void sw_diag_sort(struct sw_diag *d, size_t from);

/* "30s", "5m", "2h", "7d", "1w"; a bare number is seconds.  -EINVAL otherwise
 * (empty, negative, signs, spaces, unknown unit, overflow of int64 seconds). */
int sw_duration_parse(const char *s, int64_t *ret_seconds);
/* The shortest exact form: 90 -> "90s", 300 -> "5m", 7200 -> "2h", 604800 -> "7d". */
void sw_duration_format(int64_t seconds, char *buf, size_t n);

/* ISO-8601 "2026-11-20T08:01:12.6195833Z" (0..9 fractional digits, Z or
 * +hh:mm) to Unix seconds (fraction dropped). -EINVAL if malformed. */
int sw_time_parse(const char *s, int64_t *ret_seconds);
/* Unix seconds to "2026-11-20T08:01:12Z"; buf must hold 21 bytes. */
void sw_time_format(int64_t t, char *buf, size_t n);
/* "2027-01-31" to the Unix second at 00:00:00Z of that day. -EINVAL if malformed. */
int sw_date_parse(const char *s, int64_t *ret_seconds);

/* One entry of a name table: an enum's value and its name in config
 * files, documents and the wire.  A table ends with { 0, NULL }. */
struct sw_name {
	int value;
	const char *name;
};
/* The value named s (exact, case-sensitive) in table; 0, or -EINVAL when
 * s is NULL or not there. */
int sw_name_parse(const struct sw_name *table, const char *s, int *ret);
/* The name of value in table, or fallback when the table has none. */
const char *sw_name_of(const struct sw_name *table, int value, const char *fallback);
/* Define `const char *name_fn(type)` and `int parse_fn(const char *, type *)`
 * (0, or -EINVAL with *ret untouched) over table, so an enum's two
 * directions are one table and one line (systemd's
 * DEFINE_STRING_TABLE_LOOKUP).  The file needs <errno.h>. */
#define SW_DEFINE_NAME_LOOKUP(name_fn, parse_fn, type, table, fallback) \
	const char *name_fn(type v)                                     \
	{                                                               \
		return sw_name_of(table, (int)v, fallback);             \
	}                                                               \
	int parse_fn(const char *s, type *ret)                          \
	{                                                               \
		int v;                                                  \
                                                                        \
		if (sw_name_parse(table, s, &v) < 0)                    \
			return -EINVAL;                                 \
		*ret = (type)v;                                         \
		return 0;                                               \
	}

/* Lower-case an ASCII string in place; returns it. */
char *sw_strlower(char *s);
/* strdup that lower-cases; NULL in, NULL out. */
char *sw_strdup_lower(const char *s);
/* Trim ASCII white space at both ends, in place; returns s. */
char *sw_strtrim(char *s);

/* Is s valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), as jansson wants every string to be? */
bool sw_utf8_valid(const char *s);
/* Past the one multi-byte UTF-8 sequence at p (its lead byte >= 0x80),
 * valid as sw_utf8_valid judges; NULL when it is not one (a NUL ends it
 * early, as any byte that is not a continuation). */
const char *sw_utf8_next(const char *p);

/* A growable byte buffer (HTTP bodies, rendered documents). */
struct sw_buf {
	char *data; /* NUL-terminated after any successful append (data[len] == 0) */
	size_t len, cap;
};
/* Append n bytes (n == 0 still allocates, so data is a valid "").  0 or -ENOMEM. */
int sw_buf_append(struct sw_buf *b, const void *p, size_t n);
int sw_buf_putc(struct sw_buf *b, char c);
/* Room for n more bytes at once (a long text made piecewise is not
 * moved at each doubling).  0 or -ENOMEM. */
int sw_buf_reserve(struct sw_buf *b, size_t n);
int sw_buf_printf(struct sw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sw_buf_clear(struct sw_buf *b);

/* Percent-encode for application/x-www-form-urlencoded and URL queries.
 * Returns a malloc'd string, NULL on OOM. */
char *sw_url_encode(const char *s);

/* Is the URL's host a literal loopback address (127.0.0.0/8, ::1) or
 * exactly "localhost" (any case, no trailing dot)?  The daemon pins
 * localhost to 127.0.0.1 and ::1 so no resolver is asked. */
bool sw_url_is_loopback(const char *url);
/* https:// anywhere, http:// only for loopback.  0 or -EINVAL with why. */
int sw_url_check(const char *url, char *why, size_t n);

/* The origin of an http(s) URL, normalised for comparison: lower-case
 * "scheme://host:port" with the default port filled in and an IPv6 host in
 * brackets ("https://graph.microsoft.com:443").  -EINVAL for another
 * scheme, no host, a bad port, userinfo, control bytes, or a buf too small. */
int sw_url_origin(const char *url, char *buf, size_t n);
/* [daemon] proxy: http:// or https:// HOST:PORT, nothing else (no user
 * name or password, path or query); NULL or "" is fine (no proxy).  0 or
 * -EINVAL with why. */
int sw_proxy_check(const char *proxy, char *why, size_t n);
/* The proxy a request to url goes through: proxy, or "" (none) when there
 * is none or url is loopback.  "" also keeps libcurl from taking one from
 * the environment. */
const char *sw_proxy_for(const char *url, const char *proxy);
/* A zeroed buffer of size bytes for a secret, left out of core dumps:
 * from OpenSSL's secure heap when the process set one up (the daemon
 * does: secrets packed together, locked in memory), else page-aligned
 * with MADV_DONTDUMP.  Free it with sw_free_secret.  NULL on OOM. */
char *sw_secret_alloc(size_t size);
/* Free a string after overwriting it (secrets): one from sw_secret_alloc,
 * or from malloc. NULL is fine. */
void sw_free_secret(char *s);

/* Escaping, one form per destination: text from a peer, a file or a user
 * must not forge a log line, drive a terminal, render as markdown or run
 * as a command. */
#define SW_ESC_MULTILINE 0x1 /* keep LF, TAB and CR before LF: a block of lines (CSV, metrics) */
#define SW_ESC_JSON 0x2      /* write \u00NN instead of \xNN: the text sits inside a JSON string */
/* Append s (len bytes) to out on one line: every C0 control (LF, CR, ESC,
 * ...), DEL, C1 control (U+0080..U+009F) and byte that is not part of
 * valid UTF-8 becomes \xNN (C1 controls by code point), the line and
 * paragraph separators and the bidi overrides and isolates \uNNNN;
 * everything else is copied, backslashes too.  0 or -ENOMEM (out keeps
 * its text). */
int sw_escape_text(struct sw_buf *out, const char *s, size_t len, unsigned flags);
/* Would sw_escape_text change s? */
bool sw_text_needs_escape(const char *s, size_t len, unsigned flags);
/* sw_escape_text into a new string; NULL in, NULL out (and on OOM). */
char *sw_escape_dup(const char *s, unsigned flags);
/* Append s for a markdown text (a Teams card): control bytes as in
 * sw_escape_text, and a backslash before every byte that could start
 * markdown: \ ` * _ ~ [ ] ( ) < > # | ! { }, : before //, and the - + or
 * the dot of a list item ("- ", "1. ") at the start, so no link, list,
 * emphasis or image renders from it.  0 or -ENOMEM. */
int sw_escape_markdown(struct sw_buf *out, const char *s);
/* s as a PowerShell single-quoted literal into buf: 'o''brien@contoso.com'.
 * Every single quote (' and its typographic forms U+2018..U+201B, which
 * PowerShell also takes as quotes) is doubled, control bytes become '?'.
 * Cut short to fit n (never inside a doubled quote), always closed.
 * Returns buf; n must be at least 3. */
const char *sw_ps_quote(const char *s, char *buf, size_t n);
/* Append s as one CSV cell (RFC 4180 quotes when needed); a cell that
 * begins with = + - @ TAB or CR gets a ' in front and is quoted (OWASP's
 * CSV injection advice), control bytes are escaped as in sw_escape_text.
 * 0 or -ENOMEM. */
int sw_csv_cell(struct sw_buf *out, const char *s);
/* Replace in text (NUL-terminated, in a buffer of size bytes) every
 * occurrence of each non-empty string of the NULL-terminated secrets with
 * "[redacted]", longest secret first; what no longer fits is cut off.
 * Returns the number of replacements. */
#define SW_REDACTED "[redacted]"
size_t sw_redact(char *text, size_t size, const char *const *secrets);
/* The same with the order and an index built once, for a list applied to
 * many texts (every log line): a text with no secret in it costs one pass
 * over it, not a search per secret.  The redactor keeps pointers into
 * secrets, which must outlive it.  NULL on OOM. */
struct sw_redactor;
struct sw_redactor *sw_redactor_new(const char *const *secrets);
size_t sw_redactor_apply(const struct sw_redactor *r, char *text, size_t size);
void sw_redactor_free(struct sw_redactor *r);

/* INI files (smtpwatch.conf, exception registers) through inih with line
 * numbers.  inih 55 as packaged has no line numbers and keeps section names
 * to 49 bytes, so the reader counts lines and tracks sections itself.  Lines
 * longer than SW_INI_MAX_LINE bytes (with the newline), section headers
 * without "]" and lines without "=" are reported to diag (with source) and
 * skipped; indented lines are not continuations.  " ;" starts a comment. */
#define SW_INI_MAX_LINE 200
struct sw_ini_handler {
	/* A section header: the text between the brackets, trimmed. */
	void (*section)(void *user, int line, const char *name);
	/* A key in the current section (NULL before the first header). */
	void (*key)(void *user, int line, const char *section, const char *name, const char *value);
};
/* Parse the file at path.  Returns the number of syntax errors (each also in
 * diag), or -errno if it cannot be opened or read (diag: PATH:0: cannot read: ...). */
int sw_ini_parse(const char *path, const struct sw_ini_handler *h, void *user, struct sw_diag *diag);
