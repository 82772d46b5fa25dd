/* test_render.c: the webhook body, the syslog lines (RFC 5424, syslog(3),
 * RFC 3164), the Teams
 * Adaptive Card, the Splunk HEC event and its answers, journal fields. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"
#include "config.h"
#include "fixture.h"
#include "digest.h"
#include "render.h"

static struct sw_buf out;

static void setup(void)
{
	memset(&out, 0, sizeof(out));
	/* The syslog(3) and RFC 3164 forms carry local time. */
	setenv("TZ", "UTC", 1);
	tzset();
}

/* sw_render_syslog in RFC 5424 with the default SD-ID. */
static int render_5424(const json_t *doc, int facility, const char *host, int64_t now, struct sw_buf *b)
{
	struct sw_render_syslog_opts o = {.form = SW_RENDER_SYSLOG_5424, .facility = facility, .hostname = host};

	return sw_render_syslog(doc, &o, now, b);
}

/* Is s (n bytes) well-formed UTF-8: no cut or stray sequence? */
static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t len = p[i] < 0x80 ? 1 : p[i] >= 0xc2 && p[i] < 0xe0 ? 2 : p[i] >= 0xe0 && p[i] < 0xf0 ? 3 : p[i] >= 0xf0 && p[i] <= 0xf4 ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void teardown(void)
{
	sw_buf_clear(&out);
}

/* Read tests/data/render/NAME into a malloc'd string. */
static char *slurp(const char *name, size_t *ret_len)
{
	return fixture_load("render", name, ret_len);
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
 * params, unescaped, of the one SD-ELEMENT, SD-ID sd_id (NULL: the
 * default), as an object (new reference).  *ret_msg points to MSG (after
 * its SP) or NULL. */
static json_t *check_5424_id(const char *frame, const char *sd_id, const char **ret_msg)
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
	if (sd_id == NULL)
		sd_id = SW_SYSLOG_SD_ID_DEFAULT;
	ck_assert_msg(*p == '[' && strncmp(p + 1, sd_id, strlen(sd_id)) == 0 && (p[1 + strlen(sd_id)] == ' ' || p[1 + strlen(sd_id)] == ']'),
	              "SD-ID %s at '%.60s'", sd_id, p);
	p += 1 + strlen(sd_id);
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

static json_t *check_5424(const char *frame, const char **ret_msg)
{
	return check_5424_id(frame, NULL, ret_msg);
}

static const char *const sd_keys[] = {"id", "rule", "severity", "tenant", "subject", "status", "first_seen", "last_seen"};

/* The evidence list member of doc joined with ',', as the SD should carry
 * it (malloc'd; NULL when there is none). */
static char *joined(const json_t *doc, const char *member)
{
	const json_t *list = json_object_get(json_object_get(doc, "evidence"), member), *item;
	struct sw_buf b = {0};
	size_t i;

	json_array_foreach(list, i, item) {
		if (b.len > 0)
			sw_buf_append(&b, ",", 1);
		sw_buf_printf(&b, "%s", json_string_value(item));
	}
	return b.data;
}

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
	struct sw_render_syslog_opts o = {
		.form = SW_RENDER_SYSLOG_5424,
		.facility = (int)json_integer_value(json_object_get(c, "facility")),
		.hostname = json_string_value(json_object_get(c, "hostname")),
		.sd_id = json_string_value(json_object_get(c, "sd_id")),
		.pid = 4242,
	};
	ck_assert_int_eq(sw_render_syslog(doc, &o, json_integer_value(json_object_get(c, "now")), &out), 0);
	ck_assert_str_eq(out.data, expected);
	ck_assert_uint_eq(out.len, strlen(expected));

	params = check_5424_id(out.data, o.sd_id, &msg);
	for (size_t i = 0; i < sizeof(sd_keys) / sizeof(sd_keys[0]); i++)
		if (json_object_get(doc, sd_keys[i]) != NULL)
			ck_assert_str_eq(json_string_value(json_object_get(params, sd_keys[i])),
			                 json_string_value(json_object_get(doc, sd_keys[i])));
		else
			ck_assert_ptr_null(json_object_get(params, sd_keys[i]));
	if (json_object_get(doc, "count") != NULL)
		ck_assert_int_eq(atoll(json_string_value(json_object_get(params, "count"))),
		                 json_integer_value(json_object_get(doc, "count")));
	for (size_t i = 0; i < 2; i++) {
		char *want = joined(doc, i == 0 ? "ips" : "countries");
		const json_t *got = json_object_get(params, i == 0 ? "src_ip" : "country");

		if (want == NULL)
			ck_assert_ptr_null(got);
		else
			ck_assert_str_eq(json_string_value(got), want);
		free(want);
	}
	ck_assert_ptr_nonnull(msg);

	json_decref(params);
	json_decref(c);
	free(expected);
}

/* Check the local (syslog(3)) or RFC 3164 header of a frame and return
 * the message after it: "<PRI>Mmm dd hh:mm:ss [HOST ]smtpwatch[PID]: ". */
static const char *check_local(const char *frame, bool with_host)
{
	static const char *const months = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = frame, *m;
	int pri = 0, n = 0, day, hh, mi, ss;

	ck_assert_msg(strchr(frame, '\n') == NULL && strchr(frame, '\r') == NULL, "frame spans lines");
	ck_assert_int_eq(sscanf(p, "<%d>%n", &pri, &n), 1);
	ck_assert(n >= 3 && pri >= 0 && pri <= 191);
	p += n;
	m = strstr(months, (char[]){p[0], p[1], p[2], '\0'});
	ck_assert_msg(m != NULL && (m - months) % 3 == 0 && p[3] == ' ', "month at '%.20s'", p);
	ck_assert_msg(p[4] == ' ' || (p[4] >= '1' && p[4] <= '3'), "day padded with a space: '%.20s'", p);
	ck_assert_int_eq(sscanf(p + 4, "%2d %2d:%2d:%2d%n", &day, &hh, &mi, &ss, &n), 4);
	ck_assert(day >= 1 && day <= 31 && hh <= 23 && mi <= 59 && ss <= 60);
	p += 15;
	ck_assert_int_eq(*p++, ' ');
	if (with_host)
		header_field(&p, 255);
	ck_assert_msg(strncmp(p, "smtpwatch[", 10) == 0, "tag at '%.30s'", p);
	p += 10;
	ck_assert(*p >= '0' && *p <= '9');
	while (*p >= '0' && *p <= '9')
		p++;
	ck_assert_msg(strncmp(p, "]: ", 3) == 0, "tag ends at '%.30s'", p);
	return p + 3;
}

/* Render the case NAME in the local or RFC 3164 form (pid 4242) and
 * compare it with NAME.SUFFIX.expected. */
