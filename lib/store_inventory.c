/* store_inventory.c: the SQL of the inventory, the weekly chart and the
 * days of use (see store_inventory.h). */
#include "store_inventory.h"
#include "store_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* See store_inventory.h.  sw_store_signins_add counts what it inserts
 * (a duplicate id is not inserted), a trigger takes off what any delete
 * removes (retention); nothing updates a stored sign-in. */
const char sw_store_inventory_schema[] =
	"CREATE TABLE signin_days ("
	"  tenant TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  day INTEGER NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant, sender, day)"
	") WITHOUT ROWID;"
	"CREATE INDEX signin_days_day ON signin_days (tenant, day);"
	"INSERT INTO signin_days (tenant, sender, day, n)"
	" SELECT tenant, lower(upn), created - created % 86400, count(*) FROM signins"
	" WHERE error_code = 0 AND upn IS NOT NULL GROUP BY 1, 2, 3;"
	"CREATE TRIGGER signin_days_del AFTER DELETE ON signins"
	" WHEN OLD.error_code = 0 AND OLD.upn IS NOT NULL BEGIN"
	"  UPDATE signin_days SET n = n - 1"
	"   WHERE tenant = OLD.tenant AND sender = lower(OLD.upn) AND day = OLD.created - OLD.created % 86400;"
	"  DELETE FROM signin_days"
	"   WHERE tenant = OLD.tenant AND sender = lower(OLD.upn) AND day = OLD.created - OLD.created % 86400"
	"   AND n <= 0;"
	" END;";

/* A (sender, day) of successful sign-ins from the day of ?2, from the rollup. */
#define SIGNIN_DAYS "SELECT sender, day, n FROM signin_days WHERE tenant = ?1 AND day >= ?2"

/* See store_inventory.h. */
int sw_store_inventory(struct sw_store *s, const char *tenant, int64_t since30, sw_inventory_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(
		s,
		"WITH g AS (SELECT sender, min(day) AS f, max(day) AS l, sum(CASE WHEN day >= ?2 THEN n ELSE 0 END) AS n30"
		"  FROM signin_days WHERE tenant = ?1 GROUP BY sender),"
		" r AS (SELECT sender, min(day) AS f, max(day) AS l,"
		"  max(CASE WHEN auth = 'basic' THEN day END) AS lb, max(CASE WHEN auth = 'oauth' THEN day END) AS lo,"
		"  sum(CASE WHEN day >= ?2 THEN messages ELSE 0 END) AS m30"
		"  FROM report_days WHERE tenant = ?1 AND messages > 0 GROUP BY sender),"
		" k AS (SELECT sender FROM g UNION SELECT sender FROM r)"
		" SELECT k.sender, g.f, g.l, g.n30, r.f, r.l, r.lb, r.lo, r.m30"
		" FROM k LEFT JOIN g ON g.sender = k.sender LEFT JOIN r ON r.sender = k.sender ORDER BY k.sender",
		&st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since30 - since30 % 86400);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_inventory_sender e = {0};
		const char *p = (const char *)sqlite3_column_text(st, 0);
		snprintf(e.sender, sizeof(e.sender), "%s", p ? p : "");
		e.in_signins = sqlite3_column_type(st, 1) != SQLITE_NULL;
		e.in_report = sqlite3_column_type(st, 4) != SQLITE_NULL;
		if (e.in_signins) {
			e.first_seen = sqlite3_column_int64(st, 1);
			e.last_seen = sqlite3_column_int64(st, 2);
			e.signins_30d = sqlite3_column_int64(st, 3);
			e.basic = true;
			e.last_basic = e.last_seen;
		}
		if (e.in_report) {
			int64_t f = sqlite3_column_int64(st, 4), l = sqlite3_column_int64(st, 5);
			if (e.first_seen == 0 || f < e.first_seen)
				e.first_seen = f;
			if (l > e.last_seen)
				e.last_seen = l;
			if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
				e.basic = true;
				if (sqlite3_column_int64(st, 6) > e.last_basic)
					e.last_basic = sqlite3_column_int64(st, 6);
			}
			if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
				e.oauth = true;
				e.last_oauth = sqlite3_column_int64(st, 7);
			}
			e.messages_30d = llround(sqlite3_column_double(st, 8));
		}
		r = cb(&e, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sqlite3_finalize(st);
	return r;
}

/* See store_inventory.h. */
int sw_store_inventory_weeks(struct sw_store *s, const char *tenant, int64_t since, sw_inventory_week_cb cb,
                             void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(
		s,
		"WITH b AS (SELECT sender, day, max(n) AS n FROM (" SIGNIN_DAYS
		"  UNION ALL SELECT sender, day, messages FROM report_days"
		"  WHERE tenant = ?1 AND day >= ?2 AND auth = 'basic' AND messages > 0) GROUP BY sender, day),"
		" o AS (SELECT sender, day, messages AS n FROM report_days"
		"  WHERE tenant = ?1 AND day >= ?2 AND auth = 'oauth' AND messages > 0),"
		" a AS (SELECT 0 AS oauth, sender, day, n FROM b UNION ALL SELECT 1, sender, day, n FROM o)"
		" SELECT (day / 86400 - (day / 86400 + 3) % 7) * 86400 AS week, oauth, count(DISTINCT sender), sum(n)"
		" FROM a GROUP BY week, oauth ORDER BY week, oauth",
		&st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since - since % 86400);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct sw_inventory_week w = {
			.week = sqlite3_column_int64(st, 0),
			.oauth = sqlite3_column_int(st, 1) != 0,
			.senders = sqlite3_column_int64(st, 2),
			.messages = llround(sqlite3_column_double(st, 3)),
		};
		r = cb(&w, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sqlite3_finalize(st);
	return r;
}

/* See store_inventory.h. */
int sw_store_sender_days(struct sw_store *s, const char *tenant, int64_t since, sw_sender_day_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s,
	                         "SELECT sender, day, max(basic), max(oauth) FROM ("
	                         " SELECT sender, day, 1 AS basic, 0 AS oauth FROM (" SIGNIN_DAYS ")"
	                         " UNION ALL SELECT sender, day, auth = 'basic', auth = 'oauth' FROM report_days"
	                         "  WHERE tenant = ?1 AND day >= ?2 AND messages > 0)"
	                         " GROUP BY sender, day ORDER BY sender, day",
	                         &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since - since % 86400);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2) != 0,
		       sqlite3_column_int(st, 3) != 0, arg);
		if (r < 0)
			goto out;
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
out:
	sw_store_stmt_done(st);
	return r;
}
