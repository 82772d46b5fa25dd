/* report_html.h: the report for people, as one self-contained HTML file
 * (SPEC "Reports people read"), rendered from the report document the
 * daemon answers to --format json (smtpwatchctl(8) lists its keys), so the
 * page never says more or less than the JSON.
 *
 * Self-contained: inline CSS, the chart as inline SVG drawn here, no
 * JavaScript, no src or href that leaves the page, and a
 * Content-Security-Policy of default-src 'none' so that a browser would
 * fetch nothing even if something slipped in.  Print CSS: A4, a page per
 * tenant, table headers repeated, colours kept.  Every string of the
 * document (Microsoft's, the register's, the alerts') goes through
 * sw_html_escape. */
#pragma once

#include <jansson.h>

#include "util.h"

/* Append s escaped for HTML text and double-quoted attribute values:
 * & < > " ' as character references; C0 controls other than tab and
 * newline, and DEL, as U+FFFD (they are not allowed in HTML).  s NULL
 * appends nothing.  0 or -ENOMEM. */
int sw_html_escape(struct sw_buf *out, const char *s);

/* The chart of one measure per week as an inline <svg> element: Basic and
 * OAuth bars side by side, one <g class="week" data-week="YYYY-MM-DD">
 * per week (empty weeks too, with no bar), a y axis with round ticks from
 * 0, the weeks along the x axis, a legend, a <title> per week with the
 * figures.  weeks: the document's "chart" array; measure: "senders" or
 * "messages" (reads basic_<measure> and oauth_<measure>); title: the
 * heading inside the figure.  Coordinates are written without the locale.
 * 0, -EINVAL for another measure, -ENOMEM. */
int sw_report_svg_chart(const json_t *weeks, const char *measure, const char *title, struct sw_buf *out);

/* The whole page for doc (the report document: "generated", "since",
 * "tenants"[] with "verdict", "chart", "inventory", "exceptions",
 * "alerts", "alerts_open", "changes", "silent", ...).  Missing parts are
 * shown as missing, never invented.  0 or -ENOMEM. */
int sw_report_html(const json_t *doc, struct sw_buf *out);
/* The same page in pieces, for a caller that renders a report of
 * thousands of tenants across several calls: begin (the head and the
 * summary of every tenant of doc), then each tenant of doc's "tenants" in
 * order, then end; together byte for byte sw_report_html().  Each 0 or
 * -ENOMEM. */
int sw_report_html_begin(const json_t *doc, struct sw_buf *out);
/* What the summary of begin reads of a tenant's part, for a caller that
 * renders each tenant's section as it comes and keeps only this until
 * begin (new reference; NULL on no memory).  begin gives the same page
 * for a doc whose "tenants" hold these. */
json_t *sw_report_html_summary_part(const json_t *tenant);
int sw_report_html_tenant(const json_t *tenant, struct sw_buf *out);
int sw_report_html_end(struct sw_buf *out);
