/* report_html.c: the report for people as one HTML file (see
 * report_html.h). */
#include "report_html.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* See report_html.h. */
int sw_html_escape(struct sw_buf *out, const char *s)
{
	const char *run = s;
	int r = 0;

	if (s == NULL)
		return 0;
	for (const char *p = s; r >= 0 && *p; p++) {
		const char *rep;
		unsigned char c = (unsigned char)*p;
		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			rep = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ? "\xef\xbf\xbd" : NULL;
		}
		if (rep == NULL)
			continue;
		r = sw_buf_append(out, run, (size_t)(p - run));
		if (r >= 0)
			r = sw_buf_append(out, rep, strlen(rep));
		run = p + 1;
	}
	if (r >= 0)
		r = sw_buf_append(out, run, strlen(run));
	return r < 0 ? -ENOMEM : 0;
}

/* ---- a writer that remembers its first failure ---- */

struct html {
	struct sw_buf *b;
	int r;
};

static void raw(struct html *h, const char *s)
{
	if (h->r >= 0)
		h->r = sw_buf_append(h->b, s, strlen(s));
}

static void fmt(struct html *h, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(struct html *h, const char *f, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	if (h->r < 0)
		return;
	va_start(ap, f);
	n = vsnprintf(tmp, sizeof(tmp), f, ap);
	va_end(ap);
	/* Only numbers and fixed words go through fmt: never cut. */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		h->r = -EINVAL;
		return;
	}
	h->r = sw_buf_append(h->b, tmp, (size_t)n);
}

static void esc(struct html *h, const char *s)
{
	if (h->r >= 0)
		h->r = sw_html_escape(h->b, s);
}

/* A JSON value as cell text: strings escaped, integers, null or absent
 * as an em dash. */
static void val(struct html *h, const json_t *v)
{
	if (json_is_string(v) && json_string_length(v) > 0)
		esc(h, json_string_value(v));
	else if (json_is_integer(v))
		fmt(h, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_true(v))
		raw(h, "yes");
	else if (json_is_false(v))
		raw(h, "no");
	else
		raw(h, "\xe2\x80\x94");
}

static void key(struct html *h, const json_t *o, const char *k)
{
	val(h, json_object_get(o, k));
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* A class name from a value we chose (status words): letters, digits and
 * '-' kept, anything else '-', so it can never leave the attribute. */
static void cls(struct html *h, const char *s)
{
	char c[40];
	size_t i;

	for (i = 0; s[i] && i < sizeof(c) - 1; i++)
		c[i] = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ? s[i] : '-';
	c[i] = '\0';
	raw(h, c);
}

/* <td>value</td> for each key. */
static void cells(struct html *h, const json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		raw(h, "<td>");
		key(h, o, *keys);
		raw(h, "</td>");
	}
}

static void thead(struct html *h, const char *const *names)
{
	raw(h, "<thead><tr>");
	for (; *names; names++) {
		raw(h, "<th>");
		raw(h, *names);
		raw(h, "</th>");
	}
	raw(h, "</tr></thead>\n<tbody>\n");
}

static void empty_row(struct html *h, int cols, const char *text)
{
	fmt(h, "<tr class=\"none\"><td colspan=\"%d\">", cols);
	raw(h, text);
	raw(h, "</td></tr>\n");
}

/* ---- the chart ---- */

/* Coordinates in tenths of a pixel, written without the locale. */
static void px(struct html *h, int64_t tenths)
{
	if (tenths % 10 == 0)
		fmt(h, "%" PRId64, tenths / 10);
	else
		fmt(h, "%s%" PRId64 ".%" PRId64, tenths < 0 ? "-" : "", (tenths < 0 ? -tenths : tenths) / 10,
		    (tenths < 0 ? -tenths : tenths) % 10);
}

