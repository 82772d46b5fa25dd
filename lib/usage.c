/* usage.c: the email app usage report CSV -> rows (see usage.h).  The
 * records and fields come from the CSV reading of report.c; this file
 * only knows the columns and values of this one report. */
#include "usage.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report.h"
#include "store_usage.h"

/* Records before the header that are tolerated (titles, notes). */
#define USAGE_PREAMBLE_MAX 10

enum usage_col {
	UC_REFRESH,
	UC_UPN,
	UC_SMTP,
	UC_LAST,
	UC_DELETED,
	UC_PERIOD,
	UC_COUNT_,
};

struct usage_parser {
	const char *source;
	int64_t today; /* 00:00Z of now */
	struct sw_usage *u;
	int cols[UC_COUNT_];
	char *head[UC_COUNT_]; /* the header cells as written */
	char delim;
	bool header_found;
	int preamble;
};

/* See usage.h. */
void sw_usage_clear(struct sw_usage *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->rows[i].upn);
	free(u->rows);
	free(u->problems);
	memset(u, 0, sizeof(*u));
}

/* Record a problem of one line. */
static void add_problem(struct usage_parser *p, int line, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_problem(struct usage_parser *p, int line, bool warning, const char *fmt, ...)
{
	struct sw_usage *u = p->u;
	va_list ap;

	if (warning)
		u->n_warnings++;
	else
		u->n_rejected++;
	va_start(ap, fmt);
	sw_csv_problem_addv(&u->problems, &u->n_problems, &u->cap_problems, p->source, line, warning, fmt, ap);
	va_end(ap);
}

/* Reject the whole file. */
static int fail_file(struct usage_parser *p, struct sw_error *err, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_file(struct usage_parser *p, struct sw_error *err, int line, const char *fmt, ...)
{
	va_list ap;

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

/* Classify one header cell; -1 for a column this parser does not read,
 * -2 for one it does not know (named once in a warning). */
static int header_match(const char *cell)
{
	static const char *const known[] = {"displayname", "deleteddate", "mailformac", "outlookformac",
	                                    "outlookforwindows", "outlookformobile", "otherformobile",
	                                    "outlookforweb", "pop3app", "imap4app", NULL};
	char n[128];

	sw_report_normalize(cell, n, sizeof(n));
	if (n[0] == '\0')
		return -1;
	if (strstr(n, "refresh") != NULL)
		return UC_REFRESH;
	if (strstr(n, "userprincipalname") != NULL || strcmp(n, "upn") == 0)
		return UC_UPN;
	if (strstr(n, "smtp") != NULL)
		return UC_SMTP;
	if (strstr(n, "lastactivity") != NULL)
		return UC_LAST;
	if (strcmp(n, "isdeleted") == 0 || strcmp(n, "deleted") == 0)
		return UC_DELETED;
	if (strstr(n, "reportperiod") != NULL || strcmp(n, "period") == 0)
		return UC_PERIOD;
	for (size_t i = 0; known[i] != NULL; i++)
		if (strcmp(n, known[i]) == 0)
			return -1;
	return -2;
}

/* Try a record as the header: 1 when it names the three required columns. */
static int try_header(struct usage_parser *p, const struct sw_csv_fields *f, int line)
{
	int cols[UC_COUNT_];
	char unknown[300] = "";
	size_t k = 0;

	for (int i = 0; i < UC_COUNT_; i++)
		cols[i] = -1;
	for (size_t i = 0; i < f->n; i++) {
		int c = header_match(f->v[i]);
		if (c >= 0 && cols[c] < 0)
			cols[c] = (int)i;
		else if (c == -2 && k + 4 < sizeof(unknown))
			k += (size_t)snprintf(unknown + k, sizeof(unknown) - k, "%s\"%.40s\"", k ? ", " : "", f->v[i]);
	}
	if (cols[UC_REFRESH] < 0 || cols[UC_UPN] < 0 || cols[UC_SMTP] < 0)
		return 0;
	for (int i = 0; i < UC_COUNT_; i++)
		if (cols[i] >= 0 && (p->head[i] = strdup(f->v[cols[i]])) == NULL)
			return -ENOMEM;
	memcpy(p->cols, cols, sizeof(cols));
	p->header_found = true;
	p->u->header_line = line;
	if (unknown[0] != '\0')
		add_problem(p, line, true, "columns not known in this report, ignored: %s", unknown);
	return 1;
}

/* The cell of column c, "" when absent or the row is short. */
static const char *cell(const struct usage_parser *p, const struct sw_csv_fields *f, enum usage_col c)
{
	int i = p->cols[c];

	return i >= 0 && (size_t)i < f->n ? f->v[i] : "";
}

/* See usage.h. */
int sw_usage_parse_app(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "1", "y", NULL};
	static const char *const no[] = {"", "no", "false", "0", "n", NULL};
	char n[64];
	int64_t day;

	if (s == NULL || strlen(s) >= sizeof(n))
		return -EINVAL;
	sw_report_normalize(s, n, sizeof(n));
	for (size_t i = 0; yes[i] != NULL; i++)
		if (strcmp(n, yes[i]) == 0 && strlen(s) < 8) {
			*ret = true;
			return 0;
		}
	for (size_t i = 0; no[i] != NULL; i++)
		if (strcmp(n, no[i]) == 0 && (n[0] != '\0' || s[strspn(s, " ")] == '\0' || strcmp(s, "-") == 0)) {
			*ret = false;
			return 0;
		}
	if (sw_report_parse_day(s, &day) == 0) {
		*ret = true;
		return 0;
	}
	return -EINVAL;
}

/* See usage.h. */
bool sw_usage_concealed_name(const char *upn)
{
	size_t n = 0;

	if (upn == NULL || strchr(upn, '@') != NULL)
		return false;
	for (const char *c = upn; *c != '\0'; c++, n++)
		if (!isxdigit((unsigned char)*c))
			return false;
	return n >= 16 && n <= 128;
}

/* Valid UTF-8, no controls, spaces or separators. */
static bool clean_address(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int k;
		if (*p <= 0x20 || *p == 0x7f || *p == ',' || *p == ';' || *p == '"' || *p == '<' || *p == '>')
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

/* Append a row (takes upn). */
static int add_row(struct sw_usage *u, const struct sw_usage_row *row)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		struct sw_usage_row *n = realloc(u->rows, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		u->rows = n;
		u->cap = cap;
	}
	u->rows[u->n++] = *row;
	return 0;
}

/* One data record -> a row, a concealed count, or a rejected line. */
static int data_record(struct usage_parser *p, const struct sw_csv_fields *f, int line)
{
	struct sw_usage_row row = {.line = line};
	const char *upn = cell(p, f, UC_UPN), *refresh = cell(p, f, UC_REFRESH), *smtp = cell(p, f, UC_SMTP);
	const char *last = cell(p, f, UC_LAST), *del = cell(p, f, UC_DELETED), *period = cell(p, f, UC_PERIOD);
	char lupn[320];

	if (sw_report_parse_day(refresh, &row.refresh_day) < 0) {
		add_problem(p, line, false, "%s \"%.40s\" is %s", p->head[UC_REFRESH], refresh,
		            refresh[0] ? "not a date" : "empty");
		return 0;
	}
	if (row.refresh_day > p->today) {
		add_problem(p, line, false, "%s \"%.40s\" is in the future: row not used", p->head[UC_REFRESH], refresh);
		return 0;
	}
	if (sw_usage_parse_app(smtp, &row.smtp) < 0) {
		add_problem(p, line, false, "%s \"%.40s\" is not understood (expected Yes/No, True/False, 1/0, a date "
		            "or empty): row not used", p->head[UC_SMTP], smtp);
		return 0;
	}
	if (last[0] != '\0' && sw_report_parse_day(last, &row.last_activity) < 0) {
		add_problem(p, line, true, "%s \"%.40s\" is not a date: ignored", p->head[UC_LAST], last);
		row.last_activity = 0;
	}
	if (del[0] != '\0' && sw_usage_parse_app(del, &row.deleted) < 0)
		add_problem(p, line, true, "%s \"%.40s\" is not understood: taken as not deleted", p->head[UC_DELETED], del);
	if (period[0] != '\0') {
		long v = strtol(period, NULL, 10);
		row.period_days = v > 0 && v <= 365 ? (int)v : 0;
	}
	if (sw_usage_concealed_name(upn)) {
		p->u->n_concealed++;
		if (row.smtp)
			p->u->n_concealed_smtp++;
		if (row.refresh_day > p->u->refresh_day)
			p->u->refresh_day = row.refresh_day;
		return 0;
	}
	snprintf(lupn, sizeof(lupn), "%s", upn);
	sw_strlower(lupn);
	const char *at = strchr(lupn, '@');
	if (upn[0] == '\0' || strlen(upn) >= sizeof(lupn) || at == NULL || at == lupn || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || !clean_address(lupn)) {
		add_problem(p, line, false, "%s \"%.80s\" is neither an address nor a concealed name", p->head[UC_UPN],
		            upn);
		return 0;
	}
	if (p->u->n >= SW_USAGE_MAX_ROWS)
		return -E2BIG;
	row.upn = strdup(lupn);
	if (row.upn == NULL || add_row(p->u, &row) < 0) {
		free(row.upn);
		return -ENOMEM;
	}
	if (row.smtp)
		p->u->n_smtp++;
	if (row.refresh_day > p->u->refresh_day)
		p->u->refresh_day = row.refresh_day;
	return 0;
}

/* One complete record (without its newline). */
static int end_record(struct usage_parser *p, const char *rec, size_t len, int line, struct sw_error *err)
{
	struct sw_csv_fields f = {0};
	char delim = p->header_found ? p->delim : sw_csv_guess_delimiter(rec, len);
	int r = sw_csv_split(rec, len, delim, &f);
	bool blank = true;

	for (size_t i = 0; r == 0 && i < f.n; i++)
		if (f.v[i][0] != '\0')
			blank = false;
	if (r < 0 || blank)
		goto out;
	if (!p->header_found) {
		r = try_header(p, &f, line);
		if (r == 1)
			p->delim = delim;
		if (r == 0 && ++p->preamble >= USAGE_PREAMBLE_MAX)
			r = fail_file(p, err, 1, "no header with the Report Refresh Date, User Principal Name and SMTP App "
			              "columns in the first %d lines: not the email app usage report", USAGE_PREAMBLE_MAX);
		goto out;
	}
	r = data_record(p, &f, line);
	if (r == -E2BIG)
		r = fail_file(p, err, line, "more than %d users in one report: refused", SW_USAGE_MAX_ROWS);
out:
	sw_csv_fields_clear(&f);
	return r < 0 ? r : 0;
}

/* See usage.h. */
int sw_usage_parse(const char *buf, size_t len, const char *source, int64_t now, struct sw_usage *ret,
                   struct sw_error *err)
{
	struct usage_parser p = {.source = source ? source : "<memory>", .today = now / SW_DAY * SW_DAY, .u = ret};
	struct sw_csv_scan scan;
	size_t start = 0;
	int line = 1, rec_line = 1, r = 0;

	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < UC_COUNT_; i++)
		p.cols[i] = -1;
	if (len >= 2 && (((unsigned char)buf[0] == 0xff && (unsigned char)buf[1] == 0xfe) ||
	                 ((unsigned char)buf[0] == 0xfe && (unsigned char)buf[1] == 0xff))) {
		r = fail_file(&p, err, 1, "the report is UTF-16, not the UTF-8 CSV Graph serves");
		goto out;
	}
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		start = 3;
	sw_csv_scan_reset(&scan, 0);
	for (size_t i = start; i < len && r == 0; i++) {
		if (!sw_csv_scan_byte(&scan, buf[i])) {
			if (buf[i] == '\n')
				line++;
			if (i + 1 - start > SW_REPORT_MAX_RECORD)
				r = fail_file(&p, err, rec_line, "a record longer than %d bytes (an unterminated quote?)",
				              SW_REPORT_MAX_RECORD);
			continue;
		}
		r = end_record(&p, buf + start, i - start, rec_line, err);
		start = i + 1;
		rec_line = ++line;
		sw_csv_scan_reset(&scan, p.header_found ? p.delim : 0);
	}
	if (r == 0 && scan.in_quotes)
		r = fail_file(&p, err, rec_line, "a quoted field is not closed at the end of the report");
	if (r == 0 && start < len)
		r = end_record(&p, buf + start, len - start, rec_line, err);
	if (r < 0)
		goto out;
	if (!p.header_found) {
		if (p.preamble == 0)
			goto out; /* an empty body: no users in the period */
		r = fail_file(&p, err, 1, "no header with the Report Refresh Date, User Principal Name and SMTP App "
		              "columns: not the email app usage report");
		goto out;
	}
	if (ret->n == 0 && ret->n_concealed == 0 && ret->n_rejected > 0) {
		const struct sw_error *e = NULL;
		for (size_t i = 0; i < ret->n_problems && e == NULL; i++)
			if (!ret->problems[i].warning)
				e = &ret->problems[i];
		r = fail_file(&p, err, e ? e->line : ret->header_line, "no usable row: %zu line%s rejected, the first: %s",
		              ret->n_rejected, ret->n_rejected == 1 ? "" : "s", e ? e->text : "?");
	}
out:
	for (int i = 0; i < UC_COUNT_; i++)
		free(p.head[i]);
	return r;
}

/* See usage.h. */
int sw_usage_settings_parse(const char *body, size_t len, bool *ret_concealed, char *why, size_t n)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *v = json_is_object(doc) ? json_object_get(doc, "displayConcealedNames") : NULL;
	int r = 0;

	if (doc == NULL) {
		snprintf(why, n, "reportSettings: not JSON: %s", jerr.text);
		r = -EINVAL;
	} else if (!json_is_boolean(v)) {
		snprintf(why, n, "reportSettings: no displayConcealedNames true or false");
		r = -EINVAL;
	} else {
		*ret_concealed = json_is_true(v);
	}
	json_decref(doc);
	return r;
}

