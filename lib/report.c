/* report.c: the SMTP AUTH clients report CSV -> rows (see report.h).
 *
 * Two stages.  The first assembles records from the byte stream: a newline
 * ends a record unless it is inside quotes, and a quote opens quoting only
 * at the start of a field, so a stray inch sign in a value cannot swallow
 * the rest of the file.  The second splits a record into fields with the
 * file's delimiter, which is guessed from the header record (the first
 * record whose cells name a sender and a message count; a few title lines
 * before it are skipped). */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Records before the header that are tolerated (titles, notes). */
#define REPORT_PREAMBLE_MAX 10
/* The longest period one row may cover. */
#define REPORT_MAX_SPAN_DAYS 400

struct sw_report_parser {
	char source[256];
	int64_t default_day;
	EVP_MD_CTX *md;
	struct sw_report r;

	unsigned char head[3]; /* the first bytes, until the BOM is decided */
	size_t nhead;
	bool head_done;

	struct sw_buf rec; /* the record being assembled */
	int rec_line;      /* line where it started */
	struct sw_csv_scan scan;
	bool rec_started;
	int line;          /* current physical line, 1-based */
	int preamble;      /* non-blank records before the header */
	char first_record[240]; /* the first non-blank record, for the rejection message */
	bool header_found;
	bool failed;

	/* Distinct senders so far, as 64-bit hashes (open addressing, 0 =
	 * empty): counting needs no strings, and a collision can only
	 * undercount by one in billions. */
	uint64_t *senders;
	size_t senders_cap, n_senders;
};

static const char *const col_names[SW_COL_COUNT_] = {
	[SW_COL_SENDER] = "sender",   [SW_COL_MESSAGES] = "messages", [SW_COL_DOMAIN] = "domain",
	[SW_COL_TLS10] = "tls10",     [SW_COL_TLS11] = "tls11",       [SW_COL_TLS12] = "tls12",
	[SW_COL_AUTH] = "auth",       [SW_COL_DATE] = "date",         [SW_COL_START] = "start_date",
	[SW_COL_END] = "end_date",
};

/* See report.h. */
const char *sw_report_col_name(enum sw_report_col c)
{
	return c >= 0 && c < SW_COL_COUNT_ ? col_names[c] : "?";
}

static const struct sw_name auth_names[] = {
	{ SW_AUTH_UNKNOWN, "unknown" },
	{ SW_AUTH_BASIC, "basic" },
	{ SW_AUTH_OAUTH, "oauth" },
	{ 0, NULL },
};

/* See report.h. */
SW_DEFINE_NAME_LOOKUP(sw_report_auth_name, sw_report_auth_parse, enum sw_report_auth, auth_names, "unknown")

/* See report.h. */
void sw_report_normalize(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s != '\0' && k + 1 < n; s++)
		if (isalnum((unsigned char)*s))
			out[k++] = (char)tolower((unsigned char)*s);
	out[k] = '\0';
}

/* Is n one of the NULL-terminated words? */
static bool is_one_of(const char *n, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(n, *words) == 0)
			return true;
	return false;
}

/* See report.h.  The order of the tests matters: "Sender domain" is a
 * domain, "Period start" a start date, "Messages sent" a count. */
int sw_report_header_match(const char *cell)
{
	static const char *const start_eq[] = {"from", "fromdate", "datefrom", "begin", NULL};
	static const char *const end_eq[] = {"end", "to", "todate", "dateto", "until", "dateuntil", NULL};
	static const char *const date_eq[] = {"week", "range", "timerange", "timeframe", "timespan", NULL};
	static const char *const count_eq[] = {"sent", "total", "mails", "emails", "volume", "mailssent",
	                                       "emailssent", NULL};
	static const char *const sender_eq[] = {"user", "email", "username", "account", "sendername", "smtpuser",
	                                        "login", NULL};
	char n[128];
	const char *p;

	if (cell == NULL || strchr(cell, '@') != NULL)
		return -1;
	sw_report_normalize(cell, n, sizeof(n));
	if (n[0] == '\0')
		return -1;
	if ((p = strstr(n, "tls")) != NULL) {
		p += 3;
		if (*p == 'v')
			p++;
		if (strncmp(p, "10", 2) == 0)
			return SW_COL_TLS10;
		if (strncmp(p, "11", 2) == 0)
			return SW_COL_TLS11;
		if (strncmp(p, "12", 2) == 0)
			return SW_COL_TLS12;
		return -1;
	}
	if (strstr(n, "domain") != NULL)
		return SW_COL_DOMAIN;
	if (strstr(n, "auth") != NULL || strstr(n, "protocol") != NULL)
		return SW_COL_AUTH;
	if (strstr(n, "start") != NULL || strstr(n, "begin") != NULL || is_one_of(n, start_eq))
		return SW_COL_START;
	if (strstr(n, "enddate") != NULL || strstr(n, "periodend") != NULL || is_one_of(n, end_eq))
		return SW_COL_END;
	if (strstr(n, "date") != NULL || strstr(n, "period") != NULL || strstr(n, "day") != NULL ||
	    is_one_of(n, date_eq))
		return SW_COL_DATE;
	if (strstr(n, "message") != NULL || strstr(n, "count") != NULL || is_one_of(n, count_eq))
		return SW_COL_MESSAGES;
	if (strstr(n, "sender") != NULL || strstr(n, "address") != NULL || strstr(n, "upn") != NULL ||
	    strstr(n, "userprincipalname") != NULL || strstr(n, "mailbox") != NULL || is_one_of(n, sender_eq))
		return SW_COL_SENDER;
	return -1;
}

