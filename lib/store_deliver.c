/* store_deliver.c: the outbox queries of the delivery engine and its
 * digests (store_deliver.h). */
#include "store_deliver.h"
#include "store_int.h"

/* rule and tenant are copied out of the body when a row is queued (the
 * grouping of digests reads them from an index, not from JSON); digest is
 * the outbox id of the digest a row belongs to; members counts a digest
 * row's members (0 for an alert's row). */
const char sw_store_deliver_schema[] =
	"ALTER TABLE outbox ADD COLUMN rule TEXT;"
	"ALTER TABLE outbox ADD COLUMN tenant TEXT;"
	"ALTER TABLE outbox ADD COLUMN digest INTEGER;"
	"ALTER TABLE outbox ADD COLUMN members INTEGER NOT NULL DEFAULT 0;"
	"UPDATE outbox SET rule = json_extract(body, '$.rule'), tenant = json_extract(body, '$.tenant');"
	"CREATE INDEX outbox_group ON outbox (sink, rule, tenant, created);"
	"CREATE INDEX outbox_members ON outbox (digest) WHERE digest IS NOT NULL;";

/* A notification's document is stored once, in outbox_bodies, and every
 * sink's outbox row points at it (body_id).  The body (2.5 KB for an alert
 * with its evidence) filled most of a 4 KB page: a cycle of 3,000 alerts
 * wrote it three times over with three sinks, and marking 1,300 members of
 * a digest as part of it, then as delivered, rewrote 1,300 pages each
 * time; the rows are now about 100 bytes.  Beside the body, what a digest
 * says of all its members (severity, tenant_id, first_seen, last_seen,
 * copied out of the document when it is queued): grouping 1,300 members
 * read them with json_extract, a parse of each body per sink.  Existing
 * bodies keep their row's id as theirs. */
const char sw_store_bodies_schema[] =
	"CREATE TABLE outbox_bodies (id INTEGER PRIMARY KEY, severity TEXT, tenant_id TEXT, first_seen TEXT, "
	"last_seen TEXT, body TEXT NOT NULL);"
	"INSERT INTO outbox_bodies (id, body, severity, tenant_id, first_seen, last_seen) SELECT id, body, "
	"json_extract(body, '$.severity'), json_extract(body, '$.tenant_id'), json_extract(body, '$.first_seen'), "
	"json_extract(body, '$.last_seen') FROM outbox WHERE json_valid(body);"
	"INSERT INTO outbox_bodies (id, body) SELECT id, body FROM outbox WHERE NOT json_valid(body);"
	"ALTER TABLE outbox ADD COLUMN body_id INTEGER;"
	"UPDATE outbox SET body_id = id;"
	"ALTER TABLE outbox DROP COLUMN body;"
	/* The rows that may still join a digest, in id order per group: the
	 * grouping reads these, not every row of the window. */
	"CREATE INDEX outbox_loose ON outbox (sink, rule, tenant) WHERE state = 0 AND digest IS NULL AND members = 0;";

/* A digest row is sealed once taken for sending: until then it takes the
 * later notifications of its group; after, none (a receiver may have its
 * body under its key, even when the daemon died before it heard).  The
 * digests of an older version may have been on the wire. */
const char sw_store_seal_schema[] =
	"ALTER TABLE outbox ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;"
	"UPDATE outbox SET sealed = 1 WHERE members > 0;";

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"

/* The groups of one sink with more than ?3 notifications (digest rows
 * themselves not counted, their members are) queued since ?2, sent or
 * not: the rule and tenant of each. */
static const char sql_groups[] =
	"SELECT rule, tenant FROM outbox WHERE sink = ?1 AND created >= ?2 AND members = 0 "
	"AND rule IS NOT NULL AND tenant IS NOT NULL GROUP BY rule, tenant HAVING count(*) > ?3";
/* A group's rows that may still join a digest: pending, never attempted,
 * due, in no digest, not in flight (?6, a JSON array), and ready (no
 * earlier transition of the alert pending for the sink).  What the digest
 * says of all its members comes from the columns kept beside each body
 * (sw_store_bodies_schema): only the first SW_DIGEST_ALERTS_MAX bodies are
 * parsed, into the document (a cycle with 3,000 alerts spent a tenth of
 * its CPU parsing every member with jansson, then 3 % parsing them with
 * json_extract). */
