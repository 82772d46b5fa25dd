/* detect.c: the rules.  Sign-in rules read only the sign-ins stored since
 * their last run (a rowid cursor kept as the "detect" checkpoint), so a
 * poll never rescans history; late records get a new rowid when they are
 * finally stored, so they are examined exactly once too. */
#include "detect.h"
#include "detect_audit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "detect_attack.h"
#include "detect_report.h"
#include "detect_usage.h"
#include "store_usage.h"
#include "detect_stopped.h"
#include "effective.h"
#include "store_detect.h"
#include "lifecycle.h"
#include "store_exo.h"
#include "store_report.h"

#define DETECT_PAGE 5000
#define EVIDENCE_IDS_MAX 20

/* One sender's unapproved submissions within a page. */
struct submitter {
	char *upn;
	int64_t first, last, count;
	json_t *ips;       /* array of strings */
	json_t *countries; /* array of strings */
	json_t *ids;       /* array of strings, capped */
};

struct submitters {
	struct submitter *items;
	size_t n, cap;
};

/* Append s to a JSON string array unless present (or the array is full). */
static void json_array_add_unique(json_t *arr, const char *s, size_t cap)
{
	size_t i;
	json_t *v;

	if (s == NULL || *s == '\0' || json_array_size(arr) >= cap)
		return;
	json_array_foreach(arr, i, v) {
		if (strcmp(json_string_value(v), s) == 0)
			return;
	}
	json_array_append_new(arr, json_string(s));
}

/* Find or add the group for upn. */
static struct submitter *submitters_get(struct submitters *g, const char *upn)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->items[i].upn, upn) == 0)
			return &g->items[i];
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct submitter *n = realloc(g->items, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		g->items = n;
		g->cap = cap;
	}
	struct submitter *s = &g->items[g->n];
	memset(s, 0, sizeof(*s));
	s->upn = strdup(upn);
	s->ips = json_array();
	s->countries = json_array();
	s->ids = json_array();
	if (s->upn == NULL || s->ips == NULL || s->countries == NULL || s->ids == NULL) {
		free(s->upn);
		json_decref(s->ips);
		json_decref(s->countries);
		json_decref(s->ids);
		return NULL;
	}
	g->n++;
	return s;
}

/* Free every group. */
static void submitters_clear(struct submitters *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->items[i].upn);
		json_decref(g->items[i].ips);
		json_decref(g->items[i].countries);
		json_decref(g->items[i].ids);
	}
	free(g->items);
	memset(g, 0, sizeof(*g));
}

/* See detect.h. */
void sw_detect_join(const json_t *arr, char *buf, size_t n)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (i == 3) {
			snprintf(buf + off, n - off, " and %zu more", json_array_size(arr) - 3);
			return;
		}
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", json_string_value(v));
		if (w < 0 || (size_t)w >= n - off)
			return;
		off += (size_t)w;
	}
}

/* Raise (or grow) the unapproved-submission alert for one sender. */
static int fire_unapproved(struct sw_store *s, const struct sw_config *cfg, const char *tenant,
                           struct submitter *sub, int64_t now, struct sw_detect_stats *st)
{
	struct sw_alert prior = {0};
	int64_t since = sub->first, total = 0;
	json_t *ips = json_deep_copy(sub->ips);
	json_t *evidence = NULL;
	char ipbuf[160], summary[512], remediation[1024], id[700];
	bool notified = false;
	int r = -ENOMEM;

	if (ips == NULL)
		goto fail;
	/* The summary speaks of the whole condition, not just this batch. */
	if (sw_store_alert_find(s, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, sub->upn, &prior) == 0 &&
	    prior.status == SW_ALERT_FIRING) {
		if (prior.first_seen < since)
			since = prior.first_seen;
		json_t *old = prior.evidence ? json_object_get(prior.evidence, "ips") : NULL;
		size_t i;
		json_t *v;
		json_array_foreach(old, i, v) json_array_add_unique(ips, json_string_value(v), 50);
	}
	/* The count is the condition's, from both sources (sign-ins and the
	 * SMTP AUTH clients report), each day counted once.  Unless the report
	 * covers the days of this batch, that is the count so far plus the
	 * batch, without reading back the sender's sign-ins. */
	r = sw_store_report_basic_on(s, tenant, sub->upn, sub->first, sub->last);
	if (r == 0) {
		total = prior.status == SW_ALERT_FIRING ? prior.count + sub->count : sub->count;
	} else if (r > 0) {
		r = sw_store_basic_use(s, tenant, sub->upn, since, &total);
		if (total < sub->count)
			total = sub->count;
	}
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	sw_detect_join(ips, ipbuf, sizeof(ipbuf));
	snprintf(summary, sizeof(summary),
	         "%s sent %lld message%s with Basic SMTP AUTH from %s and is not in the exception register",
	         sub->upn, (long long)total, total == 1 ? "" : "s", ipbuf);
	snprintf(remediation, sizeof(remediation),
	         "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true",
	         sw_ps_quote(sub->upn, id, sizeof(id)));
	evidence = json_pack("{s:O,s:O,s:O}", "ips", sub->ips, "countries", sub->countries, "signin_ids", sub->ids);
	if (evidence == NULL)
		goto fail;
	struct sw_condition c = {
		.rule = SW_RULE_UNAPPROVED_BASIC_AUTH,
		.severity = SW_SEV_HIGH,
		.tenant = tenant,
		.subject = sub->upn,
		.first_seen = sub->first,
		.last_seen = sub->last,
		.count = total,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
	};
	r = sw_lifecycle_fire(s, cfg, &c, now, &notified);
	if (r >= 0 && notified)
		st->fired++;
fail:
	sw_alert_clear(&prior);
	json_decref(ips);
	json_decref(evidence);
	return r;
}

