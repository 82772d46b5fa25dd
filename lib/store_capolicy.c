/* store_capolicy.c: the policy layers' tables (see store_capolicy.h). */
#include "store_capolicy.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capolicy.h"

const char sw_store_capolicy_schema[] =
	"CREATE TABLE policy_state(tenant TEXT PRIMARY KEY, observed INTEGER NOT NULL, ca_known INTEGER NOT NULL,"
	" policies TEXT, security_defaults INTEGER, error TEXT);"
	"CREATE TABLE policy_groups(tenant TEXT NOT NULL, group_id TEXT NOT NULL, complete INTEGER NOT NULL,"
	" snapshot INTEGER NOT NULL, PRIMARY KEY(tenant, group_id)) WITHOUT ROWID;"
	"CREATE TABLE group_members(tenant TEXT NOT NULL, group_id TEXT NOT NULL, user_id TEXT NOT NULL,"
	" snapshot INTEGER NOT NULL, PRIMARY KEY(tenant, group_id, user_id)) WITHOUT ROWID;"
	"CREATE TABLE user_policies(tenant TEXT NOT NULL, address TEXT NOT NULL, object_id TEXT, policy TEXT,"
	" snapshot INTEGER NOT NULL, PRIMARY KEY(tenant, address)) WITHOUT ROWID;"
	"CREATE TABLE auth_policies(tenant TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
	" allows_basic INTEGER NOT NULL, snapshot INTEGER NOT NULL, PRIMARY KEY(tenant, name)) WITHOUT ROWID;";

const char sw_store_whatif_schema[] =
	"CREATE TABLE whatif_results(tenant TEXT NOT NULL, user_id TEXT NOT NULL, policy_id TEXT NOT NULL,"
	" applies INTEGER NOT NULL, reasons TEXT, snapshot INTEGER NOT NULL,"
	" PRIMARY KEY(tenant, user_id, policy_id)) WITHOUT ROWID;";

/* Run one write statement: text params (NULL binds NULL) then one int64. */
static int exec(struct sw_store *s, const char *sql, const char *a, const char *b, const char *c, const char *d,
                int64_t n)
{
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	const char *v[] = {a, b, c, d};
	int params = sqlite3_bind_parameter_count(st);
	for (int i = 0; i < 4 && i + 1 < params; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, params, n);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_capolicy.h. */
int sw_store_policy_state_get(struct sw_store *s, const char *tenant, struct sw_policy_state *ret)
{
	static const char sql[] = "SELECT observed, ca_known, policies, security_defaults, error FROM policy_state"
	                          " WHERE tenant = ?1";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	memset(ret, 0, sizeof(*ret));
	ret->security_defaults = SW_UNKNOWN;
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 2);
		const char *err = (const char *)sqlite3_column_text(st, 4);
		ret->observed = sqlite3_column_int64(st, 0);
		ret->ca_known = sqlite3_column_int(st, 1) != 0;
		ret->policies = text ? json_loads(text, 0, NULL) : NULL;
		if (!json_is_array(ret->policies)) {
			json_decref(ret->policies);
			ret->policies = json_array();
			ret->ca_known = ret->ca_known && text == NULL;
		}
		ret->security_defaults = sqlite3_column_type(st, 3) == SQLITE_NULL ? SW_UNKNOWN
		                         : sqlite3_column_int(st, 3)              ? SW_YES
		                                                                  : SW_NO;
		snprintf(ret->error, sizeof(ret->error), "%s", err ? err : "");
		r = ret->policies ? 0 : -ENOMEM;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_capolicy.h. */
void sw_policy_state_clear(struct sw_policy_state *st)
{
	json_decref(st->policies);
	st->policies = NULL;
}

/* See store_capolicy.h. */
int sw_store_policy_state_put(struct sw_store *s, const char *tenant, int64_t observed, bool ca_known,
                              const json_t *policies, int security_defaults, const char *error)
{
	static const char sql[] = "INSERT OR REPLACE INTO policy_state(tenant, observed, ca_known, policies,"
	                          " security_defaults, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st = NULL;
	char *text = policies ? json_dumps(policies, JSON_COMPACT) : NULL;
	int r = policies && text == NULL ? -ENOMEM : sw_store_cached(s, sql, &st);

	if (r < 0) {
		free(text);
		return r;
	}
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, observed);
	sqlite3_bind_int(st, 3, ca_known);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	if (security_defaults == SW_UNKNOWN)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int(st, 5, security_defaults == SW_YES);
	sqlite3_bind_text(st, 6, error && *error ? error : NULL, -1, SQLITE_STATIC);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	free(text);
	return r;
}

