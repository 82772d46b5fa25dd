/* store_usage.c: the email app usage report's tables (see store_usage.h). */
#include "store_usage.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char sw_store_usage_schema[] =
	"CREATE TABLE usage_obs(tenant TEXT NOT NULL, upn TEXT NOT NULL, refresh_day INTEGER NOT NULL,"
	" smtp INTEGER NOT NULL, last_activity INTEGER NOT NULL, period_days INTEGER NOT NULL,"
	" ingested INTEGER NOT NULL, alerted INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(tenant, upn, refresh_day)) WITHOUT ROWID;"
	"CREATE INDEX usage_obs_day ON usage_obs(tenant, refresh_day);"
	"CREATE TABLE usage_state(tenant TEXT PRIMARY KEY, refresh_day INTEGER NOT NULL, users INTEGER NOT NULL,"
	" smtp_users INTEGER NOT NULL, concealed INTEGER NOT NULL, concealed_users INTEGER NOT NULL,"
	" concealed_smtp INTEGER NOT NULL, settings TEXT NOT NULL, problems INTEGER NOT NULL,"
	" updated INTEGER NOT NULL) WITHOUT ROWID;";

/* See store_usage.h. */
int sw_store_usage_add(struct sw_store *s, const char *tenant, const struct sw_usage_row *rows, size_t n, int64_t now,
                       size_t *ret_added)
{
	static const char sql[] = "INSERT OR IGNORE INTO usage_obs(tenant, upn, refresh_day, smtp, last_activity,"
	                          " period_days, ingested) VALUES (?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = NULL;
	size_t added = 0;
	int r = sw_store_cached(s, sql, &st);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rows[i].upn, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rows[i].refresh_day);
		sqlite3_bind_int(st, 4, rows[i].smtp);
		sqlite3_bind_int64(st, 5, rows[i].last_activity);
		sqlite3_bind_int(st, 6, rows[i].period_days);
		sqlite3_bind_int64(st, 7, now);
		r = sw_store_check(s, sqlite3_step(st));
		if (r >= 0)
			added += (size_t)sqlite3_changes(sw_store_sqlite(s));
		sw_store_stmt_done(st);
	}
	if (r >= 0 && ret_added != NULL)
		*ret_added = added;
	return r;
}

/* See store_usage.h. */
int sw_store_usage_state_put(struct sw_store *s, const char *tenant, const struct sw_usage_state *u)
{
	static const char sql[] = "INSERT OR REPLACE INTO usage_state(tenant, refresh_day, users, smtp_users, concealed,"
	                          " concealed_users, concealed_smtp, settings, problems, updated)"
	                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, u->refresh_day);
	sqlite3_bind_int64(st, 3, u->users);
	sqlite3_bind_int64(st, 4, u->smtp_users);
	sqlite3_bind_int(st, 5, u->concealed);
	sqlite3_bind_int64(st, 6, u->concealed_users);
	sqlite3_bind_int64(st, 7, u->concealed_smtp);
	sqlite3_bind_text(st, 8, u->settings[0] ? u->settings : "unknown", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, u->problems);
	sqlite3_bind_int64(st, 10, u->updated);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_usage.h. */
