/* test_render.c: the webhook body and the RFC 5424 syslog line. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "render.h"

static struct sw_buf out;

static void setup(void)
{
	memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
	sw_buf_clear(&out);
}

/* Read tests/data/render/NAME into a malloc'd string. */
static char *slurp(const char *name, size_t *ret_len)
{
	char path[1024];
	char *s = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/render/%s", getenv("SW_TEST_DATA"), name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	s = malloc(65536);
	ck_assert_ptr_nonnull(s);
	n = fread(s, 1, 65535, f);
	fclose(f);
	s[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return s;
}

/* One PRINTUSASCII field of 1..max bytes ending at SP; advances *p. */
static size_t header_field(const char **p, size_t max)
{
	size_t n = 0;

	while ((*p)[n] >= 33 && (*p)[n] <= 126)
		n++;
	ck_assert_msg(n >= 1 && n <= max, "header field of %zu bytes (1..%zu)", n, max);
	*p += n;
	ck_assert_msg(**p == ' ', "header field not followed by SP: '%s'", *p);
	(*p)++;
	return n;
}

/* Check a frame against the RFC 5424 ABNF (section 6) and return the SD
 * params, unescaped, of the one SD-ELEMENT as an object (new reference).
 * *ret_msg points to MSG (after its SP) or NULL. */
static json_t *check_5424(const char *frame, const char **ret_msg)
{
	const char *p = frame;
	json_t *params = json_object();
	int pri = 0, digits = 0;

	ck_assert_msg(strchr(frame, '\n') == NULL && strchr(frame, '\r') == NULL, "frame spans lines");
	/* PRI = "<" PRIVAL ">", PRIVAL = 1*3DIGIT, 0..191, no leading zero. */
	ck_assert_int_eq(*p++, '<');
	while (*p >= '0' && *p <= '9' && digits < 4) {
		pri = pri * 10 + (*p++ - '0');
		digits++;
	}
	ck_assert_msg(digits >= 1 && digits <= 3, "PRIVAL has %d digits", digits);
	ck_assert_msg(!(digits > 1 && p[-digits] == '0'), "PRIVAL has a leading zero");
	ck_assert_int_le(pri, 191);
	ck_assert_int_eq(*p++, '>');
	/* VERSION = NONZERO-DIGIT 0*2DIGIT: we send 1. */
	ck_assert_int_eq(*p++, '1');
	ck_assert_int_eq(*p++, ' ');
	/* TIMESTAMP: full-date "T" partial-time "Z", in UTC. */
	int y, mo, dd, hh, mi, ss, n = 0;
	ck_assert_int_eq(sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &dd, &hh, &mi, &ss, &n), 6);
	ck_assert_int_eq(n, 20);
	ck_assert(mo >= 1 && mo <= 12 && dd >= 1 && dd <= 31 && hh <= 23 && mi <= 59 && ss <= 60);
	p += n;
	ck_assert_int_eq(*p++, ' ');
	header_field(&p, 255); /* HOSTNAME */
	ck_assert(strncmp(p, "smtpwatch ", 10) == 0);
	header_field(&p, 48);  /* APP-NAME */
	ck_assert(strncmp(p, "- ", 2) == 0);
	header_field(&p, 128); /* PROCID */
	header_field(&p, 32);  /* MSGID */
	/* STRUCTURED-DATA: exactly one SD-ELEMENT, ours. */
	ck_assert_msg(strncmp(p, "[smtpwatch@32473", 16) == 0, "SD-ID at '%s'", p);
	p += 16;
	while (*p == ' ') {
		char name[33], value[4096];
		size_t nn = 0, nv = 0;

		p++;
		/* SD-NAME = 1*32 PRINTUSASCII except '=', SP, ']', '"' */
		while (*p >= 33 && *p <= 126 && *p != '=' && *p != ']' && *p != '"') {
			ck_assert_uint_lt(nn, 32);
			name[nn++] = *p++;
		}
		name[nn] = '\0';
		ck_assert_uint_ge(nn, 1);
		ck_assert_int_eq(*p++, '=');
		ck_assert_int_eq(*p++, '"');
		/* PARAM-VALUE: '"', '\' and ']' MUST be escaped. */
		while (*p != '"') {
			ck_assert_msg(*p != '\0' && *p != ']', "unescaped ']' or end in %s", name);
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == ']'))
				p++;
			else
				ck_assert_msg(*p != '\\', "a lone backslash in %s", name);
			ck_assert_uint_lt(nv, sizeof(value) - 1);
			value[nv++] = *p++;
		}
		value[nv] = '\0';
		p++;
		ck_assert_msg(json_object_get(params, name) == NULL, "param %s twice", name);
		json_object_set_new(params, name, json_string(value));
	}
	ck_assert_int_eq(*p++, ']');
	if (*p == '\0') {
		*ret_msg = NULL;
	} else {
		ck_assert_int_eq(*p++, ' ');
		*ret_msg = p;
	}
	return params;
}

