/* store.c: SQLite storage: schema and migrations, sign-ins, checkpoints,
 * alerts and the delivery outbox.  Hot paths use statements prepared once
 * at open; every statement is reset before its function returns, so text
 * bound with SQLITE_STATIC never outlives the caller's buffers. */
#include "store.h"
#include "jsonutil.h"
#include "store_int.h"
#include "store_alert.h"
#include "store_audit.h"
#include "store_usage.h"
#include "store_inventory.h"
#include "store_deliver.h"
#include "store_exo.h"
#include "store_lifecycle.h"
#include "store_report.h"
#include "store_capolicy.h"
#include "store_remediate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Forward migrations: migrations[i] takes user_version i to i + 1.  Never
 * edit a released one; append a new one instead. */
static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE signins ("
	"  rowid INTEGER PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  created_text TEXT,"
	"  upn TEXT,"
	"  user_id TEXT,"
	"  app_id TEXT,"
	"  ip TEXT,"
	"  country TEXT,"
	"  city TEXT,"
	"  error_code INTEGER NOT NULL DEFAULT 0,"
	"  failure_reason TEXT,"
	"  correlation_id TEXT,"
	"  ingested INTEGER NOT NULL,"
	/* Not UNIQUE(tenant, id): a random id would put every insert on a
	 * random B-tree page.  This key assumed a record's created never
	 * changes; it does, so migration 6 adds the (tenant, id) key. */
	"  UNIQUE (tenant, created, id)"
	");"
	"CREATE INDEX signins_upn ON signins (tenant, upn, created);"
	"CREATE INDEX signins_ip ON signins (tenant, ip, created);"
	/* Rollup so that counting sign-ins never scans them. */
	"CREATE TABLE signin_counts ("
	"  tenant TEXT PRIMARY KEY,"
	"  n INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE checkpoints ("
	"  tenant TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  watermark INTEGER NOT NULL DEFAULT 0,"
	"  last_success INTEGER NOT NULL DEFAULT 0,"
	"  last_attempt INTEGER NOT NULL DEFAULT 0,"
	"  records INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (tenant, source)"
	");"
	"CREATE TABLE alerts ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT UNIQUE,"
	"  rule TEXT NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  severity INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  notified_count INTEGER NOT NULL,"
	"  transition INTEGER NOT NULL,"
	"  summary TEXT,"
	"  remediation TEXT,"
	"  evidence TEXT,"
	"  acked INTEGER NOT NULL DEFAULT 0,"
	"  ack_note TEXT,"
	"  resolved_at INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL,"
	"  UNIQUE (rule, tenant, subject)"
	");"
	"CREATE INDEX alerts_status ON alerts (status, updated);"
	"CREATE INDEX alerts_updated ON alerts (updated);"
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  alert_id TEXT NOT NULL,"
	"  transition INTEGER NOT NULL,"
	"  sink TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0," /* 0 pending, 1 delivered, 2 dead */
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  done_at INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX outbox_due ON outbox (sink, state, next_attempt);"
	/* Finds an earlier pending row of the same alert and sink quickly. */
	"CREATE INDEX outbox_pending_alert ON outbox (alert_id, sink) WHERE state = 0;"
	"CREATE TABLE sink_stats ("
	"  sink TEXT PRIMARY KEY,"
	"  delivered INTEGER NOT NULL DEFAULT 0,"
	"  dead INTEGER NOT NULL DEFAULT 0,"
	"  failed_attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_success INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT ''"
	");",
	/* 2: the Exchange tables (store_exo.c). */
	sw_store_exo_schema,
	sw_store_report_schema,    /* 3: store_report.c */
	sw_store_lifecycle_schema, /* 4: store_lifecycle.c */
	/* 5: detection pages through a tenant's sign-ins by rowid.  An index on
	 * (tenant) holds (tenant, rowid), so "tenant = ? AND rowid > ?" is a
	 * range; without it the planner took another (tenant, ...) index and
	 * sorted the whole tenant for every page (10M rows: hours). */
	"CREATE INDEX signins_tenant ON signins (tenant);",
	/* 6: sign-ins are deduplicated on (tenant, id) alone.  Graph has sent
	 * the same id again with a different createdDateTime, which the key
	 * of migration 1 stored twice.  Of each id the row stored first stays
	 * (the lowest rowid: detection has seen it, and the detect cursor is a
	 * rowid), later ones go, and the count rollup is recounted.  A unique
	 * index rather than a rebuilt table: the old key stays as the
	 * (tenant, created) index that prune and the reports range over, and
	 * the migration is two sorts instead of a copy (1M rows: 3.9 s).  Its
	 * cost: ingest touches a random page of this index per record.  The
	 * duplicates are found by a window over (tenant, id, rowid): a join
	 * back to signins on (tenant, id) has no index to use and ran for
	 * over 15 minutes at 1M rows. */
	"DELETE FROM signins WHERE rowid IN ("
	"  SELECT rowid FROM ("
	"    SELECT rowid, row_number() OVER (PARTITION BY tenant, id ORDER BY rowid) AS k FROM signins"
	"  ) WHERE k > 1);"
	"CREATE UNIQUE INDEX signins_id ON signins (tenant, id);"
	"UPDATE signin_counts SET n = (SELECT count(*) FROM signins WHERE signins.tenant = signin_counts.tenant);",
	sw_store_alert_schema, /* 7: store_alert.c, alert document version 2 */
	sw_store_deliver_schema, /* 8: store_deliver.c, digests */
	sw_store_audit_schema,   /* 9: store_audit.c, the audit source (issue 16) */
	sw_store_capolicy_schema, /* 10: store_capolicy.c, the layers beyond the switches (issue 17) */
	sw_store_usage_schema,   /* 11: store_usage.c, the email app usage report (issue 20) */
	sw_store_inventory_schema, /* 12: store_inventory.c, sign-ins per sender and day (issue 19) */
	sw_store_whatif_schema,   /* 13: store_capolicy.c, Microsoft's What If answers (issue 17) */
	sw_store_remediate_schema, /* 14: store_remediate.c, remediation actions (issue 18) */
	sw_store_trace_schema,   /* 15: store_usage.c, message trace of exception mailboxes (issue 20) */
	sw_store_bodies_schema,  /* 16: store_deliver.c, one body per notification for all its sinks (issue 15) */
	sw_store_seal_schema,    /* 17: store_deliver.c, a digest takes later members until it is sealed (issue 15) */
	/* 18: the firing alerts counted by severity (status, STATUS= and
	 * metrics ask at every request) from the index alone, no table row
	 * read and no sort (issue 22 #4). */
	"CREATE INDEX IF NOT EXISTS alerts_status_severity ON alerts (status, severity);",
	/* 19: one tenant's alerts, newest first, for the report of each
	 * tenant (sw_store_alerts_list_tenant; issue 22 #4). */
	"CREATE INDEX IF NOT EXISTS alerts_tenant ON alerts (tenant, updated);",
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == SW_STORE_SCHEMA_VERSION,
               "SW_STORE_SCHEMA_VERSION must count the migrations");

#define ALERT_COLUMNS                                                                                   \
	"seq, id, rule, tenant, subject, severity, status, first_seen, last_seen, count, notified_count, " \
	"transition, summary, remediation, evidence, acked, ack_note, resolved_at, updated, transition_at, changed_by"

/* Outbox rows eligible for delivery: pending, and no earlier pending row of
 * the same alert for the same sink, so that a receiver never sees an alert
 * resolve before it saw it fire, even when the first delivery is retrying. */
#define OUTBOX_READY                                                                    \
	"o.sink = ?1 AND o.state = 0 AND o.digest IS NULL AND NOT EXISTS (SELECT 1 FROM outbox p WHERE " \
	"p.state = 0 AND p.alert_id = o.alert_id AND p.sink = o.sink AND p.id < o.id)"
/* ... and not one of the rows in ?3 (a JSON array of ids: those in
 * flight), or NULL. */
#define OUTBOX_READY_EXCEPT \
	OUTBOX_READY " AND o.id NOT IN (SELECT value FROM json_each(coalesce(?3, '[]')))"

enum {
	ST_SIGNIN_INSERT,
	ST_SIGNIN_COUNT_ADD,
	ST_SIGNIN_DAY_ADD,
	ST_SIGNIN_COUNT_GET,
	ST_CHECKPOINT_GET,
	ST_CHECKPOINT_PUT,
	ST_ALERT_FIND,
	ST_ALERT_GET,
	ST_ALERT_INSERT,
	ST_ALERT_SET_ID,
	ST_ALERT_UPDATE,
	ST_OUTBOX_ADD,
	ST_OUTBOX_BODY_ADD,
	ST_OUTBOX_NEXT,
	ST_OUTBOX_NEXT_DUE,
	ST_OUTBOX_DELIVERED,
	ST_OUTBOX_RETRY,
	ST_OUTBOX_DEAD,
	ST_OUTBOX_QUEUED,
	ST_SINK_STATS_GET,
	ST_SINK_SUCCESS,
	ST_SINK_FAILURE,
	_ST_MAX,
};