/* Copy s without white space (ASCII, NBSP, narrow NBSP, thin space) and
 * apostrophes (Swiss thousands); -EINVAL if it does not fit. */
static int squeeze_number(const char *s, char *out, size_t n)
{
	size_t k = 0;
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		if (isspace(*p) || *p == '\'') {
			p++;
		} else if (p[0] == 0xc2 && p[1] == 0xa0) {
			p += 2;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xaf || p[2] == 0x89)) {
			p += 3;
		} else {
			if (k + 1 >= n)
				return -EINVAL;
			out[k++] = (char)*p++;
		}
	}
	out[k] = '\0';
	return 0;
}

/* See report.h.  The last separator is a thousands separator when exactly
 * three digits follow it ("1,234", "1.234"), otherwise a decimal point
 * whose fraction must be zero ("12.0", "12,00"). */
int sw_report_parse_count(const char *s, int64_t *ret)
{
	char b[64], digits[64];
	size_t k = 0;
	int64_t v = 0;

	if (s == NULL || squeeze_number(s, b, sizeof(b)) < 0 || b[0] == '\0')
		return -EINVAL;
	char *last = strrchr(b, ',');
	char *dot = strrchr(b, '.');
	if (dot != NULL && (last == NULL || dot > last))
		last = dot;
	if (last != NULL) {
		size_t frac = strlen(last + 1);
		if (frac != 3 || strspn(last + 1, "0123456789") != 3) {
			if (strspn(last + 1, "0") != frac)
				return -EINVAL;
			*last = '\0';
		}
	}
	for (const char *p = b; *p != '\0'; p++) {
		if (*p == ',' || *p == '.')
			continue;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		digits[k++] = *p;
	}
	digits[k] = '\0';
	if (k == 0 || k > 15)
		return -EINVAL;
	for (size_t i = 0; i < k; i++)
		v = v * 10 + (digits[i] - '0');
	*ret = v;
	return 0;
}

/* See report.h. */
int sw_report_parse_percent(const char *s, double *ret)
{
	char b[64], *end;
	size_t len;
	double v;

	if (s == NULL || squeeze_number(s, b, sizeof(b)) < 0)
		return -EINVAL;
	len = strlen(b);
	if (len > 0 && b[len - 1] == '%')
		b[--len] = '\0';
	if (len == 0)
		return -EINVAL;
	if (strchr(b, '.') == NULL) {
		char *comma = strchr(b, ',');
		if (comma != NULL && strchr(comma + 1, ',') == NULL)
			*comma = '.';
	}
	if (strspn(b, "0123456789.") != len || b[0] == '.')
		return -EINVAL;
	v = strtod(b, &end);
	if (*end != '\0' || !isfinite(v) || v < 0 || v > 100.0001)
		return -EINVAL;
	*ret = v > 100 ? 100 : v;
	return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Is y-m-d a real day (1970..2199)? */
static bool valid_ymd(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1970 || y > 2199 || m < 1 || m > 12 || d < 1)
		return false;
	int max = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return d <= max;
}

/* Read 1..max digits. */
static bool read_num(const char **p, int max, int *ret)
{
	int v = 0, k = 0;

	while (k < max && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		k++;
	}
	*ret = v;
	return k > 0;
}

/* One date at the start of s (ISO, US slashes, European dots, year first
 * with slashes), followed by nothing or a time; 00:00Z of it. */
