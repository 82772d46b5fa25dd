/* store_remediate.c: the remediation actions table (see store_remediate.h). */
#include "store_remediate.h"
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "config.h"
#include "jsonutil.h"
#include "lifecycle.h"

const char sw_store_remediate_schema[] =
	"CREATE TABLE remediations(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, alert_id TEXT NOT NULL,"
	" rule TEXT NOT NULL, target TEXT NOT NULL, cmdlet TEXT NOT NULL, parameters TEXT NOT NULL,"
	" command TEXT NOT NULL, requested_by TEXT NOT NULL, uid INTEGER NOT NULL, requested_at INTEGER NOT NULL,"
	" written_at INTEGER NOT NULL DEFAULT 0, read_back_at INTEGER NOT NULL DEFAULT 0,"
	" http_status INTEGER NOT NULL DEFAULT 0, answer TEXT, state_read TEXT,"
	" outcome TEXT NOT NULL DEFAULT 'pending', notified INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX remediations_tenant ON remediations(tenant, requested_at);"
	"CREATE INDEX remediations_alert ON remediations(alert_id);"
	"CREATE INDEX remediations_pending ON remediations(outcome) WHERE outcome = 'pending';";

#define COLUMNS                                                                                                  \
	"id, tenant, alert_id, rule, target, cmdlet, parameters, command, requested_by, uid, requested_at,"      \
	" written_at, read_back_at, http_status, answer, state_read, outcome, notified"

/* See store_remediate.h. */
void sw_remedy_action_clear(struct sw_remedy_action *a)
{
	if (a == NULL)
		return;
	free(a->tenant);
	free(a->alert_id);
	free(a->rule);
	free(a->target);
	free(a->cmdlet);
	free(a->parameters);
	free(a->command);
	free(a->requested_by);
	free(a->answer);
	free(a->state_read);
	free(a->outcome);
	memset(a, 0, sizeof(*a));
}

/* A text column as a new string, NULL for SQL NULL; *oom on failure. */
static char *col_text(sqlite3_stmt *st, int i, bool *oom)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	char *r;

	if (t == NULL)
		return NULL;
	r = strdup(t);
	if (r == NULL)
		*oom = true;
	return r;
}

/* The row under st into *a. */
static int row_read(sqlite3_stmt *st, struct sw_remedy_action *a)
{
	bool oom = false;

	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	a->tenant = col_text(st, 1, &oom);
	a->alert_id = col_text(st, 2, &oom);
	a->rule = col_text(st, 3, &oom);
	a->target = col_text(st, 4, &oom);
	a->cmdlet = col_text(st, 5, &oom);
	a->parameters = col_text(st, 6, &oom);
	a->command = col_text(st, 7, &oom);
	a->requested_by = col_text(st, 8, &oom);
	a->uid = sqlite3_column_int64(st, 9);
	a->requested_at = sqlite3_column_int64(st, 10);
	a->written_at = sqlite3_column_int64(st, 11);
	a->read_back_at = sqlite3_column_int64(st, 12);
	a->http_status = sqlite3_column_int(st, 13);
	a->answer = col_text(st, 14, &oom);
	a->state_read = col_text(st, 15, &oom);
	a->outcome = col_text(st, 16, &oom);
	a->notified = sqlite3_column_int(st, 17) != 0;
	if (oom) {
		sw_remedy_action_clear(a);
		return -ENOMEM;
	}
	return 0;
}

/* See store_remediate.h. */
int sw_store_remedy_add(struct sw_store *s, const struct sw_remedy_action *a, int64_t *ret_id)
{
	static const char sql[] = "INSERT INTO remediations(tenant, alert_id, rule, target, cmdlet, parameters,"
	                          " command, requested_by, uid, requested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	                          " ?9, ?10)";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	const char *v[] = {a->tenant, a->alert_id, a->rule, a->target, a->cmdlet, a->parameters, a->command,
	                   a->requested_by};
	for (int i = 0; i < 8; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, a->uid);
	sqlite3_bind_int64(st, 10, a->requested_at);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	if (r >= 0 && ret_id != NULL)
		*ret_id = sqlite3_last_insert_rowid(sw_store_sqlite(s));
	return r;
}