struct resolve_ctx {
	const struct sw_register *reg;
	int64_t now;
	struct sw_strv subjects;
};

/* Collect firing unapproved-submission alerts whose sender is now approved. */
static int collect_approved_cb(const struct sw_alert *a, void *arg)
{
	struct resolve_ctx *rc = arg;
	const struct sw_exception *e = sw_register_find(rc->reg, a->subject);

	if (e == NULL || !sw_exception_active(e, rc->now))
		return 0;
	return sw_strv_add(&rc->subjects, a->subject);
}

/* A sender that was registered since its alert fired: the condition clears. */
static int resolve_approved(struct sw_store *s, const struct sw_config *cfg, const char *tenant,
                            const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct resolve_ctx rc = {.reg = reg, .now = now};
	int r = sw_store_alerts_firing(s, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, collect_approved_cb, &rc);

	for (size_t i = 0; r >= 0 && i < rc.subjects.n; i++) {
		r = sw_lifecycle_resolve(s, cfg, SW_RULE_UNAPPROVED_BASIC_AUTH, tenant, rc.subjects.v[i], now);
		if (r >= 0)
			st->resolved++;
	}
	sw_strv_clear(&rc.subjects);
	return r;
}

/* What one page of sign-ins gathers for the unapproved-submission rule. */
struct page_ctx {
	const struct sw_register *reg;
	struct submitters groups;
	int64_t rows, watermark;
};

/* One sign-in of the page: a success of a mailbox outside the register
 * (or past its exception) joins its mailbox's group. */
static int page_signin_cb(const struct sw_signin_row *row, void *arg)
{
	struct page_ctx *pc = arg;
	const struct sw_exception *e;
	struct submitter *g;

	pc->watermark = row->rowid;
	pc->rows++;
	if (row->error_code != 0 || row->upn == NULL)
		return 0;
	e = sw_register_find(pc->reg, row->upn);
	if (e != NULL && sw_exception_active(e, row->created))
		return 0;
	g = submitters_get(&pc->groups, row->upn);
	if (g == NULL)
		return -ENOMEM;
	if (g->count == 0 || row->created < g->first)
		g->first = row->created;
	if (row->created > g->last)
		g->last = row->created;
	g->count++;
	json_array_add_unique(g->ips, row->ip, 50);
	json_array_add_unique(g->countries, row->country, 50);
	json_array_add_unique(g->ids, row->id, EVIDENCE_IDS_MAX);
	return 0;
}

/* Examine one page of new sign-ins; *ret_more says whether more remain.
 * resolve_attacks: the last page resolves the attack rules' quiet alerts
 * in its transaction (the sliced pass does it as a step of its own). */
static int detect_signins_page(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                               const struct sw_register *reg, int64_t now, int64_t page, bool resolve_attacks,
                               bool own_tx, struct sw_detect_stats *st, bool *ret_more)
{
	struct sw_checkpoint cp;
	struct page_ctx pc = {.reg = reg};
	int64_t first;
	int r;

	r = own_tx ? sw_store_begin(s) : 0;
	if (r < 0)
		return r;
	r = sw_store_checkpoint_get(s, t->name, "detect", &cp);
	if (r < 0 && r != -ENOENT)
		goto fail;
	first = cp.watermark + 1;
	pc.watermark = cp.watermark;
	r = sw_store_signins_range(s, t->name, first, INT64_MAX, page, page_signin_cb, &pc);
	if (r < 0)
		goto fail;
	cp.watermark = pc.watermark;

	for (size_t i = 0; i < pc.groups.n; i++) {
		r = fire_unapproved(s, cfg, t->name, &pc.groups.items[i], now, st);
		if (r < 0)
			goto fail;
	}
	/* The attack rules over the same rowids; quiet ones resolve once the
	 * last page is done. */
	r = sw_detect_attacks(s, cfg, t, reg, first, cp.watermark, now, st);
	if (r >= 0 && pc.rows < page && resolve_attacks)
		r = sw_detect_attacks_resolve(s, cfg, t, now, st);
	if (r < 0)
		goto fail;
	st->signins_examined += pc.rows;
	if (pc.rows > 0) {
		cp.last_success = now;
		cp.last_attempt = now;
		r = sw_store_checkpoint_put(s, t->name, "detect", &cp);
		if (r < 0)
			goto fail;
	}
	r = own_tx ? sw_store_commit(s) : 0;
	if (r < 0)
		goto fail;
	submitters_clear(&pc.groups);
	*ret_more = pc.rows == page;
	return 0;
fail:
	if (own_tx)
		sw_store_rollback(s);
	submitters_clear(&pc.groups);
	return r;
}

