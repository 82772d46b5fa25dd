/* test_report.c: the SMTP AUTH clients report: the CSV corpus under
 * tests/data/report through the parser, the store's day view (no double
 * counting), and the report rules up to the alerts a user would see. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "store_int.h"
#include "fixture.h"
#include "detect.h"
#include "detect_report.h"
#include "lifecycle.h"
#include "report.h"
#include "store_report.h"

static char tmpdir[64];
static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sinks[1];
static struct sw_tenant_config tenant;
static struct sw_register reg;
static struct sw_exception entries[2];

/* 00:00Z of an ISO day. */
static int64_t day(const char *s)
{
	int64_t t;
	ck_assert_int_eq(sw_date_parse(s, &t), 0);
	return t;
}

/* Read tests/data/report/NAME whole. */
static char *load(const char *name, size_t *ret_len)
{
	return fixture_load("report", name, ret_len);
}

/* Parse a corpus file; the return code of sw_report_parse. */
static int parse_file(const char *name, struct sw_report *r, struct sw_error *err)
{
	size_t len;
	char *buf = load(name, &len);
	int rc = sw_report_parse(buf, len, name, day("2026-11-21") + 3600, r, err);

	free(buf);
	return rc;
}

/* The row of sender and protocol; fails when absent. */
static const struct sw_report_row *row_of(const struct sw_report *r, const char *sender, enum sw_report_auth auth)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->rows[i].sender, sender) == 0 && r->rows[i].auth == auth)
			return &r->rows[i];
	ck_abort_msg("no row for %s (%s)", sender, sw_report_auth_name(auth));
	return NULL;
}

/* Is there a problem on line with text containing what? */
static bool has_problem(const struct sw_report *r, int line, bool warning, const char *what)
{
	for (size_t i = 0; i < r->n_problems; i++)
		if (r->problems[i].line == line && r->problems[i].warning == warning && strstr(r->problems[i].text, what))
			return true;
	return false;
}