/* The tick step: 1, 2 or 5 times a power of ten, giving at most 5 ticks. */
static int64_t tick_step(int64_t max)
{
	int64_t p = 1;

	for (;;) {
		if (p * 5 >= max)
			return p;
		if (p * 2 * 5 >= max)
			return p * 2;
		if (p * 5 * 5 >= max)
			return p * 5;
		p *= 10;
	}
}

#define SVG_W 720
#define SVG_H 240
#define PLOT_L 64
#define PLOT_R 12
#define PLOT_T 34
#define PLOT_B 46

/* See report_html.h. */
int sw_report_svg_chart(const json_t *weeks, const char *measure, const char *title, struct sw_buf *out)
{
	struct html h = {out, 0};
	char kb[32], ko[32];
	size_t n = json_array_size(weeks), i;
	int64_t max = 0;
	const json_t *w;

	if (strcmp(measure, "senders") != 0 && strcmp(measure, "messages") != 0)
		return -EINVAL;
	snprintf(kb, sizeof(kb), "basic_%s", measure);
	snprintf(ko, sizeof(ko), "oauth_%s", measure);
	json_array_foreach(weeks, i, w) {
		int64_t b = json_integer_value(json_object_get(w, kb)), o = json_integer_value(json_object_get(w, ko));
		if (b > max)
			max = b;
		if (o > max)
			max = o;
	}
	int64_t step = tick_step(max > 0 ? max : 1);
	int64_t top = max > 0 ? (max + step - 1) / step * step : step;
	/* In tenths of a pixel. */
	int64_t pl = PLOT_L * 10, pr = (SVG_W - PLOT_R) * 10, pt = PLOT_T * 10, pb = (SVG_H - PLOT_B) * 10;
	int64_t gw = n ? (pr - pl) / (int64_t)n : 0, bw = gw * 35 / 100;
	/* Every week's label while they fit, else every k-th. */
	size_t every = n <= 14 ? 1 : (n + 13) / 14;

	fmt(&h, "<svg class=\"chart\" data-measure=\"%s\" viewBox=\"0 0 %d %d\" "
	        "role=\"img\" aria-label=\"", measure, SVG_W, SVG_H);
	esc(&h, title);
	raw(&h, "\">\n<text class=\"chart-title\" x=\"4\" y=\"16\">");
	esc(&h, title);
	raw(&h, "</text>\n");
	/* Legend. */
	fmt(&h, "<g class=\"legend\"><rect class=\"basic\" x=\"%d\" y=\"6\" width=\"12\" height=\"12\"/>"
	        "<text x=\"%d\" y=\"16\">Basic</text><rect class=\"oauth\" x=\"%d\" y=\"6\" width=\"12\" height=\"12\"/>"
	        "<text x=\"%d\" y=\"16\">OAuth</text></g>\n", SVG_W - 150, SVG_W - 134, SVG_W - 80, SVG_W - 64);
	/* The y axis: grid lines and ticks from 0 to top. */
	raw(&h, "<g class=\"y-axis\">");
	for (int64_t v = 0; v <= top; v += step) {
		int64_t y = pb - (pb - pt) * v / top;
		raw(&h, "<line class=\"grid\" x1=\"");
		px(&h, pl);
		raw(&h, "\" x2=\"");
		px(&h, pr);
		raw(&h, "\" y1=\"");
		px(&h, y);
		raw(&h, "\" y2=\"");
		px(&h, y);
		raw(&h, "\"/><text class=\"tick\" x=\"");
		px(&h, pl - 60);
		raw(&h, "\" y=\"");
		px(&h, y + 40);
		fmt(&h, "\" text-anchor=\"end\">%" PRId64 "</text>", v);
	}
	raw(&h, "<line class=\"axis\" x1=\"");
	px(&h, pl);
	raw(&h, "\" x2=\"");
	px(&h, pl);
	raw(&h, "\" y1=\"");
	px(&h, pt);
	raw(&h, "\" y2=\"");
	px(&h, pb);
	raw(&h, "\"/></g>\n<g class=\"x-axis\"><line class=\"axis\" x1=\"");
	px(&h, pl);
	raw(&h, "\" x2=\"");
	px(&h, pr);
	raw(&h, "\" y1=\"");
	px(&h, pb);
	raw(&h, "\" y2=\"");
	px(&h, pb);
	fmt(&h, "\"/><text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">week of (Monday, UTC)</text>"
	        "</g>\n", (PLOT_L + SVG_W - PLOT_R) / 2, SVG_H - 6);
	/* One group per week. */
	json_array_foreach(weeks, i, w) {
		const char *week = str(w, "week");
		int64_t b = json_integer_value(json_object_get(w, kb)), o = json_integer_value(json_object_get(w, ko));
		int64_t x = pl + gw * (int64_t)i, hb = (pb - pt) * b / top, ho = (pb - pt) * o / top;

		raw(&h, "<g class=\"week\" data-week=\"");
		esc(&h, week);
		raw(&h, "\"><title>week of ");
		esc(&h, week);
		fmt(&h, ": Basic %" PRId64 ", OAuth %" PRId64 " %s</title>", b, o, measure);
		if (b > 0) {
			raw(&h, "<rect class=\"basic\" x=\"");
			px(&h, x + gw * 12 / 100);
			raw(&h, "\" y=\"");
			px(&h, pb - hb);
			raw(&h, "\" width=\"");
			px(&h, bw > 10 ? bw : 10);
			raw(&h, "\" height=\"");
			px(&h, hb > 10 ? hb : 10);
			raw(&h, "\"/>");
		}
		if (o > 0) {
			raw(&h, "<rect class=\"oauth\" x=\"");
			px(&h, x + gw * 53 / 100);
			raw(&h, "\" y=\"");
			px(&h, pb - ho);
			raw(&h, "\" width=\"");
			px(&h, bw > 10 ? bw : 10);
			raw(&h, "\" height=\"");
			px(&h, ho > 10 ? ho : 10);
			raw(&h, "\"/>");
		}
		if (i % every == 0 && strlen(week) == 10) {
			raw(&h, "<text class=\"week-label\" x=\"");
			px(&h, x + gw / 2);
			raw(&h, "\" y=\"");
			px(&h, pb + 160);
			raw(&h, "\" text-anchor=\"middle\">");
			esc(&h, week + 5); /* MM-DD: the year is in the title */
			raw(&h, "</text>");
		}
		raw(&h, "</g>\n");
	}
	if (n == 0) {
		fmt(&h, "<text class=\"no-data\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">no weeks in the period</text>\n",
		    (PLOT_L + SVG_W - PLOT_R) / 2, (PLOT_T + SVG_H - PLOT_B) / 2);
	}
	raw(&h, "</svg>\n");
	return h.r < 0 ? -ENOMEM : 0;
}