static void run_form(const char *name, enum sw_render_syslog_form form, const char *suffix)
{
	char file[256];
	json_error_t err;
	char *text, *expected;
	size_t len;
	json_t *c;

	snprintf(file, sizeof(file), "%s.json", name);
	text = slurp(file, NULL);
	c = json_loads(text, 0, &err);
	ck_assert_msg(c != NULL, "%s: %s", file, err.text);
	free(text);
	snprintf(file, sizeof(file), "%s.%s.expected", name, suffix);
	expected = slurp(file, &len);
	ck_assert(len > 0 && expected[len - 1] == '\n');
	expected[len - 1] = '\0';

	struct sw_render_syslog_opts o = {
		.form = form,
		.facility = (int)json_integer_value(json_object_get(c, "facility")),
		.hostname = json_string_value(json_object_get(c, "hostname")),
		.sd_id = json_string_value(json_object_get(c, "sd_id")),
		.pid = 4242,
	};
	ck_assert_int_eq(sw_render_syslog(json_object_get(c, "doc"), &o, json_integer_value(json_object_get(c, "now")), &out), 0);
	ck_assert_str_eq(out.data, expected);
	check_local(out.data, form == SW_RENDER_SYSLOG_3164);
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

/* C1 controls (UTF-8 C2 80..C2 9F) become a space like C0 ones; other
 * non-ASCII text stays. */
START_TEST(test_syslog_c1_controls)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "low", "subject",
	                        "x\xc2\x9b" "31my", "summary", "Zo\xc3\xab \xc2\x9b" "2J\xc2\x85" "end");

	ck_assert_int_eq(render_5424(doc, 1, "h", 0, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, "subject=\"x 31my\""));
	ck_assert_ptr_nonnull(strstr(out.data, "Zo\xc3\xab  2J end"));
	ck_assert_ptr_null(strstr(out.data, "\xc2\x9b"));
	json_decref(doc);
}
END_TEST

/* A plain-ASCII message carries no BOM. */
START_TEST(test_syslog_ascii_no_bom)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "low", "summary", "plain");

	ck_assert_int_eq(render_5424(doc, 1, "h", 0, &out), 0);
	ck_assert_ptr_null(strstr(out.data, "\xEF\xBB\xBF"));
	ck_assert_str_eq(out.data, "<13>1 1970-01-01T00:00:00Z h smtpwatch - r [smtpwatch@0 id=\"a-1\" rule=\"r\" "
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
		ck_assert_int_eq(render_5424(doc, facilities[f], "host", 1795161672, &out), 0);
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
	ck_assert_int_eq(render_5424(doc, 10, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(render_5424(good, 24, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(render_5424(good, -1, "h", 0, &out), -EINVAL);
	ck_assert_int_eq(render_5424(NULL, 10, "h", 0, &out), -EINVAL);
	json_object_del(doc, "severity");
	ck_assert_int_eq(render_5424(doc, 10, "h", 0, &out), -EINVAL);
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
	ck_assert_int_eq(render_5424(doc, 10, host, 0, &out), 0);
	ck_assert(strncmp(out.data + 27, host, 255) == 0);
	ck_assert(strncmp(out.data + 27 + 255, " smtpwatch ", 11) == 0);
	params = check_5424(out.data, &msg);
	ck_assert_str_eq(msg, "[-]");
	json_decref(params);
	json_decref(doc);
}
END_TEST

/* The syslog(3) form journald and imuxsock read, and RFC 3164 with the
 * host, of the same cases. */
START_TEST(test_syslog_local_forms)
{
	run_form("spec", SW_RENDER_SYSLOG_LOCAL, "local");
	out.len = 0;
	run_form("spec", SW_RENDER_SYSLOG_3164, "3164");
	out.len = 0;
	run_form("tricky", SW_RENDER_SYSLOG_LOCAL, "local");
	out.len = 0;
	run_form("minimal", SW_RENDER_SYSLOG_LOCAL, "local");
	out.len = 0;
	run_form("minimal", SW_RENDER_SYSLOG_3164, "3164");
	out.len = 0;
	run_form("utf8", SW_RENDER_SYSLOG_LOCAL, "local");
}
END_TEST

/* key=value quoting: empty values and values with a space, '=', a tab
 * (which becomes a space), '"' or '\' are quoted; others are not. */
START_TEST(test_syslog_kv_quoting)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:[s,s]}}", "id", "a-1", "rule", "r", "severity", "low",
	                        "tenant", "", "subject", "a=b", "status", "fir\ting", "evidence", "ips", "10.0.0.1", "");
	struct sw_render_syslog_opts o = {.form = SW_RENDER_SYSLOG_LOCAL, .facility = 4, .pid = 1};
	const char *msg;

	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), 0);
	msg = check_local(out.data, false);
	ck_assert_str_eq(msg, "[fir ing] id=a-1 rule=r severity=low tenant=\"\" subject=\"a=b\" status=\"fir ing\" "
	                      "src_ip=10.0.0.1");
	json_decref(doc);
}
END_TEST

/* The syslog(3) time is local time, day padded with a space. */
START_TEST(test_syslog_local_time)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "high");
	struct sw_render_syslog_opts o = {.form = SW_RENDER_SYSLOG_LOCAL, .facility = 10, .pid = 77};

	setenv("TZ", "CET-1", 1); /* POSIX form: no tzdata needed */
	tzset();
	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), 0);
	ck_assert_str_eq(out.data, "<83>Jan  1 01:00:00 smtpwatch[77]: [-] id=a-1 rule=r severity=high");
	out.len = 0;
	o.form = SW_RENDER_SYSLOG_3164;
	o.hostname = "mx 1";
	ck_assert_int_eq(sw_render_syslog(doc, &o, 1795161672, &out), 0);
	ck_assert_str_eq(out.data, "<83>Nov 20 09:01:12 mx_1 smtpwatch[77]: [-] id=a-1 rule=r severity=high");
	json_decref(doc);
}
END_TEST

/* The SD-ID is the configured one; none (or "") is the default, never
 * the documentation number. */
START_TEST(test_syslog_sd_id)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "high");
	struct sw_render_syslog_opts o = {.form = SW_RENDER_SYSLOG_5424, .facility = 10, .hostname = "h"};
	const char *msg;
	json_t *params;

	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, " [smtpwatch@0 id="));
	ck_assert_ptr_null(strstr(out.data, "32473"));
	out.len = 0;
	o.sd_id = "";
	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, " [smtpwatch@0 id="));
	out.len = 0;
	o.sd_id = "alerts@99999.2.1";
	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), 0);
	params = check_5424_id(out.data, "alerts@99999.2.1", &msg);
	ck_assert_str_eq(json_string_value(json_object_get(params, "rule")), "r");
	ck_assert_str_eq(msg, "[-]");
	json_decref(params);
	json_decref(doc);
}
END_TEST

/* A version 2 document: src_ip and country come from its entities (the
 * subject's address in front when the evidence has no list of them). */