START_TEST(test_eac_daily)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("eac-daily.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_eq(r.n_problems, 0);
	ck_assert_int_eq(r.header_line, 1);
	ck_assert_int_eq(r.delimiter, ',');
	ck_assert(!r.bom && !r.crlf);
	for (int c = 0; c < SW_COL_START; c++)
		ck_assert_msg(r.columns[c] >= 0, "column %s not found", sw_report_col_name(c));
	ck_assert_str_eq(r.header_text[SW_COL_MESSAGES], "Messages sent");
	const struct sw_report_row *p = row_of(&r, "printer-old@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(p->line, 5);
	ck_assert_int_eq(p->messages, 8);
	ck_assert(fabs(p->tls10 - 25) < 1e-9 && p->tls11 == 0 && fabs(p->tls12 - 75) < 1e-9);
	ck_assert_int_eq(p->day_start, day("2026-11-17"));
	ck_assert_int_eq(p->day_end, day("2026-11-18"));
	ck_assert(p->dated);
	ck_assert_str_eq(p->domain, "contoso.com");
	ck_assert_int_eq(row_of(&r, "app1@contoso.com", SW_AUTH_OAUTH)->messages, 40);
	ck_assert_uint_eq(strlen(r.sha256), 64);
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_bom_crlf_quoted_header)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("bom-crlf.csv", &r, &err), 0);
	ck_assert(r.bom);
	ck_assert(r.crlf);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.n_problems, 0);
	const struct sw_report_row *s = row_of(&r, "scanner-hq@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(s->messages, 12);
	ck_assert_int_eq(s->day_start, day("2026-11-18"));
	ck_assert(s->tls12 == 100);
	ck_assert_int_eq(s->line, 2);
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_reordered_extra_quoted)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("reordered-extra.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_uint_eq(r.n_problems, 0);
	ck_assert_int_eq(r.columns[SW_COL_SENDER], 3);
	ck_assert_int_eq(r.columns[SW_COL_MESSAGES], 0);
	ck_assert_int_eq(r.columns[SW_COL_DOMAIN], -1);
	ck_assert_int_eq(row_of(&r, "scanner2@contoso.com", SW_AUTH_BASIC)->messages, 7);
	ck_assert_int_eq(row_of(&r, "printer-old@contoso.com", SW_AUTH_BASIC)->messages, 5);
	ck_assert_int_eq(row_of(&r, "app1@contoso.com", SW_AUTH_OAUTH)->messages, 9);
	/* No domain column: taken from the address. */
	ck_assert_str_eq(row_of(&r, "app1@contoso.com", SW_AUTH_OAUTH)->domain, "contoso.com");
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_semicolon_decimal_comma)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("semicolon-comma.csv", &r, &err), 0);
	ck_assert_int_eq(r.delimiter, ';');
	ck_assert_uint_eq(r.n, 2);
	const struct sw_report_row *l = row_of(&r, "legacy@contoso.com", SW_AUTH_BASIC);
	ck_assert(fabs(l->tls10 - 12.5) < 1e-9);
	ck_assert(fabs(l->tls12 - 87.5) < 1e-9);
	ck_assert_int_eq(l->messages, 16);
	ck_assert_int_eq(l->day_start, day("2026-11-20"));
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_tab_minimal_undated)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("tab-minimal.csv", &r, &err), 0);
	ck_assert_int_eq(r.delimiter, '\t');
	ck_assert_uint_eq(r.n, 2);
	const struct sw_report_row *a = row_of(&r, "alice@contoso.com", SW_AUTH_UNKNOWN);
	ck_assert(!a->dated);
	ck_assert_int_eq(a->day_start, day("2026-11-21")); /* the default day, at 00:00Z */
	ck_assert_int_eq(a->day_end, day("2026-11-22"));
	ck_assert(a->tls10 < 0 && a->tls11 < 0 && a->tls12 < 0);
	ck_assert_int_eq(row_of(&r, "bob@contoso.com", SW_AUTH_UNKNOWN)->messages, 0);
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_ranges)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("range.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n, 3);
	for (size_t i = 0; i < r.n; i++) {
		ck_assert_int_eq(r.rows[i].day_start, day("2026-11-01"));
		ck_assert_int_eq(r.rows[i].day_end, day("2026-11-08"));
	}
	sw_report_clear(&r);

	ck_assert_int_eq(parse_file("start-end.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n, 2);
	const struct sw_report_row *s = row_of(&r, "scanner2@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(s->day_start, day("2026-11-01"));
	ck_assert_int_eq(s->day_end, day("2026-11-08"));
	const struct sw_report_row *a = row_of(&r, "app1@contoso.com", SW_AUTH_OAUTH);
	ck_assert_int_eq(a->day_start, day("2026-11-08"));
	ck_assert_int_eq(a->day_end, day("2026-11-09"));
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_number_forms)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("numbers.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n_problems, 0);
	const struct sw_report_row *a = row_of(&r, "a@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(a->messages, 1234);
	ck_assert(fabs(a->tls10 - 0.5) < 1e-9);
	const struct sw_report_row *b = row_of(&r, "b@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(b->messages, 1234);
	ck_assert(fabs(b->tls10 - 12.5) < 1e-9);
	const struct sw_report_row *c = row_of(&r, "c@contoso.com", SW_AUTH_OAUTH);
	ck_assert_int_eq(c->messages, 12);
	ck_assert(fabs(c->tls10 - 12.5) < 1e-9 && fabs(c->tls12 - 87.5) < 1e-9);
	const struct sw_report_row *d = row_of(&r, "d@contoso.com", SW_AUTH_BASIC);
	ck_assert_int_eq(d->messages, 1234);
	ck_assert(d->tls10 < 0);
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_preamble_and_totals)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("preamble.csv", &r, &err), 0);
	ck_assert_int_eq(r.header_line, 4);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.n_problems, 0); /* the "Total" line is not a rejected sender */
	ck_assert_int_eq(r.rows[0].line, 5);
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_bad_lines_by_number)
{
	struct sw_report r;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("bad-lines.csv", &r, &err), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_uint_eq(r.n_rejected, 5);
	ck_assert(has_problem(&r, 3, false, "no sender address"));
	ck_assert(has_problem(&r, 4, false, "\"not-an-address\" is not an e-mail address"));
	ck_assert(has_problem(&r, 5, false, "\"many\" is not a whole number"));
	ck_assert(has_problem(&r, 6, false, "\"150\" is not a percentage"));
	ck_assert(has_problem(&r, 7, false, "\"2026-13-45\" is not a date"));
	ck_assert(has_problem(&r, 8, true, "\"NTLM\" is neither Basic nor OAuth"));
	ck_assert_int_eq(row_of(&r, "odd-auth@contoso.com", SW_AUTH_UNKNOWN)->messages, 4);
	/* The same sender and period twice in one file: one observation. */
	ck_assert_int_eq(row_of(&r, "good2@contoso.com", SW_AUTH_OAUTH)->messages, 7);
	ck_assert(has_problem(&r, 10, true, "added together"));
	ck_assert_str_eq(r.problems[0].source, "bad-lines.csv");
	sw_report_clear(&r);
}
END_TEST

START_TEST(test_broken_files_rejected)
{
	static const struct {
		const char *file;
		int line;
		const char *what;
	} cases[] = {
		{"broken-no-header.csv", 1, "no header with a sender address and a message count"},
		{"broken-no-count.csv", 1, "\"Sender address,Domain,TLS 1.2 %\""},
		{"broken-utf16.csv", 1, "UTF-16"},
		{"broken-empty.csv", 0, "empty"},
		{"broken-unterminated.csv", 2, "quoted field is not closed"},
		{"broken-all-rows-bad.csv", 2, "no usable row: 2 lines rejected"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sw_report r;
		struct sw_error err = {0};
		ck_assert_msg(parse_file(cases[i].file, &r, &err) == -EINVAL, "%s accepted", cases[i].file);
		ck_assert_msg(strstr(err.text, cases[i].what) != NULL, "%s: %s", cases[i].file, err.text);
		ck_assert_msg(err.line == cases[i].line, "%s: line %d", cases[i].file, err.line);
		ck_assert_str_eq(err.source, cases[i].file);
		sw_report_clear(&r);
	}
}
END_TEST

/* An export of n senders, each on days days (daily rows), as a buffer. */
static char *gen_export(size_t n, int days, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fprintf(f, "Date,Sender address,Messages sent,Authentication protocol\n");
	for (int d = 0; d < days; d++)
		for (size_t i = 0; i < n; i++)
			fprintf(f, "2026-%02d-%02d,sender%zu@contoso.com,%zu,Basic\n", 8 + d / 28, 1 + d % 28, i, 1 + i % 7);
	ck_assert_int_eq(fclose(f), 0);
	*ret_len = len;
	return buf;
}

/* A file may bring SW_REPORT_MAX_SENDERS distinct senders and
 * SW_REPORT_MAX_ROWS rows; one more of either rejects it whole, with the
 * cap in the message, at the line where it was passed. */
START_TEST(test_caps)
{
	static const struct {
		size_t senders;
		int days;
		int want;
		const char *what;
	} cases[] = {
		{3500, 90, 0, NULL},                /* a large tenant's 90-day export: 315,000 rows */
		{SW_REPORT_MAX_SENDERS, 1, 0, NULL},
		{SW_REPORT_MAX_SENDERS + 1, 1, -EINVAL, "more than 20000 distinct sender addresses"},
		{300000, 1, -EINVAL, "more than 20000 distinct sender addresses"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sw_report r;
		struct sw_error err = {0};
		size_t len;
		char *buf = gen_export(cases[i].senders, cases[i].days, &len);
		int rc = sw_report_parse(buf, len, "big.csv", 0, &r, &err);

		ck_assert_msg(rc == cases[i].want, "%zu senders x %d days: %d (%s)", cases[i].senders, cases[i].days, rc,
		              err.text);
		if (cases[i].want == 0) {
			ck_assert_uint_eq(r.n, cases[i].senders * (size_t)cases[i].days);
			ck_assert_uint_eq(r.n_rejected, 0);
		} else {
			ck_assert_msg(strstr(err.text, cases[i].what) != NULL, "%s", err.text);
			ck_assert_msg(strstr(err.text, "nothing stored") != NULL, "%s", err.text);
			ck_assert_str_eq(err.source, "big.csv");
			/* Refused where the cap was passed, not at the end. */
			ck_assert_int_eq(err.line, SW_REPORT_MAX_SENDERS + 2);
		}
		sw_report_clear(&r);
		free(buf);
	}

	/* Rows: exactly the cap is fed, one more is refused (one parse of
	 * 500,000 rows for both: the test also runs under valgrind). */
	struct sw_report_parser *p;
	struct sw_error err = {0};
	size_t len;
	char *buf = gen_export(SW_REPORT_MAX_ROWS / 100, 100, &len);
	const char *more = "2026-08-01,one-more@contoso.com,1,Basic\n";

	ck_assert_int_eq(sw_report_parser_new("rows.csv", 0, &p), 0);
	ck_assert_int_eq(sw_report_parser_feed(p, buf, len, &err), 0);
	ck_assert_uint_eq(sw_report_parser_result(p)->n, SW_REPORT_MAX_ROWS);
	ck_assert_int_eq(sw_report_parser_feed(p, more, strlen(more), &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "more than 500000 rows") != NULL, "%s", err.text);
	ck_assert_int_eq(err.line, SW_REPORT_MAX_ROWS + 2);
	ck_assert_int_eq(sw_report_parser_finish(p, &err), -EINVAL);
	sw_report_parser_free(p);
	free(buf);
}
END_TEST

/* Byte by byte gives what the whole buffer gives (the daemon reads in slices). */
START_TEST(test_streaming_any_split)
{
	static const char *const files[] = {"bom-crlf.csv", "reordered-extra.csv", "bad-lines.csv", "preamble.csv"};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct sw_report whole;
		struct sw_report_parser *p;
		struct sw_error err = {0};
		size_t len;
		char *buf = load(files[f], &len);

		ck_assert_int_eq(sw_report_parse(buf, len, files[f], 0, &whole, &err), 0);
		ck_assert_int_eq(sw_report_parser_new(files[f], 0, &p), 0);
		for (size_t i = 0; i < len; i++)
			ck_assert_int_eq(sw_report_parser_feed(p, buf + i, 1, &err), 0);
		ck_assert_int_eq(sw_report_parser_finish(p, &err), 0);
		struct sw_report *r = sw_report_parser_result(p);
		ck_assert_uint_eq(r->n, whole.n);
		ck_assert_uint_eq(r->n_problems, whole.n_problems);
		ck_assert_str_eq(r->sha256, whole.sha256);
		for (size_t i = 0; i < r->n; i++) {
			ck_assert_str_eq(r->rows[i].sender, whole.rows[i].sender);
			ck_assert_int_eq(r->rows[i].messages, whole.rows[i].messages);
			ck_assert_int_eq(r->rows[i].line, whole.rows[i].line);
		}
		sw_report_parser_free(p);
		sw_report_clear(&whole);
		free(buf);
	}
}
END_TEST

START_TEST(test_header_match_table)
{
	static const struct {
		const char *cell;
		int col;
	} cases[] = {
		{"Sender address", SW_COL_SENDER},   {"SENDER_ADDRESS", SW_COL_SENDER},
		{"User", SW_COL_SENDER},             {"Messages sent", SW_COL_MESSAGES},
		{"Message count", SW_COL_MESSAGES},  {"Sent", SW_COL_MESSAGES},
		{"Domain", SW_COL_DOMAIN},           {"Sender domain", SW_COL_DOMAIN},
		{"TLS 1.0 %", SW_COL_TLS10},         {"tls1.1(%)", SW_COL_TLS11},
		{"TLSv1.2 percent", SW_COL_TLS12},   {"TLS 1.3 %", -1},
		{"Authentication protocol", SW_COL_AUTH}, {"Auth type", SW_COL_AUTH},
		{"Date", SW_COL_DATE},               {"Date range", SW_COL_DATE},
		{"Start date", SW_COL_START},        {"End date", SW_COL_END},
		{"Display name", -1},                {"Client IP", -1},
		{"alice@contoso.com", -1},           {"", -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(sw_report_header_match(cases[i].cell) == cases[i].col, "\"%s\" -> %d, want %d",
		              cases[i].cell, sw_report_header_match(cases[i].cell), cases[i].col);
}
END_TEST

START_TEST(test_values)
{
	int64_t v, a, b;
	double d;
	enum sw_report_auth au;

	ck_assert_int_eq(sw_report_parse_count("12", &v), 0);
	ck_assert_int_eq(v, 12);
	ck_assert_int_eq(sw_report_parse_count("1,234,567", &v), 0);
	ck_assert_int_eq(v, 1234567);
	ck_assert_int_eq(sw_report_parse_count("12,50", &v), -EINVAL);
	ck_assert_int_eq(sw_report_parse_count("-3", &v), -EINVAL);
	ck_assert_int_eq(sw_report_parse_count("", &v), -EINVAL);
	ck_assert_int_eq(sw_report_parse_count("3x", &v), -EINVAL);
	ck_assert_int_eq(sw_report_parse_percent("12,5%", &d), 0);
	ck_assert(fabs(d - 12.5) < 1e-9);
	ck_assert_int_eq(sw_report_parse_percent("100 %", &d), 0);
	ck_assert(d == 100);
	ck_assert_int_eq(sw_report_parse_percent("100.5", &d), -EINVAL);
	ck_assert_int_eq(sw_report_parse_percent("-1", &d), -EINVAL);
	ck_assert_int_eq(sw_report_parse_percent("%", &d), -EINVAL);
	ck_assert_int_eq(sw_report_parse_period("2026-11-20T08:00:00Z", &a, &b), 0);
	ck_assert_int_eq(a, day("2026-11-20"));
	ck_assert_int_eq(b - a, SW_DAY);
	ck_assert_int_eq(sw_report_parse_period("20/11/2026", &a, &b), 0); /* day first: 20 > 12 */
	ck_assert_int_eq(a, day("2026-11-20"));
	ck_assert_int_eq(sw_report_parse_period("11/12/2026", &a, &b), 0); /* month first, as EAC in en-US */
	ck_assert_int_eq(a, day("2026-11-12"));
	ck_assert_int_eq(sw_report_parse_period("2026-11-01..2026-11-30", &a, &b), 0);
	ck_assert_int_eq((b - a) / SW_DAY, 30);
	ck_assert_int_eq(sw_report_parse_period("2026-11-07 - 2026-11-01", &a, &b), -ERANGE);
	ck_assert_int_eq(sw_report_parse_period("2026-02-29", &a, &b), -EINVAL);
	ck_assert_int_eq(sw_report_parse_period("last week", &a, &b), -EINVAL);
	ck_assert_int_eq(sw_report_parse_auth("OAuth 2.0", &au), 0);
	ck_assert_int_eq(au, SW_AUTH_OAUTH);
	ck_assert_int_eq(sw_report_parse_auth("Basic authentication", &au), 0);
	ck_assert_int_eq(au, SW_AUTH_BASIC);
	ck_assert_int_eq(sw_report_parse_auth("", &au), 0);
	ck_assert_int_eq(au, SW_AUTH_UNKNOWN);
	ck_assert_int_eq(sw_report_parse_auth("Kerberos", &au), -EINVAL);
}
END_TEST

/* ---- store and rules ---- */

static void setup(void)
{
	fixture_store_open(tmpdir, "report", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, sizeof(entries) / sizeof(entries[0]));
	entries[0] = (struct sw_exception){.mailbox = "scanner-hq@contoso.com", .line = 1, .owner = "facilities@contoso.com",
	                                   .ticket = "CHG-1", .expires = day("2027-01-31"), .expires_text = "2027-01-31",
	                                   .max_daily_messages = 100};
	reg.n = 1;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* Store a corpus file as an import would; the observations changed. */
static size_t import(const char *name)
{
	struct sw_report r;
	struct sw_error err = {0};
	size_t changed = 0;

	ck_assert_int_eq(parse_file(name, &r, &err), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_report_rows_add(store, "contoso", 0, r.rows, r.n, day("2026-11-21"), &changed), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	sw_report_clear(&r);
	return changed;
}

/* One row, stored. */
static void import_row(const char *sender, enum sw_report_auth auth, const char *from, const char *to, int64_t n,
                       double tls10)
{
	struct sw_report_row row = {.sender = (char *)sender, .domain = "contoso.com", .messages = n, .tls10 = tls10,
	                            .tls11 = -1, .tls12 = -1, .auth = auth, .day_start = day(from),
	                            .day_end = day(to) + SW_DAY, .dated = true};
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_report_rows_add(store, "contoso", 0, &row, 1, day("2026-11-21"), NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

/* Messages of sender and protocol over [from, to] from the day view. */
static double messages(const char *sender, const char *auth, const char *from, const char *to)
{
	sqlite3_stmt *st;
	double v;

	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), "SELECT coalesce(sum(messages), 0) FROM report_days"
	                                    " WHERE tenant = 'contoso' AND sender = ?1 AND auth = ?2 AND day >= ?3"
	                                    " AND day <= ?4", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, auth, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, day(from));
	sqlite3_bind_int64(st, 4, day(to));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	return v;
}

START_TEST(test_store_same_export_twice_adds_nothing)
{
	ck_assert_uint_eq(import("eac-daily.csv"), 4);
	ck_assert_uint_eq(import("eac-daily.csv"), 0);
	ck_assert(messages("scanner-hq@contoso.com", "basic", "2026-11-01", "2026-11-30") == 200);
	/* A later export of the same day with late records: the larger count. */
	import_row("scanner-hq@contoso.com", SW_AUTH_BASIC, "2026-11-16", "2026-11-16", 125, 0);
	ck_assert(messages("scanner-hq@contoso.com", "basic", "2026-11-01", "2026-11-30") == 205);
	import_row("scanner-hq@contoso.com", SW_AUTH_BASIC, "2026-11-16", "2026-11-16", 90, 0);
	ck_assert(messages("scanner-hq@contoso.com", "basic", "2026-11-01", "2026-11-30") == 205);
}
END_TEST

START_TEST(test_store_overlapping_exports_not_double_counted)
{
	/* A week export, then a daily export of one of its days, then a
	 * second week export overlapping the first by four days. */
	import("range.csv"); /* scanner2: 70 over 11-01..11-07 */
	ck_assert(fabs(messages("scanner2@contoso.com", "basic", "2026-11-01", "2026-11-07") - 70) < 1e-6);
	import_row("scanner2@contoso.com", SW_AUTH_BASIC, "2026-11-03", "2026-11-03", 40, -1);
	ck_assert(fabs(messages("scanner2@contoso.com", "basic", "2026-11-01", "2026-11-07") - 70) < 1e-6);
	ck_assert(fabs(messages("scanner2@contoso.com", "basic", "2026-11-03", "2026-11-03") - 40) < 1e-6);
	ck_assert(fabs(messages("scanner2@contoso.com", "basic", "2026-11-01", "2026-11-01") - 5) < 1e-6);
	import_row("scanner2@contoso.com", SW_AUTH_BASIC, "2026-11-04", "2026-11-10", 70, -1);
	double total = messages("scanner2@contoso.com", "basic", "2026-11-01", "2026-11-30");
	ck_assert_msg(total < 140 - 1e-6 && total > 70, "total %f", total);
	/* The protocols stay apart. */
	ck_assert(fabs(messages("app1@contoso.com", "oauth", "2026-11-01", "2026-11-30") - 14) < 1e-6);
	ck_assert(messages("app1@contoso.com", "basic", "2026-11-01", "2026-11-30") == 0);
}
END_TEST

START_TEST(test_store_files_and_last_use)
{
	struct sw_report_file f = {.imported = 5, .rows = 4, .first_day = day("2026-11-16"), .last_day = day("2026-11-17")};
	struct sw_report_file got;
	int64_t id = 0, last = -1;

	snprintf(f.sha256, sizeof(f.sha256), "%064d", 7);
	snprintf(f.name, sizeof(f.name), "eac-daily.csv");
	ck_assert_int_eq(sw_store_report_file_find(store, "contoso", f.sha256, &got), -ENOENT);
	ck_assert_int_eq(sw_store_report_file_add(store, "contoso", &f, &id), 0);
	ck_assert_int_eq(sw_store_report_file_add(store, "contoso", &f, NULL), -EEXIST);
	ck_assert_int_eq(sw_store_report_file_add(store, "fabrikam", &f, NULL), 0);
	ck_assert_int_eq(sw_store_report_file_find(store, "contoso", f.sha256, &got), 0);
	ck_assert_int_eq(got.id, id);
	ck_assert_str_eq(got.name, "eac-daily.csv");
	ck_assert_int_eq(got.rows, 4);

	ck_assert_int_eq(sw_store_report_last_use(store, "contoso", "scanner-hq@contoso.com", &last), 0);
	ck_assert_int_eq(last, 0);
	import("eac-daily.csv");
	ck_assert_int_eq(sw_store_report_last_use(store, "contoso", "Scanner-HQ@contoso.com", &last), 0);
	ck_assert_int_eq(last, day("2026-11-17"));
}
END_TEST

/* Run the report rules at now in a transaction. */
static void detect_report(int64_t now)
{
	struct sw_detect_stats st = {0};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_detect_report(store, &cfg, &tenant, &reg, now, &st), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

static bool firing(const char *rule, const char *subject, struct sw_alert *ret)
{
	struct sw_alert a = {0};
	bool f = sw_store_alert_find(store, rule, "contoso", subject, &a) == 0 && a.status == SW_ALERT_FIRING;

	if (ret != NULL)
		*ret = a;
	else
		sw_alert_clear(&a);
	return f;
}

START_TEST(test_rule_unapproved_basic_from_report)
{
	struct sw_alert a = {0};
	int64_t now = day("2026-11-21") + 3600;

	import("reordered-extra.csv"); /* scanner2 7 Basic, printer-old 5 Basic, app1 9 OAuth */
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 7);
	ck_assert_int_eq(a.severity, SW_SEV_HIGH);
	ck_assert_int_eq(a.first_seen, day("2026-11-18"));
	ck_assert_msg(strstr(a.summary, "sent 7 messages with Basic SMTP AUTH") != NULL, "%s", a.summary);
	ck_assert_msg(strstr(a.remediation, "OAuth") && strstr(a.remediation, "Set-CASMailbox -Identity "
	              "'scanner2@contoso.com'"), "%s", a.remediation);
	sw_alert_clear(&a);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "printer-old@contoso.com", NULL));
	ck_assert(!firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "app1@contoso.com", NULL)); /* OAuth */

	/* Nothing new: nothing changes.  New days: the count grows by them. */
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 7);
	sw_alert_clear(&a);
	import("reordered-extra.csv");
	import_row("scanner2@contoso.com", SW_AUTH_BASIC, "2026-11-19", "2026-11-19", 3, -1);
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 10);
	sw_alert_clear(&a);
}
END_TEST

/* Store n successful SMTP sign-ins of upn, one a minute from t. */
static void add_signins(const char *upn, int n, int64_t t)
{
	static int serial;
	struct sw_signin v[16] = {0};
	char ids[16][32];
	size_t added = 0;

	ck_assert_int_le(n, 16);
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "s%d", serial++);
		v[i] = (struct sw_signin){.id = ids[i], .created = t + i * 60, .created_text = "x", .upn = (char *)upn,
		                          .ip = "198.51.100.7", .country = "NL", .client_app = "Authenticated SMTP"};
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", v, (size_t)n, t, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(added, (size_t)n);
}

START_TEST(test_rule_shared_with_signins_and_register)
{
	struct sw_alert a = {0};
	int64_t now = day("2026-11-21") + 3600, use = -1;
	json_t *ev = json_pack("{s:[s],s:[s],s:[s,s,s]}", "ips", "198.51.100.7", "countries", "NL", "signin_ids", "s0",
	                       "s1", "s2");
	/* Three sign-ins on the 20th, seen by the sign-in rule first (its
	 * condition, as detect.c raises it), then the report: one alert for
	 * the sender. */
	add_signins("scanner2@contoso.com", 3, day("2026-11-20") + 36000);
	struct sw_condition c = {.rule = SW_RULE_UNAPPROVED_BASIC_AUTH, .severity = SW_SEV_HIGH, .tenant = "contoso",
	                         .subject = "scanner2@contoso.com", .first_seen = day("2026-11-20") + 36000,
	                         .last_seen = day("2026-11-20") + 36120, .count = 3, .summary = "signins", .evidence = ev};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_lifecycle_fire(store, &cfg, &c, now, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	json_decref(ev);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 3);
	sw_alert_clear(&a);
	/* 7 Basic messages on the 18th: another day, so they add. */
	import("reordered-extra.csv");
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 10);
	ck_assert_msg(json_array_size(json_object_get(a.evidence, "ips")) == 1, "sign-in evidence kept");
	ck_assert_int_eq(json_integer_value(json_object_get(a.evidence, "report_basic_messages")), 7);
	sw_alert_clear(&a);
	/* 2 messages on the 20th: the day the sign-ins already showed (3), so
	 * the same submissions: counted once, the larger. */
	import_row("scanner2@contoso.com", SW_AUTH_BASIC, "2026-11-20", "2026-11-20", 2, -1);
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 10);
	sw_alert_clear(&a);
	ck_assert_int_eq(sw_store_basic_use(store, "contoso", "scanner2@contoso.com", day("2026-11-18"), &use), 0);
	ck_assert_int_eq(use, 10);
	ck_assert_int_eq(sw_store_basic_use(store, "contoso", "scanner2@contoso.com", day("2026-11-20") + 50000, &use), 0);
	ck_assert_int_eq(use, 3); /* from the day of since */
	/* 6 on the 19th, which no sign-in covers: they add. */
	import_row("scanner2@contoso.com", SW_AUTH_BASIC, "2026-11-19", "2026-11-19", 6, -1);
	detect_report(now);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 16);
	ck_assert_msg(strstr(a.summary, "sent 16 messages"), "%s", a.summary);
	sw_alert_clear(&a);
	/* The sign-in rule over the sign-ins of the 20th and 4 new ones on the
	 * 19th: both days the report covers with more, so nothing grows ... */
	struct sw_detect_stats st = {0};
	add_signins("scanner2@contoso.com", 4, day("2026-11-19") + 36000);
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, now, SW_DETECT_SIGNINS, &st), 0);
	ck_assert_int_eq(st.signins_examined, 7);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 16);
	sw_alert_clear(&a);
	/* ... until the sign-ins of the 19th outnumber the report's 6 (14). */
	add_signins("scanner2@contoso.com", 10, day("2026-11-19") + 40000);
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, now, SW_DETECT_SIGNINS, &st), 0);
	ck_assert(firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a));
	ck_assert_int_eq(a.count, 7 + 14 + 3);
	sw_alert_clear(&a);

	/* A registered sender's Basic rows raise nothing. */
	import("eac-daily.csv");
	detect_report(now);
	ck_assert(!firing(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner-hq@contoso.com", NULL));
}
END_TEST

START_TEST(test_rule_volume_spike)
{
	struct sw_alert a = {0};
	int64_t now = day("2026-11-21") + 3600;

	import("eac-daily.csv"); /* scanner-hq 120 on 11-16, 80 on 11-17; max 100 */
	detect_report(now);
	ck_assert(firing(SW_RULE_VOLUME_SPIKE, "scanner-hq@contoso.com", &a));
	ck_assert_int_eq(a.severity, SW_SEV_MEDIUM);
	ck_assert_int_eq(a.count, 1);
	ck_assert_msg(strstr(a.summary, "sent 120 messages on 2026-11-16, over its max_daily_messages of 100"), "%s",
	              a.summary);
	sw_alert_clear(&a);
	/* OAuth and Basic of one day count together. */
	import_row("scanner-hq@contoso.com", SW_AUTH_OAUTH, "2026-11-17", "2026-11-17", 30, -1);
	detect_report(now);
	ck_assert(firing(SW_RULE_VOLUME_SPIKE, "scanner-hq@contoso.com", &a));
	ck_assert_int_eq(a.count, 2);
	sw_alert_clear(&a);
	/* The owner raises the limit: the condition clears. */
	entries[0].max_daily_messages = 500;
	detect_report(now);
	ck_assert(!firing(SW_RULE_VOLUME_SPIKE, "scanner-hq@contoso.com", NULL));
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_VOLUME_SPIKE, "contoso", "scanner-hq@contoso.com", &a), 0);
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	sw_alert_clear(&a);
	/* No limit set: never a spike. */
	entries[0].max_daily_messages = -1;
	import_row("scanner-hq@contoso.com", SW_AUTH_BASIC, "2026-11-20", "2026-11-20", 100000, -1);
	detect_report(now);
	ck_assert(!firing(SW_RULE_VOLUME_SPIKE, "scanner-hq@contoso.com", NULL));
}
END_TEST

