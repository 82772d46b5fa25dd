/* store.h: SQLite storage: schema and migrations, sign-ins, checkpoints,
 * alerts and the delivery outbox.  The caller owns transactions: every
 * write below runs inside sw_store_begin()/sw_store_commit() that the
 * caller opened, so records and their checkpoint commit together. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "signins.h"
#include "util.h"

/* The schema this code writes (PRAGMA user_version after open). */
#define SW_STORE_SCHEMA_VERSION 19

struct sw_store;

/* The marker written beside a database file once it exists: PATH.created. */
#define SW_STORE_MARKER_SUFFIX ".created"

/* Open (creating and migrating) the database: WAL, foreign keys,
 * busy_timeout, PRAGMA quick_check, user_version migrations.  err gets
 * the text.  -ENOTSUP when the database was written by a newer smtpwatch
 * (a schema version this code does not know); -EBADMSG when the file is
 * corrupt; -ENOENT when PATH is missing but PATH.created is there (it was
 * deleted: a new empty one is not created).  On success PATH.created is
 * written if missing. */
int sw_store_open(const char *path, struct sw_store **ret, struct sw_error *err);
/* Is the database file still the one opened?  -ENOENT when it was
 * deleted, -ESTALE when another file took its name (errmsg says which);
 * writes then go to a file nobody will find again.  A stat(2). */
int sw_store_check_file(struct sw_store *s);
void sw_store_free(struct sw_store *s);
const char *sw_store_errmsg(struct sw_store *s);
int sw_store_schema_version(struct sw_store *s);

/* Errors are -errno, one translation of SQLite's codes for every store
 * function (store_int.h): -ENOSPC a full disk, -EBUSY locked, -ENOMEM,
 * -EROFS read-only, -EEXIST a constraint, -EIO anything else (a corrupt
 * file too); sw_store_errmsg() keeps SQLite's text. */

int sw_store_begin(struct sw_store *s); /* BEGIN IMMEDIATE */
int sw_store_commit(struct sw_store *s);
int sw_store_rollback(struct sw_store *s); /* safe when no transaction is open */
/* Transactions begun on this handle since it was opened (each
 * sw_store_begin counts, whatever became of it): what a piece of work
 * cost in BEGIN IMMEDIATE ... COMMIT, for status. */
uint64_t sw_store_transactions(const struct sw_store *s);
/* Of those, the ones committed with a row changed (sqlite3_total_changes:
 * a COMMIT that writes the WAL). */
uint64_t sw_store_writes(const struct sw_store *s);

/* Keep the planner's statistics fresh: ANALYZE (bounded by analysis_limit)
 * if the sign-ins were never analyzed, PRAGMA optimize otherwise.  Call
 * after the first large ingest and now and then (e.g. daily), outside a
 * transaction. */
int sw_store_optimize(struct sw_store *s);

/* WAL checkpoints off the caller's thread.  SQLite checkpoints in the
 * commit that takes the WAL past 1,000 pages: it copies them into the
 * database and syncs it, tens of ms to hundreds on a busy disk, on the
 * caller's event loop.  sw_store_wal_offload() turns that off for s and
 * calls ready(arg) instead, from the commit, when the WAL holds at least
 * 1,000 pages; a checkpointer with a connection of its own, run on
 * another thread, then copies them (PASSIVE: it never waits for the
 * writer or the readers, and they never wait for it).  ready NULL gives
 * the checkpoints back to the commits. */
int sw_store_wal_offload(struct sw_store *s, void (*ready)(void *arg), void *arg);
struct sw_store_checkpointer;
int sw_store_checkpointer_open(const char *path, struct sw_store_checkpointer **ret, struct sw_error *err);
/* One PASSIVE checkpoint: *ret_wal the pages in the WAL, *ret_copied those
 * in the database now (both may be NULL).  Only from the thread that uses
 * c; -EIO etc. with sw_store_checkpointer_errmsg(). */
int sw_store_checkpointer_run(struct sw_store_checkpointer *c, int *ret_wal, int *ret_copied);
const char *sw_store_checkpointer_errmsg(struct sw_store_checkpointer *c);
void sw_store_checkpointer_free(struct sw_store_checkpointer *c);

/* Per (tenant, source) progress: source is "signins", "exchange", "report",
 * or an internal cursor such as "detect". */
struct sw_checkpoint {
	int64_t watermark;    /* sources: covered up to here (Unix s); detect: last rowid seen */
	int64_t last_success; /* wall time, 0 never */
	int64_t last_attempt;
	int64_t records;      /* total records stored from this source */
	char last_error[256]; /* "" when the last attempt succeeded */
};
/* -ENOENT (and *ret zeroed) when there is none yet. */
int sw_store_checkpoint_get(struct sw_store *s, const char *tenant, const char *source, struct sw_checkpoint *ret);
int sw_store_checkpoint_put(struct sw_store *s, const char *tenant, const char *source, const struct sw_checkpoint *cp);

