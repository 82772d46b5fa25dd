/* test_alert.c: the alert struct and the SPEC alert document. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check_main.h"

/* SPEC's example alert. */
static void spec_alert(struct sw_alert *a)
{
	memset(a, 0, sizeof(*a));
	a->seq = 123;
	strcpy(a->id, "a-000123");
	a->rule = strdup("unapproved-basic-auth-submission");
	a->tenant = strdup("contoso");
	a->subject = strdup("scanner2@contoso.com");
	a->severity = SW_SEV_HIGH;
	a->status = SW_ALERT_FIRING;
	a->first_seen = 1795161672; /* 2026-11-20T08:01:12Z */
	a->last_seen = 1795167903;  /* 2026-11-20T09:45:03Z */
	a->count = 14;
	a->notified_count = 8;
	a->transition = 4;
	a->summary = strdup("scanner2@contoso.com sent 14 messages with Basic SMTP AUTH from 198.51.100.7 "
	                    "and is not in the exception register");
	a->remediation = strdup("Set-CASMailbox -Identity scanner2@contoso.com -SmtpClientAuthenticationDisabled $true");
	a->evidence = json_pack("{s:[s],s:[s],s:[s]}", "ips", "198.51.100.7", "countries", "NL", "signin_ids", "x");
	a->updated = 1795167903;
	a->transition_at = 1795167905;
	a->tenant_id = "contoso.onmicrosoft.com";
}

/* The document dumped the way sinks get it. */
static char *dump(const struct sw_alert *a)
{
	json_t *doc = sw_alert_document(a);
	char *s;

	ck_assert_ptr_nonnull(doc);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(test_document_matches_spec)
{
	struct sw_alert a;
	char *s;

	spec_alert(&a);
	s = dump(&a);
	/* SPEC's first-version example, with version 2's members among them. */
	ck_assert_str_eq(s, "{\"schema\":\"smtpwatch.alert/2\",\"id\":\"a-000123\","
	                    "\"rule\":\"unapproved-basic-auth-submission\",\"severity\":\"high\",\"severity_id\":4,"
	                    "\"tenant\":\"contoso\",\"tenant_id\":\"contoso.onmicrosoft.com\","
	                    "\"subject\":\"scanner2@contoso.com\",\"status\":\"firing\","
	                    "\"first_seen\":\"2026-11-20T08:01:12Z\",\"last_seen\":\"2026-11-20T09:45:03Z\","
	                    "\"count\":14,\"summary\":\"scanner2@contoso.com sent 14 messages with Basic SMTP AUTH "
	                    "from 198.51.100.7 and is not in the exception register\","
	                    "\"evidence\":{\"ips\":[\"198.51.100.7\"],\"countries\":[\"NL\"],\"signin_ids\":[\"x\"]},"
	                    "\"remediation\":\"Set-CASMailbox -Identity scanner2@contoso.com "
	                    "-SmtpClientAuthenticationDisabled $true\",\"transition\":4,"
	                    "\"transition_at\":\"2026-11-20T09:45:05Z\",\"resolved_at\":null,"
	                    "\"entities\":{\"mailbox\":\"scanner2@contoso.com\",\"ip\":null,"
	                    "\"users\":[\"scanner2@contoso.com\"],\"ips\":[\"198.51.100.7\"],\"countries\":[\"NL\"]},"
	                    "\"acked\":false}");
	free(s);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_document_defaults)
{
	struct sw_alert a;
	json_t *doc;

	spec_alert(&a);
	free(a.remediation);
	a.remediation = NULL;
	json_decref(a.evidence);
	a.evidence = NULL;
	a.severity = SW_SEV_CRITICAL;
	a.acked = true;
	doc = sw_alert_document(&a);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_is_null(json_object_get(doc, "remediation")));
	ck_assert(json_is_object(json_object_get(doc, "evidence")));
	ck_assert_int_eq(json_object_size(json_object_get(doc, "evidence")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "severity")), "critical");
	ck_assert(json_is_true(json_object_get(doc, "acked")));
	ck_assert(json_is_null(json_object_get(doc, "resolved_at")));
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "severity_id")), 5);
	/* Not attributed: no changed_by at all. */
	ck_assert_ptr_null(json_object_get(doc, "changed_by"));
	json_decref(doc);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_document_resolved)
{
	struct sw_alert a;
	json_t *doc;

	spec_alert(&a);
	a.status = SW_ALERT_RESOLVED;
	a.resolved_at = 1795168000; /* 09:46:40 */
	a.transition = 5;
	doc = sw_alert_document(&a);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "status")), "resolved");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "resolved_at")), "2026-11-20T09:46:40Z");
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "transition")), 5);
	json_decref(doc);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_document_ack_note_and_silenced)
{
	struct sw_alert a;
	char *s;

	spec_alert(&a);
	a.ack_note = strdup("known printer");
	s = dump(&a);
	/* A note only shows with the ack. */
	ck_assert_ptr_null(strstr(s, "ack_note"));
	ck_assert_ptr_null(strstr(s, "silenced"));
	free(s);
	a.acked = true;
	a.silenced_until = 1795168000;
	s = dump(&a);
	ck_assert_ptr_nonnull(strstr(s, ",\"acked\":true,\"ack_note\":\"known printer\",\"silenced\":true,"
	                                "\"silenced_until\":\"2026-11-20T09:46:40Z\"}"));
	free(s);
	sw_alert_clear(&a);
}
END_TEST