static const char sql_candidates[] =
	"SELECT o.id, o.body_id, b.severity, b.first_seen, b.last_seen, b.tenant_id "
	"FROM outbox o INDEXED BY outbox_loose JOIN outbox_bodies b ON b.id = o.body_id "
	"WHERE o.sink = ?1 AND o.created >= ?2 AND o.rule = ?3 "
	"AND o.tenant = ?4 AND o.state = 0 AND o.attempts = 0 AND o.digest IS NULL AND o.members = 0 "
	"AND o.next_attempt <= ?5 AND o.id NOT IN (SELECT value FROM json_each(coalesce(?6, '[]'))) "
	"AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.state = 0 AND p.alert_id = o.alert_id "
	"AND p.sink = o.sink AND p.id < o.id) ORDER BY o.id";
static const char sql_insert[] =
	"INSERT INTO outbox (alert_id, transition, sink, state, attempts, created, next_attempt, rule, tenant, "
	"members) VALUES ('digest', 0, ?1, 0, 0, ?2, ?2, ?3, ?4, ?5)";
static const char sql_body_insert[] = "INSERT INTO outbox_bodies (body) VALUES (?1)";
static const char sql_set_body[] = "UPDATE outbox SET alert_id = ?2, body_id = ?3 WHERE id = ?1";
static const char sql_join[] = "UPDATE outbox SET digest = ?1 WHERE id = ?2";
/* The group's digest that may still take members: never taken for
 * sending (not sealed), pending, made within the window, not in flight. */
static const char sql_open[] =
	"SELECT id FROM outbox WHERE sink = ?1 AND rule = ?3 AND tenant = ?4 AND members > 0 AND state = 0 "
	"AND attempts = 0 AND sealed = 0 AND created >= ?2 "
	"AND id NOT IN (SELECT value FROM json_each(coalesce(?5, '[]'))) ORDER BY id DESC LIMIT 1";
/* Its members so far, as sql_candidates reads them. */
static const char sql_members[] =
	"SELECT o.id, o.body_id, b.severity, b.first_seen, b.last_seen, b.tenant_id "
	"FROM outbox o JOIN outbox_bodies b ON b.id = o.body_id WHERE o.digest = ?1 ORDER BY o.id";
static const char sql_grow[] = "UPDATE outbox SET members = ?2 WHERE id = ?1";
static const char sql_grow_body[] =
	"UPDATE outbox_bodies SET body = ?2 WHERE id = (SELECT body_id FROM outbox WHERE id = ?1)";
static const char sql_body[] = "SELECT body FROM outbox_bodies WHERE id = ?1";
static const char sql_seal[] = "UPDATE outbox SET sealed = 1 WHERE id = ?1 AND members > 0";

struct digest_members {
	int64_t *ids;
	size_t n, cap;
	int64_t bodies[SW_DIGEST_ALERTS_MAX]; /* the first members' body ids */
	char *docs[SW_DIGEST_ALERTS_MAX];     /* their documents, by members_docs() */
	size_t n_docs;
	enum sw_severity top;
	bool any_severity;
	char first[32], last[32];
	char *tenant_id;
};

static void members_clear(struct digest_members *m)
{
	for (size_t i = 0; i < m->n_docs; i++)
		free(m->docs[i]);
	free(m->ids);
	free(m->tenant_id);
	memset(m, 0, sizeof(*m));
}

static const char *column_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* Add the candidate row of st (sql_candidates' columns).  Times compare
 * as text: every document writes them in the one form
 * "2026-11-20T08:01:12Z".  A body that is not JSON (none is queued so;
 * its columns are NULL) is counted, and left out of the document by
 * sw_digest_document_meta(). */
static int members_add(struct digest_members *m, sqlite3_stmt *st)
{
	const char *fs = column_text(st, 3), *ls = column_text(st, 4);
	const char *tid = sqlite3_column_type(st, 5) == SQLITE_TEXT ? column_text(st, 5) : NULL;
	enum sw_severity sev;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		int64_t *ids = realloc(m->ids, cap * sizeof(*ids));

		if (ids == NULL)
			return -ENOMEM;
		m->ids = ids;
		m->cap = cap;
	}
	m->ids[m->n++] = sqlite3_column_int64(st, 0);
	if (m->n_docs < SW_DIGEST_ALERTS_MAX)
		m->bodies[m->n_docs++] = sqlite3_column_int64(st, 1);
	if (sqlite3_column_type(st, 2) == SQLITE_TEXT && sw_severity_parse(column_text(st, 2), &sev) == 0 &&
	    (!m->any_severity || sev > m->top)) {
		m->top = sev;
		m->any_severity = true;
	}
	if (m->tenant_id == NULL && tid != NULL && (m->tenant_id = strdup(tid)) == NULL)
		return -ENOMEM;
	if (sqlite3_column_type(st, 3) == SQLITE_TEXT && strlen(fs) < sizeof(m->first) &&
	    (m->first[0] == '\0' || strcmp(fs, m->first) < 0))
		snprintf(m->first, sizeof(m->first), "%s", fs);
	if (sqlite3_column_type(st, 4) == SQLITE_TEXT && strlen(ls) < sizeof(m->last) && strcmp(ls, m->last) > 0)
		snprintf(m->last, sizeof(m->last), "%s", ls);
	return 0;
}

