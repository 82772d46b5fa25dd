/* store_exo.c: the Exchange tables (see store_exo.h). */
#include "store_exo.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char sw_store_exo_schema[] =
	"CREATE TABLE tenant_state(tenant TEXT PRIMARY KEY, observed INTEGER, smtp_disabled INTEGER,"
	" default_policy TEXT, policy_allows_basic INTEGER);"
	"CREATE TABLE mailboxes(tenant TEXT NOT NULL, address TEXT NOT NULL, identity TEXT, object_id TEXT,"
	" smtp_disabled INTEGER NOT NULL, first_seen INTEGER, last_seen INTEGER, snapshot INTEGER,"
	" removed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tenant, address)) WITHOUT ROWID;"
	"CREATE INDEX mailboxes_enabled ON mailboxes(tenant, smtp_disabled, removed);"
	"CREATE TABLE mailbox_changes(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, address TEXT NOT NULL,"
	" field TEXT NOT NULL, old_value TEXT, new_value TEXT, at INTEGER NOT NULL);"
	"CREATE INDEX mailbox_changes_addr ON mailbox_changes(tenant, address, at);";

/* Record one change. */
static int add_change(struct sw_store *s, const char *tenant, const char *address, const char *field,
                      const char *old_value, const char *new_value, int64_t at)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "INSERT INTO mailbox_changes(tenant, address, field, old_value, new_value, at)"
	                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, old_value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, new_value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, at);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_exo.h. */