static const char *const statement_sql[_ST_MAX] = {
	[ST_SIGNIN_INSERT] =
		"INSERT INTO signins (tenant, id, created, created_text, upn, user_id, app_id, ip, "
		"country, city, error_code, failure_reason, correlation_id, ingested) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
		"ON CONFLICT (tenant, id) DO NOTHING",
	[ST_SIGNIN_COUNT_ADD] =
		"INSERT INTO signin_counts (tenant, n) VALUES (?1, ?2) "
		"ON CONFLICT (tenant) DO UPDATE SET n = n + excluded.n",
	[ST_SIGNIN_DAY_ADD] =
		"INSERT INTO signin_days (tenant, sender, day, n) VALUES (?1, lower(?2), ?3, ?4) "
		"ON CONFLICT (tenant, sender, day) DO UPDATE SET n = n + excluded.n",
	[ST_SIGNIN_COUNT_GET] = "SELECT n FROM signin_counts WHERE tenant = ?1",
	[ST_CHECKPOINT_GET] =
		"SELECT watermark, last_success, last_attempt, records, last_error FROM checkpoints "
		"WHERE tenant = ?1 AND source = ?2",
	[ST_CHECKPOINT_PUT] =
		"INSERT INTO checkpoints (tenant, source, watermark, last_success, last_attempt, records, last_error) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tenant, source) DO UPDATE SET "
		"watermark = excluded.watermark, last_success = excluded.last_success, "
		"last_attempt = excluded.last_attempt, records = excluded.records, last_error = excluded.last_error",
	[ST_ALERT_FIND] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE rule = ?1 AND tenant = ?2 AND subject = ?3",
	[ST_ALERT_GET] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?1",
	[ST_ALERT_INSERT] =
		"INSERT INTO alerts (rule, tenant, subject, severity, status, first_seen, last_seen, count, "
		"notified_count, transition, summary, remediation, evidence, acked, ack_note, resolved_at, updated, "
		"transition_at, changed_by) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?19, ?20)",
	[ST_ALERT_SET_ID] = "UPDATE alerts SET id = ?2 WHERE seq = ?1",
	[ST_ALERT_UPDATE] =
		"UPDATE alerts SET rule = ?1, tenant = ?2, subject = ?3, severity = ?4, status = ?5, "
		"first_seen = ?6, last_seen = ?7, count = ?8, notified_count = ?9, transition = ?10, "
		"summary = ?11, remediation = ?12, evidence = ?13, acked = ?14, ack_note = ?15, "
		"resolved_at = ?16, updated = ?17, transition_at = ?19, changed_by = ?20 WHERE seq = ?18",
	/* rule and tenant as the caller knows them, else out of the body
	 * (coalesce evaluates the second only when the first is NULL). */
	[ST_OUTBOX_ADD] =
		"INSERT INTO outbox (alert_id, transition, sink, state, attempts, created, next_attempt, rule, tenant, "
		"body_id) VALUES (?1, ?2, ?3, 0, 0, ?5, ?5, "
		"coalesce(?6, (SELECT json_extract(body, '$.rule') FROM outbox_bodies WHERE id = ?4)), "
		"coalesce(?7, (SELECT json_extract(body, '$.tenant') FROM outbox_bodies WHERE id = ?4)), ?4)",
	/* ?6: the caller gave what a digest reads of the document (?2-?5,
	 * NULL where it has none); else it is read out of the body. */
	[ST_OUTBOX_BODY_ADD] =
		"INSERT INTO outbox_bodies (body, severity, tenant_id, first_seen, last_seen) VALUES (?1, "
		"CASE WHEN ?6 THEN ?2 WHEN json_valid(?1) THEN json_extract(?1, '$.severity') END, "
		"CASE WHEN ?6 THEN ?3 WHEN json_valid(?1) THEN json_extract(?1, '$.tenant_id') END, "
		"CASE WHEN ?6 THEN ?4 WHEN json_valid(?1) THEN json_extract(?1, '$.first_seen') END, "
		"CASE WHEN ?6 THEN ?5 WHEN json_valid(?1) THEN json_extract(?1, '$.last_seen') END)",
	[ST_OUTBOX_NEXT] =
		"SELECT o.id, o.alert_id, o.transition, o.sink, b.body, o.attempts, o.created, o.next_attempt "
		"FROM outbox o JOIN outbox_bodies b ON b.id = o.body_id WHERE " OUTBOX_READY_EXCEPT
		" AND o.next_attempt <= ?2 ORDER BY o.next_attempt, o.id LIMIT 1",
	[ST_OUTBOX_NEXT_DUE] =
		"SELECT o.next_attempt FROM outbox o WHERE " OUTBOX_READY_EXCEPT " ORDER BY o.next_attempt, o.id LIMIT 1",
	[ST_OUTBOX_DELIVERED] =
		"UPDATE outbox SET state = 1, attempts = attempts + 1, done_at = ?2, last_error = NULL "
		"WHERE id = ?1 AND state = 0 RETURNING sink",
	[ST_OUTBOX_RETRY] =
		"UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, last_error = ?3 "
		"WHERE id = ?1 AND state = 0 RETURNING sink",
	[ST_OUTBOX_DEAD] =
		"UPDATE outbox SET state = 2, attempts = attempts + 1, done_at = ?2, last_error = ?3 "
		"WHERE id = ?1 AND state = 0 RETURNING sink",
	/* Notifications: a digest row stands for its members, which are counted. */
	[ST_OUTBOX_QUEUED] = "SELECT count(*) FROM outbox WHERE sink = ?1 AND state = 0 AND members = 0",
	[ST_SINK_STATS_GET] =
		"SELECT delivered, dead, failed_attempts, last_success, last_error FROM sink_stats WHERE sink = ?1",
	[ST_SINK_SUCCESS] =
		"INSERT INTO sink_stats (sink, delivered, last_success) VALUES (?1, 1, ?2) "
		"ON CONFLICT (sink) DO UPDATE SET delivered = delivered + 1, last_success = excluded.last_success",
	[ST_SINK_FAILURE] =
		"INSERT INTO sink_stats (sink, failed_attempts, dead, last_error) VALUES (?1, 1, ?2, ?3) "
		"ON CONFLICT (sink) DO UPDATE SET failed_attempts = failed_attempts + 1, "
		"dead = dead + excluded.dead, last_error = excluded.last_error",
};

/* Statements of the store's other files, kept by sw_store_cached(). */
#define STORE_CACHED_MAX SW_STORE_CACHED_MAX

/* Parsed evidence of the alerts read or written lately, by seq.  The
 * first detection pass over a big backlog reads the same firing alert
 * once a page for every mailbox and IP in it, and parsing its evidence
 * was a third of the pass (bench/README.md, round 5); copying a parsed
 * one takes a tenth of that.  Direct-mapped; an entry is used only while
 * the stored text is byte for byte the one it was made from (a rollback,
 * an edit by any path, another alert at the same slot: parsed again),
 * and handed out as a copy, which the caller may change. */
#define EVIDENCE_MEMO 256
#define EVIDENCE_MEMO_MAX 16384 /* larger texts are parsed each time */
struct evidence_memo {
	int64_t seq;
	char *text;
	size_t len;
	json_t *doc;
};

struct sw_store {
	sqlite3 *db;
	struct evidence_memo memo[EVIDENCE_MEMO];
	sqlite3_stmt *st[_ST_MAX];
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cached[STORE_CACHED_MAX];
	size_t n_cached;
	char errmsg[512];
	char *path;         /* NULL for an in-memory database */
	dev_t dev;          /* the file opened, to notice it deleted or replaced */
	ino_t ino;
	struct wal_offload *offload; /* NULL: SQLite checkpoints in the commit */
	uint64_t begun; /* transactions begun (sw_store_transactions) */
	uint64_t written; /* of those, committed with changes (sw_store_writes) */
	int64_t changes_at_begin; /* sqlite3_total_changes64 at the BEGIN */
};

static void store_set_error(struct sw_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* See store_int.h: the one place SQLite's codes become errno. */
int sw_store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	default:
		return -EIO;
	}
}

/* See store_int.h. */
int sw_store_result(int rc)
{
	if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	return sw_store_errno(rc);
}

/* See store_int.h. */
int sw_store_check(struct sw_store *s, int rc)
{
	return sw_store_result(rc) == 0 ? 0 : sw_store_fail(s, rc, NULL);
}

/* See store_int.h. */
int sw_store_prepare(struct sw_store *s, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : sw_store_fail(s, rc, "prepare");
}

