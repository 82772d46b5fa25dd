/* control_remedy.c: remediate (one write for one alert, or a dry run),
 * remediation (an action's record) and plan (enforcement readiness). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "jsonutil.h"
#include "remedy.h"
#include "smtpwatchd.h"
#include "store_exo.h"
#include "store_inventory.h"
#include "store_remediate.h"

struct pending_ctx {
	int64_t id;
};

/* A pending action of the alert, if any. */
static int pending_cb(const struct sw_remedy_action *a, void *arg)
{
	((struct pending_ctx *)arg)->id = a->id;
	return -ECANCELED;
}

/* remediate {"id":"a-000001","dry_run":bool,"tenant_switch":bool}: the
 * refusals, then the cmdlet (dry run), or the action started: its id,
 * for `remediation`, which has the outcome once the target is read back. */
int control_cmd_remediate(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                          char *why, size_t n)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	bool dry = json_is_true(json_object_get(req, "dry_run"));
	bool tenant_switch = json_is_true(json_object_get(req, "tenant_switch"));
	struct sw_alert a = {0};
	struct sw_remedy_cmd cmd;
	struct pending_ctx pend = {0};
	struct tenant *t;
	char who[64], creds[200];
	int64_t action = 0;
	int r;

	if (id == NULL) {
		snprintf(why, n, "remediate needs an alert id");
		return -EINVAL;
	}
	r = sw_store_alert_get(d->store, id, &a);
	if (r < 0) {
		snprintf(why, n, r == -ENOENT ? "no alert %.30s" : "cannot read alert %.30s: %s", id, sw_store_errmsg(d->store));
		return r;
	}
	t = daemon_tenant(d, a.tenant);
	if (t == NULL) {
		snprintf(why, n, "alert %s: tenant %s is no longer configured", a.id, a.tenant);
		r = -ENOENT;
		goto out;
	}
	if (t->cfg->remediation == SW_REMEDIATION_OFF) {
		snprintf(why, n, "remediation is off for tenant %s: set remediation = manual (or auto) in [tenant %s] "
		         "and give the app the Exchange Administrator role (smtpwatch.conf(5))", t->cfg->name, t->cfg->name);
		r = -EPERM;
		goto out;
	}
	r = sw_remedy_cmd_for(&a, tenant_switch, &cmd, why, n);
	if (r < 0)
		goto out;
	if (!cmd.tenant_switch && (r = sw_remedy_register_check(t->reg, cmd.target, daemon_now(), why, n)) < 0)
		goto out;
	sw_store_remedy_list(d->store, t->cfg->name, a.id, true, pending_cb, &pend);
	if (pend.id != 0) {
		snprintf(why, n, "alert %s: remediation %lld is still in progress", a.id, (long long)pend.id);
		r = -EBUSY;
		goto out;
	}
	remedy_credentials(t, creds, sizeof(creds));
	if (dry) {
		*ret_data = json_pack("{s:b,s:s,s:s,s:s,s:s,s:s,s:o,s:s}", "dry_run", 1, "alert", a.id, "tenant",
		                      t->cfg->name, "target", cmd.target, "command", cmd.command, "cmdlet", cmd.cmdlet,
		                      "parameters", sw_remedy_cmd_params(&cmd), "credentials", creds);
		r = *ret_data ? 0 : -ENOMEM;
		goto out;
	}
	if (control_user_name(peer->uid, who, sizeof(who)) < 0)
		snprintf(who, sizeof(who), "uid %u", (unsigned)peer->uid);
	r = remedy_start(t, &cmd, a.id, a.rule, who, (int64_t)peer->uid, &action, why, n);
	if (r < 0)
		goto out;
	*ret_data = json_pack("{s:b,s:I,s:s,s:s,s:s,s:s,s:s}", "dry_run", 0, "action", (json_int_t)action, "alert",
	                      a.id, "tenant", t->cfg->name, "target", cmd.target, "command", cmd.command, "credentials",
	                      creds);
	r = *ret_data ? 0 : -ENOMEM;
out:
	sw_alert_clear(&a);
	return r;
}

/* Collect actions as JSON. */
static int list_cb(const struct sw_remedy_action *a, void *arg)
{
	json_t *o = sw_remedy_action_json(a);

	return o != NULL && json_array_append_new(arg, o) == 0 ? 0 : -ENOMEM;
}

/* remediation {"id":N} one action, or {"alert":ID,"tenant":T} a list, newest first. */
int control_cmd_remediation(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                            char *why, size_t n)
{
	json_t *idv = json_object_get(req, "id");
	struct sw_remedy_action a;
	int r;

	(void)peer;
	if (json_is_integer(idv)) {
		r = sw_store_remedy_get(d->store, json_integer_value(idv), &a);
		if (r < 0) {
			snprintf(why, n, r == -ENOENT ? "no remediation %lld" : "cannot read remediation %lld",
			         (long long)json_integer_value(idv));
			return r;
		}
		*ret_data = sw_remedy_action_json(&a);
		sw_remedy_action_clear(&a);
		return *ret_data ? 0 : -ENOMEM;
	}
	json_t *list = json_array();
	if (list == NULL)
		return -ENOMEM;
	r = sw_store_remedy_list(d->store, json_string_value(json_object_get(req, "tenant")),
	                         json_string_value(json_object_get(req, "alert")), false, list_cb, list);
	if (r < 0) {
		json_decref(list);
		snprintf(why, n, "cannot list the remediations: %s", sw_store_errmsg(d->store));
		return r;
	}
	*ret_data = json_pack("{s:o}", "remediations", list);
	return *ret_data ? 0 : -ENOMEM;
}

