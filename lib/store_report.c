/* store_report.c: the SMTP AUTH clients report tables (see store_report.h). */
#include "store_report.h"
#include "store_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A (sender, protocol) whose observations span more days than this is not
 * spread into days (it cannot happen within retention). */
#define REBUILD_MAX_DAYS 4000

const char sw_store_report_schema[] =
	"CREATE TABLE report_files(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sha256 TEXT NOT NULL,"
	" name TEXT, imported INTEGER NOT NULL, rows INTEGER NOT NULL DEFAULT 0,"
	" rejected INTEGER NOT NULL DEFAULT 0, first_day INTEGER NOT NULL DEFAULT 0,"
	" last_day INTEGER NOT NULL DEFAULT 0, UNIQUE(tenant, sha256));"
	"CREATE TABLE report_obs(tenant TEXT NOT NULL, sender TEXT NOT NULL, auth TEXT NOT NULL,"
	" day_start INTEGER NOT NULL, day_end INTEGER NOT NULL, messages INTEGER NOT NULL,"
	" tls10 REAL, tls11 REAL, tls12 REAL, domain TEXT, dated INTEGER NOT NULL DEFAULT 1,"
	" file_id INTEGER, updated INTEGER NOT NULL,"
	" PRIMARY KEY(tenant, sender, auth, day_start, day_end)) WITHOUT ROWID;"
	"CREATE INDEX report_obs_end ON report_obs(day_end);"
	"CREATE TABLE report_days(tenant TEXT NOT NULL, sender TEXT NOT NULL, auth TEXT NOT NULL,"
	" day INTEGER NOT NULL, messages REAL NOT NULL, tls10 REAL, tls11 REAL, span INTEGER NOT NULL,"
	" PRIMARY KEY(tenant, sender, auth, day)) WITHOUT ROWID;"
	"CREATE INDEX report_days_day ON report_days(tenant, day);"
	"CREATE TABLE report_alerted(tenant TEXT NOT NULL, sender TEXT NOT NULL, day INTEGER NOT NULL,"
	" messages REAL NOT NULL, PRIMARY KEY(tenant, sender, day)) WITHOUT ROWID;";

/* Copy a text column into a fixed buffer. */
static void col_text(sqlite3_stmt *st, int i, char *buf, size_t n)
{
	const char *p = (const char *)sqlite3_column_text(st, i);

	snprintf(buf, n, "%s", p ? p : "");
}

/* A percentage or NULL when unknown (-1). */
static void bind_pct(sqlite3_stmt *st, int i, double v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

/* See store_report.h. */
int sw_store_report_file_find(struct sw_store *s, const char *tenant, const char *sha256, struct sw_report_file *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT id, name, sha256, imported, rows, rejected, first_day, last_day FROM report_files"
	                " WHERE tenant = ?1 AND sha256 = ?2", &st);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->id = sqlite3_column_int64(st, 0);
		col_text(st, 1, ret->name, sizeof(ret->name));
		col_text(st, 2, ret->sha256, sizeof(ret->sha256));
		ret->imported = sqlite3_column_int64(st, 3);
		ret->rows = sqlite3_column_int64(st, 4);
		ret->rejected = sqlite3_column_int64(st, 5);
		ret->first_day = sqlite3_column_int64(st, 6);
		ret->last_day = sqlite3_column_int64(st, 7);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_file_add(struct sw_store *s, const char *tenant, const struct sw_report_file *f, int64_t *ret_id)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "INSERT INTO report_files(tenant, sha256, name, imported, rows, rejected, first_day, last_day)"
	                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, f->imported);
	sqlite3_bind_int64(st, 5, f->rows);
	sqlite3_bind_int64(st, 6, f->rejected);
	sqlite3_bind_int64(st, 7, f->first_day);
	sqlite3_bind_int64(st, 8, f->last_day);
	r = sw_store_check(s, sqlite3_step(st));
	sqlite3_finalize(st);
	if (r == 0 && ret_id != NULL)
		*ret_id = sqlite3_last_insert_rowid(sw_store_sqlite(s));
	return r;
}

