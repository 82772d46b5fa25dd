/* test_remediate.c: remediation's pure parts (remediate.h): the cmdlet and
 * the refusals, the register check, auto mode's guard (mode, rules, rate,
 * register, snapshot age), the enforcement plan; and its table
 * (store_remediate.h) on a real database, with the remediated transition
 * queued for the sinks. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"
#include "fixture.h"
#include "remediate.h"
#include "store_remediate.h"

#define NOW 1796300000LL /* 2026-12-03 */

static char dir[64];
static struct sw_register *reg;

/* A register whose m-reg@contoso.com is valid for 20 more days and whose
 * m-old@contoso.com expired yesterday. */
static void setup(void)
{
	struct sw_diag diag = {0};
	char path[128], day[2][16];
	FILE *f;

	fixture_tmpdir(dir, sizeof(dir), "test-remediate");
	snprintf(path, sizeof(path), "%s/exceptions.conf", dir);
	for (int i = 0; i < 2; i++) {
		time_t t = (time_t)(i == 0 ? NOW + 20 * 86400 : NOW - 2 * 86400);
		struct tm tm;
		strftime(day[i], sizeof(day[i]), "%Y-%m-%d", gmtime_r(&t, &tm));
	}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[exception m-reg@contoso.com]\nowner = ops@contoso.com\nticket = CHG-9\nexpires = %s\n\n"
	           "[exception m-old@contoso.com]\nowner = ops@contoso.com\nticket = CHG-8\nexpires = %s\n",
	        day[0], day[1]);
	fclose(f);
	ck_assert_int_eq(sw_register_load(path, 90 * 86400, NOW, &reg, &diag), 0);
	sw_diag_clear(&diag);
}

static void teardown(void)
{
	sw_register_free(reg);
	reg = NULL;
	fixture_rmtree(dir);
}

/* A firing alert of rule for subject. */
static struct sw_alert alert_of(const char *rule, const char *subject)
{
	struct sw_alert a = {.rule = (char *)rule, .subject = (char *)subject, .status = SW_ALERT_FIRING};

	snprintf(a.id, sizeof(a.id), "a-000042");
	return a;
}

START_TEST(cmd_for_mailbox_and_tenant)
{
	struct sw_remedy_cmd c;
	struct sw_alert a = alert_of("unapproved-mailbox-exception", "scanner2@contoso.com");
	char why[512];

	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.cmdlet, "Set-CASMailbox");
	ck_assert_str_eq(c.target, "scanner2@contoso.com");
	ck_assert_str_eq(c.command, "Set-CASMailbox -Identity scanner2@contoso.com -SmtpClientAuthenticationDisabled $true");
	json_t *body = sw_remedy_cmd_body(&c);
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(text, "{\"CmdletInput\":{\"CmdletName\":\"Set-CASMailbox\",\"Parameters\":{\"Identity\":"
	                       "\"scanner2@contoso.com\",\"SmtpClientAuthenticationDisabled\":true}}}");
	free(text);
	json_decref(body);

	a = alert_of("tenant-smtp-auth-enabled", "contoso");
	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "needs --tenant-switch") != NULL, "%s", why);
	ck_assert_int_eq(sw_remedy_cmd_for(&a, true, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.cmdlet, "Set-TransportConfig");
	ck_assert_str_eq(c.command, "Set-TransportConfig -SmtpClientAuthenticationDisabled $true");
	ck_assert(c.tenant_switch);
	body = sw_remedy_cmd_params(&c);
	text = json_dumps(body, JSON_COMPACT);
	ck_assert_str_eq(text, "{\"SmtpClientAuthenticationDisabled\":true}");
	free(text);
	json_decref(body);
}
END_TEST