/* ---- the page ---- */

static const char css[] =
	"*{box-sizing:border-box}"
	"body{font-family:\"DejaVu Sans\",\"Segoe UI\",Arial,sans-serif;font-size:10.5pt;color:#1b1b1b;margin:0 auto;"
	"max-width:1100px;padding:16px 24px;line-height:1.35}"
	"h1{font-size:18pt;margin:0 0 4px}h2{font-size:14pt;margin:28px 0 6px;border-bottom:2px solid #333}"
	"h3{font-size:11.5pt;margin:18px 0 6px}p{margin:4px 0 8px}"
	".meta{color:#555}"
	"table{border-collapse:collapse;width:100%;margin:4px 0 12px;font-size:9pt}"
	"th,td{border:1px solid #bbb;padding:3px 5px;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
	"th{background:#eceff1;overflow-wrap:normal}tr.none td{color:#666;font-style:italic}"
	"td.num,th.num{text-align:right}"
	".summary td:first-child,.inventory td:nth-child(2),.inventory td:nth-child(3),.inventory td:nth-child(4),"
	".exceptions td:nth-child(3),.alerts td:first-child,.silent td:nth-child(2){white-space:nowrap}"
	".verdict{border:2px solid;padding:8px 12px;margin:8px 0;font-weight:bold}"
	".verdict-compliant{border-color:#1e7d32;background:#e8f5e9}"
	".verdict-not-compliant{border-color:#b71c1c;background:#ffebee}"
	".verdict-incomplete{border-color:#b26a00;background:#fff8e1}"
	".status{font-weight:bold;white-space:nowrap}"
	".status-pass{color:#1e7d32}.status-fail{color:#b71c1c}.status-not-evaluated{color:#b26a00}"
	"tr.expired td{background:#ffebee}tr.expiring td{background:#fff8e1}tr.not-registered td{background:#ffebee}"
	".mark{font-weight:bold}"
	".sev-critical{color:#fff;background:#b71c1c}.sev-high{color:#fff;background:#e65100}"
	".sev-medium{background:#ffe082}.sev-low{background:#e3f2fd}.sev-info{background:#eceff1}"
	".sev{padding:0 4px;border-radius:3px;white-space:nowrap}"
	"tr.auth-basic td:nth-child(2),tr.auth-both td:nth-child(2){color:#b71c1c;font-weight:bold}"
	"svg.chart{width:100%;max-width:720px;height:auto;display:block;margin:6px 0}"
	"svg .basic{fill:#c62828}svg .oauth{fill:#1565c0}"
	"svg .grid{stroke:#ddd;stroke-width:1}svg .axis{stroke:#333;stroke-width:1.2}"
	"svg text{font-size:11px;fill:#333}svg .chart-title{font-size:13px;font-weight:bold}"
	"svg .week-label{font-size:10px}"
	".frameworks{font-size:9pt;color:#333;border-left:3px solid #999;padding-left:8px}"
	"footer{margin-top:24px;font-size:8.5pt;color:#666}"
	"@page{size:A4;margin:14mm 12mm}"
	"@media print{body{max-width:none;padding:0;font-size:9.5pt}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	"section.tenant{break-before:page}thead{display:table-header-group}"
	"tr,.verdict,figure,svg{break-inside:avoid}h2,h3{break-after:avoid}}";