int sw_store_usage_state_get(struct sw_store *s, const char *tenant, struct sw_usage_state *ret)
{
	static const char sql[] = "SELECT refresh_day, users, smtp_users, concealed, concealed_users, concealed_smtp,"
	                          " settings, problems, updated FROM usage_state WHERE tenant = ?";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(ret, 0, sizeof(*ret));
		ret->refresh_day = sqlite3_column_int64(st, 0);
		ret->users = sqlite3_column_int64(st, 1);
		ret->smtp_users = sqlite3_column_int64(st, 2);
		ret->concealed = sqlite3_column_int(st, 3) != 0;
		ret->concealed_users = sqlite3_column_int64(st, 4);
		ret->concealed_smtp = sqlite3_column_int64(st, 5);
		snprintf(ret->settings, sizeof(ret->settings), "%s", (const char *)sqlite3_column_text(st, 6));
		ret->problems = sqlite3_column_int64(st, 7);
		ret->updated = sqlite3_column_int64(st, 8);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_usage.h.  Collected before calling back: the caller changes
 * alerts (and marks rows) while the query would still be open. */
static int usage_smtp(struct sw_store *s, const char *tenant, int64_t since, bool only_new, sw_usage_smtp_cb cb,
                      void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_usage_smtp u;
	int r = sw_store_prepare(s, only_new ?
	                         "SELECT upn, min(refresh_day), max(refresh_day), max(last_activity), count(*)"
	                         " FROM usage_obs WHERE tenant = ? AND smtp = 1 AND refresh_day >= ? GROUP BY upn"
	                         " HAVING sum(alerted = 0) > 0 ORDER BY upn" :
	                         "SELECT upn, min(refresh_day), max(refresh_day), max(last_activity), count(*)"
	                         " FROM usage_obs WHERE tenant = ? AND smtp = 1 AND refresh_day >= ? GROUP BY upn"
	                         " ORDER BY upn", &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&u, 0, sizeof(u));
		snprintf(u.upn, sizeof(u.upn), "%s", (const char *)sqlite3_column_text(st, 0));
		u.first_day = sqlite3_column_int64(st, 1);
		u.last_day = sqlite3_column_int64(st, 2);
		u.last_activity = sqlite3_column_int64(st, 3);
		u.reports = sqlite3_column_int64(st, 4);
		r = cb(&u, arg);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_usage.h. */
int sw_store_usage_smtp_new(struct sw_store *s, const char *tenant, int64_t since, sw_usage_smtp_cb cb, void *arg)
{
	return usage_smtp(s, tenant, since, true, cb, arg);
}

/* See store_usage.h. */
int sw_store_usage_smtp_users(struct sw_store *s, const char *tenant, int64_t since, sw_usage_smtp_cb cb, void *arg)
{
	return usage_smtp(s, tenant, since, false, cb, arg);
}

/* See store_usage.h. */
int sw_store_usage_alerted(struct sw_store *s, const char *tenant, const char *upn)
{
	static const char sql[] = "UPDATE usage_obs SET alerted = 1 WHERE tenant = ? AND upn = ? AND alerted = 0";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_usage.h. */
int sw_store_usage_last_use(struct sw_store *s, const char *tenant, const char *upn, int64_t *ret)
{
	static const char sql[] = "SELECT max(CASE WHEN last_activity > 0 THEN last_activity ELSE refresh_day END)"
	                          " FROM usage_obs WHERE tenant = ? AND upn = ? AND smtp = 1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_usage.h. */
int sw_store_usage_smtp_count(struct sw_store *s, const char *tenant, int64_t since, int64_t *ret)
{
	static const char sql[] = "SELECT count(DISTINCT upn) FROM usage_obs WHERE tenant = ? AND smtp = 1"
	                          " AND refresh_day >= ?";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

const char sw_store_trace_schema[] =
	"CREATE TABLE trace_msgs(tenant TEXT NOT NULL, id TEXT NOT NULL, mailbox TEXT NOT NULL, received INTEGER NOT NULL,"
	" ip TEXT NOT NULL, alerted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tenant, id)) WITHOUT ROWID;"
	"CREATE INDEX trace_msgs_mailbox ON trace_msgs(tenant, mailbox, received);";

/* See store_usage.h. */
int sw_store_trace_add(struct sw_store *s, const char *tenant, const struct sw_trace_row *rows, size_t n,
                       size_t *ret_added)
{
	static const char sql[] = "INSERT OR IGNORE INTO trace_msgs(tenant, id, mailbox, received, ip)"
	                          " VALUES (?, ?, ?, ?, ?)";
	sqlite3_stmt *st = NULL;
	size_t added = 0;
	int r = sw_store_cached(s, sql, &st);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rows[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, rows[i].mailbox, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, rows[i].received);
		sqlite3_bind_text(st, 5, rows[i].ip, -1, SQLITE_STATIC);
		r = sw_store_check(s, sqlite3_step(st));
		if (r >= 0)
			added += (size_t)sqlite3_changes(sw_store_sqlite(s));
		sw_store_stmt_done(st);
	}
	if (r >= 0 && ret_added != NULL)
		*ret_added = added;
	return r;
}

/* See store_usage.h. */
int sw_store_trace_days_over(struct sw_store *s, const char *tenant, const char *mailbox, int64_t since, int64_t max,
                             int (*cb)(int64_t day, double messages, void *arg), void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT received / 86400 * 86400 AS day, count(*) FROM trace_msgs WHERE tenant = ?"
	                         " AND mailbox = ? AND received >= ? GROUP BY day HAVING count(*) > ? ORDER BY day", &st),
	    rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int64(st, 4, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(sqlite3_column_int64(st, 0), (double)sqlite3_column_int64(st, 1), arg);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_usage.h. */
int sw_store_trace_new_ips(struct sw_store *s, const char *tenant, const char *mailbox,
                           int (*cb)(const char *ip, int64_t first, int64_t last, int64_t count, void *arg), void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT ip, min(received), max(received), count(*) FROM trace_msgs WHERE tenant = ?"
	                         " AND mailbox = ? AND alerted = 0 AND ip <> '' GROUP BY ip ORDER BY ip", &st), rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		       sqlite3_column_int64(st, 3), arg);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_usage.h. */
int sw_store_trace_alerted(struct sw_store *s, const char *tenant, const char *mailbox)
{
	static const char sql[] = "UPDATE trace_msgs SET alerted = 1 WHERE tenant = ? AND mailbox = ? AND alerted = 0";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}