/* Insert sign-ins; a duplicate id (per tenant) is dropped, as are items
 * without an id.  *ret_added (may be NULL) counts the new rows. */
int sw_store_signins_add(struct sw_store *s, const char *tenant, const struct sw_signin *items, size_t n,
                         int64_t now, size_t *ret_added);
/* From a rollup kept by signins_add and prune: no scan. */
int sw_store_signins_count(struct sw_store *s, const char *tenant, int64_t *ret);
/* Delete observations older than cutoff (retention): sign-ins created
 * before it and delivered/dead outbox rows finished before it.
 * *ret_deleted (may be NULL) counts both. */
int sw_store_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted);
/* Only the sign-ins of that, the oldest first, at most limit of them (-1:
 * all): a day of a big store's sign-ins in slices (*ret_deleted < limit:
 * none older than cutoff is left). */
int sw_store_prune_signins(struct sw_store *s, int64_t cutoff, int64_t limit, int64_t *ret_deleted);

/* Alerts.  find/get overwrite *ret (caller sw_alert_clear()s it after
 * success); -ENOENT when there is none. */
int sw_store_alert_find(struct sw_store *s, const char *rule, const char *tenant, const char *subject,
                        struct sw_alert *ret);
int sw_store_alert_get(struct sw_store *s, const char *id, struct sw_alert *ret);
/* Insert (a->seq == 0: assigns seq and id) or update (-ENOENT if the seq
 * is gone).  Inserting a second alert for the same (rule, tenant, subject)
 * is -EEXIST. */
int sw_store_alert_save(struct sw_store *s, struct sw_alert *a);
/* Calls cb for each alert, newest first (updated, then seq): only firing
 * ones unless all; since > 0 keeps alerts updated at or after since.  cb
 * returns < 0 to stop (that value is returned).  The alert is borrowed for
 * the call.  cb may read the store but must not change alerts: collect,
 * then change after the list returns. */
typedef int (*sw_alert_cb)(const struct sw_alert *a, void *arg);
int sw_store_alerts_list(struct sw_store *s, bool all, int64_t since, sw_alert_cb cb, void *arg);
/* The same list of one tenant's alerts only, through the index on
 * (tenant, updated): the report asks it for each tenant, and the whole
 * list for each of thousands of tenants was most of the report's time. */
int sw_store_alerts_list_tenant(struct sw_store *s, const char *tenant, bool all, int64_t since, sw_alert_cb cb,
                                void *arg);
/* Firing alerts counted per severity into by_sev[SW_SEV_INFO..SW_SEV_CRITICAL]
 * (added to what is there), without reading the alerts themselves. */
int sw_store_alerts_count(struct sw_store *s, int64_t by_sev[SW_SEV_CRITICAL + 1]);
/* Row counts grouped by (name, state), for `metrics`: alerts by (rule,
 * status), outbox rows by (sink, state: 0 pending, 1 delivered, 2 dead).
 * name is borrowed for the call ("" for SQL NULL); cb returns < 0 to stop
 * (that value is returned). */
typedef int (*sw_tally_cb)(const char *name, int64_t state, int64_t n, void *arg);
int sw_store_alerts_tally(struct sw_store *s, sw_tally_cb cb, void *arg);
int sw_store_outbox_tally(struct sw_store *s, sw_tally_cb cb, void *arg);
/* The same list for showing it: a->evidence stays NULL and cb gets the
 * stored evidence as compact JSON text of an object instead ("{}" when
 * there is none, or the row holds something jansson would not load), for
 * sw_alert_document_dump(): no evidence tree is built.  Both are borrowed
 * for the call.  The statement is kept prepared: cb must not list alerts
 * with these functions itself. */
typedef int (*sw_alert_text_cb)(const struct sw_alert *a, const char *evidence, void *arg);
int sw_store_alerts_list_text(struct sw_store *s, bool all, int64_t since, sw_alert_text_cb cb, void *arg);
/* One page of that list, for `alerts --limit N --after ID`: the alerts
 * after the one whose id is after (NULL: from the newest), in the same
 * order, at most limit of them (0: all).  *more (may be NULL) says whether
 * further alerts follow the page.  -ENOENT when no alert has the id after.
 * The cursor is that alert's place now: one updated since the previous
 * page has moved to the top, and the page after it starts there.  after
 * may also be a position, "ID@UPDATED.SEQ" (sw_alert_page_cursor()): the
 * page then follows the place the alert had when it was listed, even if
 * it has been updated (or deleted) since; -EINVAL when it is malformed. */
