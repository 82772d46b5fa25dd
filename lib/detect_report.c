/* detect_report.c: the report rules (see detect_report.h). */
#include "detect_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "store_report.h"
#include "detect_usage.h"
#include "store_usage.h"

/* A growable list of strings. */
struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **n = realloc(l->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (l->v[l->n] == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static void names_clear(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* "2026-11-20" of a day. */
static void day_text(int64_t day, char *buf, size_t n)
{
	char t[32];

	sw_time_format(day, t, sizeof(t));
	snprintf(buf, n, "%.10s", t);
}

/* The last second of a day, but never in the future. */
static int64_t day_last(int64_t day, int64_t now)
{
	int64_t t = day + SW_DAY - 1;

	return t > now ? now : t;
}

/* Basic use the rule has not seen yet, collected before acting (the
 * query must finish before the alerts change). */
struct basic_list {
	struct sw_report_basic *v;
	size_t n, cap;
};

static int basic_collect_cb(const struct sw_report_basic *b, void *arg)
{
	struct basic_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sw_report_basic *n = realloc(l->v, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = *b;
	return 0;
}

/* unapproved-basic-auth-submission from report rows: the same alert as the
 * sign-in rule (rule, tenant, sender).  Its count is the condition's from
 * both sources, each day once (sw_store_basic_use): a report of the days
 * the sign-ins already showed does not double them. */
static int rule_unapproved_basic(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                                 const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct basic_list l = {0};
	int r = sw_store_report_basic_new(s, t->name, basic_collect_cb, &l);

	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct sw_report_basic *b = &l.v[i];
		const struct sw_exception *e = sw_register_find(reg, b->sender);
		struct sw_alert prior = {0};
		char first[16], last[16], summary[1200], remediation[1200], id[600];
		bool notified = false;
		int64_t since = b->first_day, total = 0;

		if (e != NULL && sw_exception_active(e, now)) {
			r = sw_store_report_alerted_sync(s, t->name, b->sender);
			continue;
		}
		if (sw_store_alert_find(s, SW_RULE_UNAPPROVED_BASIC_AUTH, t->name, b->sender, &prior) == 0 &&
		    prior.status == SW_ALERT_FIRING && prior.first_seen < since)
			since = prior.first_seen;
		sw_alert_clear(&prior);
		r = sw_store_basic_use(s, t->name, b->sender, since, &total);
		if (r < 0)
			break;
		if (total < 1)
			total = 1;
		day_text(b->first_day, first, sizeof(first));
		day_text(b->last_day, last, sizeof(last));
		snprintf(summary, sizeof(summary), "%s sent %lld message%s with Basic SMTP AUTH (%lld in the SMTP AUTH "
		         "clients report, %s to %s) and is not in the exception register%s", b->sender, (long long)total,
		         total == 1 ? "" : "s", llround(b->total), first, last,
		         e != NULL ? " (its entry has expired)" : "");
		snprintf(remediation, sizeof(remediation), "move %s to OAuth (SMTP AUTH with OAuth 2.0, or Microsoft Graph "
		         "sendMail), or add it to the exception register while it cannot; to stop it now: Set-CASMailbox "
		         "-Identity %s -SmtpClientAuthenticationDisabled $true", b->sender,
		         sw_ps_quote(b->sender, id, sizeof(id)));
		json_auto_t *ev = json_pack("{s:I,s:s,s:s,s:[s]}", "report_basic_messages", (json_int_t)llround(b->total),
		                            "report_first_day", first, "report_last_day", last, "sources", "report");
		struct sw_condition c = {
			.rule = SW_RULE_UNAPPROVED_BASIC_AUTH,
			.severity = SW_SEV_HIGH,
			.tenant = t->name,
			.subject = b->sender,
			.first_seen = b->first_day,
			.last_seen = day_last(b->last_day, now),
			.count = total,
			.summary = summary,
			.remediation = remediation,
			.evidence = ev,
		};
		r = ev != NULL ? sw_lifecycle_fire(s, cfg, &c, now, &notified) : -ENOMEM;
		if (r >= 0 && notified)
			st->fired++;
		if (r >= 0)
			r = sw_store_report_alerted_sync(s, t->name, b->sender);
	}
	free(l.v);
	return r;
}

/* Days over the limit of one mailbox. */
struct spike {
	int64_t days, worst_day, first, last;
	double worst;
	json_t *list;
};

static int spike_day_cb(int64_t day, double messages, void *arg)
{
	struct spike *sp = arg;
	char d[16];

	if (sp->days == 0)
		sp->first = day;
	sp->last = day;
	sp->days++;
	if (messages > sp->worst) {
		sp->worst = messages;
		sp->worst_day = day;
	}
	day_text(day, d, sizeof(d));
	return json_array_append_new(sp->list, json_pack("{s:s,s:I}", "day", d, "messages",
	                                                 (json_int_t)llround(messages)));
}

/* exception-volume-spike: a registered mailbox over its max_daily_messages
 * on a recent day (all protocols together).  A day of an export that
 * covers several days holds its average, so a spike inside a long export
 * is found only when the average is over the limit. */
static int rule_volume_spike(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                             const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct names holds = {0};
	int r = 0;

	for (size_t i = 0; r >= 0 && reg != NULL && i < reg->n; i++) {
		const struct sw_exception *e = &reg->entries[i];
		struct spike sp = {0};
		char worst[16], summary[1200], remediation[1200];
		bool notified = false;

		if (e->max_daily_messages < 0)
			continue;
		sp.list = json_array();
		if (sp.list == NULL) {
			r = -ENOMEM;
			break;
		}
		r = sw_store_report_days_over(s, t->name, e->mailbox, now - SW_REPORT_RECENT, e->max_daily_messages,
		                              spike_day_cb, &sp);
		/* Where the report has nothing and sign-ins cannot be read,
		 * message trace counts: all mail sent by the mailbox. */
		bool traced = false;
		if (r >= 0 && sp.days == 0 && !sw_detect_signins_available(s, t->name, now)) {
			r = sw_store_trace_days_over(s, t->name, e->mailbox, now - SW_REPORT_RECENT, e->max_daily_messages,
			                             spike_day_cb, &sp);
			traced = sp.days > 0;
		}
		if (r < 0 || sp.days == 0) {
			json_decref(sp.list);
			continue;
		}
		day_text(sp.worst_day, worst, sizeof(worst));
		snprintf(summary, sizeof(summary), "%s sent %lld messages on %s, over its max_daily_messages of %lld "
		         "(%lld day%s over the limit in the last %d days; owner %s)%s", e->mailbox,
		         (long long)llround(sp.worst), worst, (long long)e->max_daily_messages, (long long)sp.days,
		         sp.days == 1 ? "" : "s", SW_REPORT_RECENT / SW_DAY, e->owner ? e->owner : "none",
		         traced ? "; per message trace: all mail sent by this mailbox, SMTP AUTH or not" : "");
		snprintf(remediation, sizeof(remediation), "ask the owner what sends through %s (a leaked password of "
		         "an SMTP AUTH exception is a spam relay); if it is expected, raise max_daily_messages in the "
		         "register (line %d)", e->mailbox, e->line);
		json_auto_t *ev = json_pack("{s:I,s:o,s:s?,s:s?,s:i,s:[s]}", "max_daily_messages",
		                            (json_int_t)e->max_daily_messages, "days", sp.list, "owner", e->owner,
		                            "ticket", e->ticket, "register_line", e->line, "sources",
		                            traced ? "trace" : "report");
		struct sw_condition c = {
			.rule = SW_RULE_VOLUME_SPIKE,
			.severity = SW_SEV_MEDIUM,
			.tenant = t->name,
			.subject = e->mailbox,
			.first_seen = sp.first,
			.last_seen = day_last(sp.last, now),
			.count = sp.days,
			.summary = summary,
			.remediation = remediation,
			.evidence = ev,
		};
		r = ev != NULL ? sw_lifecycle_fire(s, cfg, &c, now, &notified) : -ENOMEM;
		if (r >= 0 && notified)
			st->fired++;
		if (r >= 0)
			r = names_add(&holds, e->mailbox);
	}
	if (r >= 0) {
		size_t resolved = 0;
		r = sw_lifecycle_sync(s, cfg, SW_RULE_VOLUME_SPIKE, t->name, (const char *const *)holds.v, holds.n, now,
		                      &resolved);
		st->resolved += (int64_t)resolved;
	}
	names_clear(&holds);
	return r;
}

/* One sender's recent use, over its protocols. */
struct legacy {
	char sender[320];
	double messages, legacy, tls10, tls11;
	int64_t first, last;
};

struct legacy_list {
	struct legacy *v;
	size_t n, cap;
};

static int legacy_usage_cb(const struct sw_report_usage *u, void *arg)
{
	struct legacy_list *l = arg;
	struct legacy *x = l->n > 0 ? &l->v[l->n - 1] : NULL;

	if (u->max_tls10 <= 0 && u->max_tls11 <= 0)
		return 0;
	if (x == NULL || strcmp(x->sender, u->sender) != 0) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct legacy *n = realloc(l->v, cap * sizeof(*n));
			if (n == NULL)
				return -ENOMEM;
			l->v = n;
			l->cap = cap;
		}
		x = &l->v[l->n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->sender, sizeof(x->sender), "%s", u->sender);
		x->first = u->first_day;
	}
	x->messages += u->messages;
	x->legacy += u->legacy_messages;
	x->tls10 = fmax(x->tls10, u->max_tls10);
	x->tls11 = fmax(x->tls11, u->max_tls11);
	if (u->first_day < x->first)
		x->first = u->first_day;
	if (u->last_day > x->last)
		x->last = u->last_day;
	return 0;
}

/* legacy-tls-submission: a sender with TLS 1.0 or 1.1 above 0 on a recent day. */
static int rule_legacy_tls(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                           int64_t now, struct sw_detect_stats *st)
{
	struct legacy_list l = {0};
	struct names holds = {0};
	int r = sw_store_report_usage(s, t->name, now - SW_REPORT_RECENT, legacy_usage_cb, &l);

	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		const struct legacy *x = &l.v[i];
		char first[16], last[16], summary[1200], remediation[1200];
		bool notified = false;
		int64_t lm = llround(x->legacy);

		day_text(x->first, first, sizeof(first));
		day_text(x->last, last, sizeof(last));
		snprintf(summary, sizeof(summary), "%s submitted about %lld of %lld message%s over TLS 1.0/1.1 between %s "
		         "and %s (up to %.1f%% TLS 1.0 and %.1f%% TLS 1.1 a day)", x->sender, (long long)(lm > 0 ? lm : 1),
		         (long long)llround(x->messages), llround(x->messages) == 1 ? "" : "s", first, last, x->tls10,
		         x->tls11);
		snprintf(remediation, sizeof(remediation), "update the device or application that sends as %s to TLS 1.2 "
		         "or later (firmware, operating system or .NET settings): Exchange Online is retiring TLS 1.0 and "
		         "1.1 for SMTP AUTH", x->sender);
		json_auto_t *ev = json_pack("{s:f,s:f,s:I,s:I,s:s}", "tls10_max_pct", x->tls10, "tls11_max_pct", x->tls11,
		                            "legacy_messages", (json_int_t)lm, "messages", (json_int_t)llround(x->messages),
		                            "report_last_day", last);
		struct sw_condition c = {
			.rule = SW_RULE_LEGACY_TLS,
			.severity = SW_SEV_LOW,
			.tenant = t->name,
			.subject = x->sender,
			.first_seen = x->first,
			.last_seen = day_last(x->last, now),
			.count = 1,
			.summary = summary,
			.remediation = remediation,
			.evidence = ev,
		};
		r = ev != NULL ? sw_lifecycle_fire(s, cfg, &c, now, &notified) : -ENOMEM;
		if (r >= 0 && notified)
			st->fired++;
		if (r >= 0)
			r = names_add(&holds, x->sender);
	}
	if (r >= 0) {
		size_t resolved = 0;
		r = sw_lifecycle_sync(s, cfg, SW_RULE_LEGACY_TLS, t->name, (const char *const *)holds.v, holds.n, now,
		                      &resolved);
		st->resolved += (int64_t)resolved;
	}
	free(l.v);
	names_clear(&holds);
	return r;
}

/* See detect_report.h. */
int sw_detect_report(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_register *reg, int64_t now, struct sw_detect_stats *st)
{
	struct sw_detect_stats local = {0};
	int r;

	if (st == NULL)
		st = &local;
	r = rule_unapproved_basic(s, cfg, t, reg, now, st);
	if (r >= 0)
		r = rule_volume_spike(s, cfg, t, reg, now, st);
	if (r >= 0)
		r = rule_legacy_tls(s, cfg, t, now, st);
	return r;
}
