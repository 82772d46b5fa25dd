/* usage.h: the email app usage report (Graph
 * reports/getEmailAppUsageUserDetail, CSV) -> one row per user (pure).
 *
 * Microsoft documents the header as "Report Refresh Date,User Principal
 * Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Mail For
 * Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For
 * Mobile,Outlook For Web,POP3 App,IMAP4 App,SMTP App,Report Period".
 * Columns are matched loosely as in the SMTP AUTH clients report (case,
 * spaces, punctuation, order; extra columns are ignored and named once).
 * Required: the refresh date, the user principal name and "SMTP App".
 *
 * The form of an app cell is not documented, so the plausible ones are
 * accepted: Yes/No, True/False, 1/0, a date (the app's last use), empty
 * (no use); anything else rejects the row, with its line.  A refresh date
 * after the day of `now` rejects the row.  When the tenant conceals user
 * names in reports, the UPNs are hashes: such rows are counted, never
 * returned as users. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The most users one report may bring (a tenant's whole directory). */
#define SW_USAGE_MAX_ROWS 500000

struct sw_usage_row {
	int line;              /* 1-based line where the record starts */
	char *upn;             /* lower-case address */
	int64_t refresh_day;   /* 00:00Z of the report refresh date */
	int64_t last_activity; /* 00:00Z of the last activity date, 0 when empty */
	int period_days;       /* "7" of Report Period, 0 when absent */
	bool smtp;             /* SMTP App activity in the period */
	bool deleted;
};

struct sw_usage {
	struct sw_usage_row *rows;
	size_t n, cap;
	struct sw_error *problems; /* rejected lines (warning=false) and doubts (warning=true) */
	size_t n_problems, cap_problems;
	size_t n_rejected;         /* also past SW_REPORT_MAX_PROBLEMS */
	size_t n_warnings;
	int header_line;
	int64_t refresh_day;       /* the newest refresh date of the rows, 0 without rows */
	size_t n_smtp;             /* rows with SMTP App activity */
	size_t n_concealed;        /* rows whose UPN is a hash (names concealed) */
	size_t n_concealed_smtp;   /* of them with SMTP App activity */
};
void sw_usage_clear(struct sw_usage *u);

/* Parse a whole report.  now: the wall clock (a refresh date after its
 * day is refused).  0; -EINVAL with err when the file must be refused
 * whole (no header naming the three required columns within the first
 * lines, an unterminated quote, more than SW_USAGE_MAX_ROWS rows, a header
 * and nothing usable after it); -ENOMEM.  An empty body (a tenant without
 * users in the period) is a report of no rows: 0.  The caller
 * sw_usage_clear()s ret, also after a failure. */
int sw_usage_parse(const char *buf, size_t len, const char *source, int64_t now, struct sw_usage *ret,
                   struct sw_error *err);

/* An app cell: "Yes", "No", "True", "False", "1", "0", a date (used),
 * "" (not used) -> *ret; -EINVAL for anything else. */
int sw_usage_parse_app(const char *s, bool *ret);
/* Does a UPN look like the hash Microsoft writes when names are
 * concealed (no "@", 16 or more hex digits)? */
bool sw_usage_concealed_name(const char *upn);
/* The body of GET admin/reportSettings -> displayConcealedNames.
 * -EINVAL with why when it is not that object. */
int sw_usage_settings_parse(const char *body, size_t len, bool *ret_concealed, char *why, size_t n);
/* May the daemon follow the report's redirect to location?  0, or -EINVAL
 * with why.  https only (http:// only to loopback, and only when graph_url
 * is loopback: the simulator); in production the host must belong to the
 * cloud of graph_url (graph.microsoft.com: office.com, office365.com,
 * office.net, microsoft.com, windows.net; graph.microsoft.us and
 * dod-graph.microsoft.us: office365.us, microsoft.us, apps.mil,
 * usgovcloudapi.net; microsoftgraph.chinacloudapi.cn: partner.outlook.cn,
 * chinacloudapi.cn, azure.cn). */
int sw_usage_redirect_check(const char *graph_url, const char *location, char *why, size_t n);

/* One page of GET admin/exchange/tracing/messageTraces -> rows (new array
 * in *ret_rows, caller frees), the @odata.nextLink (new string or NULL)
 * and the count of records that could not be read (no id, sender or time).
 * -EINVAL with why when the page is not that JSON. */
struct sw_trace_row;
int sw_trace_page_parse(const char *body, size_t len, struct sw_trace_row **ret_rows, size_t *ret_n, char **ret_next,
                        size_t *ret_skipped, char *why, size_t n);
