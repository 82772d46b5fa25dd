/* store_detect.c: the sign-in detectors' queries (see store_detect.h).
 * The statements run once per page, per window or per mailbox, so they
 * are kept prepared by the store (sw_store_cached). */
#include "store_detect.h"
#include "store_int.h"

#include <errno.h>

#define SIGNIN_COLUMNS "rowid, created, error_code, id, upn, ip, country"

/* Bind text that may be NULL (SQL NULL then); it must outlive the step. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Step a bound cached statement of SIGNIN_COLUMNS rows through cb, then
 * reset it whatever happened. */
static int signin_rows(struct sw_store *s, sqlite3_stmt *st, const char *what, sw_signin_row_cb cb, void *arg)
{
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_signin_row row = {
			.rowid = sqlite3_column_int64(st, 0),
			.created = sqlite3_column_int64(st, 1),
			.error_code = sqlite3_column_int(st, 2),
			.id = (const char *)sqlite3_column_text(st, 3),
			.upn = (const char *)sqlite3_column_text(st, 4),
			.ip = (const char *)sqlite3_column_text(st, 5),
			.country = (const char *)sqlite3_column_text(st, 6),
		};
		r = cb(&row, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, what);
	sw_store_stmt_done(st);
	return r < 0 ? r : 0;
}

/* See store_detect.h. */
int sw_store_signins_range(struct sw_store *s, const char *tenant, int64_t first, int64_t last, int64_t limit,
                           sw_signin_row_cb cb, void *arg)
{
	static const char sql[] = "SELECT " SIGNIN_COLUMNS " FROM signins INDEXED BY signins_tenant "
	                          "WHERE tenant = ?1 AND rowid >= ?2 AND rowid <= ?3 ORDER BY rowid LIMIT ?4";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, first);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, limit);
	return signin_rows(s, st, "sign-ins by rowid", cb, arg);
}

/* See store_detect.h. */
int sw_store_failures_window(struct sw_store *s, const char *tenant, bool by_ip, const char *key, int64_t lo,
                             int64_t hi, int64_t max_rowid, sw_signin_row_cb cb, void *arg)
{
	static const char by_upn_sql[] =
		"SELECT " SIGNIN_COLUMNS " FROM signins INDEXED BY signins_upn "
		"WHERE tenant = ?1 AND upn = ?2 AND created > ?3 AND created < ?4 AND rowid <= ?5 AND error_code <> 0 "
		"ORDER BY created, rowid";
	static const char by_ip_sql[] =
		"SELECT " SIGNIN_COLUMNS " FROM signins INDEXED BY signins_ip "
		"WHERE tenant = ?1 AND ip = ?2 AND created > ?3 AND created < ?4 AND rowid <= ?5 AND error_code <> 0 "
		"ORDER BY created, rowid";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, by_ip ? by_ip_sql : by_upn_sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	bind_text(st, 2, key);
	sqlite3_bind_int64(st, 3, lo);
	sqlite3_bind_int64(st, 4, hi);
	sqlite3_bind_int64(st, 5, max_rowid);
	return signin_rows(s, st, "failure window", cb, arg);
}

/* Step a bound cached statement of (country, first, last, n) rows through cb. */
static int country_rows(struct sw_store *s, sqlite3_stmt *st, sw_country_cb cb, void *arg)
{
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_country_row c = {
			.country = (const char *)sqlite3_column_text(st, 0),
			.first_seen = sqlite3_column_int64(st, 1),
			.last_seen = sqlite3_column_int64(st, 2),
			.n = sqlite3_column_int64(st, 3),
		};
		if (c.country == NULL)
			c.country = "";
		r = cb(&c, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "countries");
	sw_store_stmt_done(st);
	return r < 0 ? r : 0;
}

