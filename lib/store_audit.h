/* store_audit.h: the audit source's part of the store: the admin changes
 * that touch SMTP AUTH (deduplicated on the record's Id), the content
 * blobs already read or lost, and the state of the Audit.Exchange
 * subscription.  Writes run in the caller's transaction, like the rest of
 * store.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "store.h"

/* The SQL of the schema migration that creates these tables. */
extern const char sw_store_audit_schema[];

/* Insert changes; a record seen before (same tenant and Id) is dropped.
 * *ret_added (may be NULL) counts the new rows. */
int sw_store_changes_add(struct sw_store *s, const char *tenant, const struct sw_audit_change *items, size_t n,
                         int64_t now, size_t *ret_added);

/* One stored change, copied out of the row. */
struct sw_change_row {
	int64_t rowid;
	char tenant[128];
	char id[SW_AUDIT_ID_MAX + 1];
	int64_t created;
	char operation[64];
	char user[SW_AUDIT_NAME_MAX + 1];  /* "" when the record had none */
	char actor[16];                    /* sw_audit_actor_name() */
	char ip[SW_AUDIT_IP_MAX + 1];
	char object[16];                   /* sw_audit_object_name() */
	char subject[SW_AUDIT_NAME_MAX + 1];
	char setting[64];
	char value[SW_AUDIT_NAME_MAX + 1]; /* "" for none */
	char effect[16];                   /* sw_audit_effect_name() */
	char parameters[SW_AUDIT_PARAMS_MAX + 1];
	int64_t ingested;
};
typedef int (*sw_change_row_cb)(const struct sw_change_row *c, void *arg);
/* Changes newest first (CreationTime, then rowid): of one tenant or of
 * all (tenant NULL), of one subject or all (subject NULL, matched without
 * regard to case), created at or after since, at most limit (0: no limit).
 * cb returns < 0 to stop (that value is returned). */
int sw_store_changes_list(struct sw_store *s, const char *tenant, const char *subject, int64_t since, int limit,
                          sw_change_row_cb cb, void *arg);
/* Changes of a tenant stored after rowid `after`, oldest rowid first, at
 * most limit: what the rule has not seen yet. */
int sw_store_changes_after(struct sw_store *s, const char *tenant, int64_t after, int limit, sw_change_row_cb cb,
                           void *arg);
/* The latest change (by CreationTime, then arrival) of object kind
 * `object` ("mailbox", "tenant", "policy"), of one of the subjects (any
 * case; NULL-terminated; NULL: any subject, as for the tenant's own
 * switch, whose subject is the OrganizationName) and of setting (NULL:
 * any), created at or before until: the change that produced the current
 * state.  -ENOENT when none. */
int sw_store_change_latest(struct sw_store *s, const char *tenant, const char *object, const char *const *subjects,
                           const char *setting, int64_t until, struct sw_change_row *ret);

/* Content blobs: pending (listed, not read), read, or lost (the URI
 * answered 404 or expired before it was read). */
enum sw_blob_state {
	SW_BLOB_PENDING = 0,
	SW_BLOB_READ = 1,
	SW_BLOB_LOST = 2,
};
/* The state of a blob; -ENOENT when never listed. */
int sw_store_blob_state(struct sw_store *s, const char *tenant, const char *content_id, enum sw_blob_state *ret);
/* Record a blob's state, with its records when read and why when lost. */
int sw_store_blob_put(struct sw_store *s, const char *tenant, const struct sw_audit_content *c,
                      enum sw_blob_state state, int64_t records, const char *why, int64_t now);
/* Lost blobs of a tenant, newest first, at most limit: the coverage gaps
 * status shows ([contentCreated, contentExpiration] and why). */
struct sw_blob_lost {
	char content_id[160];
	int64_t created, expiration, noticed;
	char why[160];
};
typedef int (*sw_blob_lost_cb)(const struct sw_blob_lost *b, void *arg);
int sw_store_blobs_lost(struct sw_store *s, const char *tenant, int limit, sw_blob_lost_cb cb, void *arg);
/* Forget blobs listed before cutoff (they are gone from Microsoft too). */
int sw_store_blobs_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted);

/* The Audit.Exchange subscription of a tenant: "enabled" once started (or
 * found already on), "disabled" (AF20023) with why.  -ENOENT before the
 * first attempt. */
struct sw_subscription {
	char status[16];
	int64_t changed;
	char why[256];
};
int sw_store_subscription_get(struct sw_store *s, const char *tenant, const char *content_type,
                              struct sw_subscription *ret);
int sw_store_subscription_put(struct sw_store *s, const char *tenant, const char *content_type, const char *status,
                              const char *why, int64_t now);