/* See store_remediate.h. */
int sw_store_remedy_written(struct sw_store *s, int64_t id, int64_t at, int http_status, const char *answer)
{
	static const char sql[] = "UPDATE remediations SET written_at = ?2, http_status = ?3, answer = ?4 WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int(st, 3, http_status);
	sqlite3_bind_text(st, 4, answer, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_remediate.h. */
int sw_store_remedy_complete(struct sw_store *s, int64_t id, int64_t at, const char *state_read,
                             const char *outcome, const char *answer)
{
	static const char sql[] = "UPDATE remediations SET read_back_at = ?2, state_read = ?3, outcome = ?4,"
	                          " answer = coalesce(?5, answer) WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, state_read, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, outcome, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, answer, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_remediate.h. */
int sw_store_remedy_notified(struct sw_store *s, int64_t id)
{
	static const char sql[] = "UPDATE remediations SET notified = 1 WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_remediate.h. */
int sw_store_remedy_get(struct sw_store *s, int64_t id, struct sw_remedy_action *ret)
{
	static const char sql[] = "SELECT " COLUMNS " FROM remediations WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_read(st, ret);
	else
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	sw_store_stmt_done(st);
	return r;
}

/* See store_remediate.h. */
int sw_store_remedy_list(struct sw_store *s, const char *tenant, const char *alert_id, bool pending_only,
                         sw_remedy_cb cb, void *arg)
{
	static const char sql[] = "SELECT " COLUMNS " FROM remediations WHERE (?1 IS NULL OR tenant = ?1)"
	                          " AND (?2 IS NULL OR alert_id = ?2) AND (?3 = 0 OR outcome = 'pending')"
	                          " ORDER BY id DESC";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);
	int rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, alert_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, pending_only);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_remedy_action a;
		r = row_read(st, &a);
		if (r < 0)
			break;
		r = cb(&a, arg);
		sw_remedy_action_clear(&a);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_check(s, rc);
	sw_store_stmt_done(st);
	return r < 0 ? r : 0;
}

/* See store_remediate.h. */
int sw_store_remedy_count(struct sw_store *s, const char *tenant, const char *requested_by, int64_t since,
                          int64_t *ret)
{
	static const char sql[] = "SELECT count(*) FROM remediations WHERE tenant = ?1 AND requested_at >= ?2"
	                          " AND (?3 IS NULL OR requested_by = ?3)";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_text(st, 3, requested_by, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	r = rc == SQLITE_ROW ? 0 : sw_store_check(s, rc);
	sw_store_stmt_done(st);
	return r;
}

/* See store_remediate.h. */
json_t *sw_remedy_action_json(const struct sw_remedy_action *a)
{
	json_t *params = a->parameters ? json_loads(a->parameters, 0, NULL) : NULL;

	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:s?,s:s?,s:s}", "id",
	                 (json_int_t)a->id, "tenant", a->tenant, "alert", a->alert_id, "rule", a->rule, "target", a->target,
	                 "cmdlet", a->cmdlet, "parameters", params ? params : json_object(), "command", a->command,
	                 "requested_by", a->requested_by, "uid", a->uid >= 0 ? json_integer(a->uid) : json_null(),
	                 "requested_at", sw_json_time_or_null(a->requested_at), "written_at",
	                 sw_json_time_or_null(a->written_at), "read_back_at", sw_json_time_or_null(a->read_back_at),
	                 "http_status", a->http_status ? json_integer(a->http_status) : json_null(), "answer", a->answer,
	                 "state_read", a->state_read, "outcome", a->outcome);
}

/* See store_remediate.h. */
int sw_store_remedy_notify(struct sw_store *s, const struct sw_config *cfg, const char *alert_id,
                           const json_t *action, int64_t now)
{
	struct sw_alert a = {0}, view;
	json_t *doc = NULL;
	char *body = NULL;
	int r = sw_store_alert_get(s, alert_id, &a);

	if (r < 0)
		return r;
	a.transition++;
	a.transition_at = now;
	a.updated = now;
	r = sw_store_alert_save(s, &a);
	if (r < 0)
		goto out;
	view = a; /* shallow: only read by sw_alert_document */
	sw_alert_set_tenant_id(&view, cfg);
	doc = sw_alert_document(&view);
	if (doc == NULL || json_object_set_new(doc, "status", json_string("remediated")) < 0 ||
	    json_object_set(doc, "remediation_action", (json_t *)action) < 0 ||
	    (body = json_dumps(doc, JSON_COMPACT)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = sw_lifecycle_queue(s, cfg, &a, doc, body, now);
out:
	free(body);
	json_decref(doc);
	sw_alert_clear(&a);
	return r;
}
