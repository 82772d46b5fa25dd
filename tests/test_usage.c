/* test_usage.c: the email app usage report: the CSV corpus under
 * tests/data/usage through the parser (values, concealed names, dates in
 * the future, broken files), and the reportSettings answer. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check_main.h"
#include "detect.h"
#include "detect_usage.h"
#include "fixture.h"
#include "store_alert.h"
#include "store_usage.h"
#include "usage.h"

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

/* The redirect: loopback only for a loopback graph_url, https on a host of
 * the configured cloud in production, the URL's path never in the text. */
START_TEST(test_redirect_check)
{
	static const struct {
		const char *graph, *loc;
		int rc;
		const char *why;
	} cases[] = {
		{"http://127.0.0.1:8080", "http://127.0.0.1:9999/reports/x.csv", 0, NULL},
		{"http://127.0.0.1:8080", "http://[::1]:9999/reports/x.csv", 0, NULL},
		{"https://graph.microsoft.com", "https://reports.office.com/data/download/SECRET", 0, NULL},
		{"https://graph.microsoft.com", "https://x.blob.core.windows.net/r/SECRET", 0, NULL},
		{"https://graph.microsoft.us", "https://reports.office365.us/data/download/SECRET", 0, NULL},
		{"https://graph.microsoft.com", "http://reports.office.com/data/download/SECRET", -EINVAL, "only allowed for loopback"},
		{"https://graph.microsoft.com", "https://reports.office.com.evil.example/SECRET", -EINVAL, "outside the Microsoft cloud"},
		{"https://graph.microsoft.com", "https://notoffice.com/SECRET", -EINVAL, "outside the Microsoft cloud"},
		{"https://graph.microsoft.us", "https://reports.office.com/SECRET", -EINVAL, "outside the Microsoft cloud"},
		{"https://graph.microsoft.com", "http://127.0.0.1:9999/SECRET", -EINVAL, "a loopback host"},
		{"https://graph.microsoft.com", "", -EINVAL, "without a Location"},
		{"https://graph.microsoft.com", "ftp://reports.office.com/SECRET", -EINVAL, "refused"},
	};
	char why[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		int rc = sw_usage_redirect_check(cases[i].graph, cases[i].loc, why, sizeof(why));
		ck_assert_msg(rc == cases[i].rc, "%s -> %s: %d (%s)", cases[i].graph, cases[i].loc, rc, why);
		if (cases[i].why != NULL) {
			ck_assert_msg(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].loc, why);
			ck_assert_msg(strstr(why, "SECRET") == NULL, "the path is shown: %s", why);
		}
	}
}
END_TEST

static void setup(void)
{
	fixture_store_open(tmpdir, "usage", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, sizeof(entries) / sizeof(entries[0]));
	entries[0] = (struct sw_exception){.mailbox = "scanner@contoso.com", .line = 1, .owner = "facilities@contoso.com",
	                                   .ticket = "CHG-1", .expires = day("2027-01-31"), .expires_text = "2027-01-31",
	                                   .max_daily_messages = -1};
	reg.n = 1;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* Store a corpus file as the source does; the observations added. */
static size_t store_file(const char *name)
{
	struct sw_usage u;
	struct sw_error err = {0};
	size_t added = 0;

	ck_assert_int_eq(parse_file(name, &u, &err), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_usage_add(store, "contoso", u.rows, u.n, NOW, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	sw_usage_clear(&u);
	return added;
}

/* Sign-ins of the tenant refused since the start (no P1). */
static void signins_refused(void)
{
	struct sw_checkpoint cp = {.last_attempt = NOW - 60};
	snprintf(cp.last_error, sizeof(cp.last_error), "HTTP 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant");
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
}

static int detect(struct sw_detect_stats *st)
{
	memset(st, 0, sizeof(*st));
	ck_assert_int_eq(sw_store_begin(store), 0);
	int r = sw_detect_usage(store, &cfg, &tenant, &reg, NOW, st);
	ck_assert_int_eq(sw_store_commit(store), 0);
	return r;
}

/* One observation per (user, refresh date); state kept. */
START_TEST(test_store_dedupe_and_state)
{
	struct sw_usage_state st = {.refresh_day = day("2026-12-01"), .users = 3, .smtp_users = 2, .concealed = true,
	                            .concealed_users = 1, .settings = "on", .updated = NOW}, got;
	int64_t n = 0, last = 0;

	ck_assert_uint_eq(store_file("documented.csv"), 3);
	ck_assert_uint_eq(store_file("documented.csv"), 0);
	ck_assert_int_eq(sw_store_usage_smtp_count(store, "contoso", day("2026-11-01"), &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(sw_store_usage_last_use(store, "contoso", "scanner@contoso.com", &last), 0);
	ck_assert_int_eq(last, day("2026-11-30"));
	ck_assert_int_eq(sw_store_usage_last_use(store, "contoso", "alice@contoso.com", &last), 0);
	ck_assert_int_eq(last, 0); /* no SMTP App activity: not a use */
	ck_assert_int_eq(sw_store_usage_state_get(store, "contoso", &got), -ENOENT);
	ck_assert_int_eq(sw_store_usage_state_put(store, "contoso", &st), 0);
	ck_assert_int_eq(sw_store_usage_state_get(store, "contoso", &got), 0);
	ck_assert(got.concealed);
	ck_assert_int_eq(got.smtp_users, 2);
	ck_assert_str_eq(got.settings, "on");
}
END_TEST

/* Without sign-ins: the unregistered SMTP App user alerts (medium, the
 * usage evidence), the registered one does not, each observation once. */
START_TEST(test_rule_without_signins)
{
	struct sw_detect_stats st;
	struct sw_alert a = {0};

	store_file("documented.csv");
	ck_assert_int_eq(detect(&st), 0);
	ck_assert_int_eq(st.fired, 0); /* sign-ins not known to be unavailable yet */
	signins_refused();
	ck_assert_int_eq(detect(&st), 0);
	ck_assert_int_eq(st.fired, 1);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_UNAPPROVED_BASIC_AUTH, "contoso", "printer@contoso.com", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_MEDIUM);
	ck_assert_ptr_nonnull(strstr(a.summary, "per the email app usage report"));
	ck_assert_ptr_nonnull(strstr(a.summary, "Basic or OAuth is not known"));
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "auth")), "unknown");
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "usage_report_day")), "2026-12-01");
	sw_alert_clear(&a);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_UNAPPROVED_BASIC_AUTH, "contoso", "scanner@contoso.com", &a),
	                 -ENOENT);
	ck_assert_int_eq(detect(&st), 0);
	ck_assert_int_eq(st.fired, 0); /* acted on once */
}
END_TEST

