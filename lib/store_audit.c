/* store_audit.c: the audit source's tables (see store_audit.h). */
#include "store_audit.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char sw_store_audit_schema[] =
	"CREATE TABLE audit_changes(rowid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,"
	" created INTEGER NOT NULL, operation TEXT NOT NULL, user TEXT, actor TEXT NOT NULL, ip TEXT,"
	" object TEXT NOT NULL, subject TEXT NOT NULL, setting TEXT, value TEXT, effect TEXT NOT NULL,"
	" parameters TEXT, ingested INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX audit_changes_id ON audit_changes(tenant, id);"
	"CREATE INDEX audit_changes_created ON audit_changes(tenant, created);"
	"CREATE INDEX audit_changes_subject ON audit_changes(tenant, object, subject COLLATE NOCASE, created);"
	"CREATE TABLE audit_blobs(tenant TEXT NOT NULL, content_id TEXT NOT NULL, uri TEXT, created INTEGER NOT NULL,"
	" expiration INTEGER NOT NULL, state INTEGER NOT NULL, records INTEGER NOT NULL DEFAULT 0, why TEXT,"
	" noticed INTEGER NOT NULL, PRIMARY KEY(tenant, content_id)) WITHOUT ROWID;"
	"CREATE INDEX audit_blobs_created ON audit_blobs(created);"
	"CREATE TABLE audit_subscriptions(tenant TEXT NOT NULL, content_type TEXT NOT NULL, status TEXT NOT NULL,"
	" changed INTEGER NOT NULL, why TEXT, PRIMARY KEY(tenant, content_type)) WITHOUT ROWID;";

#define CHANGE_COLUMNS                                                                                   \
	"rowid, tenant, id, created, operation, user, actor, ip, object, subject, setting, value, effect, " \
	"parameters, ingested"

/* Copy a text column into a fixed buffer ("" for NULL). */
static void col_text(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const char *p = (const char *)sqlite3_column_text(st, i);
	snprintf(out, n, "%s", p ? p : "");
}

/* Fill a row from a statement selecting CHANGE_COLUMNS. */
static void change_row(sqlite3_stmt *st, struct sw_change_row *c)
{
	memset(c, 0, sizeof(*c));
	c->rowid = sqlite3_column_int64(st, 0);
	col_text(st, 1, c->tenant, sizeof(c->tenant));
	col_text(st, 2, c->id, sizeof(c->id));
	c->created = sqlite3_column_int64(st, 3);
	col_text(st, 4, c->operation, sizeof(c->operation));
	col_text(st, 5, c->user, sizeof(c->user));
	col_text(st, 6, c->actor, sizeof(c->actor));
	col_text(st, 7, c->ip, sizeof(c->ip));
	col_text(st, 8, c->object, sizeof(c->object));
	col_text(st, 9, c->subject, sizeof(c->subject));
	col_text(st, 10, c->setting, sizeof(c->setting));
	col_text(st, 11, c->value, sizeof(c->value));
	col_text(st, 12, c->effect, sizeof(c->effect));
	col_text(st, 13, c->parameters, sizeof(c->parameters));
	c->ingested = sqlite3_column_int64(st, 14);
}

/* Step a prepared SELECT of CHANGE_COLUMNS through cb, then finalize it. */
static int change_rows(struct sw_store *s, sqlite3_stmt *st, sw_change_row_cb cb, void *arg)
{
	struct sw_change_row row;
	int r = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		change_row(st, &row);
		r = cb(&row, arg);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_audit.h. */
int sw_store_changes_add(struct sw_store *s, const char *tenant, const struct sw_audit_change *items, size_t n,
                         int64_t now, size_t *ret_added)
{
	sqlite3_stmt *st = NULL;
	size_t added = 0;
	int r = sw_store_prepare(s, "INSERT INTO audit_changes(tenant, id, created, operation, user, actor, ip, object,"
	                " subject, setting, value, effect, parameters, ingested)"
	                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
	                " ON CONFLICT (tenant, id) DO NOTHING", &st);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct sw_audit_change *c = &items[i];
		if (c->id == NULL || c->operation == NULL || c->subject == NULL)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, c->created);
		sqlite3_bind_text(st, 4, c->operation, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, c->user, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, sw_audit_actor_name(c->actor), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, c->ip, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, sw_audit_object_name(c->object), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, c->subject, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, c->setting, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 11, c->value, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 12, sw_audit_effect_name(c->effect), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 13, c->parameters, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, now);
		r = sw_store_check(s, sqlite3_step(st));
		if (r >= 0)
			added += (size_t)sqlite3_changes(sw_store_sqlite(s));
	}
	sqlite3_finalize(st);
	if (r >= 0 && ret_added != NULL)
		*ret_added = added;
	return r < 0 ? r : 0;
}

/* See store_audit.h. */
int sw_store_changes_list(struct sw_store *s, const char *tenant, const char *subject, int64_t since, int limit,
                          sw_change_row_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT " CHANGE_COLUMNS " FROM audit_changes"
	                " WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR subject = ?2 COLLATE NOCASE)"
	                " AND created >= ?3 ORDER BY created DESC, rowid DESC LIMIT ?4", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int(st, 4, limit > 0 ? limit : -1);
	return change_rows(s, st, cb, arg);
}

