/* detect_stopped.c: basic-sender-stopped (see detect_stopped.h).
 *
 * After Microsoft turns Basic SMTP AUTH off by default (end of December
 * 2026) the question is "which devices broke?": a scanner that sent every
 * day and stopped is probably broken, not migrated, until it shows up on
 * OAuth.  Days are UTC days; "the last 3 days" are today and the two
 * before it, so a sender that stopped at midnight is named on the third
 * day.  The alert stays while the sender is silent (a broken device stays
 * broken however long ago it sent), and resolves only when it submits
 * again. */
#include "detect_stopped.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "store_inventory.h"
#include "store_report.h"

#define DAY 86400

/* See detect_stopped.h. */
void sw_sender_use_add(struct sw_sender_use *u, int64_t day, bool basic, bool oauth, int64_t now)
{
	int64_t today = now - now % DAY, ago = (today - day) / DAY;

	if (day > u->last_any)
		u->last_any = day;
	if (basic && day > u->last_basic)
		u->last_basic = day;
	if (oauth && day > u->last_oauth)
		u->last_oauth = day;
	if (ago >= 0 && ago < SW_STOPPED_QUIET_DAYS)
		u->recent = true;
	else if (basic && ago >= SW_STOPPED_QUIET_DAYS && ago < SW_STOPPED_QUIET_DAYS + SW_STOPPED_WINDOW_DAYS)
		u->basic_days++;
}

/* See detect_stopped.h. */
bool sw_stopped_holds(const struct sw_sender_use *u)
{
	return u->basic_days >= SW_STOPPED_MIN_DAYS && !u->recent;
}

/* See detect_stopped.h. */
enum sw_comeback sw_stopped_comeback(const struct sw_sender_use *u, int64_t stopped_after)
{
	if (u->last_basic > stopped_after)
		return SW_COMEBACK_BASIC;
	if (u->last_oauth > stopped_after)
		return SW_COMEBACK_OAUTH;
	if (u->last_any > stopped_after)
		return SW_COMEBACK_OTHER;
	return SW_COMEBACK_NONE;
}

/* A firing alert of the rule: its sender and the last Basic day it named. */
struct stopped_alert {
	char *sender;
	int64_t last_basic;
};

struct stopped_ctx {
	struct sw_store *s;
	const struct sw_config *cfg;
	const struct sw_tenant_config *t;
	const struct sw_register *reg;
	int64_t now;
	bool watched;
	struct sw_detect_stats *st;
	struct stopped_alert *firing;
	size_t n_firing, cap_firing;
	char sender[320]; /* the sender being gathered, "" before the first */
	struct sw_sender_use use;
};

static void day_text(int64_t t, char *buf, size_t n)
{
	sw_time_format(t, buf, n);
	if (n > 10)
		buf[10] = '\0';
}

