/* test_audit.c: Management Activity listings and Audit.Exchange blobs ->
 * the changes that touch SMTP AUTH. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check_main.h"
#include "fixture.h"

static struct sw_audit_blob blob;
static struct sw_error err;
static char *body;
static size_t body_len;

/* Load and parse tests/data/audit/NAME. */
static int parse(const char *name)
{
	free(body);
	body = fixture_load("audit", name, &body_len);
	return sw_audit_blob_parse(body, body_len, &blob, &err);
}

/* Parse a blob of one record given as text. */
static int parse_text(const char *text)
{
	sw_audit_blob_clear(&blob);
	return sw_audit_blob_parse(text, strlen(text), &blob, &err);
}

static void setup(void)
{
	memset(&blob, 0, sizeof(blob));
	memset(&err, 0, sizeof(err));
	body = NULL;
}

static void teardown(void)
{
	sw_audit_blob_clear(&blob);
	free(body);
	body = NULL;
}

/* The change with this Id, or NULL. */
static const struct sw_audit_change *change(const char *id)
{
	for (size_t i = 0; i < blob.n; i++)
		if (strcmp(blob.items[i].id, id) == 0)
			return &blob.items[i];
	return NULL;
}

START_TEST(test_spec_example)
{
	ck_assert_int_eq(parse("spec-example.json"), 0);
	ck_assert_uint_eq(blob.records, 1);
	ck_assert_uint_eq(blob.n, 1);
	const struct sw_audit_change *c = &blob.items[0];
	ck_assert_str_eq(c->id, "4f1a2b3c-0001-4000-8000-000000000001");
	ck_assert_int_eq(c->created, 1796120102); /* 2026-12-01T10:15:02Z: no zone is UTC */
	ck_assert_str_eq(c->operation, "Set-CASMailbox");
	ck_assert_str_eq(c->user, "admin@contoso.com");
	ck_assert_int_eq(c->actor, SW_ACTOR_PERSON);
	ck_assert_str_eq(c->ip, "203.0.113.9");
	ck_assert_int_eq(c->object, SW_AUDIT_OBJ_MAILBOX);
	ck_assert_str_eq(c->subject, "scanner2@contoso.com");
	ck_assert_str_eq(c->setting, "SmtpClientAuthenticationDisabled");
	ck_assert_str_eq(c->value, "False");
	ck_assert_int_eq(c->effect, SW_AUDIT_ON);
	ck_assert_str_eq(c->parameters, "[{\"Name\":\"Identity\",\"Value\":\"scanner2@contoso.com\"},"
	                                "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]");
}
END_TEST

/* Every operation of the SPEC and both forms of Parameters, one row each. */
static const struct {
	const char *id;
	const char *operation;
	enum sw_audit_object object;
	const char *subject;
	const char *value; /* NULL: none */
	enum sw_audit_effect effect;
	enum sw_audit_actor actor;
	const char *ip; /* NULL: none */
} mixed[] = {
	{"rec-tenant-on", "Set-TransportConfig", SW_AUDIT_OBJ_TENANT, "contoso.onmicrosoft.com", "False", SW_AUDIT_ON,
	 SW_ACTOR_PERSON, "2001:db8::9"},
	{"rec-string-form", "Set-CASMailbox", SW_AUDIT_OBJ_MAILBOX, "printer@contoso.com", "False", SW_AUDIT_ON,
	 SW_ACTOR_PERSON, "198.51.100.4"},
	{"rec-system", "Set-CASMailbox", SW_AUDIT_OBJ_MAILBOX, "legacy@contoso.com", "True", SW_AUDIT_OFF,
	 SW_ACTOR_SYSTEM, NULL},
	{"rec-inherit", "Set-CASMailbox", SW_AUDIT_OBJ_MAILBOX, "x@contoso.com", "$null", SW_AUDIT_INHERIT,
	 SW_ACTOR_APP, NULL},
	{"rec-policy-new", "New-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, "Allow Basic SMTP", "True", SW_AUDIT_ON,
	 SW_ACTOR_PERSON, "203.0.113.9"},
	{"rec-policy-off", "Set-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, "Block Basic", "False", SW_AUDIT_OFF,
	 SW_ACTOR_PERSON, NULL},
	{"rec-policy-rm", "Remove-AuthenticationPolicy", SW_AUDIT_OBJ_POLICY, "Block Basic", NULL, SW_AUDIT_REMOVED,
	 SW_ACTOR_PERSON, NULL},
	{"rec-org-default", "Set-OrganizationConfig", SW_AUDIT_OBJ_TENANT, "contoso.onmicrosoft.com",
	 "Allow Basic SMTP", SW_AUDIT_ASSIGN, SW_ACTOR_PERSON, NULL},
	{"rec-user-policy", "Set-User", SW_AUDIT_OBJ_MAILBOX, "scanner@contoso.com", NULL, SW_AUDIT_ASSIGN,
	 SW_ACTOR_PERSON, NULL},
};

