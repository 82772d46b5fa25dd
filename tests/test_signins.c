/* test_signins.c: Graph sign-ins pages -> records. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fixture.h"
#include "signins.h"

static struct sw_signin_page page;
static struct sw_error err;
static char *body;
static size_t body_len;

/* Read tests/data/signins/NAME into body. */
static void load(const char *name)
{
	free(body);
	body = fixture_load("signins", name, &body_len);
}

/* Load and parse tests/data/signins/NAME. */
static int parse(const char *name)
{
	load(name);
	return sw_signins_parse(body, body_len, &page, &err);
}

/* Fresh page and error for every test. */
static void setup(void)
{
	memset(&page, 0, sizeof(page));
	memset(&err, 0, sizeof(err));
	body = NULL;
}

/* Release what the test left. */
static void teardown(void)
{
	sw_signin_page_clear(&page);
	free(body);
	body = NULL;
}

START_TEST(test_doc_example)
{
	ck_assert_int_eq(parse("doc-example.json"), 0);
	ck_assert_uint_eq(page.n, 1);
	ck_assert_uint_eq(page.skipped, 0);
	struct sw_signin *s = &page.items[0];
	ck_assert_str_eq(s->id, "66ea54eb-6301-4ee5-be62-ff5a759b0100");
	ck_assert_int_eq(s->created, 1584126941);
	ck_assert_str_eq(s->created_text, "2020-03-13T19:15:41.6195833Z");
	ck_assert_str_eq(s->upn, "testaccount1@contoso.com");
	ck_assert_str_eq(s->user_id, "26be570a-ae82-4189-b4e2-a37c6808512d");
	ck_assert_str_eq(s->app_id, "de8bc8b5-d9f9-48b1-a8ad-b748da725064");
	ck_assert_str_eq(s->ip, "131.107.159.37");
	ck_assert_str_eq(s->client_app, "Browser");
	ck_assert_str_eq(s->correlation_id, "d79f5bee-5860-4832-928f-3133e22ae912");
	ck_assert_int_eq(s->error_code, 0);
	ck_assert_ptr_null(s->failure_reason);
	ck_assert_str_eq(s->country, "US");
	ck_assert_str_eq(s->city, "Redmond");
	ck_assert_str_eq(page.next_link,
	                 "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1&$skiptoken=9177f2e3532fcd4c4d225f68f7b9bdf7_1");
}
END_TEST

START_TEST(test_nulls_everywhere)
{
	ck_assert_int_eq(parse("nulls.json"), 0);
	ck_assert_uint_eq(page.n, 1);
	ck_assert_uint_eq(page.skipped, 0);
	struct sw_signin *s = &page.items[0];
	ck_assert_str_eq(s->id, "00000000-0000-0000-0000-0000000000a1");
	ck_assert_int_eq(s->created, 1795161672);
	ck_assert_ptr_null(s->upn);
	ck_assert_ptr_null(s->user_id);
	ck_assert_ptr_null(s->app_id);
	ck_assert_ptr_null(s->ip);
	ck_assert_ptr_null(s->client_app);
	ck_assert_ptr_null(s->correlation_id);
	ck_assert_ptr_null(s->failure_reason);
	ck_assert_ptr_null(s->country);
	ck_assert_ptr_null(s->city);
	ck_assert_int_eq(s->error_code, 0);
	ck_assert_ptr_null(page.next_link);
}
END_TEST