static int collect_firing_cb(const struct sw_alert *a, void *arg)
{
	struct stopped_ctx *x = arg;
	const char *lb = json_string_value(json_object_get(a->evidence, "last_basic"));
	int64_t day = 0;

	if (x->n_firing == x->cap_firing) {
		size_t cap = x->cap_firing ? x->cap_firing * 2 : 16;
		struct stopped_alert *v = realloc(x->firing, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		x->firing = v;
		x->cap_firing = cap;
	}
	if (lb == NULL || sw_date_parse(lb, &day) < 0)
		day = a->first_seen - a->first_seen % DAY - DAY;
	x->firing[x->n_firing].sender = strdup(a->subject);
	if (x->firing[x->n_firing].sender == NULL)
		return -ENOMEM;
	x->firing[x->n_firing++].last_basic = day;
	return 0;
}

static struct stopped_alert *firing_find(struct stopped_ctx *x, const char *sender)
{
	for (size_t i = 0; i < x->n_firing; i++)
		if (x->firing[i].sender != NULL && strcmp(x->firing[i].sender, sender) == 0)
			return &x->firing[i];
	return NULL;
}

/* "scanner@contoso.com (Ricoh MP C3004, owner facilities@contoso.com)". */
static void sender_label(const struct sw_register *reg, const char *sender, char *buf, size_t n)
{
	const struct sw_exception *e = sw_register_find(reg, sender);

	if (e != NULL && (e->device != NULL || e->owner != NULL))
		snprintf(buf, n, "%s (%s%s%s%s)", sender, e->device ? e->device : "", e->device && e->owner ? ", " : "",
		         e->owner ? "owner " : "", e->owner ? e->owner : "");
	else
		snprintf(buf, n, "%s", sender);
}

/* The sender came back: resolve, saying how. */
static int resolve_comeback(struct stopped_ctx *x, struct stopped_alert *a, enum sw_comeback how)
{
	char summary[900], label[700], when[32];
	int64_t day = how == SW_COMEBACK_OAUTH ? x->use.last_oauth : x->use.last_any;
	int r;

	sender_label(x->reg, a->sender, label, sizeof(label));
	day_text(day, when, sizeof(when));
	if (how == SW_COMEBACK_OAUTH)
		snprintf(summary, sizeof(summary), "%s submits again, now on OAuth (on %s): migrated, not broken", label,
		         when);
	else if (how == SW_COMEBACK_BASIC)
		snprintf(summary, sizeof(summary), "%s submits with Basic SMTP AUTH again (on %s)", label, when);
	else
		snprintf(summary, sizeof(summary), "%s submits again (on %s; the report gives no protocol)", label, when);
	json_auto_t *ev = json_pack("{s:s,s:s}", "now", how == SW_COMEBACK_OAUTH ? "oauth"
	                                               : how == SW_COMEBACK_BASIC ? "basic" : "unknown",
	                            "back_on", when);
	if (ev == NULL)
		return -ENOMEM;
	r = sw_lifecycle_resolve_as(x->s, x->cfg, SW_RULE_BASIC_STOPPED, x->t->name, a->sender, summary, ev, x->now);
	if (r >= 0) {
		x->st->resolved++;
		free(a->sender);
		a->sender = NULL;
	}
	return r;
}

/* The sender went silent: fire (once: a firing alert is left as it is, so
 * its summary keeps the days it was raised on). */
static int fire_stopped(struct stopped_ctx *x)
{
	char summary[1200], label[700], last[32];
	bool notified = false;
	int r;

	sender_label(x->reg, x->sender, label, sizeof(label));
	day_text(x->use.last_basic, last, sizeof(last));
	snprintf(summary, sizeof(summary), "%s submitted with Basic SMTP AUTH on %d of the %d days before the last %d "
	         "and has not submitted since %s: broken by the Basic cutoff, or moved to OAuth without the report "
	         "showing it yet", label, x->use.basic_days, SW_STOPPED_WINDOW_DAYS, SW_STOPPED_QUIET_DAYS, last);
	const struct sw_exception *e = sw_register_find(x->reg, x->sender);
	json_auto_t *ev = json_pack("{s:s,s:i,s:s?,s:s?,s:s?}", "last_basic", last, "basic_days", x->use.basic_days,
	                            "device", e ? e->device : NULL, "owner", e ? e->owner : NULL, "criticality",
	                            e && e->criticality ? sw_criticality_name(e->criticality) : NULL);
	if (ev == NULL)
		return -ENOMEM;
	struct sw_condition c = {
		.rule = SW_RULE_BASIC_STOPPED,
		.severity = SW_SEV_LOW,
		.tenant = x->t->name,
		.subject = x->sender,
		.first_seen = x->use.last_basic + DAY,
		.last_seen = x->use.last_basic + DAY,
		.count = 1,
		.summary = summary,
		.remediation = "check the device or application: if it broke at the Basic cutoff, configure OAuth "
		               "(SMTP AUTH with OAuth 2.0, or Microsoft Graph sendMail); if it was retired, remove its "
		               "register entry",
		.evidence = ev,
	};
	r = sw_lifecycle_fire(x->s, x->cfg, &c, x->now, &notified);
	if (r >= 0 && notified)
		x->st->fired++;
	return r;
}

/* All the days of one sender are in: decide. */
static int sender_done(struct stopped_ctx *x)
{
	struct stopped_alert *a;
	int r = 0;

	if (x->sender[0] == '\0')
		return 0;
	a = firing_find(x, x->sender);
	if (a != NULL) {
		enum sw_comeback how = sw_stopped_comeback(&x->use, a->last_basic);
		if (how == SW_COMEBACK_NONE)
			return 0;
		r = resolve_comeback(x, a, how);
		a = NULL;
	}
	if (r >= 0 && a == NULL && x->watched && sw_stopped_holds(&x->use))
		r = fire_stopped(x);
	return r;
}

static int day_cb(const char *sender, int64_t day, bool basic, bool oauth, void *arg)
{
	struct stopped_ctx *x = arg;
	int r;

	if (sender == NULL)
		return 0;
	if (strcmp(sender, x->sender) != 0) {
		r = sender_done(x);
		if (r < 0)
			return r;
		snprintf(x->sender, sizeof(x->sender), "%s", sender);
		memset(&x->use, 0, sizeof(x->use));
	}
	sw_sender_use_add(&x->use, day, basic, oauth, x->now);
	return 0;
}

/* Did a source watch the quiet days?  Without one, silence is no news. */
static bool quiet_days_watched(struct sw_store *s, const struct sw_config *cfg, const char *tenant, int64_t now)
{
	struct sw_checkpoint cp;
	struct sw_report_imports imp;
	int64_t today = now - now % DAY;

	if (sw_store_checkpoint_get(s, tenant, "signins", &cp) == 0 && cp.watermark >= now - cfg->rules.stale_after)
		return true;
	return sw_store_report_imports(s, tenant, &imp) == 0 && imp.files > 0 && imp.last_day >= today - DAY;
}

/* See detect_stopped.h. */
int sw_detect_stopped(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                      const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct stopped_ctx x = {.s = s, .cfg = cfg, .t = t, .reg = reg, .now = now, .st = st};
	int64_t today = now - now % DAY;
	int64_t since = today - (int64_t)(SW_STOPPED_QUIET_DAYS + SW_STOPPED_WINDOW_DAYS - 1) * DAY;
	int r;

	x.watched = quiet_days_watched(s, cfg, t->name, now);
	r = sw_store_alerts_firing(s, SW_RULE_BASIC_STOPPED, t->name, collect_firing_cb, &x);
	/* A comeback counts from the day after the last Basic day of the
	 * oldest firing alert, however long ago. */
	for (size_t i = 0; r >= 0 && i < x.n_firing; i++)
		if (x.firing[i].last_basic + DAY < since)
			since = x.firing[i].last_basic + DAY;
	if (r >= 0)
		r = sw_store_sender_days(s, t->name, since, day_cb, &x);
	if (r >= 0)
		r = sender_done(&x);
	for (size_t i = 0; i < x.n_firing; i++)
		free(x.firing[i].sender);
	free(x.firing);
	return r;
}
