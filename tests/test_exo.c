/* test_exo.c: Exchange answers and the effective SMTP AUTH state. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "exo.h"
#include "fixture.h"

/* Read tests/data/exo/NAME; the buffer stays valid until the next call. */
static const char *slurp(const char *name, size_t *ret_len)
{
	static char *buf;

	free(buf);
	buf = fixture_load("exo", name, ret_len);
	return buf;
}

/* Every combination of tenant switch, mailbox tri-state and policy. */
static const struct {
	bool tenant_disabled;
	enum sw_tristate mailbox;
	const char *policy;
	bool allows_basic;
	bool on, blocked;
	const char *reason;
} effective_table[] = {
	{false, SW_TRI_NULL, NULL, true, true, false, "on: inherits tenant switch"},
	{true, SW_TRI_NULL, NULL, true, false, false, "off: inherits tenant switch"},
	{false, SW_TRI_FALSE, NULL, true, true, false, "on: mailbox override false"},
	{true, SW_TRI_FALSE, NULL, true, true, false, "on: mailbox override false"},
	{false, SW_TRI_TRUE, NULL, true, false, false, "off: mailbox override true"},
	{true, SW_TRI_TRUE, NULL, true, false, false, "off: mailbox override true"},
	{false, SW_TRI_NULL, "Allow All", true, true, false, "on: inherits tenant switch"},
	{false, SW_TRI_NULL, "Block Basic Auth", false, true, true,
	 "on: inherits tenant switch; Basic blocked by policy Block Basic Auth"},
	{true, SW_TRI_NULL, "Block Basic Auth", false, false, true, "off: inherits tenant switch"},
	{true, SW_TRI_FALSE, "Block Basic Auth", false, true, true,
	 "on: mailbox override false; Basic blocked by policy Block Basic Auth"},
	{false, SW_TRI_TRUE, "Block Basic Auth", false, false, true, "off: mailbox override true"},
	{true, SW_TRI_TRUE, "Block Basic Auth", false, false, true, "off: mailbox override true"},
};

START_TEST(test_effective_table)
{
	struct sw_effective e;
	sw_effective_state(effective_table[_i].tenant_disabled, effective_table[_i].mailbox,
	                   effective_table[_i].policy, effective_table[_i].allows_basic, &e);
	ck_assert_msg(e.smtp_auth_on == effective_table[_i].on, "row %d: on", _i);
	ck_assert_msg(e.basic_blocked == effective_table[_i].blocked, "row %d: blocked", _i);
	ck_assert_str_eq(e.reason, effective_table[_i].reason);
}
END_TEST

START_TEST(test_casmailbox_page)
{
	size_t len;
	const char *body = slurp("casmailbox-page1.json", &len);
	struct sw_exo_page page;
	struct sw_error err = {0};
	struct sw_mailbox m;

	ck_assert_int_eq(sw_exo_page_parse(body, len, &page, &err), 0);
	ck_assert_int_eq(json_array_size(page.rows), 5);
	ck_assert_str_eq(page.next_link,
	                 "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand?$skiptoken=2");

	ck_assert_int_eq(sw_exo_mailbox_parse(json_array_get(page.rows, 0), &m), 0);
	ck_assert_str_eq(m.address, "scanner-hq@contoso.com");
	ck_assert_str_eq(m.identity, "scanner-hq");
	ck_assert_str_eq(m.object_id, "6b1e0c2a-0000-4000-8000-000000000001");
	ck_assert_int_eq(m.smtp_disabled, SW_TRI_FALSE);
	sw_mailbox_clear(&m);
	ck_assert_int_eq(sw_exo_mailbox_parse(json_array_get(page.rows, 1), &m), 0);
	ck_assert_int_eq(m.smtp_disabled, SW_TRI_NULL);
	sw_mailbox_clear(&m);
	ck_assert_int_eq(sw_exo_mailbox_parse(json_array_get(page.rows, 2), &m), 0);
	ck_assert_int_eq(m.smtp_disabled, SW_TRI_TRUE);
	ck_assert_ptr_null(m.object_id);
	sw_mailbox_clear(&m);
	ck_assert_int_eq(sw_exo_mailbox_parse(json_array_get(page.rows, 3), &m), 0);
	ck_assert_int_eq(m.smtp_disabled, SW_TRI_NULL); /* absent = null */
	sw_mailbox_clear(&m);
	ck_assert_int_eq(sw_exo_mailbox_parse(json_array_get(page.rows, 4), &m), -EINVAL);
	sw_exo_page_clear(&page);
}
END_TEST

START_TEST(test_page_errors)
{
	struct sw_exo_page page;
	struct sw_error err = {0};

	ck_assert_int_eq(sw_exo_page_parse("{\"value\":[", 10, &page, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "invalid JSON") != NULL, "%s", err.text);
	ck_assert_int_eq(sw_exo_page_parse("{\"value\":{}}", 12, &page, &err), -EINVAL);
	ck_assert_msg(strstr(err.text, "value") != NULL, "%s", err.text);
	ck_assert_int_eq(sw_exo_page_parse("{\"value\":[]}", 12, &page, &err), 0);
	ck_assert_int_eq(json_array_size(page.rows), 0);
	ck_assert_ptr_null(page.next_link);
	sw_exo_page_clear(&page);
}
END_TEST