START_TEST(cmd_for_refusals)
{
	struct sw_remedy_cmd c;
	struct sw_alert a;
	char why[512];

	a = alert_of("smtp-auth-password-spray", "198.51.100.7");
	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "is not remediable") != NULL, "%s", why);
	a = alert_of("source-unhealthy", "exchange");
	ck_assert_int_eq(sw_remedy_cmd_for(&a, true, &c, why, sizeof(why)), -EPERM);
	a = alert_of("exception-expired", "fax@contoso.com");
	a.status = SW_ALERT_RESOLVED;
	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "is resolved") != NULL, "%s", why);
	a.status = SW_ALERT_FIRING;
	ck_assert_int_eq(sw_remedy_cmd_for(&a, true, &c, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "--tenant-switch is only for") != NULL, "%s", why);
	/* A subject PowerShell would read as more than an address. */
	a = alert_of("unapproved-basic-auth-submission", "x@contoso.com; Remove-Mailbox y");
	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), -EPERM);
	a = alert_of("unapproved-basic-auth-submission", "x@contoso.com");
	ck_assert_int_eq(sw_remedy_cmd_for(&a, false, &c, why, sizeof(why)), 0);
}
END_TEST

START_TEST(register_check)
{
	char why[512] = "";

	ck_assert_int_eq(sw_remedy_register_check(reg, "M-REG@contoso.com", NOW, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "valid register entry") && strstr(why, "CHG-9"), "%s", why);
	/* Expired: no longer protected (exception-expired is remediable). */
	ck_assert_int_eq(sw_remedy_register_check(reg, "m-old@contoso.com", NOW, why, sizeof(why)), 0);
	ck_assert_int_eq(sw_remedy_register_check(reg, "other@contoso.com", NOW, why, sizeof(why)), 0);
	/* Valid today, not once it has expired. */
	ck_assert_int_eq(sw_remedy_register_check(reg, "m-reg@contoso.com", NOW + 30 * 86400, why, sizeof(why)), 0);
	ck_assert_int_eq(sw_remedy_register_check(NULL, "m-reg@contoso.com", NOW, why, sizeof(why)), 0);
}
END_TEST

static const char *const rules[] = {"unapproved-mailbox-exception", "exception-expired", NULL};

/* A guard that lets the action through. */
static struct sw_remedy_guard guard_ok(void)
{
	struct sw_remedy_guard g = {
		.mode = SW_REMEDIATION_AUTO,
		.rules = rules,
		.rule = "unapproved-mailbox-exception",
		.actions_last_hour = 0,
		.max_per_hour = 10,
		.snapshot_at = NOW - 600,
		.stale_after = 3 * 3600,
		.now = NOW,
	};
	return g;
}

START_TEST(guard)
{
	struct sw_remedy_guard g = guard_ok();
	char why[512];

	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), 0);
	/* Rate: 9 of 10 passes, 10 of 10 waits. */
	g.actions_last_hour = 9;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), 0);
	g.actions_last_hour = 10;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EAGAIN);
	ck_assert_msg(strstr(why, "remediation_max_per_hour (10) reached") != NULL, "%s", why);
	/* Register: never. */
	g = guard_ok();
	g.registered = true;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EPERM);
	/* Snapshot age: just under stale_after passes, at it waits. */
	g = guard_ok();
	g.snapshot_at = NOW - 3 * 3600 + 1;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), 0);
	g.snapshot_at = NOW - 3 * 3600;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EAGAIN);
	ck_assert_msg(strstr(why, "stale (3h old, stale_after 3h)") != NULL, "%s", why);
	/* Incomplete: no snapshot yet, or the last run failed. */
	g = guard_ok();
	g.snapshot_at = 0;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EAGAIN);
	ck_assert_msg(strstr(why, "incomplete") != NULL, "%s", why);
	g = guard_ok();
	g.snapshot_failing = true;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EAGAIN);
	/* Mode, rules, the tenant switch, an action taken. */
	g = guard_ok();
	g.mode = SW_REMEDIATION_MANUAL;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EPERM);
	g = guard_ok();
	g.rule = "unapproved-basic-auth-submission";
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "not in remediate_rules") != NULL, "%s", why);
	g = guard_ok();
	g.tenant_switch = true;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EPERM);
	g = guard_ok();
	g.acted = true;
	ck_assert_int_eq(sw_remedy_guard_check(&g, why, sizeof(why)), -EPERM);
}
END_TEST

