/* test_detect.c: the rules, from observations in a real SQLite store to
 * the alerts and outbox rows a user would see. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "store_int.h"
#include "fixture.h"
#include "detect.h"
#include "detect_attack.h"
#include "store_exo.h"

#define NOW 1795000000LL /* 2026-11-18 */
#define DAY 86400

static char tmpdir[64];
static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sinks[1];
static struct sw_tenant_config tenant;
static struct sw_register reg;
static struct sw_exception entries[4];

static void setup(void)
{
	fixture_store_open(tmpdir, "detect", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, 4);
	entries[0] = (struct sw_exception){.mailbox = "scanner-hq@contoso.com", .line = 1, .owner = "facilities@contoso.com",
	                                   .ticket = "CHG-1", .expires = NOW + 40 * DAY, .expires_text = "2026-12-28",
	                                   .max_daily_messages = -1};
	reg.n = 1;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* Store n sign-ins of upn from ip, one a minute from t. */
static void add_signins(const char *idp, const char *upn, const char *ip, int error_code, int n, int64_t t)
{
	struct sw_signin *v = calloc((size_t)n, sizeof(*v));
	char (*ids)[64] = calloc((size_t)n, 64);
	size_t added = 0;

	for (int i = 0; i < n; i++) {
		snprintf(ids[i], 64, "%s-%d", idp, i);
		v[i].id = ids[i];
		v[i].created = t + i * 60;
		v[i].created_text = "x";
		v[i].upn = (char *)upn;
		v[i].ip = (char *)ip;
		v[i].country = "NL";
		v[i].client_app = "Authenticated SMTP";
		v[i].error_code = error_code;
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", v, (size_t)n, NOW, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	free(v);
	free(ids);
}

static int64_t outbox_rows(void)
{
	sqlite3_stmt *st;
	int64_t n;
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), "SELECT COUNT(*) FROM outbox", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The alert of (rule, subject); fails the test when absent. */
static void get_alert(const char *rule, const char *subject, struct sw_alert *a)
{
	ck_assert_msg(sw_store_alert_find(store, rule, "contoso", subject, a) == 0, "no %s alert for %s", rule, subject);
}

static bool has_alert(const char *rule, const char *subject, enum sw_alert_status status)
{
	struct sw_alert a = {0};
	bool found = sw_store_alert_find(store, rule, "contoso", subject, &a) == 0 && a.status == status;
	sw_alert_clear(&a);
	return found;
}

static void detect(int64_t now)
{
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, now, SW_DETECT_ALL, NULL), 0);
}

/* A full disk during detection is reported as one (-ENOSPC), not as an
 * I/O error, whichever detector's write meets it: here the failure
 * rollup, the only write of a page of failures below every threshold.  A
 * real SQLITE_FULL: the database may not grow (PRAGMA max_page_count).
 * Nothing is lost: with room again the same page is examined. */
START_TEST(test_disk_full_during_detection)
{
	enum { N = 400 };
	struct sw_signin *v = calloc(N, sizeof(*v));
	char (*ids)[32] = calloc(N, 32), (*upns)[48] = calloc(N, 48), (*ips)[24] = calloc(N, 24);
	char sql[64];
	sqlite3_stmt *st;
	json_t *top;

	for (int i = 0; i < N; i++) {
		snprintf(ids[i], 32, "f-%d", i);
		snprintf(upns[i], 48, "user%d@contoso.com", i);
		snprintf(ips[i], 24, "10.0.%d.%d", i / 200, i % 200);
		v[i] = (struct sw_signin){.id = ids[i], .created = NOW - 3600 + i, .created_text = "x", .upn = upns[i],
		                          .ip = ips[i], .country = "NL", .client_app = "Authenticated SMTP",
		                          .error_code = 50126};
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", v, N, NOW, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store), sql, NULL, NULL, NULL), SQLITE_OK);

	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, NOW, SW_DETECT_SIGNINS, NULL), -ENOSPC);
	ck_assert_msg(strstr(sw_store_errmsg(store), "full") != NULL, "%s", sw_store_errmsg(store));

	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store), "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, NOW, SW_DETECT_SIGNINS, NULL), 0);
	top = sw_detect_top_failures(store, "contoso", NOW - DAY, 1000);
	ck_assert_ptr_nonnull(top);
	ck_assert_int_eq(json_array_size(top), N);
	json_decref(top);
	free(v);
	free(ids);
	free(upns);
	free(ips);
}
END_TEST