/* See store_capolicy.h. */
int sw_store_group_members_add(struct sw_store *s, const char *tenant, const char *group, const json_t *ids,
                               int64_t snapshot)
{
	static const char sql[] = "INSERT OR REPLACE INTO group_members(tenant, group_id, user_id, snapshot)"
	                          " VALUES (?1, ?2, ?3, ?4)";
	size_t i;
	const json_t *v;
	int r = 0;

	json_array_foreach(ids, i, v) {
		r = exec(s, sql, tenant, group, json_string_value(v), NULL, snapshot);
		if (r < 0)
			break;
	}
	return r;
}

/* See store_capolicy.h. */
int sw_store_group_done(struct sw_store *s, const char *tenant, const char *group, bool complete, int64_t snapshot)
{
	static const char del[] = "DELETE FROM group_members WHERE tenant = ?1 AND group_id = ?2 AND snapshot < ?3";
	static const char done[] = "INSERT OR REPLACE INTO policy_groups(tenant, group_id, complete, snapshot)"
	                           " VALUES (?1, ?2, ?3, ?4)";
	int r = complete ? exec(s, del, tenant, group, NULL, NULL, snapshot) : 0;

	if (r < 0)
		return r;
	sqlite3_stmt *st = NULL;
	r = sw_store_cached(s, done, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, complete);
	sqlite3_bind_int64(st, 4, snapshot);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_capolicy.h. */
int sw_store_groups_sweep(struct sw_store *s, const char *tenant, int64_t snapshot)
{
	static const char g[] = "DELETE FROM policy_groups WHERE tenant = ?1 AND snapshot < ?2";
	static const char m[] = "DELETE FROM group_members WHERE tenant = ?1 AND group_id NOT IN"
	                        " (SELECT group_id FROM policy_groups WHERE tenant = ?1) AND ?2 IS NOT NULL";
	int r = exec(s, g, tenant, NULL, NULL, NULL, snapshot);

	return r < 0 ? r : exec(s, m, tenant, NULL, NULL, NULL, snapshot);
}

/* See store_capolicy.h. */
int sw_store_group_member(struct sw_store *s, const char *tenant, const char *group, const char *user_id)
{
	static const char sql[] = "SELECT complete, EXISTS(SELECT 1 FROM group_members m WHERE m.tenant = ?1 AND"
	                          " m.group_id = ?2 AND m.user_id = ?3) FROM policy_groups WHERE tenant = ?1 AND"
	                          " group_id = ?2";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st), ans = SW_UNKNOWN;

	if (r < 0)
		return SW_UNKNOWN;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, user_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) != 0)
		ans = sqlite3_column_int(st, 1) ? SW_YES : SW_NO;
	sw_store_stmt_done(st);
	return ans;
}

/* See store_capolicy.h. */
int sw_store_user_policy_put(struct sw_store *s, const char *tenant, const char *address, const char *object_id,
                             const char *policy, int64_t snapshot)
{
	static const char sql[] = "INSERT OR REPLACE INTO user_policies(tenant, address, object_id, policy, snapshot)"
	                          " VALUES (?1, ?2, ?3, ?4, ?5)";

	return exec(s, sql, tenant, address, object_id, policy, snapshot);
}

/* See store_capolicy.h. */
int sw_store_user_policies_sweep(struct sw_store *s, const char *tenant, int64_t snapshot)
{
	static const char sql[] = "DELETE FROM user_policies WHERE tenant = ?1 AND snapshot < ?2";

	return exec(s, sql, tenant, NULL, NULL, NULL, snapshot);
}