/* See store_audit.h. */
int sw_store_changes_after(struct sw_store *s, const char *tenant, int64_t after, int limit, sw_change_row_cb cb,
                           void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT " CHANGE_COLUMNS " FROM audit_changes WHERE tenant = ?1 AND rowid > ?2"
	                " ORDER BY rowid LIMIT ?3", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
	return change_rows(s, st, cb, arg);
}

/* Keep the first row a query gives. */
static int first_cb(const struct sw_change_row *c, void *arg)
{
	*(struct sw_change_row *)arg = *c;
	return -EEXIST;
}

/* See store_audit.h. */
int sw_store_change_latest(struct sw_store *s, const char *tenant, const char *object, const char *const *subjects,
                           const char *setting, int64_t until, struct sw_change_row *ret)
{
	static const char *const any[] = {NULL, NULL};
	struct sw_change_row best, row;
	bool found = false;
	int r;

	if (subjects == NULL)
		subjects = any; /* one pass with ?3 NULL */
	for (size_t i = 0; i == 0 || subjects[i] != NULL; i++) {
		sqlite3_stmt *st = NULL;
		if (subjects[i] != NULL && subjects[i][0] == '\0')
			continue;
		r = sw_store_prepare(s, "SELECT " CHANGE_COLUMNS " FROM audit_changes WHERE tenant = ?1 AND object = ?2"
		            " AND (?3 IS NULL OR subject = ?3 COLLATE NOCASE) AND (?5 IS NULL OR setting = ?5)"
		            " AND created <= ?4 ORDER BY created DESC, rowid DESC LIMIT 1", &st);
		if (r < 0)
			return r;
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, object, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, subjects[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, until);
		sqlite3_bind_text(st, 5, setting, -1, SQLITE_STATIC);
		r = change_rows(s, st, first_cb, &row);
		if (r == -EEXIST) {
			if (!found || row.created > best.created || (row.created == best.created && row.rowid > best.rowid))
				best = row;
			found = true;
		} else if (r < 0) {
			return r;
		}
		if (subjects[i] == NULL)
			break;
	}
	if (!found)
		return -ENOENT;
	*ret = best;
	return 0;
}

/* See store_audit.h. */
int sw_store_blob_state(struct sw_store *s, const char *tenant, const char *content_id, enum sw_blob_state *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "SELECT state FROM audit_blobs WHERE tenant = ?1 AND content_id = ?2", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, content_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = (enum sw_blob_state)sqlite3_column_int(st, 0);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_audit.h.  A blob read stays read: a later listing that names
 * it again (the overlap window) must not make it pending. */
int sw_store_blob_put(struct sw_store *s, const char *tenant, const struct sw_audit_content *c,
                      enum sw_blob_state state, int64_t records, const char *why, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "INSERT INTO audit_blobs(tenant, content_id, uri, created, expiration, state, records,"
	                " why, noticed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	                " ON CONFLICT (tenant, content_id) DO UPDATE SET uri = excluded.uri,"
	                " expiration = excluded.expiration, records = excluded.records, why = excluded.why,"
	                " state = excluded.state, noticed = excluded.noticed"
	                " WHERE audit_blobs.state <> 1 AND excluded.state <> 0", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->uri, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->created);
	sqlite3_bind_int64(st, 5, c->expiration);
	sqlite3_bind_int(st, 6, (int)state);
	sqlite3_bind_int64(st, 7, records);
	sqlite3_bind_text(st, 8, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, now);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_audit.h. */
int sw_store_blobs_lost(struct sw_store *s, const char *tenant, int limit, sw_blob_lost_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_blob_lost b;
	int r = sw_store_prepare(s, "SELECT content_id, created, expiration, noticed, why FROM audit_blobs"
	                " WHERE tenant = ?1 AND state = 2 ORDER BY created DESC, content_id LIMIT ?2", &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&b, 0, sizeof(b));
		col_text(st, 0, b.content_id, sizeof(b.content_id));
		b.created = sqlite3_column_int64(st, 1);
		b.expiration = sqlite3_column_int64(st, 2);
		b.noticed = sqlite3_column_int64(st, 3);
		col_text(st, 4, b.why, sizeof(b.why));
		r = cb(&b, arg);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_audit.h. */
int sw_store_blobs_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "DELETE FROM audit_blobs WHERE created < ?1", &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, cutoff);
	r = sw_store_check(s, sqlite3_step(st));
	if (r >= 0 && ret_deleted != NULL)
		*ret_deleted = sqlite3_changes(sw_store_sqlite(s));
	sqlite3_finalize(st);
	return r;
}

/* See store_audit.h. */
int sw_store_subscription_get(struct sw_store *s, const char *tenant, const char *content_type,
                              struct sw_subscription *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT status, changed, why FROM audit_subscriptions"
	                " WHERE tenant = ?1 AND content_type = ?2", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, content_type, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(ret, 0, sizeof(*ret));
		col_text(st, 0, ret->status, sizeof(ret->status));
		ret->changed = sqlite3_column_int64(st, 1);
		col_text(st, 2, ret->why, sizeof(ret->why));
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_audit.h. */
int sw_store_subscription_put(struct sw_store *s, const char *tenant, const char *content_type, const char *status,
                              const char *why, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "INSERT INTO audit_subscriptions(tenant, content_type, status, changed, why)"
	                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, content_type) DO UPDATE SET"
	                " status = excluded.status, why = excluded.why,"
	                " changed = CASE WHEN status = excluded.status THEN changed ELSE excluded.changed END", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, content_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, why ? why : "", -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sqlite3_finalize(st);
	return r;
}