int sw_report_parse_day(const char *s, int64_t *ret)
{
	const char *p = s;
	int a, b, c, y, m, d;

	while (*p == ' ')
		p++;
	if (!read_num(&p, 4, &a))
		return -EINVAL;
	if ((*p == '-' || *p == '/') && p - s >= 4) {
		char sep = *p++;
		y = a;
		if (!read_num(&p, 2, &m) || *p++ != sep || !read_num(&p, 2, &d))
			return -EINVAL;
	} else if (*p == '/' || *p == '.') {
		char sep = *p++;
		if (!read_num(&p, 2, &b) || *p++ != sep || !read_num(&p, 4, &c))
			return -EINVAL;
		y = c < 100 ? 2000 + c : c;
		if (sep == '.' || a > 12) {
			d = a;
			m = b;
		} else {
			m = a;
			d = b;
		}
	} else {
		return -EINVAL;
	}
	/* A time may follow ("2026-11-20T00:00:00Z", "11/20/2026 12:00:00 AM"). */
	if (*p != '\0' && *p != 'T' && *p != ' ')
		return -EINVAL;
	if (*p == ' ') {
		while (*p == ' ')
			p++;
		if (*p != '\0' && !isdigit((unsigned char)*p))
			return -EINVAL;
	}
	if (!valid_ymd(y, m, d))
		return -EINVAL;
	*ret = days_from_civil(y, (unsigned)m, (unsigned)d) * SW_DAY;
	return 0;
}

/* Parse "A<sep>B" at every position of sep as two days. */
static int parse_range_at(const char *s, const char *sep, int64_t *ret_a, int64_t *ret_b)
{
	size_t sl = strlen(sep);
	char left[64];

	for (const char *q = strstr(s, sep); q != NULL; q = strstr(q + 1, sep)) {
		size_t ll = (size_t)(q - s);
		if (ll == 0 || ll >= sizeof(left))
			continue;
		memcpy(left, s, ll);
		left[ll] = '\0';
		sw_strtrim(left);
		/* "/" joins ISO dates only: US dates use it inside. */
		if (strcmp(sep, "/") == 0 && (strlen(left) < 10 || left[4] != '-'))
			continue;
		if (sw_report_parse_day(left, ret_a) == 0 && sw_report_parse_day(q + sl, ret_b) == 0)
			return 0;
	}
	return -EINVAL;
}

/* See report.h. */
int sw_report_parse_period(const char *s, int64_t *ret_start, int64_t *ret_end)
{
	static const char *const seps[] = {" - ", " \xe2\x80\x93 ", " to ", " TO ", " To ", "..", " through ",
	                                   "/", " -", "- ", NULL};
	char b[128];
	int64_t a, z;

	if (s == NULL || strlen(s) >= sizeof(b))
		return -EINVAL;
	snprintf(b, sizeof(b), "%s", s);
	sw_strtrim(b);
	if (b[0] == '\0')
		return -EINVAL;
	if (sw_report_parse_day(b, &a) == 0) {
		*ret_start = a;
		*ret_end = a + SW_DAY;
		return 0;
	}
	for (size_t i = 0; seps[i] != NULL; i++) {
		if (parse_range_at(b, seps[i], &a, &z) == 0) {
			if (z < a || (z - a) / SW_DAY >= REPORT_MAX_SPAN_DAYS)
				return -ERANGE;
			*ret_start = a;
			*ret_end = z + SW_DAY;
			return 0;
		}
	}
	return -EINVAL;
}

/* See report.h. */
int sw_report_parse_auth(const char *s, enum sw_report_auth *ret)
{
	static const char *const basic[] = {"basic", "basicauth", "basicauthentication", "legacy", "legacyauth",
	                                    "plain", "login", "authlogin", "authplain", NULL};
	static const char *const oauth[] = {"oauth", "oauth2", "oauth20", "xoauth2", "modern", "modernauth",
	                                    "modernauthentication", "oauth2authentication", "oauthauthentication",
	                                    "token", NULL};
	static const char *const unknown[] = {"", "unknown", "na", "none", "null", NULL};
	char n[64];

	sw_report_normalize(s ? s : "", n, sizeof(n));
	if (is_one_of(n, unknown))
		*ret = SW_AUTH_UNKNOWN;
	else if (is_one_of(n, basic))
		*ret = SW_AUTH_BASIC;
	else if (is_one_of(n, oauth))
		*ret = SW_AUTH_OAUTH;
	else
		return -EINVAL;
	return 0;
}

/* See report.h. */
void sw_report_clear(struct sw_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->rows[i].sender);
		free(r->rows[i].domain);
	}
	free(r->rows);
	free(r->problems);
	for (int i = 0; i < SW_COL_COUNT_; i++)
		free(r->header_text[i]);
	memset(r, 0, sizeof(*r));
}

/* See report.h. */
void sw_csv_problem_addv(struct sw_error **v, size_t *n, size_t *cap, const char *source, int line, bool warning,
                         const char *fmt, va_list ap)
{
	if (*n >= SW_REPORT_MAX_PROBLEMS)
		return;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct sw_error *nv = realloc(*v, c * sizeof(*nv));
		if (nv == NULL)
			return;
		*v = nv;
		*cap = c;
	}
	struct sw_error *e = &(*v)[(*n)++];
	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%s", source);
	e->line = line;
	e->warning = warning;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
}