/* One observation, as the rebuild reads it. */
struct obs {
	int64_t start, end; /* days since the epoch, end exclusive */
	int64_t messages;
	double tls10, tls11;
};

/* Rebuild the day view of one (sender, protocol) from its observations.
 * The shortest periods claim their days first (ties: the latest update);
 * a longer period spreads what its claimed days do not already account
 * for evenly over its unclaimed days. */
static int rebuild_days(struct sw_store *s, const char *tenant, const char *sender, const char *auth)
{
	sqlite3_stmt *sel = NULL, *del = NULL, *ins = NULL;
	struct obs *o = NULL;
	size_t n = 0, cap = 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	double *val = NULL, *t10 = NULL, *t11 = NULL;
	int *span = NULL;
	int r;

	r = sw_store_prepare(s, "SELECT day_start, day_end, messages, tls10, tls11 FROM report_obs"
	            " WHERE tenant = ?1 AND sender = ?2 AND auth = ?3"
	            " ORDER BY day_end - day_start, updated DESC, day_start", &sel);
	if (r < 0)
		goto out;
	sqlite3_bind_text(sel, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(sel, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(sel, 3, auth, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(sel)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct obs *m = realloc(o, cap * sizeof(*m));
			if (m == NULL) {
				r = -ENOMEM;
				goto out;
			}
			o = m;
		}
		o[n].start = sqlite3_column_int64(sel, 0) / SW_DAY;
		o[n].end = sqlite3_column_int64(sel, 1) / SW_DAY;
		o[n].messages = sqlite3_column_int64(sel, 2);
		o[n].tls10 = sqlite3_column_type(sel, 3) == SQLITE_NULL ? -1 : sqlite3_column_double(sel, 3);
		o[n].tls11 = sqlite3_column_type(sel, 4) == SQLITE_NULL ? -1 : sqlite3_column_double(sel, 4);
		if (o[n].end <= o[n].start)
			continue;
		if (o[n].start < lo)
			lo = o[n].start;
		if (o[n].end > hi)
			hi = o[n].end;
		n++;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
	if (r < 0)
		goto out;
	r = sw_store_prepare(s, "DELETE FROM report_days WHERE tenant = ?1 AND sender = ?2 AND auth = ?3", &del);
	if (r < 0)
		goto out;
	sqlite3_bind_text(del, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 3, auth, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(del));
	if (r < 0 || n == 0 || hi - lo > REBUILD_MAX_DAYS)
		goto out;
	size_t nd = (size_t)(hi - lo);
	val = calloc(nd, sizeof(*val));
	t10 = calloc(nd, sizeof(*t10));
	t11 = calloc(nd, sizeof(*t11));
	span = calloc(nd, sizeof(*span));
	if (val == NULL || t10 == NULL || t11 == NULL || span == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		double claimed = 0;
		int64_t open = 0;
		for (int64_t d = o[i].start; d < o[i].end; d++) {
			if (span[d - lo] > 0)
				claimed += val[d - lo];
			else
				open++;
		}
		if (open == 0)
			continue;
		double left = (double)o[i].messages - claimed;
		double per = left > 0 ? left / (double)open : 0;
		for (int64_t d = o[i].start; d < o[i].end; d++) {
			if (span[d - lo] > 0)
				continue;
			span[d - lo] = (int)(o[i].end - o[i].start);
			val[d - lo] = per;
			t10[d - lo] = o[i].tls10;
			t11[d - lo] = o[i].tls11;
		}
	}
	r = sw_store_prepare(s, "INSERT INTO report_days(tenant, sender, auth, day, messages, tls10, tls11, span)"
	            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &ins);
	if (r < 0)
		goto out;
	sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 3, auth, -1, SQLITE_STATIC);
	for (size_t k = 0; r >= 0 && k < nd; k++) {
		if (span[k] == 0)
			continue;
		sqlite3_bind_int64(ins, 4, (lo + (int64_t)k) * SW_DAY);
		sqlite3_bind_double(ins, 5, val[k]);
		bind_pct(ins, 6, t10[k]);
		bind_pct(ins, 7, t11[k]);
		sqlite3_bind_int(ins, 8, span[k]);
		r = sw_store_check(s, sqlite3_step(ins));
		sqlite3_reset(ins);
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	free(o);
	free(val);
	free(t10);
	free(t11);
	free(span);
	return r;
}

/* A (sender, protocol) to rebuild. */
struct key {
	const char *sender;
	enum sw_report_auth auth;
};

/* Order keys by sender, then protocol. */
static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->sender, y->sender);

	return c != 0 ? c : (int)x->auth - (int)y->auth;
}

