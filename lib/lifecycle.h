/* lifecycle.h: turning conditions into alert transitions and outbox rows.
 *
 * An alert is one condition (rule, tenant, subject).  It is notified when
 * it first fires, when it resolves, when it comes back after resolving, and
 * when its count grows past the next power of two since the last
 * notification; never again while it stays the same.  Each notification
 * writes one outbox row per sink that wants the rule and severity, in the
 * caller's transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct sw_condition {
	const char *rule;
	enum sw_severity severity;
	const char *tenant;
	const char *subject;
	int64_t first_seen;   /* event time */
	int64_t last_seen;    /* event time */
	int64_t count;        /* events: new occurrences to add; state: current count */
	bool accumulate;      /* event rule: add count to the firing alert's count */
	const char *summary;
	const char *remediation; /* may be NULL */
	json_t *evidence;        /* borrowed; merged into the alert's evidence */
};

/* The condition holds.  *ret_notified (may be NULL) says whether this was a
 * notification transition (the alert's transition was bumped and a row
 * queued for each sink that wants it: possibly none).  Evidence arrays are
 * unioned into a firing alert's (first 50 entries kept), other members
 * overwritten; a NULL remediation keeps the alert's.  An unchanged
 * condition writes nothing.  -EINVAL without rule, tenant or subject. */
int sw_lifecycle_fire(struct sw_store *s, const struct sw_config *cfg, const struct sw_condition *c, int64_t now,
                      bool *ret_notified);
/* The condition cleared: resolve the firing alert (no-op if none). */
int sw_lifecycle_resolve(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                         const char *subject, int64_t now);
/* State rules: resolve every firing alert of (rule, tenant) whose subject is
 * not among subjects[0..n). */
int sw_lifecycle_sync(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                      const char *const *subjects, size_t n, int64_t now);