/* severity_id is OCSF's numbering. */
START_TEST(test_severity_id)
{
	ck_assert_int_eq(sw_alert_severity_id(SW_SEV_INFO), 1);
	ck_assert_int_eq(sw_alert_severity_id(SW_SEV_LOW), 2);
	ck_assert_int_eq(sw_alert_severity_id(SW_SEV_MEDIUM), 3);
	ck_assert_int_eq(sw_alert_severity_id(SW_SEV_HIGH), 4);
	ck_assert_int_eq(sw_alert_severity_id(SW_SEV_CRITICAL), 5);
}
END_TEST

/* entities: an IP subject (a spray) with its users; a subject that is
 * neither (a source, a sink) leaves mailbox and ip null. */
START_TEST(test_document_entities)
{
	struct sw_alert a;
	json_t *doc, *e;
	char *s;

	spec_alert(&a);
	free(a.subject);
	a.subject = strdup("2001:db8::7");
	json_decref(a.evidence);
	a.evidence = json_pack("{s:[s,s],s:[s]}", "users", "a@contoso.com", "b@contoso.com", "countries", "DE");
	doc = sw_alert_document(&a);
	e = json_object_get(doc, "entities");
	s = json_dumps(e, JSON_COMPACT);
	ck_assert_str_eq(s, "{\"mailbox\":null,\"ip\":\"2001:db8::7\",\"users\":[\"a@contoso.com\",\"b@contoso.com\"],"
	                    "\"ips\":[\"2001:db8::7\"],\"countries\":[\"DE\"]}");
	free(s);
	json_decref(doc);

	free(a.subject);
	a.subject = strdup("signins");
	json_decref(a.evidence);
	a.evidence = NULL;
	doc = sw_alert_document(&a);
	s = json_dumps(json_object_get(doc, "entities"), JSON_COMPACT);
	ck_assert_str_eq(s, "{\"mailbox\":null,\"ip\":null,\"users\":[],\"ips\":[],\"countries\":[]}");
	free(s);
	json_decref(doc);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_document_not_utf8)
{
	struct sw_alert a;
	json_t *doc;

	/* A Latin-1 sender from a CSV export must not lose the alert. */
	spec_alert(&a);
	free(a.subject);
	a.subject = strdup("j\xf6rg@contoso.com");
	doc = sw_alert_document(&a);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "subject")), "j?rg@contoso.com");
	json_decref(doc);
	sw_alert_clear(&a);
}
END_TEST

/* sw_alert_document_dump() of a, from a->evidence and from the evidence
 * as compact text, appended after a prefix: each the document's bytes. */
static void check_dump_matches(struct sw_alert *a)
{
	struct sw_buf buf = {0};
	json_t *evidence = a->evidence;
	char *want = dump(a);
	char *text = evidence ? json_dumps(evidence, JSON_COMPACT) : NULL;

	ck_assert_int_eq(sw_alert_document_dump(a, NULL, &buf), 0);
	ck_assert_str_eq(buf.data, want);
	sw_buf_clear(&buf);
	ck_assert_int_eq(sw_buf_append(&buf, "[", 1), 0);
	a->evidence = NULL; /* the text must be what shows */
	ck_assert_int_eq(sw_alert_document_dump(a, text ? text : "{}", &buf), 0);
	a->evidence = evidence;
	ck_assert_int_eq(buf.data[0], '[');
	ck_assert_str_eq(buf.data + 1, want);
	ck_assert_uint_eq(buf.len, strlen(want) + 1);
	sw_buf_clear(&buf);
	free(text);
	free(want);
}

