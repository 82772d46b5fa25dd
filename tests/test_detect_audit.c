/* test_detect_audit.c: smtp-auth-setting-changed and changed_by, from an
 * audit record as the Management Activity API sends it, through the real
 * parser and store, to the alert a user would see (fixed times, no clock). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check_main.h"
#include "detect.h"
#include "detect_audit.h"
#include "fixture.h"
#include "store_audit.h"
#include "store_exo.h"
#include "store_int.h"

#define NOW 1796299200LL /* 2026-12-03T12:00:00Z */

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
	fixture_store_open(tmpdir, "detect-audit", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, 1);
	tenant.audit = true;
	entries[0] = (struct sw_exception){.mailbox = "scanner-hq@contoso.com", .owner = "facilities@contoso.com",
	                                   .expires = NOW + 40 * 86400, .expires_text = "2027-01-12",
	                                   .max_daily_messages = -1};
	reg.n = 1;
	seq = 0;
}

static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* Store one record (operation, Parameters as JSON text, UserId, UserType)
 * created `ago` seconds before NOW; its Id is returned in id. */
static void record(const char *op, const char *params, const char *user, int user_type, int64_t ago, char *id,
                   size_t n)
{
	char text[4096], when[32];
	struct sw_audit_blob b = {0};
	struct sw_error err = {0};

	snprintf(id, n, "rec-%d", ++seq);
	sw_time_format(NOW - ago, when, sizeof(when));
	when[strlen(when) - 1] = '\0'; /* CreationTime has no zone */
	snprintf(text, sizeof(text),
	         "[{\"Id\":\"%s\",\"RecordType\":1,\"Workload\":\"Exchange\",\"CreationTime\":\"%s\","
	         "\"Operation\":\"%s\",\"ResultStatus\":\"True\",\"UserId\":\"%s\",\"UserType\":%d,"
	         "\"ClientIP\":\"203.0.113.9:51234\",\"ObjectId\":\"x\",\"OrganizationName\":\"contoso.onmicrosoft.com\","
	         "\"Parameters\":%s}]",
	         id, when, op, user, user_type, params);
	ck_assert_int_eq(sw_audit_blob_parse(text, strlen(text), &b, &err), 0);
	ck_assert_msg(b.n == 1, "not one change (bad %zu: %s)", b.bad, b.bad ? b.bads[0].why : "ignored");
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_changes_add(store, "contoso", b.items, b.n, NOW, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	sw_audit_blob_clear(&b);
}

/* The tenant switch and a snapshot of mailboxes (one with its own override). */
static void snapshot(bool tenant_disabled, const char *address, const char *identity, enum sw_tristate own)
{
	struct sw_tenant_state st = {.observed = NOW - 60, .smtp_disabled = tenant_disabled, .policy_allows_basic = true};
	struct sw_mailbox m = {.address = (char *)address, .identity = (char *)identity, .object_id = "oid",
	                       .smtp_disabled = own};
	struct sw_checkpoint cp = {.watermark = NOW - 60, .last_success = NOW - 60};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_tenant_state_put(store, "contoso", &st, NOW - 60), 0);
	if (address != NULL)
		ck_assert_int_eq(sw_store_mailboxes_put(store, "contoso", &m, 1, NOW - 60, false, NULL), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "exchange", &cp), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}

static void detect(unsigned what)
{
	struct sw_detect_stats st = {0};

	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, NOW, what, &st), 0);
}