/* Record a problem of one line. */
static void add_problem(struct sw_report_parser *p, int line, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_problem(struct sw_report_parser *p, int line, bool warning, const char *fmt, ...)
{
	struct sw_report *r = &p->r;
	va_list ap;

	if (warning)
		r->n_warnings++;
	else
		r->n_rejected++;
	va_start(ap, fmt);
	sw_csv_problem_addv(&r->problems, &r->n_problems, &r->cap_problems, p->source, line, warning, fmt, ap);
	va_end(ap);
}

/* Fields of one record. */
/* See report.h. */
void sw_csv_fields_clear(struct sw_csv_fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int fields_add(struct sw_csv_fields *f, const char *s, size_t len)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		char **n = realloc(f->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		f->v = n;
		f->cap = cap;
	}
	char *c = strndup(s, len);
	if (c == NULL)
		return -ENOMEM;
	sw_strtrim(c);
	f->v[f->n++] = c;
	return 0;
}

/* See report.h. */
int sw_csv_split(const char *rec, size_t len, char delim, struct sw_csv_fields *ret)
{
	struct sw_buf cell = {0};
	size_t i = 0;
	int r = 0;

	if (len > 0 && rec[len - 1] == '\r')
		len--;
	for (;;) {
		bool quoted = false;
		cell.len = 0;
		r = sw_buf_append(&cell, "", 0);
		while (r == 0 && i < len && (rec[i] == ' ' || rec[i] == '\t') && rec[i] != delim)
			i++;
		if (i < len && rec[i] == '"') {
			quoted = true;
			i++;
		}
		while (r == 0 && i < len) {
			char c = rec[i];
			if (quoted) {
				if (c == '"' && i + 1 < len && rec[i + 1] == '"') {
					r = sw_buf_putc(&cell, '"');
					i += 2;
					continue;
				}
				if (c == '"') {
					quoted = false;
					i++;
					continue;
				}
			} else if (c == delim) {
				break;
			}
			r = sw_buf_putc(&cell, c);
			i++;
		}
		if (r == 0)
			r = fields_add(ret, cell.data, cell.len);
		if (r < 0 || i >= len)
			break;
		i++; /* the delimiter */
	}
	sw_buf_clear(&cell);
	return r;
}

/* See report.h. */
char sw_csv_guess_delimiter(const char *rec, size_t len)
{
	size_t comma = 0, semi = 0, tab = 0;
	bool q = false;

	for (size_t i = 0; i < len; i++) {
		if (rec[i] == '"')
			q = !q;
		else if (!q && rec[i] == ',')
			comma++;
		else if (!q && rec[i] == ';')
			semi++;
		else if (!q && rec[i] == '\t')
			tab++;
	}
	if (semi > comma && semi >= tab)
		return ';';
	if (tab > comma && tab > semi)
		return '\t';
	return ',';
}

/* See report.h.  A quote opens quoting only at the start of a field, so a
 * stray inch sign in a value cannot swallow the rest of the file. */
void sw_csv_scan_reset(struct sw_csv_scan *s, char delim)
{
	memset(s, 0, sizeof(*s));
	s->delim = delim;
	s->field_start = true;
}

/* See report.h. */
bool sw_csv_scan_byte(struct sw_csv_scan *s, char c)
{
	if (s->after_quote) {
		s->after_quote = false;
		if (c == '"') { /* "" inside quotes */
			s->in_quotes = true;
			return false;
		}
	}
	if (s->in_quotes) {
		if (c == '"') {
			s->in_quotes = false;
			s->after_quote = true;
		}
		return false;
	}
	if (c == '"' && s->field_start) {
		s->in_quotes = true;
		s->field_start = false;
	} else if (c == '\n') {
		s->field_start = true;
		return true;
	} else if (s->delim ? c == s->delim : (c == ',' || c == ';' || c == '\t')) {
		s->field_start = true;
	} else if (c != ' ') {
		s->field_start = false;
	}
	return false;
}

/* Is every field empty? */
static bool blank_record(const struct sw_csv_fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i][0] != '\0')
			return false;
	return true;
}

