/* detect_source.c: source-unhealthy and coverage-gap.
 *
 * A quiet tenant must never be mistaken for a watched one: a source that
 * has not succeeded for stale_after, or that is refused (401/403), is
 * unhealthy; and sign-ins that could not be fetched are a gap that becomes
 * permanent when Entra's retention drops them, so coverage-gap speaks
 * three days before that happens. */
#include "detect_source.h"

#include <stdio.h>
#include <string.h>

#include "lifecycle.h"

/* Fire one condition of a state rule. */
static int fire(struct sw_store *s, const struct sw_config *cfg, const char *rule, enum sw_severity sev,
                const char *tenant, const char *subject, const char *summary, const char *remediation,
                json_t *evidence, int64_t now, struct sw_detect_stats *st)
{
	bool notified = false;
	struct sw_condition c = {
		.rule = rule,
		.severity = sev,
		.tenant = tenant,
		.subject = subject,
		.first_seen = now,
		.last_seen = now,
		.count = 1,
		.summary = summary,
		.remediation = remediation,
		.evidence = evidence,
	};
	int r = sw_lifecycle_fire(s, cfg, &c, now, &notified);

	if (r >= 0 && notified && st != NULL)
		st->fired++;
	return r;
}

/* A tenant without Entra ID P1 or P2 has no sign-in logs through Graph:
 * signIns answers 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant,
 * "Neither tenant is B2C or tenant doesn't have premium license".  That is
 * how the tenant is licensed, not a fault of the source, and nothing is
 * being lost to retention that could have been read. */
static bool signins_unlicensed(const struct sw_source_health *h)
{
	return strcmp(h->source, "signins") == 0 && h->last_error != NULL &&
	       (strstr(h->last_error, "NonPremiumTenant") != NULL || strstr(h->last_error, "premium license") != NULL);
}

/* See detect_source.h. */
int sw_detect_source(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_source_health *h, int64_t now, struct sw_detect_stats *st)
{
	char summary[1024], since[32] = "never", stale[32];
	int64_t ref = h->last_success > 0 ? h->last_success : h->watching_since;
	int r;

	if (h->last_success > 0)
		sw_time_format(h->last_success, since, sizeof(since));
	sw_duration_format(cfg->rules.stale_after, stale, sizeof(stale));
	if (signins_unlicensed(h)) {
		/* With the email app usage report on (the default), the report
		 * says who sends over SMTP AUTH instead and status says so
		 * (can_read): a source-unhealthy firing for as long as the
		 * tenant is licensed this way would be noise.  Without it the
		 * tenant is unobserved, and the alert says what to turn on. */
		if (t->usage) {
			r = sw_lifecycle_resolve(s, cfg, SW_RULE_SOURCE_UNHEALTHY, t->name, h->source, now);
		} else {
			snprintf(summary, sizeof(summary), "sign-ins of %s cannot be read: the tenant has no Entra ID P1 or "
			         "P2, and with usage = off nothing else says who still sends with SMTP AUTH (%s)", t->name,
			         h->last_error);
			json_auto_t *ev = json_pack("{s:s,s:s,s:b,s:b}", "source", h->source, "last_error", h->last_error,
			                            "denied", h->denied, "licensed", 0);
			r = fire(s, cfg, SW_RULE_SOURCE_UNHEALTHY, SW_SEV_MEDIUM, t->name, h->source, summary,
			         "set usage = on for the tenant (the email app usage report: Reports.Read.All and "
			         "ReportSettings.Read.All), or license Entra ID P1 for sign-in logs", ev, now, st);
		}
		if (r >= 0)
			r = sw_lifecycle_resolve(s, cfg, SW_RULE_COVERAGE_GAP, t->name, h->source, now);
		return r;
	}
	if (h->denied || (ref > 0 && now - ref >= cfg->rules.stale_after)) {
		if (h->denied)
			snprintf(summary, sizeof(summary), "the %s source of %s is refused: %s (last success: %s)",
			         h->source, t->name, h->last_error ? h->last_error : "access denied", since);
		else
			snprintf(summary, sizeof(summary), "the %s source of %s has not succeeded for %s (last success: "
			         "%s; last error: %s)", h->source, t->name, stale, since,
			         h->last_error && h->last_error[0] ? h->last_error : "none");
		json_auto_t *ev = json_pack("{s:s,s:s?,s:b}", "source", h->source, "last_error", h->last_error,
		                            "denied", h->denied);
		r = fire(s, cfg, SW_RULE_SOURCE_UNHEALTHY, SW_SEV_MEDIUM, t->name, h->source, summary, h->hint, ev, now,
		         st);
	} else {
		r = sw_lifecycle_resolve(s, cfg, SW_RULE_SOURCE_UNHEALTHY, t->name, h->source, now);
	}
	bool audit = strcmp(h->source, "audit") == 0;
	if (r < 0 || (strcmp(h->source, "signins") != 0 && !audit))
		return r;

	/* The gap: everything after the watermark (or the whole backfill when
	 * no run ever completed) is unread while the source fails. */
	int64_t gap_from = h->watermark > 0 ? h->watermark : h->backfill_from;
	int64_t lost_at = gap_from + (audit ? SW_AUDIT_RETENTION : SW_SIGNINS_RETENTION);
	int64_t warn = audit ? SW_AUDIT_COVERAGE_WARN : SW_COVERAGE_WARN;
	bool failing = h->last_success == 0 || (h->last_error != NULL && h->last_error[0] != '\0');
	if (gap_from > 0 && failing && now >= lost_at - warn) {
		char from[32], lost[32];
		sw_time_format(gap_from, from, sizeof(from));
		sw_time_format(lost_at, lost, sizeof(lost));
		if (audit)
			snprintf(summary, sizeof(summary), "audit records of %s since %s could not be fetched; the "
			         "Management Activity API keeps content 7 days, so the oldest are lost for good from %s: "
			         "who changed SMTP AUTH then will be unknown", t->name, from, lost);
		else
			snprintf(summary, sizeof(summary), "sign-ins of %s since %s could not be fetched; Entra keeps them "
			         "30 days, so the oldest are lost for good from %s: the tenant is unobserved, not quiet",
			         t->name, from, lost);
		json_auto_t *ev = json_pack("{s:s,s:s,s:s}", "source", h->source, "gap_from", from, "lost_from", lost);
		r = fire(s, cfg, SW_RULE_COVERAGE_GAP, SW_SEV_HIGH, t->name, h->source, summary,
		         "fix the source (see source-unhealthy) before the gap falls out of retention", ev, now, st);
	} else if (!failing) {
		r = sw_lifecycle_resolve(s, cfg, SW_RULE_COVERAGE_GAP, t->name, h->source, now);
	}
	return r;
}