static int64_t outbox_rows(const char *rule, const char *subject)
{
	char sql[512];
	sqlite3_stmt *st;
	int64_t v;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "
	         "WHERE a.rule = '%s' AND a.subject = '%s'", rule, subject);
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every operation that matters, every value form. */
static const struct {
	const char *op, *params, *user;
	int user_type;
	bool tenant_disabled;
	const char *subject;
	enum sw_severity sev;
	const char *summary;
} cases[] = {
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"scanner2@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]", "it-admin@contoso.com", 2, true,
	 "scanner2@contoso.com", SW_SEV_HIGH, "it-admin@contoso.com turned SMTP AUTH on for scanner2@contoso.com "
	 "(Set-CASMailbox -SmtpClientAuthenticationDisabled False) at 2026-12-03T11:20:00Z from 203.0.113.9; the "
	 "mailbox is not in the exception register"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"Scanner-HQ@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"$false\"}]", "admin@contoso.com", 2, true,
	 "scanner-hq@contoso.com", SW_SEV_LOW, "the mailbox has a registered exception"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"a@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"0\"}]", "admin@contoso.com", 2, true,
	 "a@contoso.com", SW_SEV_HIGH, "turned SMTP AUTH on for a@contoso.com"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"b@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"True\"}]", "admin@contoso.com", 2, false,
	 "b@contoso.com", SW_SEV_INFO, "turned SMTP AUTH off for b@contoso.com"},
	{"Set-CASMailbox", "\"-Identity \\\"c@contoso.com\\\" -SmtpClientAuthenticationDisabled $false\"",
	 "admin@contoso.com", 2, true, "c@contoso.com", SW_SEV_HIGH, "turned SMTP AUTH on for c@contoso.com"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"d@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"$null\"}]", "admin@contoso.com", 2, false,
	 "d@contoso.com", SW_SEV_HIGH, "follows the tenant switch, which is on"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"e@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"\"}]", "admin@contoso.com", 2, true,
	 "e@contoso.com", SW_SEV_INFO, "follows the tenant switch, which is off"},
	{"Set-TransportConfig", "[{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"false\"}]",
	 "admin@contoso.com", 2, true, "contoso.onmicrosoft.com", SW_SEV_HIGH, "turned SMTP AUTH on tenant-wide"},
	{"Set-TransportConfig", "[{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"$true\"}]",
	 "admin@contoso.com", 2, true, "contoso.onmicrosoft.com", SW_SEV_INFO, "turned SMTP AUTH off tenant-wide"},
	{"New-AuthenticationPolicy", "[{\"Name\":\"Name\",\"Value\":\"Allow Basic\"},"
	 "{\"Name\":\"AllowBasicAuthSmtp\",\"Value\":\"True\"}]", "admin@contoso.com", 2, true, "Allow Basic",
	 SW_SEV_HIGH, "allowed Basic SMTP AUTH in the authentication policy Allow Basic"},
	{"Set-AuthenticationPolicy", "[{\"Name\":\"Identity\",\"Value\":\"Block Basic\"},"
	 "{\"Name\":\"AllowBasicAuthSmtp\",\"Value\":\"False\"}]", "admin@contoso.com", 2, true, "Block Basic",
	 SW_SEV_INFO, "blocked Basic SMTP AUTH"},
	{"Remove-AuthenticationPolicy", "[{\"Name\":\"Identity\",\"Value\":\"Old Policy\"}]", "admin@contoso.com", 2,
	 true, "Old Policy", SW_SEV_INFO, "removed the authentication policy Old Policy"},
	{"Set-OrganizationConfig", "[{\"Name\":\"DefaultAuthenticationPolicy\",\"Value\":\"Allow Basic\"}]",
	 "admin@contoso.com", 2, true, "contoso.onmicrosoft.com", SW_SEV_LOW, "set the default authentication policy"},
	{"Set-User", "[{\"Name\":\"Identity\",\"Value\":\"f@contoso.com\"},"
	 "{\"Name\":\"AuthenticationPolicy\",\"Value\":\"Allow Basic\"}]", "admin@contoso.com", 2, true,
	 "f@contoso.com", SW_SEV_LOW, "assigned an authentication policy"},
	{"Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"g@contoso.com\"},"
	 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]",
	 "NT AUTHORITY\\\\SYSTEM (Microsoft.Exchange.ServiceHost)", 3, true, "g@contoso.com", SW_SEV_HIGH,
	 "(a system process of Exchange Online, not an administrator) turned SMTP AUTH on"},
};