#define PLAN_WINDOW (30 * 86400)

struct plan_ctx {
	struct daemon *d;
	struct tenant *t;
	int64_t since;
	struct sw_plan_sender *items;
	char (*addrs)[320];
	size_t n, cap;
	int r;
};

/* Keep a sender seen in the window, with its mailbox's switch. */
static int plan_sender_cb(const struct sw_inventory_sender *e, void *arg)
{
	struct plan_ctx *c = arg;
	struct sw_mailbox_row mb;

	if (e->last_seen < c->since)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct sw_plan_sender *it = realloc(c->items, cap * sizeof(*it));
		if (it != NULL)
			c->items = it;
		char(*ad)[320] = realloc(c->addrs, cap * sizeof(*ad));
		if (ad != NULL)
			c->addrs = ad;
		if (it == NULL || ad == NULL)
			return -ENOMEM;
		c->cap = cap;
	}
	struct sw_plan_sender *p = &c->items[c->n];
	snprintf(c->addrs[c->n], sizeof(c->addrs[c->n]), "%s", e->sender);
	memset(p, 0, sizeof(*p));
	p->basic = e->last_basic >= c->since;
	p->oauth = e->last_oauth >= c->since;
	p->signins = e->signins_30d;
	p->messages = e->messages_30d;
	p->last_seen = e->last_seen;
	p->mailbox_disabled = -2;
	if (sw_store_mailbox_get(c->d->store, c->t->cfg->name, e->sender, &mb) == 0 && !mb.removed)
		p->mailbox_disabled = mb.smtp_disabled == SW_TRI_TRUE ? 1 : mb.smtp_disabled == SW_TRI_FALSE ? 0 : -1;
	c->n++;
	return 0;
}

/* One tenant's plan (new reference), or NULL with why. */
static json_t *plan_tenant(struct daemon *d, struct tenant *t, char *why, size_t n)
{
	struct plan_ctx c = {.d = d, .t = t, .since = daemon_now() - PLAN_WINDOW};
	struct sw_tenant_state st;
	json_t *doc = NULL;

	if (sw_store_tenant_state_get(d->store, t->cfg->name, &st) < 0) {
		snprintf(why, n, "tenant %s: no Exchange snapshot yet: the plan needs the switches (try again after the "
		         "first run, smtpwatchctl poll)", t->cfg->name);
		return NULL;
	}
	if (sw_store_inventory(d->store, t->cfg->name, c.since, plan_sender_cb, &c) < 0) {
		snprintf(why, n, "tenant %s: cannot read the senders: %s", t->cfg->name, sw_store_errmsg(d->store));
		goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		c.items[i].address = c.addrs[i];
	struct sw_plan_input in = {
		.tenant = t->cfg->name,
		.tenant_disabled = st.smtp_disabled,
		.senders = c.items,
		.n_senders = c.n,
		.reg = t->reg,
		.now = daemon_now(),
	};
	doc = sw_remedy_plan(&in);
	if (doc == NULL)
		snprintf(why, n, "out of memory");
out:
	free(c.items);
	free(c.addrs);
	return doc;
}

/* plan {"tenant":T}: per tenant (T, or every tenant with remediation on),
 * what turning the tenant switch off would break and the commands, in
 * order.  Refused where remediation is off. */
int control_cmd_plan(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                     size_t n)
{
	const char *name = json_string_value(json_object_get(req, "tenant"));
	json_t *list = json_array();
	size_t considered = 0;

	(void)peer;
	if (list == NULL)
		return -ENOMEM;
	if (name != NULL && daemon_tenant(d, name) == NULL) {
		snprintf(why, n, "no tenant %.64s", name);
		json_decref(list);
		return -ENOENT;
	}
	for (size_t i = 0; i < d->n_tenants; i++) {
		struct tenant *t = d->tenants[i];
		if (name != NULL && strcmp(t->cfg->name, name) != 0)
			continue;
		if (t->cfg->remediation == SW_REMEDIATION_OFF)
			continue;
		considered++;
		json_t *p = plan_tenant(d, t, why, n);
		if (p == NULL) {
			json_decref(list);
			return -EIO;
		}
		json_array_append_new(list, p);
	}
	if (considered == 0) {
		snprintf(why, n, "remediation is off for %s%s: set remediation = manual in [tenant NAME] first "
		         "(smtpwatch.conf(5))", name ? "tenant " : "every tenant", name ? name : "");
		json_decref(list);
		return -EPERM;
	}
	*ret_data = json_pack("{s:o}", "tenants", list);
	return *ret_data ? 0 : -ENOMEM;
}