START_TEST(test_syslog_v2_entities)
{
	struct sw_render_syslog_opts o = {.form = SW_RENDER_SYSLOG_5424, .facility = 10, .hostname = "mx1"};
	char *text = slurp("v2.json", NULL);
	json_t *c = json_loads(text, 0, NULL), *params;
	const char *msg;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sw_render_syslog(json_object_get(c, "doc"), &o, 1795167905, &out), 0);
	params = check_5424(out.data, &msg);
	ck_assert_str_eq(json_string_value(json_object_get(params, "src_ip")), "198.51.100.7");
	ck_assert_str_eq(json_string_value(json_object_get(params, "country")), "NL");
	ck_assert_str_eq(json_string_value(json_object_get(params, "subject")), "198.51.100.7");
	ck_assert_str_eq(msg, "[resolved] 198.51.100.7 failed 40 SMTP sign-ins over 2 users within 15m");
	json_decref(params);
	out.len = 0;
	o.form = SW_RENDER_SYSLOG_LOCAL;
	o.pid = 9;
	ck_assert_int_eq(sw_render_syslog(json_object_get(c, "doc"), &o, 1795167905, &out), 0);
	ck_assert_ptr_nonnull(strstr(out.data, " last_seen=2026-11-20T08:14:03Z src_ip=198.51.100.7 country=NL"));
	json_decref(c);
	free(text);
}
END_TEST

/* An unknown form is refused, out untouched. */
START_TEST(test_syslog_unknown_form)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "high");
	struct sw_render_syslog_opts o = {.form = (enum sw_render_syslog_form)7, .facility = 10};

	ck_assert_int_eq(sw_render_syslog(doc, &o, 0, &out), -EINVAL);
	ck_assert_int_eq(sw_render_syslog(doc, NULL, 0, &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	json_decref(doc);
}
END_TEST

static const enum sw_render_syslog_form all_forms[] = {SW_RENDER_SYSLOG_5424, SW_RENDER_SYSLOG_LOCAL,
                                                       SW_RENDER_SYSLOG_3164};

/* A long summary of 4-byte characters, shifted by _i % 4 ASCII bytes so
 * the cut falls at every position of a sequence: the message is at most
 * 8192 bytes, as near to it as a whole character allows, valid UTF-8, its
 * fields whole, and the summary's prefix. */
START_TEST(test_syslog_cap_utf8)
{
	enum sw_render_syslog_form form = all_forms[_i / 4];
	struct sw_render_syslog_opts o = {.form = form, .facility = 10, .hostname = "mx1", .pid = 4242};
	char summary[20000];
	const char *msg;
	size_t n = 0;
	json_t *doc;

	for (int k = 0; k < _i % 4; k++)
		summary[n++] = 'a';
	while (n + 5 < sizeof(summary)) {
		memcpy(summary + n, "\xF0\x9F\x93\xA7", 4); /* U+1F4E7 */
		n += 4;
	}
	summary[n] = '\0';
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:{s:[s],s:[s]}}", "id", "a-9", "rule", "smtp-auth-password-spray",
	                "severity", "high", "tenant", "contoso", "subject", "scanner2@contoso.com", "status", "firing",
	                "count", 14, "evidence", "ips", "198.51.100.7", "countries", "NL");
	ck_assert_ptr_nonnull(doc);
	json_object_set_new(doc, "summary", json_string(summary));
	ck_assert_int_eq(sw_render_syslog(doc, &o, 1795161672, &out), 0);
	ck_assert_uint_le(out.len, SW_RENDER_SYSLOG_MAX);
	ck_assert_uint_gt(out.len, SW_RENDER_SYSLOG_MAX - 4);
	ck_assert_uint_eq(strlen(out.data), out.len);
	ck_assert_msg(utf8_valid(out.data, out.len), "cut inside a UTF-8 sequence (shift %d)", _i % 4);
	if (form == SW_RENDER_SYSLOG_5424) {
		json_t *params = check_5424(out.data, &msg);

		ck_assert_str_eq(json_string_value(json_object_get(params, "src_ip")), "198.51.100.7");
		ck_assert_str_eq(json_string_value(json_object_get(params, "country")), "NL");
		json_decref(params);
		ck_assert(strncmp(msg, "\xEF\xBB\xBF[firing] ", 12) == 0);
		msg += 12;
		ck_assert(strncmp(msg, summary, strlen(msg)) == 0);
	} else {
		const char *kv;

		msg = check_local(out.data, form == SW_RENDER_SYSLOG_3164);
		ck_assert(strncmp(msg, "[firing] ", 9) == 0);
		kv = strstr(msg, " id=a-9 rule=");
		ck_assert_ptr_nonnull(kv);
		ck_assert(strncmp(msg + 9, summary, (size_t)(kv - msg - 9)) == 0);
		ck_assert_str_eq(kv, " id=a-9 rule=smtp-auth-password-spray severity=high tenant=contoso "
		                     "subject=scanner2@contoso.com status=firing count=14 src_ip=198.51.100.7 country=NL");
	}
	json_decref(doc);
}
END_TEST

/* Every value as long and as full of bytes to escape as it gets, and 300
 * IPv6 addresses: still at most 8192 bytes, the grammar whole, each value
 * cut at its cap, the address list at a whole address, the message there. */
START_TEST(test_syslog_cap_worst)
{
	enum sw_render_syslog_form form = all_forms[_i];
	struct sw_render_syslog_opts o = {.form = form, .facility = 23, .pid = 2147483647,
	                                  .sd_id = "abcdefghijklmnopqrstuvw@99999.12"};
	char big[6000], host[400];
	json_t *doc, *ips = json_array();
	const char *msg;

	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1] = ']';
	big[2] = '\\';
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	o.hostname = host;
	for (int k = 0; k < 300; k++) {
		char ip[64];
		snprintf(ip, sizeof(ip), "2001:db8:ffff:ffff:ffff:ffff:ffff:%04x", k);
		json_array_append_new(ips, json_string(ip));
	}
	doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:{s:o,s:[s,s]},s:s}", "id", big, "rule", big, "severity",
	                "info", "tenant", big, "subject", big, "status", big, "count", (json_int_t)INT64_MAX,
	                "first_seen", big, "last_seen", big, "evidence", "ips", ips, "countries", big, "NL", "summary",
	                "the summary");
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(sw_render_syslog(doc, &o, 1795161672, &out), 0);
	ck_assert_uint_le(out.len, SW_RENDER_SYSLOG_MAX);
	ck_assert_msg(utf8_valid(out.data, out.len), "not UTF-8");
	if (form == SW_RENDER_SYSLOG_5424) {
		json_t *params = check_5424_id(out.data, o.sd_id, &msg);
		const char *list = json_string_value(json_object_get(params, "src_ip"));

		ck_assert_str_eq(json_string_value(json_object_get(params, "severity")), "info");
		/* 256 escaped bytes: 128 characters, each '"' taking two. */
		ck_assert_uint_le(strlen(json_string_value(json_object_get(params, "tenant"))), 128);
		ck_assert_uint_ge(strlen(json_string_value(json_object_get(params, "tenant"))), 127);
		ck_assert_uint_le(strlen(list), SW_RENDER_SYSLOG_LIST_MAX);
		ck_assert_uint_gt(strlen(list), SW_RENDER_SYSLOG_LIST_MAX - 40);
		ck_assert(strlen(list) % 39 == 38); /* whole addresses of 38 bytes, ',' between */
		ck_assert(strncmp(list, "2001:db8:ffff:ffff:ffff:ffff:ffff:0000,", 39) == 0);
		/* The big country does not fit in 2048 bytes escaped: the list ends before it, empty. */
		ck_assert_ptr_null(json_object_get(params, "country"));
		ck_assert_msg(strncmp(msg, "[\"]\\\"\"", 6) == 0, "MSG starts with the status, unescaped: %.20s", msg);
		ck_assert_ptr_nonnull(strstr(msg, "] the summary"));
		json_decref(params);
	} else {
		msg = check_local(out.data, form == SW_RENDER_SYSLOG_3164);
		ck_assert_ptr_nonnull(strstr(msg, "] the summary id=\""));
		ck_assert_ptr_nonnull(strstr(msg, " count=9223372036854775807 "));
		ck_assert_ptr_nonnull(strstr(msg, " src_ip=2001:db8:ffff:ffff:ffff:ffff:ffff:0000,"));
	}
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