START_TEST(test_mixed_row)
{
	ck_assert_int_eq(parse("mixed-blob.json"), 0);
	const struct sw_audit_change *c = change(mixed[_i].id);
	ck_assert_msg(c != NULL, "%s not read", mixed[_i].id);
	ck_assert_str_eq(c->operation, mixed[_i].operation);
	ck_assert_int_eq(c->object, mixed[_i].object);
	ck_assert_str_eq(c->subject, mixed[_i].subject);
	if (mixed[_i].value)
		ck_assert_str_eq(c->value, mixed[_i].value);
	else
		ck_assert_ptr_null(c->value);
	ck_assert_int_eq(c->effect, mixed[_i].effect);
	ck_assert_int_eq(c->actor, mixed[_i].actor);
	if (mixed[_i].ip)
		ck_assert_str_eq(c->ip, mixed[_i].ip);
	else
		ck_assert_ptr_null(c->ip);
}
END_TEST

/* Counted: every record is a change, ignored, or bad and described. */
START_TEST(test_mixed_counts)
{
	ck_assert_int_eq(parse("mixed-blob.json"), 0);
	ck_assert_uint_eq(blob.records, 17);
	ck_assert_uint_eq(blob.n, sizeof(mixed) / sizeof(mixed[0]));
	ck_assert_uint_eq(blob.ignored, 3); /* another operation, another setting, a failed cmdlet */
	ck_assert_uint_eq(blob.bad, 5);
	ck_assert_uint_eq(blob.n + blob.ignored + blob.bad, blob.records);
	ck_assert_uint_eq(blob.bads[0].index, 12);
	ck_assert_str_eq(blob.bads[0].why, "no Id");
	ck_assert_str_eq(blob.bads[1].id, "rec-bad-time");
	ck_assert_str_eq(blob.bads[1].why, "CreationTime \"yesterday\" unreadable");
	ck_assert_str_eq(blob.bads[2].why, "Parameters is neither an array nor a string");
	ck_assert_str_eq(blob.bads[3].why, "SmtpClientAuthenticationDisabled value \"maybe\" unreadable");
	ck_assert_uint_eq(blob.bads[4].index, 16);
	ck_assert_str_eq(blob.bads[4].why, "not an object");
	/* The string form's parameters become the array form. */
	ck_assert_str_eq(change("rec-string-form")->parameters,
	                 "[{\"Name\":\"Identity\",\"Value\":\"Printer@Contoso.com\"},"
	                 "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"$false\"}]");
	/* Fractional seconds without a zone. */
	ck_assert_int_eq(change("rec-string-form")->created, 1796115660);
}
END_TEST

/* Every value form the audit log writes, through Set-TransportConfig. */
static const struct {
	const char *value;
	int effect; /* -1: a bad record */
} forms[] = {
	{"$false", SW_AUDIT_ON}, {"False", SW_AUDIT_ON}, {"false", SW_AUDIT_ON}, {"0", SW_AUDIT_ON},
	{"$true", SW_AUDIT_OFF}, {"True", SW_AUDIT_OFF}, {"true", SW_AUDIT_OFF}, {"1", SW_AUDIT_OFF},
	{"$FALSE", SW_AUDIT_ON}, {"yes", -1},           {"", -1},             {"$null", -1},
};