/* Read the documents of m's first members (their bodies were not read
 * with the rest: a digest of 1,300 carries 50). */
static int members_docs(struct sw_store *s, struct digest_members *m)
{
	sqlite3_stmt *st;
	int rc, r;

	if ((r = sw_store_cached(s, sql_body, &st)) < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < m->n_docs; i++) {
		sqlite3_bind_int64(st, 1, m->bodies[i]);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && (m->docs[i] = strdup(column_text(st, 0))) == NULL)
			r = -ENOMEM;
		else if (rc != SQLITE_ROW)
			r = sw_store_fail(s, rc, "outbox digest body");
		sw_store_stmt_done(st);
	}
	return r;
}

/* Write the digest of m for the group: a new row (open 0), or the open
 * digest row open grown, whose members are m's first had; its document
 * is (re)built from all of m, and the members past had point at it. */
static int digest_write(struct sw_store *s, const char *sink, const char *rule, const char *tenant, int64_t now,
                        struct digest_members *m, int64_t open, size_t had)
{
	struct sw_digest_meta meta = {0};
	sqlite3_stmt *st;
	char id[32], *body = NULL;
	int64_t rowid = open;
	int r;

	if (open == 0) {
		if ((r = sw_store_cached(s, sql_insert, &st)) < 0)
			return r;
		sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (int64_t)m->n);
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
		if (r < 0)
			return r;
		rowid = sqlite3_last_insert_rowid(sw_store_sqlite(s));
	}
	snprintf(id, sizeof(id), "digest-%lld", (long long)rowid);
	meta.count = m->n;
	meta.severity = m->any_severity ? sw_severity_name(m->top) : NULL;
	meta.tenant_id = m->tenant_id;
	meta.first_seen = m->first[0] ? m->first : NULL;
	meta.last_seen = m->last[0] ? m->last : NULL;
	r = sw_digest_document_meta(id, rule, tenant, (const char *const *)m->docs, m->n_docs, &meta, &body);
	if (r < 0)
		return r;
	if (open != 0) {
		/* Its body is its own: no other row points at it. */
		if ((r = sw_store_cached(s, sql_grow, &st)) < 0)
			goto out;
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_int64(st, 2, (int64_t)m->n);
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
		if (r < 0 || (r = sw_store_cached(s, sql_grow_body, &st)) < 0)
			goto out;
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
	} else {
		if ((r = sw_store_cached(s, sql_body_insert, &st)) < 0)
			goto out;
		sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC);
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
		if (r < 0 || (r = sw_store_cached(s, sql_set_body, &st)) < 0)
			goto out;
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, sqlite3_last_insert_rowid(sw_store_sqlite(s)));
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
	}
	if (r < 0 || (r = sw_store_cached(s, sql_join, &st)) < 0)
		goto out;
	for (size_t i = had; r >= 0 && i < m->n; i++) {
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_int64(st, 2, m->ids[i]);
		r = sw_store_check(s, sqlite3_step(st));
		sw_store_stmt_done(st);
	}
out:
	free(body);
	return r;
}

