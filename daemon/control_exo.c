/* control_exo.c: exceptions and mailbox: the register beside what Exchange
 * and the sign-in logs show, one row per mailbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "detect.h"
#include "effective.h"
#include "jsonutil.h"
#include "smtpwatchd.h"
#include "store_exo.h"
#include "store_report.h"

/* What one tenant's latest complete Exchange snapshot says. */
struct tenant_view {
	struct tenant *t;
	bool have_state;
	struct sw_tenant_state state;
	int64_t watched_since;
	bool eff_ok; /* eff loaded: the layers beyond the switches */
	struct sw_effective_ctx eff;
};

static void tenant_view_load(struct daemon *d, struct tenant *t, struct tenant_view *v)
{
	struct sw_checkpoint cp;

	memset(v, 0, sizeof(*v));
	v->t = t;
	v->have_state = sw_store_tenant_state_get(d->store, t->cfg->name, &v->state) == 0 &&
	                sw_store_checkpoint_get(d->store, t->cfg->name, "exchange", &cp) == 0 && cp.watermark > 0;
	if (sw_store_checkpoint_get(d->store, t->cfg->name, "signins-since", &cp) == 0)
		v->watched_since = cp.watermark;
	v->eff_ok = sw_effective_load(d->store, t->cfg->name, &v->eff) == 0;
}

static void tenant_view_free(struct tenant_view *v)
{
	if (v->eff_ok)
		sw_effective_free(&v->eff);
	v->eff_ok = false;
}

/* Conditional access, security defaults and whether legacy
 * authentication is blocked for the whole tenant. */
static void tenant_layers_json(const struct tenant_view *v, json_t *o)
{
	struct sw_effective_ctx *c = (struct sw_effective_ctx *)&v->eff;
	json_t *near = NULL;
	char by[200];
	int legacy = sw_effective_legacy(c, by, sizeof(by), &near);
	int sd = c->policies_read ? c->ps.security_defaults : SW_UNKNOWN;

	json_object_set_new(o, "security_defaults", json_string(sd == SW_YES ? "on" : sd == SW_NO ? "off" : "unknown"));
	json_object_set_new(o, "conditional_access",
	                    json_string(!c->policies_read ? "not read yet" : c->ps.ca_known ? "read" : "unknown"));
	json_object_set_new(o, "conditional_access_policies", json_integer((json_int_t)c->ca.n));
	if (c->ps.error[0] != '\0')
		json_object_set_new(o, "policies_error", json_string(c->ps.error));
	json_object_set_new(o, "legacy_auth_blocked",
	                    json_string(legacy == SW_YES ? "yes" : legacy == SW_NO ? "no" : "unknown"));
	json_object_set_new(o, "legacy_auth_blocked_by", legacy == SW_YES ? json_string(by) : json_null());
	json_object_set_new(o, "legacy_auth_near_misses", near ? near : json_array());
}

/* The tenant-wide part of the view. */
static json_t *tenant_view_json(const struct tenant_view *v)
{
	json_t *o;

	if (!v->have_state)
		o = json_pack("{s:s,s:s}", "tenant_id", v->t->cfg->tenant_id, "tenant_switch", "unknown");
	else
		o = json_pack("{s:s,s:s,s:s,s:s?,s:b,s:o}", "tenant_id", v->t->cfg->tenant_id, "tenant_switch",
		              v->state.smtp_disabled ? "off" : "on", "SmtpClientAuthenticationDisabled",
		              v->state.smtp_disabled ? "true" : "false", "default_policy",
		              v->state.default_policy[0] ? v->state.default_policy : NULL, "basic_blocked_by_policy",
		              !v->state.policy_allows_basic, "snapshot", sw_json_time_or_null(v->state.observed));
	if (o != NULL && v->eff_ok)
		tenant_layers_json(v, o);
	return o;
}