/* See detect.h. */
int sw_strv_add(struct sw_strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **n = realloc(sv->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		sv->v = n;
		sv->cap = cap;
	}
	sv->v[sv->n] = strdup(s);
	if (sv->v[sv->n] == NULL)
		return -ENOMEM;
	sv->n++;
	return 0;
}

/* See detect.h. */
int sw_strv_add_tenant(const struct sw_alert *a, void *arg)
{
	return sw_strv_add(arg, a->tenant ? a->tenant : "-");
}

/* See detect.h. */
void sw_strv_clear(struct sw_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

/* Everything the state rules of one tenant look at. */
struct state_ctx {
	struct sw_store *s;
	const struct sw_config *cfg;
	const struct sw_tenant_config *t;
	const struct sw_register *reg;
	int64_t now;
	bool have_state;
	struct sw_tenant_state state;
	struct sw_detect_stats *st;
	struct sw_strv holds; /* subjects of the rule being evaluated */
	bool eff_ok;          /* eff loaded: the layers beyond the switches */
	struct sw_effective_ctx eff;
};

/* "; Basic SMTP AUTH cannot succeed (blocked by ...)" for a mailbox row
 * of the snapshot, into buf ("" when the layers are not loaded); the
 * verdict's fields go into ev too. */
static void basic_sentence(struct state_ctx *x, const struct sw_mailbox_row *m, char *buf, size_t n, json_t *ev)
{
	struct sw_verdict v;
	char sentence[700];

	buf[0] = '\0';
	if (!x->eff_ok || sw_effective_mailbox(&x->eff, m, &v) < 0)
		return;
	sw_verdict_sentence(&v, sentence, sizeof(sentence));
	snprintf(buf, n, "; %s", sentence);
	if (ev != NULL)
		sw_verdict_json(&v, ev);
	sw_verdict_clear(&v);
}

/* Fire a state condition, with the audit record that explains it
 * (changed_by, NULL when none), and remember that its subject holds. */
static int state_fire_by(struct state_ctx *x, const char *rule, enum sw_severity sev, const char *subject,
                         const char *summary, const char *remediation, json_t *evidence, const char *changed_by)
{
	bool notified = false;
	struct sw_condition c = {
		.rule = rule,
		.severity = sev,
		.tenant = x->t->name,
		.subject = subject,
		.first_seen = x->now,
		.last_seen = x->now,
		.count = 1,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
		.changed_by = changed_by,
	};
	int r = sw_lifecycle_fire(x->s, x->cfg, &c, x->now, &notified);

	if (r >= 0 && notified)
		x->st->fired++;
	if (r >= 0)
		r = sw_strv_add(&x->holds, subject);
	return r;
}

/* The same without an explanation. */
static int state_fire(struct state_ctx *x, const char *rule, enum sw_severity sev, const char *subject,
                      const char *summary, const char *remediation, json_t *evidence)
{
	return state_fire_by(x, rule, sev, subject, summary, remediation, evidence, NULL);
}

/* The latest observed flip of the tenant switch to on (mailbox_changes). */
static int tenant_flip_cb(const struct sw_mailbox_change *c, void *arg)
{
	if (strcmp(c->field, "tenant:SmtpClientAuthenticationDisabled") != 0)
		return 0;
	if (strcmp(c->new_value, "false") == 0)
		*(int64_t *)arg = c->at;
	return -ECANCELED; /* newest first: the first of the field is the latest */
}

/* How long after a change the audit log can still bring its record. */
#define AUDIT_LATENCY (6 * 3600)

/* Why the tenant switch is on, from the audit log (audit = on only): the
 * admin change that turned it on; or, when the daemon saw it flip and the
 * audit source has read well past that without a record of it, a note
 * that nobody recorded it (at the end of December 2026 Microsoft changes
 * the default for existing tenants).  NULL when unknown. */
static char *tenant_changed_by(struct state_ctx *x)
{
	struct sw_checkpoint cp;
	int64_t flipped = 0;
	char *json = NULL, at[32];

	if (!x->t->audit || sw_explain_tenant_on(x->s, x->t->name, x->now, &json) < 0)
		return NULL;
	if (json != NULL)
		return json;
	sw_store_mailbox_changes(x->s, x->t->name, "", 50, tenant_flip_cb, &flipped);
	if (flipped == 0 || sw_store_checkpoint_get(x->s, x->t->name, "audit", &cp) < 0 ||
	    cp.watermark < flipped + AUDIT_LATENCY)
		return NULL;
	sw_time_format(flipped, at, sizeof(at));
	json_t *o = json_pack("{s:n,s:s,s:n,s:n,s:n,s:s,s:s}", "user", "at", at, "ip", "operation", "audit_id", "actor",
	                      "unknown", "note", "no admin change recorded; possibly Microsoft's default change");
	json = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	return json;
}

/* Why a mailbox has SMTP AUTH on, from the audit log (audit = on only). */
static char *mailbox_changed_by(struct state_ctx *x, const char *address, const char *identity, bool own)
{
	const char *names[] = {address, identity, NULL};
	char *json = NULL;

	if (!x->t->audit || sw_explain_mailbox_on(x->s, x->t->name, names, own, x->now, &json) < 0)
		return NULL;
	return json;
}

/* Resolve the rule's alerts whose subject no longer holds. */
static int state_sync(struct state_ctx *x, const char *rule)
{
	size_t resolved = 0;
	int r = sw_lifecycle_sync(x->s, x->cfg, rule, x->t->name, (const char *const *)x->holds.v, x->holds.n, x->now,
	                          &resolved);

	x->st->resolved += (int64_t)resolved;
	sw_strv_clear(&x->holds);
	return r;
}

/* The effective state of a mailbox in the latest snapshot; false when the
 * mailbox is unknown or removed. */
static bool mailbox_effective(struct state_ctx *x, const char *address, struct sw_effective *ret,
                              bool *ret_exists)
{
	struct sw_mailbox_row m;

	*ret_exists = false;
	memset(ret, 0, sizeof(*ret));
	if (!x->have_state || sw_store_mailbox_get(x->s, x->t->name, address, &m) < 0 || m.removed)
		return false;
	*ret_exists = true;
	sw_effective_state(x->state.smtp_disabled, m.smtp_disabled,
	                   x->state.default_policy[0] ? x->state.default_policy : NULL, x->state.policy_allows_basic,
	                   ret);
	return ret->smtp_auth_on;
}

/* legacy-auth-not-blocked: neither security defaults nor an enabled CA
 * policy blocks legacy authentication for everyone (CIS 5.2.2.3).  Only
 * once the policies were read: a layer not read (403) decides nothing,
 * and what fired stays. */
static int rule_legacy(struct state_ctx *x)
{
	char summary[1600], by[200], nears[900] = "none";
	json_t *near = NULL;
	int r = 0, legacy;

	if (!x->eff_ok || !x->eff.policies_read) {
		sw_strv_clear(&x->holds);
		return 0;
	}
	legacy = sw_effective_legacy(&x->eff, by, sizeof(by), &near);
	if (legacy == -ENOMEM) /* SW_UNKNOWN is -1, an answer */
		return legacy;
	if (legacy == SW_UNKNOWN) {
		json_decref(near);
		sw_strv_clear(&x->holds);
		return 0;
	}
	if (legacy == SW_NO) {
		size_t i, off = 0;
		json_t *v;
		json_array_foreach(near, i, v) {
			int w = snprintf(nears + off, sizeof(nears) - off, "%s%s", i ? "; " : "", json_string_value(v));
			if (w < 0 || (size_t)w >= sizeof(nears) - off)
				break;
			off += (size_t)w;
		}
		snprintf(summary, sizeof(summary), "legacy authentication is not blocked for everyone in %s: security "
		         "defaults are off and no enabled conditional access policy blocks legacy clients for all users "
		         "(near misses: %s); Basic SMTP AUTH succeeds wherever the switches and authentication policies "
		         "allow it", x->t->tenant_id, nears);
		json_auto_t *ev = json_pack("{s:b,s:O,s:I}", "security_defaults", 0, "near_misses", near,
		                            "conditional_access_policies", (json_int_t)x->eff.ca.n);
		r = state_fire(x, SW_RULE_LEGACY_NOT_BLOCKED, SW_SEV_MEDIUM, x->t->tenant_id, summary,
		               "enforce a conditional access policy that blocks legacy authentication (client apps: "
		               "Exchange ActiveSync clients and other clients; grant: block) for all users and Exchange "
		               "Online, with exceptions as narrow as the register, or turn on security defaults "
		               "(CIS 5.2.2.3)", ev);
	}
	json_decref(near);
	return r < 0 ? r : state_sync(x, SW_RULE_LEGACY_NOT_BLOCKED);
}

/* tenant-smtp-auth-enabled: one critical alert for the tenant switch, not
 * one per inheriting mailbox. */
static int rule_tenant_enabled(struct state_ctx *x)
{
	char summary[1600], policy[300] = "", legacy[400] = "", by[200];
	int r = 0;

	if (x->have_state && !x->state.smtp_disabled) {
		if (x->state.default_policy[0] && !x->state.policy_allows_basic)
			snprintf(policy, sizeof(policy), "; the default authentication policy %s blocks Basic, so only "
			         "OAuth SMTP AUTH works", x->state.default_policy);
		json_t *near = NULL;
		int l = x->eff_ok ? sw_effective_legacy(&x->eff, by, sizeof(by), &near) : SW_UNKNOWN;
		json_decref(near);
		if (l == SW_YES)
			snprintf(legacy, sizeof(legacy), "; %s blocks legacy authentication for everyone, so Basic SMTP "
			         "AUTH cannot succeed (OAuth SMTP AUTH can)", by);
		else if (l == SW_NO)
			snprintf(legacy, sizeof(legacy), "; neither security defaults nor conditional access blocks legacy "
			         "authentication for everyone, so Basic SMTP AUTH can succeed unless a policy blocks it");
		else
			snprintf(legacy, sizeof(legacy), "; whether conditional access or security defaults block Basic "
			         "SMTP AUTH is unknown (not read)");
		snprintf(summary, sizeof(summary), "SMTP AUTH is enabled tenant-wide for %s "
		         "(Get-TransportConfig SmtpClientAuthenticationDisabled is False): every mailbox without its "
		         "own override can submit with SMTP AUTH%s%s", x->t->tenant_id, policy, legacy);
		json_auto_t *ev = json_pack("{s:b,s:s,s:b}", "SmtpClientAuthenticationDisabled", 0,
		                            "DefaultAuthenticationPolicy", x->state.default_policy,
		                            "AllowBasicAuthSmtp", x->state.policy_allows_basic);
		char *changed_by = tenant_changed_by(x);
		r = state_fire_by(x, SW_RULE_TENANT_ENABLED, SW_SEV_CRITICAL, x->t->tenant_id, summary,
		                  "Set-TransportConfig -SmtpClientAuthenticationDisabled $true", ev, changed_by);
		free(changed_by);
	}
	return r < 0 ? r : state_sync(x, SW_RULE_TENANT_ENABLED);
}

/* unapproved-mailbox-exception: an explicit per-mailbox override that the
 * register does not list.  Expired entries belong to exception-expired. */
static int enabled_mailbox_cb(const struct sw_mailbox_row *m, void *arg)
{
	struct state_ctx *x = arg;
	char summary[1600], remediation[800], id[600], basic[720];

	if (sw_register_find(x->reg, m->address) != NULL)
		return 0;
	struct sw_effective e;
	sw_effective_state(x->state.smtp_disabled, m->smtp_disabled,
	                   x->state.default_policy[0] ? x->state.default_policy : NULL, x->state.policy_allows_basic, &e);
	json_auto_t *ev = json_pack("{s:s,s:s,s:s}", "SmtpClientAuthenticationDisabled", "false", "effective",
	                            e.reason, "object_id", m->object_id);
	/* Still a misconfiguration when another layer blocks Basic: say so. */
	basic_sentence(x, m, basic, sizeof(basic), ev);
	snprintf(summary, sizeof(summary), "%s has SMTP AUTH enabled by its own override (%s) and is not in the "
	         "exception register%s", m->address, e.reason, basic);
	snprintf(remediation, sizeof(remediation), "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true "
	         "(or $null to follow the tenant), or add it to the exception register",
	         sw_ps_quote(m->address, id, sizeof(id)));
	char *by = mailbox_changed_by(x, m->address, m->identity, true);
	int r = state_fire_by(x, SW_RULE_UNAPPROVED_MAILBOX, SW_SEV_HIGH, m->address, summary, remediation, ev, by);
	free(by);
	return r;
}

static int rule_unapproved_mailbox(struct state_ctx *x)
{
	int r = 0;

	if (x->have_state)
		r = sw_store_mailboxes_enabled(x->s, x->t->name, enabled_mailbox_cb, x);
	if (r < 0) {
		sw_strv_clear(&x->holds);
		return r;
	}
	/* Without a snapshot nothing is known: keep what fired. */
	if (!x->have_state) {
		sw_strv_clear(&x->holds);
		return 0;
	}
	return state_sync(x, SW_RULE_UNAPPROVED_MAILBOX);
}

/* Days from now to t, rounded down (negative in the past). */
static long days_until(int64_t now, int64_t t)
{
	int64_t d = t - now;
	return (long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

/* The register rules: expired, expiring, stale, unused. */
static int rule_register(struct state_ctx *x, const char *rule)
{
	int r = 0;
	char summary[1200], remediation[800], id[600];
	bool need_state = strcmp(rule, SW_RULE_EXPIRED) == 0 || strcmp(rule, SW_RULE_STALE) == 0;
	struct sw_checkpoint since;

	if (need_state && !x->have_state)
		return 0; /* nothing known yet: keep what fired */
	if (strcmp(rule, SW_RULE_UNUSED) == 0) {
		/* Only claim "unused" once sign-ins were watched for unused_after. */
		if (sw_store_checkpoint_get(x->s, x->t->name, "signins-since", &since) < 0 ||
		    x->now - since.watermark < x->cfg->rules.unused_after)
			return 0;
	}
	for (size_t i = 0; r >= 0 && x->reg != NULL && i < x->reg->n; i++) {
		const struct sw_exception *e = &x->reg->entries[i];
		struct sw_effective eff;
		bool exists;
		bool on = mailbox_effective(x, e->mailbox, &eff, &exists);
		long days = days_until(x->now, e->expires);
		json_auto_t *ev = json_pack("{s:s?,s:s?,s:s?,s:i}", "owner", e->owner, "ticket", e->ticket, "expires",
		                            e->expires_text, "register_line", e->line);

		if (strcmp(rule, SW_RULE_EXPIRED) == 0) {
			struct sw_mailbox_row m;
			char basic[720] = "";
			bool have_m;
			if (sw_exception_active(e, x->now) || !on)
				continue;
			have_m = sw_store_mailbox_get(x->s, x->t->name, e->mailbox, &m) == 0;
			if (have_m)
				basic_sentence(x, &m, basic, sizeof(basic), ev);
			snprintf(summary, sizeof(summary), "the exception for %s expired on %s (owner %s, ticket %s) and "
			         "the mailbox still has SMTP AUTH on (%s)%s", e->mailbox, e->expires_text,
			         e->owner ? e->owner : "none", e->ticket ? e->ticket : "none", eff.reason, basic);
			snprintf(remediation, sizeof(remediation), "Set-CASMailbox -Identity %s "
			         "-SmtpClientAuthenticationDisabled $true, or renew the register entry",
			         sw_ps_quote(e->mailbox, id, sizeof(id)));
			char *by = NULL;
			if (x->t->audit && have_m)
				by = mailbox_changed_by(x, m.address, m.identity, m.smtp_disabled == SW_TRI_FALSE);
			r = state_fire_by(x, rule, SW_SEV_HIGH, e->mailbox, summary, remediation, ev, by);
			free(by);
		} else if (strcmp(rule, SW_RULE_EXPIRING) == 0) {
			if (!sw_exception_active(e, x->now) || e->expires - x->now > x->cfg->rules.expiring_within)
				continue;
			snprintf(summary, sizeof(summary), "the exception for %s expires on %s (%ld day%s left; owner %s, "
			         "ticket %s)", e->mailbox, e->expires_text, days, days == 1 ? "" : "s",
			         e->owner ? e->owner : "none", e->ticket ? e->ticket : "none");
			snprintf(remediation, sizeof(remediation), "move %s to OAuth or renew its register entry before %s",
			         e->mailbox, e->expires_text);
			r = state_fire(x, rule, SW_SEV_LOW, e->mailbox, summary, remediation, ev);
		} else if (strcmp(rule, SW_RULE_STALE) == 0) {
			if (on)
				continue;
			snprintf(summary, sizeof(summary), "the register lists %s but %s", e->mailbox,
			         exists ? "its SMTP AUTH is off" : "no such mailbox exists");
			snprintf(remediation, sizeof(remediation), "remove [exception %s] from %s (line %d)", e->mailbox,
			         x->reg->path ? x->reg->path : "the register", e->line);
			json_object_set_new(ev, "effective", json_string(exists ? eff.reason : "mailbox not found"));
			r = state_fire(x, rule, SW_SEV_INFO, e->mailbox, summary, remediation, ev);
		} else if (strcmp(rule, SW_RULE_UNUSED) == 0) {
			int64_t last = 0;
			char unused[32], lastbuf[32] = "never";
			if (!sw_exception_active(e, x->now))
				continue;
			r = sw_store_last_signin(x->s, x->t->name, e->mailbox, true, &last);
			/* The SMTP AUTH clients report counts as use too. */
			int64_t rl = 0;
			if (r >= 0 && sw_store_report_last_use(x->s, x->t->name, e->mailbox, &rl) >= 0 && rl > last)
				last = rl;
			/* And so does SMTP App activity in the email app usage report:
			 * the second witness where sign-ins cannot be read. */
			int64_t ul = 0;
			if (r >= 0 && sw_store_usage_last_use(x->s, x->t->name, e->mailbox, &ul) >= 0 && ul > last)
				last = ul;
			if (r < 0 || (last > 0 && x->now - last < x->cfg->rules.unused_after))
				continue;
			sw_duration_format(x->cfg->rules.unused_after, unused, sizeof(unused));
			if (last > 0)
				sw_time_format(last, lastbuf, sizeof(lastbuf));
			snprintf(summary, sizeof(summary), "%s holds an SMTP AUTH exception but has not used SMTP AUTH for "
			         "%s (last use: %s)", e->mailbox, unused, lastbuf);
			snprintf(remediation, sizeof(remediation), "Set-CASMailbox -Identity %s "
			         "-SmtpClientAuthenticationDisabled $true and remove its register entry",
			         sw_ps_quote(e->mailbox, id, sizeof(id)));
			json_object_set_new(ev, "last_used", last > 0 ? json_string(lastbuf) : json_null());
			r = state_fire(x, rule, SW_SEV_LOW, e->mailbox, summary, remediation, ev);
		}
	}
	if (r < 0) {
		sw_strv_clear(&x->holds);
		return r;
	}
	return state_sync(x, rule);
}

/* The snapshot and register rules of one tenant (the switch, the
 * policies, the overrides, the register entries): they share what they
 * load of the snapshot. */
static int detect_state(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                        const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct state_ctx x = {.s = s, .cfg = cfg, .t = t, .reg = reg, .now = now, .st = st};
	int r = sw_store_tenant_state_get(s, t->name, &x.state);

	if (r < 0 && r != -ENOENT)
		return r;
	/* Only a complete snapshot counts: the tenant row is written before
	 * the mailbox pages, the watermark after the last of them. */
	struct sw_checkpoint cp;
	x.have_state = r == 0 && sw_store_checkpoint_get(s, t->name, "exchange", &cp) == 0 && cp.watermark > 0;
	r = sw_effective_load(s, t->name, &x.eff);
	if (r == -ENOMEM)
		return r;
	x.eff_ok = r == 0;
	r = rule_tenant_enabled(&x);
	if (r >= 0)
		r = rule_legacy(&x);
	if (r >= 0)
		r = rule_unapproved_mailbox(&x);
	if (r >= 0)
		r = rule_register(&x, SW_RULE_EXPIRED);
	if (r >= 0)
		r = rule_register(&x, SW_RULE_EXPIRING);
	if (r >= 0)
		r = rule_register(&x, SW_RULE_STALE);
	if (r >= 0)
		r = rule_register(&x, SW_RULE_UNUSED);
	sw_strv_clear(&x.holds);
	if (x.eff_ok)
		sw_effective_free(&x.eff);
	return r;
}

/* The attack rules' alerts gone quiet, once the last page is read. */
static int step_attacks_resolve(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                                const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	(void)reg;
	return sw_detect_attacks_resolve(s, cfg, t, now, st);
}

static int step_approved(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                         const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	return resolve_approved(s, cfg, t->name, reg, now, st);
}

static int step_audit(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                      const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	return t->audit ? sw_detect_audit(s, cfg, t, reg, now, st) : 0;
}

/* What follows the sign-in pages, in this order.  Without a budget all of
 * them run in one transaction; with one as many run in a call as the
 * budget allows (at least one), in the call's one transaction, so no call
 * holds the caller's loop for much more than its budget.  Each rule
 * decides what it raises and resolves from the store alone, so a pass cut
 * between two steps by a crash or a stop leaves nothing half done: the
 * next pass runs them again. */
typedef int (*detect_step_fn)(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                              const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);
static const struct {
	detect_step_fn fn;
	unsigned what; /* the SW_DETECT_* bit it needs */
} detect_steps[] = {
	{step_attacks_resolve, SW_DETECT_SIGNINS},
	{step_approved, 0},
	{step_audit, 0},
	{detect_state, SW_DETECT_STATE},
	{sw_detect_report, SW_DETECT_STATE},
	{sw_detect_stopped, SW_DETECT_STATE},
	{sw_detect_usage, SW_DETECT_STATE},
	{sw_detect_trace_drift, SW_DETECT_STATE},
};
#define N_DETECT_STEPS (sizeof(detect_steps) / sizeof(detect_steps[0]))

/* Does any step from step on apply to what? */
static bool steps_left(unsigned step, unsigned what)
{
	for (; step < N_DETECT_STEPS; step++)
		if (detect_steps[step].what == 0 || (detect_steps[step].what & what))
			return true;
	return false;
}

/* The end of a slice's transaction (none open: nothing to end): commit
 * what it did, or roll it all back after a failure r. */
static int slice_end(struct sw_store *s, bool open, int r)
{
	if (!open)
		return r;
	if (r < 0) {
		sw_store_rollback(s);
		return r;
	}
	r = sw_store_commit(s);
	if (r < 0)
		sw_store_rollback(s);
	return r;
}

/* Is a sign-in stored past detection's cursor? */
static int peek_cb(const struct sw_signin_row *row, void *arg)
{
	(void)row;
	*(bool *)arg = true;
	return 0;
}

static int signins_waiting(struct sw_store *s, const char *tenant, bool *ret)
{
	struct sw_checkpoint cp;
	int r = sw_store_checkpoint_get(s, tenant, "detect", &cp);

	*ret = false;
	if (r < 0 && r != -ENOENT)
		return r;
	return sw_store_signins_range(s, tenant, (r == 0 ? cp.watermark : 0) + 1, INT64_MAX, 1, peek_cb, ret);
}

/* The slice's transaction, begun by its first page or step (a slice with
 * nothing to do begins none); *open says whether it is. */
static int slice_begin(struct sw_store *s, bool *open)
{
	int r = *open ? 0 : sw_store_begin(s);

	if (r >= 0)
		*open = true;
	return r;
}

/* The sliced pass (see detect.h): pages of sign-ins while the budget
 * lasts, then the steps while it lasts.  What one call does is one
 * transaction, begun with its first page or step: a small pass (an idle
 * tenant's) is one, and a slice cut by the budget commits what it did
 * before it yields. */
static int detect_sliced(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                         const struct sw_register *reg, int64_t now, unsigned what, struct sw_detect_budget *budget,
                         struct sw_detect_stats *st)
{
	bool more = budget->step == 0 && (what & SW_DETECT_SIGNINS) != 0;
	bool open = false;
	int64_t page = budget->page > 0 && budget->page < SW_DETECT_SLICE_PAGE ? budget->page : SW_DETECT_SLICE_PAGE;
	int done = 0, r;

	while (more) {
		if (done > 0 && budget->spent(budget->arg)) {
			st->pending = true;
			return slice_end(s, open, 0);
		}
		done++;
		if ((r = slice_begin(s, &open)) < 0)
			return r;
		r = detect_signins_page(s, cfg, t, reg, now, page, false, false, st, &more);
		if (r < 0)
			return slice_end(s, open, r);
	}
	if (budget->step == 0)
		budget->step = 1;
	for (;;) {
		unsigned i = budget->step - 1;
		if (!steps_left(i, what))
			break;
		if (done > 0 && budget->spent(budget->arg)) {
			st->pending = true;
			return slice_end(s, open, 0);
		}
		if (detect_steps[i].what == 0 || (detect_steps[i].what & what)) {
			done++;
			if ((r = slice_begin(s, &open)) < 0)
				return r;
			r = detect_steps[i].fn(s, cfg, t, reg, now, st);
			if (r < 0)
				return slice_end(s, open, r);
		}
		budget->step++;
	}
	/* The pass is done.  Sign-ins stored while its steps ran (a run that
	 * ended between two calls) start the next pass at once. */
	budget->step = 0;
	r = slice_end(s, open, 0);
	if (r < 0)
		return r;
	if (what & SW_DETECT_SIGNINS) {
		bool waiting;
		r = signins_waiting(s, t->name, &waiting);
		if (r < 0)
			return r;
		st->pending = waiting;
	}
	return 0;
}

/* See detect.h. */
int sw_detect_tenant_sliced(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                            const struct sw_register *reg, int64_t now, unsigned what,
                            struct sw_detect_budget *budget, struct sw_detect_stats *ret)
{
	struct sw_detect_stats st = {0};
	bool more = (what & SW_DETECT_SIGNINS) != 0;
	int pages = 0, r;

	if (budget != NULL) {
		r = detect_sliced(s, cfg, t, reg, now, what, budget, &st);
		if (r >= 0 && ret != NULL)
			*ret = st;
		return r;
	}
	while (more) {
		if (pages == SW_DETECT_PAGES) {
			st.pending = true;
			break;
		}
		pages++;
		r = detect_signins_page(s, cfg, t, reg, now, DETECT_PAGE, true, true, &st, &more);
		if (r < 0)
			return r;
	}
	/* The rest in one transaction, whether or not sign-ins remain. */
	r = sw_store_begin(s);
	if (r < 0)
		return r;
	r = 0;
	for (unsigned i = 0; r >= 0 && i < N_DETECT_STEPS; i++) {
		/* The attack rules resolve with the last page, in its transaction. */
		if (detect_steps[i].fn == step_attacks_resolve)
			continue;
		if (detect_steps[i].what == 0 || (detect_steps[i].what & what))
			r = detect_steps[i].fn(s, cfg, t, reg, now, &st);
	}
	if (r < 0) {
		sw_store_rollback(s);
		return r;
	}
	r = sw_store_commit(s);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = st;
	return 0;
}

/* See detect.h. */
int sw_detect_tenant(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_register *reg, int64_t now, unsigned what, struct sw_detect_stats *ret)
{
	return sw_detect_tenant_sliced(s, cfg, t, reg, now, what, NULL, ret);
}

/* See detect.h: the same conditions as the register rules. */
const char *sw_detect_verdict(const struct sw_config *cfg, const struct sw_exception *e, bool exists, bool on,
                              int64_t last_used, int64_t watched_since, int64_t now)
{
	if (e == NULL)
		return on ? "unapproved" : "off";
	if (!sw_exception_active(e, now))
		return on ? "expired" : "stale";
	if (!exists || !on)
		return "stale";
	if (e->expires - now <= cfg->rules.expiring_within)
		return "expiring";
	if (watched_since > 0 && now - watched_since >= cfg->rules.unused_after &&
	    (last_used == 0 || now - last_used >= cfg->rules.unused_after))
		return "unused";
	return "ok";
}