START_TEST(test_missing_fields_skip)
{
	ck_assert_int_eq(parse("missing.json"), 0);
	/* Kept: the one with only id + createdDateTime, and the last one. */
	ck_assert_uint_eq(page.n, 2);
	ck_assert_uint_eq(page.skipped, 8);
	ck_assert_str_eq(page.items[0].id, "00000000-0000-0000-0000-0000000000b1");
	ck_assert_ptr_null(page.items[0].upn);
	ck_assert_str_eq(page.items[1].id, "00000000-0000-0000-0000-0000000000b9");
	ck_assert_str_eq(page.items[1].upn, "kept@contoso.com");
	ck_assert_int_eq(page.items[1].created, 1795161679);
	/* The first five are described for the log, by position and id. */
	static const struct {
		size_t index;
		const char *id, *why;
	} notes[SW_SIGNINS_SKIP_NOTES] = {
		{1, "", "no id"},
		{2, "00000000-0000-0000-0000-0000000000b3", "no createdDateTime"},
		{3, "00000000-0000-0000-0000-0000000000b4", "createdDateTime \"yesterday\" unreadable"},
		{4, "", "no id"},
		{5, "", "empty id"},
	};
	for (size_t i = 0; i < SW_SIGNINS_SKIP_NOTES; i++) {
		ck_assert_uint_eq(page.skips[i].index, notes[i].index);
		ck_assert_str_eq(page.skips[i].id, notes[i].id);
		ck_assert_str_eq(page.skips[i].why, notes[i].why);
	}
}
END_TEST

START_TEST(test_wrong_types_skip)
{
	static const char *const why[] = {
		"userPrincipalName is not a string", "ipAddress is not a string", "status is not an object",
		"location is not an object", "countryOrRegion is not a string",
	};

	ck_assert_int_eq(parse("wrong-types.json"), 0);
	ck_assert_uint_eq(page.n, 2);
	ck_assert_uint_eq(page.skipped, 8);
	/* A string errorCode stays what it was: a failure of unknown kind. */
	ck_assert_str_eq(page.items[0].id, "t0");
	ck_assert_int_eq(page.items[0].error_code, -1);
	ck_assert_str_eq(page.items[1].id, "t9");
	for (size_t i = 0; i < SW_SIGNINS_SKIP_NOTES; i++) {
		ck_assert_uint_eq(page.skips[i].index, i + 1);
		ck_assert_str_eq(page.skips[i].why, why[i]);
	}
	ck_assert_str_eq(page.skips[0].id, "t1");
}
END_TEST

START_TEST(test_skip_note_is_printable)
{
	/* Ids and times in the notes go to the log: no quotes, controls or
	 * more than a bounded length from the peer. */
	static const char body9[] =
		"{\"value\":[{\"id\":\"t\\u0007\\\"x\\\"\\u00e9\",\"createdDateTime\":\"2026\\n-11\"},"
		"{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\","
		"\"createdDateTime\":\"2026-11-20T08:01:12.1234567890123456789012345678901234567890Z\"}]}";

	ck_assert_int_eq(sw_signins_parse(body9, strlen(body9), &page, &err), 0);
	ck_assert_uint_eq(page.skipped, 2);
	ck_assert_str_eq(page.skips[0].id, "t??x???");
	ck_assert_str_eq(page.skips[0].why, "createdDateTime \"2026?-11\" unreadable");
	ck_assert_uint_eq(strlen(page.skips[1].id), sizeof(page.skips[1].id) - 1);
	ck_assert_ptr_nonnull(strstr(page.skips[1].id, "..."));
	ck_assert_ptr_nonnull(strstr(page.skips[1].why, "...\" unreadable"));
}
END_TEST

START_TEST(test_status_empty_and_failure)
{
	ck_assert_int_eq(parse("status-empty.json"), 0);
	ck_assert_uint_eq(page.n, 2);
	ck_assert_int_eq(page.items[0].error_code, 0);
	ck_assert_ptr_null(page.items[0].failure_reason);
	ck_assert_ptr_null(page.items[0].country);
	ck_assert_int_eq(page.items[1].error_code, 50126);
	ck_assert_str_eq(page.items[1].failure_reason,
	                 "Error validating credentials due to invalid username or password.");
	ck_assert_str_eq(page.items[1].country, "NL");
	ck_assert_ptr_null(page.items[1].city);
}
END_TEST

