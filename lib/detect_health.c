/* detect_health.c: the credential-expiring rule. */
#include "detect_health.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "jwt.h"
#include "lifecycle.h"

#define DAY 86400

/* Resolve a firing credential-expiring alert of the credential; *ret_resolved says if there was one. */
static int credential_resolve(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                              const struct sw_credential *cr, int64_t now, bool *ret_resolved)
{
	struct sw_alert a = {0};
	int r;

	*ret_resolved = false;
	r = sw_store_alert_find(s, SW_RULE_CREDENTIAL_EXPIRING, t->name, cr->client_id, &a);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (a.status == SW_ALERT_FIRING) {
		r = sw_lifecycle_resolve(s, cfg, SW_RULE_CREDENTIAL_EXPIRING, t->name, cr->client_id, now);
		*ret_resolved = r >= 0;
	}
	sw_alert_clear(&a);
	return r;
}

/* The reminders: days left at which the alert is sent again (then once
 * more when the certificate has expired). */
static const int reminder_days[] = {SW_CREDENTIAL_WARN_DAYS, 14, 7, 3, 1};

/* The alert's count with days_left to go: doubled at each reminder passed
 * (1 from 30 days, 2 from 14, 4 from 7, 8 from 3, 16 from 1, 32 expired),
 * so that the lifecycle, which sends again when the count reaches the
 * next power of two, sends exactly at the reminders. */
static int64_t reminder_count(int days_left, bool expired)
{
	int64_t count = 1;

	for (size_t i = 1; i < sizeof(reminder_days) / sizeof(reminder_days[0]); i++)
		if (days_left <= reminder_days[i])
			count *= 2;
	return expired ? count * 2 : count;
}

/* The certificate ends within the warning window: fire (or refresh). */
static int credential_fire(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                           const struct sw_credential *cr, int64_t not_after, int64_t now, bool *ret_notified)
{
	char when[32], summary[512], remediation[400], whose[160];
	int64_t since = not_after - (int64_t)SW_CREDENTIAL_WARN_DAYS * DAY;
	int days = sw_cert_days_left_at(not_after, now);
	bool writer = cr->file_key != NULL && strcmp(cr->file_key, "remediation_certificate_file") == 0;
	json_t *ev;
	int r;

	sw_time_format(not_after, when, sizeof(when));
	snprintf(whose, sizeof(whose), "%s %s (%s %s)", writer ? "the remediation certificate of tenant" :
	         "the certificate of tenant", t->name, writer ? "remediation_client_id" : "client_id", cr->client_id);
	if (now >= not_after)
		snprintf(summary, sizeof(summary), "%s expired on %s: %s until it is replaced", whose, when,
		         writer ? "remediation cannot sign in" : "token requests fail");
	else
		snprintf(summary, sizeof(summary), "%s expires on %s, in %d day%s", whose, when, days,
		         days == 1 ? "" : "s");
	snprintf(remediation, sizeof(remediation),
	         "Create a new certificate, upload it to the app registration %s (Certificates & secrets), put it "
	         "with its key in %s (mode 0600) and run smtpwatchctl reload",
	         cr->client_id, cr->certificate_file ? cr->certificate_file : cr->file_key);
	ev = json_pack("{s:s,s:i,s:s?,s:s}", "not_after", when, "days_left", days, "certificate_file",
	               cr->certificate_file, "config_key", cr->file_key);
	if (ev == NULL)
		return -ENOMEM;
	struct sw_condition c = {
		.rule = SW_RULE_CREDENTIAL_EXPIRING,
		.severity = SW_SEV_MEDIUM,
		.tenant = t->name,
		.subject = cr->client_id,
		.first_seen = since < now ? since : now,
		.last_seen = now,
		/* Refreshed by every call (the days left in the summary), sent
		 * again at 14, 7, 3 and 1 days left and at expiry. */
		.count = reminder_count(days, now >= not_after),
		.accumulate = false,
		.summary = summary,
		.remediation = remediation,
		.evidence = ev,
	};
	r = sw_lifecycle_fire(s, cfg, &c, now, ret_notified);
	json_decref(ev);
	return r;
}

/* See detect_health.h. */
int sw_detect_credential_of(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                            const struct sw_credential *cr, int64_t not_after, int64_t now,
                            struct sw_detect_stats *st)
{
	bool notified = false, resolved = false;
	int r;

	if (s == NULL || t == NULL || t->name == NULL || cr == NULL || cr->client_id == NULL || cr->file_key == NULL)
		return -EINVAL;
	/* A certificate that could not be read says nothing about expiry:
	 * the sources fail with the reason, and the alert stays as it is. */
	if (cr->certificate_file != NULL && not_after <= 0)
		return 0;
	r = sw_store_begin(s);
	if (r < 0)
		return r;
	if (cr->certificate_file != NULL && not_after - now <= (int64_t)SW_CREDENTIAL_WARN_DAYS * DAY)
		r = credential_fire(s, cfg, t, cr, not_after, now, &notified);
	else
		r = credential_resolve(s, cfg, t, cr, now, &resolved);
	if (r < 0) {
		sw_store_rollback(s);
		return r;
	}
	r = sw_store_commit(s);
	if (r < 0)
		return r;
	if (st != NULL) {
		st->fired += notified;
		st->resolved += resolved;
	}
	return 0;
}

/* See detect_health.h. */
int sw_detect_credential(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                         int64_t not_after, int64_t now, struct sw_detect_stats *st)
{
	if (t == NULL)
		return -EINVAL;
	struct sw_credential cr = {t->client_id, t->certificate_file, "certificate_file"};
	return sw_detect_credential_of(s, cfg, t, &cr, not_after, now, st);
}