/* Valid UTF-8 without control characters or spaces? */
static bool clean_address(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int k;
		if (*p <= 0x20 || *p == 0x7f || *p == ',' || *p == ';' || *p == '"')
			return false;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
			k = 1;
		else if ((*p & 0xf0) == 0xe0)
			k = 2;
		else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
			k = 3;
		else
			return false;
		p++;
		for (int j = 0; j < k; j++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Try a record as the header: 1 when it has sender and message columns. */
static int try_header(struct sw_report_parser *p, const struct sw_csv_fields *f, char delim)
{
	int cols[SW_COL_COUNT_];

	for (int i = 0; i < SW_COL_COUNT_; i++)
		cols[i] = -1;
	for (size_t i = 0; i < f->n; i++) {
		int c = sw_report_header_match(f->v[i]);
		if (c >= 0 && cols[c] < 0)
			cols[c] = (int)i;
	}
	if (cols[SW_COL_SENDER] < 0 || cols[SW_COL_MESSAGES] < 0)
		return 0;
	/* An end date alone is taken as the day. */
	if (cols[SW_COL_END] >= 0 && cols[SW_COL_START] < 0 && cols[SW_COL_DATE] < 0) {
		cols[SW_COL_DATE] = cols[SW_COL_END];
		cols[SW_COL_END] = -1;
	}
	memcpy(p->r.columns, cols, sizeof(cols));
	for (int i = 0; i < SW_COL_COUNT_; i++)
		if (cols[i] >= 0 && (p->r.header_text[i] = strdup(f->v[cols[i]])) == NULL)
			return -ENOMEM;
	p->r.delimiter = delim;
	p->r.header_line = p->rec_line;
	p->header_found = true;
	return 1;
}

/* The cell of column c, "" when the column is absent or the row short. */
static const char *cell(const struct sw_report_parser *p, const struct sw_csv_fields *f, enum sw_report_col c)
{
	int i = p->r.columns[c];

	return i >= 0 && (size_t)i < f->n ? f->v[i] : "";
}

/* Parse an optional percentage cell into *ret (-1 when empty). */
static int opt_percent(struct sw_report_parser *p, const struct sw_csv_fields *f, enum sw_report_col c, double *ret)
{
	const char *s = cell(p, f, c);

	*ret = -1;
	if (s[0] == '\0' || strcmp(s, "-") == 0 || strcasecmp(s, "n/a") == 0)
		return 0;
	if (sw_report_parse_percent(s, ret) < 0) {
		add_problem(p, p->rec_line, false, "%s \"%.40s\" is not a percentage (0 to 100)",
		            p->r.header_text[c], s);
		return -EINVAL;
	}
	return 0;
}

/* Append a row (takes sender and domain). */
static int add_row(struct sw_report *r, struct sw_report_row *row)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct sw_report_row *n = realloc(r->rows, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		r->rows = n;
		r->cap = cap;
	}
	r->rows[r->n++] = *row;
	return 0;
}

/* FNV-1a, never 0. */
static uint64_t sender_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ? h : 1;
}

/* Insert h into a table of cap slots (a power of two, never full). */
static bool sender_insert(uint64_t *tab, size_t cap, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	while (tab[i] != 0) {
		if (tab[i] == h)
			return false;
		i = (i + 1) & (cap - 1);
	}
	tab[i] = h;
	return true;
}

/* Count sender among the distinct ones; -ENOMEM. */
static int sender_count(struct sw_report_parser *p, const char *sender)
{
	if (2 * (p->n_senders + 1) > p->senders_cap) {
		size_t cap = p->senders_cap ? 2 * p->senders_cap : 1024;
		uint64_t *tab = calloc(cap, sizeof(*tab));
		if (tab == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < p->senders_cap; i++)
			if (p->senders[i] != 0)
				sender_insert(tab, cap, p->senders[i]);
		free(p->senders);
		p->senders = tab;
		p->senders_cap = cap;
	}
	if (sender_insert(p->senders, p->senders_cap, sender_hash(sender)))
		p->n_senders++;
	return 0;
}

