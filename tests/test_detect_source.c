/* test_detect_source.c: source-unhealthy and coverage-gap transitions. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "fixture.h"
#include "detect_source.h"

#define NOW 1795000000LL
#define HOUR 3600
#define DAY 86400

static char tmpdir[64];
static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sink;
static struct sw_tenant_config tenant;
static struct sw_register reg;

static void setup(void)
{
	fixture_store_open(tmpdir, "dsrc", &store);
	fixture_config(&cfg, &sink, &tenant, &reg, NULL, 0);
	cfg.rules.stale_after = 3 * HOUR;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

static void run(const struct sw_source_health *h, int64_t now)
{
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_detect_source(store, &cfg, &tenant, h, now, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

/* The status of (rule, subject): 'F' firing, 'R' resolved, '-' none. */
static char state(const char *rule, const char *subject)
{
	struct sw_alert a = {0};
	char c = '-';

	if (sw_store_alert_find(store, rule, "contoso", subject, &a) == 0)
		c = a.status == SW_ALERT_FIRING ? 'F' : 'R';
	sw_alert_clear(&a);
	return c;
}

START_TEST(test_stale_then_recovers)
{
	struct sw_source_health h = {.source = "signins", .watching_since = NOW - 10 * HOUR,
	                             .last_success = NOW - 2 * HOUR, .watermark = NOW - 2 * HOUR,
	                             .last_error = "HTTP 503", .hint = "fix it"};

	run(&h, NOW);
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), '-'); /* 2h < 3h */
	run(&h, NOW + HOUR);
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), 'F'); /* 3h */
	h.last_success = NOW + HOUR + 60;
	h.last_error = NULL;
	run(&h, NOW + HOUR + 60);
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), 'R');
}
END_TEST

START_TEST(test_denied_fires_at_once_with_hint)
{
	struct sw_alert a = {0};
	struct sw_source_health h = {.source = "exchange", .watching_since = NOW - 60, .denied = true,
	                             .last_error = "HTTP 403 Forbidden", .hint = "needs Exchange.ManageAsApp"};

	run(&h, NOW);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_SOURCE_UNHEALTHY, "contoso", "exchange", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_MEDIUM);
	ck_assert_ptr_nonnull(strstr(a.summary, "refused: HTTP 403"));
	ck_assert_str_eq(a.remediation, "needs Exchange.ManageAsApp");
	sw_alert_clear(&a);
	/* No coverage-gap for Exchange: snapshots have no retention. */
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "exchange"), '-');
}
END_TEST

/* No Entra ID P1: with the usage report on, neither source-unhealthy nor
 * coverage-gap, ever (a firing one from before resolves); with usage off,
 * source-unhealthy says what to turn on, and still no coverage-gap. */
START_TEST(test_unlicensed_signins)
{
	struct sw_alert a = {0};
	struct sw_source_health h = {.source = "signins", .watching_since = NOW - 40 * DAY, .denied = true,
	                             .backfill_from = NOW - 41 * DAY,
	                             .last_error = "HTTP 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant: "
	                                           "Neither tenant is B2C or tenant doesn't have premium license",
	                             .hint = "needs P1"};

	tenant.usage = false;
	run(&h, NOW);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_SOURCE_UNHEALTHY, "contoso", "signins", &a), 0);
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	ck_assert_ptr_nonnull(strstr(a.summary, "no Entra ID P1 or P2"));
	ck_assert_ptr_nonnull(strstr(a.remediation, "usage = on"));
	sw_alert_clear(&a);
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), '-'); /* 41 days unread, nothing to lose */
	tenant.usage = true;
	run(&h, NOW + HOUR);
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), 'R');
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), '-');
	/* Another 403 of the same source is still a refusal. */
	h.last_error = "HTTP 403 Forbidden";
	run(&h, NOW + 2 * HOUR);
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), 'F');
}
END_TEST

START_TEST(test_coverage_gap_before_retention)
{
	struct sw_source_health h = {.source = "signins", .watching_since = NOW - 30 * DAY,
	                             .last_success = NOW - 26 * DAY, .watermark = NOW - 26 * DAY,
	                             .last_error = "HTTP 403"};

	run(&h, NOW);
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), '-'); /* lost in 4 days */
	run(&h, NOW + DAY);
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), 'F'); /* lost in 3 days */
	h.last_success = NOW + DAY + 10;
	h.watermark = NOW + DAY + 10;
	h.last_error = NULL;
	run(&h, NOW + DAY + 10);
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), 'R');
}
END_TEST

START_TEST(test_never_succeeded_gap_from_backfill)
{
	struct sw_source_health h = {.source = "signins", .watching_since = NOW - DAY,
	                             .backfill_from = NOW - 28 * DAY, .last_error = "AADSTS7000222: expired"};

	run(&h, NOW);
	ck_assert_int_eq(state(SW_RULE_COVERAGE_GAP, "signins"), 'F');
	ck_assert_int_eq(state(SW_RULE_SOURCE_UNHEALTHY, "signins"), 'F'); /* a day without success */
}
END_TEST

static Suite *detect_source_suite(void)
{
	Suite *s = suite_create("detect_source");
	TCase *tc = tcase_create("health");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stale_then_recovers);
	tcase_add_test(tc, test_denied_fires_at_once_with_hint);
	tcase_add_test(tc, test_coverage_gap_before_retention);
	tcase_add_test(tc, test_unlicensed_signins);
	tcase_add_test(tc, test_never_succeeded_gap_from_backfill);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(detect_source_suite)
