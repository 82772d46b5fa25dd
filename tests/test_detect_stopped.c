/* test_detect_stopped.c: basic-sender-stopped, from days of use in a real
 * store to the alert a user would see, at fixed times (no clock). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "detect.h"
#include "detect_stopped.h"
#include "fixture.h"
#include "store_int.h"
#include "store_report.h"

#define DAY 86400LL
#define NOW (1798761600LL + 5 * DAY + 10 * 3600) /* 2027-01-06T10:00:00Z */
#define TODAY (NOW - NOW % DAY)

static char tmpdir[64];
static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sinks[1];
static struct sw_tenant_config tenant;
static struct sw_register reg;
static struct sw_exception entries[1];
static int seq;

static void setup(void)
{
	fixture_store_open(tmpdir, "stopped", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, 1);
	cfg.rules.stale_after = 3 * 3600;
	entries[0] = (struct sw_exception){.mailbox = "scanner-hq@contoso.com", .owner = "facilities@contoso.com",
	                                   .expires = NOW + 40 * DAY, .expires_text = "2027-02-15",
	                                   .max_daily_messages = -1, .device = "Ricoh MP C3004"};
	reg.n = 1;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* One successful SMTP sign-in of upn on the day `ago` days before today. */
static void signin(const char *upn, int ago)
{
	char id[32];
	struct sw_signin v = {.id = id, .created = TODAY - ago * DAY + 9 * 3600, .created_text = "x", .upn = (char *)upn,
	                      .ip = "203.0.113.5", .client_app = "Authenticated SMTP"};

	snprintf(id, sizeof(id), "s-%d", seq++);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &v, 1, NOW, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

/* A report row of sender on the day `ago` days before today. */
static void report(const char *sender, enum sw_report_auth auth, int ago)
{
	struct sw_report_row row = {.sender = (char *)sender, .messages = 12, .tls10 = -1, .tls11 = -1, .tls12 = -1,
	                            .auth = auth, .day_start = TODAY - ago * DAY, .day_end = TODAY - ago * DAY + DAY,
	                            .dated = true};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_report_rows_add(store, "contoso", 0, &row, 1, NOW, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

/* The sign-ins were read up to `at` (the source watched the quiet days). */
static void watched(int64_t at)
{
	struct sw_checkpoint cp = {.watermark = at, .last_success = at, .last_attempt = at};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

static void detect(int64_t now)
{
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, now, SW_DETECT_STATE, NULL), 0);
}

/* The alert's status, -1 when there is none; its summary into buf. */
static int status_of(const char *subject, char *buf, size_t n)
{
	struct sw_alert a = {0};
	int st;

	if (sw_store_alert_find(store, SW_RULE_BASIC_STOPPED, "contoso", subject, &a) != 0)
		return -1;
	st = (int)a.status;
	if (buf != NULL)
		snprintf(buf, n, "%s", a.summary ? a.summary : "");
	sw_alert_clear(&a);
	return st;
}

/* The condition on days alone: 5 of the 14 days before the last 3, and
 * nothing in the last 3 (today and the two days before). */
START_TEST(condition_table)
{
	static const struct {
		int basic_ago[16];
		int oauth_ago;
		bool holds;
	} cases[] = {
		{{3, 4, 5, 6, 7, -1}, -1, true},             /* 5 days, stopped 3 days ago */
		{{3, 4, 5, 6, -1}, -1, false},               /* 4 days: not a regular sender */
		{{2, 4, 5, 6, 7, 8, -1}, -1, false},         /* Basic 2 days ago: not silent */
		{{16, 15, 14, 13, 12, -1}, -1, true},        /* the oldest 5 days of the window */
		{{17, 16, 15, 14, 13, -1}, -1, false},       /* 17 days ago is outside: only 4 */
		{{3, 4, 5, 6, 7, -1}, 0, false},             /* OAuth today: it submits, not silent */
		{{0, 3, 4, 5, 6, 7, -1}, -1, false},         /* Basic today */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sw_sender_use u = {0};
		for (int k = 0; cases[i].basic_ago[k] >= 0; k++)
			sw_sender_use_add(&u, TODAY - cases[i].basic_ago[k] * DAY, true, false, NOW);
		if (cases[i].oauth_ago >= 0)
			sw_sender_use_add(&u, TODAY - cases[i].oauth_ago * DAY, false, true, NOW);
		ck_assert_msg(sw_stopped_holds(&u) == cases[i].holds, "case %zu", i);
	}
}
END_TEST

START_TEST(comeback_table)
{
	struct sw_sender_use u = {0};
	int64_t stop = TODAY - 5 * DAY;

	sw_sender_use_add(&u, stop, true, false, NOW);
	ck_assert_int_eq(sw_stopped_comeback(&u, stop), SW_COMEBACK_NONE);
	sw_sender_use_add(&u, TODAY, false, false, NOW);
	ck_assert_int_eq(sw_stopped_comeback(&u, stop), SW_COMEBACK_OTHER);
	sw_sender_use_add(&u, TODAY, false, true, NOW);
	ck_assert_int_eq(sw_stopped_comeback(&u, stop), SW_COMEBACK_OAUTH);
	sw_sender_use_add(&u, TODAY, true, false, NOW);
	ck_assert_int_eq(sw_stopped_comeback(&u, stop), SW_COMEBACK_BASIC);
}
END_TEST

/* A scanner that sent every day until 3 days ago fires (low), with its
 * device and owner from the register; one that still sends, or sent on
 * too few days, does not; it stays firing while silent, and resolves
 * "now on OAuth" when the report shows it on OAuth. */
START_TEST(fires_then_now_on_oauth)
{
	char summary[1200];

	for (int ago = 3; ago <= 16; ago++)
		signin("Scanner-HQ@contoso.com", ago);
	for (int ago = 0; ago <= 16; ago++)
		signin("busy@contoso.com", ago);
	for (int ago = 3; ago <= 6; ago++)
		signin("rare@contoso.com", ago);
	for (int ago = 4; ago <= 10; ago++)
		report("moved@contoso.com", SW_AUTH_BASIC, ago);
	report("moved@contoso.com", SW_AUTH_OAUTH, 1);

	/* Nothing watched the quiet days: silence is no news. */
	watched(NOW - 2 * DAY);
	detect(NOW);
	ck_assert_int_eq(status_of("scanner-hq@contoso.com", NULL, 0), -1);

	watched(NOW - 600);
	detect(NOW);
	ck_assert_int_eq(status_of("scanner-hq@contoso.com", summary, sizeof(summary)), SW_ALERT_FIRING);
	ck_assert_msg(strstr(summary, "scanner-hq@contoso.com (Ricoh MP C3004, owner facilities@contoso.com) submitted "
	                              "with Basic SMTP AUTH on 14 of the 14 days") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "not submitted since 2027-01-03") != NULL, "%s", summary);
	ck_assert_int_eq(status_of("busy@contoso.com", NULL, 0), -1);
	ck_assert_int_eq(status_of("rare@contoso.com", NULL, 0), -1);
	ck_assert_int_eq(status_of("moved@contoso.com", NULL, 0), -1); /* on OAuth yesterday: not silent */

	struct sw_alert a = {0};
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_BASIC_STOPPED, "contoso", "scanner-hq@contoso.com", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_LOW);
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "last_basic")), "2027-01-03");
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "device")), "Ricoh MP C3004");
	sw_alert_clear(&a);

	/* Twenty days later, still silent: still firing (broken stays broken). */
	watched(NOW + 20 * DAY);
	detect(NOW + 20 * DAY);
	ck_assert_int_eq(status_of("scanner-hq@contoso.com", NULL, 0), SW_ALERT_FIRING);

	/* It comes back on OAuth: resolved, saying so. */
	report("scanner-hq@contoso.com", SW_AUTH_OAUTH, -20);
	detect(NOW + 20 * DAY + 3600);
	ck_assert_int_eq(status_of("scanner-hq@contoso.com", summary, sizeof(summary)), SW_ALERT_RESOLVED);
	ck_assert_msg(strstr(summary, "now on OAuth (on 2027-01-26)") != NULL, "%s", summary);
}
END_TEST

/* Back with Basic: resolved as such, not as a migration. */
START_TEST(back_on_basic)
{
	char summary[1200];

	for (int ago = 3; ago <= 9; ago++)
		signin("printer@contoso.com", ago);
	watched(NOW - 60);
	detect(NOW);
	ck_assert_int_eq(status_of("printer@contoso.com", NULL, 0), SW_ALERT_FIRING);
	signin("printer@contoso.com", -1);
	watched(NOW + DAY);
	detect(NOW + DAY);
	ck_assert_int_eq(status_of("printer@contoso.com", summary, sizeof(summary)), SW_ALERT_RESOLVED);
	ck_assert_msg(strstr(summary, "submits with Basic SMTP AUTH again (on 2027-01-07)") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "OAuth") == NULL, "%s", summary);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("detect_stopped");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, condition_table);
	tcase_add_test(tc, comeback_table);
	tcase_add_test(tc, fires_then_now_on_oauth);
	tcase_add_test(tc, back_on_basic);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(suite)