/* One mailbox: switch, effective state, register entry, last use, verdict. */
static json_t *mailbox_row(struct daemon *d, const struct tenant_view *v, const char *address)
{
	const struct sw_tenant_config *tc = v->t->cfg;
	const struct sw_exception *e = sw_register_find(v->t->reg, address);
	struct sw_mailbox_row m;
	struct sw_effective eff = {0};
	bool exists = false, on = false;
	int64_t last = 0, now = daemon_now();
	json_t *row;

	struct sw_verdict vd = {0};
	bool have_verdict = false;

	if (v->have_state && sw_store_mailbox_get(d->store, tc->name, address, &m) == 0 && !m.removed) {
		exists = true;
		/* The layers beyond the switches: can Basic actually succeed? */
		have_verdict = v->eff_ok && sw_effective_mailbox((struct sw_effective_ctx *)&v->eff, &m, &vd) == 0;
		sw_effective_state(v->state.smtp_disabled, m.smtp_disabled,
		                   v->state.default_policy[0] ? v->state.default_policy : NULL,
		                   v->state.policy_allows_basic, &eff);
		on = eff.smtp_auth_on;
	}
	sw_store_last_signin(d->store, tc->name, address, true, &last);
	int64_t rl = 0;
	if (sw_store_report_last_use(d->store, tc->name, address, &rl) >= 0 && rl > last)
		last = rl;
	row = json_pack("{s:s,s:s,s:b,s:o,s:s,s:s,s:o}", "tenant", tc->name, "mailbox", address, "registered", e != NULL,
	                "switch", exists ? json_string(sw_tristate_name(m.smtp_disabled)) : json_null(), "effective",
	                !v->have_state ? "unknown" : on ? "on" : "off", "reason",
	                !v->have_state ? "no Exchange snapshot yet" : exists ? eff.reason : "no such mailbox",
	                "last_used", sw_json_time_or_null(last));
	if (row == NULL) {
		if (have_verdict)
			sw_verdict_clear(&vd);
		return NULL;
	}
	if (have_verdict) {
		char sentence[600];
		sw_verdict_json(&vd, row);
		sw_verdict_sentence(&vd, sentence, sizeof(sentence));
		json_object_set_new(row, "basic_smtp_summary", json_string(sentence));
		sw_verdict_clear(&vd);
	} else {
		json_object_set_new(row, "basic_smtp", json_string("unknown"));
		json_object_set_new(row, "oauth_smtp", json_string("unknown"));
		json_object_set_new(row, "decided_by", json_pack("[s]", !v->have_state ? "no Exchange snapshot yet"
		                                                        : exists      ? "the layers could not be read"
		                                                                      : "no such mailbox"));
	}
	if (exists) {
		json_object_set_new(row, "basic_blocked", json_boolean(eff.basic_blocked));
		json_object_set_new(row, "identity", json_string(m.identity));
		json_object_set_new(row, "object_id", m.object_id[0] ? json_string(m.object_id) : json_null());
	}
	if (e != NULL) {
		long days = (long)((e->expires - now) / 86400);
		json_object_set_new(row, "owner", e->owner ? json_string(e->owner) : json_null());
		json_object_set_new(row, "ticket", e->ticket ? json_string(e->ticket) : json_null());
		json_object_set_new(row, "justification", e->justification ? json_string(e->justification) : json_null());
		json_object_set_new(row, "expires", json_string(e->expires_text));
		json_object_set_new(row, "days_left", json_integer(e->expires > now ? days : -(long)((now - e->expires + 86399) / 86400)));
		json_object_set_new(row, "max_daily_messages",
		                    e->max_daily_messages >= 0 ? json_integer(e->max_daily_messages) : json_null());
		json_object_set_new(row, "register_line", json_integer(e->line));
	}
	/* Without a snapshot only the register and the sign-ins are known. */
	const char *verdict = v->have_state ? sw_detect_verdict(d->cfg, e, exists, on, last, v->watched_since, now)
	                                    : (e ? sw_detect_verdict(d->cfg, e, true, true, last, v->watched_since, now)
	                                         : "unknown");
	json_object_set_new(row, "verdict", json_string(verdict));
	return row;
}

struct collect {
	char **v;
	size_t n, cap;
};

/* Add an address once. */
static int collect_add(struct collect *c, const char *s)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], s) == 0)
			return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		char **nv = realloc(c->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n] = strdup(s);
	return c->v[c->n++] ? 0 : -ENOMEM;
}

