/* store_lifecycle.c: silences (see store_lifecycle.h) and migration 4. */
#include "store_lifecycle.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_detect.h"

const char sw_store_lifecycle_schema[] =
	/* One row per (rule, subject): setting it again replaces it.  The
	 * subject is a mailbox, an IP or a tenant id: compared without case. */
	"CREATE TABLE silences ("
	"  id INTEGER PRIMARY KEY,"
	"  rule TEXT NOT NULL,"
	"  subject TEXT NOT NULL COLLATE NOCASE,"
	"  until INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  created_by TEXT,"
	"  note TEXT,"
	"  UNIQUE (rule, subject)"
	");"
	"CREATE INDEX silences_until ON silences (until);" SW_STORE_DETECT_SCHEMA;

/* Copy a text column into a fixed buffer ("" for NULL). */
static void column_copy(sqlite3_stmt *st, int i, char *buf, size_t n)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	snprintf(buf, n, "%s", v ? v : "");
}

/* Fill a silence from a row of SILENCE_COLUMNS. */
static void silence_from_row(sqlite3_stmt *st, struct sw_silence *sil)
{
	memset(sil, 0, sizeof(*sil));
	sil->id = sqlite3_column_int64(st, 0);
	column_copy(st, 1, sil->rule, sizeof(sil->rule));
	column_copy(st, 2, sil->subject, sizeof(sil->subject));
	sil->until = sqlite3_column_int64(st, 3);
	sil->created = sqlite3_column_int64(st, 4);
	column_copy(st, 5, sil->created_by, sizeof(sil->created_by));
	column_copy(st, 6, sil->note, sizeof(sil->note));
}

#define SILENCE_COLUMNS "id, rule, subject, until, created, created_by, note"

/* See store_lifecycle.h. */
int sw_store_silence_put(struct sw_store *s, const char *rule, const char *subject, int64_t until, int64_t now,
                         const char *created_by, const char *note, int64_t *ret_id)
{
	static const char sql[] =
		"INSERT INTO silences (rule, subject, until, created, created_by, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
		"ON CONFLICT (rule, subject) DO UPDATE SET subject = excluded.subject, until = excluded.until, "
		"created = excluded.created, created_by = excluded.created_by, note = excluded.note RETURNING id";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (rule == NULL || rule[0] == '\0' || subject == NULL || subject[0] == '\0')
		return -EINVAL;
	rc = sqlite3_prepare_v2(sw_store_sqlite(s), sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_errno(rc);
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, until);
	sqlite3_bind_int64(st, 4, now);
	if (created_by && created_by[0])
		sqlite3_bind_text(st, 5, created_by, -1, SQLITE_STATIC);
	if (note && note[0])
		sqlite3_bind_text(st, 6, note, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = sw_store_errno(rc);
		goto fail;
	}
	if (ret_id)
		*ret_id = sqlite3_column_int64(st, 0);
	r = 0;
fail:
	sqlite3_finalize(st);
	return r;
}

/* See store_lifecycle.h. */
int sw_store_silence_end(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                         struct sw_silence *ret)
{
	static const char get[] = "SELECT " SILENCE_COLUMNS " FROM silences WHERE rule = ?1 AND subject = ?2 "
	                          "AND until > ?3";
	static const char end[] = "UPDATE silences SET until = ?2 WHERE id = ?1";
	struct sw_silence sil;
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (rule == NULL || subject == NULL)
		return -EINVAL;
	rc = sqlite3_prepare_v2(sw_store_sqlite(s), get, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_errno(rc);
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_errno(rc);
		goto fail;
	}
	silence_from_row(st, &sil);
	sqlite3_finalize(st);
	st = NULL;
	rc = sqlite3_prepare_v2(sw_store_sqlite(s), end, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_errno(rc);
	sqlite3_bind_int64(st, 1, sil.id);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		r = sw_store_errno(rc);
		goto fail;
	}
	if (ret)
		*ret = sil;
	r = 0;
fail:
	sqlite3_finalize(st);
	return r;
}

/* See store_lifecycle.h. */
int sw_store_silence_match(struct sw_store *s, const char *rule, const char *subject, int64_t now,
                           struct sw_silence *ret)
{
	/* The silence that ends last, by max(): SQLite takes the bare columns
	 * from the row that holds the maximum, and an aggregate needs no
	 * sorter (ORDER BY over the four rows the unique index may match
	 * made one for each alert raised).  No match is one row of NULLs. */
	static const char sql[] = "SELECT id, rule, subject, max(until), created, created_by, note FROM silences "
	                          "WHERE until > ?3 AND (rule = ?1 OR rule = '*') AND (subject = ?2 OR subject = '*')";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (rule == NULL || subject == NULL)
		return -EINVAL;
	/* Asked once per alert raised: kept prepared (a cycle raising 3,000
	 * alerts spent a quarter of its lifecycle time preparing this). */
	if ((r = sw_store_cached(s, sql, &st)) < 0)
		return r;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 3) != SQLITE_NULL) {
		silence_from_row(st, ret);
		r = 0;
	} else {
		r = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : sw_store_errno(rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_lifecycle.h. */
int sw_store_silences_list(struct sw_store *s, int64_t now, sw_silence_cb cb, void *arg)
{
	static const char sql[] = "SELECT " SILENCE_COLUMNS " FROM silences WHERE until > ?1 ORDER BY until, id";
	struct sw_silence sil;
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(sw_store_sqlite(s), sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_errno(rc);
	sqlite3_bind_int64(st, 1, now > 0 ? now : INT64_MIN);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		silence_from_row(st, &sil);
		r = cb(&sil, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_errno(rc);
	sqlite3_finalize(st);
	return r;
}
