/* control_review.c: what the reports people read add to each tenant of
 * the report document (SPEC "Reports people read"): the migration
 * inventory, Basic and OAuth per week from both sources, the CIS 1.3.2
 * verdict with its evidence, the exceptions by expiry, the open alerts by
 * severity, the changes of the period and the senders that went silent.
 * --format csv and html are rendered from this document (inventory.c,
 * report_html.c), so neither says more or less than --format json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "detect_stopped.h"
#include "effective.h"
#include "exo.h"
#include "jsonutil.h"
#include "smtpwatchd.h"
#include "store_exo.h"
#include "store_inventory.h"
#include "store_audit.h"
#include "store_report.h"

#define DAY 86400
#define WEEK (7 * DAY)

/* A JSON string, or null for NULL and "". */
static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* approved, expired or not registered. */
static const char *register_status(const struct sw_exception *e, int64_t now)
{
	return e == NULL ? "not registered" : sw_exception_active(e, now) ? "approved" : "expired";
}

/* The register's inventory keys of a sender, added to o. */
static void register_keys(json_t *o, const struct sw_exception *e)
{
	json_object_set_new(o, "owner", str_or_null(e ? e->owner : NULL));
	json_object_set_new(o, "ticket", str_or_null(e ? e->ticket : NULL));
	json_object_set_new(o, "device", str_or_null(e ? e->device : NULL));
	json_object_set_new(o, "criticality", str_or_null(e ? sw_criticality_name(e->criticality) : NULL));
	json_object_set_new(o, "migration", str_or_null(e ? sw_migration_name(e->migration) : NULL));
	json_object_set_new(o, "migration_note", str_or_null(e ? e->migration_note : NULL));
	json_object_set_new(o, "expires", str_or_null(e ? e->expires_text : NULL));
}

/* ---- the inventory ---- */

struct inventory_ctx {
	json_t *list;
	const struct sw_register *reg;
	int64_t now;
};

static int inventory_cb(const struct sw_inventory_sender *e, void *arg)
{
	struct inventory_ctx *x = arg;
	const struct sw_exception *r = sw_register_find(x->reg, e->sender);
	const char *auth = e->basic && e->oauth ? "both" : e->basic ? "Basic" : e->oauth ? "OAuth" : "unknown";
	json_t *sources = json_array();
	json_t *o;

	if (sources == NULL)
		return -ENOMEM;
	if (e->in_signins)
		json_array_append_new(sources, json_string("signins"));
	if (e->in_report)
		json_array_append_new(sources, json_string("report"));
	o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:s}", "sender", e->sender, "auth", auth, "first_seen",
	              sw_json_day_or_null(e->first_seen), "last_seen", sw_json_day_or_null(e->last_seen), "last_basic",
	              sw_json_day_or_null(e->last_basic), "last_oauth", sw_json_day_or_null(e->last_oauth),
	              "messages_30d", (json_int_t)e->messages_30d, "signins_30d", (json_int_t)e->signins_30d, "sources",
	              sources, "register", register_status(r, x->now));
	if (o == NULL)
		return -ENOMEM;
	register_keys(o, r);
	return json_array_append_new(x->list, o);
}

/* ---- the chart: every week of the period, empty ones included ---- */

struct chart_ctx {
	json_t *weeks; /* array, one object per week from first on */
	int64_t first;
};

static int chart_cb(const struct sw_inventory_week *w, void *arg)
{
	struct chart_ctx *x = arg;
	json_t *o;

	if (w->week < x->first)
		return 0;
	o = json_array_get(x->weeks, (size_t)((w->week - x->first) / WEEK));
	if (o == NULL)
		return 0; /* a day after now: the clock stepped back */
	json_object_set_new(o, w->oauth ? "oauth_senders" : "basic_senders", json_integer(w->senders));
	json_object_set_new(o, w->oauth ? "oauth_messages" : "basic_messages", json_integer(w->messages));
	return 0;
}