START_TEST(plan)
{
	const struct sw_plan_sender senders[] = {
		/* follows the tenant, unregistered: breaks */
		{.address = "printer@contoso.com", .basic = true, .signins = 40, .last_seen = NOW - 86400, .mailbox_disabled = -1},
		/* follows the tenant, registered: needs its own override first */
		{.address = "m-reg@contoso.com", .basic = true, .oauth = true, .signins = 3, .messages = 120,
		 .last_seen = NOW - 3600, .mailbox_disabled = -1},
		/* its own override on: kept */
		{.address = "app@contoso.com", .oauth = true, .messages = 9, .last_seen = NOW - 7200, .mailbox_disabled = 0},
		/* off already: not in the plan */
		{.address = "done@contoso.com", .basic = true, .signins = 1, .last_seen = NOW - 7200, .mailbox_disabled = 1},
		/* not in the snapshot (a sender without a mailbox row): follows the tenant */
		{.address = "m-old@contoso.com", .basic = true, .signins = 2, .last_seen = NOW - 7200, .mailbox_disabled = -2},
	};
	struct sw_plan_input in = {"contoso", false, senders, 5, NULL, NOW};
	json_t *p;

	in.reg = reg;
	p = sw_remedy_plan(&in);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(json_string_value(json_object_get(p, "tenant_switch")), "on");
	json_t *breaks = json_object_get(p, "breaks");
	ck_assert_uint_eq(json_array_size(breaks), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(breaks, 0), "address")), "printer@contoso.com");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(breaks, 0), "signins")), 40);
	ck_assert(json_is_false(json_object_get(json_array_get(breaks, 0), "registered")));
	ck_assert(json_is_true(json_object_get(json_array_get(breaks, 1), "registered")));
	ck_assert(json_is_true(json_object_get(json_array_get(breaks, 1), "oauth")));
	/* m-old's entry expired: it breaks, and gets no override. */
	ck_assert(json_is_false(json_object_get(json_array_get(breaks, 2), "registered")));
	json_t *needs = json_object_get(p, "needs_override");
	ck_assert_uint_eq(json_array_size(needs), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(needs, 0), "ticket")), "CHG-9");
	ck_assert_uint_eq(json_array_size(json_object_get(p, "kept")), 1);
	json_t *cmds = json_object_get(p, "commands");
	ck_assert_uint_eq(json_array_size(cmds), 2);
	ck_assert_str_eq(json_string_value(json_array_get(cmds, 0)),
	                 "Set-CASMailbox -Identity m-reg@contoso.com -SmtpClientAuthenticationDisabled $false");
	ck_assert_str_eq(json_string_value(json_array_get(cmds, 1)),
	                 "Set-TransportConfig -SmtpClientAuthenticationDisabled $true");
	json_decref(p);

	/* The switch off already: nothing to run. */
	in.tenant_disabled = true;
	p = sw_remedy_plan(&in);
	ck_assert_str_eq(json_string_value(json_object_get(p, "tenant_switch")), "off");
	ck_assert_uint_eq(json_array_size(json_object_get(p, "commands")), 0);
	json_decref(p);
	/* No sender: only the switch. */
	in.tenant_disabled = false;
	in.n_senders = 0;
	p = sw_remedy_plan(&in);
	ck_assert_uint_eq(json_array_size(json_object_get(p, "breaks")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(p, "commands")), 1);
	json_decref(p);
}
END_TEST

/* The record across a reopen (a restart): pending, written, completed,
 * counted; the remediated transition queued for the sink. */
