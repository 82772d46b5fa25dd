/* source_usage.c: the email app usage report source (Microsoft Graph
 * reports/getEmailAppUsageUserDetail): who sent over SMTP AUTH in the last
 * 7 days, for every tenant, Entra ID P1 or not.
 *
 * A run reads admin/reportSettings (are names concealed?), then asks for
 * the report.  Graph answers 302 with a pre-authenticated download URL
 * valid for a few minutes on another host: the run follows it at once,
 * itself (http.c never follows redirects), without the bearer token, and
 * only to https on a host of the configured cloud (http:// to loopback
 * when graph_url is loopback, the simulator) -- sw_usage_redirect_check().
 * The download URL is a credential: its path is never logged.
 *
 * The CSV is parsed whole (one row per user of the tenant; a large tenant's
 * report is a few MB), each (user, refresh date) stored once, and the
 * report's counts and concealed state kept for status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_usage.h"
#include "usage.h"

#define USAGE_HOW_TO_REVEAL "Microsoft 365 admin center > Settings > Org settings > Reports: clear \"Display " \
	"concealed user, group, and site names in all reports\""

enum usage_step {
	USAGE_SETTINGS,
	USAGE_REPORT,
	USAGE_DOWNLOAD,
};

struct usage_run {
	enum usage_step step;
	int settings; /* displayConcealedNames: 1 on, 0 off, -1 unknown */
};

static const char *usage_resource(const struct tenant *t)
{
	return t->cfg->graph_url;
}

static int64_t usage_interval(const struct tenant *t)
{
	return t->cfg->usage_interval;
}

/* Start a run: the report settings first. */
static int usage_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct usage_run *run = calloc(1, sizeof(*run));
	char url[600];

	if (run == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	run->settings = -1;
	poller_set_priv(p, run);
	snprintf(url, sizeof(url), "%s/v1.0/admin/reportSettings", t->cfg->graph_url);
	return poller_request(p, "GET", url, NULL, NULL);
}

/* Ask for the report (CSV: the JSON form is beta only). */
static int usage_request_report(struct poller *p, struct usage_run *run)
{
	struct tenant *t = poller_tenant(p);
	char url[600];

	run->step = USAGE_REPORT;
	snprintf(url, sizeof(url), "%s/v1.0/reports/getEmailAppUsageUserDetail(period='D7')", t->cfg->graph_url);
	return poller_request(p, "GET", url, NULL, NULL);
}

/* Log the report's line problems, a few of them. */
static void usage_log_problems(struct tenant *t, const struct sw_usage *u)
{
	size_t shown = 0;

	for (size_t i = 0; i < u->n_problems && shown < 5; i++, shown++)
		log_warn("tenant %s: usage: email app usage report line %d: %s", t->cfg->name, u->problems[i].line,
		         u->problems[i].text);
	if (u->n_rejected + u->n_warnings > shown)
		log_warn("tenant %s: usage: %zu more problems in the report", t->cfg->name,
		         u->n_rejected + u->n_warnings - shown);
}