static json_t *chart_json(struct daemon *d, const char *tenant, int64_t since, int64_t now, int *ret)
{
	struct chart_ctx x = {json_array(), sw_report_week_start(since)};

	if (x.weeks == NULL) {
		*ret = -ENOMEM;
		return NULL;
	}
	for (int64_t w = x.first; w <= now; w += WEEK)
		json_array_append_new(x.weeks, json_pack("{s:o,s:I,s:I,s:I,s:I}", "week", sw_json_day_or_null(w),
		                                         "basic_senders", (json_int_t)0, "basic_messages",
		                                         (json_int_t)0, "oauth_senders", (json_int_t)0,
		                                         "oauth_messages", (json_int_t)0));
	*ret = sw_store_inventory_weeks(d->store, tenant, since, chart_cb, &x);
	return x.weeks;
}

/* ---- the verdict (CIS 1.3.2) ---- */

struct mailboxes {
	json_t *list; /* addresses whose own switch is on */
};

static int enabled_cb(const struct sw_mailbox_row *m, void *arg)
{
	struct mailboxes *x = arg;
	return json_array_append_new(x->list, json_string(m->address));
}

/* One check: id, title, status (pass | fail | not-evaluated), evidence. */
static json_t *check_json(const char *id, const char *title, const char *status, const char *evidence)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "id", id, "title", title, "status", status, "evidence", evidence);
}

/* Why an exception in Exchange does not satisfy the control, or NULL. */
static const char *exception_problem(const struct sw_exception *e, int64_t max_lifetime, int64_t now)
{
	if (e == NULL)
		return "not in the register";
	if (e->owner == NULL || e->owner[0] == '\0')
		return "registered without an owner";
	if (!sw_exception_active(e, now))
		return "registered, expired";
	if (e->expires - now > max_lifetime + DAY)
		return "registered, expires beyond max_exception_lifetime";
	return NULL;
}

/* The three checks and the verdict.  Without a complete Exchange snapshot
 * the switches are unknown: those checks are not evaluated, not passed. */
