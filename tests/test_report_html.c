/* test_report_html.c: the HTML report: escaping, the SVG chart (axes, one
 * group per week, empty weeks, one sender), the page (verdict, sections,
 * nothing that runs or loads). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_main.h"
#include "report_html.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static char *escaped(const char *s)
{
	struct sw_buf b = {0};
	ck_assert_int_eq(sw_html_escape(&b, s), 0);
	ck_assert_int_eq(sw_buf_putc(&b, '\0'), 0); /* data non-NULL also when s was empty */
	return b.data;
}

START_TEST(escape)
{
	char *s = escaped("<script>alert(\"x\" + 'y')</script> & &amp;");
	ck_assert_str_eq(s, "&lt;script&gt;alert(&quot;x&quot; + &#39;y&#39;)&lt;/script&gt; &amp; &amp;amp;");
	free(s);
	s = escaped("a\x01" "b\x7f" "c\td\ne\xc3\xa9");
	ck_assert_str_eq(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td\ne\xc3\xa9");
	free(s);
	s = escaped("plain@contoso.com");
	ck_assert_str_eq(s, "plain@contoso.com");
	free(s);
	struct sw_buf b = {0};
	ck_assert_int_eq(sw_html_escape(&b, NULL), 0);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

static char *chart(const char *weeks_json, const char *measure)
{
	json_error_t err;
	json_t *w = json_loads(weeks_json, 0, &err);
	struct sw_buf b = {0};

	ck_assert_msg(w != NULL, "%s", err.text);
	ck_assert_int_eq(sw_report_svg_chart(w, measure, "Senders <per> week", &b), 0);
	json_decref(w);
	return b.data;
}

/* Three weeks, the middle one empty: three groups, bars only where there
 * were submissions, axes, ticks from 0 to a round top. */
START_TEST(chart_weeks)
{
	char *svg = chart("[{\"week\":\"2026-11-16\",\"basic_senders\":7,\"oauth_senders\":2},"
	                  "{\"week\":\"2026-11-23\",\"basic_senders\":0,\"oauth_senders\":0},"
	                  "{\"week\":\"2026-11-30\",\"basic_senders\":3,\"oauth_senders\":9}]",
	                  "senders");

	ck_assert_ptr_nonnull(strstr(svg, "<svg class=\"chart\" data-measure=\"senders\""));
	ck_assert(strncmp(svg + strlen(svg) - 7, "</svg>\n", 7) == 0);
	ck_assert_uint_eq(count(svg, "<g class=\"week\""), 3);
	ck_assert_ptr_nonnull(strstr(svg, "data-week=\"2026-11-16\""));
	ck_assert_ptr_nonnull(strstr(svg, "data-week=\"2026-11-30\""));
	/* The empty week: a group with its title and label, no bar. */
	const char *g = strstr(svg, "data-week=\"2026-11-23\"");
	ck_assert_ptr_nonnull(g);
	const char *end = strstr(g, "</g>");
	ck_assert_ptr_nonnull(strstr(g, "<title>week of 2026-11-23: Basic 0, OAuth 0 senders</title>"));
	ck_assert_ptr_null(memmem(g, (size_t)(end - g), "<rect", 5));
	ck_assert_ptr_nonnull(memmem(g, (size_t)(end - g), ">11-23</text>", 13));
	/* 4 bars, 2 in the legend. */
	ck_assert_uint_eq(count(svg, "<rect class=\"basic\""), 3);
	ck_assert_uint_eq(count(svg, "<rect class=\"oauth\""), 3);
	/* Both axes, ticks 0 2 4 6 8 10 (max 9, step 2). */
	ck_assert_uint_eq(count(svg, "<line class=\"axis\""), 2);
	ck_assert_uint_eq(count(svg, "<text class=\"tick\""), 6);
	ck_assert_ptr_nonnull(strstr(svg, "text-anchor=\"end\">0</text>"));
	ck_assert_ptr_nonnull(strstr(svg, "text-anchor=\"end\">10</text>"));
	ck_assert_ptr_null(strstr(svg, "text-anchor=\"end\">12</text>"));
	/* The title is escaped; nothing that runs. */
	ck_assert_ptr_nonnull(strstr(svg, "Senders &lt;per&gt; week"));
	ck_assert_ptr_null(strcasestr(svg, "<script"));
	for (char d = '0'; d <= '9'; d++) /* no locale decimal commas in coordinates */
		ck_assert_ptr_null(strstr(svg, (char[]){',', d, '\0'}));
	free(svg);
}
END_TEST

/* One sender in one week: ticks 0 and 1, the bar the plot's full height. */
START_TEST(chart_one_sender)
{
	char *svg = chart("[{\"week\":\"2026-11-30\",\"basic_senders\":1,\"oauth_senders\":0}]", "senders");

	ck_assert_uint_eq(count(svg, "<g class=\"week\""), 1);
	ck_assert_uint_eq(count(svg, "<text class=\"tick\""), 2);
	ck_assert_ptr_nonnull(strstr(svg, "text-anchor=\"end\">1</text>"));
	/* Plot from y=34 to y=194: a full bar starts at 34, 160 high. */
	ck_assert_ptr_nonnull(strstr(svg, "y=\"34\" width="));
	ck_assert_ptr_nonnull(strstr(svg, "height=\"160\"/>"));
	ck_assert_uint_eq(count(svg, "<rect class=\"oauth\""), 1); /* the legend only */
	free(svg);

	/* Messages: the other keys; nothing at all: still axes, ticks 0 and 1. */
	svg = chart("[{\"week\":\"2026-11-30\",\"basic_messages\":0,\"oauth_messages\":0}]", "messages");
	ck_assert_uint_eq(count(svg, "<line class=\"axis\""), 2);
	ck_assert_uint_eq(count(svg, "<text class=\"tick\""), 2);
	ck_assert_uint_eq(count(svg, "<rect"), 2);
	free(svg);
	svg = chart("[]", "senders");
	ck_assert_ptr_nonnull(strstr(svg, "no weeks in the period"));
	free(svg);

	struct sw_buf b = {0};
	json_t *none = json_array();
	ck_assert_int_eq(sw_report_svg_chart(none, "bytes", "x", &b), -EINVAL);
	json_decref(none);
	free(b.data);
}
END_TEST

/* Many weeks: a label only every few, a group for each. */
START_TEST(chart_many_weeks)
{
	json_t *w = json_array();
	struct sw_buf b = {0};
	char day[16];

	for (int i = 0; i < 53; i++) {
		snprintf(day, sizeof(day), "2026-%02d-%02d", 1 + i / 5, 1 + i % 28);
		json_array_append_new(w, json_pack("{s:s,s:i,s:i}", "week", day, "basic_messages", i * 1000,
		                                   "oauth_messages", 53000 - i * 1000));
	}
	ck_assert_int_eq(sw_report_svg_chart(w, "messages", "Messages", &b), 0);
	ck_assert_uint_eq(count(b.data, "<g class=\"week\""), 53);
	ck_assert_uint_lt(count(b.data, "class=\"week-label\""), 15);
	ck_assert_ptr_nonnull(strstr(b.data, "text-anchor=\"end\">60000</text>"));
	json_decref(w);
	free(b.data);
}
END_TEST

static const char doc_json[] =
	"{\"generated\":\"2027-01-05T08:00:00Z\",\"since\":\"2026-10-07\",\"period_days\":90,"
	"\"basic_default_off\":\"2026-12-31\",\"tenants\":[{\"tenant\":\"contoso\",\"tenant_id\":\"contoso.onmicrosoft.com\","
	"\"state_text\":\"2 senders still submit with Basic\",\"basic\":[{},{}],\"oauth\":[{}],"
	"\"verdict\":{\"control\":\"CIS 1.3.2\",\"result\":\"not-compliant\",\"text\":\"not compliant: 1 of 3 checks fail\","
	"\"checks\":[{\"id\":\"smtp-auth-tenant\",\"title\":\"SMTP AUTH disabled tenant-wide\",\"status\":\"pass\","
	"\"evidence\":\"SmtpClientAuthenticationDisabled is True\"},{\"id\":\"exceptions-registered\",\"title\":\"t2\","
	"\"status\":\"fail\",\"evidence\":\"<script>x@contoso.com (not in the register)\"},{\"id\":\"legacy-auth-blocked\","
	"\"title\":\"t3\",\"status\":\"not-evaluated\",\"evidence\":\"no snapshot\"}]},"
	"\"chart\":[{\"week\":\"2026-12-28\",\"basic_senders\":2,\"basic_messages\":40,\"oauth_senders\":1,"
	"\"oauth_messages\":9},{\"week\":\"2027-01-04\",\"basic_senders\":0,\"basic_messages\":0,\"oauth_senders\":0,"
	"\"oauth_messages\":0}],"
	"\"inventory\":[{\"sender\":\"<script>alert(1)</script>@contoso.com\",\"auth\":\"Basic\",\"register\":\"not registered\","
	"\"messages_30d\":3,\"signins_30d\":1,\"owner\":null},{\"sender\":\"scanner-hq@contoso.com\",\"auth\":\"both\","
	"\"owner\":\"Facilities \\\"HQ\\\" & Co\",\"device\":\"Ricoh MP C3004\",\"criticality\":\"high\","
	"\"migration\":\"in-progress\",\"expires\":\"2027-01-31\",\"register\":\"approved\"}],"
	"\"exceptions\":[{\"mailbox\":\"old@contoso.com\",\"status\":\"expired\",\"days_left\":-3,\"expires\":\"2027-01-01\"},"
	"{\"mailbox\":\"soon@contoso.com\",\"status\":\"expiring\",\"days_left\":5},"
	"{\"mailbox\":\"scanner-hq@contoso.com\",\"status\":\"valid\",\"days_left\":26}],"
	"\"alerts\":[{\"severity\":\"high\",\"rule\":\"unapproved-basic-auth-submission\",\"subject\":"
	"\"<img src=x onerror=alert(1)>@c.com\",\"summary\":\"a\",\"count\":3,\"acked\":false}],"
	"\"alerts_open\":{\"critical\":0,\"high\":1,\"medium\":0,\"low\":0,\"info\":0},"
	"\"changes\":{\"configured\":false,\"text\":\"the audit source is not configured\",\"changes\":[]},"
	"\"silent\":[{\"sender\":\"printer@contoso.com\",\"silent_since\":\"2027-01-02\",\"basic_days\":12,"
	"\"now_on\":\"oauth\",\"device\":\"HP\"}]}]}";

static char *page(const char *json)
{
	json_error_t err;
	json_t *doc = json_loads(json, 0, &err);
	struct sw_buf b = {0};

	ck_assert_msg(doc != NULL, "%s", err.text);
	ck_assert_int_eq(sw_report_html(doc, &b), 0);
	json_decref(doc);
	return b.data;
}

START_TEST(page_sections)
{
	char *html = page(doc_json);

	ck_assert(strncmp(html, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
	ck_assert_ptr_nonnull(strstr(html, "</html>\n"));
	ck_assert_ptr_nonnull(strstr(html, "<meta charset=\"utf-8\">"));
	ck_assert_ptr_nonnull(strstr(html, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
	ck_assert_ptr_nonnull(strstr(html, "@media print"));
	/* The verdict and its checks. */
	ck_assert_ptr_nonnull(strstr(html, "data-verdict=\"not-compliant\">Not compliant: not compliant: 1 of 3"));
	ck_assert_ptr_nonnull(strstr(html, "status-pass\">PASS<"));
	ck_assert_ptr_nonnull(strstr(html, "status-fail\">FAIL<"));
	ck_assert_ptr_nonnull(strstr(html, "status-not-evaluated\">NOT EVALUATED<"));
	ck_assert_ptr_nonnull(strstr(html, "CIS Microsoft 365 Foundations Benchmark 1.3.2"));
	ck_assert_ptr_nonnull(strstr(html, "BIO 09.04.02"));
	ck_assert_ptr_nonnull(strstr(html, "ISO/IEC 27001 A.9.4.2"));
	ck_assert_ptr_nonnull(strstr(html, "NIS2 article 21"));
	/* Two charts of two weeks each. */
	ck_assert_uint_eq(count(html, "<svg class=\"chart\""), 2);
	ck_assert_uint_eq(count(html, "data-week=\"2026-12-28\""), 2);
	/* The inventory, the register's words escaped. */
	ck_assert_ptr_nonnull(strstr(html, "Inventory: every sender seen with SMTP AUTH (2)"));
	ck_assert_ptr_nonnull(strstr(html, "<td>Facilities &quot;HQ&quot; &amp; Co</td><td>Ricoh MP C3004</td>"
	                                   "<td>high</td><td>in-progress</td><td>2027-01-31</td>"));
	/* Exceptions: expired and expiring marked. */
	ck_assert_ptr_nonnull(strstr(html, "<tr class=\"expired\"><td>old@contoso.com</td><td><span class=\"mark\">"
	                                   "EXPIRED</span>"));
	ck_assert_ptr_nonnull(strstr(html, "<tr class=\"expiring\"><td>soon@contoso.com</td><td><span class=\"mark\">"
	                                   "EXPIRING</span>"));
	ck_assert(strstr(html, "old@contoso.com") < strstr(html, "soon@contoso.com"));
	/* Alerts, changes, silent senders. */
	ck_assert_ptr_nonnull(strstr(html, "<span class=\"sev sev-high\">high</span>"));
	ck_assert_ptr_nonnull(strstr(html, "<p class=\"changes-unconfigured\">the audit source is not configured</p>"));
	ck_assert_ptr_nonnull(strstr(html, "<td>printer@contoso.com</td><td>2027-01-02</td><td>12</td>"));
	ck_assert_ptr_nonnull(strstr(html, "now on OAuth"));
	/* Hostile strings are text, and nothing runs or loads. */
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;@contoso.com"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;img src=x onerror=alert(1)&gt;@c.com"));
	ck_assert_ptr_null(strcasestr(html, "<script"));
	ck_assert_ptr_null(strcasestr(html, "<img"));
	ck_assert_ptr_null(strcasestr(html, "src=\""));
	ck_assert_ptr_null(strcasestr(html, "href="));
	ck_assert_ptr_null(strcasestr(html, "http://"));
	ck_assert_ptr_null(strcasestr(html, "https://"));
	ck_assert_ptr_null(strcasestr(html, "url("));
	ck_assert_ptr_null(strcasestr(html, "@import"));
	free(html);
}
END_TEST

/* Configured changes list who; an empty document still makes a page. */
START_TEST(page_changes_and_empty)
{
	char *html = page("{\"tenants\":[{\"tenant\":\"t\",\"changes\":{\"configured\":true,\"text\":\"1 change\","
	                  "\"changes\":[{\"at\":\"2027-01-03T10:00:00Z\",\"who\":\"admin@contoso.com\",\"ip\":\"198.51.100.20\",\"operation\":"
	                  "\"Set-CASMailbox\",\"subject\":\"x@contoso.com\",\"setting\":\"SmtpClientAuthenticationDisabled\","
	                  "\"value\":\"False\",\"effect\":\"on\"}]}}]}");

	ck_assert_ptr_nonnull(strstr(html, "<td>2027-01-03T10:00:00Z</td><td>admin@contoso.com</td><td>198.51.100.20</td>"
	                                   "<td>Set-CASMailbox</td>"));
	ck_assert_ptr_nonnull(strstr(html, "no sender seen with SMTP AUTH"));
	ck_assert_ptr_nonnull(strstr(html, "no open alerts"));
	ck_assert_ptr_nonnull(strstr(html, "no weeks in the period"));
	ck_assert_ptr_nonnull(strstr(html, "data-verdict=\"\">Unknown"));
	free(html);
	html = page("{}");
	ck_assert_ptr_nonnull(strstr(html, "no tenant in this report"));
	free(html);
}
END_TEST

/* The page in pieces with only the summary parts kept (a report of
 * thousands of tenants renders each section as it comes): byte for byte
 * the page of the whole document, for tenants with and without the
 * fields the summary reads. */
START_TEST(page_from_summary_parts)
{
	static const char *const docs[] = {doc_json, "{\"tenants\":[{\"tenant\":\"t\"},{}]}", "{}"};

	for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
		json_t *doc = json_loads(docs[k], 0, NULL), *slim, *parts = json_array(), *t;
		struct sw_buf whole = {0}, pieces = {0};
		size_t i;

		ck_assert_ptr_nonnull(doc);
		ck_assert_int_eq(sw_report_html(doc, &whole), 0);
		slim = json_deep_copy(doc);
		json_array_foreach(json_object_get(doc, "tenants"), i, t) {
			json_t *part = sw_report_html_summary_part(t);
			ck_assert_ptr_nonnull(part);
			json_array_append_new(parts, part);
		}
		if (json_object_get(doc, "tenants") != NULL)
			json_object_set(slim, "tenants", parts);
		ck_assert_int_eq(sw_report_html_begin(slim, &pieces), 0);
		json_array_foreach(json_object_get(doc, "tenants"), i, t) ck_assert_int_eq(sw_report_html_tenant(t, &pieces), 0);
		ck_assert_int_eq(sw_report_html_end(&pieces), 0);
		ck_assert_uint_eq(pieces.len, whole.len);
		ck_assert_str_eq(pieces.data, whole.data);
		sw_buf_clear(&whole);
		sw_buf_clear(&pieces);
		json_decref(parts);
		json_decref(slim);
		json_decref(doc);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("report_html");
	TCase *tc = tcase_create("html");

	tcase_add_test(tc, escape);
	tcase_add_test(tc, chart_weeks);
	tcase_add_test(tc, chart_one_sender);
	tcase_add_test(tc, chart_many_weeks);
	tcase_add_test(tc, page_sections);
	tcase_add_test(tc, page_changes_and_empty);
	tcase_add_test(tc, page_from_summary_parts);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(suite)