/* ---- Teams ---- */

/* The "doc" of a case file (new reference). */
static json_t *case_doc(const char *name)
{
	char file[256], *text;
	json_error_t err;
	json_t *c, *doc;

	snprintf(file, sizeof(file), "%s.json", name);
	text = slurp(file, NULL);
	c = json_loads(text, 0, &err);
	ck_assert_msg(c != NULL, "%s: %s", file, err.text);
	free(text);
	doc = json_incref(json_object_get(c, "doc"));
	json_decref(c);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

/* Is s one of the NULL-terminated list? */
static bool one_of(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

struct card_seen {
	json_t *facts;        /* title -> value, over every FactSet */
	const char *header;   /* text of the first TextBlock */
	const char *header_color;
	const char *header_style;
	const char *mono;     /* text of a Monospace TextBlock */
	int n_textblocks;
};

/* Check card elements against Adaptive Card 1.4 (the elements and the
 * values of the properties we use; no unknown property), collecting what
 * a reader of the card would see. */
static void check_elements(const json_t *items, struct card_seen *seen, int depth)
{
	static const char *const colors[] = {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention", NULL};
	static const char *const styles[] = {"default", "emphasis", "good", "attention", "warning", "accent", NULL};
	static const char *const tb_keys[] = {"type", "text", "wrap", "weight", "size", "color", "isSubtle",
	                                      "spacing", "separator", "fontType", NULL};
	static const char *const ct_keys[] = {"type", "items", "style", "bleed", "spacing", "separator", NULL};
	const json_t *el, *v;
	const char *key;
	size_t i;

	ck_assert(json_is_array(items) && json_array_size(items) > 0);
	json_array_foreach(items, i, el) {
		const char *type = json_string_value(json_object_get(el, "type"));

		ck_assert_ptr_nonnull(type);
		if (strcmp(type, "TextBlock") == 0) {
			json_object_foreach((json_t *)el, key, v)
				ck_assert_msg(one_of(key, tb_keys), "TextBlock has property %s", key);
			ck_assert(json_is_string(json_object_get(el, "text")));
			if (json_object_get(el, "color"))
				ck_assert(one_of(json_string_value(json_object_get(el, "color")), colors));
			if (json_object_get(el, "fontType")) {
				ck_assert_str_eq(json_string_value(json_object_get(el, "fontType")), "Monospace");
				seen->mono = json_string_value(json_object_get(el, "text"));
			}
			if (seen->n_textblocks++ == 0) {
				seen->header = json_string_value(json_object_get(el, "text"));
				seen->header_color = json_string_value(json_object_get(el, "color"));
			}
		} else if (strcmp(type, "Container") == 0) {
			json_object_foreach((json_t *)el, key, v)
				ck_assert_msg(one_of(key, ct_keys), "Container has property %s", key);
			ck_assert(one_of(json_string_value(json_object_get(el, "style")), styles));
			if (seen->header_style == NULL)
				seen->header_style = json_string_value(json_object_get(el, "style"));
			ck_assert_int_lt(depth, 3);
			check_elements(json_object_get(el, "items"), seen, depth + 1);
		} else if (strcmp(type, "FactSet") == 0) {
			const json_t *facts = json_object_get(el, "facts"), *f;
			size_t j;

			ck_assert_uint_eq(json_object_size(el), 2);
			ck_assert(json_is_array(facts) && json_array_size(facts) > 0);
			json_array_foreach(facts, j, f) {
				ck_assert_uint_eq(json_object_size(f), 2);
				ck_assert(json_is_string(json_object_get(f, "title")));
				ck_assert(json_is_string(json_object_get(f, "value")));
				json_object_set(seen->facts, json_string_value(json_object_get(f, "title")),
				                json_object_get(f, "value"));
			}
		} else {
			ck_abort_msg("element type %s is not used by smtpwatch cards", type);
		}
	}
}

/* Parse a Teams body, check the message envelope and the card, and return
 * the card (borrowed from *ret_msg, which the caller frees). */
static const json_t *check_teams(const char *body, json_t **ret_msg, struct card_seen *seen)
{
	json_error_t err;
	json_t *msg = json_loads(body, 0, &err), *att, *card;
	const char *version;

	ck_assert_msg(msg != NULL, "not JSON: %s", err.text);
	ck_assert_uint_eq(json_object_size(msg), 2);
	ck_assert_str_eq(json_string_value(json_object_get(msg, "type")), "message");
	ck_assert_uint_eq(json_array_size(json_object_get(msg, "attachments")), 1);
	att = json_array_get(json_object_get(msg, "attachments"), 0);
	ck_assert_uint_eq(json_object_size(att), 3);
	ck_assert_str_eq(json_string_value(json_object_get(att, "contentType")), "application/vnd.microsoft.card.adaptive");
	ck_assert(json_is_null(json_object_get(att, "contentUrl")));
	card = json_object_get(att, "content");
	ck_assert_str_eq(json_string_value(json_object_get(card, "type")), "AdaptiveCard");
	ck_assert_str_eq(json_string_value(json_object_get(card, "$schema")),
	                 "http://adaptivecards.io/schemas/adaptive-card.json");
	version = json_string_value(json_object_get(card, "version"));
	ck_assert_ptr_nonnull(version);
	ck_assert_msg(strcmp(version, "1.0") >= 0 && strcmp(version, "1.4") <= 0 && strlen(version) == 3,
	              "card version %s is above 1.4", version);
	ck_assert(json_is_string(json_object_get(card, "fallbackText")));
	memset(seen, 0, sizeof(*seen));
	seen->facts = json_object();
	check_elements(json_object_get(card, "body"), seen, 0);
	*ret_msg = msg;
	return card;
}

/* The fact titled title, as text. */
static const char *fact(const struct card_seen *seen, const char *title)
{
	const char *v = json_string_value(json_object_get(seen->facts, title));

	ck_assert_msg(v != NULL, "no fact %s", title);
	return v;
}

START_TEST(test_teams_spec_alert)
{
	json_t *doc = case_doc("spec"), *msg;
	struct card_seen seen;
	char *expected;
	size_t len;

	ck_assert_int_eq(sw_render_teams(doc, &out), 0);
	check_teams(out.data, &msg, &seen);
	ck_assert_str_eq(seen.header, "HIGH: unapproved-basic-auth-submission");
	ck_assert_str_eq(seen.header_color, "Attention");
	ck_assert_str_eq(seen.header_style, "attention");
	ck_assert_str_eq(fact(&seen, "Tenant"), "contoso");
	ck_assert_str_eq(fact(&seen, "Subject"), "scanner2@contoso.com");
	ck_assert_str_eq(fact(&seen, "Severity"), "high");
	ck_assert_str_eq(fact(&seen, "Status"), "firing");
	ck_assert_str_eq(fact(&seen, "Count"), "14");
	ck_assert_str_eq(fact(&seen, "First seen"), "2026-11-20T08:01:12Z");
	ck_assert_str_eq(fact(&seen, "Last seen"), "2026-11-20T09:45:03Z");
	ck_assert_str_eq(fact(&seen, "Alert"), "a-000123");
	ck_assert_str_eq(fact(&seen, "IP addresses"), "198.51.100.7");
	ck_assert_str_eq(fact(&seen, "Countries"), "NL");
	ck_assert_str_eq(fact(&seen, "Sign-in IDs"), "x");
	ck_assert_ptr_null(json_object_get(seen.facts, "Resolved at"));
	ck_assert_str_eq(seen.mono, "Set-CASMailbox -Identity scanner2@contoso.com -SmtpClientAuthenticationDisabled $true");
	ck_assert_ptr_nonnull(strstr(out.data, "\"text\":\"scanner2@contoso.com sent 14 messages with Basic SMTP AUTH"));

	/* The whole body, byte for byte, as reviewed in spec.teams.expected. */
	expected = slurp("spec.teams.expected", &len);
	ck_assert(len > 0 && expected[len - 1] == '\n');
	expected[len - 1] = '\0';
	ck_assert_str_eq(out.data, expected);
	free(expected);
	json_decref(seen.facts);
	json_decref(msg);
	json_decref(doc);
}
END_TEST

/* A resolution is a green card with the time it cleared and no advice. */
START_TEST(test_teams_resolved)
{
	json_t *doc = case_doc("spec"), *msg;
	struct card_seen seen;

	json_object_set_new(doc, "status", json_string("resolved"));
	json_object_set_new(doc, "resolved_at", json_string("2026-11-20T10:00:00Z"));
	ck_assert_int_eq(sw_render_teams(doc, &out), 0);
	check_teams(out.data, &msg, &seen);
	ck_assert_str_eq(seen.header, "RESOLVED: unapproved-basic-auth-submission");
	ck_assert_str_eq(seen.header_color, "Good");
	ck_assert_str_eq(seen.header_style, "good");
	ck_assert_str_eq(fact(&seen, "Status"), "resolved");
	ck_assert_str_eq(fact(&seen, "Resolved at"), "2026-11-20T10:00:00Z");
	ck_assert_ptr_null(seen.mono);
	ck_assert_ptr_null(strstr(out.data, "Set-CASMailbox"));
	json_decref(seen.facts);
	json_decref(msg);
	json_decref(doc);
}
END_TEST

static const struct {
	const char *severity, *style, *color;
} teams_sev[] = {
	{"critical", "attention", "Attention"}, {"high", "attention", "Attention"}, {"medium", "warning", "Warning"},
	{"low", "accent", "Accent"},            {"info", "emphasis", "Default"},
};

START_TEST(test_teams_severity_colour)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", "a-1", "rule", "coverage-gap", "severity",
	                        teams_sev[_i].severity, "tenant", "t", "status", "firing"), *msg;
	struct card_seen seen;
	char want[64];

	ck_assert_int_eq(sw_render_teams(doc, &out), 0);
	check_teams(out.data, &msg, &seen);
	ck_assert_str_eq(seen.header_style, teams_sev[_i].style);
	ck_assert_str_eq(seen.header_color, teams_sev[_i].color);
	snprintf(want, sizeof(want), "%s: coverage-gap", teams_sev[_i].severity);
	for (char *p = want; *p != ':'; p++)
		*p = (char)(*p - 32);
	ck_assert_str_eq(seen.header, want);
	ck_assert_str_eq(fact(&seen, "Subject"), "-"); /* absent members read "-" */
	json_decref(seen.facts);
	json_decref(msg);
	json_decref(doc);
}
END_TEST

/* A long evidence list is cut at SW_RENDER_TEAMS_LIST with a count. */
START_TEST(test_teams_evidence_cap)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:{s:[],s:i,s:[]}}", "id", "a-1", "rule", "smtp-auth-password-spray",
	                        "severity", "high", "evidence", "users", "failures", 40, "ips"), *msg;
	json_t *users = json_object_get(json_object_get(doc, "evidence"), "users");
	struct card_seen seen;
	struct sw_buf want = {0};

	for (int i = 0; i < 25; i++) {
		char u[32];
		snprintf(u, sizeof(u), "user%02d@contoso.com", i);
		json_array_append_new(users, json_string(u));
		if (i < SW_RENDER_TEAMS_LIST)
			sw_buf_printf(&want, "%s%s", i ? ", " : "", u);
	}
	sw_buf_printf(&want, " and %d more", 25 - SW_RENDER_TEAMS_LIST);
	ck_assert_int_eq(sw_render_teams(doc, &out), 0);
	check_teams(out.data, &msg, &seen);
	ck_assert_str_eq(fact(&seen, "Users"), want.data);
	ck_assert_str_eq(fact(&seen, "failures"), "40");
	ck_assert_str_eq(fact(&seen, "IP addresses"), "-");
	sw_buf_clear(&want);
	json_decref(seen.facts);
	json_decref(msg);
	json_decref(doc);
}
END_TEST