START_TEST(test_error_text)
{
	size_t len;
	char out[256];
	const char *body = slurp("error-details.json", &len);

	sw_exo_error_text(body, len, out, sizeof(out));
	ck_assert_str_eq(out, "The term 'Get-Foo' is not recognized as a cmdlet");
	body = slurp("error-plain.txt", &len);
	sw_exo_error_text(body, len, out, sizeof(out));
	ck_assert_str_eq(out, "The request was throttled: you have exceeded the maximum number of concurrent "
	                      "requests per tenant.");
	const char *graph = "{\"error\":{\"code\":\"x\",\"message\":\"Access denied\"}}";
	sw_exo_error_text(graph, strlen(graph), out, sizeof(out));
	ck_assert_str_eq(out, "x: Access denied");
	sw_exo_error_text("", 0, out, sizeof(out));
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_tristate_strings)
{
	json_t *row = json_pack("{s:s}", "SmtpClientAuthenticationDisabled", "False");
	ck_assert_int_eq(sw_exo_row_smtp_disabled(row), SW_TRI_FALSE);
	json_decref(row);
	row = json_pack("{s:s}", "SmtpClientAuthenticationDisabled", "TRUE");
	ck_assert_int_eq(sw_exo_row_smtp_disabled(row), SW_TRI_TRUE);
	json_decref(row);
	row = json_pack("{s:i}", "SmtpClientAuthenticationDisabled", 1);
	ck_assert_int_eq(sw_exo_row_smtp_disabled(row), SW_TRI_NULL);
	json_decref(row);
}
END_TEST

START_TEST(test_policy_allows_basic)
{
	/* The string form reads like the boolean, as for the mailbox switch:
	 * "False" used to read as Basic allowed. */
	static const struct {
		const char *policy;
		int r;
		bool allows;
	} cases[] = {
		{"Allow SMTP", 0, true},     {"Block Basic Auth", 0, false}, {"block basic auth", 0, false},
		{"Block lower", 0, false},   {"Allow string", 0, true},      {"Block bool", 0, false},
		{"Unset", 0, true},          {"Absent", 0, true},            {"Nope", -ENOENT, true},
		{"", -ENOENT, true},
	};
	struct sw_exo_page page;
	struct sw_error err = {0};
	size_t len;
	const char *body = slurp("policies.json", &len);

	ck_assert_int_eq(sw_exo_page_parse(body, len, &page, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool allows = true;
		ck_assert_int_eq(sw_exo_policy_allows_basic(page.rows, cases[i].policy, &allows), cases[i].r);
		ck_assert_msg(allows == cases[i].allows, "%s", cases[i].policy);
	}
	sw_exo_page_clear(&page);
}
END_TEST

START_TEST(test_warnings_only_page)
{
	struct sw_exo_page page;
	struct sw_error err = {0};
	size_t len;
	const char *body = slurp("warnings-only.json", &len);

	/* Warnings and no "value": a page without rows, its warnings kept. */
	ck_assert_int_eq(sw_exo_page_parse(body, len, &page, &err), 0);
	ck_assert_int_eq(json_array_size(page.rows), 0);
	ck_assert_int_eq(json_array_size(page.warnings), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(page.warnings, 0)), "couldn't be found"));
	ck_assert_ptr_null(page.next_link);
	sw_exo_page_clear(&page);
	/* The key without "@" (as the simulator writes it) too. */
	ck_assert_int_eq(sw_exo_page_parse("{\"adminapi.warnings\":[]}", 24, &page, &err), 0);
	ck_assert_int_eq(json_array_size(page.rows), 0);
	sw_exo_page_clear(&page);
	/* Warnings beside rows: both. */
	const char *both = "{\"value\":[{\"Name\":\"x\"}],\"@adminapi.warnings\":[\"w\"]}";
	ck_assert_int_eq(sw_exo_page_parse(both, strlen(both), &page, &err), 0);
	ck_assert_int_eq(json_array_size(page.rows), 1);
	ck_assert_int_eq(json_array_size(page.warnings), 1);
	sw_exo_page_clear(&page);
	/* Neither value nor warnings is still malformed. */
	ck_assert_int_eq(sw_exo_page_parse("{\"@odata.context\":\"x\"}", 22, &page, &err), -EINVAL);
	ck_assert_int_eq(sw_exo_page_parse("{\"@adminapi.warnings\":\"w\"}", 26, &page, &err), -EINVAL);
}
END_TEST

static Suite *exo_suite(void)
{
	Suite *s = suite_create("exo");
	TCase *tc = tcase_create("exo");
	tcase_add_loop_test(tc, test_effective_table, 0, sizeof(effective_table) / sizeof(effective_table[0]));
	tcase_add_test(tc, test_casmailbox_page);
	tcase_add_test(tc, test_page_errors);
	tcase_add_test(tc, test_error_text);
	tcase_add_test(tc, test_tristate_strings);
	tcase_add_test(tc, test_policy_allows_basic);
	tcase_add_test(tc, test_warnings_only_page);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(exo_suite)