/* The host of an origin "scheme://host[:port]" (brackets of IPv6 kept out). */
static void origin_host(const char *origin, char *host, size_t n)
{
	const char *h = strstr(origin, "://");
	size_t len;

	h = h ? h + 3 : origin;
	if (*h == '[') {
		h++;
		len = strcspn(h, "]");
	} else {
		len = strcspn(h, ":");
	}
	snprintf(host, n, "%.*s", (int)len, h);
	sw_strlower(host);
}

/* Is host suffix itself or a name under it? */
static bool host_under(const char *host, const char *suffix)
{
	size_t hl = strlen(host), sl = strlen(suffix);

	if (hl == sl)
		return strcmp(host, suffix) == 0;
	return hl > sl && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, suffix) == 0;
}

/* See usage.h. */
int sw_usage_redirect_check(const char *graph_url, const char *location, char *why, size_t n)
{
	static const struct {
		const char *graph;
		const char *hosts[6];
	} clouds[] = {
		{"graph.microsoft.com", {"office.com", "office365.com", "office.net", "microsoft.com", "windows.net", NULL}},
		{"graph.microsoft.us", {"office365.us", "microsoft.us", "apps.mil", "usgovcloudapi.net", NULL}},
		{"dod-graph.microsoft.us", {"office365.us", "microsoft.us", "apps.mil", "usgovcloudapi.net", NULL}},
		{"microsoftgraph.chinacloudapi.cn", {"partner.outlook.cn", "chinacloudapi.cn", "azure.cn", NULL}},
	};
	char origin[300], ghost[256], lhost[256], uwhy[200];

	if (location == NULL || location[0] == '\0') {
		snprintf(why, n, "the report answered a redirect without a Location");
		return -EINVAL;
	}
	/* The URL is a credential: only its origin is ever shown. */
	uwhy[0] = '\0';
	if (sw_url_origin(location, origin, sizeof(origin)) < 0 || sw_url_check(location, uwhy, sizeof(uwhy)) < 0) {
		if (sw_url_origin(location, origin, sizeof(origin)) < 0)
			snprintf(origin, sizeof(origin), "an unusable URL");
		snprintf(why, n, "the report's download URL (%s) is refused: %s; not followed", origin,
		         uwhy[0] ? uwhy : "not a usable http(s) URL");
		return -EINVAL;
	}
	origin_host(origin, lhost, sizeof(lhost));
	if (sw_url_is_loopback(location)) {
		if (sw_url_is_loopback(graph_url))
			return 0;
		snprintf(why, n, "the report's download URL points at %s, a loopback host, while graph_url is not: "
		         "not followed", lhost);
		return -EINVAL;
	}
	if (sw_url_origin(graph_url, origin, sizeof(origin)) < 0) {
		snprintf(why, n, "graph_url has no usable origin");
		return -EINVAL;
	}
	origin_host(origin, ghost, sizeof(ghost));
	for (size_t i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++) {
		if (strcmp(ghost, clouds[i].graph) != 0)
			continue;
		for (size_t k = 0; clouds[i].hosts[k] != NULL; k++)
			if (host_under(lhost, clouds[i].hosts[k]))
				return 0;
		snprintf(why, n, "the report's download URL points at %s, outside the Microsoft cloud of %s: not "
		         "followed, no token sent", lhost, ghost);
		return -EINVAL;
	}
	snprintf(why, n, "the report's download URL points at %s and graph_url %s is not a known Microsoft cloud: not "
	         "followed", lhost, ghost);
	return -EINVAL;
}

