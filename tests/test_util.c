/* test_util.c: durations, timestamps, strings, buffers, URLs, diagnostics. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check_main.h"
#include "config.h"
#include "exo.h"
#include "jsonutil.h"
#include "jwt.h"
#include "report.h"
#include "util.h"

static const struct {
	const char *text;
	int r;
	int64_t seconds;
} durations[] = {
	{ "0", 0, 0 },
	{ "90", 0, 90 },
	{ "30s", 0, 30 },
	{ "5m", 0, 300 },
	{ "2h", 0, 7200 },
	{ "7d", 0, 604800 },
	{ "1w", 0, 604800 },
	{ "400d", 0, 400LL * 86400 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "", -EINVAL, 0 },
	{ "m", -EINVAL, 0 },
	{ "5x", -EINVAL, 0 },
	{ "-5m", -EINVAL, 0 },
	{ "+5m", -EINVAL, 0 },
	{ " 5m", -EINVAL, 0 },
	{ "5 m", -EINVAL, 0 },
	{ "5m ", -EINVAL, 0 },
	{ "5mm", -EINVAL, 0 },
	{ "1h30m", -EINVAL, 0 },
	{ "5M", -EINVAL, 0 },
	{ "1.5h", -EINVAL, 0 },
	{ "forever", -EINVAL, 0 },
	{ "9223372036854775808", -EINVAL, 0 },
	{ "15250284452485w", -EINVAL, 0 },
	{ "106751991167301d", -EINVAL, 0 },
	{ "99999999999999999999999s", -EINVAL, 0 },
};

START_TEST(duration_parse_table)
{
	int64_t v = -42;
	int r = sw_duration_parse(durations[_i].text, &v);

	ck_assert_msg(r == durations[_i].r, "\"%s\": got %d, want %d", durations[_i].text, r, durations[_i].r);
	if (durations[_i].r == 0)
		ck_assert_msg(v == durations[_i].seconds, "\"%s\": got %lld", durations[_i].text, (long long)v);
	else
		ck_assert_msg(v == -42, "\"%s\": output written on failure", durations[_i].text);
}
END_TEST

START_TEST(duration_format_shortest)
{
	static const struct {
		int64_t s;
		const char *text;
	} cases[] = {
		{ 0, "0s" },      { 1, "1s" },       { 90, "90s" },      { 300, "5m" },   { 5400, "90m" },
		{ 7200, "2h" },   { 86400, "1d" },   { 604800, "7d" },   { 90 * 86400, "90d" },
		{ 86401, "86401s" }, { -300, "-5m" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t back;
		sw_duration_format(cases[i].s, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].text);
		if (cases[i].s >= 0) {
			ck_assert_int_eq(sw_duration_parse(buf, &back), 0);
			ck_assert_int_eq(back, cases[i].s);
		}
	}
	sw_duration_format(300, buf, 2); /* truncates, never overflows */
	ck_assert_str_eq(buf, "5");
}
END_TEST

/* 2026-11-20T08:01:12Z */
#define T0 1795161672LL

static const struct {
	const char *text;
	int r;
	int64_t t;
} times[] = {
	{ "2026-11-20T08:01:12Z", 0, T0 },
	{ "2026-11-20T08:01:12.6Z", 0, T0 },
	{ "2026-11-20T08:01:12.619Z", 0, T0 },
	{ "2026-11-20T08:01:12.6195833Z", 0, T0 },
	{ "2026-11-20T08:01:12.9999999Z", 0, T0 },
	{ "2026-11-20T09:01:12+01:00", 0, T0 },
	{ "2026-11-20T03:31:12.5-04:30", 0, T0 },
	{ "2026-11-20T08:01:12+00:00", 0, T0 },
	{ "2026-11-20T08:01:12-00:00", 0, T0 },
	{ "2026-11-21T00:01:12+16:00", 0, T0 },
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "1969-12-31T23:59:59Z", 0, -1 },
	{ "2024-02-29T12:00:00Z", 0, 1709208000 },
	{ "2000-02-29T00:00:00Z", 0, 951782400 },
	{ "", -EINVAL, 0 },
	{ "garbage", -EINVAL, 0 },
	{ "2026-11-20", -EINVAL, 0 },
	{ "2026-11-20T08:01:12", -EINVAL, 0 },         /* no zone */
	{ "2026-11-20 08:01:12Z", -EINVAL, 0 },        /* space, not T */
	{ "2026-11-20T08:01:12.Z", -EINVAL, 0 },       /* dot without digits */
	{ "2026-11-20T08:01:12.12345678Z", 0, 1795161672 }, /* 8 digits */
	{ "2026-11-20T08:01:12.123456789Z", 0, 1795161672 }, /* 9: elastic's captures */
	{ "2026-11-20T08:01:12.1234567890Z", -EINVAL, 0 }, /* 10 digits */
	{ "2026-11-20T08:01:12ZZ", -EINVAL, 0 },
	{ "2026-11-20T08:01:12Z ", -EINVAL, 0 },
	{ "2026-11-20T08:01:12+0100", -EINVAL, 0 },
	{ "2026-11-20T08:01:12+1:00", -EINVAL, 0 },
	{ "2026-11-20T08:01:12+24:00", -EINVAL, 0 },
	{ "2026-11-20T08:01:12+01:60", -EINVAL, 0 },
	{ "2026-13-20T08:01:12Z", -EINVAL, 0 },
	{ "2026-00-20T08:01:12Z", -EINVAL, 0 },
	{ "2026-11-31T08:01:12Z", -EINVAL, 0 },
	{ "2026-02-29T08:01:12Z", -EINVAL, 0 },
	{ "1900-02-29T08:01:12Z", -EINVAL, 0 },
	{ "2026-11-20T24:01:12Z", -EINVAL, 0 },
	{ "2026-11-20T08:60:12Z", -EINVAL, 0 },
	{ "2026-11-20T08:01:60Z", -EINVAL, 0 },
	{ "2026-1-20T08:01:12Z", -EINVAL, 0 },
	{ "26-11-20T08:01:12Z", -EINVAL, 0 },
	{ "2026-11-20T8:01:12Z", -EINVAL, 0 },
	{ "-2026-11-20T08:01:12Z", -EINVAL, 0 },
	{ "2026-11-20T08:01:1xZ", -EINVAL, 0 },
};