START_TEST(test_unapproved_submission_grouped)
{
	struct sw_alert a = {0};

	add_signins("s2", "scanner2@contoso.com", "198.51.100.7", 0, 5, NOW - 3600);
	add_signins("hq", "scanner-hq@contoso.com", "203.0.113.5", 0, 6, NOW - 3600);
	add_signins("al", "alice@contoso.com", "192.0.2.9", 50126, 3, NOW - 3600);
	detect(NOW);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a);
	ck_assert_int_eq(a.count, 5);
	ck_assert_int_eq(a.severity, SW_SEV_HIGH);
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	ck_assert_int_eq(a.first_seen, NOW - 3600);
	ck_assert_int_eq(a.last_seen, NOW - 3600 + 4 * 60);
	ck_assert_msg(strstr(a.summary, "sent 5 messages") && strstr(a.summary, "198.51.100.7"), "%s", a.summary);
	ck_assert_int_eq(json_array_size(json_object_get(a.evidence, "signin_ids")), 5);
	sw_alert_clear(&a);
	ck_assert(!has_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	ck_assert(!has_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "alice@contoso.com", SW_ALERT_FIRING));
	ck_assert_int_eq(outbox_rows(), 1);

	/* Nothing new: nothing sent. */
	detect(NOW + 60);
	ck_assert_int_eq(outbox_rows(), 1);
}
END_TEST