/* The period and the document's time, at the top. */
static void page_head(struct html *h, const json_t *doc)
{
	raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	       "<meta name=\"generator\" content=\"smtpwatch\">\n<title>SMTP AUTH report ");
	key(h, doc, "generated");
	raw(h, "</title>\n<style>");
	raw(h, css);
	raw(h, "</style>\n</head>\n<body>\n<header>\n<h1>SMTP AUTH: Basic authentication retirement and CIS 1.3.2</h1>\n"
	       "<p class=\"meta\">Generated <span id=\"generated\">");
	key(h, doc, "generated");
	raw(h, "</span>; period from <span id=\"since\">");
	key(h, doc, "since");
	raw(h, "</span> (");
	key(h, doc, "period_days");
	raw(h, " days). Microsoft disables Basic SMTP AUTH by default for existing tenants at the end of December "
	       "2026 (after ");
	key(h, doc, "basic_default_off");
	raw(h, ").</p>\n</header>\n");
}

static const char *verdict_label(const char *result)
{
	return strcmp(result, "compliant") == 0       ? "Compliant"
	       : strcmp(result, "not-compliant") == 0 ? "Not compliant"
	       : strcmp(result, "incomplete") == 0    ? "Incomplete"
	                                              : "Unknown";
}

static const char *status_label(const char *status)
{
	return strcmp(status, "pass") == 0 ? "PASS" : strcmp(status, "fail") == 0 ? "FAIL" : "NOT EVALUATED";
}

/* The management summary: one line per tenant, and what the report is
 * evidence for. */