/* One data record -> a row, or a rejected line. */
static int data_record(struct sw_report_parser *p, const struct sw_csv_fields *f)
{
	struct sw_report_row row = {.line = p->rec_line};
	const char *sender = cell(p, f, SW_COL_SENDER);
	const char *count = cell(p, f, SW_COL_MESSAGES);
	char lsender[320];
	int r;

	snprintf(lsender, sizeof(lsender), "%s", sender);
	sw_strlower(lsender);
	/* A totals line at the end of an export is not a sender. */
	if (strcmp(lsender, "total") == 0 || strcmp(lsender, "totals") == 0 || strcmp(lsender, "grand total") == 0)
		return 0;
	if (sender[0] == '\0') {
		add_problem(p, p->rec_line, false, "no sender address");
		return 0;
	}
	const char *at = strchr(lsender, '@');
	if (strlen(sender) >= sizeof(lsender) || at == NULL || at == lsender || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || !clean_address(lsender)) {
		add_problem(p, p->rec_line, false, "sender \"%.80s\" is not an e-mail address", sender);
		return 0;
	}
	if (count[0] == '\0') {
		add_problem(p, p->rec_line, false, "no message count for %s", lsender);
		return 0;
	}
	if (sw_report_parse_count(count, &row.messages) < 0) {
		add_problem(p, p->rec_line, false, "%s \"%.40s\" is not a whole number of messages",
		            p->r.header_text[SW_COL_MESSAGES], count);
		return 0;
	}
	if (opt_percent(p, f, SW_COL_TLS10, &row.tls10) < 0 || opt_percent(p, f, SW_COL_TLS11, &row.tls11) < 0 ||
	    opt_percent(p, f, SW_COL_TLS12, &row.tls12) < 0)
		return 0;
	const char *auth = cell(p, f, SW_COL_AUTH);
	if (sw_report_parse_auth(auth, &row.auth) < 0) {
		row.auth = SW_AUTH_UNKNOWN;
		add_problem(p, p->rec_line, true, "%s \"%.40s\" is neither Basic nor OAuth: counted as unknown",
		            p->r.header_text[SW_COL_AUTH], auth);
	}
	if (p->r.columns[SW_COL_DATE] >= 0 || p->r.columns[SW_COL_START] >= 0) {
		int64_t s0, e0, s1, e1;
		if (p->r.columns[SW_COL_START] >= 0) {
			const char *a = cell(p, f, SW_COL_START), *b = cell(p, f, SW_COL_END);
			r = sw_report_parse_period(a, &s0, &e0);
			if (r == 0 && b[0] != '\0') {
				r = sw_report_parse_period(b, &s1, &e1);
				e0 = e1;
				if (r == 0 && (e0 <= s0 || (e0 - s0) / SW_DAY > REPORT_MAX_SPAN_DAYS))
					r = -ERANGE;
			}
			if (r < 0) {
				add_problem(p, p->rec_line, false, "period \"%.40s\" to \"%.40s\" is not a date range", a, b);
				return 0;
			}
		} else {
			const char *d = cell(p, f, SW_COL_DATE);
			r = sw_report_parse_period(d, &s0, &e0);
			if (r < 0) {
				add_problem(p, p->rec_line, false, "%s \"%.60s\" is %s", p->r.header_text[SW_COL_DATE], d,
				            d[0] == '\0' ? "empty" : r == -ERANGE ? "not an ascending range of at most 400 days"
				                                                   : "not a date or date range");
				return 0;
			}
		}
		row.day_start = s0;
		row.day_end = e0;
		row.dated = true;
	} else {
		row.day_start = p->default_day / SW_DAY * SW_DAY;
		row.day_end = row.day_start + SW_DAY;
	}
	const char *dom = cell(p, f, SW_COL_DOMAIN);
	row.sender = strdup(lsender);
	row.domain = sw_strdup_lower(dom[0] != '\0' ? dom : at + 1);
	if (row.sender == NULL || row.domain == NULL || add_row(&p->r, &row) < 0) {
		free(row.sender);
		free(row.domain);
		return -ENOMEM;
	}
	return sender_count(p, lsender);
}