static json_t *verdict_json(struct daemon *d, struct tenant *t, const json_t *enabled, bool have_state,
                            const struct sw_tenant_state *ts, struct sw_effective_ctx *eff, int64_t now)
{
	const struct sw_rules_config *rc = &d->cfg->rules;
	json_t *checks = json_array(), *failing = json_array();
	char ev[1200], when[32], title[200];
	int fails = 0, unknown = 0;
	const json_t *v;
	size_t i;

	if (checks == NULL || failing == NULL)
		goto oom;
	sw_time_format(have_state ? ts->observed : 0, when, sizeof(when));

	/* 1. The tenant switch. */
	if (!have_state) {
		snprintf(ev, sizeof(ev), "no Exchange snapshot yet (Get-TransportConfig has not been read)");
		unknown++;
	} else {
		snprintf(ev, sizeof(ev), "Get-TransportConfig SmtpClientAuthenticationDisabled is %s (snapshot %s)%s",
		         ts->smtp_disabled ? "True" : "False", when,
		         ts->smtp_disabled ? "" : ": every mailbox without its own override can use SMTP AUTH");
		fails += !ts->smtp_disabled;
	}
	json_array_append_new(checks, check_json("smtp-auth-tenant", "SMTP AUTH disabled tenant-wide",
	                                         !have_state ? "not-evaluated" : ts->smtp_disabled ? "pass" : "fail",
	                                         ev));

	/* 2. The per-mailbox exceptions. */
	snprintf(title, sizeof(title), "Every mailbox exception registered, owned and within max_exception_lifetime "
	         "(%lld days)", (long long)(rc->max_exception_lifetime / DAY));
	json_array_foreach(enabled, i, v) {
		const char *addr = json_string_value(v);
		const char *why = exception_problem(sw_register_find(t->reg, addr), rc->max_exception_lifetime, now);
		if (why != NULL)
			json_array_append_new(failing, json_pack("{s:s,s:s}", "mailbox", addr, "problem", why));
	}
	if (!have_state) {
		snprintf(ev, sizeof(ev), "no Exchange snapshot yet (Get-CASMailbox has not been read); the register "
		         "holds %zu entr%s", t->reg ? t->reg->n : 0, t->reg && t->reg->n == 1 ? "y" : "ies");
		unknown++;
	} else if (json_array_size(enabled) == 0) {
		snprintf(ev, sizeof(ev), "no mailbox has its own SmtpClientAuthenticationDisabled False: there is no "
		         "per-mailbox exception");
	} else if (json_array_size(failing) == 0) {
		snprintf(ev, sizeof(ev), "%zu mailbox%s SmtpClientAuthenticationDisabled False; every one is registered, "
		         "owned and valid until at most %lld days ahead", json_array_size(enabled),
		         json_array_size(enabled) == 1 ? " has" : "es have", (long long)(rc->max_exception_lifetime / DAY));
	} else {
		size_t off = (size_t)snprintf(ev, sizeof(ev), "%zu of %zu mailbox exceptions fail:",
		                              json_array_size(failing), json_array_size(enabled));
		json_array_foreach(failing, i, v) {
			if (off >= sizeof(ev) - 80) {
				snprintf(ev + off, sizeof(ev) - off, " and %zu more", json_array_size(failing) - i);
				break;
			}
			off += (size_t)snprintf(ev + off, sizeof(ev) - off, "%s %.320s (%s)", i ? ";" : "",
			                        json_string_value(json_object_get(v, "mailbox")),
			                        json_string_value(json_object_get(v, "problem")));
		}
		fails++;
	}
	json_t *c2 = check_json("exceptions-registered", title,
	                        !have_state ? "not-evaluated" : json_array_size(failing) ? "fail" : "pass", ev);
	if (c2 != NULL)
		json_object_set(c2, "failing", failing);
	json_array_append_new(checks, c2);

	/* 3. Legacy authentication: blocked by the default authentication
	 * policy (AllowBasicAuthSmtp False), or for everyone by security
	 * defaults or an enabled conditional access policy, judged as
	 * legacy-auth-not-blocked judges it (CIS 5.2.2.3): the status output
	 * and this check never disagree.  The layers are the report's own,
	 * loaded once for the tenant (eff). */
	char by[200] = "", ca_err[300] = "";
	int legacy = SW_UNKNOWN;
	if (have_state && ts->policy_allows_basic && eff != NULL) {
		json_t *near = NULL;
		if (eff->policies_read)
			legacy = sw_effective_legacy(eff, by, sizeof(by), &near);
		if (legacy == -ENOMEM)
			legacy = SW_UNKNOWN;
		snprintf(ca_err, sizeof(ca_err), "%s", eff->ps.error[0] ? eff->ps.error : eff->policies_read ? "" :
		         "the policies have not been read yet");
		json_decref(near);
	}
	const char *status3 = !have_state ? "not-evaluated" : !ts->policy_allows_basic || legacy == SW_YES ? "pass"
	                      : legacy == SW_NO ? "fail" : "not-evaluated";
	char pol[400];
	if (have_state && ts->default_policy[0])
		snprintf(pol, sizeof(pol), "the default authentication policy %s allows Basic SMTP AUTH (AllowBasicAuthSmtp)",
		         ts->default_policy);
	else
		snprintf(pol, sizeof(pol), "no default authentication policy blocks Basic SMTP AUTH");
	if (!have_state) {
		snprintf(ev, sizeof(ev), "no Exchange snapshot yet (the default authentication policy has not been read)");
		unknown++;
	} else if (!ts->policy_allows_basic) {
		snprintf(ev, sizeof(ev), "the default authentication policy %s has AllowBasicAuthSmtp False: Basic SMTP "
		         "AUTH is blocked, OAuth still works (snapshot %s)", ts->default_policy, when);
	} else if (legacy == SW_YES) {
		snprintf(ev, sizeof(ev), "legacy authentication is blocked for everyone by %s, so Basic SMTP AUTH cannot "
		         "succeed (%s; snapshot %s)", by, pol, when);
	} else if (legacy == SW_NO) {
		snprintf(ev, sizeof(ev), "%s, and neither security defaults nor an enabled conditional access policy "
		         "blocks legacy authentication for everyone (snapshot %s)", pol, when);
		fails++;
	} else {
		snprintf(ev, sizeof(ev), "%s; whether security defaults or conditional access block legacy "
		         "authentication is unknown (%s)", pol, ca_err[0] ? ca_err : "not read");
		unknown++;
	}
	json_array_append_new(checks, check_json("legacy-auth-blocked", "Legacy (Basic) authentication blocked",
	                                         status3, ev));

	const char *result = fails ? "not-compliant" : unknown ? "incomplete" : "compliant";
	if (fails)
		snprintf(ev, sizeof(ev), "not compliant with CIS 1.3.2: %d of 3 checks fail%s", fails,
		         unknown ? ", some not evaluated" : "");
	else if (unknown)
		snprintf(ev, sizeof(ev), "incomplete: %d of 3 checks not evaluated (no Exchange snapshot, or the "
		         "conditional access policies, read yet)", unknown);
	else
		snprintf(ev, sizeof(ev), "compliant with CIS 1.3.2: all 3 checks pass");
	json_decref(failing);
	return json_pack("{s:s,s:s,s:s,s:o}", "control", "CIS 1.3.2", "result", result, "text", ev, "checks", checks);
oom:
	json_decref(checks);
	json_decref(failing);
	return NULL;
}