/* See store_capolicy.h. */
int sw_store_user_policy_get(struct sw_store *s, const char *tenant, const char *address, char *object_id,
                             size_t on, char *policy, size_t pn)
{
	static const char sql[] = "SELECT object_id, policy FROM user_policies WHERE tenant = ?1 AND address = ?2";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	object_id[0] = policy[0] = '\0';
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0), *p = (const char *)sqlite3_column_text(st, 1);
		snprintf(object_id, on, "%s", o ? o : "");
		snprintf(policy, pn, "%s", p ? p : "");
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : sw_store_check(s, rc);
	}
	sw_store_stmt_done(st);
	return r;
}

/* See store_capolicy.h. */
int sw_store_auth_policy_put(struct sw_store *s, const char *tenant, const char *name, bool allows_basic,
                             int64_t snapshot)
{
	static const char sql[] = "INSERT OR REPLACE INTO auth_policies(tenant, name, allows_basic, snapshot)"
	                          " VALUES (?1, ?2, ?3, ?4)";

	return exec(s, sql, tenant, name, allows_basic ? "1" : "0", NULL, snapshot);
}

/* See store_capolicy.h. */
int sw_store_auth_policies_sweep(struct sw_store *s, const char *tenant, int64_t snapshot)
{
	static const char sql[] = "DELETE FROM auth_policies WHERE tenant = ?1 AND snapshot < ?2";

	return exec(s, sql, tenant, NULL, NULL, NULL, snapshot);
}

/* See store_capolicy.h. */
int sw_store_auth_policy_allows(struct sw_store *s, const char *tenant, const char *name)
{
	static const char sql[] = "SELECT allows_basic FROM auth_policies WHERE tenant = ?1 AND name = ?2";
	sqlite3_stmt *st = NULL;
	int ans = SW_UNKNOWN;

	if (name == NULL || sw_store_cached(s, sql, &st) < 0)
		return SW_UNKNOWN;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		ans = sqlite3_column_int(st, 0) ? SW_YES : SW_NO;
	sw_store_stmt_done(st);
	return ans;
}

/* See store_capolicy.h. */
int sw_store_whatif_put(struct sw_store *s, const char *tenant, const char *user_id, const char *policy_id,
                        bool applies, const char *reasons, int64_t snapshot)
{
	static const char sql[] = "INSERT OR REPLACE INTO whatif_results(tenant, user_id, policy_id, applies, reasons,"
	                          " snapshot) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st = NULL;
	int r = sw_store_cached(s, sql, &st);

	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, policy_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, applies);
	sqlite3_bind_text(st, 5, reasons, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, snapshot);
	r = sw_store_check(s, sqlite3_step(st));
	sw_store_stmt_done(st);
	return r;
}

/* See store_capolicy.h. */
int sw_store_whatif_sweep(struct sw_store *s, const char *tenant, int64_t snapshot)
{
	static const char sql[] = "DELETE FROM whatif_results WHERE tenant = ?1 AND snapshot < ?2";

	return exec(s, sql, tenant, NULL, NULL, NULL, snapshot);
}

/* See store_capolicy.h. */
int sw_store_whatif_get(struct sw_store *s, const char *tenant, const char *policy_id, const char *user_id,
                        char *reasons, size_t n)
{
	static const char sql[] = "SELECT applies, reasons FROM whatif_results WHERE tenant = ?1 AND user_id = ?2"
	                          " AND policy_id = ?3";
	sqlite3_stmt *st = NULL;
	int ans = SW_UNKNOWN;

	if (n > 0)
		reasons[0] = '\0';
	if (sw_store_cached(s, sql, &st) < 0)
		return SW_UNKNOWN;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, policy_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *why = (const char *)sqlite3_column_text(st, 1);
		ans = sqlite3_column_int(st, 0) ? SW_YES : SW_NO;
		snprintf(reasons, n, "%s", why ? why : "");
	}
	sw_store_stmt_done(st);
	return ans;
}