/* The downloaded report: parse, store, keep its state. */
static int usage_store(struct poller *p, struct usage_run *run, const char *body, size_t len, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_usage u;
	struct sw_usage_state prev, st = {0};
	struct sw_error err = {0};
	size_t added = 0;
	int64_t now = daemon_now();
	bool had_prev;
	int r = sw_usage_parse(body, len, "email app usage report", now, &u, &err);

	if (r < 0) {
		/* Nothing of it is stored: the next run reads a new one. */
		if (r == -ENOMEM)
			snprintf(why, n, "out of memory parsing the email app usage report");
		else
			snprintf(why, n, "the email app usage report is refused (line %d: %s); nothing stored from it",
			         err.line, err.text);
		sw_usage_clear(&u);
		return r;
	}
	usage_log_problems(t, &u);
	had_prev = sw_store_usage_state_get(s, t->cfg->name, &prev) == 0;
	st.refresh_day = u.refresh_day;
	st.users = (int64_t)u.n;
	st.smtp_users = (int64_t)u.n_smtp;
	st.concealed = u.n_concealed > 0 || (run->settings == 1 && u.n == 0);
	st.concealed_users = (int64_t)u.n_concealed;
	st.concealed_smtp = (int64_t)u.n_concealed_smtp;
	snprintf(st.settings, sizeof(st.settings), "%s", run->settings == 1 ? "on" : run->settings == 0 ? "off" : "unknown");
	st.problems = (int64_t)u.n_rejected;
	st.updated = now;
	if (run->settings == 1 && u.n > 0)
		log_warn("tenant %s: usage: reportSettings says names are concealed, but the report names %zu users: "
		         "taken as written", t->cfg->name, u.n);
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_usage_add(s, t->cfg->name, u.rows, u.n, now, &added);
	if (r >= 0)
		r = sw_store_usage_state_put(s, t->cfg->name, &st);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the email app usage report: %s", sw_store_errmsg(s));
		sw_usage_clear(&u);
		return r;
	}
	poller_add_records(p, (int64_t)added);
	poller_add_skipped(p, (int64_t)u.n_rejected);
	if (st.concealed && (!had_prev || !prev.concealed))
		log_warn("tenant %s: usage: names concealed: the report shows %lld users (%lld with SMTP App activity) as "
		         "hashes, which are not taken as senders; to see them: " USAGE_HOW_TO_REVEAL, t->cfg->name,
		         (long long)st.concealed_users, (long long)st.concealed_smtp);
	else if (!st.concealed && had_prev && prev.concealed)
		log_info("tenant %s: usage: names are no longer concealed in the report", t->cfg->name);
	char day[32] = "no refresh date (no rows)";
	if (u.refresh_day > 0) {
		sw_time_format(u.refresh_day, day, sizeof(day));
		day[10] = '\0';
	}
	log_info("tenant %s: usage: report of %s: %zu users, %zu with SMTP App activity, %zu new observations",
	         t->cfg->name, day, u.n, u.n_smtp, added);
	sw_usage_clear(&u);
	return 0;
}

/* A 200 page: the settings or the downloaded report. */
static int usage_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct usage_run *run = poller_priv(p);
	bool concealed = false;
	int r;

	switch (run->step) {
	case USAGE_SETTINGS:
		if (sw_usage_settings_parse(body, len, &concealed, why, n) < 0) {
			log_warn("tenant %s: usage: %s: concealed names are told by their form", poller_tenant(p)->cfg->name,
			         why);
			run->settings = -1;
		} else {
			run->settings = concealed ? 1 : 0;
		}
		r = usage_request_report(p, run);
		*ret = POLLER_MORE;
		return r;
	case USAGE_REPORT:
		snprintf(why, n, "the report answered 200 instead of a redirect to its download URL");
		return -EPROTO;
	case USAGE_DOWNLOAD:
		r = usage_store(p, run, body, len, why, n);
		*ret = POLLER_DONE;
		return r;
	}
	return -EINVAL;
}

/* The report's 302: follow it at once, without the token. */
static int usage_redirect(struct poller *p, const char *location, enum poller_next *ret, char *why, size_t n)
{
	struct usage_run *run = poller_priv(p);
	struct tenant *t = poller_tenant(p);

	if (run->step != USAGE_REPORT) {
		snprintf(why, n, "unexpected redirect: not followed");
		return -EPROTO;
	}
	if (sw_usage_redirect_check(t->cfg->graph_url, location, why, n) < 0)
		return -EPERM;
	run->step = USAGE_DOWNLOAD;
	*ret = POLLER_MORE;
	return poller_request_anonymous(p, location);
}

/* 403/404 (poller.h, refused): without ReportSettings.Read.All the report
 * is read anyway; without Reports.Read.All there is no report. */
static int usage_refused(struct poller *p, long status, const char *error, enum poller_next *ret, char *why, size_t n)
{
	struct usage_run *run = poller_priv(p);

	if (run->step == USAGE_SETTINGS) {
		log_info("tenant %s: usage: reportSettings refused (HTTP %ld %s): the app lacks ReportSettings.Read.All; "
		         "concealed names are told by their form", poller_tenant(p)->cfg->name, status, error);
		run->settings = -1;
		*ret = POLLER_MORE;
		return usage_request_report(p, run);
	}
	if (status == 404) {
		snprintf(why, n, "HTTP 404 %s", error);
		return -ENOENT;
	}
	snprintf(why, n, "HTTP %ld %s; the app needs the Reports.Read.All application permission of Microsoft Graph "
	         "(admin consent)", status, error);
	return -EACCES;
}