/* ---- the exceptions by expiry ---- */

static int by_expiry(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	json_int_t ex = json_integer_value(json_object_get(x, "expires_at"));
	json_int_t ey = json_integer_value(json_object_get(y, "expires_at"));

	const char *mx = json_string_value(json_object_get(x, "mailbox"));
	const char *my = json_string_value(json_object_get(y, "mailbox"));

	if (ex != ey)
		return ex < ey ? -1 : 1;
	return strcmp(mx ? mx : "", my ? my : ""); /* a row is NULL only when memory ran out */
}

/* What Exchange says of one mailbox now: on, off, unknown, no such mailbox. */
static const char *mailbox_effective(struct daemon *d, const char *tenant, const char *address, bool have_state,
                                     const struct sw_tenant_state *ts)
{
	struct sw_mailbox_row m;
	struct sw_effective eff;

	if (!have_state)
		return "unknown";
	if (sw_store_mailbox_get(d->store, tenant, address, &m) < 0 || m.removed)
		return "no such mailbox";
	sw_effective_state(ts->smtp_disabled, m.smtp_disabled, ts->default_policy[0] ? ts->default_policy : NULL,
	                   ts->policy_allows_basic, &eff);
	return eff.smtp_auth_on ? "on" : "off";
}

/* Register entries by expiry (soonest first), then the mailbox overrides
 * nobody registered.  status: expired, expiring (within expiring_within),
 * valid, not registered. */
static json_t *exceptions_json(struct daemon *d, struct tenant *t, const json_t *enabled, bool have_state,
                               const struct sw_tenant_state *ts, int64_t now)
{
	size_t nreg = t->reg ? t->reg->n : 0, i;
	json_t **rows = calloc(nreg + 1, sizeof(*rows));
	json_t *out = json_array();
	const json_t *v;

	if (rows == NULL || out == NULL) {
		free(rows);
		json_decref(out);
		return NULL;
	}
	for (i = 0; i < nreg; i++) {
		const struct sw_exception *e = &t->reg->entries[i];
		int64_t left = e->expires - now;
		long days = left > 0 ? (long)(left / DAY) : -(long)((-left + DAY - 1) / DAY);
		const char *status = left <= 0 ? "expired" : left <= d->cfg->rules.expiring_within ? "expiring" : "valid";
		rows[i] = json_pack("{s:s,s:s,s:I,s:i,s:o,s:s,s:I}", "mailbox", e->mailbox, "status", status, "days_left",
		                    (json_int_t)days, "register_line", e->line, "justification",
		                    str_or_null(e->justification), "smtp_auth",
		                    mailbox_effective(d, t->cfg->name, e->mailbox, have_state, ts), "expires_at",
		                    (json_int_t)e->expires);
		if (rows[i] != NULL)
			register_keys(rows[i], e);
	}
	qsort(rows, nreg, sizeof(*rows), by_expiry);
	for (i = 0; i < nreg; i++) {
		if (rows[i] == NULL)
			continue;
		json_object_del(rows[i], "expires_at");
		json_array_append_new(out, rows[i]);
	}
	free(rows);
	json_array_foreach(enabled, i, v) {
		if (sw_register_find(t->reg, json_string_value(v)) != NULL)
			continue;
		json_t *o = json_pack("{s:O,s:s,s:n,s:n,s:n,s:s}", "mailbox", v, "status", "not registered", "days_left",
		                      "register_line", "justification", "smtp_auth", "on");
		if (o != NULL)
			register_keys(o, NULL);
		json_array_append_new(out, o);
	}
	return out;
}

/* ---- open alerts, and the senders that went silent ---- */

