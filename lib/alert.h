/* alert.h: the alert (one condition: rule x tenant x subject), its SPEC
 * document, and the renderers each sink type sends. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

enum sw_alert_status {
	SW_ALERT_FIRING,
	SW_ALERT_RESOLVED,
};
const char *sw_alert_status_name(enum sw_alert_status s); /* "firing", "resolved" */
int sw_alert_status_parse(const char *s, enum sw_alert_status *ret); /* -EINVAL if neither */

struct sw_alert {
	int64_t seq;   /* store row id, 0 until saved */
	char id[24];   /* "a-000123", assigned by the store on first save */
	char *rule;
	char *tenant;
	char *subject;
	enum sw_severity severity;
	enum sw_alert_status status;
	int64_t first_seen;      /* event time of the first occurrence */
	int64_t last_seen;       /* event time of the latest occurrence */
	int64_t count;           /* occurrences (events) or 1 (state) */
	int64_t notified_count;  /* count at the last notification */
	int transition;          /* number of notifications so far (Idempotency-Key suffix) */
	char *summary;
	char *remediation;       /* may be NULL */
	json_t *evidence;        /* owned reference, object, may be NULL */
	bool acked;
	char *ack_note;
	int64_t resolved_at;     /* 0 while firing */
	int64_t updated;         /* wall time of the last change */
	int64_t transition_at;   /* when the latest transition was decided, 0 before the first */
	char *changed_by;        /* compact JSON object of the audit record that explains it, or NULL */
	/* Not stored with the alert: the end of the silence that covers it
	 * now (store_lifecycle.h), filled in by whoever shows it; 0 none. */
	int64_t silenced_until;
	/* Not stored either: the configured Entra tenant (tenant_id) of the
	 * alert's tenant, borrowed from the config by whoever shows it; NULL
	 * renders as null (a tenant no longer configured, "-"). */
	const char *tenant_id;
};
/* Free the contents and zero the struct; copes with a zeroed or half-built
 * one, and with NULL. */
void sw_alert_clear(struct sw_alert *a);

/* Point a->tenant_id at the tenant_id configured for a->tenant (NULL when
 * the tenant is not configured, or cfg is NULL). */
void sw_alert_set_tenant_id(struct sw_alert *a, const struct sw_config *cfg);

#define SW_ALERT_SCHEMA "smtpwatch.alert/2"

/* OCSF severity_id of a severity: 1 info, 2 low, 3 medium, 4 high,
 * 5 critical (0, OCSF's "unknown", for anything else). */
int sw_alert_severity_id(enum sw_severity s);

/* The SPEC alert document, version 2: "schema" (SW_ALERT_SCHEMA), "id",
 * "rule", "severity", "severity_id", "tenant", "tenant_id", "subject",
 * "status", "first_seen", "last_seen", "count", "summary", "evidence",
 * "remediation", "transition", "transition_at" (null before the first),
 * "resolved_at" (null while firing), "entities" ({"mailbox","ip","users",
 * "ips","countries"}: the subject when it is a mailbox or an IP address,
 * else null; the evidence's users, ips and countries lists, with the
 * subject's mailbox or IP in front when the evidence lacks it),
 * "changed_by" (only when set), "acked", "ack_note" when acked with a
 * note, "silenced" (true) and "silenced_until" when silenced_until is set,
 * in that key order.  The first-version members keep their names and
 * meaning.  Times are "2026-11-20T08:01:12Z"; evidence is {} when there
 * is none, remediation null.  Non-UTF-8 bytes in strings become '?'.  New
 * reference; NULL only on out of memory. */
json_t *sw_alert_document(const struct sw_alert *a);
/* The same document as compact JSON text (the bytes json_dumps(doc,
 * JSON_COMPACT) gives), appended to buf: for lists of alerts, where
 * building and dumping every evidence tree again would be most of the work.
 * evidence, when not NULL, is the alert's evidence as compact JSON text of
 * an object (what the store keeps, see sw_store_alerts_list_text()), copied
 * as is in place of a->evidence; it must not contain a newline.  0, or
 * -ENOMEM with buf as it was. */
int sw_alert_document_dump(const struct sw_alert *a, const char *evidence, struct sw_buf *buf);