START_TEST(test_document_dump_same_bytes)
{
	struct sw_alert a;

	spec_alert(&a);
	check_dump_matches(&a);
	json_object_set_new(a.evidence, "error_codes",
	                    json_pack("[{s:i,s:s}]", "code", 50126, "meaning", "wrong \"pass\"\n"));
	json_object_set_new(a.evidence, "countries", json_pack("[s,s]", "NL", "\xc3\xa9t\xc3\xa9"));
	check_dump_matches(&a);
	a.acked = true;
	a.ack_note = strdup("known printer");
	a.silenced_until = 1795168000;
	check_dump_matches(&a);
	a.status = SW_ALERT_RESOLVED;
	a.resolved_at = 1795168000;
	free(a.remediation);
	a.remediation = NULL;
	free(a.subject);
	a.subject = strdup("j\xf6rg@contoso.com");
	check_dump_matches(&a);
	/* The lists the entities take, found among members whose values hold
	 * what ends a member ('"', ',', '}', ']', a nested "users" key). */
	json_decref(a.evidence);
	a.evidence = json_pack("{s:s,s:{s:[s],s:s},s:[s,s],s:[[s],{s:s}],s:[s,i,s],s:s}", "note", "a \"quoted\", {x}] \\",
	                       "nested", "users", "decoy@contoso.com", "q", "\"}", "ips", "203.0.113.9", "2001:db8::1",
	                       "deep", "]", "k", "}", "users", "x@contoso.com", 7, "j\xc3\xb6rg@contoso.com", "z", ",");
	check_dump_matches(&a);
	free(a.subject);
	a.subject = strdup("203.0.113.9");
	check_dump_matches(&a);
	json_decref(a.evidence);
	a.evidence = NULL;
	check_dump_matches(&a);
	sw_alert_clear(&a);
}
END_TEST

/* changed_by shows what the store keeps, and only when there is one. */
START_TEST(test_document_changed_by)
{
	struct sw_alert a;
	json_t *doc;
	char *s;

	spec_alert(&a);
	a.changed_by = strdup("{\"user\":\"admin@contoso.com\",\"at\":\"2026-11-20T07:59:00Z\",\"ip\":\"203.0.113.9\","
	                      "\"operation\":\"Set-CASMailbox\",\"audit_id\":\"u-1\"}");
	doc = sw_alert_document(&a);
	s = json_dumps(json_object_get(doc, "changed_by"), JSON_COMPACT);
	ck_assert_str_eq(s, a.changed_by);
	free(s);
	json_decref(doc);
	check_dump_matches(&a);
	/* Edited by hand into something else: the document goes out without it. */
	free(a.changed_by);
	a.changed_by = strdup("not json");
	doc = sw_alert_document(&a);
	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_null(json_object_get(doc, "changed_by"));
	json_decref(doc);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_clear_copes)
{
	struct sw_alert a = {0};

	sw_alert_clear(&a);
	sw_alert_clear(NULL);
	/* Half-built: some members only. */
	a.rule = strdup("exception-expired");
	a.evidence = json_object();
	sw_alert_clear(&a);
	ck_assert_ptr_null(a.rule);
	ck_assert_ptr_null(a.evidence);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_status_names)
{
	enum sw_alert_status st;

	ck_assert_str_eq(sw_alert_status_name(SW_ALERT_FIRING), "firing");
	ck_assert_str_eq(sw_alert_status_name(SW_ALERT_RESOLVED), "resolved");
	ck_assert_int_eq(sw_alert_status_parse("resolved", &st), 0);
	ck_assert_int_eq(st, SW_ALERT_RESOLVED);
	ck_assert_int_eq(sw_alert_status_parse("firing", &st), 0);
	ck_assert_int_eq(st, SW_ALERT_FIRING);
	ck_assert_int_eq(sw_alert_status_parse("open", &st), -EINVAL);
}
END_TEST

static Suite *alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *tc = tcase_create("alert");

	tcase_add_test(tc, test_document_matches_spec);
	tcase_add_test(tc, test_document_defaults);
	tcase_add_test(tc, test_document_resolved);
	tcase_add_test(tc, test_document_not_utf8);
	tcase_add_test(tc, test_document_ack_note_and_silenced);
	tcase_add_test(tc, test_document_dump_same_bytes);
	tcase_add_test(tc, test_severity_id);
	tcase_add_test(tc, test_document_entities);
	tcase_add_test(tc, test_document_changed_by);
	tcase_add_test(tc, test_clear_copes);
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(alert_suite)