static void collect_clear(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int collect_enabled_cb(const struct sw_mailbox_row *m, void *arg)
{
	return collect_add(arg, m->address);
}

/* exceptions {"tenant":optional}: every mailbox with its own override on
 * or in the register.  Mailboxes that only inherit an enabled tenant
 * switch are counted in the tenant's line (the tenant alert covers them). */
int control_cmd_exceptions(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                           char *why, size_t n)
{
	const char *only = json_string_value(json_object_get(req, "tenant"));
	json_t *rows = json_array(), *tenants = json_object();
	int r = 0;

	if (only != NULL && daemon_tenant(d, only) == NULL) {
		snprintf(why, n, "unknown tenant \"%s\"", only);
		r = -ENOENT;
		goto out;
	}
	for (size_t i = 0; r >= 0 && i < d->n_tenants; i++) {
		struct tenant *t = d->tenants[i];
		struct tenant_view v;
		struct collect c = {0};

		if (only != NULL && strcmp(only, t->cfg->name) != 0)
			continue;
		tenant_view_load(d, t, &v);
		json_object_set_new(tenants, t->cfg->name, tenant_view_json(&v));
		if (v.have_state)
			r = sw_store_mailboxes_enabled(d->store, t->cfg->name, collect_enabled_cb, &c);
		for (size_t k = 0; r >= 0 && t->reg != NULL && k < t->reg->n; k++)
			r = collect_add(&c, t->reg->entries[k].mailbox);
		for (size_t k = 0; r >= 0 && k < c.n; k++)
			json_array_append_new(rows, mailbox_row(d, &v, c.v[k]));
		collect_clear(&c);
		tenant_view_free(&v);
	}
	if (r < 0) {
		snprintf(why, n, "cannot read the store: %s", sw_store_errmsg(d->store));
		goto out;
	}
	*ret_data = json_pack("{s:O,s:O}", "tenants", tenants, "exceptions", rows);
	r = *ret_data ? 0 : -ENOMEM;
out:
	json_decref(rows);
	json_decref(tenants);
	return r;
}

static int signin_json_cb(const struct sw_signin_brief *b, void *arg)
{
	json_array_append_new(arg,
	                      json_pack("{s:o,s:s,s:s,s:s,s:i,s:s?}", "time", sw_json_time_or_null(b->created), "id",
	                                b->id, "ip", b->ip, "country", b->country, "error_code", b->error_code,
	                                "failure_reason", b->failure_reason[0] ? b->failure_reason : NULL));
	return 0;
}

static int change_json_cb(const struct sw_mailbox_change *c, void *arg)
{
	json_array_append_new(arg, json_pack("{s:o,s:s,s:s,s:s}", "at", sw_json_time_or_null(c->at), "field", c->field,
	                                     "old", c->old_value, "new", c->new_value));
	return 0;
}

struct alert_filter {
	const struct sw_config *cfg;
	const char *tenant, *subject;
	json_t *out;
};

static int alert_match_cb(const struct sw_alert *a, void *arg)
{
	struct alert_filter *f = arg;

	struct sw_alert view = *a; /* shallow: only read by sw_alert_document */

	sw_alert_set_tenant_id(&view, f->cfg);
	if (strcmp(a->tenant, f->tenant) == 0 && strcmp(a->subject, f->subject) == 0)
		json_array_append_new(f->out, sw_alert_document(&view));
	return 0;
}

/* mailbox {"address":..}: everything known of one mailbox, per tenant. */
int control_cmd_mailbox(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	const char *arg = json_string_value(json_object_get(req, "address"));
	char *address = arg ? sw_strdup_lower(arg) : NULL;
	json_t *found = json_array();
	int r = 0;

	if (address == NULL || strchr(address, '@') == NULL) {
		snprintf(why, n, "mailbox needs an address (user@domain)");
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; r >= 0 && i < d->n_tenants; i++) {
		struct tenant *t = d->tenants[i];
		struct tenant_view v;
		struct sw_mailbox_row m;
		int64_t last = 0;

		tenant_view_load(d, t, &v);
		bool have_m = sw_store_mailbox_get(d->store, t->cfg->name, address, &m) == 0;
		bool known = have_m ||
		             sw_register_find(t->reg, address) != NULL ||
		             (sw_store_last_signin(d->store, t->cfg->name, address, false, &last) == 0 && last > 0);
		if (!known) {
			tenant_view_free(&v);
			continue;
		}
		json_t *row = mailbox_row(d, &v, address);
		json_t *signins = json_array(), *history = json_array(), *alerts = json_array();
		struct alert_filter f = {d->cfg, t->cfg->name, address, alerts};
		r = sw_store_signins_recent(d->store, t->cfg->name, address, 20, signin_json_cb, signins);
		if (r >= 0)
			r = sw_store_mailbox_changes(d->store, t->cfg->name, address, 50, change_json_cb, history);
		if (r >= 0)
			r = sw_store_alerts_list(d->store, true, 0, alert_match_cb, &f);
		json_t *changes = json_array();
		if (r >= 0)
			r = control_mailbox_changes(d, t->cfg->name, address, have_m ? m.identity : NULL, changes);
		json_object_set_new(row, "changes", changes);
		json_object_set_new(row, "tenant_state", tenant_view_json(&v));
		json_object_set_new(row, "signins", signins);
		json_object_set_new(row, "history", history);
		json_object_set_new(row, "alerts", alerts);
		json_array_append_new(found, row);
		tenant_view_free(&v);
	}
	if (r < 0) {
		snprintf(why, n, "cannot read the store: %s", sw_store_errmsg(d->store));
		goto out;
	}
	if (json_array_size(found) == 0) {
		snprintf(why, n, "no mailbox %s in any tenant (not in Exchange, the register or the sign-ins)", address);
		r = -ENOENT;
		goto out;
	}
	*ret_data = json_pack("{s:s,s:O}", "address", address, "tenants", found);
	r = *ret_data ? 0 : -ENOMEM;
out:
	free(address);
	json_decref(found);
	return r;
}
