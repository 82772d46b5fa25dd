/* detect_audit.c: smtp-auth-setting-changed and changed_by (see
 * detect_audit.h).
 *
 * Every change is news: it is raised and resolved at once
 * (sw_lifecycle_event), so the next change of the same mailbox, tenant or
 * policy is its own notification with its own severity.  The cursor is the
 * rowid of the changes table, the order of arrival: a record that arrived
 * late is examined when it arrives, whatever its CreationTime. */
#include "detect_audit.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "lifecycle.h"
#include "store_exo.h"

/* Does the change turn SMTP AUTH (or Basic) on? */
static bool change_on(const struct sw_change_row *c, bool tenant_on)
{
	if (strcmp(c->effect, "on") == 0)
		return true;
	/* A mailbox set to $null follows the tenant switch. */
	if (strcmp(c->effect, "inherit") == 0)
		return tenant_on;
	return false;
}

/* See detect_audit.h. */
enum sw_severity sw_detect_audit_severity(const struct sw_change_row *c, const struct sw_register *reg,
                                          bool tenant_on, int64_t now)
{
	if (strcmp(c->effect, "assign") == 0)
		return SW_SEV_LOW; /* which policy applies changed: what it allows is its own record */
	if (!change_on(c, tenant_on))
		return SW_SEV_INFO;
	if (strcmp(c->object, "mailbox") == 0) {
		const struct sw_exception *e = sw_register_find(reg, c->subject);
		return e != NULL && sw_exception_active(e, now) ? SW_SEV_LOW : SW_SEV_HIGH;
	}
	return SW_SEV_HIGH; /* the tenant switch, a policy allowing Basic SMTP */
}

/* What kind of actor this is, said for a reader; NULL for a person. */
static const char *actor_note(const char *actor)
{
	if (strcmp(actor, "system") == 0)
		return "a system process of Exchange Online, not an administrator";
	if (strcmp(actor, "microsoft") == 0)
		return "a Microsoft datacenter operation, not an administrator of the tenant";
	if (strcmp(actor, "application") == 0)
		return "an application (service principal), not a person";
	return NULL;
}

/* See detect_audit.h. */
char *sw_changed_by(const struct sw_change_row *c)
{
	json_t *o = json_object();
	const char *note = actor_note(c->actor);
	char *text = NULL;

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "user", c->user[0] ? json_string(c->user) : json_null()) == 0 &&
	    json_object_set_new(o, "at", sw_json_time_or_null(c->created)) == 0 &&
	    json_object_set_new(o, "ip", c->ip[0] ? json_string(c->ip) : json_null()) == 0 &&
	    json_object_set_new(o, "operation", json_string(c->operation)) == 0 &&
	    json_object_set_new(o, "audit_id", json_string(c->id)) == 0 &&
	    json_object_set_new(o, "actor", json_string(c->actor)) == 0 &&
	    (note == NULL || json_object_set_new(o, "note", json_string(note)) == 0))
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

/* The changed_by of the latest change of (object, subjects, setting) if it
 * turned the setting on. */
static int explain(struct sw_store *s, const char *tenant, const char *object, const char *const *subjects,
                   const char *setting, int64_t until, char **ret_json)
{
	struct sw_change_row c;
	int r = sw_store_change_latest(s, tenant, object, subjects, setting, until, &c);

	*ret_json = NULL;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (strcmp(c.effect, "on") != 0)
		return 0; /* the latest change turned it off: it does not explain "on" */
	*ret_json = sw_changed_by(&c);
	return *ret_json != NULL ? 0 : -ENOMEM;
}

/* See detect_audit.h. */
int sw_explain_tenant_on(struct sw_store *s, const char *tenant, int64_t until, char **ret_json)
{
	return explain(s, tenant, "tenant", NULL, "SmtpClientAuthenticationDisabled", until, ret_json);
}