START_TEST(time_parse_table)
{
	int64_t t = 12345;
	int r = sw_time_parse(times[_i].text, &t);

	ck_assert_msg(r == times[_i].r, "\"%s\": got %d, want %d", times[_i].text, r, times[_i].r);
	if (times[_i].r == 0)
		ck_assert_msg(t == times[_i].t, "\"%s\": got %lld, want %lld", times[_i].text, (long long)t,
		              (long long)times[_i].t);
	else
		ck_assert_msg(t == 12345, "\"%s\": output written on failure", times[_i].text);
}
END_TEST

START_TEST(time_format_roundtrip)
{
	char buf[21];
	int64_t back;

	sw_time_format(T0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-20T08:01:12Z");
	ck_assert_int_eq(sw_time_parse(buf, &back), 0);
	ck_assert_int_eq(back, T0);
	sw_time_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	sw_time_format(T0, buf, 5);
	ck_assert_str_eq(buf, "2026");
}
END_TEST

START_TEST(date_parse)
{
	int64_t t = 7;

	ck_assert_int_eq(sw_date_parse("2027-01-31", &t), 0);
	ck_assert_int_eq(t, 1801353600); /* 2027-01-31T00:00:00Z */
	ck_assert_int_eq(sw_date_parse("2028-02-29", &t), 0);
	t = 7;
	ck_assert_int_eq(sw_date_parse("2027-02-29", &t), -EINVAL);
	ck_assert_int_eq(sw_date_parse("2027-1-31", &t), -EINVAL);
	ck_assert_int_eq(sw_date_parse("2027-01-31T00:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(sw_date_parse("31.01.2027", &t), -EINVAL);
	ck_assert_int_eq(sw_date_parse("", &t), -EINVAL);
	ck_assert_int_eq(t, 7);
}
END_TEST

START_TEST(strings)
{
	char s1[] = "  \t hello world \r\n";
	char s2[] = "   ";
	char s3[] = "MiXeD@Contoso.COM";
	char *d;

	ck_assert_str_eq(sw_strtrim(s1), "hello world");
	ck_assert_str_eq(sw_strtrim(s2), "");
	ck_assert_str_eq(sw_strlower(s3), "mixed@contoso.com");
	d = sw_strdup_lower("Scanner-HQ@Contoso.com");
	ck_assert_str_eq(d, "scanner-hq@contoso.com");
	free(d);
	ck_assert_ptr_null(sw_strdup_lower(NULL));
}
END_TEST

START_TEST(buf_grows_and_stays_terminated)
{
	struct sw_buf b = { 0 };

	ck_assert_int_eq(sw_buf_append(&b, "", 0), 0);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_str_eq(b.data, "");
	ck_assert_int_eq(sw_buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(sw_buf_putc(&b, '-'), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(sw_buf_printf(&b, "%d,", i), 0);
	ck_assert_uint_eq(b.len, strlen(b.data));
	ck_assert_int_eq(strncmp(b.data, "abc-0,1,2,", 10), 0);
	ck_assert_int_eq(strcmp(b.data + b.len - 4, "999,"), 0);
	ck_assert_uint_ge(b.cap, b.len + 1);
	sw_buf_clear(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(sw_buf_append(&b, "x\0y", 3), 0); /* binary kept, still terminated */
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(b.data[3], '\0');
	ck_assert_int_eq(b.data[2], 'y');
	sw_buf_clear(&b);
}
END_TEST

START_TEST(url_encode)
{
	char *e = sw_url_encode("createdDateTime ge 2026-11-20T08:00:00Z and clientAppUsed eq 'Authenticated SMTP'");

	ck_assert_str_eq(e, "createdDateTime%20ge%202026-11-20T08%3A00%3A00Z%20and%20clientAppUsed%20eq%20%27"
	                    "Authenticated%20SMTP%27");
	free(e);
	e = sw_url_encode("a+b/c?d=e&f~_.-\xc3\xa9");
	ck_assert_str_eq(e, "a%2Bb%2Fc%3Fd%3De%26f~_.-%C3%A9");
	free(e);
	e = sw_url_encode("");
	ck_assert_str_eq(e, "");
	free(e);
}
END_TEST

static const struct {
	const char *url;
	int r;
	bool loopback;
	const char *why; /* fragment */
} urls[] = {
	{ "https://graph.microsoft.com", 0, false, NULL },
	{ "https://prod-00.westeurope.logic.azure.com:443/workflows/x/triggers/manual/paths/invoke?sig=abc", 0, false,
	  NULL },
	{ "HTTPS://Example.COM/x", 0, false, NULL },
	{ "http://127.0.0.1:8080", 0, true, NULL },
	{ "http://127.0.0.1:8080/hooks/soc", 0, true, NULL },
	{ "http://127.1.2.3/", 0, true, NULL },
	{ "http://localhost:9000/x", 0, true, NULL },
	{ "http://LOCALHOST/x", 0, true, NULL },
	{ "http://[::1]:8443/x", 0, true, NULL },
	{ "http://user:pw@127.0.0.1:80/x", 0, true, NULL },
	{ "http://example.com/", -EINVAL, false, "http:// is only allowed for loopback hosts" },
	{ "http://10.0.0.1:8080/", -EINVAL, false, "loopback" },
	{ "http://128.0.0.1/", -EINVAL, false, "loopback" },
	{ "http://127.0.0.1.evil.example/", -EINVAL, false, "loopback" },
	{ "http://localhost.evil.example/", -EINVAL, false, "loopback" },
	{ "http://localhost./x", -EINVAL, false, "loopback" },
	{ "http://LocalHost.:8080/x", -EINVAL, false, "loopback" },
	{ "http://localhost.example/", -EINVAL, false, "loopback" },
	{ "http://foo.localhost/", -EINVAL, false, "loopback" },
	{ "http://localhost../", -EINVAL, false, "loopback" },
	{ "https://localhost./", 0, false, NULL },
	{ "http://LocalHost:8080/x", 0, true, NULL },
	{ "http://[0:0:0:0:0:0:0:1]:8080/", 0, true, NULL },
	{ "http://127.255.255.254/", 0, true, NULL },
	{ "http://[::ffff:127.0.0.1]/", -EINVAL, false, "loopback" },
	{ "http://127.0.0.1@evil.example/", -EINVAL, false, "loopback" },
	{ "http://evil.example#@127.0.0.1/", -EINVAL, false, "loopback" },
	{ "http://[::2]/", -EINVAL, false, "loopback" },
	{ "http://127.0.0.1\\@evil.example/", -EINVAL, false, "backslash" },
	{ "ftp://example.com/", -EINVAL, false, "unsupported scheme \"ftp\"" },
	{ "file:///etc/passwd", -EINVAL, false, "no host" },
	{ "example.com/hook", -EINVAL, false, "not a URL" },
	{ "https://", -EINVAL, false, "no host" },
	{ "https://exa mple.com/", -EINVAL, false, "spaces" },
	{ "", -EINVAL, false, "empty" },
};

START_TEST(url_check_table)
{
	char why[128] = "unchanged";
	int r = sw_url_check(urls[_i].url, why, sizeof(why));

	ck_assert_msg(r == urls[_i].r, "%s: got %d (%s)", urls[_i].url, r, why);
	ck_assert_msg(sw_url_is_loopback(urls[_i].url) == urls[_i].loopback, "%s: loopback?", urls[_i].url);
	if (urls[_i].why != NULL) {
		ck_assert_msg(strstr(why, urls[_i].why) != NULL, "%s: why \"%s\" lacks \"%s\"", urls[_i].url, why,
		              urls[_i].why);
		/* the reason never repeats the URL (it may hold a credential) */
		if (strlen(urls[_i].url) > 8)
			ck_assert_msg(strstr(why, urls[_i].url + 8) == NULL, "why quotes the URL: %s", why);
	}
}
END_TEST

START_TEST(url_check_null_why)
{
	ck_assert_int_eq(sw_url_check("http://example.com", NULL, 0), -EINVAL);
	ck_assert_int_eq(sw_url_check("https://example.com", NULL, 0), 0);
}
END_TEST

/* Origins: a next link is followed only when its origin equals the
 * configured one, so every way of writing the same origin must compare
 * equal and every other host must not. */
static const struct {
	const char *url;
	const char *origin; /* NULL: -EINVAL */
} origins[] = {
	{ "https://graph.microsoft.com", "https://graph.microsoft.com:443" },
	{ "https://Graph.Microsoft.COM:443/v1.0/auditLogs/signIns?$skiptoken=x", "https://graph.microsoft.com:443" },
	{ "HTTPS://graph.microsoft.com/", "https://graph.microsoft.com:443" },
	{ "http://127.0.0.1:8080/graph", "http://127.0.0.1:8080" },
	{ "http://127.0.0.1/", "http://127.0.0.1:80" },
	{ "http://[::1]:8443/x", "http://[::1]:8443" },
	{ "http://[::1]/x", "http://[::1]:80" },
	{ "https://graph.microsoft.com.evil.example/", "https://graph.microsoft.com.evil.example:443" },
	{ "https://graph.microsoft.com#@evil.example/", "https://graph.microsoft.com:443" },
	{ "https://graph.microsoft.com@evil.example/", NULL },
	{ "https://user:pw@graph.microsoft.com/", NULL },
	{ "https://graph.microsoft.com:0/", NULL },
	{ "https://graph.microsoft.com:65536/", NULL },
	{ "https://graph.microsoft.com:44x3/", NULL },
	{ "https://graph.microsoft.com:/", NULL },
	{ "http://[::1]x:80/", NULL },
	{ "ftp://graph.microsoft.com/", NULL },
	{ "https://graph.microsoft.com\\@evil.example/", NULL },
	{ "https://graph.microsoft.com/\x01", NULL },
	{ "https:///x", NULL },
	{ "graph.microsoft.com/x", NULL },
};

START_TEST(url_origin_table)
{
	char buf[300] = "unchanged";
	int r = sw_url_origin(origins[_i].url, buf, sizeof(buf));

	if (origins[_i].origin == NULL) {
		ck_assert_msg(r == -EINVAL, "%s: got %d (%s)", origins[_i].url, r, buf);
	} else {
		ck_assert_msg(r == 0, "%s: got %d", origins[_i].url, r);
		ck_assert_str_eq(buf, origins[_i].origin);
	}
}
END_TEST

START_TEST(url_origin_small_buffer)
{
	char buf[8];

	ck_assert_int_eq(sw_url_origin("https://graph.microsoft.com", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sw_url_origin(NULL, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* [daemon] proxy: the only proxy there is, and never for loopback. */
static const struct {
	const char *proxy;
	int r;
	const char *why;
} proxies[] = {
	{ NULL, 0, NULL },
	{ "", 0, NULL },
	{ "http://proxy.corp.example:3128", 0, NULL },
	{ "http://proxy.corp.example:3128/", 0, NULL },
	{ "https://Proxy.Corp.Example:8443", 0, NULL },
	{ "http://[2001:db8::1]:3128", 0, NULL },
	{ "http://127.0.0.1:3128", 0, NULL },
	{ "http://proxy.corp.example", -EINVAL, "port is missing" },
	{ "http://[2001:db8::1]", -EINVAL, "port is missing" },
	{ "http://proxy.corp.example:3128/path", -EINVAL, "without a path" },
	{ "http://proxy.corp.example:3128?x=1", -EINVAL, "without a path" },
	{ "http://user:pw@proxy.corp.example:3128", -EINVAL, "no user name or password" },
	{ "socks5://proxy.corp.example:1080", -EINVAL, "expected http://HOST:PORT" },
	{ "proxy.corp.example:3128", -EINVAL, "expected http://HOST:PORT" },
	{ "http://proxy.corp.example:99999", -EINVAL, "expected http://HOST:PORT" },
};

START_TEST(proxy_check_table)
{
	char why[160] = "";
	int r = sw_proxy_check(proxies[_i].proxy, why, sizeof(why));

	ck_assert_msg(r == proxies[_i].r, "%s: got %d (%s)", proxies[_i].proxy, r, why);
	if (proxies[_i].why != NULL)
		ck_assert_msg(strstr(why, proxies[_i].why) != NULL, "%s: why \"%s\" lacks \"%s\"", proxies[_i].proxy,
		              why, proxies[_i].why);
}
END_TEST

START_TEST(proxy_for_decision)
{
	const char *px = "http://proxy.corp.example:3128";

	/* A configured proxy carries everything that is not loopback. */
	ck_assert_str_eq(sw_proxy_for("https://graph.microsoft.com/v1.0/x", px), px);
	ck_assert_str_eq(sw_proxy_for("https://hooks.example.com/soc", px), px);
	/* Loopback never goes through it (the simulator, local sinks). */
	ck_assert_str_eq(sw_proxy_for("http://127.0.0.1:8080/x", px), "");
	ck_assert_str_eq(sw_proxy_for("http://127.9.9.9/", px), "");
	ck_assert_str_eq(sw_proxy_for("http://[::1]:8080/x", px), "");
	ck_assert_str_eq(sw_proxy_for("http://LocalHost:8080/x", px), "");
	ck_assert_str_eq(sw_proxy_for("https://localhost./x", px), px);
	/* No proxy configured: "", which also keeps libcurl from the
	 * environment's http_proxy, https_proxy and ALL_PROXY. */
	ck_assert_str_eq(sw_proxy_for("https://graph.microsoft.com/", NULL), "");
	ck_assert_str_eq(sw_proxy_for("https://graph.microsoft.com/", ""), "");
	ck_assert_str_eq(sw_proxy_for("http://127.0.0.1/", NULL), "");
}
END_TEST

START_TEST(diag_collects_errors_and_warnings)
{
	struct sw_diag d = { 0 };
	struct sw_error e;

	for (int i = 0; i < 50; i++)
		sw_diag_add(&d, i % 5 == 0, "a.conf", 50 - i, "problem %d", i);
	ck_assert_uint_eq(d.n, 50);
	ck_assert_uint_eq(d.n_errors, 40);
	ck_assert_str_eq(d.items[3].source, "a.conf");
	ck_assert_int_eq(d.items[3].line, 47);
	ck_assert_str_eq(d.items[3].text, "problem 3");
	ck_assert(d.items[5].warning);
	sw_diag_sort(&d, 10);
	ck_assert_int_eq(d.items[9].line, 41); /* before `from`: untouched */
	ck_assert_int_eq(d.items[10].line, 1);
	ck_assert_int_eq(d.items[49].line, 40);
	sw_diag_clear(&d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(d.n_errors, 0);
	sw_diag_add(NULL, false, "x", 1, "ignored");

	/* Two files interleaved: grouped in the order each came first, by
	 * line within each, equal lines in the order they came. */
	sw_diag_add(&d, false, "main.conf", 9, "m9");
	sw_diag_add(&d, false, "t.d/b.conf", 4, "b4");
	sw_diag_add(&d, false, "main.conf", 2, "m2");
	sw_diag_add(&d, false, "t.d/a.conf", 1, "a1");
	sw_diag_add(&d, false, "t.d/b.conf", 1, "b1");
	sw_diag_add(&d, false, "main.conf", 2, "m2bis");
	sw_diag_sort(&d, 0);
	const char *want[] = {"m2", "m2bis", "m9", "b1", "b4", "a1"};
	for (size_t i = 0; i < 6; i++)
		ck_assert_str_eq(d.items[i].text, want[i]);
	sw_diag_clear(&d);
	/* 20,000 problems in reverse order, of 2 files (a tenants_dir of
	 * broken files): sorted, stable. */
	for (int i = 0; i < 20000; i++)
		sw_diag_add(&d, false, i % 2 ? "y.conf" : "x.conf", 10000 - i / 2, "%d", i);
	sw_diag_sort(&d, 0);
	for (size_t i = 0; i < 20000; i++) {
		ck_assert_str_eq(d.items[i].source, i < 10000 ? "x.conf" : "y.conf");
		ck_assert_int_eq(d.items[i].line, (int)(i % 10000) + 1);
	}
	sw_diag_clear(&d);

	sw_error_set(&e, "<body>", 3, "bad %s", "thing");
	ck_assert_str_eq(e.source, "<body>");
	ck_assert_int_eq(e.line, 3);
	ck_assert_str_eq(e.text, "bad thing");
	ck_assert(!e.warning);
	sw_error_set(NULL, "x", 1, "no crash");
}
END_TEST

START_TEST(free_secret_null)
{
	sw_free_secret(NULL);
	sw_free_secret(strdup("hunter2"));
}
END_TEST

/* One line each, nothing a terminal or journald would act on. */
static const struct {
	const char *in;
	unsigned flags;
	const char *out;
} escapes[] = {
	{ "plain alice@contoso.com", 0, "plain alice@contoso.com" },
	{ "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80 back\\slash", 0, "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80 back\\slash" },
	{ "evil\n<13>fake", 0, "evil\\x0a<13>fake" },
	{ "\x1b[2Jclear\r", 0, "\\x1b[2Jclear\\x0d" },
	{ "tab\there\x7f", 0, "tab\\x09here\\x7f" },
	{ "c1 \xc2\x9b" "31m", 0, "c1 \\x9b31m" },
	{ "bad \xff\xc3 utf8 \xed\xa0\x80 \xc0\xaf", 0, "bad \\xff\\xc3 utf8 \\xed\\xa0\\x80 \\xc0\\xaf" },
	{ "bidi \xe2\x80\xae" "gnp.exe \xe2\x80\xa8", 0, "bidi \\u202egnp.exe \\u2028" },
	{ "a\nb\tc\r\nd\re", SW_ESC_MULTILINE, "a\nb\tc\r\nd\\x0de" },
	{ "\"\xc2\x85\"", SW_ESC_JSON, "\"\\u0085\"" },
};

START_TEST(escape_text_table)
{
	struct sw_buf b = { 0 };
	const char *in = escapes[_i].in;

	ck_assert_int_eq(sw_escape_text(&b, in, strlen(in), escapes[_i].flags), 0);
	ck_assert_str_eq(b.data, escapes[_i].out);
	ck_assert(sw_text_needs_escape(in, strlen(in), escapes[_i].flags) == (strcmp(in, escapes[_i].out) != 0));
	sw_buf_clear(&b);
}
END_TEST

START_TEST(escape_dup_and_embedded_nul)
{
	struct sw_buf b = { 0 };
	char *s = sw_escape_dup("x\ny", 0);

	ck_assert_str_eq(s, "x\\x0ay");
	free(s);
	ck_assert_ptr_null(sw_escape_dup(NULL, 0));
	/* A NUL inside the length is a control byte too. */
	ck_assert_int_eq(sw_escape_text(&b, "a\0b", 3, 0), 0);
	ck_assert_str_eq(b.data, "a\\x00b");
	sw_buf_clear(&b);
}
END_TEST

static const struct {
	const char *in, *out;
} markdowns[] = {
	{ "alice@contoso.com", "alice@contoso.com" },
	{ "[click](https://evil.example/x)", "\\[click\\]\\(https\\://evil.example/x\\)" },
	{ "![img](x) **bold** _it_ `code` ~s~ <b> #h |t|",
	  "\\!\\[img\\]\\(x\\) \\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~s\\~ \\<b\\> \\#h \\|t\\|" },
	{ "- item", "\\- item" },
	{ "1. item", "1\\. item" },
	{ "198.51.100.7", "198.51.100.7" },
	{ "-", "-" },
	{ "a\\b", "a\\\\b" },
	{ "line\n- two", "line\\\\x0a- two" },
};

START_TEST(escape_markdown_table)
{
	struct sw_buf b = { 0 };

	ck_assert_int_eq(sw_escape_markdown(&b, markdowns[_i].in), 0);
	ck_assert_str_eq(b.data, markdowns[_i].out);
	sw_buf_clear(&b);
}
END_TEST

START_TEST(ps_quote)
{
	char buf[64], small[8];

	ck_assert_str_eq(sw_ps_quote("alice@contoso.com", buf, sizeof(buf)), "'alice@contoso.com'");
	ck_assert_str_eq(sw_ps_quote("o'brien@contoso.com", buf, sizeof(buf)), "'o''brien@contoso.com'");
	/* $(...), ; and ` are literal inside single quotes: left as they are. */
	ck_assert_str_eq(sw_ps_quote("x';Remove-Mailbox y;'$(calc)`", buf, sizeof(buf)),
	                 "'x'';Remove-Mailbox y;''$(calc)`'");
	/* PowerShell ends a string at a typographic quote too. */
	ck_assert_str_eq(sw_ps_quote("a\xe2\x80\x99" "b\xe2\x80\x98", buf, sizeof(buf)),
	                 "'a\xe2\x80\x99\xe2\x80\x99" "b\xe2\x80\x98\xe2\x80\x98'");
	ck_assert_str_eq(sw_ps_quote("new\nline\x1b", buf, sizeof(buf)), "'new?line?'");
	ck_assert_str_eq(sw_ps_quote(NULL, buf, sizeof(buf)), "''");
	/* Cut short, never inside a doubled quote, always closed. */
	ck_assert_str_eq(sw_ps_quote("abcdefgh", small, sizeof(small)), "'abcde'");
	ck_assert_str_eq(sw_ps_quote("abcd'x", small, sizeof(small)), "'abcd'");
	ck_assert_str_eq(sw_ps_quote("abc'x", small, sizeof(small)), "'abc'''");
}
END_TEST

static const struct {
	const char *in, *out;
} csv_cells[] = {
	{ "alice@contoso.com", "alice@contoso.com" },
	{ "", "" },
	{ "=HYPERLINK(\"http://evil\",\"x\")", "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"" },
	{ "+1", "\"'+1\"" },
	{ "-2+3", "\"'-2+3\"" },
	{ "@SUM(A1)", "\"'@SUM(A1)\"" },
	{ "\tx", "\"'\\x09x\"" },
	{ "\rx", "\"'\\x0dx\"" },
	{ "a,b", "\"a,b\"" },
	{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
	{ "two\nlines", "two\\x0alines" },
	{ "a=b", "a=b" },
};

START_TEST(csv_cell_table)
{
	struct sw_buf b = { 0 };

	ck_assert_int_eq(sw_csv_cell(&b, csv_cells[_i].in), 0);
	ck_assert_str_eq(b.data, csv_cells[_i].out);
	sw_buf_clear(&b);
}
END_TEST

START_TEST(redact)
{
	const char *secrets[] = { "tok-1234-5678", "https://hooks.example/p/abc?sig=s3cr3t", "/p/abc?sig=s3cr3t", "",
		                  NULL };
	char text[128], small[24];

	snprintf(text, sizeof(text), "HEC said: invalid token tok-1234-5678 (tok-1234-5678)");
	ck_assert_uint_eq(sw_redact(text, sizeof(text), secrets), 2);
	ck_assert_str_eq(text, "HEC said: invalid token [redacted] ([redacted])");
	/* The URL goes as a whole, its path alone too. */
	snprintf(text, sizeof(text), "posting to https://hooks.example/p/abc?sig=s3cr3t: GET /p/abc?sig=s3cr3t");
	ck_assert_uint_eq(sw_redact(text, sizeof(text), secrets), 2);
	ck_assert_str_eq(text, "posting to [redacted]: GET [redacted]");
	/* Growing past the buffer cuts the tail, never the replacement. */
	snprintf(small, sizeof(small), "0123456789 tok end");
	sw_redact(small, sizeof(small), (const char *[]){ "tok", NULL });
	ck_assert_str_eq(small, "0123456789 [redacted] e");
	snprintf(small, sizeof(small), "0123456789abcdef tok xy");
	sw_redact(small, sizeof(small), (const char *[]){ "tok", NULL });
	ck_assert_str_eq(small, "0123456789abcdef [redac");
	snprintf(text, sizeof(text), "nothing here");
	ck_assert_uint_eq(sw_redact(text, sizeof(text), secrets), 0);
	ck_assert_uint_eq(sw_redact(text, sizeof(text), NULL), 0);
	ck_assert_str_eq(text, "nothing here");
}
END_TEST

/* A redactor built once over a secret per tenant finds the one a line
 * quotes, wherever it sits (the line's last bytes too), and leaves a line
 * without any as it was. */
START_TEST(redactor_many)
{
	enum { N = 5000 };
	static char store[N][24];
	const char *secrets[N + 1];
	struct sw_redactor *r;
	char text[128];

	for (int i = 0; i < N; i++) {
		snprintf(store[i], sizeof(store[i]), "secret-%d-x", i);
		secrets[i] = store[i];
	}
	secrets[N] = NULL;
	r = sw_redactor_new(secrets);
	ck_assert_ptr_nonnull(r);
	snprintf(text, sizeof(text), "tenant t0042: run complete, 1 page, 0 new records");
	ck_assert_uint_eq(sw_redactor_apply(r, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "tenant t0042: run complete, 1 page, 0 new records");
	snprintf(text, sizeof(text), "token endpoint said: bad secret secret-4999-x");
	ck_assert_uint_eq(sw_redactor_apply(r, text, sizeof(text)), 1);
	ck_assert_str_eq(text, "token endpoint said: bad secret [redacted]");
	/* secret-1-x is inside secret-17-x only as far as "secret-1": longest first. */
	snprintf(text, sizeof(text), "secret-17-x and secret-1-x");
	ck_assert_uint_eq(sw_redactor_apply(r, text, sizeof(text)), 2);
	ck_assert_str_eq(text, "[redacted] and [redacted]");
	sw_redactor_free(r);
	/* A secret shorter than the index's window is still found. */
	r = sw_redactor_new((const char *[]){ "abcdefgh", "xy", NULL });
	ck_assert_ptr_nonnull(r);
	snprintf(text, sizeof(text), "xy abcdefgh");
	ck_assert_uint_eq(sw_redactor_apply(r, text, sizeof(text)), 2);
	ck_assert_str_eq(text, "[redacted] [redacted]");
	sw_redactor_free(r);
	r = sw_redactor_new((const char *[]){ NULL });
	snprintf(text, sizeof(text), "nothing");
	ck_assert_uint_eq(sw_redactor_apply(r, text, sizeof(text)), 0);
	sw_redactor_free(r);
}
END_TEST

START_TEST(name_table)
{
	static const struct sw_name t[] = { { 3, "three" }, { -1, "minus" }, { 0, "zero" }, { 0, NULL } };
	int v = 42;

	ck_assert_int_eq(sw_name_parse(t, "three", &v), 0);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(sw_name_parse(t, "minus", &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(sw_name_parse(t, "zero", &v), 0);
	ck_assert_int_eq(v, 0);
	v = 42;
	/* Exact names only: no case folding, no prefixes, no NULL. */
	ck_assert_int_eq(sw_name_parse(t, "Three", &v), -EINVAL);
	ck_assert_int_eq(sw_name_parse(t, "thre", &v), -EINVAL);
	ck_assert_int_eq(sw_name_parse(t, "", &v), -EINVAL);
	ck_assert_int_eq(sw_name_parse(t, NULL, &v), -EINVAL);
	ck_assert_int_eq(v, 42);
	ck_assert_str_eq(sw_name_of(t, 3, "?"), "three");
	ck_assert_str_eq(sw_name_of(t, -1, "?"), "minus");
	ck_assert_str_eq(sw_name_of(t, 0, "?"), "zero");
	ck_assert_str_eq(sw_name_of(t, 7, "?"), "?");
	ck_assert_ptr_null(sw_name_of(t, 7, NULL));
}
END_TEST

/* Every enum's names as config files, documents and the store spell them,
 * both ways, and what an unknown value or name gives. */
START_TEST(name_tables_of_the_enums)
{
	static const char *const sev[] = { "info", "low", "medium", "high", "critical" };
	static const char *const sinks[] = { "webhook", "teams", "splunk-hec", "syslog", "journal" };
	enum sw_severity s;
	enum sw_sink_type k;
	enum sw_alert_status st;
	enum sw_jwt_alg alg;
	enum sw_report_auth au;
	int fac;

	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(sw_severity_name((enum sw_severity)i), sev[i]);
		ck_assert_int_eq(sw_severity_parse(sev[i], &s), 0);
		ck_assert_int_eq(s, i);
		ck_assert_str_eq(sw_sink_type_name((enum sw_sink_type)i), sinks[i]);
		ck_assert_int_eq(sw_sink_type_parse(sinks[i], &k), 0);
		ck_assert_int_eq(k, i);
	}
	ck_assert_str_eq(sw_severity_name((enum sw_severity)5), "unknown");
	ck_assert_str_eq(sw_sink_type_name((enum sw_sink_type)99), "unknown");
	ck_assert_int_eq(sw_severity_parse("High", &s), -EINVAL);
	ck_assert_int_eq(sw_severity_parse(NULL, &s), -EINVAL);
	ck_assert_int_eq(sw_sink_type_parse("hec", &k), -EINVAL);

	ck_assert_str_eq(sw_alert_status_name(SW_ALERT_FIRING), "firing");
	ck_assert_str_eq(sw_alert_status_name(SW_ALERT_RESOLVED), "resolved");
	ck_assert_str_eq(sw_alert_status_name((enum sw_alert_status)9), "unknown");
	ck_assert_int_eq(sw_alert_status_parse("resolved", &st), 0);
	ck_assert_int_eq(st, SW_ALERT_RESOLVED);
	ck_assert_int_eq(sw_alert_status_parse("unknown", &st), -EINVAL);

	ck_assert_str_eq(sw_tristate_name(SW_TRI_NULL), "null");
	ck_assert_str_eq(sw_tristate_name(SW_TRI_FALSE), "false");
	ck_assert_str_eq(sw_tristate_name(SW_TRI_TRUE), "true");
	ck_assert_str_eq(sw_tristate_name((enum sw_tristate)5), "null");

	ck_assert_int_eq(sw_jwt_alg_parse("RS256", &alg), 0);
	ck_assert_int_eq(alg, SW_JWT_RS256);
	ck_assert_int_eq(sw_jwt_alg_parse("PS256", &alg), 0);
	ck_assert_int_eq(alg, SW_JWT_PS256);
	ck_assert_int_eq(sw_jwt_alg_parse("ps256", &alg), -EINVAL);
	ck_assert_str_eq(sw_jwt_alg_name(SW_JWT_RS256), "RS256");
	ck_assert_str_eq(sw_jwt_alg_name((enum sw_jwt_alg)7), "PS256");

	ck_assert_int_eq(sw_report_auth_parse("unknown", &au), 0);
	ck_assert_int_eq(au, SW_AUTH_UNKNOWN);
	ck_assert_int_eq(sw_report_auth_parse("oauth", &au), 0);
	ck_assert_int_eq(au, SW_AUTH_OAUTH);
	ck_assert_int_eq(sw_report_auth_parse("Basic", &au), -EINVAL);
	ck_assert_str_eq(sw_report_auth_name(SW_AUTH_BASIC), "basic");
	ck_assert_str_eq(sw_report_auth_name((enum sw_report_auth)9), "unknown");

	ck_assert_int_eq(sw_facility_parse("kern", &fac), 0);
	ck_assert_int_eq(fac, 0);
	ck_assert_int_eq(sw_facility_parse("authpriv", &fac), 0);
	ck_assert_int_eq(fac, 10);
	ck_assert_int_eq(sw_facility_parse("local7", &fac), 0);
	ck_assert_int_eq(fac, 23);
	ck_assert_int_eq(sw_facility_parse("local8", &fac), -EINVAL);
	ck_assert_int_eq(sw_facility_parse(NULL, &fac), -EINVAL);
}
END_TEST

/* The JSON time forms every document shares, byte for byte. */
/* sw_utf8_valid reads eight ASCII bytes at a time: a sequence, good or
 * bad, at every offset around those words and at the end is judged as
 * byte by byte. */
START_TEST(utf8_valid_at_every_offset)
{
	static const struct {
		const char *seq;
		bool ok;
	} cases[] = {
		{"\xc3\xa9", true},          /* e acute */
		{"\xe2\x82\xac", true},      /* euro sign */
		{"\xf0\x9f\x98\x80", true},  /* an emoji */
		{"\xff", false},             /* never in UTF-8 */
		{"\xc3", false},             /* cut before its continuation */
		{"\xe2\x82", false},         /* cut */
		{"\xc0\xaf", false},         /* overlong */
		{"\xed\xa0\x80", false},     /* a surrogate */
		{"\x80", false},             /* a continuation alone */
	};
	char buf[64];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t at = 0; at < 20; at++)
			for (size_t after = 0; after < 10; after++) {
				memset(buf, 'a', at);
				size_t l = strlen(cases[c].seq);
				memcpy(buf + at, cases[c].seq, l);
				memset(buf + at + l, 'b', after);
				buf[at + l + after] = '\0';
				ck_assert_msg(sw_utf8_valid(buf) == cases[c].ok, "case %zu at %zu, %zu after", c, at, after);
			}
	memset(buf, 'a', 40);
	buf[40] = '\0';
	ck_assert(sw_utf8_valid(buf));
	ck_assert(sw_utf8_valid(""));
}
END_TEST

/* The one-pass check of compact JSON objects (the store's evidence). */
START_TEST(json_compact_object)
{
	static const char *const good[] = {
		"{}", "{\"a\":1}", "{\"a\":-0.5e+10,\"b\":[true,false,null,\"x\"],\"c\":{\"d\":[]}}",
		"{\"a\":\"\\u00e9\\n\\\"\\\\\\/\"}", "{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", "{\"a\":0,\"a\":1E5}",
		"{\"a\":\"\\\\u0000\"}",
	};
	static const char *const bad[] = {
		"", "[]", "1", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{ \"a\":1}", "{\"a\": 1}", "{\"a\":1}\n",
		"{\"a\":1}x", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\u00g0\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\t\"}", "{\"a\":\"\xff\"}",
		"{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}", "{1:2}", "{\"a\":[1,]}", "{\"a\":[1 ]}", "{\"a\":\"x}",
	};
	char deep[200];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(sw_json_compact_object(good[i]), "good %zu: %s", i, good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!sw_json_compact_object(bad[i]), "bad %zu: %s", i, bad[i]);
	ck_assert(!sw_json_compact_object(NULL));
	/* 64 deep is checked, 65 is left to the slow way. */
	for (int depth = 63; depth <= 64; depth++) {
		n = 0;
		deep[n++] = '{';
		memcpy(deep + n, "\"a\":", 4);
		n += 4;
		for (int i = 0; i < depth; i++)
			deep[n++] = '[';
		for (int i = 0; i < depth; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		deep[n] = '\0';
		ck_assert_msg(sw_json_compact_object(deep) == (depth < 64), "depth %d", depth + 1);
	}
}
END_TEST

START_TEST(json_times)
{
	static const struct {
		json_t *(*fn)(int64_t);
		int64_t t;
		const char *want; /* NULL: JSON null */
	} cases[] = {
		{ sw_json_time, 1795161600, "2026-11-20T08:00:00Z" },
		{ sw_json_time, 1795161672, "2026-11-20T08:01:12Z" },
		{ sw_json_time, 0, "1970-01-01T00:00:00Z" },
		{ sw_json_time_or_null, 1795161672, "2026-11-20T08:01:12Z" },
		{ sw_json_time_or_null, 0, NULL },
		{ sw_json_time_or_null, -1, NULL },
		{ sw_json_day_or_null, 1795161672, "2026-11-20" },
		{ sw_json_day_or_null, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = cases[i].fn(cases[i].t);

		ck_assert_ptr_nonnull(j);
		if (cases[i].want == NULL)
			ck_assert_msg(json_is_null(j), "case %zu: not null", i);
		else
			ck_assert_str_eq(json_string_value(j), cases[i].want);
		json_decref(j);
	}
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_loop_test(tc, duration_parse_table, 0, sizeof(durations) / sizeof(durations[0]));
	tcase_add_test(tc, duration_format_shortest);
	tcase_add_loop_test(tc, time_parse_table, 0, sizeof(times) / sizeof(times[0]));
	tcase_add_test(tc, time_format_roundtrip);
	tcase_add_test(tc, date_parse);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, buf_grows_and_stays_terminated);
	tcase_add_test(tc, url_encode);
	tcase_add_loop_test(tc, url_check_table, 0, sizeof(urls) / sizeof(urls[0]));
	tcase_add_test(tc, url_check_null_why);
	tcase_add_loop_test(tc, url_origin_table, 0, sizeof(origins) / sizeof(origins[0]));
	tcase_add_test(tc, url_origin_small_buffer);
	tcase_add_loop_test(tc, proxy_check_table, 0, sizeof(proxies) / sizeof(proxies[0]));
	tcase_add_test(tc, proxy_for_decision);
	tcase_add_test(tc, diag_collects_errors_and_warnings);
	tcase_add_test(tc, free_secret_null);
	tcase_add_loop_test(tc, escape_text_table, 0, sizeof(escapes) / sizeof(escapes[0]));
	tcase_add_test(tc, escape_dup_and_embedded_nul);
	tcase_add_loop_test(tc, escape_markdown_table, 0, sizeof(markdowns) / sizeof(markdowns[0]));
	tcase_add_test(tc, ps_quote);
	tcase_add_loop_test(tc, csv_cell_table, 0, sizeof(csv_cells) / sizeof(csv_cells[0]));
	tcase_add_test(tc, redact);
	tcase_add_test(tc, redactor_many);
	tcase_add_test(tc, name_table);
	tcase_add_test(tc, name_tables_of_the_enums);
	tcase_add_test(tc, json_times);
	tcase_add_test(tc, json_compact_object);
	tcase_add_test(tc, utf8_valid_at_every_offset);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(util_suite)