START_TEST(test_teams_refused)
{
	json_t *doc = json_pack("{s:s,s:s,s:s}", "id", "a-1", "rule", "r", "severity", "urgent");

	ck_assert_int_eq(sw_buf_append(&out, "keep", 4), 0);
	ck_assert_int_eq(sw_render_teams(doc, &out), -EINVAL);
	json_object_set_new(doc, "severity", json_string("high"));
	json_object_del(doc, "rule");
	ck_assert_int_eq(sw_render_teams(doc, &out), -EINVAL);
	ck_assert_int_eq(sw_render_teams(NULL, &out), -EINVAL);
	ck_assert_str_eq(out.data, "keep");
	json_decref(doc);
}
END_TEST

/* ---- Splunk HEC ---- */

START_TEST(test_hec_envelope)
{
	json_t *doc = case_doc("spec"), *ev;
	const char *prefix = "{\"time\":1795167905.123,\"host\":\"mx1.contoso.net\",\"source\":\"smtpwatch\","
	                     "\"sourcetype\":\"smtpwatch:alert\",\"event\":{\"id\":\"a-000123\",";

	ck_assert_int_eq(sw_render_hec(doc, "mx1.contoso.net", 1795167905123LL, &out), 0);
	ck_assert_msg(strncmp(out.data, prefix, strlen(prefix)) == 0, "%s", out.data);
	ev = json_loads(out.data, 0, NULL);
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(json_object_size(ev), 5);
	ck_assert(json_equal(json_object_get(ev, "event"), doc));
	ck_assert(json_is_real(json_object_get(ev, "time")));
	json_decref(ev);

	/* No host: left out (HEC uses its default); milliseconds keep 3 digits. */
	out.len = 0;
	ck_assert_int_eq(sw_render_hec(doc, NULL, 5, &out), 0);
	ck_assert(strncmp(out.data, "{\"time\":0.005,\"source\":\"smtpwatch\",", 35) == 0);
	out.len = 0;
	ck_assert_int_eq(sw_render_hec(doc, "", 1000, &out), 0);
	ck_assert(strncmp(out.data, "{\"time\":1.000,\"source\":", 23) == 0);
	/* A host that needs JSON escaping is escaped. */
	out.len = 0;
	ck_assert_int_eq(sw_render_hec(doc, "h\"x", 0, &out), 0);
	ev = json_loads(out.data, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "host")), "h\"x");
	json_decref(ev);
	ck_assert_int_eq(sw_render_hec(NULL, "h", 0, &out), -EINVAL);
	json_decref(doc);
}
END_TEST

