/* util.c: errors, diagnostics, durations, timestamps, strings, buffers,
 * URLs and the line-counting INI reader shared by config.c and register.c. */
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Fill one error; e may be NULL. */
void sw_error_set(struct sw_error *e, const char *source, int line, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%s", source ? source : "");
	e->line = line;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

/* Append one problem to a diag list (va_list form); d may be NULL. */
void sw_diag_addv(struct sw_diag *d, bool warning, const char *source, int line, const char *fmt, va_list ap)
{
	struct sw_error *e;

	if (d == NULL)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct sw_error *items = realloc(d->items, cap * sizeof(*items));
		if (items == NULL)
			return;
		d->items = items;
		d->cap = cap;
	}
	e = &d->items[d->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%s", source ? source : "");
	e->line = line;
	e->warning = warning;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	if (!warning)
		d->n_errors++;
}

/* Append one problem to a diag list. */
void sw_diag_add(struct sw_diag *d, bool warning, const char *source, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sw_diag_addv(d, warning, source, line, fmt, ap);
	va_end(ap);
}

/* Free a diag list's items and reset it. */
void sw_diag_clear(struct sw_diag *d)
{
	if (d == NULL)
		return;
	free(d->items);
	memset(d, 0, sizeof(*d));
}

/* An item's place in the sort: its file's first item, its line, itself. */
struct diag_key {
	size_t group, i;
	int line;
	const char *source;
};

static int diag_key_by_source(const void *pa, const void *pb)
{
	const struct diag_key *a = pa, *b = pb;
	int c = strcmp(a->source, b->source);

	return c != 0 ? c : a->i < b->i ? -1 : a->i > b->i;
}

static int diag_key_by_place(const void *pa, const void *pb)
{
	const struct diag_key *a = pa, *b = pb;

	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Sort items[from..n) by file (in the order each file's first problem
 * came) and by line within it, stable: O(n log n), where an insertion
 * sort was quadratic in a tenants_dir of 10,000 files with problems and
 * interleaved their lines.  On OOM the items stay as they came. */
void sw_diag_sort(struct sw_diag *d, size_t from)
{
	size_t n = d != NULL && d->n > from ? d->n - from : 0;
	struct diag_key *k;
	struct sw_error *tmp;

	if (n < 2)
		return;
	k = calloc(n, sizeof(*k));
	tmp = malloc(n * sizeof(*tmp));
	if (k == NULL || tmp == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		k[i] = (struct diag_key){.i = i, .line = d->items[from + i].line, .source = d->items[from + i].source};
	/* Group: the index of the first item of the same file. */
	qsort(k, n, sizeof(*k), diag_key_by_source);
	for (size_t i = 0; i < n; i++)
		k[i].group = i > 0 && strcmp(k[i].source, k[i - 1].source) == 0 ? k[i - 1].group : k[i].i;
	qsort(k, n, sizeof(*k), diag_key_by_place);
	for (size_t i = 0; i < n; i++)
		tmp[i] = d->items[from + k[i].i];
	memcpy(d->items + from, tmp, n * sizeof(*tmp));
out:
	free(k);
	free(tmp);
}

/* Seconds per duration unit letter, 0 if not a unit. */
static int64_t duration_unit(char c)
{
	switch (c) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

/* Parse "30s", "5m", "2h", "7d", "1w" or a bare number of seconds. */
int sw_duration_parse(const char *s, int64_t *ret_seconds)
{
	int64_t v = 0, mult = 1;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		int dgt = *p - '0';
		if (v > (INT64_MAX - dgt) / 10)
			return -EINVAL;
		v = v * 10 + dgt;
	}
	if (*p != '\0') {
		mult = duration_unit(*p);
		if (mult == 0 || p[1] != '\0')
			return -EINVAL;
	}
	if (v > INT64_MAX / mult)
		return -EINVAL;
	*ret_seconds = v * mult;
	return 0;
}

/* Format seconds in the largest unit (d, h, m, s) that divides them exactly. */
void sw_duration_format(int64_t seconds, char *buf, size_t n)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
	uint64_t v = seconds < 0 ? -(uint64_t)seconds : (uint64_t)seconds;
	const char *sign = seconds < 0 ? "-" : "";

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % (uint64_t)units[i].secs == 0) {
			snprintf(buf, n, "%s%llu%c", sign, (unsigned long long)(v / (uint64_t)units[i].secs),
			         units[i].unit);
			return;
		}
	}
	snprintf(buf, n, "%s%llus", sign, (unsigned long long)v);
}