struct alerts_ctx {
	const char *tenant;
	int64_t since;
	bool resolved; /* the second pass: only silent senders resolved in the period */
	json_t *by_sev[SW_SEV_CRITICAL + 1]; /* open alerts, newest first */
	json_t *silent;
	const struct sw_register *reg;
};

static int alert_cb(const struct sw_alert *a, void *arg)
{
	struct alerts_ctx *x = arg;
	bool stopped = strcmp(a->rule, SW_RULE_BASIC_STOPPED) == 0;

	if (strcmp(a->tenant, x->tenant) != 0 || (x->resolved && a->status == SW_ALERT_FIRING))
		return 0;
	if (a->status == SW_ALERT_FIRING && a->severity >= SW_SEV_INFO && a->severity <= SW_SEV_CRITICAL)
		json_array_append_new(x->by_sev[a->severity],
		                      json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:b}", "id", a->id, "rule", a->rule,
		                                "severity", sw_severity_name(a->severity), "subject", a->subject,
		                                "summary", a->summary ? a->summary : "", "first_seen",
		                                sw_json_time_or_null(a->first_seen), "last_seen",
		                                sw_json_time_or_null(a->last_seen), "count", (json_int_t)a->count,
		                                "acked", a->acked));
	/* A silent sender: firing, or resolved within the period (how it came back). */
	if (stopped && (a->status == SW_ALERT_FIRING || a->resolved_at >= x->since)) {
		const struct sw_exception *e = sw_register_find(x->reg, a->subject);
		const json_t *ev = a->evidence;
		json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:O?,s:O?,s:o,s:s}", "sender", a->subject, "alert", a->id,
		                      "status", sw_alert_status_name(a->status), "silent_since",
		                      sw_json_day_or_null(a->first_seen), "basic_days", json_object_get(ev, "basic_days"),
		                      "now_on", json_object_get(ev, "now"), "resolved_at",
		                      sw_json_time_or_null(a->resolved_at), "summary", a->summary ? a->summary : "");
		if (o != NULL)
			register_keys(o, e);
		json_array_append_new(x->silent, o);
	}
	return 0;
}

/* ---- the changes of the period ---- */

#define CHANGES_MAX 500

struct changes_ctx {
	json_t *list;
	size_t n;
};

static int change_cb(const struct sw_change_row *c, void *arg)
{
	struct changes_ctx *x = arg;

	if (x->n++ >= CHANGES_MAX)
		return 0;
	return json_array_append_new(
		x->list, json_pack("{s:o,s:o,s:s,s:o,s:s,s:s,s:s,s:o,s:o,s:s,s:s}", "at", sw_json_time_or_null(c->created),
		                   "who", str_or_null(c->user), "actor", c->actor, "ip", str_or_null(c->ip), "operation",
		                   c->operation, "object", c->object, "subject", c->subject, "setting",
		                   str_or_null(c->setting), "value", str_or_null(c->value), "effect", c->effect, "id",
		                   c->id));
}

/* Who changed what comes from the unified audit log ([tenant] audit);
 * without it the section says so instead of showing nothing as if
 * nothing changed. */
static json_t *changes_json(struct daemon *d, struct tenant *t, int64_t since, int *ret)
{
	struct changes_ctx x = {json_array(), 0};
	struct sw_subscription sub;
	char text[600];

	*ret = 0;
	if (x.list == NULL) {
		*ret = -ENOMEM;
		return NULL;
	}
	if (!t->cfg->audit) {
		json_decref(x.list);
		return json_pack("{s:b,s:s,s:[]}", "configured", 0, "text",
		                 "the audit source is not configured ([tenant] audit = no): smtpwatch does not read the "
		                 "unified audit log (Office 365 Management Activity API, Audit.Exchange), so the changes of "
		                 "the period and who made them are not shown",
		                 "changes");
	}
	*ret = sw_store_changes_list(d->store, t->cfg->name, NULL, since, 0, change_cb, &x);
	if (*ret < 0) {
		json_decref(x.list);
		return NULL;
	}
	if (sw_store_subscription_get(d->store, t->cfg->name, "Audit.Exchange", &sub) == 0 &&
	    strcmp(sub.status, "enabled") != 0)
		snprintf(text, sizeof(text), "the Audit.Exchange subscription is %.16s (%.256s): changes may be missing",
		         sub.status, sub.why);
	else if (x.n > CHANGES_MAX)
		snprintf(text, sizeof(text), "%zu changes to SMTP AUTH settings in the period; the latest %d are shown",
		         x.n, CHANGES_MAX);
	else
		snprintf(text, sizeof(text), "%zu change%s to SMTP AUTH settings in the period, from the unified audit log",
		         x.n, x.n == 1 ? "" : "s");
	return json_pack("{s:b,s:s,s:I,s:o}", "configured", 1, "text", text, "total", (json_int_t)x.n, "changes",
	                 x.list);
}

