/* test_usage.c: the email app usage report: the CSV corpus under
 * tests/data/usage through the parser (values, concealed names, dates in
 * the future, broken files), and the reportSettings answer. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fixture.h"
#include "usage.h"

/* 00:00Z of an ISO day. */
static int64_t day(const char *s)
{
	int64_t t;
	ck_assert_int_eq(sw_date_parse(s, &t), 0);
	return t;
}

/* The clock of the tests: 2026-12-03 10:00Z. */
#define NOW (day("2026-12-03") + 36000)

/* Parse a corpus file; the return code of sw_usage_parse. */
static int parse_file(const char *name, struct sw_usage *u, struct sw_error *err)
{
	size_t len;
	char *buf = fixture_load("usage", name, &len);
	int rc = sw_usage_parse(buf, len, name, NOW, u, err);

	free(buf);
	return rc;
}

/* The row of a user; fails when absent. */
static const struct sw_usage_row *row_of(const struct sw_usage *u, const char *upn)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->rows[i].upn, upn) == 0)
			return &u->rows[i];
	ck_abort_msg("no row for %s", upn);
	return NULL;
}

/* A problem of a line, its text containing what; fails when absent. */
static const struct sw_error *problem_at(const struct sw_usage *u, int line, const char *what)
{
	for (size_t i = 0; i < u->n_problems; i++)
		if (u->problems[i].line == line && strstr(u->problems[i].text, what) != NULL)
			return &u->problems[i];
	ck_abort_msg("no problem at line %d with \"%s\"", line, what);
	return NULL;
}

/* Microsoft's documented header (BOM, CRLF, a quoted display name with a
 * comma): every user, SMTP App as written, the refresh and activity days. */
START_TEST(test_documented_header)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("documented.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 3);
	ck_assert_uint_eq(u.n_smtp, 2);
	ck_assert_uint_eq(u.n_rejected, 0);
	ck_assert_uint_eq(u.n_warnings, 0);
	ck_assert_int_eq(u.refresh_day, day("2026-12-01"));
	const struct sw_usage_row *r = row_of(&u, "scanner@contoso.com");
	ck_assert(r->smtp);
	ck_assert_int_eq(r->line, 2);
	ck_assert_int_eq(r->last_activity, day("2026-11-30"));
	ck_assert_int_eq(r->period_days, 7);
	ck_assert(!row_of(&u, "alice@contoso.com")->smtp); /* lower-cased, not an SMTP user */
	ck_assert(row_of(&u, "printer@contoso.com")->smtp);
	ck_assert_uint_eq(u.n_concealed, 0);
	sw_usage_clear(&u);
}
END_TEST

/* The plausible forms of an app cell; an unknown value and a UPN that is
 * neither an address nor a hash are rejected with their lines. */
START_TEST(test_values_and_unknown_value)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("values.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 6);
	ck_assert(row_of(&u, "a@contoso.com")->smtp);
	ck_assert(!row_of(&u, "b@contoso.com")->smtp);
	ck_assert(row_of(&u, "c@contoso.com")->smtp);
	ck_assert(!row_of(&u, "d@contoso.com")->smtp);
	ck_assert(row_of(&u, "e@contoso.com")->smtp); /* a date: used that day */
	ck_assert(!row_of(&u, "f@contoso.com")->smtp); /* empty: not used */
	ck_assert_uint_eq(u.n_smtp, 3);
	ck_assert_uint_eq(u.n_rejected, 2);
	const struct sw_error *e = problem_at(&u, 8, "\"Maybe\" is not understood");
	ck_assert_str_eq(e->source, "values.csv");
	ck_assert(!e->warning);
	problem_at(&u, 9, "\"not an address\" is neither an address nor a concealed name");
	sw_usage_clear(&u);
}
END_TEST