/* See detect_audit.h. */
int sw_explain_mailbox_on(struct sw_store *s, const char *tenant, const char *const *names, bool own_override,
                          int64_t until, char **ret_json)
{
	/* A mailbox that follows the tenant is on because of the tenant
	 * switch, whatever its own switch was once set to. */
	if (!own_override)
		return sw_explain_tenant_on(s, tenant, until, ret_json);
	return explain(s, tenant, "mailbox", names, "SmtpClientAuthenticationDisabled", until, ret_json);
}

/* The words of a change for the summary. */
static const char *change_words(const struct sw_change_row *c, bool on)
{
	if (strcmp(c->effect, "removed") == 0)
		return "removed the authentication policy";
	if (strcmp(c->effect, "assign") == 0)
		return strcmp(c->object, "tenant") == 0 ? "set the default authentication policy" :
		                                          "assigned an authentication policy";
	if (strcmp(c->object, "policy") == 0)
		return on ? "allowed Basic SMTP AUTH in the authentication policy" :
		            "blocked Basic SMTP AUTH in the authentication policy";
	if (strcmp(c->effect, "inherit") == 0)
		return on ? "removed the SMTP AUTH override (it now follows the tenant switch, which is on) of" :
		            "removed the SMTP AUTH override (it now follows the tenant switch, which is off) of";
	if (strcmp(c->object, "tenant") == 0)
		return on ? "turned SMTP AUTH on tenant-wide for" : "turned SMTP AUTH off tenant-wide for";
	return on ? "turned SMTP AUTH on for" : "turned SMTP AUTH off for";
}

/* The cmdlet that undoes a change that turned something on. */
static void revert(const struct sw_change_row *c, char *out, size_t n)
{
	char id[600];

	out[0] = '\0';
	if (strcmp(c->object, "mailbox") == 0 && strcmp(c->setting, "SmtpClientAuthenticationDisabled") == 0)
		snprintf(out, n, "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true, or add it to the "
		         "exception register if the change was approved", sw_ps_quote(c->subject, id, sizeof(id)));
	else if (strcmp(c->object, "tenant") == 0 && strcmp(c->setting, "SmtpClientAuthenticationDisabled") == 0)
		snprintf(out, n, "Set-TransportConfig -SmtpClientAuthenticationDisabled $true");
	else if (strcmp(c->object, "policy") == 0)
		snprintf(out, n, "Set-AuthenticationPolicy -Identity %s -AllowBasicAuthSmtp:$false",
		         sw_ps_quote(c->subject, id, sizeof(id)));
}

struct audit_ctx {
	struct sw_store *s;
	const struct sw_config *cfg;
	const struct sw_tenant_config *t;
	const struct sw_register *reg;
	int64_t now;
	bool tenant_on;
	struct sw_detect_stats *st;
	int64_t last;  /* the last rowid examined */
	size_t n;
	struct sw_change_row *rows; /* collected first: the callback must not write */
	size_t cap;
};

static int collect_cb(const struct sw_change_row *c, void *arg)
{
	struct audit_ctx *x = arg;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct sw_change_row *v = realloc(x->rows, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		x->rows = v;
		x->cap = cap;
	}
	x->rows[x->n++] = *c;
	return 0;
}