static const struct {
	long status;
	const char *body;
	enum sw_hec_outcome outcome;
	int code;
	const char *text;
} hec_answers[] = {
	{200, "{\"text\":\"Success\",\"code\":0}", SW_HEC_OK, 0, "Success"},
	{200, "", SW_HEC_OK, -1, ""},
	{503, "{\"text\":\"Server is busy\",\"code\":9}", SW_HEC_RETRY, 9, "Server is busy"},
	{503, "{\"text\":\"HEC is unhealthy, queues are full\",\"code\":18}", SW_HEC_RETRY, 18,
	 "HEC is unhealthy, queues are full"},
	{500, "{\"text\":\"Internal server error\",\"code\":8}", SW_HEC_RETRY, 8, "Internal server error"},
	{502, "<html>bad gateway</html>", SW_HEC_RETRY, -1, ""},
	{429, NULL, SW_HEC_RETRY, -1, ""},
	{0, NULL, SW_HEC_RETRY, -1, ""},
	{403, "{\"text\":\"Invalid token\",\"code\":4}", SW_HEC_TOKEN, 4, "Invalid token"},
	{403, "{\"text\":\"Token disabled\",\"code\":1}", SW_HEC_TOKEN, 1, "Token disabled"},
	{401, "{\"text\":\"Token is required\",\"code\":2}", SW_HEC_TOKEN, 2, "Token is required"},
	{401, NULL, SW_HEC_TOKEN, -1, ""},
	{400, "{\"text\":\"Invalid data format\",\"code\":6}", SW_HEC_REJECTED, 6, "Invalid data format"},
	{400, "{\"text\":\"Event field is required\",\"code\":12}", SW_HEC_REJECTED, 12, "Event field is required"},
	{400, "{\"text\":\"Incorrect index\",\"code\":7}", SW_HEC_CONFIG, 7, "Incorrect index"},
	{404, "not found", SW_HEC_CONFIG, -1, ""},
	{400, "{\"text\":\"bad\\nline\",\"code\":14}", SW_HEC_CONFIG, 14, "bad?line"},
};

START_TEST(test_hec_answers)
{
	struct sw_hec_result r;
	const char *b = hec_answers[_i].body;

	memset(&r, 0x5a, sizeof(r));
	sw_render_hec_result(hec_answers[_i].status, b, b ? strlen(b) : 0, &r);
	ck_assert_msg(r.outcome == hec_answers[_i].outcome, "HTTP %ld %s: outcome %d, want %d", hec_answers[_i].status,
	              b ? b : "(none)", r.outcome, hec_answers[_i].outcome);
	ck_assert_int_eq(r.code, hec_answers[_i].code);
	ck_assert_str_eq(r.text, hec_answers[_i].text);
}
END_TEST

/* ---- journald ---- */

/* Is s a valid journal field name (systemd: A-Z, 0-9, '_', not starting
 * with a digit or '_', at most 64 bytes)? */
static bool journal_name_ok(const char *f)
{
	const char *eq = strchr(f, '=');
	size_t n;

	if (eq == NULL)
		return false;
	n = (size_t)(eq - f);
	if (n == 0 || n > 64 || f[0] == '_' || (f[0] >= '0' && f[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((f[i] >= 'A' && f[i] <= 'Z') || (f[i] >= '0' && f[i] <= '9') || f[i] == '_'))
			return false;
	return true;
}

START_TEST(test_journal_spec)
{
	json_t *doc = case_doc("spec");
	struct sw_buf got = {0};
	char **f = NULL, *expected;
	size_t n = 0, len;

	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(journal_name_ok(f[i]), "bad field name in %s", f[i]);
		sw_buf_printf(&got, "%s\n", f[i]);
	}
	ck_assert_str_eq(f[0], "MESSAGE=[firing] contoso: scanner2@contoso.com sent 14 messages with Basic SMTP AUTH "
	                       "from 198.51.100.7 and is not in the exception register");
	ck_assert_str_eq(f[1], "MESSAGE_ID=4c96a5be3a8e42d5ae32a7a9ba04a554");
	ck_assert_str_eq(f[2], "PRIORITY=3");
	expected = slurp("spec.journal.expected", &len);
	ck_assert_str_eq(got.data, expected);
	free(expected);
	sw_buf_clear(&got);
	sw_render_journal_free(f, n);
	json_decref(doc);
}
END_TEST

/* n member documents of one rule, subjects m000.., one with markdown. */
static char **digest_docs(size_t n)
{
	char **docs = calloc(n, sizeof(*docs));

	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ge(asprintf(&docs[i],
		                          "{\"schema\":\"smtpwatch.alert/2\",\"id\":\"a-%06zu\",\"rule\":\"unapproved-basic-auth-"
		                          "submission\",\"severity\":\"%s\",\"tenant\":\"contoso\",\"tenant_id\":\"t-guid\","
		                          "\"subject\":\"%s%03zu@contoso.com\",\"count\":%zu,\"first_seen\":\"2026-11-20T08:%02zu:00Z\","
		                          "\"last_seen\":\"2026-11-20T09:%02zu:00Z\"}",
		                          i, i == 3 ? "critical" : "high", i == 1 ? "[x](http://e)" : "m", i, i + 1, 59 - i % 60,
		                          i % 60),
		                 0);
	}
	return docs;
}

static void digest_docs_free(char **docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(docs[i]);
	free(docs);
}

/* The digest document: the first 50 members, "more" the rest, the
 * highest severity, the first tenant_id, the earliest and latest times. */
START_TEST(test_digest_document)
{
	char **docs = digest_docs(60), *text = NULL;
	json_t *d;

	ck_assert_int_eq(sw_digest_document("digest-9", "unapproved-basic-auth-submission", "contoso",
	                                    (const char *const *)docs, 60, &text), 0);
	d = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(d);
	ck_assert(sw_digest_is(d));
	ck_assert_str_eq(json_string_value(json_object_get(d, "id")), "digest-9");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "count")), 60);
	ck_assert_int_eq(json_array_size(json_object_get(d, "alerts")), 50);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "more")), 10);
	ck_assert_str_eq(json_string_value(json_object_get(d, "severity")), "critical");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "severity_id")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(d, "tenant_id")), "t-guid");
	ck_assert_str_eq(json_string_value(json_object_get(d, "first_seen")), "2026-11-20T08:00:00Z");
	ck_assert_str_eq(json_string_value(json_object_get(d, "last_seen")), "2026-11-20T09:59:00Z");
	ck_assert_int_eq(strncmp(text, "{\"schema\":\"smtpwatch.digest/1\",\"id\":\"digest-9\",", 45), 0);
	ck_assert_int_eq(sw_digest_document("d", "r", "t", (const char *const *)docs, 0, &text), -EINVAL);
	json_decref(d);
	free(text);
	digest_docs_free(docs, 60);
}
END_TEST