START_TEST(test_error_code_out_of_range)
{
	/* A code that is not a whole int (found by fuzz_signins: 5e126 was an
	 * undefined cast) is a failure of unknown kind, never a success. */
	static const int want[] = {50126, -1, -1, 50126, -1, -1, 0, -1};

	ck_assert_int_eq(parse("error-codes.json"), 0);
	ck_assert_uint_eq(page.n, 8);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(page.items[i].error_code, want[i]);
}
END_TEST

START_TEST(test_fraction_digits)
{
	/* 0 to 9 digits: Graph documents 7, elastic's captured sign-ins
	 * carry 9.  10 is not a time. */
	static const char *ids[] = {"f0", "f1", "f3", "f7", "f9"};

	ck_assert_int_eq(parse("fractions.json"), 0);
	ck_assert_uint_eq(page.n, 5);
	ck_assert_uint_eq(page.skipped, 1);
	ck_assert_str_eq(page.skips[0].id, "f10");
	ck_assert_uint_eq(page.skips[0].index, 5);
	ck_assert_str_eq(page.items[4].created_text, "2026-11-20T08:01:12.123456789Z");
	for (size_t i = 0; i < 5; i++) {
		ck_assert_str_eq(page.items[i].id, ids[i]);
		/* 2026-11-20T08:01:12Z, fraction dropped. */
		ck_assert_int_eq(page.items[i].created, 1795161672);
	}
	ck_assert_str_eq(page.items[3].created_text, "2026-11-20T08:01:12.6195833Z");
}
END_TEST

START_TEST(test_empty_page_with_next_link)
{
	ck_assert_int_eq(parse("empty-nextlink.json"), 0);
	ck_assert_uint_eq(page.n, 0);
	ck_assert_uint_eq(page.skipped, 0);
	ck_assert_str_eq(page.next_link,
	                 "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1000&$skiptoken=a1b2c3_2");
}
END_TEST

START_TEST(test_unicode_upn)
{
	ck_assert_int_eq(parse("unicode-upn.json"), 0);
	ck_assert_uint_eq(page.n, 1);
	/* ASCII is lower-cased; UTF-8 sequences pass through intact. */
	ck_assert_str_eq(page.items[0].upn, "j\xc3\x9crgen.m\xc3\xbcller@contoso.de");
	ck_assert_str_eq(page.items[0].city, "M\xc3\xbcnchen");
	ck_assert_str_eq(page.items[0].country, "DE");
	ck_assert_str_eq(page.items[0].ip, "2001:db8::7");
}
END_TEST

/* Bodies that are not a sign-ins page, and what err must say. */
static const struct {
	const char *file;
	const char *text; /* substring of err.text */
	int line;
} malformed[] = {
	{"truncated.json", "invalid JSON at line 1 column", 1},
	{"not-json.txt", "invalid JSON at line 1 column 1:", 1},
	{"value-not-array.json", "no \"value\" array", 0},
	{"no-value.json", "no \"value\" array", 0},
	{"not-object.json", "no \"value\" array", 0},
};

/* A test arena: a fixed buffer, bumped through, never freed. */
static _Alignas(16) char arena_buf[4 << 20];
static size_t arena_used, arena_calls;

static void *arena_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	arena_calls++;
	if (n > sizeof(arena_buf) - arena_used)
		return NULL;
	arena_used += n;
	return arena_buf + arena_used - n;
}

/* The same strings, NULL equal only to NULL. */
static void same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		ck_assert_ptr_eq(a, b);
	else
		ck_assert_str_eq(a, b);
}

/* sw_signins_parse_arena reads every page as sw_signins_parse does, its
 * tree in the caller's arena, and leaves jansson's allocator as it was. */