/* See usage.h. */
int sw_trace_page_parse(const char *body, size_t len, struct sw_trace_row **ret_rows, size_t *ret_n, char **ret_next,
                        size_t *ret_skipped, char *why, size_t n)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *value = json_is_object(doc) ? json_object_get(doc, "value") : NULL;
	json_t *next = json_is_object(doc) ? json_object_get(doc, "@odata.nextLink") : NULL;
	struct sw_trace_row *rows = NULL;
	size_t k = 0, skipped = 0, i;
	json_t *v;
	int r = 0;

	if (!json_is_array(value)) {
		snprintf(why, n, "message trace page: %s", doc == NULL ? jerr.text : "no \"value\" array");
		r = -EINVAL;
		goto out;
	}
	rows = calloc(json_array_size(value) + 1, sizeof(*rows));
	if (rows == NULL) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(value, i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *sender = json_string_value(json_object_get(v, "senderAddress"));
		const char *at = json_string_value(json_object_get(v, "receivedDateTime"));
		const char *ip = json_string_value(json_object_get(v, "fromIP"));
		struct sw_trace_row *row = &rows[k];
		if (id == NULL || sender == NULL || at == NULL || strlen(id) >= sizeof(row->id) ||
		    strlen(sender) >= sizeof(row->mailbox) || sw_time_parse(at, &row->received) < 0 ||
		    (ip != NULL && strlen(ip) >= sizeof(row->ip))) {
			skipped++;
			continue;
		}
		snprintf(row->id, sizeof(row->id), "%s", id);
		snprintf(row->mailbox, sizeof(row->mailbox), "%s", sender);
		sw_strlower(row->mailbox);
		snprintf(row->ip, sizeof(row->ip), "%s", ip ? ip : "");
		k++;
	}
	*ret_next = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
	*ret_rows = rows;
	*ret_n = k;
	*ret_skipped = skipped;
	rows = NULL;
out:
	free(rows);
	json_decref(doc);
	return r;
}