static const char *const sd_keys[] = {"id", "rule", "severity", "tenant", "subject", "status"};

/* Render a case of tests/data/render and compare it with NAME.expected,
 * then check the frame's grammar and that its SD holds the document's
 * values, unescaped. */
static void run_case(const char *name)
{
	char file[256];
	json_error_t err;
	const char *msg;
	char *text, *expected;
	size_t len;
	json_t *c, *doc, *params;

	snprintf(file, sizeof(file), "%s.json", name);
	text = slurp(file, NULL);
	c = json_loads(text, 0, &err);
	ck_assert_msg(c != NULL, "%s: %s", file, err.text);
	free(text);
	snprintf(file, sizeof(file), "%s.expected", name);
	expected = slurp(file, &len);
	ck_assert(len > 0 && expected[len - 1] == '\n');
	expected[len - 1] = '\0';

	doc = json_object_get(c, "doc");
	ck_assert_int_eq(sw_render_syslog(doc, json_integer_value(json_object_get(c, "facility")),
	                                  json_string_value(json_object_get(c, "hostname")),
	                                  json_integer_value(json_object_get(c, "now")), &out),
	                 0);
	ck_assert_str_eq(out.data, expected);
	ck_assert_uint_eq(out.len, strlen(expected));

	params = check_5424(out.data, &msg);
	for (size_t i = 0; i < sizeof(sd_keys) / sizeof(sd_keys[0]); i++)
		ck_assert_str_eq(json_string_value(json_object_get(params, sd_keys[i])),
		                 json_string_value(json_object_get(doc, sd_keys[i])));
	if (json_object_get(doc, "count") != NULL)
		ck_assert_int_eq(atoll(json_string_value(json_object_get(params, "count"))),
		                 json_integer_value(json_object_get(doc, "count")));
	ck_assert_ptr_nonnull(msg);
	json_decref(params);
	json_decref(c);
	free(expected);
}

START_TEST(test_syslog_spec_alert)
{
	run_case("spec");
}
END_TEST

START_TEST(test_syslog_tricky_escaping)
{
	run_case("tricky");
}
END_TEST

START_TEST(test_syslog_minimal_nil_hostname)
{
	run_case("minimal");
}
END_TEST

START_TEST(test_syslog_utf8_bom_and_truncation)
{
	const char *bom;

	run_case("utf8");
	bom = strstr(out.data, "\xEF\xBB\xBF");
	ck_assert_ptr_nonnull(bom);
	ck_assert(strncmp(bom - 2, "] \xEF\xBB\xBF[firing] ", 13) == 0);
}
END_TEST

/* A plain-ASCII message carries no BOM. */
START_TEST(test_syslog_ascii_no_bom)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "low", "summary", "plain");

	ck_assert_int_eq(sw_render_syslog(doc, 1, "h", 0, &out), 0);
	ck_assert_ptr_null(strstr(out.data, "\xEF\xBB\xBF"));
	ck_assert_str_eq(out.data, "<13>1 1970-01-01T00:00:00Z h smtpwatch - r [smtpwatch@32473 id=\"a-1\" rule=\"r\" "
	                           "severity=\"low\"] [-] plain");
	json_decref(doc);
}
END_TEST

static const struct {
	const char *severity;
	int level;
} severities[] = {
	{"critical", 2}, {"high", 3}, {"medium", 4}, {"low", 5}, {"info", 6},
};