START_TEST(test_value_forms)
{
	char rec[512];

	snprintf(rec, sizeof(rec), "[{\"Id\":\"v\",\"CreationTime\":\"2026-12-01T10:00:00\",\"Operation\":"
	         "\"Set-TransportConfig\",\"Parameters\":[{\"Name\":\"SmtpClientAuthenticationDisabled\","
	         "\"Value\":\"%s\"}]}]", forms[_i].value);
	ck_assert_int_eq(parse_text(rec), 0);
	if (forms[_i].effect < 0) {
		ck_assert_uint_eq(blob.bad, 1);
		ck_assert_uint_eq(blob.n, 0);
	} else {
		ck_assert_uint_eq(blob.n, 1);
		ck_assert_int_eq(blob.items[0].effect, forms[_i].effect);
	}
	/* The same value in the string form. */
	snprintf(rec, sizeof(rec), "[{\"Id\":\"v\",\"CreationTime\":\"2026-12-01T10:00:00\",\"Operation\":"
	         "\"Set-TransportConfig\",\"Parameters\":\"-SmtpClientAuthenticationDisabled:%s\"}]",
	         forms[_i].value[0] ? forms[_i].value : "''");
	ck_assert_int_eq(parse_text(rec), 0);
	ck_assert_uint_eq(blob.n, forms[_i].effect < 0 ? 0 : 1);
	if (forms[_i].effect >= 0)
		ck_assert_int_eq(blob.items[0].effect, forms[_i].effect);
}
END_TEST

/* PowerShell-style strings: quoting, colons, switches, and what is not one. */
static const struct {
	const char *params; /* JSON string text */
	const char *subject; /* NULL: a bad record */
	int effect;
} strings[] = {
	{"-Identity \\\"a b@contoso.com\\\" -SmtpClientAuthenticationDisabled $false", "a b@contoso.com", SW_AUDIT_ON},
	{"-Identity 'o''brien@contoso.com' -SmtpClientAuthenticationDisabled:$true", "o'brien@contoso.com", SW_AUDIT_OFF},
	{"  -SmtpClientAuthenticationDisabled False   -Identity:x@contoso.com  ", "x@contoso.com", SW_AUDIT_ON},
	{"-Identity \\\"unclosed -SmtpClientAuthenticationDisabled $false", NULL, 0},
	{"x@contoso.com -SmtpClientAuthenticationDisabled $false", NULL, 0},
	{"-Identity x@contoso.com -SmtpClientAuthenticationDisabled", NULL, 0}, /* no value: not a switch */
};

START_TEST(test_string_forms)
{
	char rec[512];

	snprintf(rec, sizeof(rec), "[{\"Id\":\"s\",\"CreationTime\":\"2026-12-01T10:00:00Z\",\"Operation\":"
	         "\"set-casmailbox\",\"Parameters\":\"%s\"}]", strings[_i].params);
	ck_assert_int_eq(parse_text(rec), 0);
	if (strings[_i].subject == NULL) {
		ck_assert_uint_eq(blob.bad, 1);
		return;
	}
	ck_assert_uint_eq(blob.n, 1);
	ck_assert_str_eq(blob.items[0].subject, strings[_i].subject);
	ck_assert_int_eq(blob.items[0].effect, strings[_i].effect);
}
END_TEST

/* Who: people, NT AUTHORITY\SYSTEM, Microsoft operators, applications. */
static const struct {
	const char *user;
	const char *type; /* JSON text */
	enum sw_audit_actor actor;
} actors[] = {
	{"admin@contoso.com", "2", SW_ACTOR_PERSON},
	{"admin@contoso.com", "0", SW_ACTOR_PERSON},
	{"NT AUTHORITY\\\\SYSTEM (Microsoft.Exchange.ServiceHost)", "3", SW_ACTOR_SYSTEM},
	{"nt authority\\\\system (w3wp)", "0", SW_ACTOR_SYSTEM},
	{"ops@microsoft.com", "3", SW_ACTOR_MICROSOFT},
	{"svc", "4", SW_ACTOR_SYSTEM},
	{"svc", "8", SW_ACTOR_SYSTEM},
	{"app", "5", SW_ACTOR_APP},
	{"app", "\"ServicePrincipal\"", SW_ACTOR_APP},
	{"1b730954-1685-4b74-9bfd-dac224a7b894", "0", SW_ACTOR_APP},
	{"ServicePrincipal_1b730954", "null", SW_ACTOR_APP},
};