START_TEST(test_arena)
{
	static const char *const files[] = {"doc-example.json", "missing.json", "wrong-types.json", "long-fields.json",
	                                    "truncated.json", "no-value.json"};
	json_malloc_t m;
	json_free_t f;

	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		struct sw_signin_page a = {0};
		struct sw_error ea = {0};
		int r = parse(files[k]), ra;

		arena_used = arena_calls = 0;
		ra = sw_signins_parse_arena(body, body_len, arena_alloc, &a, &ea);
		ck_assert_msg(ra == r, "%s: %d, not %d", files[k], ra, r);
		ck_assert_uint_gt(arena_calls, 0);
		ck_assert_str_eq(ea.text, err.text);
		ck_assert_int_eq(ea.line, err.line);
		ck_assert_uint_eq(a.n, page.n);
		ck_assert_uint_eq(a.skipped, page.skipped);
		same(a.next_link, page.next_link);
		for (size_t i = 0; i < a.n; i++) {
			same(a.items[i].id, page.items[i].id);
			same(a.items[i].upn, page.items[i].upn);
			same(a.items[i].ip, page.items[i].ip);
			same(a.items[i].failure_reason, page.items[i].failure_reason);
			same(a.items[i].city, page.items[i].city);
			ck_assert_int_eq(a.items[i].created, page.items[i].created);
			ck_assert_int_eq(a.items[i].error_code, page.items[i].error_code);
		}
		for (size_t i = 0; i < a.skipped && i < SW_SIGNINS_SKIP_NOTES; i++)
			ck_assert_str_eq(a.skips[i].why, page.skips[i].why);
		/* The records are the caller's: the arena can go. */
		memset(arena_buf, 0x5a, arena_used);
		if (a.n > 0)
			ck_assert_str_eq(a.items[0].id, page.items[0].id);
		sw_signin_page_clear(&a);
		sw_signin_page_clear(&page);
		memset(&err, 0, sizeof(err));
		json_get_alloc_funcs(&m, &f);
		ck_assert_ptr_eq(m, malloc);
		ck_assert_ptr_eq(f, free);
	}
	ck_assert_int_eq(sw_signins_parse_arena("{}", 2, NULL, &page, &err), -EINVAL);
}
END_TEST

START_TEST(test_malformed)
{
	ck_assert_int_eq(parse(malformed[_i].file), -EINVAL);
	ck_assert_msg(strstr(err.text, malformed[_i].text) != NULL, "%s: err.text \"%s\" lacks \"%s\"",
	              malformed[_i].file, err.text, malformed[_i].text);
	ck_assert_int_eq(err.line, malformed[_i].line);
	ck_assert_uint_eq(page.n, 0);
	ck_assert_ptr_null(page.items);
}
END_TEST

START_TEST(test_truncated_column)
{
	ck_assert_int_eq(parse("truncated.json"), -EINVAL);
	/* jansson points at the end of what arrived. */
	ck_assert_int_gt(err.column, 100);
	ck_assert_msg(strstr(err.text, "premature end of input") != NULL, "%s", err.text);
}
END_TEST

START_TEST(test_empty_body)
{
	ck_assert_int_eq(sw_signins_parse("", 0, &page, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "invalid JSON"));
}
END_TEST