START_TEST(test_rule_table)
{
	struct sw_alert a = {0};
	char id[32];

	snapshot(cases[_i].tenant_disabled, NULL, NULL, SW_TRI_NULL);
	record(cases[_i].op, cases[_i].params, cases[_i].user, cases[_i].user_type, 40 * 60, id, sizeof(id));
	detect(SW_DETECT_STATE);
	ck_assert_msg(sw_store_alert_find(store, SW_RULE_SETTING_CHANGED, "contoso", cases[_i].subject, &a) == 0,
	              "no alert for %s", cases[_i].subject);
	ck_assert_int_eq(a.severity, cases[_i].sev);
	ck_assert_msg(strstr(a.summary, cases[_i].summary) != NULL, "summary: %s", a.summary);
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "audit_id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "operation")), cases[_i].op);
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "ip")), "203.0.113.9");
	ck_assert(json_is_array(json_object_get(a.evidence, "parameters")));
	ck_assert_ptr_nonnull(a.changed_by);
	ck_assert_ptr_nonnull(strstr(a.changed_by, id));
	ck_assert_int_eq(outbox_rows(SW_RULE_SETTING_CHANGED, cases[_i].subject), 1);
	sw_alert_clear(&a);
	/* examined once: the cursor moved */
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(outbox_rows(SW_RULE_SETTING_CHANGED, cases[_i].subject), 1);
}
END_TEST

START_TEST(test_each_change_notifies)
{
	char id[32];

	snapshot(true, NULL, NULL, SW_TRI_NULL);
	record("Set-CASMailbox", cases[0].params, "it-admin@contoso.com", 2, 3600, id, sizeof(id));
	record("Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"scanner2@contoso.com\"},"
	       "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"True\"}]", "sec@contoso.com", 2, 1800, id,
	       sizeof(id));
	detect(SW_DETECT_STATE);
	/* two changes of one mailbox: two notifications, the second info */
	ck_assert_int_eq(outbox_rows(SW_RULE_SETTING_CHANGED, "scanner2@contoso.com"), 2);
	struct sw_alert a = {0};
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_SETTING_CHANGED, "contoso", "scanner2@contoso.com", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_INFO);
	ck_assert_int_eq(a.transition, 2);
	sw_alert_clear(&a);
}
END_TEST

/* The drift alert gets changed_by; a record that arrives after it fired
 * is one more transition of the same alert, then nothing more. */
START_TEST(test_changed_by_late)
{
	struct sw_alert a = {0};
	char id[32];

	snapshot(true, "scanner2@contoso.com", "scanner2", SW_TRI_FALSE);
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_UNAPPROVED_MAILBOX, "contoso", "scanner2@contoso.com", &a), 0);
	ck_assert_ptr_null(a.changed_by);
	ck_assert_int_eq(a.transition, 1);
	sw_alert_clear(&a);
	/* the record names the mailbox by its Identity, as many do */
	record("Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"scanner2\"},"
	       "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]", "it-admin@contoso.com", 2, 2400, id,
	       sizeof(id));
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_UNAPPROVED_MAILBOX, "contoso", "scanner2@contoso.com", &a), 0);
	ck_assert_int_eq(a.transition, 2);
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	json_t *cb = json_loads(a.changed_by, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(cb, "user")), "it-admin@contoso.com");
	ck_assert_str_eq(json_string_value(json_object_get(cb, "ip")), "203.0.113.9");
	ck_assert_str_eq(json_string_value(json_object_get(cb, "operation")), "Set-CASMailbox");
	ck_assert_str_eq(json_string_value(json_object_get(cb, "audit_id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(cb, "at")), "2026-12-03T11:20:00Z");
	json_decref(cb);
	sw_alert_clear(&a);
	ck_assert_int_eq(outbox_rows(SW_RULE_UNAPPROVED_MAILBOX, "scanner2@contoso.com"), 2);
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(outbox_rows(SW_RULE_UNAPPROVED_MAILBOX, "scanner2@contoso.com"), 2);
}
END_TEST

/* A change that turned it off does not explain "on"; the tenant switch is
 * explained by Set-TransportConfig, and a flip the audit log has no record
 * of is said to be possibly Microsoft's. */
START_TEST(test_tenant_explained)
{
	struct sw_alert a = {0};
	struct sw_checkpoint cp = {0};
	char id[32];

	snapshot(true, NULL, NULL, SW_TRI_NULL);
	snapshot(false, NULL, NULL, SW_TRI_NULL); /* the daemon sees it flip on */
	cp.watermark = NOW + 7 * 3600;            /* the audit log read long past it */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "audit", &cp), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_TENANT_ENABLED, "contoso", "contoso.onmicrosoft.com", &a), 0);
	ck_assert_ptr_nonnull(a.changed_by);
	ck_assert_ptr_nonnull(strstr(a.changed_by, "no admin change recorded; possibly Microsoft's default change"));
	sw_alert_clear(&a);
	record("Set-TransportConfig", "[{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]",
	       "admin@contoso.com", 2, 600, id, sizeof(id));
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_TENANT_ENABLED, "contoso", "contoso.onmicrosoft.com", &a), 0);
	ck_assert_ptr_nonnull(strstr(a.changed_by, "\"user\":\"admin@contoso.com\""));
	sw_alert_clear(&a);

	/* the latest change of a mailbox turned it off: no explanation */
	struct sw_change_row row;
	char *json = (char *)"x";
	const char *names[] = {"h@contoso.com", NULL};
	record("Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"h@contoso.com\"},"
	       "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"True\"}]", "admin@contoso.com", 2, 300, id,
	       sizeof(id));
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", names, NULL, NOW, &row), 0);
	ck_assert_int_eq(sw_explain_mailbox_on(store, "contoso", names, true, NOW, &json), 0);
	ck_assert_ptr_null(json);
	/* following the tenant: the tenant's change explains it */
	ck_assert_int_eq(sw_explain_mailbox_on(store, "contoso", names, false, NOW, &json), 0);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(strstr(json, "Set-TransportConfig"));
	free(json);
}
END_TEST