/* See store_int.h.  A linear search by address: a dozen statements. */
int sw_store_cached(struct sw_store *s, const char *sql, sqlite3_stmt **ret)
{
	size_t i;
	int rc;

	for (i = 0; i < s->n_cached; i++)
		if (s->cached[i].sql == sql) {
			*ret = s->cached[i].st;
			return 0;
		}
	if (s->n_cached == STORE_CACHED_MAX) {
		store_set_error(s, "more than %d cached statements", STORE_CACHED_MAX);
		return -ENOBUFS;
	}
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->cached[i].st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_fail(s, rc, "prepare");
	s->cached[i].sql = sql;
	s->n_cached++;
	*ret = s->cached[i].st;
	return 0;
}

/* See store_int.h. */
void sw_store_stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Fill a struct sw_error (util.c's sw_error_set, without the dependency). */
static void store_error_out(struct sw_error *e, const char *path, const char *text)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->source, sizeof(e->source), "%.*s", (int)sizeof(e->source) - 1, path ? path : "<memory>");
	snprintf(e->text, sizeof(e->text), "%.*s", (int)sizeof(e->text) - 1, text);
}

/* Remember why the last call failed, for sw_store_errmsg(). */
__attribute__((format(printf, 2, 3))) static void store_set_error(struct sw_store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

/* See store_int.h.  A write
 * to a database file deleted or moved under us fails with
 * SQLITE_READONLY_DBMOVED, whose text ("attempt to write a readonly
 * database") sends the operator after permissions: say what happened. */
int sw_store_fail(struct sw_store *s, int rc, const char *what)
{
	if (s->db != NULL && sqlite3_extended_errcode(s->db) == SQLITE_READONLY_DBMOVED) {
		store_set_error(s, "%s: the database file %s was deleted or moved while open", what ? what : "write",
		                s->path ? s->path : "");
		return sw_store_errno(rc);
	}
	if (what == NULL)
		store_set_error(s, "%s", s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	else
		store_set_error(s, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	return sw_store_errno(rc);
}

/* Reset a cached statement and drop its bindings (which may point into the
 * caller's memory). */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step a write statement to completion; 0 or -errno. */
static int stmt_exec(struct sw_store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sw_store_fail(s, rc, what);
	stmt_done(st);
	return r;
}

/* Bind text that may be NULL (SQL NULL then); the text must outlive the step. */
static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* strdup of a column, NULL for SQL NULL; sets *oom on allocation failure. */
static char *column_strdup(sqlite3_stmt *st, int i, bool *oom)
{
	const char *v = (const char *)sqlite3_column_text(st, i);
	char *d;

	if (v == NULL)
		return NULL;
	d = strdup(v);
	if (d == NULL)
		*oom = true;
	return d;
}

/* Copy a text column into a fixed buffer ("" for NULL). */
static void column_copy(sqlite3_stmt *st, int i, char *buf, size_t n)
{
	const char *v = (const char *)sqlite3_column_text(st, i);

	snprintf(buf, n, "%s", v ? v : "");
}

/* Run SQL without results (pragmas, transaction control, migrations). */
static int store_exec(struct sw_store *s, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return 0;
	store_set_error(s, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return sw_store_errno(rc);
}

/* Read one integer from a single-row query (PRAGMA user_version). */
static int store_query_int(struct sw_store *s, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_fail(s, rc, sql);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = sw_store_fail(s, rc, sql);
		goto fail;
	}
	*ret = sqlite3_column_int64(st, 0);
	r = 0;
fail:
	sqlite3_finalize(st);
	return r;
}

/* The schema version in the file; -ENOTSUP if newer than this code. */
static int store_version(struct sw_store *s, int64_t *ret)
{
	int64_t version;
	int r;

	r = store_query_int(s, "PRAGMA user_version", &version);
	if (r < 0)
		return r;
	if (version > N_MIGRATIONS) {
		store_set_error(s,
		                "database schema version %lld is newer than this smtpwatch knows (%d): "
		                "use a newer smtpwatch or restore a backup",
		                (long long)version, N_MIGRATIONS);
		return -ENOTSUP;
	}
	*ret = version;
	return 0;
}

/* Bring the schema up to date; refuse a database newer than this code. */
static int store_migrate(struct sw_store *s)
{
	char sql[64];
	int64_t version;
	int r;

	r = store_version(s, &version);
	if (r < 0)
		return r;
	for (int v = (int)version; v < N_MIGRATIONS; v++) {
		/* The migration and its version bump commit together: a crash
		 * leaves the database at version v or v + 1, never between. */
		r = store_exec(s, "BEGIN IMMEDIATE", "begin migration");
		if (r < 0)
			return r;
		r = store_exec(s, migrations[v], "schema migration");
		if (r < 0)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		r = store_exec(s, sql, "schema version");
		if (r < 0)
			goto fail;
		r = store_exec(s, "COMMIT", "commit migration");
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Is path a database file of its own (not ":memory:", "", a URI)? */
static bool store_on_disk(const char *path)
{
	return path != NULL && path[0] != '\0' && strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0;
}

/* The marker beside the database: PATH.created. */
static char *marker_path(const char *path)
{
	size_t n = strlen(path) + sizeof(SW_STORE_MARKER_SUFFIX);
	char *m = malloc(n);

	if (m != NULL)
		snprintf(m, n, "%s%s", path, SW_STORE_MARKER_SUFFIX);
	return m;
}

/* Refuse to create a database where one was created before: its marker
 * is there and the database is not, so it was deleted (or the state
 * directory half restored), and a new empty one would raise every alert
 * again under new ids.  -ENOENT with the error set. */
static int store_check_deleted(struct sw_store *s, const char *marker)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 || errno != ENOENT)
		return 0;
	if (lstat(marker, &st) < 0)
		return 0;
	store_set_error(s,
	                "database %s was deleted (%s says one was created there): restore it from a backup, or "
	                "remove %s to start with an empty database",
	                s->path, marker, marker);
	return -ENOENT;
}

/* Write the marker once the database exists (for a database created by an
 * older smtpwatch too); fsync'd with its directory so that a crash cannot
 * keep the database and lose the marker. */
static int store_write_marker(struct sw_store *s, const char *marker)
{
	static const char text[] = "smtpwatchd created smtpwatch.db here: while this file exists, smtpwatchd "
	                           "refuses to start without the database (remove it to start with an empty one)\n";
	char *dcopy;
	int fd, dfd, r = 0;

	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		unlink(marker);
		store_set_error(s, "cannot write %s: %s", marker, strerror(-r));
		return r;
	}
	dcopy = strdup(marker);
	dfd = dcopy ? open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dcopy);
	return 0;
}

/* SQLite found the file damaged ("file is not a database", "database disk
 * image is malformed")? */
static bool store_corrupt_rc(int rc)
{
	return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

/* PRAGMA quick_check (the b-trees, without the index cross-check of
 * integrity_check): a corrupt file is refused at start with one line,
 * instead of failing a write now and then for ever.  -EBADMSG. */
static int store_quick_check(struct sw_store *s)
{
	sqlite3_stmt *st = NULL;
	char first[256] = "";
	int rc, n = 0;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(st, 0);
			if (row != NULL && strcmp(row, "ok") != 0 && n++ == 0)
				snprintf(first, sizeof(first), "%s", row);
		}
	}
	if (rc != SQLITE_DONE) {
		if (!store_corrupt_rc(rc))
			rc = sw_store_fail(s, rc, "quick_check");
		else
			snprintf(first, sizeof(first), "%s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && !store_corrupt_rc(rc))
		return rc;
	if (first[0] == '\0')
		return 0;
	store_set_error(s, "%s%s", first, n > 1 ? " (and more)" : "");
	return -EBADMSG;
}

/* See store.h. */
int sw_store_open(const char *path, struct sw_store **ret, struct sw_error *err)
{
	struct sw_store *s;
	char *marker = NULL;
	struct stat st;
	int64_t version;
	int rc, r;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		if (err)
			store_error_out(err, path, "out of memory");
		return -ENOMEM;
	}
	if (store_on_disk(path)) {
		s->path = strdup(path);
		marker = marker_path(path);
		if (s->path == NULL || marker == NULL) {
			r = -ENOMEM;
			store_set_error(s, "out of memory");
			goto fail;
		}
		r = store_check_deleted(s, marker);
		if (r < 0)
			goto fail;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = sw_store_fail(s, rc, "cannot open database");
		goto fail;
	}
	/* Before anything that takes a lock: another process (smtpwatchctl,
	 * sqlite3 by hand) may hold one for a moment. */
	sqlite3_busy_timeout(s->db, 5000);
	/* Refuse a newer database before changing anything in it. */
	r = store_version(s, &version);
	if (r < 0)
		goto fail;
	/* A 16 MiB page cache: the daemon must stay within 40 MB while it
	 * ingests, and its ingest is paced by Graph (5 pages per 10 s), far
	 * below what the cache size changes (bench/README.md). */
	r = store_exec(s,
	               "PRAGMA journal_mode = WAL;"
	               "PRAGMA synchronous = NORMAL;"
	               "PRAGMA foreign_keys = ON;"
	               "PRAGMA cache_size = -16384;"
	               "PRAGMA analysis_limit = 1000;",
	               "cannot configure database");
	if (r < 0)
		goto fail;
	r = store_quick_check(s);
	if (r < 0)
		goto fail;
	r = store_migrate(s);
	if (r < 0)
		goto fail;
	/* The mailboxes an Exchange snapshot saw, until its sweep (this
	 * connection's: a run begun before a restart starts over). */
	r = store_exec(s,
	               "PRAGMA temp_store = MEMORY;"
	               "CREATE TEMP TABLE mailbox_seen(tenant TEXT NOT NULL, address TEXT NOT NULL,"
	               " snapshot INTEGER NOT NULL, PRIMARY KEY(tenant, address)) WITHOUT ROWID;",
	               "cannot make the temporary tables");
	if (r < 0)
		goto fail;
	for (int i = 0; i < _ST_MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK) {
			r = sw_store_fail(s, rc, "cannot prepare statement");
			goto fail;
		}
	}
	if (s->path != NULL) {
		if (stat(s->path, &st) < 0) {
			r = -errno;
			store_set_error(s, "%s: %s", s->path, strerror(-r));
			goto fail;
		}
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		r = store_write_marker(s, marker);
		if (r < 0)
			goto fail;
	}
	free(marker);
	*ret = s;
	return 0;
fail:
	/* Whatever step met the damage (the header, the schema, the check),
	 * the caller hears one thing: the file is corrupt. */
	if (r != -EBADMSG && s->db != NULL && store_corrupt_rc(sqlite3_errcode(s->db))) {
		char why[256];
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(s->db));
		store_set_error(s, "%s", why);
		r = -EBADMSG;
	}
	if (r == -EBADMSG) {
		char why[sizeof(s->errmsg)];
		memcpy(why, s->errmsg, sizeof(why));
		store_set_error(s,
		                "database %s is corrupt (%s): restore it from a backup, or move it away and remove "
		                "%s%s to start with an empty database",
		                path, why, path, SW_STORE_MARKER_SUFFIX);
	}
	if (err)
		store_error_out(err, path, s->errmsg);
	free(marker);
	sw_store_free(s);
	return r;
}