/* See store_report.h. */
int sw_store_report_rows_add(struct sw_store *s, const char *tenant, int64_t file_id,
                             const struct sw_report_row *rows, size_t n, int64_t now, size_t *ret_changed)
{
	/* A period seen before keeps the larger count; on a tie the TLS
	 * shares of the newer export win (they only get more precise). */
	static const char sql[] =
		"INSERT INTO report_obs(tenant, sender, auth, day_start, day_end, messages, tls10, tls11, tls12,"
		" domain, dated, file_id, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
		" ON CONFLICT(tenant, sender, auth, day_start, day_end) DO UPDATE SET messages = excluded.messages,"
		" tls10 = excluded.tls10, tls11 = excluded.tls11, tls12 = excluded.tls12, domain = excluded.domain,"
		" file_id = excluded.file_id, updated = excluded.updated"
		" WHERE excluded.messages > messages OR (excluded.messages = messages AND"
		" (excluded.tls10 IS NOT tls10 OR excluded.tls11 IS NOT tls11 OR excluded.tls12 IS NOT tls12))";
	sqlite3_stmt *st = NULL;
	struct key *keys = NULL;
	size_t nkeys = 0, changed = 0;
	int r;

	if (n == 0)
		goto done;
	keys = calloc(n, sizeof(*keys));
	if (keys == NULL)
		return -ENOMEM;
	r = sw_store_prepare(s, sql, &st);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct sw_report_row *row = &rows[i];
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, row->sender, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, sw_report_auth_name(row->auth), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, row->day_start);
		sqlite3_bind_int64(st, 5, row->day_end);
		sqlite3_bind_int64(st, 6, row->messages);
		bind_pct(st, 7, row->tls10);
		bind_pct(st, 8, row->tls11);
		bind_pct(st, 9, row->tls12);
		sqlite3_bind_text(st, 10, row->domain, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 11, row->dated);
		if (file_id > 0)
			sqlite3_bind_int64(st, 12, file_id);
		else
			sqlite3_bind_null(st, 12);
		sqlite3_bind_int64(st, 13, now);
		r = sw_store_check(s, sqlite3_step(st));
		sqlite3_reset(st);
		if (r < 0)
			goto out;
		if (sqlite3_changes(sw_store_sqlite(s)) == 0)
			continue;
		changed++;
		if (nkeys == 0 || key_cmp(&keys[nkeys - 1], &(struct key){row->sender, row->auth}) != 0)
			keys[nkeys++] = (struct key){row->sender, row->auth};
	}
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (size_t k = 0; k < nkeys; k++) {
		if (k > 0 && key_cmp(&keys[k - 1], &keys[k]) == 0)
			continue;
		r = rebuild_days(s, tenant, keys[k].sender, sw_report_auth_name(keys[k].auth));
		if (r < 0)
			goto out;
	}
done:
	if (ret_changed != NULL)
		*ret_changed = changed;
	r = 0;
out:
	sqlite3_finalize(st);
	free(keys);
	return r;
}