/* The group's open digest (sql_open), 0 when none: *ret. */
static int digest_open(struct sw_store *s, const char *sink, const char *rule, const char *tenant, int64_t since,
                       const char *skip, int64_t *ret)
{
	sqlite3_stmt *st;
	int rc, r;

	*ret = 0;
	if ((r = sw_store_cached(s, sql_open, &st)) < 0)
		return r;
	sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_text(st, 3, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
	if (skip != NULL)
		sqlite3_bind_text(st, 5, skip, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sw_store_fail(s, rc, "outbox open digest");
	sw_store_stmt_done(st);
	return r;
}

/* Add the rows of st (stepped to the end) to m. */
static int members_read(struct sw_store *s, sqlite3_stmt *st, struct digest_members *m, const char *what)
{
	int rc, r = 0;

	while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = members_add(m, st);
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, what);
	sw_store_stmt_done(st);
	return r;
}

/* One group of sw_store_outbox_digest(): its candidates join the open
 * digest (*ret_grown), or become a new one when two or more (*ret_made). */
static int digest_group(struct sw_store *s, const char *sink, const char *rule, const char *tenant, int64_t now,
                        int64_t window, const char *skip, int *ret_made, int *ret_grown)
{
	struct digest_members m = {0};
	sqlite3_stmt *st;
	int64_t open;
	size_t had = 0;
	int r;

	r = digest_open(s, sink, rule, tenant, now - window, skip, &open);
	if (r >= 0 && open != 0 && (r = sw_store_cached(s, sql_members, &st)) >= 0) {
		sqlite3_bind_int64(st, 1, open);
		r = members_read(s, st, &m, "outbox digest members");
		had = m.n;
	}
	if (r >= 0 && (r = sw_store_cached(s, sql_candidates, &st)) >= 0) {
		sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now - window);
		sqlite3_bind_text(st, 3, rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		if (skip != NULL)
			sqlite3_bind_text(st, 6, skip, -1, SQLITE_STATIC);
		r = members_read(s, st, &m, "outbox digest candidates");
	}
	/* One alert alone goes as it is; an open digest takes even one. */
	if (r >= 0 && m.n > had && (open != 0 || m.n > 1)) {
		r = members_docs(s, &m);
		if (r >= 0)
			r = digest_write(s, sink, rule, tenant, now, &m, open, had);
		if (r >= 0)
			++*(open != 0 ? ret_grown : ret_made);
	}
	members_clear(&m);
	return r;
}

/* See store_deliver.h. */
int sw_store_outbox_digest(struct sw_store *s, const char *sink, int64_t now, int64_t after, int64_t window,
                           const char *skip, int *ret_made, int *ret_grown)
{
	sqlite3_stmt *groups = NULL;
	int made = 0, grown = 0, rc, r;

	if (sink == NULL || after <= 0)
		return -EINVAL;
	/* Prepared apart: the groups are read while digests are written. */
	r = sw_store_prepare(s, sql_groups, &groups);
	if (r < 0)
		return r;
	sqlite3_bind_text(groups, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(groups, 2, now - window);
	sqlite3_bind_int64(groups, 3, after);
	while (r >= 0 && (rc = sqlite3_step(groups)) == SQLITE_ROW) {
		char *rule = strdup((const char *)sqlite3_column_text(groups, 0));
		char *tenant = strdup((const char *)sqlite3_column_text(groups, 1));

		if (rule == NULL || tenant == NULL)
			r = -ENOMEM;
		else
			r = digest_group(s, sink, rule, tenant, now, window, skip, &made, &grown);
		free(rule);
		free(tenant);
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_fail(s, rc, "outbox digest groups");
	sqlite3_finalize(groups);
	if (r >= 0 && ret_made != NULL)
		*ret_made = made;
	if (r >= 0 && ret_grown != NULL)
		*ret_grown = grown;
	return r < 0 ? r : 0;
}

/* See store_deliver.h. */
int sw_store_outbox_seal(struct sw_store *s, int64_t id)
{
	sqlite3_stmt *st;
	int r;

	if ((r = sw_store_cached(s, sql_seal, &st)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

static const char sql_members_done[] =
	"UPDATE outbox SET state = ?2, done_at = ?3, last_error = ?4 WHERE digest = ?1 AND state = 0";
/* The digest row counted one itself; its members are the notifications. */
static const char sql_members_stats[] =
	"UPDATE sink_stats SET delivered = delivered + CASE WHEN ?3 = 1 THEN ?2 - 1 ELSE 0 END, "
	"dead = dead + CASE WHEN ?3 = 2 THEN ?2 - 1 ELSE 0 END WHERE sink = ?1";

/* See store_deliver.h. */
int sw_store_outbox_digest_done(struct sw_store *s, int64_t digest, const char *sink, bool dead, int64_t now,
                                const char *error)
{
	sqlite3_stmt *st;
	int64_t n;
	int r;

	if ((r = sw_store_cached(s, sql_members_done, &st)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, digest);
	sqlite3_bind_int(st, 2, dead ? 2 : 1);
	sqlite3_bind_int64(st, 3, now);
	if (error != NULL)
		sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	if (r < 0)
		return r;
	n = sqlite3_changes(sw_store_sqlite(s));
	if (n <= 0 || (r = sw_store_cached(s, sql_members_stats, &st)) < 0)
		return r;
	sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, n);
	sqlite3_bind_int(st, 3, dead ? 2 : 1);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}