/* See store.h.  By path, not by the open descriptor: SQLite keeps that to
 * itself, and under PR_SET_DUMPABLE 0 the daemon cannot read
 * /proc/self/fd to find it. */
int sw_store_check_file(struct sw_store *s)
{
	struct stat st;

	if (s->path == NULL)
		return 0;
	if (stat(s->path, &st) < 0) {
		int r = -errno;
		if (r == -ENOENT)
			store_set_error(s, "database %s was deleted while open", s->path);
		else
			store_set_error(s, "database %s: %s", s->path, strerror(-r));
		return r;
	}
	if (st.st_dev != s->dev || st.st_ino != s->ino) {
		store_set_error(s, "database %s was replaced by another file while open", s->path);
		return -ESTALE;
	}
	return 0;
}

/* See store.h. */
void sw_store_free(struct sw_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < _ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	for (size_t i = 0; i < s->n_cached; i++)
		sqlite3_finalize(s->cached[i].st);
	/* Nothing half-done may survive us; close_v2 also waits out any
	 * statement a lib module forgot to finalize. */
	if (s->db && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close_v2(s->db);
	for (size_t i = 0; i < EVIDENCE_MEMO; i++) {
		free(s->memo[i].text);
		json_decref(s->memo[i].doc);
	}
	free(s->offload);
	free(s->path);
	free(s);
}

/* SQLite's default autocheckpoint, in WAL pages. */
#define WAL_CHECKPOINT_PAGES 1000

struct wal_offload {
	void (*ready)(void *arg);
	void *arg;
};

/* After each commit: tell the checkpointer once the WAL is long enough. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	const struct wal_offload *w = arg;

	(void)db;
	(void)name;
	if (pages >= WAL_CHECKPOINT_PAGES)
		w->ready(w->arg);
	return SQLITE_OK;
}

/* See store.h. */
int sw_store_wal_offload(struct sw_store *s, void (*ready)(void *arg), void *arg)
{
	if (ready == NULL) {
		/* Back to SQLite's own (which replaces the hook). */
		sqlite3_wal_autocheckpoint(s->db, WAL_CHECKPOINT_PAGES);
		free(s->offload);
		s->offload = NULL;
		return 0;
	}
	if (s->offload == NULL) {
		s->offload = calloc(1, sizeof(*s->offload));
		if (s->offload == NULL)
			return -ENOMEM;
	}
	s->offload->ready = ready;
	s->offload->arg = arg;
	/* sqlite3_wal_hook() replaces the autocheckpoint, which is one. */
	sqlite3_wal_hook(s->db, wal_hook, s->offload);
	return 0;
}

struct sw_store_checkpointer {
	sqlite3 *db;
	char errmsg[512];
};

/* See store.h. */
int sw_store_checkpointer_open(const char *path, struct sw_store_checkpointer **ret, struct sw_error *err)
{
	struct sw_store_checkpointer *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		if (err)
			store_error_out(err, path, "out of memory");
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	/* The checkpoint syncs as the daemon's own connection would. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (err)
			store_error_out(err, path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sw_store_checkpointer_free(c);
		return -EIO;
	}
	*ret = c;
	return 0;
}

/* See store.h. */
int sw_store_checkpointer_run(struct sw_store_checkpointer *c, int *ret_wal, int *ret_copied)
{
	int wal = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &copied);

	if (ret_wal)
		*ret_wal = wal;
	if (ret_copied)
		*ret_copied = copied;
	if (rc == SQLITE_OK || rc == SQLITE_BUSY)
		return 0;
	snprintf(c->errmsg, sizeof(c->errmsg), "checkpoint: %s", sqlite3_errmsg(c->db));
	return sw_store_errno(rc);
}

/* See store.h. */
const char *sw_store_checkpointer_errmsg(struct sw_store_checkpointer *c)
{
	return c->errmsg;
}

/* See store.h. */
void sw_store_checkpointer_free(struct sw_store_checkpointer *c)
{
	if (c == NULL)
		return;
	sqlite3_close_v2(c->db);
	free(c);
}

/* See store_int.h. */
sqlite3 *sw_store_sqlite(struct sw_store *s)
{
	return s->db;
}

/* See store.h. */
const char *sw_store_errmsg(struct sw_store *s)
{
	return s->errmsg[0] ? s->errmsg : sqlite3_errmsg(s->db);
}

/* See store.h. */
int sw_store_schema_version(struct sw_store *s)
{
	int64_t v = 0;

	if (store_query_int(s, "PRAGMA user_version", &v) < 0)
		return -EIO;
	return (int)v;
}

/* See store.h. */
int sw_store_begin(struct sw_store *s)
{
	s->begun++;
	s->changes_at_begin = sqlite3_total_changes64(s->db);
	return store_exec(s, "BEGIN IMMEDIATE", "begin");
}

/* See store.h. */
uint64_t sw_store_writes(const struct sw_store *s)
{
	return s->written;
}

/* See store.h. */
uint64_t sw_store_transactions(const struct sw_store *s)
{
	return s->begun;
}

/* See store.h. */
int sw_store_commit(struct sw_store *s)
{
	bool wrote = sqlite3_total_changes64(s->db) != s->changes_at_begin;
	int r = store_exec(s, "COMMIT", "commit");

	if (r >= 0 && wrote)
		s->written++;

	/* A failed COMMIT may leave the transaction open: the caller's
	 * rollback then ends it. */
	return r;
}

/* See store.h. */
int sw_store_rollback(struct sw_store *s)
{
	/* SQLite may already have rolled back on its own (SQLITE_FULL, ...). */
	if (sqlite3_get_autocommit(s->db))
		return 0;
	return store_exec(s, "ROLLBACK", "rollback");
}

/* See store.h. */
int sw_store_optimize(struct sw_store *s)
{
	int64_t analyzed = 0;
	int r;

	/* Without statistics the planner picks the wrong index for per-user
	 * counts; analysis_limit (set at open) keeps ANALYZE cheap on millions
	 * of rows.  Once there are statistics, PRAGMA optimize refreshes them
	 * only where they have gone stale. */
	r = store_query_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'", &analyzed);
	if (r < 0)
		return r;
	if (analyzed) {
		r = store_query_int(s, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'signins'", &analyzed);
		if (r < 0)
			return r;
	}
	if (!analyzed)
		return store_exec(s, "ANALYZE", "analyze");
	return store_exec(s, "PRAGMA optimize", "optimize");
}

/* See store.h. */
int sw_store_checkpoint_get(struct sw_store *s, const char *tenant, const char *source, struct sw_checkpoint *ret)
{
	sqlite3_stmt *st = s->st[ST_CHECKPOINT_GET];
	struct sw_checkpoint cp = {0};
	int rc, r = 0;

	bind_text(st, 1, tenant);
	bind_text(st, 2, source);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		cp.watermark = sqlite3_column_int64(st, 0);
		cp.last_success = sqlite3_column_int64(st, 1);
		cp.last_attempt = sqlite3_column_int64(st, 2);
		cp.records = sqlite3_column_int64(st, 3);
		column_copy(st, 4, cp.last_error, sizeof(cp.last_error));
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sw_store_fail(s, rc, "checkpoint get");
	}
	stmt_done(st);
	if (r == 0 || r == -ENOENT)
		*ret = cp;
	return r;
}

/* See store.h. */
int sw_store_checkpoint_put(struct sw_store *s, const char *tenant, const char *source, const struct sw_checkpoint *cp)
{
	sqlite3_stmt *st = s->st[ST_CHECKPOINT_PUT];

	bind_text(st, 1, tenant);
	bind_text(st, 2, source);
	sqlite3_bind_int64(st, 3, cp->watermark);
	sqlite3_bind_int64(st, 4, cp->last_success);
	sqlite3_bind_int64(st, 5, cp->last_attempt);
	sqlite3_bind_int64(st, 6, cp->records);
	sqlite3_bind_text(st, 7, cp->last_error, (int)strnlen(cp->last_error, sizeof(cp->last_error)),
	                  SQLITE_STATIC);
	return stmt_exec(s, st, "checkpoint put");
}

/* Successful sign-ins of one page per (UPN as sent, day), for the
 * signin_days rollup (store_inventory.h): one upsert per sender and day
 * instead of one per sign-in (a trigger doing it row by row cost a tenth
 * of the ingest time). */
#define DAY_BATCH 64
struct day_count {
	const char *upn;
	int64_t day, n;
};

static int signin_days_flush(struct sw_store *s, const char *tenant, struct day_count *dc, size_t *n)
{
	sqlite3_stmt *st = s->st[ST_SIGNIN_DAY_ADD];

	for (size_t i = 0; i < *n; i++) {
		bind_text(st, 1, tenant);
		bind_text(st, 2, dc[i].upn);
		sqlite3_bind_int64(st, 3, dc[i].day);
		sqlite3_bind_int64(st, 4, dc[i].n);
		int r = stmt_exec(s, st, "sign-in days");
		if (r < 0)
			return r;
	}
	*n = 0;
	return 0;
}

static int signin_days_count(struct sw_store *s, const char *tenant, struct day_count *dc, size_t *n,
                             const struct sw_signin *it)
{
	int64_t day = it->created - it->created % 86400;
	int r;

	for (size_t i = *n; i-- > 0;)
		if (dc[i].day == day && strcmp(dc[i].upn, it->upn) == 0) {
			dc[i].n++;
			return 0;
		}
	if (*n == DAY_BATCH && (r = signin_days_flush(s, tenant, dc, n)) < 0)
		return r;
	dc[(*n)++] = (struct day_count){it->upn, day, 1};
	return 0;
}

/* See store.h. */
int sw_store_signins_add(struct sw_store *s, const char *tenant, const struct sw_signin *items, size_t n,
                         int64_t now, size_t *ret_added)
{
	sqlite3_stmt *st = s->st[ST_SIGNIN_INSERT];
	struct day_count days[DAY_BATCH];
	size_t added = 0, ndays = 0;
	int r;

	if (tenant == NULL)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct sw_signin *it = &items[i];

		if (it->id == NULL)
			continue;
		bind_text(st, 1, tenant);
		bind_text(st, 2, it->id);
		sqlite3_bind_int64(st, 3, it->created);
		bind_text(st, 4, it->created_text);
		bind_text(st, 5, it->upn);
		bind_text(st, 6, it->user_id);
		bind_text(st, 7, it->app_id);
		bind_text(st, 8, it->ip);
		bind_text(st, 9, it->country);
		bind_text(st, 10, it->city);
		sqlite3_bind_int(st, 11, it->error_code);
		bind_text(st, 12, it->failure_reason);
		bind_text(st, 13, it->correlation_id);
		sqlite3_bind_int64(st, 14, now);
		r = stmt_exec(s, st, "sign-in insert");
		if (r < 0)
			return r;
		/* ON CONFLICT DO NOTHING: 0 changes for a known id, whatever
		 * its createdDateTime says now. */
		if (sqlite3_changes(s->db) == 0)
			continue;
		added++;
		if (it->error_code == 0 && it->upn != NULL && (r = signin_days_count(s, tenant, days, &ndays, it)) < 0)
			return r;
	}
	r = signin_days_flush(s, tenant, days, &ndays);
	if (r < 0)
		return r;
	if (added > 0) {
		st = s->st[ST_SIGNIN_COUNT_ADD];
		bind_text(st, 1, tenant);
		sqlite3_bind_int64(st, 2, (int64_t)added);
		r = stmt_exec(s, st, "sign-in count");
		if (r < 0)
			return r;
	}
	if (ret_added)
		*ret_added = added;
	return 0;
}