/* The senders of a tenant's list: the list, or its length in a summary
 * part (sw_report_html_summary_part). */
static size_t senders(const json_t *t, const char *list)
{
	const json_t *v = json_object_get(t, list);

	return json_is_integer(v) ? (size_t)json_integer_value(v) : json_array_size(v);
}

static void summary(struct html *h, const json_t *tenants)
{
	const json_t *t;
	size_t i;

	raw(h, "<section id=\"summary\">\n<h2>Management summary</h2>\n<table class=\"summary\">");
	thead(h, (const char *[]){"Tenant", "CIS 1.3.2", "Readiness for the Basic cutoff", "Basic senders",
	                          "OAuth senders", "Open alerts", NULL});
	json_array_foreach(tenants, i, t) {
		const json_t *v = json_object_get(t, "verdict"), *ao = json_object_get(t, "alerts_open");
		json_int_t open = 0;
		const char *k;
		json_t *n;
		json_object_foreach((json_t *)ao, k, n) open += json_integer_value(n);
		raw(h, "<tr><td>");
		key(h, t, "tenant");
		raw(h, "</td><td><span class=\"status status-");
		cls(h, strcmp(str(v, "result"), "compliant") == 0 ? "pass"
		       : strcmp(str(v, "result"), "not-compliant") == 0 ? "fail" : "not-evaluated");
		raw(h, "\">");
		raw(h, verdict_label(str(v, "result")));
		raw(h, "</span></td><td>");
		key(h, t, "state_text");
		fmt(h, "</td><td class=\"num\">%zu</td><td class=\"num\">%zu</td><td class=\"num\">%" JSON_INTEGER_FORMAT
		       "</td></tr>\n", senders(t, "basic"), senders(t, "oauth"), open);
	}
	if (json_array_size(tenants) == 0)
		empty_row(h, 6, "no tenant in this report");
	raw(h, "</tbody></table>\n<p class=\"frameworks\">This report is the evidence for <b>CIS Microsoft 365 "
	       "Foundations Benchmark 1.3.2</b> (Ensure SMTP AUTH is disabled), and for the controls on secure log-on "
	       "that ask the same of client submission: <b>BIO 09.04.02</b> (Baseline Informatiebeveiliging Overheid, "
	       "beveiligde inlogprocedures), <b>ISO/IEC 27001 A.9.4.2</b> (secure log-on procedures; A.8.5 in the 2022 "
	       "edition) and <b>NIS2 article 21</b> (cybersecurity risk-management measures: access control and "
	       "authentication, 21(2)(i) and (j)). Basic SMTP AUTH sends a mailbox password with every message and "
	       "cannot use multi-factor authentication; each sender still on it needs an owner, a registered "
	       "exception with an end date, and a move to OAuth.</p>\n</section>\n");
}

static void verdict(struct html *h, const json_t *v)
{
	const json_t *c;
	size_t i;

	raw(h, "<h3>Verdict: CIS 1.3.2, Ensure SMTP AUTH is disabled</h3>\n<div class=\"verdict verdict-");
	cls(h, str(v, "result"));
	raw(h, "\" data-verdict=\"");
	cls(h, str(v, "result"));
	raw(h, "\">");
	raw(h, verdict_label(str(v, "result")));
	raw(h, ": ");
	key(h, v, "text");
	raw(h, "</div>\n<table class=\"checks\">");
	thead(h, (const char *[]){"Check", "Result", "Evidence", NULL});
	json_array_foreach(json_object_get(v, "checks"), i, c) {
		raw(h, "<tr data-check=\"");
		esc(h, str(c, "id"));
		raw(h, "\"><td>");
		key(h, c, "title");
		raw(h, "</td><td><span class=\"status status-");
		cls(h, str(c, "status"));
		raw(h, "\">");
		raw(h, status_label(str(c, "status")));
		raw(h, "</span></td><td>");
		key(h, c, "evidence");
		raw(h, "</td></tr>\n");
	}
	if (json_array_size(json_object_get(v, "checks")) == 0)
		empty_row(h, 3, "no checks in the document");
	raw(h, "</tbody></table>\n");
}