START_TEST(test_parse_app_table)
{
	static const struct {
		const char *in;
		int rc;
		bool v;
	} cases[] = {
		{"Yes", 0, true},     {"yes", 0, true},   {"TRUE", 0, true},        {"1", 0, true},
		{"2026-11-30", 0, true}, {"11/30/2026", 0, true}, {"No", 0, false}, {"False", 0, false},
		{"0", 0, false},      {"", 0, false},     {"-", 0, false},          {"Maybe", -EINVAL, false},
		{"2", -EINVAL, false}, {"Yes please", -EINVAL, false}, {"2026-13-01", -EINVAL, false},
		{"n/a", -EINVAL, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool v = !cases[i].v;
		ck_assert_msg(sw_usage_parse_app(cases[i].in, &v) == cases[i].rc, "\"%s\"", cases[i].in);
		if (cases[i].rc == 0)
			ck_assert_msg(v == cases[i].v, "\"%s\"", cases[i].in);
	}
}
END_TEST

/* Concealed names: counted, never a user (no hash becomes a sender). */
START_TEST(test_concealed_names)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("concealed.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 0);
	ck_assert_uint_eq(u.n_concealed, 2);
	ck_assert_uint_eq(u.n_concealed_smtp, 1);
	ck_assert_uint_eq(u.n_smtp, 0);
	ck_assert_int_eq(u.refresh_day, day("2026-12-01"));
	sw_usage_clear(&u);
	ck_assert(sw_usage_concealed_name("5D2C8A1F0B3E4D6A9C7B2E1F0A3D5C8B"));
	ck_assert(sw_usage_concealed_name("0123456789abcdef"));
	ck_assert(!sw_usage_concealed_name("0123456789abcde"));
	ck_assert(!sw_usage_concealed_name("deadbeefdeadbeef@contoso.com"));
	ck_assert(!sw_usage_concealed_name("scanner"));
}
END_TEST

/* A refresh date after today: that row refused; a report all in the future
 * is refused whole. */
START_TEST(test_future_refresh_date)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("future-row.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 1);
	row_of(&u, "ok@contoso.com");
	problem_at(&u, 2, "\"2026-12-09\" is in the future");
	ck_assert_int_eq(u.refresh_day, day("2026-12-01"));
	sw_usage_clear(&u);

	ck_assert_int_eq(parse_file("future-all.csv", &u, &err), -EINVAL);
	ck_assert_int_eq(err.line, 2);
	ck_assert_ptr_nonnull(strstr(err.text, "in the future"));
	ck_assert_str_eq(err.source, "future-all.csv");
	sw_usage_clear(&u);
}
END_TEST

/* Loose header: another order, another case, ";" and a US date; the unknown
 * column is named once as a warning of the header line. */
START_TEST(test_unknown_columns)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("unknown-columns.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 1);
	ck_assert(row_of(&u, "x@fabrikam.com")->smtp);
	ck_assert_int_eq(u.refresh_day, day("2026-12-01"));
	const struct sw_error *e = problem_at(&u, 1, "\"Teams App\"");
	ck_assert(e->warning);
	sw_usage_clear(&u);
}
END_TEST

/* An empty body and a header alone are reports of nobody; another report,
 * an unterminated quote are refused with a clear error. */
START_TEST(test_empty_and_broken)
{
	struct sw_usage u;
	struct sw_error err = {0};

	ck_assert_int_eq(parse_file("empty.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 0);
	sw_usage_clear(&u);
	ck_assert_int_eq(parse_file("header-only.csv", &u, &err), 0);
	ck_assert_uint_eq(u.n, 0);
	ck_assert_int_eq(u.header_line, 1);
	sw_usage_clear(&u);
	ck_assert_int_eq(parse_file("not-usage.csv", &u, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "not the email app usage report"));
	sw_usage_clear(&u);
	ck_assert_int_eq(parse_file("unterminated.csv", &u, &err), -EINVAL);
	ck_assert_int_eq(err.line, 2);
	ck_assert_ptr_nonnull(strstr(err.text, "not closed"));
	sw_usage_clear(&u);
	ck_assert_int_eq(sw_usage_parse("\xff\xfeR\0", 4, "utf16.csv", NOW, &u, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "UTF-16"));
	sw_usage_clear(&u);
}
END_TEST

START_TEST(test_report_settings)
{
	char why[200];
	bool c = false;

	const char *on = "{\"@odata.context\":\"x\",\"displayConcealedNames\":true}";
	ck_assert_int_eq(sw_usage_settings_parse(on, strlen(on), &c, why, sizeof(why)), 0);
	ck_assert(c);
	const char *off = "{\"displayConcealedNames\":false}";
	ck_assert_int_eq(sw_usage_settings_parse(off, strlen(off), &c, why, sizeof(why)), 0);
	ck_assert(!c);
	const char *bad = "{\"displayConcealedNames\":\"yes\"}";
	ck_assert_int_eq(sw_usage_settings_parse(bad, strlen(bad), &c, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(sw_usage_settings_parse("<html>", 6, &c, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "not JSON"));
}
END_TEST

static Suite *usage_suite(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_documented_header);
	tcase_add_test(tc, test_values_and_unknown_value);
	tcase_add_test(tc, test_parse_app_table);
	tcase_add_test(tc, test_concealed_names);
	tcase_add_test(tc, test_future_refresh_date);
	tcase_add_test(tc, test_unknown_columns);
	tcase_add_test(tc, test_empty_and_broken);
	tcase_add_test(tc, test_report_settings);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(usage_suite)
