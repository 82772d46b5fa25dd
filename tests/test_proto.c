/* test_proto.c: control protocol requests and replies. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "proto.h"

START_TEST(test_request_ok)
{
	static const char *lines[] = {
		"{\"cmd\":\"status\"}",
		"{\"cmd\":\"status\"}\n",
		"{\"cmd\":\"status\"}\r\n",
		"  {\"cmd\" : \"status\", \"extra\": [1,2]}  ",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		json_t *req = NULL;
		char why[128] = "";
		ck_assert_msg(sw_proto_request_parse(lines[i], strlen(lines[i]), &req, why, sizeof(why)) == 0,
		              "line %zu: %s", i, why);
		ck_assert_str_eq(json_string_value(json_object_get(req, "cmd")), "status");
		json_decref(req);
	}
}
END_TEST

START_TEST(test_request_args)
{
	const char *line = "{\"cmd\":\"alerts\",\"all\":true,\"since\":\"2h\"}";
	json_t *req = NULL;
	char why[128];

	ck_assert_int_eq(sw_proto_request_parse(line, strlen(line), &req, why, sizeof(why)), 0);
	ck_assert(json_is_true(json_object_get(req, "all")));
	ck_assert_str_eq(json_string_value(json_object_get(req, "since")), "2h");
	json_decref(req);
}
END_TEST

static const struct {
	const char *line, *why;
} bad_requests[] = {
	{"{\"all\":true}", "no \"cmd\""},
	{"{\"cmd\":42}", "no \"cmd\""},
	{"{\"cmd\":null}", "no \"cmd\""},
	{"[\"status\"]", "not a JSON object"},
	{"\"status\"", "not a JSON object"},
	{"status", "invalid JSON"},
	{"{\"cmd\":\"status\"", "invalid JSON"},
	{"{\"cmd\":\"status\"}{\"cmd\":\"reload\"}", "invalid JSON"},
	{"", "invalid JSON"},
};

START_TEST(test_request_bad)
{
	json_t *req = NULL;
	char why[128] = "";

	ck_assert_int_eq(sw_proto_request_parse(bad_requests[_i].line, strlen(bad_requests[_i].line), &req, why,
	                                        sizeof(why)),
	                 -EINVAL);
	ck_assert_ptr_null(req);
	ck_assert_msg(strstr(why, bad_requests[_i].why) != NULL, "\"%s\": why \"%s\"", bad_requests[_i].line, why);
}
END_TEST

START_TEST(test_request_too_long)
{
	size_t n = SW_PROTO_MAX_LINE + 100;
	char *line = malloc(n + 1);
	json_t *req = NULL;
	char why[128] = "";

	ck_assert_ptr_nonnull(line);
	memset(line, ' ', n);
	memcpy(line, "{\"cmd\":\"status\",\"x\":\"", 21);
	line[n - 2] = '"';
	line[n - 1] = '}';
	line[n] = '\0';
	ck_assert_int_eq(sw_proto_request_parse(line, n, &req, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "longer than"));
	free(line);
}
END_TEST

START_TEST(test_reply_ok_round_trip)
{
	json_t *data = json_pack("{s:s,s:i,s:{s:[s]}}", "version", "0.1.0", "uptime_s", 12, "tenants", "names",
	                         "contoso");
	json_t *back = NULL;
	char why[128] = "";
	char *line = sw_proto_reply_ok(data);

	ck_assert_ptr_nonnull(line);
	/* One line, newline-terminated, compact. */
	ck_assert_uint_gt(strlen(line), 1);
	ck_assert_int_eq(line[strlen(line) - 1], '\n');
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	ck_assert_ptr_null(strstr(line, ": "));
	ck_assert_int_eq(sw_proto_reply_parse(line, strlen(line), &back, why, sizeof(why)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(back, "version")), "0.1.0");
	ck_assert_int_eq(json_integer_value(json_object_get(back, "uptime_s")), 12);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(back, "tenants"), "names"), 0)),
	                 "contoso");
	json_decref(back);
	free(line);
}
END_TEST

START_TEST(test_reply_ok_text_with_newlines)
{
	/* metrics sends multi-line text: it must stay one protocol line. */
	char *line = sw_proto_reply_ok(json_pack("{s:s}", "text", "# HELP a\na 1\nb 2\n"));
	json_t *back = NULL;
	char why[64];

	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	ck_assert_int_eq(sw_proto_reply_parse(line, strlen(line), &back, why, sizeof(why)), 0);
	ck_assert_str_eq(json_string_value(json_object_get(back, "text")), "# HELP a\na 1\nb 2\n");
	json_decref(back);
	free(line);
}
END_TEST

START_TEST(test_reply_ok_dumped_same_bytes)
{
	json_t *data = json_pack("{s:[{s:s},{s:i}]}", "alerts", "id", "a-000001", "count", 3);
	char *text = json_dumps(data, JSON_COMPACT);
	char *want = sw_proto_reply_ok(data);
	char *line = sw_proto_reply_ok_dumped(text, strlen(text));

	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line, want);
	free(line);
	free(want);
	free(text);
}
END_TEST

START_TEST(test_reply_error_round_trip)
{
	char *line = sw_proto_reply_error("unknown command \"%s\"", "frobnicate");
	json_t *back = NULL;
	char why[128] = "";

	ck_assert_str_eq(line, "{\"ok\":false,\"error\":\"unknown command \\\"frobnicate\\\"\"}\n");
	ck_assert_int_eq(sw_proto_reply_parse(line, strlen(line), &back, why, sizeof(why)), -EPROTO);
	ck_assert_ptr_null(back);
	ck_assert_str_eq(why, "unknown command \"frobnicate\"");
	free(line);
}
END_TEST

START_TEST(test_reply_error_not_utf8)
{
	char *line = sw_proto_reply_error("no alert %s", "\xff\xfe");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "\"ok\":false"));
	free(line);
}
END_TEST

static const char *bad_replies[] = {
	"garbage\n",
	"{\"data\":{}}\n",
	"{\"ok\":\"yes\"}\n",
	"[true]\n",
	"",
};

START_TEST(test_reply_bad)
{
	json_t *back = NULL;
	char why[128] = "";

	ck_assert_int_eq(sw_proto_reply_parse(bad_replies[_i], strlen(bad_replies[_i]), &back, why, sizeof(why)),
	                 -EINVAL);
	ck_assert_ptr_null(back);
	ck_assert_msg(why[0] != '\0', "no why for \"%s\"", bad_replies[_i]);
}
END_TEST

/* The proto suite. */
static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("proto");

	tcase_add_test(tc, test_request_ok);
	tcase_add_test(tc, test_request_args);
	tcase_add_loop_test(tc, test_request_bad, 0, sizeof(bad_requests) / sizeof(bad_requests[0]));
	tcase_add_test(tc, test_request_too_long);
	tcase_add_test(tc, test_reply_ok_round_trip);
	tcase_add_test(tc, test_reply_ok_text_with_newlines);
	tcase_add_test(tc, test_reply_ok_dumped_same_bytes);
	tcase_add_test(tc, test_reply_error_round_trip);
	tcase_add_test(tc, test_reply_error_not_utf8);
	tcase_add_loop_test(tc, test_reply_bad, 0, sizeof(bad_replies) / sizeof(bad_replies[0]));
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(proto_suite)