static void usage_end(struct poller *p, bool ok)
{
	free(poller_priv(p));
	poller_set_priv(p, NULL);
}

/* Status: the latest report, and whether its names are concealed. */
static void usage_status(struct poller *p, json_t *o)
{
	struct tenant *t = poller_tenant(p);
	struct sw_usage_state st;
	char day[32];

	if (sw_store_usage_state_get(t->daemon->store, t->cfg->name, &st) < 0) {
		json_object_set_new(o, "report", json_null());
		return;
	}
	sw_time_format(st.refresh_day, day, sizeof(day));
	day[10] = '\0';
	json_t *r = json_pack("{s:s?,s:I,s:I,s:b,s:s,s:I}", "refresh_date", st.refresh_day > 0 ? day : NULL, "users",
	                      (json_int_t)st.users, "smtp_users", (json_int_t)st.smtp_users, "names_concealed",
	                      st.concealed, "display_concealed_names", st.settings, "rows_refused", (json_int_t)st.problems);
	if (r != NULL && st.concealed) {
		char note[600];
		snprintf(note, sizeof(note), "names concealed: %lld users (%lld with SMTP App activity) are hashes and are "
		         "not taken as senders; to see them: " USAGE_HOW_TO_REVEAL, (long long)st.concealed_users,
		         (long long)st.concealed_smtp);
		json_object_set_new(r, "concealed_users", json_integer(st.concealed_users));
		json_object_set_new(r, "concealed_smtp_users", json_integer(st.concealed_smtp));
		json_object_set_new(r, "note", json_string(note));
	}
	json_object_set_new(o, "report", r);
}

const struct poller_ops usage_ops = {
	.name = "usage",
	.permission_hint = "the app needs the Reports.Read.All application permission of Microsoft Graph (admin consent)",
	/* Graph's 5 requests per 10 s; the report's own limit (14 per 10
	 * minutes, CSV form) is far above one run a day, and a 429 waits its
	 * Retry-After. */
	.pace_requests = 5,
	.pace_window_ms = 10000,
	.resource = usage_resource,
	.interval = usage_interval,
	.begin = usage_begin,
	.page = usage_page,
	.redirect = usage_redirect,
	.refused = usage_refused,
	.end = usage_end,
	.status = usage_status,
};

/* See poller.h.  From the sources' own status objects: what each one can
 * read, and why not, in words an admin acts on. */
json_t *usage_can_read(const json_t *sources)
{
	json_t *out = json_object();
	const char *name;
	json_t *src;

	json_object_foreach((json_t *)sources, name, src) {
		const char *err = json_string_value(json_object_get(src, "last_error"));
		const char *state = json_string_value(json_object_get(src, "state"));
		json_t *rep = json_object_get(src, "report");
		bool denied = json_is_true(json_object_get(src, "denied"));
		char why[700] = "";
		bool ok = true;

		if (!json_is_object(src))
			continue;
		if (err != NULL && strstr(err, "premium license") != NULL) {
			ok = false;
			snprintf(why, sizeof(why), "no Entra ID P1 or P2: signIns answers 403 \"Neither tenant is B2C or "
			         "tenant doesn't have premium license\"; the email app usage report (usage = on) says who "
			         "uses SMTP AUTH instead, without Basic or OAuth");
		} else if (err != NULL && strncmp(err, "HTTP 401", 8) == 0 && strcmp(name, "trace") == 0) {
			ok = false;
			snprintf(why, sizeof(why), "the message trace service principal (app 8bd644d1-64a1-4d4b-ae52-"
			         "2e0cbf64e373) is still provisioning in the tenant: this takes hours");
		} else if (err != NULL && denied) {
			ok = false;
			snprintf(why, sizeof(why), "refused: %s", err);
		} else if (err != NULL && state != NULL && strcmp(state, "failing") == 0) {
			ok = false;
			snprintf(why, sizeof(why), "failing: %s", err);
		} else if (json_is_true(json_object_get(rep, "names_concealed"))) {
			snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(rep, "note")) ?
			         json_string_value(json_object_get(rep, "note")) : "names concealed");
		}
		json_object_set_new(out, name, json_pack("{s:b,s:s?}", "ok", ok, "why", why[0] ? why : NULL));
	}
	return out;
}