/* exception-expired: an expired entry whose mailbox is on by its own
 * override is explained by the change of that override; one that follows
 * the tenant, by the tenant's. */
START_TEST(test_expired_explained)
{
	struct sw_alert a = {0};
	char id[32], tid[32];

	entries[0].expires = NOW - 86400;
	entries[0].expires_text = "2026-12-02";
	snapshot(false, "scanner-hq@contoso.com", "scanner-hq", SW_TRI_FALSE);
	record("Set-CASMailbox", "[{\"Name\":\"Identity\",\"Value\":\"scanner-hq@contoso.com\"},"
	       "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]", "it-admin@contoso.com", 2,
	       7200, id, sizeof(id));
	record("Set-TransportConfig", "[{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]",
	       "admin@contoso.com", 2, 3600, tid, sizeof(tid));
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_EXPIRED, "contoso", "scanner-hq@contoso.com", &a), 0);
	ck_assert_ptr_nonnull(a.changed_by);
	ck_assert_ptr_nonnull(strstr(a.changed_by, id));
	sw_alert_clear(&a);
	/* the override goes back to $null: now the tenant switch explains it */
	snapshot(false, "scanner-hq@contoso.com", "scanner-hq", SW_TRI_NULL);
	detect(SW_DETECT_STATE);
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_EXPIRED, "contoso", "scanner-hq@contoso.com", &a), 0);
	ck_assert_ptr_nonnull(strstr(a.changed_by, tid));
	ck_assert_ptr_nonnull(strstr(a.changed_by, "Set-TransportConfig"));
	sw_alert_clear(&a);
	/* audit off: no attribution is looked for */
	tenant.audit = false;
	ck_assert_int_eq(sw_store_alert_find(store, SW_RULE_TENANT_ENABLED, "contoso", "contoso.onmicrosoft.com", &a), 0);
	ck_assert_ptr_nonnull(a.changed_by); /* set while audit was on */
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_changed_by_actor)
{
	struct sw_change_row c = {.created = NOW, .actor = "application"};
	char *json;

	snprintf(c.id, sizeof(c.id), "x-1");
	snprintf(c.operation, sizeof(c.operation), "Set-CASMailbox");
	snprintf(c.user, sizeof(c.user), "00000000-1111-2222-3333-444444444444");
	json = sw_changed_by(&c);
	ck_assert_str_eq(json, "{\"user\":\"00000000-1111-2222-3333-444444444444\",\"at\":\"2026-12-03T12:00:00Z\","
	                       "\"ip\":null,\"operation\":\"Set-CASMailbox\",\"audit_id\":\"x-1\",\"actor\":"
	                       "\"application\",\"note\":\"an application (service principal), not a person\"}");
	free(json);
}
END_TEST

static Suite *detect_audit_suite(void)
{
	Suite *s = suite_create("detect_audit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_rule_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_each_change_notifies);
	tcase_add_test(tc, test_changed_by_late);
	tcase_add_test(tc, test_tenant_explained);
	tcase_add_test(tc, test_changed_by_actor);
	tcase_add_test(tc, test_expired_explained);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(detect_audit_suite)