START_TEST(test_late_records_count_and_power_of_two)
{
	struct sw_alert a = {0};

	add_signins("a", "app@contoso.com", "192.0.2.44", 0, 3, NOW - 7200);
	detect(NOW);
	ck_assert_int_eq(outbox_rows(), 1);
	/* Late records (older created time) arrive later: counted once. */
	add_signins("b", "app@contoso.com", "192.0.2.45", 0, 2, NOW - 9000);
	detect(NOW + 300);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "app@contoso.com", &a);
	ck_assert_int_eq(a.count, 5);
	ck_assert_int_eq(a.first_seen, NOW - 9000);
	ck_assert_msg(strstr(a.summary, "sent 5 messages") && strstr(a.summary, "192.0.2.45"), "%s", a.summary);
	sw_alert_clear(&a);
	ck_assert_int_eq(outbox_rows(), 2); /* 5 passed 4, the next power of two above 3 */
	add_signins("c", "app@contoso.com", "192.0.2.44", 0, 2, NOW);
	detect(NOW + 600);
	ck_assert_int_eq(outbox_rows(), 2); /* 7 < 8 */
	add_signins("d", "app@contoso.com", "192.0.2.44", 0, 1, NOW + 600);
	detect(NOW + 900);
	ck_assert_int_eq(outbox_rows(), 3); /* 8 */
	/* Duplicates (same id) are not stored, so not counted. */
	add_signins("d", "app@contoso.com", "192.0.2.44", 0, 1, NOW + 600);
	detect(NOW + 1000);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "app@contoso.com", &a);
	ck_assert_int_eq(a.count, 8);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_expired_exception_is_unapproved_and_registering_resolves)
{
	entries[0].expires = NOW - 10 * DAY;
	add_signins("hq", "scanner-hq@contoso.com", "203.0.113.5", 0, 2, NOW - 600);
	detect(NOW);
	ck_assert(has_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	entries[0].expires = NOW + 30 * DAY; /* renewed */
	detect(NOW + 60);
	ck_assert(has_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner-hq@contoso.com", SW_ALERT_RESOLVED));
}
END_TEST

/* Put a snapshot: tenant switch and mailboxes (address, tri-state). */
static void snapshot(bool tenant_disabled, const char *const *addrs, const enum sw_tristate *vals, size_t n, int64_t at)
{
	struct sw_tenant_state ts = {.observed = at, .smtp_disabled = tenant_disabled, .policy_allows_basic = true};
	struct sw_mailbox *m = calloc(n + 1, sizeof(*m));
	size_t changed;

	for (size_t i = 0; i < n; i++) {
		m[i].address = (char *)addrs[i];
		m[i].identity = (char *)addrs[i];
		m[i].smtp_disabled = vals[i];
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_tenant_state_put(store, "contoso", &ts, at), 0);
	ck_assert_int_eq(sw_store_mailboxes_put(store, "contoso", m, n, at, true, &changed), 0);
	ck_assert_int_eq(sw_store_mailboxes_sweep(store, "contoso", at, &changed), 0);
	struct sw_checkpoint cp = {.watermark = at, .last_success = at};
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "exchange", &cp), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	free(m);
}

START_TEST(test_tenant_switch_one_alert_not_per_mailbox)
{
	const char *addrs[] = {"scanner-hq@contoso.com", "a@contoso.com", "b@contoso.com", "c@contoso.com"};
	enum sw_tristate vals[] = {SW_TRI_FALSE, SW_TRI_NULL, SW_TRI_NULL, SW_TRI_NULL};
	struct sw_alert a = {0};

	snapshot(false, addrs, vals, 4, NOW);
	detect(NOW);
	get_alert(SW_RULE_TENANT_ENABLED, "contoso.onmicrosoft.com", &a);
	ck_assert_int_eq(a.severity, SW_SEV_CRITICAL);
	ck_assert_ptr_nonnull(strstr(a.remediation, "Set-TransportConfig -SmtpClientAuthenticationDisabled $true"));
	sw_alert_clear(&a);
	ck_assert(!has_alert(SW_RULE_UNAPPROVED_MAILBOX, "a@contoso.com", SW_ALERT_FIRING));
	ck_assert_int_eq(outbox_rows(), 1);
	detect(NOW + 60);
	ck_assert_int_eq(outbox_rows(), 1); /* the same condition is not sent again */

	snapshot(true, addrs, vals, 4, NOW + 3600);
	detect(NOW + 3600);
	ck_assert(has_alert(SW_RULE_TENANT_ENABLED, "contoso.onmicrosoft.com", SW_ALERT_RESOLVED));
	ck_assert_int_eq(outbox_rows(), 2);
	snapshot(false, addrs, vals, 4, NOW + 7200);
	detect(NOW + 7200);
	ck_assert(has_alert(SW_RULE_TENANT_ENABLED, "contoso.onmicrosoft.com", SW_ALERT_FIRING));
	ck_assert_int_eq(outbox_rows(), 3); /* it came back */
}
END_TEST

START_TEST(test_unapproved_mailbox_override)
{
	const char *addrs[] = {"scanner-hq@contoso.com", "printer@contoso.com", "d@contoso.com"};
	enum sw_tristate vals[] = {SW_TRI_FALSE, SW_TRI_FALSE, SW_TRI_TRUE};
	struct sw_alert a = {0};

	snapshot(true, addrs, vals, 3, NOW);
	detect(NOW);
	get_alert(SW_RULE_UNAPPROVED_MAILBOX, "printer@contoso.com", &a);
	ck_assert_int_eq(a.severity, SW_SEV_HIGH);
	ck_assert_msg(strstr(a.summary, "on: mailbox override false") != NULL, "%s", a.summary);
	sw_alert_clear(&a);
	ck_assert(!has_alert(SW_RULE_UNAPPROVED_MAILBOX, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	ck_assert(!has_alert(SW_RULE_TENANT_ENABLED, "contoso.onmicrosoft.com", SW_ALERT_FIRING));

	/* The override goes back to null: resolved; history records it. */
	vals[1] = SW_TRI_NULL;
	snapshot(true, addrs, vals, 3, NOW + 3600);
	detect(NOW + 3600);
	ck_assert(has_alert(SW_RULE_UNAPPROVED_MAILBOX, "printer@contoso.com", SW_ALERT_RESOLVED));
}
END_TEST

START_TEST(test_register_rules)
{
	const char *addrs[] = {"scanner-hq@contoso.com", "fax@contoso.com", "old@contoso.com"};
	enum sw_tristate vals[] = {SW_TRI_FALSE, SW_TRI_FALSE, SW_TRI_TRUE};

	entries[0].expires = NOW + 5 * DAY; /* expiring */
	entries[1] = (struct sw_exception){.mailbox = "fax@contoso.com", .line = 8, .owner = "o", .ticket = "t",
	                                   .expires = NOW - DAY, .expires_text = "2026-11-17", .max_daily_messages = -1};
	entries[2] = (struct sw_exception){.mailbox = "old@contoso.com", .line = 15, .expires = NOW + 50 * DAY,
	                                   .expires_text = "2027-01-07", .max_daily_messages = -1};
	entries[3] = (struct sw_exception){.mailbox = "gone@contoso.com", .line = 20, .expires = NOW + 50 * DAY,
	                                   .expires_text = "2027-01-07", .max_daily_messages = -1};
	reg.n = 4;
	snapshot(true, addrs, vals, 3, NOW);
	detect(NOW);
	ck_assert(has_alert(SW_RULE_EXPIRING, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	ck_assert(has_alert(SW_RULE_EXPIRED, "fax@contoso.com", SW_ALERT_FIRING));
	ck_assert(!has_alert(SW_RULE_UNAPPROVED_MAILBOX, "fax@contoso.com", SW_ALERT_FIRING));
	ck_assert(has_alert(SW_RULE_STALE, "old@contoso.com", SW_ALERT_FIRING));
	ck_assert(has_alert(SW_RULE_STALE, "gone@contoso.com", SW_ALERT_FIRING));
	ck_assert(!has_alert(SW_RULE_STALE, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	/* No sign-in coverage yet: nothing is called unused. */
	ck_assert(!has_alert(SW_RULE_UNUSED, "scanner-hq@contoso.com", SW_ALERT_FIRING));

	/* The expired mailbox is turned off: expired resolves, stale fires. */
	vals[1] = SW_TRI_TRUE;
	snapshot(true, addrs, vals, 3, NOW + 3600);
	detect(NOW + 3600);
	ck_assert(has_alert(SW_RULE_EXPIRED, "fax@contoso.com", SW_ALERT_RESOLVED));
}
END_TEST

START_TEST(test_unused_needs_coverage)
{
	struct sw_checkpoint since = {.watermark = NOW - 40 * DAY};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins-since", &since), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	detect(NOW);
	ck_assert(has_alert(SW_RULE_UNUSED, "scanner-hq@contoso.com", SW_ALERT_FIRING));
	add_signins("hq", "scanner-hq@contoso.com", "203.0.113.5", 0, 1, NOW - 600);
	detect(NOW + 60);
	ck_assert(has_alert(SW_RULE_UNUSED, "scanner-hq@contoso.com", SW_ALERT_RESOLVED));
}
END_TEST
/* The remediation's -Identity is one PowerShell single-quoted string: a
 * quote in the name is doubled, so the rest of the name cannot become a
 * second cmdlet when the line is pasted. */
START_TEST(test_remediation_identity_quoted)
{
	struct sw_alert a = {0};
	const char *upn = "o'brien@contoso.com';Remove-Mailbox x -Confirm:$false;'";

	add_signins("ob", upn, "198.51.100.7", 0, 2, NOW - 3600);
	detect(NOW);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, upn, &a);
	ck_assert_str_eq(a.remediation, "Set-CASMailbox -Identity 'o''brien@contoso.com'';Remove-Mailbox x "
	                                "-Confirm:$false;''' -SmtpClientAuthenticationDisabled $true");
	sw_alert_clear(&a);
}
END_TEST

/* A budget spent after every page. */
static bool spent_always(void *arg)
{
	(*(int *)arg)++;
	return true;
}

/* Sliced detection (issue 22 #4): a budget that is spent after each page
 * or step examines one page of SW_DETECT_SLICE_PAGE sign-ins a call and
 * says more is pending; then the rules that read the whole store take a
 * call each; the calls together examine every sign-in once and raise the
 * alert one call over the whole backlog would.  Sign-ins stored while the
 * steps run are examined before the pass ends. */
START_TEST(test_sliced_detection)
{
	struct sw_detect_stats st = {0};
	struct sw_alert a = {0};
	int asked = 0, calls = 0, page_calls = 0;
	int64_t examined = 0;
	struct sw_detect_budget budget = {spent_always, &asked, 0, 0};
	bool added = false;

	add_signins("bulk", "scanner2@contoso.com", "198.51.100.7", 0, 1200, NOW - 86400);
	do {
		st = (struct sw_detect_stats){0};
		ck_assert_int_eq(sw_detect_tenant_sliced(store, &cfg, &tenant, &reg, NOW, SW_DETECT_ALL, &budget, &st), 0);
		ck_assert_int_le(st.signins_examined, SW_DETECT_SLICE_PAGE);
		examined += st.signins_examined;
		page_calls += st.signins_examined > 0;
		calls++;
		/* Between two steps, a run stores 30 more. */
		if (!added && budget.step > 2) {
			add_signins("late", "scanner3@contoso.com", "198.51.100.8", 0, 30, NOW - 600);
			added = true;
		}
	} while (st.pending && calls < 100);
	ck_assert(!st.pending);
	ck_assert(added);
	ck_assert_int_eq(budget.step, 0); /* the pass is over */
	ck_assert_int_eq(page_calls, 4);  /* 500 + 500 + 200, then the 30 */
	ck_assert_int_eq(examined, 1230);
	/* Every step a call of its own, twice over (the second pass). */
	ck_assert_int_gt(calls, 8);
	ck_assert_int_eq(asked, calls - 1 - 1); /* not before the first unit of a call, nor after the last */
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a);
	ck_assert_int_eq(a.count, 1200);
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner3@contoso.com", &a);
	ck_assert_int_eq(a.count, 30);
	sw_alert_clear(&a);

	/* Nothing new: the steps only, nothing examined, the pass ends. */
	calls = 0;
	do {
		st = (struct sw_detect_stats){0};
		ck_assert_int_eq(sw_detect_tenant_sliced(store, &cfg, &tenant, &reg, NOW + 60, SW_DETECT_ALL, &budget, &st),
		                 0);
		ck_assert_int_eq(st.signins_examined, 0);
		calls++;
	} while (st.pending && calls < 100);
	ck_assert(!st.pending);
	ck_assert_int_eq(budget.step, 0);
}
END_TEST

/* The caller sizes the pages (issue 22 #4: a page runs whole, so its
 * size bounds a slice): pages of budget.page sign-ins, the last one what
 * is left; the alert counts every sign-in once, as with pages of 500; a
 * page above SW_DETECT_SLICE_PAGE reads SW_DETECT_SLICE_PAGE. */
START_TEST(test_sliced_detection_page_size)
{
	struct sw_detect_stats st = {0};
	struct sw_alert a = {0};
	int asked = 0, calls = 0, page_calls = 0;
	int64_t examined = 0, biggest = 0;
	struct sw_detect_budget budget = {spent_always, &asked, 0, 120};

	add_signins("bulk", "scanner2@contoso.com", "198.51.100.7", 0, 500, NOW - 86400);
	add_signins("mix", "mfp@contoso.com", "198.51.100.9", 0, 100, NOW - 86000);
	do {
		st = (struct sw_detect_stats){0};
		ck_assert_int_eq(sw_detect_tenant_sliced(store, &cfg, &tenant, &reg, NOW, SW_DETECT_ALL, &budget, &st), 0);
		if (st.signins_examined > biggest)
			biggest = st.signins_examined;
		examined += st.signins_examined;
		page_calls += st.signins_examined > 0;
		calls++;
	} while (st.pending && calls < 100);
	ck_assert(!st.pending);
	ck_assert_int_eq(biggest, 120);
	ck_assert_int_eq(page_calls, 5); /* 4 x 120 + 120 */
	ck_assert_int_eq(examined, 600);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "scanner2@contoso.com", &a);
	ck_assert_int_eq(a.count, 500);
	sw_alert_clear(&a);
	get_alert(SW_RULE_UNAPPROVED_BASIC_AUTH, "mfp@contoso.com", &a);
	ck_assert_int_eq(a.count, 100);
	sw_alert_clear(&a);

	/* Too big a page is the largest one. */
	add_signins("more", "scanner3@contoso.com", "198.51.100.8", 0, 700, NOW - 600);
	budget.page = 100000;
	st = (struct sw_detect_stats){0};
	ck_assert_int_eq(sw_detect_tenant_sliced(store, &cfg, &tenant, &reg, NOW, SW_DETECT_ALL, &budget, &st), 0);
	ck_assert_int_eq(st.signins_examined, SW_DETECT_SLICE_PAGE);
	ck_assert(st.pending);
}
END_TEST

static Suite *detect_suite(void)
{
	Suite *s = suite_create("detect");
	TCase *tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unapproved_submission_grouped);
	tcase_add_test(tc, test_sliced_detection);
	tcase_add_test(tc, test_sliced_detection_page_size);
	tcase_add_test(tc, test_disk_full_during_detection);
	tcase_add_test(tc, test_late_records_count_and_power_of_two);
	tcase_add_test(tc, test_expired_exception_is_unapproved_and_registering_resolves);
	tcase_add_test(tc, test_tenant_switch_one_alert_not_per_mailbox);
	tcase_add_test(tc, test_unapproved_mailbox_override);
	tcase_add_test(tc, test_register_rules);
	tcase_add_test(tc, test_unused_needs_coverage);
	tcase_add_test(tc, test_remediation_identity_quoted);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(detect_suite)