/* See store_detect.h. */
int sw_store_countries_get(struct sw_store *s, const char *tenant, const char *upn, sw_country_cb cb, void *arg)
{
	static const char sql[] = "SELECT country, first_seen, last_seen, n FROM signin_countries "
	                          "WHERE tenant = ?1 AND upn = ?2";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	return country_rows(s, st, cb, arg);
}

/* See store_detect.h. */
int sw_store_countries_history(struct sw_store *s, const char *tenant, const char *upn, int64_t before,
                               sw_country_cb cb, void *arg)
{
	/* The mailbox's own rows: with statistics from a bounded ANALYZE the
	 * planner took the tenant's rowid range instead, every sign-in below
	 * the page (3 s of the loop on a 10M-row store, bench/README.md). */
	static const char sql[] = "SELECT country, min(created), max(created), count(*) FROM signins "
	                          "INDEXED BY signins_upn "
	                          "WHERE tenant = ?1 AND upn = ?2 AND rowid < ?3 AND country IS NOT NULL "
	                          "AND country <> '' GROUP BY country";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, before);
	return country_rows(s, st, cb, arg);
}

/* Step a bound cached write statement once, then reset it. */
static int write_once(struct sw_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sw_store_fail(s, rc, what);

	sw_store_stmt_done(st);
	return r;
}

/* See store_detect.h. */
int sw_store_country_put(struct sw_store *s, const char *tenant, const char *upn, const struct sw_country_row *c)
{
	static const char sql[] = "INSERT INTO signin_countries (tenant, upn, country, first_seen, last_seen, n) "
	                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, upn, country) DO UPDATE SET "
	                          "first_seen = excluded.first_seen, last_seen = excluded.last_seen, n = excluded.n";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->country, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->first_seen);
	sqlite3_bind_int64(st, 5, c->last_seen);
	sqlite3_bind_int64(st, 6, c->n);
	return write_once(s, st, "country rollup");
}

/* See store_detect.h. */
int sw_store_failure_add(struct sw_store *s, const char *tenant, const struct sw_failure_source *f)
{
	static const char sql[] =
		"INSERT INTO failure_sources (tenant, hour, ip, country, n, first_seen, last_seen) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant, hour, ip) DO UPDATE SET "
		"n = n + excluded.n, country = coalesce(excluded.country, country), "
		"first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f->hour);
	sqlite3_bind_text(st, 3, f->ip, -1, SQLITE_STATIC);
	bind_text(st, 4, f->country);
	sqlite3_bind_int64(st, 5, f->n);
	sqlite3_bind_int64(st, 6, f->first_seen);
	sqlite3_bind_int64(st, 7, f->last_seen);
	return write_once(s, st, "failure rollup");
}

/* See store_detect.h. */
int sw_store_failures_prune(struct sw_store *s, const char *tenant, int64_t before)
{
	static const char sql[] = "DELETE FROM failure_sources WHERE tenant = ?1 AND hour < ?2";
	sqlite3_stmt *st;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before);
	return write_once(s, st, "failure rollup prune");
}

/* See store_detect.h. */
int sw_store_failures_top(struct sw_store *s, const char *tenant, int64_t since_hour, int limit,
                          sw_failure_source_cb cb, void *arg)
{
	static const char sql[] = "SELECT ip, max(country), sum(n), min(first_seen), max(last_seen) "
	                          "FROM failure_sources WHERE tenant = ?1 AND hour >= ?2 "
	                          "GROUP BY ip ORDER BY 3 DESC, ip LIMIT ?3";
	sqlite3_stmt *st = NULL;
	int rc, r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since_hour);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_failure_source f = {
			.ip = (const char *)sqlite3_column_text(st, 0),
			.country = (const char *)sqlite3_column_text(st, 1),
			.n = sqlite3_column_int64(st, 2),
			.first_seen = sqlite3_column_int64(st, 3),
			.last_seen = sqlite3_column_int64(st, 4),
		};
		r = cb(&f, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "top failure sources");
	sw_store_stmt_done(st);
	return r < 0 ? r : 0;
}
