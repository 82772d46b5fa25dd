/* lifecycle.h: turning conditions into alert transitions and outbox rows.
 *
 * An alert is one condition (rule, tenant, subject).  It is notified when
 * it first fires, when it resolves, when it comes back after resolving, and
 * when its count grows past the next power of two since the last
 * notification; never again while it stays the same.  Each notification
 * writes one outbox row per sink that wants the rule and severity, in the
 * caller's transaction.
 *
 * An acknowledged alert is not notified again while it fires (its
 * resolution still is); coming back after resolving clears the ack.
 *
 * A silenced alert (a silence in store_lifecycle.h covers its rule and
 * subject at `now`) is still created, counted and resolved in the store,
 * but queues no outbox row at all, its resolution included, and its
 * transition does not move.  A notification it missed is owed: the first
 * fire after the silence ends notifies (its notified_count is reset to 0
 * while owed), so a silence hides what happened, not that it happened. */
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
	/* Compact JSON of the audit record that explains the condition
	 * (alert document "changed_by"), NULL when none is known: a firing
	 * alert keeps the one it has.  One that arrives, or changes, while the
	 * alert fires and was notified is one more transition of it. */
	const char *changed_by;
};

/* The condition holds.  *ret_notified (may be NULL) says whether this was a
 * notification transition (the alert's transition was bumped and a row
 * queued for each sink that wants it: possibly none).  Evidence arrays are
 * unioned into a firing alert's (first 50 entries kept), other members
 * overwritten; a NULL remediation keeps the alert's.  An unchanged
 * condition writes nothing.  -EINVAL without rule, tenant or subject. */
int sw_lifecycle_fire(struct sw_store *s, const struct sw_config *cfg, const struct sw_condition *c, int64_t now,
                      bool *ret_notified);
/* Queue body, the document doc of a's current transition as compact
 * JSON, once for every sink of cfg that wants a's rule and severity
 * (sw_store_outbox_queue: the body is stored once for all of them).  a
 * must be saved (it has its id). */
int sw_lifecycle_queue(struct sw_store *s, const struct sw_config *cfg, const struct sw_alert *a, const json_t *doc,
                       const char *body, int64_t now);
/* An event that is news each time it happens (silence-changed): the alert
 * is raised and notified as by sw_lifecycle_fire(), then stored resolved
 * at once without a notification, so the next event of the same (rule,
 * tenant, subject) notifies again instead of only growing a count. */
int sw_lifecycle_event(struct sw_store *s, const struct sw_config *cfg, const struct sw_condition *c, int64_t now);
/* The condition cleared: resolve the firing alert (no-op if none). */
int sw_lifecycle_resolve(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                         const char *subject, int64_t now);
/* The same, saying how it cleared: summary (NULL keeps it) replaces the
 * alert's, evidence (NULL: none; borrowed) is merged into its evidence
 * ("now on OAuth" of basic-sender-stopped). */
int sw_lifecycle_resolve_as(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                            const char *subject, const char *summary, const json_t *evidence, int64_t now);
/* Is (rule, subject) silenced at now?  *ret_until (may be NULL) gets the
 * end of the silence.  Errors of the store count as "not silenced";
 * SW_RULE_SILENCE_CHANGED never is. */
bool sw_lifecycle_silenced(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           int64_t *ret_until);

/* The silences in force at one instant, read with one query: for marking a
 * list of alerts without a query per alert. */
struct sw_silence;
struct sw_silences {
	struct sw_silence *items;
	size_t n;
};
/* Read the silences in force at now into *ret, which the caller
 * sw_silences_clear()s, after a failure too. */
int sw_silences_load(struct sw_store *s, int64_t now, struct sw_silences *ret);
/* sw_lifecycle_silenced() against the set: the end of the longest silence
 * covering (rule, subject), 0 when none. */
int64_t sw_silences_until(const struct sw_silences *set, const char *rule, const char *subject);
void sw_silences_clear(struct sw_silences *set);
/* Does the silence cover (rule, subject), whatever its end?  The store's
 * match: its rule is "*" or the same, its subject "*" or the same without
 * regard to ASCII case.  Never SW_RULE_SILENCE_CHANGED. */
bool sw_silence_covers(const struct sw_silence *sil, const char *rule, const char *subject);

/* Acknowledge the alert with this id: no repeats until it resolves.  A
 * note replaces the previous one (NULL keeps it).  *ret (may be NULL)
 * gets the alert as saved (the caller's to sw_alert_clear()).  -ENOENT no
 * such alert, -EALREADY it is resolved: nothing to acknowledge. */
int sw_lifecycle_ack(struct sw_store *s, const char *id, const char *note, int64_t now, struct sw_alert *ret);
/* Silence rule ("*" or a SPEC rule name) for subject ("*" or one subject)
 * until `until` (> now), replacing one for the same pair.  -EINVAL for an
 * unknown rule, an empty subject or an end not after now; -EPERM for
 * SW_RULE_SILENCE_CHANGED, which cannot be silenced.  Limits on length
 * and on "*" for both are the caller's (they depend on the config). */
int sw_lifecycle_silence(struct sw_store *s, const char *rule, const char *subject, int64_t until, int64_t now,
                         const char *created_by, const char *note, int64_t *ret_id);
/* Lift the silence of exactly (rule, subject) now; *ret (may be NULL)
 * gets it as it was.  -ENOENT when none of that pair is in force. */
int sw_lifecycle_unsilence(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           struct sw_silence *ret);

/* State rules: resolve every firing alert of (rule, tenant) whose subject is
 * not among subjects[0..n).  *ret_resolved (if not NULL) gets how many
 * it resolved: the caller's deliver_kick() depends on it. */
int sw_lifecycle_sync(struct sw_store *s, const struct sw_config *cfg, const char *rule, const char *tenant,
                      const char *const *subjects, size_t n, int64_t now, size_t *ret_resolved);