/* With sign-ins readable the report adds no alert of its own. */
START_TEST(test_rule_quiet_with_signins)
{
	struct sw_detect_stats st;
	struct sw_checkpoint cp = {.last_success = NOW - 300, .last_attempt = NOW - 300};

	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	store_file("documented.csv");
	ck_assert_int_eq(detect(&st), 0);
	ck_assert_int_eq(st.fired, 0);
	ck_assert(sw_detect_signins_available(store, "contoso", NOW));
	signins_refused();
	ck_assert(!sw_detect_signins_available(store, "contoso", NOW));
}
END_TEST

/* A message trace page: rows by id, one unreadable record counted, the
 * next link; stored once; days over a limit; IPs looked at once. */
static int count_day_cb(int64_t d, double messages, void *arg)
{
	(void)d;
	*(double *)arg += messages;
	return 0;
}

static int count_ip_cb(const char *ip, int64_t first, int64_t last, int64_t count, void *arg)
{
	(void)ip;
	(void)first;
	(void)last;
	*(int64_t *)arg += count;
	return 0;
}

START_TEST(test_trace_page_and_store)
{
	const char *page = "{\"value\":[{\"id\":\"m1\",\"senderAddress\":\"Scanner@contoso.com\","
	                   "\"receivedDateTime\":\"2026-12-01T10:00:00Z\",\"fromIP\":\"198.51.100.9\"},"
	                   "{\"id\":\"m2\",\"senderAddress\":\"scanner@contoso.com\",\"receivedDateTime\":"
	                   "\"2026-12-01T11:00:00Z\",\"fromIP\":null},{\"senderAddress\":\"x@contoso.com\"}],"
	                   "\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?"
	                   "$skiptoken=2\"}";
	struct sw_trace_row *rows = NULL;
	size_t n = 0, skipped = 0, added = 0;
	char *next = NULL, why[200];
	double over = 0;
	int64_t ips = 0;

	ck_assert_int_eq(sw_trace_page_parse(page, strlen(page), &rows, &n, &next, &skipped, why, sizeof(why)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(skipped, 1);
	ck_assert_str_eq(rows[0].mailbox, "scanner@contoso.com");
	ck_assert_str_eq(rows[1].ip, "");
	ck_assert_ptr_nonnull(strstr(next, "$skiptoken=2"));
	struct sw_trace_row *none = NULL;
	char *nonext = NULL;
	size_t nn = 0;
	ck_assert_int_eq(sw_trace_page_parse("[]", 2, &none, &nn, &nonext, &skipped, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_null(none);
	ck_assert_int_eq(sw_store_trace_add(store, "contoso", rows, n, &added), 0);
	ck_assert_uint_eq(added, 2);
	ck_assert_int_eq(sw_store_trace_add(store, "contoso", rows, n, &added), 0);
	ck_assert_uint_eq(added, 0);
	ck_assert_int_eq(sw_store_trace_days_over(store, "contoso", "scanner@contoso.com", 0, 1, count_day_cb, &over), 0);
	ck_assert(over == 2);
	ck_assert_int_eq(sw_store_trace_new_ips(store, "contoso", "scanner@contoso.com", count_ip_cb, &ips), 0);
	ck_assert_int_eq(ips, 1); /* the one with a fromIP */
	ck_assert_int_eq(sw_store_trace_alerted(store, "contoso", "scanner@contoso.com"), 0);
	ips = 0;
	ck_assert_int_eq(sw_store_trace_new_ips(store, "contoso", "scanner@contoso.com", count_ip_cb, &ips), 0);
	ck_assert_int_eq(ips, 0);
	free(rows);
	free(next);
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
	tcase_add_test(tc, test_redirect_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("store and rule");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_dedupe_and_state);
	tcase_add_test(tc, test_rule_without_signins);
	tcase_add_test(tc, test_rule_quiet_with_signins);
	tcase_add_test(tc, test_trace_page_and_store);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(usage_suite)