START_TEST(test_actors)
{
	char rec[512];

	snprintf(rec, sizeof(rec), "[{\"Id\":\"a\",\"CreationTime\":\"2026-12-01T10:00:00\",\"Operation\":"
	         "\"Set-TransportConfig\",\"UserId\":\"%s\",\"UserType\":%s,\"Parameters\":[{\"Name\":"
	         "\"SmtpClientAuthenticationDisabled\",\"Value\":\"False\"}]}]", actors[_i].user, actors[_i].type);
	ck_assert_int_eq(parse_text(rec), 0);
	ck_assert_uint_eq(blob.n, 1);
	ck_assert_int_eq(blob.items[0].actor, actors[_i].actor);
}
END_TEST

START_TEST(test_ip)
{
	static const char *const cases[][2] = {
		{"203.0.113.9:51234", "203.0.113.9"}, {"203.0.113.9", "203.0.113.9"},
		{"[2001:db8::1]:443", "2001:db8::1"}, {"2001:db8::1", "2001:db8::1"},
		{"", ""},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sw_audit_ip(cases[i][0], out, sizeof(out));
		ck_assert_str_eq(out, cases[i][1]);
	}
}
END_TEST

START_TEST(test_not_a_blob)
{
	ck_assert_int_eq(parse("not-array.json"), -EINVAL);
	ck_assert_str_eq(err.text, "not a JSON array");
	ck_assert_int_eq(parse("truncated.json"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "invalid JSON"));
	ck_assert_int_eq(parse_text("[]"), 0);
	ck_assert_uint_eq(blob.records, 0);
}
END_TEST

START_TEST(test_listing)
{
	struct sw_audit_listing l = {0};

	free(body);
	body = fixture_load("audit", "listing.json", &body_len);
	ck_assert_int_eq(sw_audit_listing_parse(body, body_len, &l, &err), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.bad, 1);
	ck_assert_ptr_nonnull(strstr(l.items[0].uri, "/activity/feed/audit/"));
	ck_assert_int_eq(l.items[0].created, 1796120400);
	ck_assert_int_eq(l.items[0].expiration, 1796120400 + 7 * 86400);
	sw_audit_listing_clear(&l);
	ck_assert_int_eq(sw_audit_listing_parse("{}", 2, &l, &err), -EINVAL);
}
END_TEST

START_TEST(test_error_code)
{
	const char *b = "{\"error\":{\"code\":\"AF20024\",\"message\":\"The subscription is already enabled.\"}}";
	char code[16];

	sw_audit_error_code(b, strlen(b), code, sizeof(code));
	ck_assert_str_eq(code, "AF20024");
	sw_audit_error_code("nope", 4, code, sizeof(code));
	ck_assert_str_eq(code, "");
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_spec_example);
	tcase_add_loop_test(tc, test_mixed_row, 0, sizeof(mixed) / sizeof(mixed[0]));
	tcase_add_test(tc, test_mixed_counts);
	tcase_add_loop_test(tc, test_value_forms, 0, sizeof(forms) / sizeof(forms[0]));
	tcase_add_loop_test(tc, test_string_forms, 0, sizeof(strings) / sizeof(strings[0]));
	tcase_add_loop_test(tc, test_actors, 0, sizeof(actors) / sizeof(actors[0]));
	tcase_add_test(tc, test_ip);
	tcase_add_test(tc, test_not_a_blob);
	tcase_add_test(tc, test_listing);
	tcase_add_test(tc, test_error_code);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(audit_suite)