int sw_store_tenant_state_get(struct sw_store *s, const char *tenant, struct sw_tenant_state *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, "SELECT observed, smtp_disabled, default_policy, policy_allows_basic FROM tenant_state"
	                " WHERE tenant = ?1", &st);

	memset(ret, 0, sizeof(*ret));
	ret->policy_allows_basic = true;
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->observed = sqlite3_column_int64(st, 0);
		ret->smtp_disabled = sqlite3_column_int(st, 1) != 0;
		const char *p = (const char *)sqlite3_column_text(st, 2);
		snprintf(ret->default_policy, sizeof(ret->default_policy), "%s", p ? p : "");
		ret->policy_allows_basic = sqlite3_column_int(st, 3) != 0;
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_exo.h. */
int sw_store_tenant_state_put(struct sw_store *s, const char *tenant, const struct sw_tenant_state *stt, int64_t now)
{
	struct sw_tenant_state prev;
	sqlite3_stmt *st = NULL;
	int r = sw_store_tenant_state_get(s, tenant, &prev);

	if (r == 0 && prev.smtp_disabled != stt->smtp_disabled)
		r = add_change(s, tenant, "", "tenant:SmtpClientAuthenticationDisabled",
		               prev.smtp_disabled ? "true" : "false", stt->smtp_disabled ? "true" : "false", now);
	if (r == 0 && (strcmp(prev.default_policy, stt->default_policy) != 0 ||
	               prev.policy_allows_basic != stt->policy_allows_basic)) {
		char a[160], b[160];
		snprintf(a, sizeof(a), "%s (AllowBasicAuthSmtp %s)", prev.default_policy[0] ? prev.default_policy : "none",
		         prev.policy_allows_basic ? "true" : "false");
		snprintf(b, sizeof(b), "%s (AllowBasicAuthSmtp %s)", stt->default_policy[0] ? stt->default_policy : "none",
		         stt->policy_allows_basic ? "true" : "false");
		r = add_change(s, tenant, "", "tenant:DefaultAuthenticationPolicy", a, b, now);
	}
	if (r < 0 && r != -ENOENT)
		return r;
	r = sw_store_cached(s, "INSERT OR REPLACE INTO tenant_state(tenant, observed, smtp_disabled, default_policy,"
	            " policy_allows_basic) VALUES (?1, ?2, ?3, ?4, ?5)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, stt->observed);
	sqlite3_bind_int(st, 3, stt->smtp_disabled);
	sqlite3_bind_text(st, 4, stt->default_policy, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, stt->policy_allows_basic);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_exo.h. */
int sw_store_mailboxes_put(struct sw_store *s, const char *tenant, const struct sw_mailbox *items, size_t n,
                           int64_t snapshot, bool record_new, size_t *ret_changed)
{
	sqlite3_stmt *sel = NULL, *ins = NULL, *upd = NULL, *seen = NULL;
	size_t changed = 0;
	int r;

	r = sw_store_cached(s, "SELECT smtp_disabled, removed, identity IS ?3, object_id IS ?4 FROM mailboxes"
	                    " WHERE tenant = ?1 AND address = ?2", &sel);
	if (r >= 0)
		r = sw_store_cached(s, "INSERT OR REPLACE INTO temp.mailbox_seen(tenant, address, snapshot) VALUES (?1, ?2, ?3)",
		                    &seen);
	if (r >= 0)
		r = sw_store_cached(s, "INSERT INTO mailboxes(tenant, address, identity, object_id, smtp_disabled, first_seen,"
		            " last_seen, snapshot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)", &ins);
	if (r >= 0)
		r = sw_store_cached(s, "UPDATE mailboxes SET identity = ?3, object_id = ?4, smtp_disabled = ?5, last_seen = ?6,"
		            " snapshot = ?6, removed = 0 WHERE tenant = ?1 AND address = ?2", &upd);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct sw_mailbox *m = &items[i];
		bool same = false;
		sqlite3_reset(sel);
		sqlite3_bind_text(sel, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(sel, 2, m->address, -1, SQLITE_STATIC);
		sqlite3_bind_text(sel, 3, m->identity, -1, SQLITE_STATIC);
		sqlite3_bind_text(sel, 4, m->object_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(sel);
		sqlite3_stmt *w = rc == SQLITE_ROW ? upd : ins;
		if (rc == SQLITE_ROW) {
			enum sw_tristate old = (enum sw_tristate)sqlite3_column_int(sel, 0);
			bool was_removed = sqlite3_column_int(sel, 1) != 0;
			same = !was_removed && old == m->smtp_disabled && sqlite3_column_int(sel, 2) &&
			       sqlite3_column_int(sel, 3);
			if (was_removed) {
				r = add_change(s, tenant, m->address, "mailbox", "removed", "present", snapshot);
				changed++;
			}
			if (r >= 0 && old != m->smtp_disabled) {
				r = add_change(s, tenant, m->address, "SmtpClientAuthenticationDisabled",
				               sw_tristate_name(old), sw_tristate_name(m->smtp_disabled), snapshot);
				changed++;
			}
		} else if (rc == SQLITE_DONE) {
			if (record_new) {
				r = add_change(s, tenant, m->address, "mailbox", "absent", "present", snapshot);
				if (r >= 0 && m->smtp_disabled != SW_TRI_NULL)
					r = add_change(s, tenant, m->address, "SmtpClientAuthenticationDisabled", "null",
					               sw_tristate_name(m->smtp_disabled), snapshot);
				changed++;
			}
		} else {
			r = sw_store_check(s, rc);
		}
		sqlite3_reset(sel);
		if (r < 0)
			break;
		/* Seen in this snapshot, for the sweep; a mailbox as it was is
		 * not written again (every snapshot rewrote every row: a large
		 * tenant's whole table through the WAL every Exchange run). */
		sqlite3_reset(seen);
		sqlite3_bind_text(seen, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(seen, 2, m->address, -1, SQLITE_STATIC);
		sqlite3_bind_int64(seen, 3, snapshot);
		r = sw_store_check(s, sqlite3_step(seen));
		if (r < 0 || same)
			continue;
		sqlite3_reset(w);
		sqlite3_bind_text(w, 1, tenant, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 2, m->address, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 3, m->identity, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 4, m->object_id, -1, SQLITE_STATIC);
		sqlite3_bind_int(w, 5, (int)m->smtp_disabled);
		sqlite3_bind_int64(w, 6, snapshot);
		r = sw_store_check(s, sqlite3_step(w));
	}
	sw_store_stmt_done(sel);
	sw_store_stmt_done(seen);
	sw_store_stmt_done(ins);
	sw_store_stmt_done(upd);
	if (r >= 0 && ret_changed != NULL)
		*ret_changed = changed;
	return r;
}

/* A mailbox of m the snapshot ?2 did not see (temp.mailbox_seen). */
#define NOT_SEEN                                                                                                  \
	"NOT EXISTS (SELECT 1 FROM temp.mailbox_seen AS v WHERE v.tenant = m.tenant AND v.address = m.address"  \
	" AND v.snapshot = ?2)"

/* See store_exo.h. */
int sw_store_mailboxes_sweep(struct sw_store *s, const char *tenant, int64_t snapshot, size_t *ret_removed)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = sw_store_cached(s, "INSERT INTO mailbox_changes(tenant, address, field, old_value, new_value, at)"
	            " SELECT tenant, address, 'mailbox', 'present', 'removed', ?2 FROM mailboxes m"
	            " WHERE tenant = ?1 AND removed = 0 AND " NOT_SEEN, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, snapshot);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	if (r < 0)
		return r;
	r = sw_store_cached(s, "UPDATE mailboxes AS m SET removed = 1 WHERE tenant = ?1 AND removed = 0 AND " NOT_SEEN,
	                    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, snapshot);
	r = sw_store_check(s, sqlite3_step(st));
	if (r >= 0 && ret_removed != NULL)
		*ret_removed = (size_t)sqlite3_changes(sw_store_sqlite(s));
	sw_store_stmt_done(st);
	/* The snapshot is swept: what it (and any run given up before it)
	 * saw of the tenant is no longer needed. */
	if (r >= 0)
		r = sw_store_cached(s, "DELETE FROM temp.mailbox_seen WHERE tenant = ?1", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* Fill a row from a statement selecting the mailbox columns in order. */
static void mailbox_row(sqlite3_stmt *st, struct sw_mailbox_row *m)
{
	const char *p;

	memset(m, 0, sizeof(*m));
	p = (const char *)sqlite3_column_text(st, 0);
	snprintf(m->address, sizeof(m->address), "%s", p ? p : "");
	p = (const char *)sqlite3_column_text(st, 1);
	snprintf(m->identity, sizeof(m->identity), "%s", p ? p : "");
	p = (const char *)sqlite3_column_text(st, 2);
	snprintf(m->object_id, sizeof(m->object_id), "%s", p ? p : "");
	m->smtp_disabled = (enum sw_tristate)sqlite3_column_int(st, 3);
	m->first_seen = sqlite3_column_int64(st, 4);
	m->last_seen = sqlite3_column_int64(st, 5);
	m->removed = sqlite3_column_int(st, 6) != 0;
}

#define MAILBOX_COLUMNS "address, identity, object_id, smtp_disabled, first_seen, last_seen, removed"

/* See store_exo.h. */
int sw_store_mailbox_get(struct sw_store *s, const char *tenant, const char *address, struct sw_mailbox_row *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, "SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE tenant = ?1 AND address = ?2", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		mailbox_row(st, ret);
	r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_exo.h. */
int sw_store_mailboxes_enabled(struct sw_store *s, const char *tenant, sw_mailbox_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_mailbox_row m;
	int r = sw_store_cached(s, "SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE tenant = ?1 AND smtp_disabled = 0"
	                " AND removed = 0 ORDER BY address", &st);
	int rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mailbox_row(st, &m);
		r = cb(&m, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_check(s, rc);
	sw_store_stmt_done(st);
	return r;
}

/* See store_exo.h. */
int sw_store_mailboxes_switched_on(struct sw_store *s, const char *tenant, bool tenant_disabled, int64_t limit,
                                   sw_mailbox_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_mailbox_row m;
	int r = sw_store_prepare(s, "SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE tenant = ?1 AND removed = 0 AND"
	                " (smtp_disabled = 0 OR (smtp_disabled = -1 AND ?2 = 0)) ORDER BY address LIMIT ?3", &st);
	int rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, tenant_disabled);
	sqlite3_bind_int64(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mailbox_row(st, &m);
		r = cb(&m, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_exo.h. */
int sw_store_mailbox_changes(struct sw_store *s, const char *tenant, const char *address, int limit,
                             sw_change_cb cb, void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_mailbox_change c;
	int r = sw_store_prepare(s, "SELECT at, field, old_value, new_value FROM mailbox_changes WHERE tenant = ?1"
	                " AND address = ?2 ORDER BY at DESC, id DESC LIMIT ?3", &st);
	int rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p;
		memset(&c, 0, sizeof(c));
		c.at = sqlite3_column_int64(st, 0);
		p = (const char *)sqlite3_column_text(st, 1);
		snprintf(c.field, sizeof(c.field), "%s", p ? p : "");
		p = (const char *)sqlite3_column_text(st, 2);
		snprintf(c.old_value, sizeof(c.old_value), "%s", p ? p : "");
		p = (const char *)sqlite3_column_text(st, 3);
		snprintf(c.new_value, sizeof(c.new_value), "%s", p ? p : "");
		r = cb(&c, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}

/* See store_exo.h. */
int sw_store_last_signin(struct sw_store *s, const char *tenant, const char *upn, bool success_only, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_prepare(s, success_only ? "SELECT MAX(created) FROM signins WHERE tenant = ?1 AND upn = ?2 AND error_code = 0"
	                             : "SELECT MAX(created) FROM signins WHERE tenant = ?1 AND upn = ?2", &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = sw_store_check(s, rc);
	}
	sqlite3_finalize(st);
	return r;
}

/* See store_exo.h. */
int sw_store_signins_recent(struct sw_store *s, const char *tenant, const char *upn, int limit, sw_signin_brief_cb cb,
                            void *arg)
{
	sqlite3_stmt *st = NULL;
	struct sw_signin_brief b;
	int r = sw_store_prepare(s, "SELECT created, id, ip, country, error_code, failure_reason FROM signins"
	                " WHERE tenant = ?1 AND upn = ?2 ORDER BY created DESC LIMIT ?3", &st);
	int rc;

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, upn, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p;
		memset(&b, 0, sizeof(b));
		b.created = sqlite3_column_int64(st, 0);
		p = (const char *)sqlite3_column_text(st, 1);
		snprintf(b.id, sizeof(b.id), "%s", p ? p : "");
		p = (const char *)sqlite3_column_text(st, 2);
		snprintf(b.ip, sizeof(b.ip), "%s", p ? p : "");
		p = (const char *)sqlite3_column_text(st, 3);
		snprintf(b.country, sizeof(b.country), "%s", p ? p : "");
		b.error_code = sqlite3_column_int(st, 4);
		p = (const char *)sqlite3_column_text(st, 5);
		snprintf(b.failure_reason, sizeof(b.failure_reason), "%s", p ? p : "");
		r = cb(&b, arg);
		if (r < 0)
			break;
	}
	if (r >= 0 && rc != SQLITE_DONE)
		r = sw_store_check(s, rc);
	sqlite3_finalize(st);
	return r;
}