struct sw_alert_page {
	bool all;
	int64_t since;
	const char *after;
	int64_t limit;
};
int sw_store_alerts_page_text(struct sw_store *s, const struct sw_alert_page *pg, sw_alert_text_cb cb, void *arg,
                              bool *more);
/* The position cursor of a listed alert, "a-000123@1795000000.123", into
 * buf (SW_ALERT_CURSOR_MAX). */
#define SW_ALERT_CURSOR_MAX 96
void sw_alert_page_cursor(const struct sw_alert *a, char *buf, size_t n);
/* Firing alerts of one rule in one tenant (state rules resolve from it).
 * cb must not write the alerts table nor list again: one statement, kept
 * prepared, serves every call (collect, then act). */
int sw_store_alerts_firing(struct sw_store *s, const char *rule, const char *tenant, sw_alert_cb cb, void *arg);
/* Firing alerts of one rule and subject in any tenant, oldest first (the
 * daemon's config alerts, subject "config", at start and reload); the
 * same contract for cb as sw_store_alerts_list. */
int sw_store_alerts_firing_subject(struct sw_store *s, const char *rule, const char *subject, sw_alert_cb cb,
                                   void *arg);

/* Outbox: one row per (alert transition, sink).  An item becomes ready
 * only when no earlier pending item of the same alert waits for the same
 * sink, so a sink never gets an alert's transitions out of order. */
struct sw_outbox_item {
	int64_t id;
	char alert_id[24];
	int transition;
	char *sink;
	char *body; /* the alert document, compact JSON */
	int attempts;
	int64_t created;
	int64_t next_attempt;
};
void sw_outbox_item_clear(struct sw_outbox_item *it);
/* One notification to queue: an alert's transition and its document
 * (compact JSON); rule and tenant, which digests group by, NULL to take
 * them out of the body.  With meta set, severity, tenant_id, first_seen
 * and last_seen are the document's members of those names (NULL: it has
 * none), which a digest reads of every member; without, they are read
 * out of the body. */
struct sw_outbox_new {
	const char *alert_id;
	int transition;
	const char *rule, *tenant;
	const char *body;
	bool meta;
	const char *severity, *tenant_id, *first_seen, *last_seen;
};
/* Queue n for each of the n_sinks sinks: the body is stored once, and
 * each sink's row points at it (what each sink is sent is that one text). */
int sw_store_outbox_queue(struct sw_store *s, const struct sw_outbox_new *n, const char *const *sinks,
                          size_t n_sinks, int64_t now);
/* The same for one sink, rule and tenant read from the body. */
int sw_store_outbox_add(struct sw_store *s, const char *alert_id, int transition, const char *sink,
                        const char *body, int64_t now);
/* The oldest (by next_attempt, then id) ready pending item of sink due at
 * now; -ENOENT when none.  *ret is the caller's to sw_outbox_item_clear(). */
int sw_store_outbox_next(struct sw_store *s, const char *sink, int64_t now, struct sw_outbox_item *ret);
/* Earliest next_attempt of a ready pending item of sink (may be in the
 * past); -ENOENT when none. */
int sw_store_outbox_next_due(struct sw_store *s, const char *sink, int64_t *ret);
/* The same two, leaving out the rows whose ids skip lists (a JSON array,
 * "[1,7]": the items in flight; NULL none). */
int sw_store_outbox_next_except(struct sw_store *s, const char *sink, int64_t now, const char *skip,
                                struct sw_outbox_item *ret);
int sw_store_outbox_next_due_except(struct sw_store *s, const char *sink, const char *skip, int64_t *ret);
/* Outcomes of one attempt on a pending item: each counts the attempt and
 * updates the sink's counters; -ENOENT if the item is not pending. */
int sw_store_outbox_delivered(struct sw_store *s, int64_t id, int64_t now);
int sw_store_outbox_retry(struct sw_store *s, int64_t id, int64_t next_attempt, const char *error);
int sw_store_outbox_dead(struct sw_store *s, int64_t id, int64_t now, const char *error);
/* The wall clock stepped by `by` seconds: move every pending item's
 * next_attempt with it, so that a back-off keeps its length and a step back
 * does not hold queued alerts until the clock is where it was.  *ret_n:
 * items moved (may be NULL). */
int sw_store_outbox_shift(struct sw_store *s, int64_t by, int64_t *ret_n);

/* queued: pending now; delivered, failed_attempts, dead: totals since the
 * database was created (counters, kept across prunes). */
struct sw_outbox_stats {
	int64_t queued, delivered, failed_attempts, dead;
	int64_t last_success; /* 0 never */
	char last_error[256];
};
int sw_store_outbox_stats(struct sw_store *s, const char *sink, struct sw_outbox_stats *ret);