/* See control.h. */
int control_review_add(struct daemon *d, struct tenant *t, json_t *doc, int64_t since, int64_t now,
                       struct sw_effective_ctx *eff, char *why, size_t n)
{
	const char *tn = t->cfg->name;
	struct inventory_ctx inv = {json_array(), t->reg, now};
	struct mailboxes mb = {json_array()};
	struct alerts_ctx al = {.tenant = tn, .since = since, .silent = json_array(), .reg = t->reg};
	struct sw_tenant_state ts = {0};
	struct sw_checkpoint cp;
	json_t *chart = NULL, *alerts = NULL, *counts = NULL, *changes = NULL;
	bool have_state;
	int r = 0;

	for (int s = 0; s <= SW_SEV_CRITICAL; s++)
		if ((al.by_sev[s] = json_array()) == NULL)
			r = -ENOMEM;
	if (inv.list == NULL || mb.list == NULL || al.silent == NULL)
		r = -ENOMEM;
	/* As exceptions does: a tenant state counts once a whole snapshot was read. */
	have_state = sw_store_tenant_state_get(d->store, tn, &ts) == 0 &&
	             sw_store_checkpoint_get(d->store, tn, "exchange", &cp) == 0 && cp.watermark > 0;
	if (r >= 0)
		r = sw_store_inventory(d->store, tn, now - 30 * DAY, inventory_cb, &inv);
	if (r >= 0)
		chart = chart_json(d, tn, since, now, &r);
	if (r >= 0 && have_state)
		r = sw_store_mailboxes_enabled(d->store, tn, enabled_cb, &mb);
	/* Open alerts whenever they fired; resolved ones only from the period. */
	if (r >= 0)
		r = sw_store_alerts_list_tenant(d->store, tn, false, 0, alert_cb, &al);
	al.resolved = true;
	if (r >= 0)
		r = sw_store_alerts_list_tenant(d->store, tn, true, since, alert_cb, &al);
	if (r >= 0)
		changes = changes_json(d, t, since, &r);
	if (r < 0)
		goto out;
	alerts = json_array();
	counts = json_object();
	if (alerts == NULL || counts == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int s = SW_SEV_CRITICAL; s >= SW_SEV_INFO; s--) {
		json_array_extend(alerts, al.by_sev[s]);
		json_object_set_new(counts, sw_severity_name(s), json_integer((json_int_t)json_array_size(al.by_sev[s])));
	}
	if (json_object_set(doc, "inventory", inv.list) < 0 || json_object_set(doc, "chart", chart) < 0 ||
	    json_object_set_new(doc, "verdict", verdict_json(d, t, mb.list, have_state, &ts, eff, now)) < 0 ||
	    json_object_set_new(doc, "exceptions", exceptions_json(d, t, mb.list, have_state, &ts, now)) < 0 ||
	    json_object_set(doc, "alerts", alerts) < 0 || json_object_set(doc, "alerts_open", counts) < 0 ||
	    json_object_set(doc, "changes", changes) < 0 || json_object_set(doc, "silent", al.silent) < 0)
		r = -ENOMEM;
out:
	if (r < 0)
		snprintf(why, n, "tenant %s: cannot build the report: %s", tn,
		         r == -ENOMEM ? "out of memory" : sw_store_errmsg(d->store));
	json_decref(inv.list);
	json_decref(mb.list);
	json_decref(al.silent);
	for (int s = 0; s <= SW_SEV_CRITICAL; s++)
		json_decref(al.by_sev[s]);
	json_decref(chart);
	json_decref(alerts);
	json_decref(counts);
	json_decref(changes);
	return r < 0 ? r : 0;
}