START_TEST(store_actions)
{
	char sdir[64];
	struct sw_store *s;
	struct sw_config cfg;
	struct sw_sink_config sink;
	struct sw_tenant_config tc;
	struct sw_register freg;
	struct sw_alert a = {0};
	struct sw_remedy_action got;
	int64_t id = 0, n = -1;

	fixture_store_open(sdir, "test-remediate-store", &s);
	fixture_config(&cfg, &sink, &tc, &freg, NULL, 0);
	a.rule = strdup("unapproved-mailbox-exception");
	a.tenant = strdup("contoso");
	a.subject = strdup("m1@contoso.com");
	a.summary = strdup("m1 is on");
	a.status = SW_ALERT_FIRING;
	a.first_seen = a.last_seen = a.updated = NOW - 100;
	a.count = 1;
	a.transition = 1;
	ck_assert_int_eq(sw_store_alert_save(s, &a), 0);

	struct sw_remedy_action act = {
		.tenant = "contoso", .alert_id = a.id, .rule = a.rule, .target = "m1@contoso.com", .cmdlet = "Set-CASMailbox",
		.parameters = "{\"Identity\":\"m1@contoso.com\",\"SmtpClientAuthenticationDisabled\":true}",
		.command = "Set-CASMailbox -Identity m1@contoso.com -SmtpClientAuthenticationDisabled $true",
		.requested_by = "alice", .uid = 1000, .requested_at = NOW - 10,
	};
	ck_assert_int_eq(sw_store_begin(s), 0);
	ck_assert_int_eq(sw_store_remedy_add(s, &act, &id), 0);
	ck_assert_int_eq(sw_store_commit(s), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(sw_store_remedy_count(s, "contoso", NULL, NOW - 3600, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(sw_store_remedy_count(s, "contoso", "auto", NOW - 3600, &n), 0);
	ck_assert_int_eq(n, 0);

	/* A restart between the write and the read-back finds it pending. */
	sw_store_free(s);
	struct sw_error err = {0};
	char path[128];
	snprintf(path, sizeof(path), "%s/smtpwatch.db", sdir);
	ck_assert_int_eq(sw_store_open(path, &s, &err), 0);
	ck_assert_int_eq(sw_store_remedy_get(s, id, &got), 0);
	ck_assert_str_eq(got.outcome, SW_REMEDY_PENDING);
	ck_assert_str_eq(got.requested_by, "alice");
	ck_assert_int_eq(got.uid, 1000);
	ck_assert_int_eq(got.written_at, 0);
	sw_remedy_action_clear(&got);

	ck_assert_int_eq(sw_store_remedy_written(s, id, NOW - 9, 200, "HTTP 200"), 0);
	ck_assert_int_eq(sw_store_begin(s), 0);
	ck_assert_int_eq(sw_store_remedy_complete(s, id, NOW - 8, "true", SW_REMEDY_DONE, NULL), 0);
	ck_assert_int_eq(sw_store_remedy_get(s, id, &got), 0);
	json_t *doc = sw_remedy_action_json(&got);
	ck_assert_int_eq(sw_store_remedy_notify(s, &cfg, a.id, doc, NOW - 8), 0);
	ck_assert_int_eq(sw_store_remedy_notified(s, id), 0);
	ck_assert_int_eq(sw_store_commit(s), 0);
	json_decref(doc);
	ck_assert_str_eq(got.outcome, SW_REMEDY_DONE);
	ck_assert_str_eq(got.state_read, "true");
	ck_assert_str_eq(got.answer, "HTTP 200");
	ck_assert_int_eq(got.read_back_at, NOW - 8);
	sw_remedy_action_clear(&got);

	/* The sink's row: the alert's next transition, status remediated, the cmdlet. */
	struct sw_outbox_item it = {0};
	ck_assert_int_eq(sw_store_outbox_next(s, "soc", NOW, &it), 0);
	ck_assert_int_eq(it.transition, 2);
	json_t *body = json_loads(it.body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(body, "status")), "remediated");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "remediation_action"), "command")),
	                 "Set-CASMailbox -Identity m1@contoso.com -SmtpClientAuthenticationDisabled $true");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "remediation_action"), "requested_by")),
	                 "alice");
	json_decref(body);
	sw_outbox_item_clear(&it);
	/* The stored alert keeps firing until the next poll agrees. */
	struct sw_alert back = {0};
	ck_assert_int_eq(sw_store_alert_get(s, a.id, &back), 0);
	ck_assert_int_eq(back.status, SW_ALERT_FIRING);
	ck_assert_int_eq(back.transition, 2);
	sw_alert_clear(&back);
	sw_alert_clear(&a);
	fixture_store_close(sdir, s);
}
END_TEST

static Suite *remediate_suite(void)
{
	Suite *s = suite_create("remediate");
	TCase *tc = tcase_create("remediate");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cmd_for_mailbox_and_tenant);
	tcase_add_test(tc, cmd_for_refusals);
	tcase_add_test(tc, register_check);
	tcase_add_test(tc, guard);
	tcase_add_test(tc, plan);
	tcase_add_test(tc, store_actions);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(remediate_suite)