START_TEST(test_graph_error)
{
	char out[256];

	load("graph-error.json");
	ck_assert_int_eq(sw_graph_error_parse(body, body_len, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Authorization_RequestDenied: Insufficient privileges to complete the operation.");
	load("doc-example.json");
	ck_assert_int_eq(sw_graph_error_parse(body, body_len, out, sizeof(out)), -EINVAL);
	load("not-json.txt");
	ck_assert_int_eq(sw_graph_error_parse(body, body_len, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_field_limits)
{
	ck_assert_int_eq(parse("long-fields.json"), 0);
	/* Kept: a 320-byte UPN, a 128-byte id, and the one whose free text
	 * is cut; every record with an over-long key is skipped. */
	ck_assert_uint_eq(page.n, 3);
	ck_assert_uint_eq(page.skipped, 8);
	ck_assert_uint_eq(strlen(page.items[0].upn), SW_SIGNIN_UPN_MAX);
	ck_assert_uint_eq(strlen(page.items[1].id), SW_SIGNIN_ID_MAX);
	struct sw_signin *s = &page.items[2];
	ck_assert_str_eq(s->id, "00000000-0000-0000-0000-000000000011");
	ck_assert_int_eq(s->error_code, 50126);
	/* 1023 bytes, then an e-acute that would straddle the limit: cut
	 * before it, never inside it. */
	ck_assert_uint_eq(strlen(s->failure_reason), SW_SIGNIN_REASON_MAX - 1);
	ck_assert_int_eq(s->failure_reason[SW_SIGNIN_REASON_MAX - 2], 'f');
	ck_assert_uint_eq(strlen(s->city), SW_SIGNIN_CITY_MAX);
	ck_assert_str_eq(s->country, "NL");
}
END_TEST

/* A page of n records whose first carries a correlationId of extra bytes. */
static char *make_page(size_t n, size_t extra)
{
	size_t cap = n * 80 + extra + 64, off = 0;
	char *b = malloc(cap);

	ck_assert_ptr_nonnull(b);
	off += (size_t)snprintf(b + off, cap - off, "{\"value\":[");
	for (size_t i = 0; i < n; i++) {
		off += (size_t)snprintf(b + off, cap - off,
		                        "%s{\"id\":\"id-%zu\",\"createdDateTime\":\"2026-11-20T08:01:12Z\"", i ? "," : "", i);
		if (i == 0 && extra > 0) {
			off += (size_t)snprintf(b + off, cap - off, ",\"correlationId\":\"");
			memset(b + off, 'c', extra);
			off += extra;
			b[off++] = '"';
		}
		b[off++] = '}';
	}
	snprintf(b + off, cap - off, "]}");
	return b;
}

START_TEST(test_page_limits)
{
	free(body);
	body = make_page(SW_SIGNINS_PAGE_MAX, 0);
	ck_assert_int_eq(sw_signins_parse(body, strlen(body), &page, &err), 0);
	ck_assert_uint_eq(page.n, SW_SIGNINS_PAGE_MAX);
	sw_signin_page_clear(&page);

	/* One more than Graph ever sends: the whole page is refused. */
	free(body);
	body = make_page(SW_SIGNINS_PAGE_MAX + 1, 0);
	ck_assert_int_eq(sw_signins_parse(body, strlen(body), &page, &err), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err.text, "1001 records"));
	ck_assert_uint_eq(page.n, 0);
	ck_assert_ptr_null(page.items);

	/* A 1 MiB correlationId (the review stored one): that record goes. */
	free(body);
	body = make_page(2, 1 << 20);
	ck_assert_int_eq(sw_signins_parse(body, strlen(body), &page, &err), 0);
	ck_assert_uint_eq(page.n, 1);
	ck_assert_uint_eq(page.skipped, 1);
	ck_assert_str_eq(page.items[0].id, "id-1");
}
END_TEST

/* The sign-ins suite. */
static Suite *signins_suite(void)
{
	Suite *s = suite_create("signins");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_doc_example);
	tcase_add_test(tc, test_nulls_everywhere);
	tcase_add_test(tc, test_missing_fields_skip);
	tcase_add_test(tc, test_wrong_types_skip);
	tcase_add_test(tc, test_skip_note_is_printable);
	tcase_add_test(tc, test_status_empty_and_failure);
	tcase_add_test(tc, test_error_code_out_of_range);
	tcase_add_test(tc, test_fraction_digits);
	tcase_add_test(tc, test_empty_page_with_next_link);
	tcase_add_test(tc, test_unicode_upn);
	tcase_add_loop_test(tc, test_malformed, 0, sizeof(malformed) / sizeof(malformed[0]));
	tcase_add_test(tc, test_truncated_column);
	tcase_add_test(tc, test_empty_body);
	tcase_add_test(tc, test_graph_error);
	tcase_add_test(tc, test_field_limits);
	tcase_add_test(tc, test_page_limits);
	tcase_add_test(tc, test_arena);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(signins_suite)
