/* detect_usage.c: the usage report rule (see detect_usage.h). */
#include "detect_usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "store_usage.h"

/* See detect_usage.h. */
bool sw_detect_signins_available(struct sw_store *s, const char *tenant, int64_t now)
{
	struct sw_checkpoint cp;

	if (sw_store_checkpoint_get(s, tenant, "signins", &cp) < 0 || cp.last_error[0] == '\0')
		return true;
	return cp.last_success > 0 && now - cp.last_success < 86400;
}

struct smtp_list {
	struct sw_usage_smtp *v;
	size_t n, cap;
};

static int collect_cb(const struct sw_usage_smtp *u, void *arg)
{
	struct smtp_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sw_usage_smtp *n = realloc(l->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = *u;
	return 0;
}

/* "2026-11-20" of a day. */
static void day_text(int64_t day, char *buf, size_t n)
{
	char t[32];

	sw_time_format(day, t, sizeof(t));
	snprintf(buf, n, "%.10s", t);
}

/* See detect_usage.h. */
int sw_detect_usage(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                    const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct smtp_list l = {0};
	int r;

	if (sw_detect_signins_available(s, t->name, now))
		return 0;
	r = sw_store_usage_smtp_new(s, t->name, now - SW_USAGE_RECENT, collect_cb, &l);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct sw_usage_smtp *u = &l.v[i];
		const struct sw_exception *e = sw_register_find(reg, u->upn);
		struct sw_alert prior = {0};
		enum sw_severity sev = SW_SEV_MEDIUM;
		char to[16], first[16], last[16] = "", summary[1200], remediation[1200], id[600];
		bool notified = false;

		if (e != NULL && sw_exception_active(e, now)) {
			r = sw_store_usage_alerted(s, t->name, u->upn);
			continue;
		}
		/* Sign-ins or the clients report may have shown Basic: keep
		 * that alert's severity, add this evidence. */
		if (sw_store_alert_find(s, SW_RULE_UNAPPROVED_BASIC_AUTH, t->name, u->upn, &prior) == 0 &&
		    prior.status == SW_ALERT_FIRING && prior.severity > sev)
			sev = prior.severity;
		sw_alert_clear(&prior);
		day_text(u->last_day, to, sizeof(to));
		day_text(u->first_day, first, sizeof(first));
		if (u->last_activity > 0)
			day_text(u->last_activity, last, sizeof(last));
		snprintf(summary, sizeof(summary), "%s used SMTP AUTH in the 7 days to %s, per the email app usage report "
		         "(last activity %s); Basic or OAuth is not known without Entra ID P1; it is not in the exception "
		         "register%s", u->upn, to, last[0] ? last : "not given", e != NULL ? " (its entry has expired)" : "");
		snprintf(remediation, sizeof(remediation), "find what sends as %s (a printer, scanner or script) and move it "
		         "to OAuth or Microsoft Graph sendMail, or add it to the exception register while it cannot; to "
		         "stop it now: Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $true", u->upn,
		         sw_ps_quote(u->upn, id, sizeof(id)));
		json_auto_t *ev = json_pack("{s:s,s:s,s:s?,s:I,s:s,s:[s]}", "usage_report_day", to, "usage_first_report_day",
		                            first, "usage_last_activity", last[0] ? last : NULL, "usage_reports",
		                            (json_int_t)u->reports, "auth", "unknown", "sources", "usage");
		struct sw_condition c = {
			.rule = SW_RULE_UNAPPROVED_BASIC_AUTH,
			.severity = sev,
			.tenant = t->name,
			.subject = u->upn,
			.first_seen = u->first_day - 6 * 86400,
			.last_seen = u->last_activity > 0 ? u->last_activity : u->last_day,
			.count = u->reports,
			.summary = summary,
			.remediation = remediation,
			.evidence = ev,
		};
		r = ev != NULL ? sw_lifecycle_fire(s, cfg, &c, now, &notified) : -ENOMEM;
		if (r >= 0 && notified)
			st->fired++;
		if (r >= 0)
			r = sw_store_usage_alerted(s, t->name, u->upn);
	}
	free(l.v);
	return r;
}

struct drift_ip {
	char ip[64];
	int64_t first, last, count;
};
struct drift_list {
	struct drift_ip *v;
	size_t n, cap;
};

static int drift_collect_cb(const char *ip, int64_t first, int64_t last, int64_t count, void *arg)
{
	struct drift_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct drift_ip *n = realloc(l->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	struct drift_ip *d = &l->v[l->n++];
	snprintf(d->ip, sizeof(d->ip), "%s", ip);
	d->first = first;
	d->last = last;
	d->count = count;
	return 0;
}

/* See detect_usage.h. */
int sw_detect_trace_drift(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                          const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	int r = 0;

	if (sw_detect_signins_available(s, t->name, now))
		return 0;
	for (size_t i = 0; r >= 0 && reg != NULL && i < reg->n; i++) {
		const struct sw_exception *e = &reg->entries[i];
		struct drift_list l = {0};
		json_t *ips;
		int64_t first = 0, last = 0, count = 0;
		char summary[1200], remediation[800];
		bool notified = false;

		if (e->n_allowed_ips == 0 || !sw_exception_active(e, now))
			continue;
		r = sw_store_trace_new_ips(s, t->name, e->mailbox, drift_collect_cb, &l);
		ips = json_array();
		for (size_t k = 0; r >= 0 && k < l.n; k++) {
			if (sw_exception_ip_allowed(e, l.v[k].ip))
				continue;
			json_array_append_new(ips, json_string(l.v[k].ip));
			if (first == 0 || l.v[k].first < first)
				first = l.v[k].first;
			if (l.v[k].last > last)
				last = l.v[k].last;
			count += l.v[k].count;
		}
		if (r >= 0 && count > 0) {
			snprintf(summary, sizeof(summary), "%s sent %lld message%s from outside its allowed_ips (%s%s), per "
			         "message trace: all mail sent by this mailbox, SMTP AUTH or not (sign-ins cannot be read)",
			         e->mailbox, (long long)count, count == 1 ? "" : "s", json_string_value(json_array_get(ips, 0)),
			         json_array_size(ips) > 1 ? " and others" : "");
			snprintf(remediation, sizeof(remediation), "ask the owner (%s) whether the device moved; if not, "
			         "reset the mailbox's password: its SMTP AUTH exception may be used by someone else",
			         e->owner ? e->owner : "none");
			char lastbuf[32];
			sw_time_format(last, lastbuf, sizeof(lastbuf));
			json_auto_t *ev = json_pack("{s:O,s:s,s:s,s:[s]}", "ips", ips, "label", "all mail sent by this mailbox",
			                            "last_message", lastbuf, "sources", "trace");
			struct sw_condition c = {
				.rule = "exception-source-drift",
				.severity = SW_SEV_HIGH,
				.tenant = t->name,
				.subject = e->mailbox,
				.first_seen = first,
				/* Seen now: trace arrives a day late, and the drift
				 * rule resolves after a quiet spell from last_seen. */
				.last_seen = now,
				.count = count,
				.accumulate = true,
				.summary = summary,
				.remediation = remediation,
				.evidence = ev,
			};
			r = ev != NULL ? sw_lifecycle_fire(s, cfg, &c, now, &notified) : -ENOMEM;
			if (r >= 0 && notified)
				st->fired++;
		}
		json_decref(ips);
		free(l.v);
		if (r >= 0)
			r = sw_store_trace_alerted(s, t->name, e->mailbox);
	}
	return r;
}