/* Reject the whole file. */
static int fail_file(struct sw_report_parser *p, struct sw_error *err, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_file(struct sw_report_parser *p, struct sw_error *err, int line, const char *fmt, ...)
{
	va_list ap;

	p->failed = true;
	if (err != NULL) {
		memset(err, 0, sizeof(*err));
		snprintf(err->source, sizeof(err->source), "%s", p->source);
		err->line = line;
		va_start(ap, fmt);
		vsnprintf(err->text, sizeof(err->text), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Why no header: which of the two required columns the first record lacks. */
static int fail_no_header(struct sw_report_parser *p, struct sw_error *err)
{
	if (p->first_record[0] == '\0')
		return fail_file(p, err, 0, "the file is empty: no header and no rows");
	return fail_file(p, err, 1, "no header with a sender address and a message count column in the first %d "
	                 "lines (first line: \"%s\"); expected columns such as \"Sender address\" and \"Messages sent\"",
	                 REPORT_PREAMBLE_MAX, p->first_record);
}

/* A complete record. */
static int end_record(struct sw_report_parser *p, struct sw_error *err)
{
	struct sw_csv_fields f = {0};
	const char *rec = p->rec.data ? p->rec.data : "";
	size_t len = p->rec.len;
	char delim = p->header_found ? p->r.delimiter : sw_csv_guess_delimiter(rec, len);
	int r = sw_csv_split(rec, len, delim, &f);

	if (r < 0)
		goto out;
	if (blank_record(&f))
		goto out;
	if (!p->header_found) {
		if (p->first_record[0] == '\0') {
			size_t k = 0;
			for (size_t i = 0; i < len && k + 4 < sizeof(p->first_record); i++) {
				unsigned char c = (unsigned char)rec[i];
				if (c == '\r')
					continue;
				p->first_record[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
			}
			p->first_record[k] = '\0';
		}
		r = try_header(p, &f, delim);
		if (r == 0 && ++p->preamble >= REPORT_PREAMBLE_MAX)
			r = fail_no_header(p, err);
		goto out;
	}
	r = data_record(p, &f);
	/* Checked as the rows come, so that a flood is refused after the
	 * first slices instead of being parsed, sorted and stored whole. */
	if (r == 0 && p->r.n > SW_REPORT_MAX_ROWS)
		r = fail_file(p, err, p->rec_line, "more than %d rows, the most one file may bring: nothing stored "
		              "from it; export a shorter period", SW_REPORT_MAX_ROWS);
	else if (r == 0 && p->n_senders > SW_REPORT_MAX_SENDERS)
		r = fail_file(p, err, p->rec_line, "more than %d distinct sender addresses, the most one file may "
		              "bring: nothing stored from it; split the file", SW_REPORT_MAX_SENDERS);
out:
	sw_csv_fields_clear(&f);
	p->rec.len = 0;
	p->rec_started = false;
	return r < 0 ? r : 0;
}

/* Stage one: assemble records from bytes. */
static int feed_bytes(struct sw_report_parser *p, const char *buf, size_t len, struct sw_error *err)
{
	size_t start = 0; /* bytes of buf not yet appended to rec */
	int r;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (!p->rec_started) {
			p->rec_started = true;
			p->rec_line = p->line;
			sw_csv_scan_reset(&p->scan, p->header_found ? p->r.delimiter : 0);
		}
		if (!sw_csv_scan_byte(&p->scan, c)) {
			if (c == '\n')
				p->line++;
		} else {
			if (sw_buf_append(&p->rec, buf + start, i - start) < 0)
				return -ENOMEM;
			start = i + 1;
			p->line++;
			p->r.lines++;
			if (i > 0 ? buf[i - 1] == '\r' : (p->rec.len > 0 && p->rec.data[p->rec.len - 1] == '\r'))
				p->r.crlf = true;
			r = end_record(p, err);
			if (r < 0)
				return r;
			if (p->header_found)
				p->scan.delim = p->r.delimiter;
			continue;
		}
		if (p->rec.len + (i - start) > SW_REPORT_MAX_RECORD)
			return fail_file(p, err, p->rec_line, "a record longer than %d bytes (an unterminated quote?)",
			                 SW_REPORT_MAX_RECORD);
	}
	if (sw_buf_append(&p->rec, buf + start, len - start) < 0)
		return -ENOMEM;
	if (p->rec.len > SW_REPORT_MAX_RECORD)
		return fail_file(p, err, p->rec_line, "a record longer than %d bytes (an unterminated quote?)",
		                 SW_REPORT_MAX_RECORD);
	return 0;
}

/* Decide on the first bytes: a UTF-8 BOM is dropped, UTF-16 refused. */
static int feed_head(struct sw_report_parser *p, struct sw_error *err)
{
	size_t skip = 0;

	p->head_done = true;
	if (p->nhead >= 2 && ((p->head[0] == 0xff && p->head[1] == 0xfe) || (p->head[0] == 0xfe && p->head[1] == 0xff)))
		return fail_file(p, err, 1, "the file is UTF-16 (Excel \"Unicode Text\"); export or save it as "
		                 "\"CSV UTF-8\"");
	if (p->nhead == 3 && p->head[0] == 0xef && p->head[1] == 0xbb && p->head[2] == 0xbf) {
		skip = 3;
		p->r.bom = true;
	}
	return feed_bytes(p, (const char *)p->head + skip, p->nhead - skip, err);
}

/* See report.h. */
int sw_report_parser_new(const char *source, int64_t default_day, struct sw_report_parser **ret)
{
	struct sw_report_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	snprintf(p->source, sizeof(p->source), "%s", source ? source : "<memory>");
	p->default_day = default_day;
	p->line = 1;
	for (int i = 0; i < SW_COL_COUNT_; i++)
		p->r.columns[i] = -1;
	p->md = EVP_MD_CTX_new();
	if (p->md == NULL || EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) != 1) {
		sw_report_parser_free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

/* See report.h. */
void sw_report_parser_free(struct sw_report_parser *p)
{
	if (p == NULL)
		return;
	EVP_MD_CTX_free(p->md);
	free(p->senders);
	sw_report_clear(&p->r);
	sw_buf_clear(&p->rec);
	free(p);
}

/* See report.h. */
int sw_report_parser_feed(struct sw_report_parser *p, const char *buf, size_t len, struct sw_error *err)
{
	if (p->failed)
		return -EINVAL;
	if (EVP_DigestUpdate(p->md, buf, len) != 1)
		return -ENOMEM;
	while (!p->head_done && len > 0) {
		p->head[p->nhead++] = (unsigned char)*buf++;
		len--;
		if (p->nhead == sizeof(p->head)) {
			int r = feed_head(p, err);
			if (r < 0)
				return r;
		}
	}
	if (len == 0)
		return 0;
	return feed_bytes(p, buf, len, err);
}

/* Order rows by their key (sender, auth, period), then line. */
static int row_cmp(const void *a, const void *b)
{
	const struct sw_report_row *x = a, *y = b;
	int c = strcmp(x->sender, y->sender);

	if (c != 0)
		return c;
	if (x->auth != y->auth)
		return x->auth < y->auth ? -1 : 1;
	if (x->day_start != y->day_start)
		return x->day_start < y->day_start ? -1 : 1;
	if (x->day_end != y->day_end)
		return x->day_end < y->day_end ? -1 : 1;
	return x->line - y->line;
}

/* Rows of one file with the same key are one observation: add them up
 * (the same sender listed under two domains, or a split export). */
static void merge_duplicates(struct sw_report_parser *p)
{
	struct sw_report *r = &p->r;
	size_t k = 0;

	if (r->n < 2)
		return;
	qsort(r->rows, r->n, sizeof(r->rows[0]), row_cmp);
	for (size_t i = 1; i < r->n; i++) {
		struct sw_report_row *a = &r->rows[k], *b = &r->rows[i];
		if (strcmp(a->sender, b->sender) == 0 && a->auth == b->auth && a->day_start == b->day_start &&
		    a->day_end == b->day_end) {
			/* TLS shares weighted by messages. */
			int64_t tot = a->messages + b->messages;
			double *pa[] = {&a->tls10, &a->tls11, &a->tls12}, *pb[] = {&b->tls10, &b->tls11, &b->tls12};
			for (int j = 0; j < 3; j++) {
				if (*pa[j] < 0 || *pb[j] < 0)
					*pa[j] = *pa[j] < 0 ? *pb[j] : *pa[j];
				else if (tot > 0)
					*pa[j] = (*pa[j] * (double)a->messages + *pb[j] * (double)b->messages) / (double)tot;
			}
			a->messages = tot;
			add_problem(p, b->line, true, "%s (%s) appears again for the same period as line %d: added together",
			            b->sender, sw_report_auth_name(b->auth), a->line);
			free(b->sender);
			free(b->domain);
			continue;
		}
		r->rows[++k] = *b;
	}
	r->n = k + 1;
}

/* See report.h. */
int sw_report_parser_finish(struct sw_report_parser *p, struct sw_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int r;

	if (p->failed)
		return -EINVAL;
	if (!p->head_done && (r = feed_head(p, err)) < 0)
		return r;
	if (p->rec_started || p->rec.len > 0) {
		if (p->scan.in_quotes)
			return fail_file(p, err, p->rec_line, "a quoted field is not closed at the end of the file");
		p->r.lines++;
		if ((r = end_record(p, err)) < 0)
			return r;
	}
	if (EVP_DigestFinal_ex(p->md, md, &mdlen) != 1)
		return -ENOMEM;
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(p->r.sha256 + 2 * i, 3, "%02x", md[i]);
	if (!p->header_found)
		return fail_no_header(p, err);
	merge_duplicates(p);
	if (p->r.n == 0) {
		const struct sw_error *e = p->r.n_problems > 0 ? &p->r.problems[0] : NULL;
		if (e != NULL && !e->warning)
			return fail_file(p, err, e->line, "no usable row: %zu line%s rejected, the first: %s",
			                 p->r.n_rejected, p->r.n_rejected == 1 ? "" : "s", e->text);
		return fail_file(p, err, p->r.header_line, "the header is there but no row follows");
	}
	return 0;
}

/* See report.h. */
struct sw_report *sw_report_parser_result(struct sw_report_parser *p)
{
	return &p->r;
}

/* See report.h. */
int sw_report_parse(const char *buf, size_t len, const char *source, int64_t default_day, struct sw_report *ret,
                    struct sw_error *err)
{
	struct sw_report_parser *p = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = sw_report_parser_new(source, default_day, &p);
	if (r < 0)
		return r;
	r = sw_report_parser_feed(p, buf, len, err);
	if (r >= 0)
		r = sw_report_parser_finish(p, err);
	*ret = p->r;
	memset(&p->r, 0, sizeof(p->r));
	sw_report_parser_free(p);
	return r;
}