START_TEST(test_syslog_pri)
{
	const int facilities[] = {0, 1, 4, 10, 16, 23};
	char want[16];

	ck_assert_int_eq(sw_render_syslog_severity(severities[_i].severity), severities[_i].level);
	for (size_t f = 0; f < sizeof(facilities) / sizeof(facilities[0]); f++) {
		json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-000009", "rule", "coverage-gap", "severity",
		                        severities[_i].severity);
		const char *msg;
		json_t *params;

		out.len = 0;
		ck_assert_int_eq(sw_render_syslog(doc, facilities[f], "host", 1795161672, &out), 0);
		snprintf(want, sizeof(want), "<%d>1 ", facilities[f] * 8 + severities[_i].level);
		ck_assert_msg(strncmp(out.data, want, strlen(want)) == 0, "%s starts %s", out.data, want);
		params = check_5424(out.data, &msg);
		json_decref(params);
		json_decref(doc);
	}
}
END_TEST

/* Bad input is refused and leaves what out already held alone. */
START_TEST(test_syslog_refused)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "urgent");
	json_t *good = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "high");

	ck_assert_int_eq(sw_buf_append(&out, "keep", 4), 0);
	ck_assert_int_eq(sw_render_syslog(doc, 10, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(sw_render_syslog(good, 24, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(sw_render_syslog(good, -1, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(sw_render_syslog(NULL, 10, "h", 0, &out), -EINVAL);
	json_object_del(doc, "severity");
	ck_assert_int_eq(sw_render_syslog(doc, 10, "h", 0, &out), -EINVAL);
	ck_assert_uint_eq(out.len, 4);
	ck_assert(memcmp(out.data, "keep", 4) == 0);
	ck_assert_int_eq(sw_render_syslog_severity("High"), -EINVAL);
	ck_assert_int_eq(sw_render_syslog_severity(NULL), -EINVAL);
	json_decref(doc);
	json_decref(good);
}
END_TEST

/* HOSTNAME is at most 255 printable bytes. */
START_TEST(test_syslog_long_hostname)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "high");
	char host[400];
	const char *msg;
	json_t *params;

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	ck_assert_int_eq(sw_render_syslog(doc, 10, host, 0, &out), 0);
	ck_assert(strncmp(out.data + 27, host, 255) == 0);
	ck_assert(strncmp(out.data + 27 + 255, " smtpwatch ", 11) == 0);
	params = check_5424(out.data, &msg);
	ck_assert_str_eq(msg, "[-]");
	json_decref(params);
	json_decref(doc);
}
END_TEST

/* The webhook body is the compact document, byte for byte, appended. */
START_TEST(test_webhook_compact)
{
	json_t *doc = json_pack("{s:s,s:s,s:I,s:{s:[s]},s:n,s:s}", "id", "a-000123", "rule", "exception-expired",
	                        "count", (json_int_t)14, "evidence", "ips", "198.51.100.7", "remediation", "summary",
	                        "a \"quoted\" é");

	ck_assert_int_eq(sw_buf_append(&out, "x", 1), 0);
	ck_assert_int_eq(sw_render_webhook(doc, &out), 0);
	ck_assert_str_eq(out.data, "x{\"id\":\"a-000123\",\"rule\":\"exception-expired\",\"count\":14,"
	                           "\"evidence\":{\"ips\":[\"198.51.100.7\"]},\"remediation\":null,"
	                           "\"summary\":\"a \\\"quoted\\\" é\"}");
	ck_assert_int_eq(sw_render_webhook(NULL, &out), -EINVAL);
	json_decref(doc);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_syslog_spec_alert);
	tcase_add_test(tc, test_syslog_tricky_escaping);
	tcase_add_test(tc, test_syslog_minimal_nil_hostname);
	tcase_add_test(tc, test_syslog_utf8_bom_and_truncation);
	tcase_add_test(tc, test_syslog_ascii_no_bom);
	tcase_add_loop_test(tc, test_syslog_pri, 0, sizeof(severities) / sizeof(severities[0]));
	tcase_add_test(tc, test_syslog_refused);
	tcase_add_test(tc, test_syslog_long_hostname);
	tcase_add_test(tc, test_webhook_compact);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(render_suite)