/* The figures of the chart as a table too: readable by a screen reader
 * and exact where bars are not. */
static void chart(struct html *h, const json_t *weeks)
{
	const json_t *w;
	size_t i;

	raw(h, "<h3>Basic vs OAuth, per week</h3>\n<figure class=\"charts\">\n");
	if (h->r >= 0)
		h->r = sw_report_svg_chart(weeks, "senders", "Senders per week", h->b);
	if (h->r >= 0)
		h->r = sw_report_svg_chart(weeks, "messages", "Messages per week", h->b);
	raw(h, "<figcaption>Successful SMTP AUTH submissions, from the Entra sign-in logs and the imported SMTP AUTH "
	       "clients reports (a day both show counts once). Red: Basic authentication; blue: OAuth.</figcaption>\n"
	       "</figure>\n<table class=\"chart-data\">");
	thead(h, (const char *[]){"Week of", "Basic senders", "OAuth senders", "Basic messages", "OAuth messages", NULL});
	json_array_foreach(weeks, i, w) {
		raw(h, "<tr><td>");
		key(h, w, "week");
		raw(h, "</td><td class=\"num\">");
		key(h, w, "basic_senders");
		raw(h, "</td><td class=\"num\">");
		key(h, w, "oauth_senders");
		raw(h, "</td><td class=\"num\">");
		key(h, w, "basic_messages");
		raw(h, "</td><td class=\"num\">");
		key(h, w, "oauth_messages");
		raw(h, "</td></tr>\n");
	}
	if (json_array_size(weeks) == 0)
		empty_row(h, 5, "no weeks");
	raw(h, "</tbody></table>\n");
}

static void inventory(struct html *h, const json_t *list)
{
	static const char *const keys[] = {"first_seen", "last_seen", "messages_30d", "signins_30d", "register",
	                                   "owner", "device", "criticality", "migration", "expires", NULL};
	const json_t *e;
	size_t i;

	fmt(h, "<h3>Inventory: every sender seen with SMTP AUTH (%zu)</h3>\n<table class=\"inventory\">",
	    json_array_size(list));
	thead(h, (const char *[]){"Sender", "Auth", "First seen", "Last seen", "Messages (30 d)", "Sign-ins (30 d)",
	                          "Register", "Owner", "Device", "Criticality", "Migration", "Expires", NULL});
	json_array_foreach(list, i, e) {
		raw(h, "<tr class=\"auth-");
		cls(h, str(e, "auth"));
		raw(h, "\"><td class=\"sender\">");
		key(h, e, "sender");
		raw(h, "</td><td>");
		key(h, e, "auth");
		raw(h, "</td>");
		cells(h, e, keys);
		raw(h, "</tr>\n");
	}
	if (json_array_size(list) == 0)
		empty_row(h, 12, "no sender seen with SMTP AUTH");
	raw(h, "</tbody></table>\n");
}

static void exceptions(struct html *h, const json_t *list)
{
	static const char *const keys[] = {"expires", "days_left", "owner", "ticket", "device", "migration",
	                                   "smtp_auth", NULL};
	const json_t *e;
	size_t i;

	fmt(h, "<h3>Exceptions by expiry (%zu)</h3>\n<table class=\"exceptions\">", json_array_size(list));
	thead(h, (const char *[]){"Mailbox", "Status", "Expires", "Days left", "Owner", "Ticket", "Device", "Migration",
	                          "SMTP AUTH now", NULL});
	json_array_foreach(list, i, e) {
		const char *st = str(e, "status");
		bool mark = strcmp(st, "valid") != 0;
		raw(h, "<tr class=\"");
		cls(h, st);
		raw(h, "\"><td>");
		key(h, e, "mailbox");
		raw(h, "</td><td>");
		if (mark)
			raw(h, "<span class=\"mark\">");
		raw(h, strcmp(st, "expired") == 0 ? "EXPIRED" : strcmp(st, "expiring") == 0 ? "EXPIRING"
		       : strcmp(st, "not registered") == 0 ? "NOT REGISTERED" : "valid");
		if (mark)
			raw(h, "</span>");
		raw(h, "</td>");
		cells(h, e, keys);
		raw(h, "</tr>\n");
	}
	if (json_array_size(list) == 0)
		empty_row(h, 9, "no exceptions: the register is empty and no mailbox has its own SMTP AUTH switch on");
	raw(h, "</tbody></table>\n");
}