START_TEST(test_rule_legacy_tls)
{
	struct sw_alert a = {0};
	int64_t now = day("2026-11-21") + 3600;

	import("eac-daily.csv"); /* printer-old 25 % TLS 1.0 of 8 */
	detect_report(now);
	ck_assert(firing(SW_RULE_LEGACY_TLS, "printer-old@contoso.com", &a));
	ck_assert_int_eq(a.severity, SW_SEV_LOW);
	ck_assert_msg(strstr(a.summary, "about 2 of 8 messages over TLS 1.0/1.1"), "%s", a.summary);
	sw_alert_clear(&a);
	ck_assert(!firing(SW_RULE_LEGACY_TLS, "scanner-hq@contoso.com", NULL));
	/* The last legacy day leaves the window: resolved. */
	detect_report(day("2026-11-17") + SW_REPORT_RECENT + SW_DAY);
	ck_assert(!firing(SW_RULE_LEGACY_TLS, "printer-old@contoso.com", NULL));
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_eac_daily);
	tcase_add_test(tc, test_bom_crlf_quoted_header);
	tcase_add_test(tc, test_reordered_extra_quoted);
	tcase_add_test(tc, test_semicolon_decimal_comma);
	tcase_add_test(tc, test_tab_minimal_undated);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_number_forms);
	tcase_add_test(tc, test_preamble_and_totals);
	tcase_add_test(tc, test_bad_lines_by_number);
	tcase_add_test(tc, test_broken_files_rejected);
	tcase_add_test(tc, test_streaming_any_split);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_header_match_table);
	tcase_add_test(tc, test_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_same_export_twice_adds_nothing);
	tcase_add_test(tc, test_store_overlapping_exports_not_double_counted);
	tcase_add_test(tc, test_store_files_and_last_use);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rule_unapproved_basic_from_report);
	tcase_add_test(tc, test_rule_shared_with_signins_and_register);
	tcase_add_test(tc, test_rule_volume_spike);
	tcase_add_test(tc, test_rule_legacy_tls);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(report_suite)