/* See store.h. */
int sw_store_signins_count(struct sw_store *s, const char *tenant, int64_t *ret)
{
	sqlite3_stmt *st = s->st[ST_SIGNIN_COUNT_GET];
	int64_t n = 0;
	int rc, r = 0;

	bind_text(st, 1, tenant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "sign-in count");
	stmt_done(st);
	if (r == 0)
		*ret = n;
	return r;
}

/* See store.h. */
/* See store.h: tenant by tenant, with their rollup. */
int sw_store_prune_signins(struct sw_store *s, int64_t cutoff, int64_t limit, int64_t *ret_deleted)
{
	sqlite3_stmt *tenants = NULL, *del = NULL, *sub = NULL;
	int64_t deleted = 0;
	int rc, r = 0;

	/* Per tenant, so the delete walks the (tenant, created, id) index
	 * instead of scanning every stored sign-in; oldest first, so that a
	 * limited call takes what a whole one would begin with. */
	rc = sqlite3_prepare_v2(s->db, "SELECT tenant FROM signin_counts", -1, &tenants, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "DELETE FROM signins WHERE rowid IN (SELECT rowid FROM signins "
		                        "WHERE tenant = ?1 AND created < ?2 ORDER BY created LIMIT ?3)", -1, &del, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "UPDATE signin_counts SET n = max(n - ?2, 0) WHERE tenant = ?1", -1,
		                        &sub, NULL);
	if (rc != SQLITE_OK) {
		r = sw_store_fail(s, rc, "prune");
		goto fail;
	}
	while ((limit < 0 || deleted < limit) && (rc = sqlite3_step(tenants)) == SQLITE_ROW) {
		const char *tenant = (const char *)sqlite3_column_text(tenants, 0);
		int64_t n;

		sqlite3_bind_text(del, 1, tenant, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(del, 2, cutoff);
		sqlite3_bind_int64(del, 3, limit < 0 ? -1 : limit - deleted);
		r = stmt_exec(s, del, "prune sign-ins");
		if (r < 0)
			goto fail;
		n = sqlite3_changes64(s->db);
		if (n == 0)
			continue;
		deleted += n;
		sqlite3_bind_text(sub, 1, tenant, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(sub, 2, n);
		r = stmt_exec(s, sub, "prune counts");
		if (r < 0)
			goto fail;
	}
	if ((limit < 0 || deleted < limit) && rc != SQLITE_DONE) {
		r = sw_store_fail(s, rc, "prune");
		goto fail;
	}
	r = 0;
fail:
	if (ret_deleted)
		*ret_deleted = deleted;
	sqlite3_finalize(tenants);
	sqlite3_finalize(del);
	sqlite3_finalize(sub);
	return r;
}

/* See store.h. */
int sw_store_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted)
{
	sqlite3_stmt *del = NULL;
	int64_t deleted = 0;
	int rc, r;

	r = sw_store_prune_signins(s, cutoff, -1, &deleted);
	if (r < 0)
		goto fail;
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM outbox WHERE state <> 0 AND done_at < ?1", -1, &del, NULL);
	if (rc != SQLITE_OK) {
		r = sw_store_fail(s, rc, "prune outbox");
		goto fail;
	}
	sqlite3_bind_int64(del, 1, cutoff);
	r = stmt_exec(s, del, "prune outbox");
	if (r < 0)
		goto fail;
	deleted += sqlite3_changes64(s->db);
	/* The bodies no row points at any more (one shared by several sinks
	 * goes with the last of them); the subquery is built once. */
	r = store_exec(s, "DELETE FROM outbox_bodies WHERE id NOT IN (SELECT body_id FROM outbox WHERE body_id IS NOT NULL)",
	               "prune outbox bodies");
	if (r < 0)
		goto fail;
	if (ret_deleted)
		*ret_deleted = deleted;
	r = 0;
fail:
	sqlite3_finalize(del);
	return r;
}

/* Fill *a from a row selected with ALERT_COLUMNS, but for the evidence
 * (left NULL).  -ENOMEM leaves *a partly filled for sw_alert_clear(). */
static int alert_fields_from_row(sqlite3_stmt *st, struct sw_alert *a)
{
	bool oom = false;

	memset(a, 0, sizeof(*a));
	a->seq = sqlite3_column_int64(st, 0);
	column_copy(st, 1, a->id, sizeof(a->id));
	a->rule = column_strdup(st, 2, &oom);
	a->tenant = column_strdup(st, 3, &oom);
	a->subject = column_strdup(st, 4, &oom);
	a->severity = (enum sw_severity)sqlite3_column_int(st, 5);
	a->status = (enum sw_alert_status)sqlite3_column_int(st, 6);
	a->first_seen = sqlite3_column_int64(st, 7);
	a->last_seen = sqlite3_column_int64(st, 8);
	a->count = sqlite3_column_int64(st, 9);
	a->notified_count = sqlite3_column_int64(st, 10);
	a->transition = sqlite3_column_int(st, 11);
	a->summary = column_strdup(st, 12, &oom);
	a->remediation = column_strdup(st, 13, &oom);
	a->acked = sqlite3_column_int(st, 15) != 0;
	a->ack_note = column_strdup(st, 16, &oom);
	a->resolved_at = sqlite3_column_int64(st, 17);
	a->updated = sqlite3_column_int64(st, 18);
	a->transition_at = sqlite3_column_int64(st, 19);
	a->changed_by = column_strdup(st, 20, &oom);
	return oom ? -ENOMEM : 0;
}

/* Remember doc as the parse of alert seq's evidence text (a copy of
 * each; out of memory, nothing is remembered). */
static void evidence_remember(struct sw_store *s, int64_t seq, const char *text, size_t len, const json_t *doc)
{
	struct evidence_memo *m = &s->memo[(uint64_t)seq % EVIDENCE_MEMO];

	free(m->text);
	json_decref(m->doc);
	*m = (struct evidence_memo){0};
	if (seq <= 0 || len > EVIDENCE_MEMO_MAX || doc == NULL)
		return;
	m->text = malloc(len + 1);
	m->doc = json_deep_copy(doc);
	if (m->text == NULL || m->doc == NULL) {
		free(m->text);
		json_decref(m->doc);
		*m = (struct evidence_memo){0};
		return;
	}
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->len = len;
	m->seq = seq;
}

/* Alert seq's evidence from its stored text: an object, or NULL; a
 * parse is remembered when remember says so (a single alert's read: the
 * one a rule is about to grow, not each row of a listing). */
static json_t *evidence_parse(struct sw_store *s, int64_t seq, const char *text, size_t len, bool remember)
{
	const struct evidence_memo *m = &s->memo[(uint64_t)seq % EVIDENCE_MEMO];

	if (m->doc != NULL && m->seq == seq && m->len == len && memcmp(m->text, text, len) == 0)
		return json_deep_copy(m->doc);
	json_t *doc = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	/* The store only writes valid JSON; a row edited by hand into
	 * something else loses its evidence rather than the alert. */
	if (doc != NULL && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	if (remember)
		evidence_remember(s, seq, text, len, doc);
	return doc;
}

/* Fill *a from a row selected with ALERT_COLUMNS, evidence parsed.
 * -ENOMEM leaves *a partly filled for sw_alert_clear(). */
static int alert_from_row(struct sw_store *s, sqlite3_stmt *st, struct sw_alert *a, bool remember)
{
	const char *evidence;
	int r;

	r = alert_fields_from_row(st, a);
	evidence = (const char *)sqlite3_column_text(st, 14);
	if (evidence)
		a->evidence = evidence_parse(s, a->seq, evidence, (size_t)sqlite3_column_bytes(st, 14), remember);
	return r;
}

/* Step a cached single-alert query and fill *ret from its row. */
static int alert_fetch(struct sw_store *s, sqlite3_stmt *st, struct sw_alert *ret)
{
	struct sw_alert a = {0};
	int rc, r;

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else if (rc != SQLITE_ROW) {
		r = sw_store_fail(s, rc, "alert query");
	} else {
		r = alert_from_row(s, st, &a, true);
		if (r < 0)
			sw_alert_clear(&a);
	}
	stmt_done(st);
	if (r == 0)
		*ret = a;
	return r;
}

/* See store.h. */
int sw_store_alert_find(struct sw_store *s, const char *rule, const char *tenant, const char *subject,
                        struct sw_alert *ret)
{
	sqlite3_stmt *st = s->st[ST_ALERT_FIND];

	if (rule == NULL || tenant == NULL || subject == NULL)
		return -EINVAL;
	bind_text(st, 1, rule);
	bind_text(st, 2, tenant);
	bind_text(st, 3, subject);
	return alert_fetch(s, st, ret);
}

/* See store.h. */
int sw_store_alert_get(struct sw_store *s, const char *id, struct sw_alert *ret)
{
	sqlite3_stmt *st = s->st[ST_ALERT_GET];

	if (id == NULL)
		return -EINVAL;
	bind_text(st, 1, id);
	return alert_fetch(s, st, ret);
}

/* See store.h. */
int sw_store_alert_save(struct sw_store *s, struct sw_alert *a)
{
	sqlite3_stmt *st;
	char *evidence = NULL;
	char id[sizeof(a->id)];
	int64_t seq;
	int r;

	if (a->rule == NULL || a->tenant == NULL || a->subject == NULL)
		return -EINVAL;
	if (a->evidence) {
		evidence = json_dumps(a->evidence, JSON_COMPACT);
		if (evidence == NULL)
			return -ENOMEM;
	}
	st = s->st[a->seq == 0 ? ST_ALERT_INSERT : ST_ALERT_UPDATE];
	bind_text(st, 1, a->rule);
	bind_text(st, 2, a->tenant);
	bind_text(st, 3, a->subject);
	sqlite3_bind_int(st, 4, (int)a->severity);
	sqlite3_bind_int(st, 5, (int)a->status);
	sqlite3_bind_int64(st, 6, a->first_seen);
	sqlite3_bind_int64(st, 7, a->last_seen);
	sqlite3_bind_int64(st, 8, a->count);
	sqlite3_bind_int64(st, 9, a->notified_count);
	sqlite3_bind_int(st, 10, a->transition);
	bind_text(st, 11, a->summary);
	bind_text(st, 12, a->remediation);
	bind_text(st, 13, evidence);
	sqlite3_bind_int(st, 14, a->acked);
	bind_text(st, 15, a->ack_note);
	sqlite3_bind_int64(st, 16, a->resolved_at);
	sqlite3_bind_int64(st, 17, a->updated);
	if (a->seq != 0)
		sqlite3_bind_int64(st, 18, a->seq);
	sqlite3_bind_int64(st, 19, a->transition_at);
	bind_text(st, 20, a->changed_by);
	r = stmt_exec(s, st, "alert save");
	if (r < 0)
		goto fail;
	if (a->seq != 0) {
		if (sqlite3_changes(s->db) == 0) {
			store_set_error(s, "alert save: no alert with seq %lld", (long long)a->seq);
			r = -ENOENT;
		}
		goto fail;
	}
	/* The id derives from seq, so it is set right after the insert, in
	 * the caller's transaction: no reader ever sees a row without it. */
	seq = sqlite3_last_insert_rowid(s->db);
	snprintf(id, sizeof(id), "a-%06lld", (long long)seq);
	st = s->st[ST_ALERT_SET_ID];
	sqlite3_bind_int64(st, 1, seq);
	bind_text(st, 2, id);
	r = stmt_exec(s, st, "alert id");
	if (r < 0)
		goto fail;
	a->seq = seq;
	memcpy(a->id, id, sizeof(id));
fail:
	/* The next read of this alert (the next page's) finds it parsed. */
	if (r >= 0 && evidence != NULL)
		evidence_remember(s, a->seq, evidence, strlen(evidence), a->evidence);
	free(evidence);
	return r;
}

/* Run an alert query prepared for this call and hand each row to cb.  A
 * fresh statement, so cb may itself use the store's cached ones. */
static int alerts_iterate(struct sw_store *s, sqlite3_stmt *st, sw_alert_cb cb, void *arg)
{
	struct sw_alert a;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = alert_from_row(s, st, &a, false);
		if (r == 0)
			r = cb(&a, arg);
		sw_alert_clear(&a);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return sw_store_fail(s, rc, "alert list");
	return 0;
}

/* The alerts sql lists (?1 the earliest update, ?2 the tenant when
 * tenant is not NULL), one call of cb each. */
static int alerts_list(struct sw_store *s, const char *sql, int64_t since, const char *tenant, sw_alert_cb cb,
                       void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_fail(s, rc, "alert list");
	sqlite3_bind_int64(st, 1, since > 0 ? since : INT64_MIN);
	if (tenant != NULL)
		sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
	r = alerts_iterate(s, st, cb, arg);
	sqlite3_finalize(st);
	return r;
}

/* See store.h. */
int sw_store_alerts_list(struct sw_store *s, bool all, int64_t since, sw_alert_cb cb, void *arg)
{
	/* (status, updated, seq) and (updated, seq) indexes serve these in
	 * order, no sort. */
	static const char sql_firing[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE status = 0 AND updated >= ?1 "
	                                 "ORDER BY updated DESC, seq DESC";
	static const char sql_all[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE updated >= ?1 "
	                              "ORDER BY updated DESC, seq DESC";

	return alerts_list(s, all ? sql_all : sql_firing, since, NULL, cb, arg);
}

/* See store.h. */
int sw_store_alerts_list_tenant(struct sw_store *s, const char *tenant, bool all, int64_t since, sw_alert_cb cb,
                                void *arg)
{
	/* alerts_tenant (tenant, updated), ending in the rowid seq, serves
	 * both in order; the firing ones are the tenant's rows filtered. */
	static const char sql_firing[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE tenant = ?2 AND status = 0 "
	                                 "AND updated >= ?1 ORDER BY updated DESC, seq DESC";
	static const char sql_all[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE tenant = ?2 AND updated >= ?1 "
	                              "ORDER BY updated DESC, seq DESC";

	return alerts_list(s, all ? sql_all : sql_firing, since, tenant, cb, arg);
}

/* See store.h. */
int sw_store_alerts_count(struct sw_store *s, int64_t by_sev[SW_SEV_CRITICAL + 1])
{
	/* A covering index scan of alerts_status_severity (migration 18). */
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "SELECT severity, count(*) FROM alerts WHERE status = 0 GROUP BY severity", &st);

	if (r < 0)
		return r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t sev = sqlite3_column_int64(st, 0);
		if (sev >= SW_SEV_INFO && sev <= SW_SEV_CRITICAL)
			by_sev[sev] += sqlite3_column_int64(st, 1);
	}
	r = r == SQLITE_DONE ? 0 : sw_store_check(s, r);
	sw_store_stmt_done(st);
	return r;
}

/* Hand each (text, integer, count) row of a GROUP BY query to cb. */
static int store_tally(struct sw_store *s, const char *sql, const char *what, sw_tally_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	r = sw_store_prepare(s, sql, &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		r = cb(name ? name : "", sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, what);
	sqlite3_finalize(st);
	return r < 0 ? r : 0;
}

/* See store.h. */
int sw_store_alerts_tally(struct sw_store *s, sw_tally_cb cb, void *arg)
{
	return store_tally(s, "SELECT rule, status, count(*) FROM alerts GROUP BY rule, status", "alert counts", cb,
	                   arg);
}

/* See store.h. */
int sw_store_outbox_tally(struct sw_store *s, sw_tally_cb cb, void *arg)
{
	return store_tally(s, "SELECT sink, state, count(*) FROM outbox GROUP BY sink, state", "outbox counts", cb,
	                   arg);
}

/* The stored evidence of a row as compact JSON text of an object, for
 * sw_store_alerts_list_text().  What the store wrote (jansson's compact
 * dump) passes sw_json_compact_object() and goes out as stored: one pass
 * over it, where SQLite's json_valid() and json() were a quarter of a
 * long reply's CPU.  Anything else (a row edited by hand) goes through
 * SQLite's JSON parser as before: not an object gives "{}", as
 * alert_from_row() drops it, and json() removes white space, where a
 * newline would end the reply line; then "{}" where jansson would not
 * have loaded it, bytes that are not UTF-8 or a "\u0000" (SQLite accepts
 * both).  Numbers beyond jansson's range are not looked for: this guards
 * against hand edits, not forgeries.  *slow: a copy to free after the
 * call, or NULL. */
static const char *alert_evidence_text(struct sw_store *s, sqlite3_stmt *st, int i, char **slow)
{
	static const char sql[] = "SELECT CASE WHEN json_valid(?1) AND json_type(?1) = 'object' THEN json(?1) END";
	const char *text = (const char *)sqlite3_column_text(st, i), *t;
	sqlite3_stmt *js = NULL;

	*slow = NULL;
	if (text == NULL)
		return "{}";
	if (sw_json_compact_object(text))
		return text;
	if (sw_store_cached(s, sql, &js) < 0)
		return "{}";
	sqlite3_bind_text(js, 1, text, -1, SQLITE_STATIC);
	if (sqlite3_step(js) == SQLITE_ROW && (t = (const char *)sqlite3_column_text(js, 0)) != NULL &&
	    sw_utf8_valid(t) && strstr(t, "\\u0000") == NULL)
		*slow = strdup(t);
	sw_store_stmt_done(js);
	return *slow != NULL ? *slow : "{}";
}

/* See store.h. */
int sw_store_alerts_page_text(struct sw_store *s, const struct sw_alert_page *pg, sw_alert_text_cb cb, void *arg,
                              bool *more)
{
	/* The cursor is a row value on the order itself, (updated, seq): the
	 * range starts in the index (alerts_status or alerts_updated, both
	 * ending in the rowid seq), so a page costs its own rows, never the
	 * rows before it as OFFSET would. */
	static const char sql_firing[] = "SELECT " ALERT_COLUMNS " FROM alerts "
	                                 "WHERE status = 0 AND updated >= ?1 AND (updated, seq) < (?2, ?3) "
	                                 "ORDER BY updated DESC, seq DESC LIMIT ?4";
	static const char sql_all[] = "SELECT " ALERT_COLUMNS " FROM alerts "
	                              "WHERE updated >= ?1 AND (updated, seq) < (?2, ?3) "
	                              "ORDER BY updated DESC, seq DESC LIMIT ?4";
	static const char sql_cursor[] = "SELECT updated, seq FROM alerts WHERE id = ?1";
	int64_t after_updated = INT64_MAX, after_seq = INT64_MAX, listed = 0;
	struct sw_alert a;
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (more != NULL)
		*more = false;
	const char *at = pg->after != NULL ? strchr(pg->after, '@') : NULL;
	if (at != NULL) {
		/* ID@UPDATED.SEQ: where the cursor's alert stood when its page was
		 * listed, whatever happened to it since. */
		long long u, q;
		int used = 0;
		if (at == pg->after || sscanf(at + 1, "%lld.%lld%n", &u, &q, &used) != 2 || at[1 + used] != '\0' ||
		    !isdigit((unsigned char)at[1]) || q <= 0)
			return -EINVAL;
		after_updated = u;
		after_seq = q;
	} else if (pg->after != NULL) {
		rc = sqlite3_prepare_v2(s->db, sql_cursor, -1, &st, NULL);
		if (rc != SQLITE_OK)
			return sw_store_fail(s, rc, "alert list");
		sqlite3_bind_text(st, 1, pg->after, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			after_updated = sqlite3_column_int64(st, 0);
			after_seq = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc == SQLITE_DONE)
			return -ENOENT;
		if (rc != SQLITE_ROW)
			return sw_store_fail(s, rc, "alert list");
	}
	/* Kept prepared (parsing it was a tenth of a long reply's CPU), so cb
	 * must not list alerts itself. */
	r = sw_store_cached(s, pg->all ? sql_all : sql_firing, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, pg->since > 0 ? pg->since : INT64_MIN);
	sqlite3_bind_int64(st, 2, after_updated);
	sqlite3_bind_int64(st, 3, after_seq);
	/* One row past the page tells whether more remain. */
	sqlite3_bind_int64(st, 4, pg->limit > 0 ? pg->limit + 1 : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pg->limit > 0 && listed == pg->limit) {
			if (more != NULL)
				*more = true;
			rc = SQLITE_DONE;
			break;
		}
		listed++;
		char *slow = NULL;
		r = alert_fields_from_row(st, &a);
		if (r == 0)
			r = cb(&a, alert_evidence_text(s, st, 14, &slow), arg);
		free(slow);
		sw_alert_clear(&a);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "alert list");
	sw_store_stmt_done(st);
	return r;
}

/* See store.h. */
void sw_alert_page_cursor(const struct sw_alert *a, char *buf, size_t n)
{
	snprintf(buf, n, "%s@%lld.%lld", a->id, (long long)a->updated, (long long)a->seq);
}

/* See store.h. */
int sw_store_alerts_list_text(struct sw_store *s, bool all, int64_t since, sw_alert_text_cb cb, void *arg)
{
	const struct sw_alert_page pg = {.all = all, .since = since};

	return sw_store_alerts_page_text(s, &pg, cb, arg, NULL);
}

/* See store.h. */
int sw_store_alerts_firing(struct sw_store *s, const char *rule, const char *tenant, sw_alert_cb cb, void *arg)
{
	/* Kept prepared: the state rules ask it for several rules of a
	 * tenant after every source run, and parsing it was most of an idle
	 * run's SQLite time. */
	static const char sql[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE rule = ?1 AND tenant = ?2 "
	                          "AND status = 0 ORDER BY seq";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
	r = alerts_iterate(s, st, cb, arg);
	stmt_done(st);
	return r;
}

/* See store.h. */
int sw_store_alerts_firing_subject(struct sw_store *s, const char *rule, const char *subject, sw_alert_cb cb,
                                   void *arg)
{
	static const char sql[] = "SELECT " ALERT_COLUMNS " FROM alerts WHERE rule = ?1 AND subject = ?2 "
	                          "AND status = 0 ORDER BY seq";
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sw_store_fail(s, rc, "alert list");
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	r = alerts_iterate(s, st, cb, arg);
	sqlite3_finalize(st);
	return r;
}

/* See store.h. */
void sw_outbox_item_clear(struct sw_outbox_item *it)
{
	if (it == NULL)
		return;
	free(it->sink);
	free(it->body);
	memset(it, 0, sizeof(*it));
}

/* See store.h. */
int sw_store_outbox_queue(struct sw_store *s, const struct sw_outbox_new *n, const char *const *sinks,
                          size_t n_sinks, int64_t now)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_BODY_ADD];
	int64_t body_id;
	int r;

	if (n == NULL || n->alert_id == NULL || n->body == NULL)
		return -EINVAL;
	for (size_t i = 0; i < n_sinks; i++)
		if (sinks[i] == NULL)
			return -EINVAL;
	if (n_sinks == 0)
		return 0;
	bind_text(st, 1, n->body);
	bind_text(st, 2, n->severity);
	bind_text(st, 3, n->tenant_id);
	bind_text(st, 4, n->first_seen);
	bind_text(st, 5, n->last_seen);
	sqlite3_bind_int(st, 6, n->meta);
	if ((r = stmt_exec(s, st, "outbox body")) < 0)
		return r;
	body_id = sqlite3_last_insert_rowid(s->db);
	st = s->st[ST_OUTBOX_ADD];
	for (size_t i = 0; r >= 0 && i < n_sinks; i++) {
		bind_text(st, 1, n->alert_id);
		sqlite3_bind_int(st, 2, n->transition);
		bind_text(st, 3, sinks[i]);
		sqlite3_bind_int64(st, 4, body_id);
		sqlite3_bind_int64(st, 5, now);
		bind_text(st, 6, n->rule);
		bind_text(st, 7, n->tenant);
		r = stmt_exec(s, st, "outbox add");
	}
	return r;
}

/* See store.h. */
int sw_store_outbox_add(struct sw_store *s, const char *alert_id, int transition, const char *sink,
                        const char *body, int64_t now)
{
	struct sw_outbox_new n = {.alert_id = alert_id, .transition = transition, .body = body};

	if (sink == NULL)
		return -EINVAL;
	return sw_store_outbox_queue(s, &n, &sink, 1, now);
}

/* See store.h. */
int sw_store_outbox_next(struct sw_store *s, const char *sink, int64_t now, struct sw_outbox_item *ret)
{
	return sw_store_outbox_next_except(s, sink, now, NULL, ret);
}

/* See store.h. */
int sw_store_outbox_next_except(struct sw_store *s, const char *sink, int64_t now, const char *skip,
                                struct sw_outbox_item *ret)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_NEXT];
	struct sw_outbox_item it = {0};
	bool oom = false;
	int rc, r = 0;

	bind_text(st, 1, sink);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, skip);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		it.id = sqlite3_column_int64(st, 0);
		column_copy(st, 1, it.alert_id, sizeof(it.alert_id));
		it.transition = sqlite3_column_int(st, 2);
		it.sink = column_strdup(st, 3, &oom);
		it.body = column_strdup(st, 4, &oom);
		it.attempts = sqlite3_column_int(st, 5);
		it.created = sqlite3_column_int64(st, 6);
		it.next_attempt = sqlite3_column_int64(st, 7);
		if (oom) {
			sw_outbox_item_clear(&it);
			r = -ENOMEM;
		}
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sw_store_fail(s, rc, "outbox next");
	}
	stmt_done(st);
	if (r == 0)
		*ret = it;
	return r;
}

