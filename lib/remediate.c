/* remediate.c: the cmdlet for an alert, the refusals, the auto guard and
 * the enforcement plan (see remediate.h).  No I/O. */
#include "remediate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"
#include "util.h"

#define RULE_TENANT "tenant-smtp-auth-enabled"

/* Is s safe to put in a PowerShell command line unquoted: an address or
 * a name without spaces, quotes or metacharacters? */
static bool ps_plain(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("@._-+", *s) != NULL))
			return false;
	return true;
}

/* See remediate.h. */
int sw_remedy_cmd_for(const struct sw_alert *a, bool tenant_switch, struct sw_remedy_cmd *ret, char *why,
                      size_t n)
{
	struct sw_remedy_cmd c = {0};
	bool tenant_rule = a->rule != NULL && strcmp(a->rule, RULE_TENANT) == 0;

	if (a->status != SW_ALERT_FIRING) {
		snprintf(why, n, "alert %s is resolved: there is nothing to remediate", a->id);
		return -EPERM;
	}
	if (!sw_rule_remediable(a->rule, true)) {
		snprintf(why, n, "alert %s (%s) is not remediable: remediation turns SMTP AUTH off for a mailbox "
		         "(unapproved-mailbox-exception, exception-expired, unapproved-basic-auth-submission) or the "
		         "tenant (tenant-smtp-auth-enabled); an attack or a health alert is not fixed by a switch",
		         a->id, a->rule ? a->rule : "?");
		return -EPERM;
	}
	if (tenant_rule && !tenant_switch) {
		snprintf(why, n, "alert %s is the tenant switch: turning SMTP AUTH off for the whole tenant needs "
		         "--tenant-switch (see smtpwatchctl plan first)", a->id);
		return -EPERM;
	}
	if (!tenant_rule && tenant_switch) {
		snprintf(why, n, "alert %s (%s) is about one mailbox: --tenant-switch is only for "
		         "tenant-smtp-auth-enabled", a->id, a->rule);
		return -EPERM;
	}
	if (tenant_rule) {
		snprintf(c.target, sizeof(c.target), "%s", SW_REMEDY_TRANSPORT_TARGET);
		snprintf(c.cmdlet, sizeof(c.cmdlet), "Set-TransportConfig");
		snprintf(c.command, sizeof(c.command), "Set-TransportConfig -SmtpClientAuthenticationDisabled $true");
		c.tenant_switch = true;
	} else {
		if (a->subject == NULL || strchr(a->subject, '@') == NULL || !ps_plain(a->subject) ||
		    strlen(a->subject) >= sizeof(c.target)) {
			snprintf(why, n, "alert %s: the subject is not a mailbox address that can be remediated", a->id);
			return -EPERM;
		}
		snprintf(c.target, sizeof(c.target), "%s", a->subject);
		snprintf(c.cmdlet, sizeof(c.cmdlet), "Set-CASMailbox");
		snprintf(c.command, sizeof(c.command), "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true",
		         a->subject);
	}
	*ret = c;
	return 0;
}

/* See remediate.h. */
json_t *sw_remedy_cmd_params(const struct sw_remedy_cmd *c)
{
	if (c->tenant_switch)
		return json_pack("{s:b}", "SmtpClientAuthenticationDisabled", 1);
	return json_pack("{s:s,s:b}", "Identity", c->target, "SmtpClientAuthenticationDisabled", 1);
}

/* See remediate.h. */
json_t *sw_remedy_cmd_body(const struct sw_remedy_cmd *c)
{
	json_t *p = sw_remedy_cmd_params(c);

	if (p == NULL)
		return NULL;
	return json_pack("{s:{s:s,s:o}}", "CmdletInput", "CmdletName", c->cmdlet, "Parameters", p);
}

/* See remediate.h. */
int sw_remedy_register_check(const struct sw_register *reg, const char *target, int64_t now, char *why, size_t n)
{
	const struct sw_exception *e = reg != NULL ? sw_register_find(reg, target) : NULL;

	if (e == NULL || !sw_exception_active(e, now))
		return 0;
	snprintf(why, n, "%s has a valid register entry (owner %s, ticket %s, expires %s): smtpwatch never turns off "
	         "an approved exception; remove or expire the entry first", target, e->owner ? e->owner : "-",
	         e->ticket ? e->ticket : "-", e->expires_text ? e->expires_text : "-");
	return -EPERM;
}