/* See store_report.h. */
int sw_store_report_last_use(struct sw_store *s, const char *tenant, const char *sender, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT max(day) FROM report_days WHERE tenant = ?1 AND sender = lower(?2) AND messages > 0",
	             &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	if (r == 0)
		*ret = sqlite3_column_int64(st, 0); /* NULL reads as 0 */
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_usage(struct sw_store *s, const char *tenant, int64_t since, sw_report_usage_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "SELECT sender, auth, sum(messages), min(day), max(day),"
	                " sum(messages * (coalesce(tls10, 0) + coalesce(tls11, 0)) / 100.0),"
	                " max(coalesce(tls10, 0)), max(coalesce(tls11, 0))"
	                " FROM report_days WHERE tenant = ?1 AND day >= ?2 AND messages > 0"
	                " GROUP BY sender, auth ORDER BY sender, auth", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_report_usage u = {0};
		col_text(st, 0, u.sender, sizeof(u.sender));
		if (sw_report_auth_parse((const char *)sqlite3_column_text(st, 1), &u.auth) < 0)
			u.auth = SW_AUTH_UNKNOWN;
		u.messages = sqlite3_column_double(st, 2);
		u.first_day = sqlite3_column_int64(st, 3);
		u.last_day = sqlite3_column_int64(st, 4);
		u.legacy_messages = sqlite3_column_double(st, 5);
		u.max_tls10 = sqlite3_column_double(st, 6);
		u.max_tls11 = sqlite3_column_double(st, 7);
		r = cb(&u, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sw_store_stmt_done(st);
	return r;
}

/* See store_report.h.  1970-01-01 was a Thursday. */
int64_t sw_report_week_start(int64_t t)
{
	int64_t days = t >= 0 ? t / SW_DAY : -((-t + SW_DAY - 1) / SW_DAY);
	int64_t dow = ((days + 3) % 7 + 7) % 7; /* 0 = Monday */

	return (days - dow) * SW_DAY;
}

/* See store_report.h. */
int sw_store_report_weeks(struct sw_store *s, const char *tenant, int64_t since, sw_report_week_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT (day / 86400 - (day / 86400 + 3) % 7) * 86400 AS week, auth,"
	                " count(DISTINCT sender), sum(messages) FROM report_days"
	                " WHERE tenant = ?1 AND day >= ?2 AND messages > 0 GROUP BY week, auth ORDER BY week, auth", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_report_week w = {0};
		w.week = sqlite3_column_int64(st, 0);
		if (sw_report_auth_parse((const char *)sqlite3_column_text(st, 1), &w.auth) < 0)
			w.auth = SW_AUTH_UNKNOWN;
		w.senders = sqlite3_column_int64(st, 2);
		w.messages = sqlite3_column_double(st, 3);
		r = cb(&w, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_days_over(struct sw_store *s, const char *tenant, const char *sender, int64_t since,
                              int64_t max, sw_report_day_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	/* Half a message of slack: spread periods give fractions. */
	int r = sw_store_prepare(s, "SELECT day, sum(messages) FROM report_days WHERE tenant = ?1 AND sender = lower(?2)"
	                " AND day >= ?3 GROUP BY day HAVING sum(messages) > ?4 + 0.5 ORDER BY day", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since);
	sqlite3_bind_int64(st, 4, max);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1), arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h.  Both sides are per day and pruned together, so
 * retention never makes old use look new. */
int sw_store_report_basic_new(struct sw_store *s, const char *tenant, sw_report_basic_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "SELECT sender, total, alerted, first, last FROM (SELECT d.sender AS sender,"
	                " sum(d.messages) AS total, min(d.day) AS first, max(d.day) AS last,"
	                " (SELECT coalesce(sum(a.messages), 0) FROM report_alerted a WHERE a.tenant = ?1"
	                " AND a.sender = d.sender) AS alerted"
	                " FROM report_days d WHERE d.tenant = ?1 AND d.auth = 'basic' AND d.messages > 0"
	                " GROUP BY d.sender) WHERE total > alerted + 0.5 ORDER BY sender", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_report_basic b = {0};
		col_text(st, 0, b.sender, sizeof(b.sender));
		b.total = sqlite3_column_double(st, 1);
		b.alerted = sqlite3_column_double(st, 2);
		b.first_day = sqlite3_column_int64(st, 3);
		b.last_day = sqlite3_column_int64(st, 4);
		r = cb(&b, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sw_store_stmt_done(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_alerted_sync(struct sw_store *s, const char *tenant, const char *sender)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "DELETE FROM report_alerted WHERE tenant = ?1 AND sender = ?2", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0)
		r = sw_store_prepare(s, "INSERT INTO report_alerted(tenant, sender, day, messages) SELECT tenant, sender, day,"
		            " messages FROM report_days WHERE tenant = ?1 AND sender = ?2 AND auth = 'basic'", &st);
	if (r == 0) {
		sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
		r = sw_store_check(s, sqlite3_step(st));
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h.  Sign-in times are whole seconds, report days are
 * 00:00Z; both group on the day's first second. */
int sw_store_basic_use(struct sw_store *s, const char *tenant, const char *sender, int64_t since, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT coalesce(sum(n), 0) FROM (SELECT max(n) AS n FROM ("
	                " SELECT created - created % 86400 AS day, count(*) AS n FROM signins"
	                "  WHERE tenant = ?1 AND upn = ?2 AND created >= ?3 AND error_code = 0 GROUP BY day"
	                " UNION ALL"
	                " SELECT day, messages AS n FROM report_days"
	                "  WHERE tenant = ?1 AND sender = ?2 AND auth = 'basic' AND day >= ?3)"
	                " GROUP BY day)", &st);

	*ret = 0;
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, since - since % 86400);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*ret = llround(sqlite3_column_double(st, 0));
		r = 0;
	} else {
		r = sw_store_check(s, r);
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_basic_on(struct sw_store *s, const char *tenant, const char *sender, int64_t from, int64_t to)
{
	/* Asked once per Basic sender of a page: kept prepared. */
	static const char sql[] = "SELECT 1 FROM report_days WHERE tenant = ?1 AND sender = ?2 AND auth = 'basic'"
	                          " AND day BETWEEN ?3 AND ?4 AND messages > 0 LIMIT 1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, from - from % 86400);
	sqlite3_bind_int64(st, 4, to);
	r = sqlite3_step(st);
	r = r == SQLITE_ROW ? 1 : sw_store_check(s, r);
	sw_store_stmt_done(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_imports(struct sw_store *s, const char *tenant, struct sw_report_imports *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT count(*), coalesce(max(imported), 0), coalesce(min(nullif(first_day, 0)), 0),"
	                " coalesce(max(last_day), 0) FROM report_files WHERE tenant = ?1", &st);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	if (r == 0) {
		ret->files = sqlite3_column_int64(st, 0);
		ret->last_import = sqlite3_column_int64(st, 1);
		ret->first_day = sqlite3_column_int64(st, 2);
		ret->last_day = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_signin_senders(struct sw_store *s, const char *tenant, int64_t since, sw_signin_sender_cb cb,
                                   void *arg)
{
	sqlite3_stmt *st = NULL;
	/* The rollup (store_inventory.h), not a scan of every sign-in. */
	int r = sw_store_prepare(s, "SELECT sender, sum(n), min(day), max(day) FROM signin_days"
	                " WHERE tenant = ?1 AND day >= ?2 GROUP BY sender ORDER BY sender", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since - since % 86400);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_signin_sender u = {0};
		col_text(st, 0, u.upn, sizeof(u.upn));
		u.count = sqlite3_column_int64(st, 1);
		u.first = sqlite3_column_int64(st, 2);
		u.last = sqlite3_column_int64(st, 3);
		r = cb(&u, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sqlite3_finalize(st);
	return r;
}

/* See store_report.h. */
int sw_store_report_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int r = sw_store_prepare(s, "DELETE FROM report_obs WHERE day_end <= ?1", &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, cutoff);
	r = sw_store_check(s, sqlite3_step(st));
	n = sqlite3_changes(sw_store_sqlite(s));
	sqlite3_finalize(st);
	st = NULL;
	for (int i = 0; r == 0 && i < 2; i++) {
		r = sw_store_prepare(s, i == 0 ? "DELETE FROM report_days WHERE day < ?1" : "DELETE FROM report_alerted WHERE day < ?1",
		         &st);
		if (r == 0) {
			sqlite3_bind_int64(st, 1, cutoff / SW_DAY * SW_DAY);
			r = sw_store_check(s, sqlite3_step(st));
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (r == 0 && ret_deleted != NULL)
		*ret_deleted = n;
	return r;
}