/* See store.h. */
int sw_store_outbox_next_due(struct sw_store *s, const char *sink, int64_t *ret)
{
	return sw_store_outbox_next_due_except(s, sink, NULL, ret);
}

/* See store.h. */
int sw_store_outbox_next_due_except(struct sw_store *s, const char *sink, const char *skip, int64_t *ret)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_NEXT_DUE];
	int64_t due = 0;
	int rc, r = 0;

	bind_text(st, 1, sink);
	bind_text(st, 3, skip);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		due = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sw_store_fail(s, rc, "outbox next due");
	stmt_done(st);
	if (r == 0)
		*ret = due;
	return r;
}

/* Apply one outcome to a pending outbox row, then to its sink's counters.
 * -ENOENT when the row is not pending (already delivered or dead). */
static int outbox_finish(struct sw_store *s, int which, int64_t id, int64_t t, const char *error, bool dead)
{
	sqlite3_stmt *st = s->st[which];
	char *sink = NULL;
	bool oom = false;
	int rc, r = 0;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, t);
	if (which != ST_OUTBOX_DELIVERED)
		bind_text(st, 3, error ? error : "");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sink = column_strdup(st, 0, &oom);
		if (oom)
			r = -ENOMEM;
		/* Run RETURNING statements to completion before reset. */
		rc = sqlite3_step(st);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "outbox update");
	stmt_done(st);
	if (r < 0)
		goto fail;
	if (sink == NULL) {
		store_set_error(s, "outbox item %lld is not pending", (long long)id);
		r = -ENOENT;
		goto fail;
	}
	if (which == ST_OUTBOX_DELIVERED) {
		st = s->st[ST_SINK_SUCCESS];
		bind_text(st, 1, sink);
		sqlite3_bind_int64(st, 2, t);
	} else {
		st = s->st[ST_SINK_FAILURE];
		bind_text(st, 1, sink);
		sqlite3_bind_int(st, 2, dead ? 1 : 0);
		bind_text(st, 3, error ? error : "");
	}
	r = stmt_exec(s, st, "sink stats");