/* See remediate.h. */
int sw_remedy_guard_check(const struct sw_remedy_guard *g, char *why, size_t n)
{
	bool listed = false;
	char age[32], stale[32];

	if (g->mode != SW_REMEDIATION_AUTO) {
		snprintf(why, n, "remediation is %s, not auto", sw_remediation_mode_name(g->mode));
		return -EPERM;
	}
	if (g->tenant_switch) {
		snprintf(why, n, "the tenant switch is never turned off automatically");
		return -EPERM;
	}
	for (size_t i = 0; g->rules != NULL && g->rules[i] != NULL; i++)
		listed = listed || strcmp(g->rules[i], g->rule) == 0;
	if (!listed) {
		snprintf(why, n, "%s is not in remediate_rules", g->rule);
		return -EPERM;
	}
	if (g->registered) {
		snprintf(why, n, "the mailbox has a valid register entry");
		return -EPERM;
	}
	if (g->acted) {
		snprintf(why, n, "an action for this alert was already taken");
		return -EPERM;
	}
	if (g->snapshot_at <= 0 || g->snapshot_failing) {
		snprintf(why, n, "the Exchange snapshot is incomplete (%s)",
		         g->snapshot_at <= 0 ? "no complete run yet" : "its last run failed");
		return -EAGAIN;
	}
	if (g->now - g->snapshot_at >= g->stale_after) {
		sw_duration_format(g->now - g->snapshot_at, age, sizeof(age));
		sw_duration_format(g->stale_after, stale, sizeof(stale));
		snprintf(why, n, "the Exchange snapshot is stale (%s old, stale_after %s)", age, stale);
		return -EAGAIN;
	}
	if (g->actions_last_hour >= g->max_per_hour) {
		snprintf(why, n, "remediation_max_per_hour (%lld) reached: %lld automatic actions in the last hour",
		         (long long)g->max_per_hour, (long long)g->actions_last_hour);
		return -EAGAIN;
	}
	return 0;
}

/* See remediate.h. */
json_t *sw_remedy_plan(const struct sw_plan_input *in)
{
	json_t *doc = json_pack("{s:s,s:s,s:[],s:[],s:[],s:[]}", "tenant", in->tenant, "tenant_switch",
	                        in->tenant_disabled ? "off" : "on", "breaks", "needs_override", "kept", "commands");
	json_t *breaks, *needs, *kept, *cmds;
	char buf[512];
	int r = 0;

	if (doc == NULL)
		return NULL;
	breaks = json_object_get(doc, "breaks");
	needs = json_object_get(doc, "needs_override");
	kept = json_object_get(doc, "kept");
	cmds = json_object_get(doc, "commands");
	for (size_t i = 0; i < in->n_senders; i++) {
		const struct sw_plan_sender *s = &in->senders[i];
		const struct sw_exception *e = in->reg != NULL ? sw_register_find(in->reg, s->address) : NULL;
		bool active = e != NULL && sw_exception_active(e, in->now);
		json_t *row;

		if (s->mailbox_disabled == 1)
			continue; /* off for that mailbox already: the switch changes nothing */
		row = json_pack("{s:s,s:b,s:b,s:I,s:I,s:o,s:b}", "address", s->address, "basic", s->basic, "oauth",
		                s->oauth, "signins", (json_int_t)s->signins, "messages", (json_int_t)s->messages,
		                "last_seen", sw_json_time_or_null(s->last_seen), "registered", active);
		if (row == NULL) {
			r = -ENOMEM;
			break;
		}
		if (s->mailbox_disabled == 0) {
			/* Its own override keeps it on whatever the tenant says. */
			r |= json_array_append_new(kept, row);
			continue;
		}
		r |= json_array_append_new(breaks, row);
		if (active && !in->tenant_disabled) {
			r |= json_array_append_new(needs, json_pack("{s:s,s:s?,s:s?,s:s?}", "address", s->address, "owner",
			                                           e->owner, "ticket", e->ticket, "expires",
			                                           e->expires_text));
			snprintf(buf, sizeof(buf), "Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false",
			         s->address);
			r |= json_array_append_new(cmds, json_string(buf));
		}
	}
	if (r == 0 && !in->tenant_disabled)
		r |= json_array_append_new(cmds, json_string("Set-TransportConfig -SmtpClientAuthenticationDisabled $true"));
	if (r != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