/* Read exactly n decimal digits at *p, advancing it; -1 if they are not there. */
static int take_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Days in a month of a (proleptic Gregorian) year. */
static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Parse "YYYY-MM-DD" at *p into tm, advancing p; -EINVAL if malformed. */
static int parse_date_part(const char **p, struct tm *tm)
{
	int y, mo, d;

	y = take_digits(p, 4);
	if (y < 0 || **p != '-')
		return -EINVAL;
	(*p)++;
	mo = take_digits(p, 2);
	if (mo < 1 || mo > 12 || **p != '-')
		return -EINVAL;
	(*p)++;
	d = take_digits(p, 2);
	if (d < 1 || d > days_in_month(y, mo))
		return -EINVAL;
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	return 0;
}

/* Parse ISO-8601 UTC or offset time to Unix seconds. */
int sw_time_parse(const char *s, int64_t *ret_seconds)
{
	struct tm tm = { 0 };
	const char *p = s;
	int64_t offset = 0;
	time_t t;

	if (s == NULL || parse_date_part(&p, &tm) < 0 || *p++ != 'T')
		return -EINVAL;
	tm.tm_hour = take_digits(&p, 2);
	if (tm.tm_hour < 0 || tm.tm_hour > 23 || *p++ != ':')
		return -EINVAL;
	tm.tm_min = take_digits(&p, 2);
	if (tm.tm_min < 0 || tm.tm_min > 59 || *p++ != ':')
		return -EINVAL;
	tm.tm_sec = take_digits(&p, 2);
	if (tm.tm_sec < 0 || tm.tm_sec > 59)
		return -EINVAL;
	if (*p == '.') {
		int n = 0;
		for (p++; isdigit((unsigned char)*p); p++)
			n++;
		/* Graph documents 7 digits; captured answers carry 9
		 * (nanoseconds).  The fraction is dropped either way. */
		if (n < 1 || n > 9)
			return -EINVAL;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		int oh = take_digits(&p, 2), om;
		if (oh < 0 || oh > 23 || *p++ != ':')
			return -EINVAL;
		om = take_digits(&p, 2);
		if (om < 0 || om > 59)
			return -EINVAL;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	t = timegm(&tm);
	*ret_seconds = (int64_t)t - offset;
	return 0;
}

/* Format Unix seconds as "2026-11-20T08:01:12Z". */
void sw_time_format(int64_t t, char *buf, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (n == 0)
		return;
	if (gmtime_r(&tt, &tm) == NULL) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* See util.h. */
int sw_name_parse(const struct sw_name *table, const char *s, int *ret)
{
	for (; s != NULL && table->name != NULL; table++) {
		if (strcmp(s, table->name) == 0) {
			*ret = table->value;
			return 0;
		}
	}
	return -EINVAL;
}

/* See util.h. */
const char *sw_name_of(const struct sw_name *table, int value, const char *fallback)
{
	for (; table->name != NULL; table++)
		if (table->value == value)
			return table->name;
	return fallback;
}

/* Parse "YYYY-MM-DD" to 00:00:00Z of that day. */
int sw_date_parse(const char *s, int64_t *ret_seconds)
{
	struct tm tm = { 0 };
	const char *p = s;

	if (s == NULL || parse_date_part(&p, &tm) < 0 || *p != '\0')
		return -EINVAL;
	*ret_seconds = (int64_t)timegm(&tm);
	return 0;
}

/* Lower-case ASCII in place. */
char *sw_strlower(char *s)
{
	for (char *p = s; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

/* Lower-cased copy. */
char *sw_strdup_lower(const char *s)
{
	char *r;

	if (s == NULL)
		return NULL;
	r = strdup(s);
	return sw_strlower(r);
}

/* Trim ASCII white space at both ends, in place. */
char *sw_strtrim(char *s)
{
	size_t len, skip = 0;

	if (s == NULL)
		return NULL;
	while (isspace((unsigned char)s[skip]))
		skip++;
	len = strlen(s + skip);
	while (len > 0 && isspace((unsigned char)s[skip + len - 1]))
		len--;
	memmove(s, s + skip, len);
	s[len] = '\0';
	return s;
}

/* Make room for n more bytes plus the terminating NUL. */
static int buf_reserve(struct sw_buf *b, size_t n)
{
	size_t need, cap;
	char *data;

	if (n > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	need = b->len + n + 1;
	if (b->data != NULL && need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	data = realloc(b->data, cap);
	if (data == NULL)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

/* Append bytes, keeping the data NUL-terminated. */
int sw_buf_append(struct sw_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -ENOMEM;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* See util.h. */
int sw_buf_reserve(struct sw_buf *b, size_t n)
{
	return buf_reserve(b, n);
}

/* Append one byte. */
int sw_buf_putc(struct sw_buf *b, char c)
{
	return sw_buf_append(b, &c, 1);
}

/* Append printf-formatted text. */
int sw_buf_printf(struct sw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (buf_reserve(b, (size_t)n) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Free the buffer's data and reset it. */
void sw_buf_clear(struct sw_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
char *sw_url_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out, *o;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(len * 3 + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Length of the scheme before "://", 0 if there is none. */
static size_t url_scheme_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL || p == url)
		return 0;
	for (const char *q = url; q < p; q++)
		if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.')
			return 0;
	return (size_t)(p - url);
}

/* Copy the URL's host (brackets stripped for IPv6) into host; false if none. */
static bool url_host(const char *url, char *host, size_t n)
{
	size_t slen = url_scheme_len(url), alen, hlen;
	const char *a, *at, *h, *end;

	if (slen == 0)
		return false;
	a = url + slen + 3;
	alen = strcspn(a, "/?#");
	/* userinfo ends at the last '@' of the authority */
	at = NULL;
	for (const char *q = a; q < a + alen; q++)
		if (*q == '@')
			at = q;
	h = at ? at + 1 : a;
	end = a + alen;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));
		if (close == NULL)
			return false;
		h++;
		hlen = (size_t)(close - h);
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));
		hlen = (size_t)((colon ? colon : end) - h);
	}
	if (hlen == 0 || hlen >= n)
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return true;
}

/* Is the URL's host 127.0.0.0/8, ::1 or exactly localhost?  Not
 * "localhost." nor anything.localhost: those are names a resolver may
 * send to DNS, where anyone can answer them. */
bool sw_url_is_loopback(const char *url)
{
	char host[256];
	unsigned char a[16];

	if (url == NULL || !url_host(url, host, sizeof(host)))
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = { [15] = 1 };
		return memcmp(a, one, 16) == 0;
	}
	return false;
}

/* Accept https:// URLs, and http:// only for loopback hosts.  The reason
 * never quotes the URL: webhook URLs carry their credentials. */
int sw_url_check(const char *url, char *why, size_t n)
{
	char host[256];
	const char *msg = NULL;
	size_t slen;

	if (why != NULL && n > 0)
		why[0] = '\0';
	if (url == NULL || *url == '\0') {
		msg = "empty URL";
		goto fail;
	}
	for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '\\') {
			msg = "URL contains spaces, control characters or backslashes";
			goto fail;
		}
	}
	slen = url_scheme_len(url);
	if (slen == 0) {
		msg = "not a URL: expected https://HOST/...";
		goto fail;
	}
	if (!url_host(url, host, sizeof(host))) {
		msg = "URL has no host";
		goto fail;
	}
	if (slen == 5 && strncasecmp(url, "https", 5) == 0)
		return 0;
	if (slen == 4 && strncasecmp(url, "http", 4) == 0) {
		if (sw_url_is_loopback(url))
			return 0;
		msg = "http:// is only allowed for loopback hosts";
		goto fail;
	}
	if (why != NULL && n > 0)
		snprintf(why, n, "unsupported scheme \"%.*s\": use https://", slen > 16 ? 16 : (int)slen, url);
	return -EINVAL;
fail:
	if (why != NULL && n > 0)
		snprintf(why, n, "%s", msg);
	return -EINVAL;
}

/* See util.h.  The host is taken as url_host() takes it (the last '@' of
 * the authority ends userinfo), which is how libcurl reads it too; a URL
 * with userinfo is refused rather than compared, since curl would send
 * those credentials itself. */
int sw_url_origin(const char *url, char *buf, size_t n)
{
	char host[256];
	size_t slen, alen;
	const char *a, *h, *end;
	long num;

	if (url == NULL || buf == NULL || n == 0)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '\\')
			return -EINVAL;
	slen = url_scheme_len(url);
	if (!((slen == 5 && strncasecmp(url, "https", 5) == 0) || (slen == 4 && strncasecmp(url, "http", 4) == 0)))
		return -EINVAL;
	a = url + slen + 3;
	alen = strcspn(a, "/?#");
	if (memchr(a, '@', alen) != NULL || !url_host(url, host, sizeof(host)))
		return -EINVAL;
	end = a + alen;
	/* url_host() found the brackets of an IPv6 host already */
	h = *a == '[' ? (const char *)memchr(a, ']', alen) + 1 : a;
	if (*a == '[' && h != end && *h != ':')
		return -EINVAL;
	h = memchr(h, ':', (size_t)(end - h));
	if (h == NULL) {
		num = slen == 5 ? 443 : 80;
	} else {
		num = 0;
		if (h + 1 == end)
			return -EINVAL;
		for (const char *q = h + 1; q < end; q++) {
			if (!isdigit((unsigned char)*q) || num > 65535)
				return -EINVAL;
			num = num * 10 + (*q - '0');
		}
		if (num < 1 || num > 65535)
			return -EINVAL;
	}
	for (char *q = host; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	int w = snprintf(buf, n, "%s://%s%s%s:%ld", slen == 5 ? "https" : "http", strchr(host, ':') ? "[" : "",
	                 host, strchr(host, ':') ? "]" : "", num);
	return w < 0 || (size_t)w >= n ? -EINVAL : 0;
}

/* See util.h. */
int sw_proxy_check(const char *proxy, char *why, size_t n)
{
	char origin[300];
	const char *a, *h, *end;
	size_t slen, alen;

	if (proxy == NULL || *proxy == '\0')
		return 0;
	if (sw_url_origin(proxy, origin, sizeof(origin)) < 0) {
		snprintf(why, n, "expected http://HOST:PORT or https://HOST:PORT (no user name or password)");
		return -EINVAL;
	}
	slen = url_scheme_len(proxy);
	a = proxy + slen + 3;
	alen = strcspn(a, "/?#");
	end = a + alen;
	if (*end != '\0' && strcmp(end, "/") != 0) {
		snprintf(why, n, "a proxy URL is HOST:PORT only, without a path or query");
		return -EINVAL;
	}
	h = *a == '[' ? (const char *)memchr(a, ']', alen) : a;
	if (memchr(h, ':', (size_t)(end - h)) == NULL) {
		snprintf(why, n, "the proxy's port is missing (http://HOST:PORT)");
		return -EINVAL;
	}
	return 0;
}

/* See util.h. */
const char *sw_proxy_for(const char *url, const char *proxy)
{
	if (proxy == NULL || *proxy == '\0' || url == NULL || sw_url_is_loopback(url))
		return "";
	return proxy;
}

/* See util.h.  The page-aligned fallback costs a page and a mapping of
 * its own (MADV_DONTDUMP splits the heap's) for each secret: at 10,000
 * tenants 40 MB of RSS and 20,000 mappings, a third of vm.max_map_count.
 * The pages keep the flag after free(), which only means that whatever
 * malloc puts there later is left out of a core too. */
char *sw_secret_alloc(size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	void *p;

	if (CRYPTO_secure_malloc_initialized()) {
		p = OPENSSL_secure_zalloc(size);
		if (p != NULL)
			return p;
		/* The secure heap is full: a page of its own. */
	}
	if (page <= 0)
		page = 4096;
	len = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	if (len == 0 || posix_memalign(&p, (size_t)page, len) != 0)
		return NULL;
	memset(p, 0, len);
	(void)madvise(p, len, MADV_DONTDUMP);
	return p;
}

/* Overwrite a string, then free it. */
void sw_free_secret(char *s)
{
	if (s == NULL)
		return;
	if (CRYPTO_secure_allocated(s)) {
		OPENSSL_secure_clear_free(s, CRYPTO_secure_actual_size(s));
		return;
	}
	explicit_bzero(s, strlen(s));
	free(s);
}

/* ---- escaping ---- */

/* Length of the valid UTF-8 sequence at s[0..len) (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), its code point in *cp;
 * 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Is code point cp one that moves, hides or reorders text: C0 and C1
 * controls, DEL, the Unicode line and paragraph separators, and the
 * bidirectional overrides and isolates ("Trojan Source")? */
static bool esc_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The unit at s[i]: its length in *ret_n, and whether it is escaped (then
 * *ret_cp is the code point, or the lone byte when *ret_byte). */
static bool esc_unit(const unsigned char *s, size_t len, size_t i, unsigned flags, size_t *ret_n, uint32_t *ret_cp,
                     bool *ret_byte)
{
	uint32_t cp = 0;
	size_t n = utf8_seq(s + i, len - i, &cp);

	*ret_byte = n == 0;
	if (n == 0) {
		*ret_n = 1;
		*ret_cp = s[i];
		return true;
	}
	*ret_n = n;
	*ret_cp = cp;
	if (!esc_control(cp))
		return false;
	if (flags & SW_ESC_MULTILINE)
		return !(cp == '\n' || cp == '\t' || (cp == '\r' && i + 1 < len && s[i + 1] == '\n'));
	return true;
}

/* See util.h. */
bool sw_text_needs_escape(const char *s, size_t len, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;
	uint32_t cp;
	bool byte;

	for (size_t i = 0; s != NULL && i < len; i += n)
		if (esc_unit(u, len, i, flags, &n, &cp, &byte))
			return true;
	return false;
}

/* See util.h.  Runs of plain text are copied in one go. */
int sw_escape_text(struct sw_buf *out, const char *s, size_t len, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t mark = out->len, run = 0, n;
	uint32_t cp;
	bool byte;
	int r = sw_buf_append(out, "", 0);

	for (size_t i = 0; r >= 0 && s != NULL && i < len; i += n) {
		if (!esc_unit(u, len, i, flags, &n, &cp, &byte))
			continue;
		if (i > run && (r = sw_buf_append(out, s + run, i - run)) < 0)
			break;
		if (flags & SW_ESC_JSON)
			r = sw_buf_printf(out, "\\u%04x", (unsigned)cp);
		else if (byte || cp <= 0xff)
			r = sw_buf_printf(out, "\\x%02x", (unsigned)cp);
		else
			r = sw_buf_printf(out, "\\u%04x", (unsigned)cp);
		run = i + n;
	}
	if (r >= 0 && s != NULL && len > run)
		r = sw_buf_append(out, s + run, len - run);
	if (r < 0 && out->data != NULL) {
		out->len = mark;
		out->data[mark] = '\0';
	}
	return r;
}

/* See util.h. */
char *sw_escape_dup(const char *s, unsigned flags)
{
	struct sw_buf b = {0};

	if (s == NULL || sw_escape_text(&b, s, strlen(s), flags) < 0) {
		sw_buf_clear(&b);
		return NULL;
	}
	return b.data;
}

/* See util.h. */
int sw_escape_markdown(struct sw_buf *out, const char *s)
{
	struct sw_buf plain = {0};
	size_t mark = out->len;
	int r;

	/* Controls first (a new line would start a list or a heading), then
	 * the markdown of what is left. */
	r = sw_escape_text(&plain, s ? s : "", s ? strlen(s) : 0, 0);
	if (r >= 0)
		r = sw_buf_append(out, "", 0);
	for (const char *p = plain.data; r >= 0 && p != NULL && *p != '\0'; p++) {
		bool esc = strchr("\\`*_~[]()<>#|!{}", *p) != NULL || (*p == ':' && strncmp(p + 1, "//", 2) == 0) ||
		           /* A list item: "- ", "+ ", "1. " at the start. */
		           ((*p == '-' || *p == '+') && p == plain.data && p[1] == ' ') ||
		           (*p == '.' && p > plain.data && p[1] == ' ' &&
		            strspn(plain.data, "0123456789") == (size_t)(p - plain.data));
		if (esc)
			r = sw_buf_putc(out, '\\');
		if (r >= 0)
			r = sw_buf_putc(out, *p);
	}
	sw_buf_clear(&plain);
	if (r < 0 && out->data != NULL) {
		out->len = mark;
		out->data[mark] = '\0';
	}
	return r;
}

/* See util.h.  Inside single quotes PowerShell expands nothing ($, `,
 * and ; are literal); only a quote ends the string, and it takes the
 * typographic single quotes for one too. */
const char *sw_ps_quote(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	buf[o++] = '\'';
	for (const char *p = s ? s : ""; *p != '\0';) {
		const unsigned char *u = (const unsigned char *)p;
		size_t len = 1;
		bool quote = *p == '\'';

		if (u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x98 && u[2] <= 0x9b) {
			len = 3;
			quote = true;
		} else if (u[0] >= 0x80) {
			uint32_t cp;
			len = utf8_seq(u, strlen(p), &cp);
			if (len == 0 || esc_control(cp)) {
				len = len ? len : 1;
				if (o + 2 > n - 1)
					break;
				buf[o++] = '?';
				p += len;
				continue;
			}
		}
		/* Room for the unit (twice for a quote) and the closing quote. */
		if (o + len * (quote ? 2 : 1) > n - 2)
			break;
		if (u[0] < 0x20 || u[0] == 0x7f) {
			buf[o++] = '?';
		} else {
			memcpy(buf + o, p, len);
			o += len;
			if (quote) {
				memcpy(buf + o, p, len);
				o += len;
			}
		}
		p += len;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

/* See util.h. */
int sw_csv_cell(struct sw_buf *out, const char *s)
{
	struct sw_buf plain = {0};
	size_t mark = out->len;
	bool inject, quote;
	int r;

	if (s == NULL)
		s = "";
	inject = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r';
	r = sw_buf_append(out, "", 0);
	if (r >= 0)
		r = sw_escape_text(&plain, s, strlen(s), 0);
	quote = inject || (r >= 0 && strpbrk(plain.data, ",\"\r\n") != NULL);
	if (r >= 0 && quote)
		r = sw_buf_append(out, "\"", 1);
	if (r >= 0 && inject)
		r = sw_buf_append(out, "'", 1);
	for (const char *p = plain.data; r >= 0 && *p != '\0'; p++)
		r = *p == '"' ? sw_buf_append(out, "\"\"", 2) : sw_buf_putc(out, *p);
	if (r >= 0 && quote)
		r = sw_buf_append(out, "\"", 1);
	sw_buf_clear(&plain);
	if (r < 0 && out->data != NULL) {
		out->len = mark;
		out->data[mark] = '\0';
	}
	return r;
}

/* Replace every occurrence of secret in text (size bytes of room). */
static size_t redact_one(char *text, size_t size, const char *secret)
{
	size_t slen = strlen(secret), rlen = strlen(SW_REDACTED), count = 0;
	char *p = text;

	while ((p = strstr(p, secret)) != NULL) {
		size_t tail = strlen(p + slen), at = (size_t)(p - text);

		/* Keep what fits: the replacement first, then as much of the tail. */
		if (at + rlen >= size) {
			snprintf(p, size - at, "%s", SW_REDACTED);
			return count + 1;
		}
		if (at + rlen + tail >= size)
			tail = size - 1 - at - rlen;
		memmove(p + rlen, p + slen, tail);
		memcpy(p, SW_REDACTED, rlen);
		p[rlen + tail] = '\0';
		p += rlen;
		count++;
	}
	return count;
}

/* One secret in a redactor's order. */
struct redact_entry {
	const char *s;
	size_t len, idx;
};

struct sw_redactor {
	struct redact_entry *e; /* the non-empty secrets, longest first */
	size_t n;
	uint32_t *prefix; /* the first 4 bytes of each, sorted */
	size_t n_prefix;
	bool has_short; /* one of 1-3 bytes: no prefilter */
};

/* Longest first; equal lengths in the order listed. */
static int redact_entry_cmp(const void *a, const void *b)
{
	const struct redact_entry *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t redact_pack4(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* See util.h. */
struct sw_redactor *sw_redactor_new(const char *const *secrets)
{
	struct sw_redactor *r = calloc(1, sizeof(*r));
	size_t n = 0;

	if (r == NULL)
		return NULL;
	while (secrets != NULL && secrets[n] != NULL)
		n++;
	if (n > 0 && ((r->e = calloc(n, sizeof(*r->e))) == NULL || (r->prefix = calloc(n, sizeof(*r->prefix))) == NULL)) {
		sw_redactor_free(r);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(secrets[i]);
		if (l == 0)
			continue;
		r->e[r->n++] = (struct redact_entry){secrets[i], l, i};
		if (l < 4)
			r->has_short = true;
		else
			r->prefix[r->n_prefix++] = redact_pack4(secrets[i]);
	}
	if (r->n > 1)
		qsort(r->e, r->n, sizeof(*r->e), redact_entry_cmp);
	if (r->n_prefix > 1)
		qsort(r->prefix, r->n_prefix, sizeof(*r->prefix), u32_cmp);
	return r;
}

/* See util.h. */
void sw_redactor_free(struct sw_redactor *r)
{
	if (r == NULL)
		return;
	free(r->e);
	free(r->prefix);
	free(r);
}

/* See util.h.  A line holds a secret only if one of its 4-byte windows is
 * the start of one: one pass with a binary search per byte settles the
 * usual case (no secret in it) without a strstr per secret.  Otherwise
 * every secret, longest first, so a secret that contains another (a URL
 * and its path) goes as a whole. */
size_t sw_redactor_apply(const struct sw_redactor *r, char *text, size_t size)
{
	size_t count = 0;

	if (r == NULL || text == NULL || size == 0 || r->n == 0)
		return 0;
	if (!r->has_short) {
		size_t len = strnlen(text, size);
		bool maybe = false;

		for (size_t i = 0; i + 4 <= len && !maybe; i++) {
			uint32_t k = redact_pack4(text + i);
			maybe = bsearch(&k, r->prefix, r->n_prefix, sizeof(k), u32_cmp) != NULL;
		}
		if (!maybe)
			return 0;
	}
	for (size_t i = 0; i < r->n; i++)
		count += redact_one(text, size, r->e[i].s);
	return count;
}

/* See util.h. */
size_t sw_redact(char *text, size_t size, const char *const *secrets)
{
	struct sw_redactor *r;
	size_t count = 0;

	if (text == NULL || size == 0 || secrets == NULL)
		return 0;
	r = sw_redactor_new(secrets);
	if (r != NULL) {
		count = sw_redactor_apply(r, text, size);
		sw_redactor_free(r);
		return count;
	}
	/* No memory for the order: every one, as listed. */
	for (size_t i = 0; secrets[i] != NULL; i++)
		count += secrets[i][0] ? redact_one(text, size, secrets[i]) : 0;
	return count;
}

/* State of one sw_ini_parse run, shared by the inih reader and handler. */
struct ini_ctx {
	FILE *f;
	const char *path;
	const struct sw_ini_handler *h;
	void *user;
	struct sw_diag *diag;
	char *buf;
	size_t bufcap;
	int line;
	char *section; /* current section name, NULL before the first */
	bool skip;     /* the current section header was malformed */
	int errors;
	int read_errno;
};

/* Report a syntax error at the current line. */
static void ini_error(struct ini_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ini_error(struct ini_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sw_diag_addv(x->diag, false, x->path, x->line, fmt, ap);
	va_end(ap);
	x->errors++;
}

/* A section header line (s trimmed, starting with '['). */
static void ini_section(struct ini_ctx *x, char *s)
{
	char *close = strchr(s, ']');
	char *rest, *name;

	free(x->section);
	x->section = NULL;
	x->skip = true;
	if (close == NULL) {
		ini_error(x, "malformed section header (no \"]\")");
		return;
	}
	rest = close + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		ini_error(x, "unexpected text after \"]\" in section header");
		return;
	}
	*close = '\0';
	name = sw_strtrim(s + 1);
	if (*name == '\0') {
		ini_error(x, "empty section name \"[]\"");
		return;
	}
	x->section = strdup(name);
	if (x->section == NULL) {
		ini_error(x, "out of memory");
		return;
	}
	x->skip = false;
	if (x->h->section != NULL)
		x->h->section(x->user, x->line, x->section);
}

/* inih reader: one whole line per call, counted.  Section headers and
 * malformed lines are handled here; inih sees only key lines (others are
 * passed as empty lines), already left-trimmed so it never treats an
 * indented line as a continuation of the previous value. */
static char *ini_reader_cb(char *str, int num, void *stream)
{
	struct ini_ctx *x = stream;
	ssize_t len;
	char *s, *sep;

	errno = 0;
	len = getline(&x->buf, &x->bufcap, x->f);
	if (len < 0) {
		if (ferror(x->f))
			x->read_errno = errno ? errno : EIO;
		return NULL;
	}
	x->line++;
	str[0] = '\0';
	while (len > 0 && (x->buf[len - 1] == '\n' || x->buf[len - 1] == '\r'))
		x->buf[--len] = '\0';
	if (len + 1 > SW_INI_MAX_LINE || len + 1 > num) {
		ini_error(x, "line too long (over %d bytes)", SW_INI_MAX_LINE);
		return str;
	}
	if (memchr(x->buf, '\0', (size_t)len) != NULL) {
		ini_error(x, "NUL byte in line");
		return str;
	}
	s = x->buf;
	if (x->line == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s = sw_strtrim(s);
	if (*s == '\0' || *s == ';' || *s == '#')
		return str;
	if (*s == '[') {
		ini_section(x, s);
		return str;
	}
	/* the separator must come before any " ;" comment, as inih sees it */
	sep = s + strcspn(s, "=:");
	for (char *p = s + 1; *p && p < sep; p++) {
		if (*p == ';' && isspace((unsigned char)p[-1])) {
			sep = p;
			break;
		}
	}
	if (*sep != '=' && *sep != ':') {
		ini_error(x, "expected \"key = value\"");
		return str;
	}
	memcpy(str, s, strlen(s) + 1);
	return str;
}

/* inih handler: pass the key on with its line and full section name. */
static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;

	(void)section; /* inih truncates section names to 49 bytes */
	if (x->skip)
		return 1;
	if (*name == '\0') {
		ini_error(x, "missing key name before \"=\"");
		return 1;
	}
	if (x->section == NULL) {
		ini_error(x, "key \"%s\" is outside of any [section]", name);
		return 1;
	}
	x->h->key(x->user, x->line, x->section, name, value);
	return 1;
}

/* Parse an INI file with line numbers (see util.h). */
int sw_ini_parse(const char *path, const struct sw_ini_handler *h, void *user, struct sw_diag *diag)
{
	struct ini_ctx x = { .path = path, .h = h, .user = user, .diag = diag };
	int r;

	x.f = fopen(path, "re");
	if (x.f == NULL) {
		r = -errno;
		sw_diag_add(diag, false, path, 0, "cannot read: %s", strerror(-r));
		return r;
	}
	r = ini_parse_stream(ini_reader_cb, &x, ini_handler_cb, &x);
	if (r == -2) {
		r = -ENOMEM;
		sw_diag_add(diag, false, path, x.line, "out of memory");
		goto done;
	}
	if (x.read_errno != 0) {
		r = -x.read_errno;
		sw_diag_add(diag, false, path, 0, "cannot read: %s", strerror(x.read_errno));
		goto done;
	}
	r = x.errors;
done:
	fclose(x.f);
	free(x.buf);
	free(x.section);
	return r;
}

/* See util.h. */
const char *sw_utf8_next(const char *p)
{
	static const unsigned least[] = {0, 0x80, 0x800, 0x10000}; /* by continuation bytes */
	const unsigned char *s = (const unsigned char *)p;
	unsigned c = *s++, cp, n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, cp = c & 0x07;
	else
		return NULL;
	for (unsigned i = 0; i < n; i++, s++) {
		if ((*s & 0xc0) != 0x80)
			return NULL;
		cp = cp << 6 | (*s & 0x3f);
	}
	if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return NULL;
	return (const char *)s;
}

/* See util.h. */
bool sw_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);

	for (;;) {
		/* Eight ASCII bytes at a time (none with its high bit set), within
		 * the string: most text is ASCII, and a long `alerts` reply
		 * checks every stored evidence and string. */
		uint64_t w;
		while (end - s >= (ptrdiff_t)sizeof(w)) {
			memcpy(&w, s, sizeof(w));
			if (w & 0x8080808080808080ULL)
				break;
			s += sizeof(w);
		}
		if (*s == 0)
			break;
		if (*s < 0x80) {
			s++;
			continue;
		}
		const char *next = sw_utf8_next((const char *)s);
		if (next == NULL)
			return false;
		s = (const unsigned char *)next;
	}
	return true;
}