fail:
	free(sink);
	return r;
}

/* See store.h. */
int sw_store_outbox_delivered(struct sw_store *s, int64_t id, int64_t now)
{
	return outbox_finish(s, ST_OUTBOX_DELIVERED, id, now, NULL, false);
}

/* See store.h. */
int sw_store_outbox_retry(struct sw_store *s, int64_t id, int64_t next_attempt, const char *error)
{
	return outbox_finish(s, ST_OUTBOX_RETRY, id, next_attempt, error, false);
}

/* See store.h. */
int sw_store_outbox_dead(struct sw_store *s, int64_t id, int64_t now, const char *error)
{
	return outbox_finish(s, ST_OUTBOX_DEAD, id, now, error, true);
}

/* See store.h. */
int sw_store_outbox_shift(struct sw_store *s, int64_t by, int64_t *ret_n)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "UPDATE outbox SET next_attempt = next_attempt + ?1 WHERE state = 0", &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, by);
	r = sw_store_check(s, sqlite3_step(st));
	if (r >= 0 && ret_n != NULL)
		*ret_n = sqlite3_changes64(s->db);
	sqlite3_finalize(st);
	return r;
}

/* See store.h. */
int sw_store_outbox_stats(struct sw_store *s, const char *sink, struct sw_outbox_stats *ret)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_QUEUED];
	struct sw_outbox_stats o = {0};
	int rc, r = 0;

	/* Pending rows are few and indexed; the rest are counters. */
	bind_text(st, 1, sink);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		o.queued = sqlite3_column_int64(st, 0);
	else
		r = sw_store_fail(s, rc, "outbox stats");
	stmt_done(st);
	if (r < 0)
		return r;
	st = s->st[ST_SINK_STATS_GET];
	bind_text(st, 1, sink);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		o.delivered = sqlite3_column_int64(st, 0);
		o.dead = sqlite3_column_int64(st, 1);
		o.failed_attempts = sqlite3_column_int64(st, 2);
		o.last_success = sqlite3_column_int64(st, 3);
		column_copy(st, 4, o.last_error, sizeof(o.last_error));
	} else if (rc != SQLITE_DONE) {
		r = sw_store_fail(s, rc, "outbox stats");
	}
	stmt_done(st);
	if (r == 0)
		*ret = o;
	return r;
}