static void alerts(struct html *h, const json_t *list, const json_t *counts)
{
	static const char *const sev[] = {"critical", "high", "medium", "low", "info"};
	static const char *const keys[] = {"subject", "summary", "first_seen", "last_seen", "count", "acked", NULL};
	const json_t *a;
	size_t i;

	raw(h, "<h3>Open alerts by severity</h3>\n<p class=\"alert-counts\">");
	for (size_t s = 0; s < 5; s++) {
		fmt(h, "%s<span class=\"sev sev-%s\">%s</span> ", s ? "&middot; " : "", sev[s], sev[s]);
		key(h, counts, sev[s]);
		raw(h, " ");
	}
	raw(h, "</p>\n<table class=\"alerts\">");
	thead(h, (const char *[]){"Severity", "Rule", "Subject", "Summary", "First seen", "Last seen", "Count", "Acked",
	                          NULL});
	json_array_foreach(list, i, a) {
		raw(h, "<tr><td><span class=\"sev sev-");
		cls(h, str(a, "severity"));
		raw(h, "\">");
		key(h, a, "severity");
		raw(h, "</span></td><td>");
		key(h, a, "rule");
		raw(h, "</td>");
		cells(h, a, keys);
		raw(h, "</tr>\n");
	}
	if (json_array_size(list) == 0)
		empty_row(h, 8, "no open alerts");
	raw(h, "</tbody></table>\n");
}

static void changes(struct html *h, const json_t *ch)
{
	static const char *const keys[] = {"at", "who", "ip", "operation", "subject", "setting", "value", "effect", NULL};
	const json_t *c, *list = json_object_get(ch, "changes");
	size_t i;

	raw(h, "<h3>Changes of the period, and who made them</h3>\n");
	if (!json_is_true(json_object_get(ch, "configured"))) {
		raw(h, "<p class=\"changes-unconfigured\">");
		key(h, ch, "text");
		raw(h, "</p>\n");
		return;
	}
	raw(h, "<p>");
	key(h, ch, "text");
	raw(h, "</p>\n<table class=\"changes\">");
	thead(h, (const char *[]){"When", "Who", "From", "Operation", "Object", "Setting", "Value", "Effect", NULL});
	json_array_foreach(list, i, c) {
		raw(h, "<tr>");
		cells(h, c, keys);
		raw(h, "</tr>\n");
	}
	if (json_array_size(list) == 0)
		empty_row(h, 8, "no change to SMTP AUTH in the period");
	raw(h, "</tbody></table>\n");
}