/* The Teams digest card: a header naming the count and rule, a header row
 * and 20 rows, "and N more", markdown in a subject escaped. */
START_TEST(test_teams_digest)
{
	char **docs = digest_docs(25), *text = NULL;
	json_t *d, *msg, *card, *body, *el;
	size_t i, rows = 0;

	ck_assert_int_eq(sw_digest_document("digest-9", "unapproved-basic-auth-submission", "contoso",
	                                    (const char *const *)docs, 25, &text), 0);
	d = json_loads(text, 0, NULL);
	ck_assert_int_eq(sw_render_teams_digest(d, &out), 0);
	msg = json_loads(out.data, 0, NULL);
	ck_assert_ptr_nonnull(msg);
	card = json_object_get(json_array_get(json_object_get(msg, "attachments"), 0), "content");
	ck_assert_str_eq(json_string_value(json_object_get(card, "version")), "1.4");
	body = json_object_get(card, "body");
	json_array_foreach(body, i, el)
		rows += strcmp(json_string_value(json_object_get(el, "type")), "ColumnSet") == 0;
	ck_assert_uint_eq(rows, 21);
	ck_assert_ptr_nonnull(strstr(out.data, "\"25 alerts: unapproved-basic-auth-submission\""));
	ck_assert_ptr_nonnull(strstr(out.data, "\"and 5 more\""));
	ck_assert_ptr_null(strstr(out.data, "[x](http"));
	json_object_del(d, "alerts");
	ck_assert_int_eq(sw_render_teams_digest(d, &out), -EINVAL);
	json_decref(msg);
	json_decref(d);
	free(text);
	digest_docs_free(docs, 25);
}
END_TEST

/* A version 2 document: every member a field, the entities' lists one
 * field per item like the evidence's (journalctl SMTPWATCH_ENTITIES_IP=..),
 * null entities left out; as reviewed in v2.journal.expected. */
START_TEST(test_journal_v2)
{
	json_t *doc = case_doc("v2");
	struct sw_buf got = {0};
	char **f = NULL, *expected;
	size_t n = 0, len;

	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(journal_name_ok(f[i]), "bad field name in %s", f[i]);
		sw_buf_printf(&got, "%s\n", f[i]);
	}
	ck_assert_ptr_nonnull(strstr(got.data, "\nSMTPWATCH_ENTITIES_IP=198.51.100.7\n"));
	ck_assert_ptr_nonnull(strstr(got.data, "\nSMTPWATCH_ENTITIES_USERS=b@contoso.com\n"));
	ck_assert_ptr_nonnull(strstr(got.data, "\nSMTPWATCH_SEVERITY_ID=4\n"));
	ck_assert_ptr_null(strstr(got.data, "SMTPWATCH_ENTITIES_MAILBOX"));
	expected = slurp("v2.journal.expected", &len);
	ck_assert_str_eq(got.data, expected);
	free(expected);
	sw_buf_clear(&got);
	sw_render_journal_free(f, n);
	json_decref(doc);
}
END_TEST

/* A version 2 document goes into HEC's event as it is; as reviewed in
 * v2.hec.expected. */
START_TEST(test_hec_v2)
{
	json_t *doc = case_doc("v2");
	char *expected;
	size_t len;

	ck_assert_int_eq(sw_render_hec(doc, "mx1.contoso.net", 1795167905123LL, &out), 0);
	expected = slurp("v2.hec.expected", &len);
	ck_assert(len > 0 && expected[len - 1] == '\n');
	expected[len - 1] = '\0';
	ck_assert_str_eq(out.data, expected);
	free(expected);
	json_decref(doc);
}
END_TEST

/* Values are on one line, escaped as the log is (a new line would forge
 * what journalctl shows); odd member names become valid field names; null
 * members are left out. */
START_TEST(test_journal_values)
{
	json_t *doc = case_doc("tricky");
	char **f = NULL;
	size_t n = 0;
	bool summary = false, odd = false;

	json_object_set_new(doc, "remediation", json_null());
	json_object_set_new(doc, "new-member.x", json_integer(7));
	json_object_set_new(doc, "evidence", json_pack("{s:s,s:[i,i]}", "note", "a", "counts", 1, 2));
	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(journal_name_ok(f[i]), "bad field name in %s", f[i]);
		ck_assert(strncmp(f[i], "SMTPWATCH_REMEDIATION=", 22) != 0);
		if (strcmp(f[i], "SMTPWATCH_SUMMARY=line one\\x0d\\x0aline two: \"quoted\" back\\slash ] bracket\\x0aend") == 0)
			summary = true;
		if (strcmp(f[i], "SMTPWATCH_NEW_MEMBER_X=7") == 0)
			odd = true;
	}
	ck_assert(summary);
	ck_assert(odd);
	ck_assert_str_eq(f[2], "PRIORITY=3");
	ck_assert_str_eq(f[n - 3], "SMTPWATCH_EVIDENCE_NOTE=a");
	ck_assert_str_eq(f[n - 2], "SMTPWATCH_EVIDENCE_COUNTS=1");
	ck_assert_str_eq(f[n - 1], "SMTPWATCH_EVIDENCE_COUNTS=2");
	sw_render_journal_free(f, n);

	/* No summary: the message names rule and subject. */
	json_object_del(doc, "summary");
	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	ck_assert_str_eq(f[0], "MESSAGE=[firing] con\"toso: smtp-auth-password-spray od\\d]\"x\"@contoso.com");
	sw_render_journal_free(f, n);
	json_decref(doc);
}
END_TEST

/* A hostile name renders no link, image or emphasis anywhere on the card,
 * and carries no control byte into it. */