/* Raise the notification of one change. */
static int raise_change(struct audit_ctx *x, const struct sw_change_row *c)
{
	enum sw_severity sev = sw_detect_audit_severity(c, x->reg, x->tenant_on, x->now);
	bool on = change_on(c, x->tenant_on);
	const char *note = actor_note(c->actor);
	char summary[1600], remediation[800], at[32], who[400], what[500] = "", reg[160] = "";
	int r;

	sw_time_format(c->created, at, sizeof(at));
	if (note != NULL)
		snprintf(who, sizeof(who), "%s (%s)", c->user[0] ? c->user : "an unnamed actor", note);
	else
		snprintf(who, sizeof(who), "%s", c->user[0] ? c->user : "an unknown user");
	if (c->setting[0])
		snprintf(what, sizeof(what), " (%s -%s %s)", c->operation, c->setting, c->value[0] ? c->value : "$null");
	else
		snprintf(what, sizeof(what), " (%s)", c->operation);
	if (strcmp(c->object, "mailbox") == 0 && on) {
		const struct sw_exception *e = sw_register_find(x->reg, c->subject);
		snprintf(reg, sizeof(reg), e != NULL && sw_exception_active(e, x->now) ?
		         "; the mailbox has a registered exception" : "; the mailbox is not in the exception register");
	}
	snprintf(summary, sizeof(summary), "%s %s %s%s at %s%s%s%s", who, change_words(c, on), c->subject, what, at,
	         c->ip[0] ? " from " : "", c->ip, reg);
	revert(c, remediation, sizeof(remediation));
	json_t *params = json_loads(c->parameters, 0, NULL);
	json_auto_t *ev = json_pack("{s:s?,s:s,s:s?,s:s,s:o,s:s,s:s,s:s,s:s?,s:s?,s:s}", "user",
	                            c->user[0] ? c->user : NULL, "at", at, "ip", c->ip[0] ? c->ip : NULL, "operation",
	                            c->operation, "parameters", params ? params : json_array(), "audit_id", c->id,
	                            "actor", c->actor, "object", c->object, "setting", c->setting[0] ? c->setting : NULL,
	                            "value", c->value[0] ? c->value : NULL, "effect", c->effect);
	char *changed_by = sw_changed_by(c);
	struct sw_condition cond = {
		.rule = SW_RULE_SETTING_CHANGED,
		.severity = sev,
		.tenant = x->t->name,
		.subject = c->subject,
		.first_seen = c->created,
		.last_seen = c->created,
		.count = 1,
		.summary = summary,
		.remediation = on && remediation[0] ? remediation : NULL,
		.evidence = ev,
		.changed_by = changed_by,
	};
	if (ev == NULL || changed_by == NULL)
		r = -ENOMEM;
	else
		r = sw_lifecycle_event(x->s, x->cfg, &cond, x->now);
	free(changed_by);
	if (r >= 0 && x->st != NULL)
		x->st->fired++;
	return r;
}

/* See detect_audit.h. */
int sw_detect_audit(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                    const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct audit_ctx x = {.s = s, .cfg = cfg, .t = t, .reg = reg, .now = now, .st = st};
	struct sw_tenant_state ts;
	struct sw_checkpoint cp;
	int r;

	sw_store_checkpoint_get(s, t->name, "detect-audit", &cp);
	r = sw_store_changes_after(s, t->name, cp.watermark, SW_DETECT_AUDIT_PAGE, collect_cb, &x);
	if (r < 0 || x.n == 0)
		goto out;
	x.tenant_on = sw_store_tenant_state_get(s, t->name, &ts) == 0 && !ts.smtp_disabled;
	for (size_t i = 0; r >= 0 && i < x.n; i++) {
		r = raise_change(&x, &x.rows[i]);
		cp.watermark = x.rows[i].rowid;
	}
	if (r >= 0) {
		cp.last_success = now;
		r = sw_store_checkpoint_put(s, t->name, "detect-audit", &cp);
	}
	if (r >= 0 && st != NULL && x.n == SW_DETECT_AUDIT_PAGE)
		st->pending = true;
out:
	free(x.rows);
	return r;
}

/* See detect_audit.h. */
json_t *sw_change_row_json(const struct sw_change_row *c)
{
	json_t *params = json_loads(c->parameters, 0, NULL);

	if (!json_is_array(params)) {
		json_decref(params);
		params = json_array();
	}
	return json_pack("{s:s,s:o,s:s?,s:s,s:s?,s:s,s:s,s:s,s:s?,s:s?,s:s,s:o,s:s}", "tenant", c->tenant, "at",
	                 sw_json_time_or_null(c->created), "user", c->user[0] ? c->user : NULL, "actor", c->actor, "ip",
	                 c->ip[0] ? c->ip : NULL, "operation", c->operation, "object", c->object, "subject", c->subject,
	                 "setting", c->setting[0] ? c->setting : NULL, "value", c->value[0] ? c->value : NULL, "effect",
	                 c->effect, "parameters", params, "audit_id", c->id);
}