static void silent(struct html *h, const json_t *list)
{
	static const char *const keys[] = {"silent_since", "basic_days", "owner", "device", "criticality", NULL};
	const json_t *e;
	size_t i;

	fmt(h, "<h3>Senders that went silent (%zu)</h3>\n<p>A sender that used Basic SMTP AUTH on at least 5 of 14 "
	       "days and then on none of the last 3: broken by the Basic cutoff, or moved to OAuth.</p>\n"
	       "<table class=\"silent\">", json_array_size(list));
	thead(h, (const char *[]){"Sender", "Silent since", "Basic days (of 14)", "Owner", "Device", "Criticality",
	                          "Now", NULL});
	json_array_foreach(list, i, e) {
		const char *now = str(e, "now_on");
		raw(h, "<tr><td>");
		key(h, e, "sender");
		raw(h, "</td>");
		cells(h, e, keys);
		raw(h, "<td>");
		raw(h, strcmp(now, "oauth") == 0 ? "now on OAuth" : strcmp(now, "basic") == 0 ? "back on Basic"
		       : strcmp(now, "unknown") == 0 ? "submits again" : "still silent");
		raw(h, "</td></tr>\n");
	}
	if (json_array_size(list) == 0)
		empty_row(h, 7, "no sender went silent");
	raw(h, "</tbody></table>\n");
}

static void tenant(struct html *h, const json_t *t)
{
	raw(h, "<section class=\"tenant\" data-tenant=\"");
	esc(h, str(t, "tenant"));
	raw(h, "\">\n<h2>Tenant ");
	key(h, t, "tenant");
	raw(h, " <span class=\"meta\">(");
	key(h, t, "tenant_id");
	raw(h, ")</span></h2>\n<p class=\"readiness\">");
	key(h, t, "state_text");
	raw(h, "</p>\n");
	verdict(h, json_object_get(t, "verdict"));
	chart(h, json_object_get(t, "chart"));
	inventory(h, json_object_get(t, "inventory"));
	exceptions(h, json_object_get(t, "exceptions"));
	alerts(h, json_object_get(t, "alerts"), json_object_get(t, "alerts_open"));
	changes(h, json_object_get(t, "changes"));
	silent(h, json_object_get(t, "silent"));
	raw(h, "</section>\n");
}

/* See report_html.h. */
int sw_report_html_begin(const json_t *doc, struct sw_buf *out)
{
	struct html h = {out, 0};

	page_head(&h, doc);
	summary(&h, json_object_get(doc, "tenants"));
	return h.r < 0 ? -ENOMEM : 0;
}

/* See report_html.h: what summary() reads of a tenant. */
json_t *sw_report_html_summary_part(const json_t *t)
{
	const json_t *v = json_object_get(t, "verdict"), *result = json_object_get(v, "result");
	json_t *ao = json_object_get(t, "alerts_open");

	return json_pack("{s:O?,s:{s:O?},s:O?,s:I,s:I,s:o?}", "tenant", json_object_get(t, "tenant"), "verdict",
	                 "result", result, "state_text", json_object_get(t, "state_text"), "basic",
	                 (json_int_t)senders(t, "basic"), "oauth", (json_int_t)senders(t, "oauth"), "alerts_open",
	                 ao ? json_deep_copy(ao) : NULL);
}

/* See report_html.h. */
int sw_report_html_tenant(const json_t *t, struct sw_buf *out)
{
	struct html h = {out, 0};

	tenant(&h, t);
	return h.r < 0 ? -ENOMEM : 0;
}

/* See report_html.h. */
int sw_report_html_end(struct sw_buf *out)
{
	struct html h = {out, 0};

	raw(&h, "<footer>smtpwatch: from the Entra sign-in logs (Authenticated SMTP), Exchange Online "
	        "(Get-TransportConfig, Get-CASMailbox, authentication policies), the SMTP AUTH clients report and the "
	        "exception register. The same figures: smtpwatchctl report --format json; the inventory as CSV: "
	        "smtpwatchctl report --format csv.</footer>\n</body>\n</html>\n");
	return h.r < 0 ? -ENOMEM : 0;
}

/* See report_html.h. */
int sw_report_html(const json_t *doc, struct sw_buf *out)
{
	const json_t *t;
	size_t i;
	int r = sw_report_html_begin(doc, out);

	json_array_foreach(json_object_get(doc, "tenants"), i, t) if (r >= 0) r = sw_report_html_tenant(t, out);
	return r < 0 ? r : sw_report_html_end(out);
}