START_TEST(test_teams_markdown_escaped)
{
	json_t *doc = case_doc("spec"), *msg;
	const char *evil = "[click me](https://evil.example/x)\n<13>fake \x1b[2J **boss**";
	struct card_seen seen;
	struct sw_buf body = {0};
	char *text;

	json_object_set_new(doc, "subject", json_string(evil));
	json_object_set_new(doc, "summary", json_pack("s++", "mailbox ", evil, " sent 3 messages"));
	json_object_set_new(doc, "remediation",
	                    json_string("Set-CASMailbox -Identity '[x](https://evil.example)' -SmtpClientAuthenticationDisabled $true"));
	json_object_set_new(doc, "evidence", json_pack("{s:[s]}", "users", "![img](https://evil.example/p.png)"));
	ck_assert_int_eq(sw_render_teams(doc, &body), 0);
	check_teams(body.data, &msg, &seen);
	ck_assert_str_eq(fact(&seen, "Subject"),
	                 "\\[click me\\]\\(https\\://evil.example/x\\)\\\\x0a\\<13\\>fake \\\\x1b\\[2J \\*\\*boss\\*\\*");
	ck_assert_str_eq(fact(&seen, "Users"), "\\!\\[img\\]\\(https\\://evil.example/p.png\\)");
	ck_assert_str_eq(seen.mono, "Set-CASMailbox -Identity '\\[x\\]\\(https\\://evil.example\\)' "
	                            "-SmtpClientAuthenticationDisabled $true");
	/* Nowhere in the card an unescaped "](" or a raw control byte. */
	text = json_dumps(msg, JSON_COMPACT);
	ck_assert_ptr_null(strstr(text, "](https"));
	ck_assert_ptr_null(strstr(text, "\\n"));
	ck_assert_ptr_null(strstr(text, "\\u001b"));
	free(text);
	json_decref(seen.facts);
	json_decref(msg);
	sw_buf_clear(&body);
	json_decref(doc);
}
END_TEST

/* The journal's MESSAGE is one line: a forged "\n<13>" stays inside it. */
START_TEST(test_journal_message_one_line)
{
	json_t *doc = case_doc("spec");
	char **f = NULL;
	size_t n = 0;

	json_object_set_new(doc, "summary", json_string("evil\n<13>fake \x1b[2J"));
	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	ck_assert_msg(strstr(f[0], "MESSAGE=") == f[0] && strstr(f[0], ": evil\\x0a<13>fake \\x1b[2J") != NULL, "%s",
	              f[0]);
	for (size_t i = 0; i < n; i++)
		for (const char *p = f[i]; *p; p++)
			ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in %s", f[i]);
	sw_render_journal_free(f, n);
	json_decref(doc);
}
END_TEST

/* Every rule has its own MESSAGE_ID, and the installed catalog explains
 * each one under that id. */
START_TEST(test_journal_ids_and_catalog)
{
	const char *rules[SW_N_RULES + 3];
	char path[1024], line[1024], ids[SW_N_RULES + 2][33];
	size_t n = 0, n_ids = 0;
	FILE *cat;

	for (; sw_rules_all[n] != NULL; n++)
		rules[n] = sw_rules_all[n];
	rules[n++] = SW_RULE_DELIVERY_DEAD;
	rules[n++] = SW_RULE_SILENCE_CHANGED;
	ck_assert(sw_rule_known(SW_RULE_DELIVERY_DEAD));
	ck_assert(sw_rule_known(SW_RULE_SILENCE_CHANGED));
	ck_assert_ptr_null(sw_render_journal_message_id("no-such-rule"));
	ck_assert_ptr_null(sw_render_journal_message_id(NULL));

	snprintf(path, sizeof(path), "%s/../../systemd/smtpwatch.catalog", getenv("SW_TEST_DATA"));
	cat = fopen(path, "r");
	ck_assert_msg(cat != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), cat) != NULL) {
		if (strncmp(line, "-- ", 3) != 0)
			continue;
		ck_assert_uint_lt(n_ids, SW_N_RULES + 2);
		ck_assert_msg(strlen(line) == 36 && line[35] == '\n', "catalog id line: %s", line);
		memcpy(ids[n_ids], line + 3, 32);
		ids[n_ids++][32] = '\0';
	}
	fclose(cat);
	ck_assert_uint_eq(n_ids, n);

	for (size_t i = 0; i < n; i++) {
		const char *id = sw_render_journal_message_id(rules[i]);
		bool in_catalog = false;

		ck_assert_msg(id != NULL, "rule %s has no MESSAGE_ID", rules[i]);
		ck_assert_uint_eq(strlen(id), 32);
		ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(id, sw_render_journal_message_id(rules[j]));
		for (size_t j = 0; j < n_ids; j++)
			in_catalog |= strcmp(ids[j], id) == 0;
		ck_assert_msg(in_catalog, "rule %s (%s) is not in the catalog", rules[i], id);
	}
}
END_TEST

START_TEST(test_journal_refused)
{
	json_t *doc = json_pack("{s:s,s:s}", "rule", "r", "severity", "urgent");
	char **f = (char **)&f;
	size_t n = 99;

	ck_assert_int_eq(sw_render_journal(doc, &f, &n), -EINVAL);
	ck_assert_int_eq(sw_render_journal(NULL, &f, &n), -EINVAL);
	json_object_set_new(doc, "severity", json_string("low"));
	json_object_del(doc, "rule");
	ck_assert_int_eq(sw_render_journal(doc, &f, &n), -EINVAL);
	ck_assert(f == (char **)&f && n == 99);
	/* Unknown rule: sent, without a MESSAGE_ID. */
	json_object_set_new(doc, "rule", json_string("future-rule"));
	ck_assert_int_eq(sw_render_journal(doc, &f, &n), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert(strncmp(f[i], "MESSAGE_ID=", 11) != 0);
	ck_assert_str_eq(f[1], "PRIORITY=5");
	sw_render_journal_free(f, n);
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
	tcase_add_test(tc, test_syslog_c1_controls);
	tcase_add_loop_test(tc, test_syslog_pri, 0, sizeof(severities) / sizeof(severities[0]));
	tcase_add_test(tc, test_syslog_refused);
	tcase_add_test(tc, test_syslog_long_hostname);
	tcase_add_test(tc, test_syslog_local_forms);
	tcase_add_test(tc, test_syslog_kv_quoting);
	tcase_add_test(tc, test_syslog_local_time);
	tcase_add_test(tc, test_syslog_sd_id);
	tcase_add_test(tc, test_syslog_unknown_form);
	tcase_add_test(tc, test_syslog_v2_entities);
	tcase_add_loop_test(tc, test_syslog_cap_utf8, 0, 12);
	tcase_add_loop_test(tc, test_syslog_cap_worst, 0, 3);
	tcase_add_test(tc, test_webhook_compact);
	tcase_add_test(tc, test_teams_spec_alert);
	tcase_add_test(tc, test_teams_resolved);
	tcase_add_loop_test(tc, test_teams_severity_colour, 0, sizeof(teams_sev) / sizeof(teams_sev[0]));
	tcase_add_test(tc, test_teams_evidence_cap);
	tcase_add_test(tc, test_teams_refused);
	tcase_add_test(tc, test_teams_markdown_escaped);
	tcase_add_test(tc, test_journal_message_one_line);
	tcase_add_test(tc, test_hec_envelope);
	tcase_add_loop_test(tc, test_hec_answers, 0, sizeof(hec_answers) / sizeof(hec_answers[0]));
	tcase_add_test(tc, test_journal_spec);
	tcase_add_test(tc, test_journal_v2);
	tcase_add_test(tc, test_digest_document);
	tcase_add_test(tc, test_teams_digest);
	tcase_add_test(tc, test_hec_v2);
	tcase_add_test(tc, test_journal_values);
	tcase_add_test(tc, test_journal_ids_and_catalog);
	tcase_add_test(tc, test_journal_refused);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(render_suite)
