/* test_store.c: the SQLite store, on a real database in a temporary dir. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "store_int.h"
#include "store.h"
#include "store_deliver.h"
#include "store_exo.h"
#include "effective.h"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 32];
static struct sw_store *store;

/* A fresh directory and an open store in it, for each test. */
static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct sw_error err = {0};

	snprintf(dir, sizeof(dir), "%s/sw-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/smtpwatch.db", dir);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
}

/* Remove the database with its WAL files and the directory. */
static void teardown(void)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", SW_STORE_MARKER_SUFFIX};
	char p[PATH_MAX + 64];

	sw_store_free(store);
	store = NULL;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* The tables of migrations 10 and 13 (store_capolicy.c), for tests that go back
 * to an older schema. */
#define CAPOLICY_DROP "DROP TABLE policy_state; DROP TABLE policy_groups; DROP TABLE group_members; " \
	"DROP TABLE user_policies; DROP TABLE auth_policies; DROP TABLE whatif_results; "
/* Migrations 16 and 17 undone (store_deliver.c): the outbox rows hold
 * their bodies, digests are not sealed.  First in a test's SQL: the index
 * names columns that older schemas drop. */
#define BODIES_UNDO "DROP INDEX outbox_loose; ALTER TABLE outbox DROP COLUMN sealed; " \
	"ALTER TABLE outbox ADD COLUMN body TEXT NOT NULL DEFAULT ''; " \
	"UPDATE outbox SET body = (SELECT b.body FROM outbox_bodies b WHERE b.id = outbox.body_id); " \
	"ALTER TABLE outbox DROP COLUMN body_id; DROP TABLE outbox_bodies; "

/* Close and open the same file again, as a restart would. */
static void reopen(void)
{
	struct sw_error err = {0};

	sw_store_free(store);
	store = NULL;
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
}

/* One integer from a query on the raw handle. */
static int64_t query_int(const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t signin_count(const char *tenant)
{
	int64_t n = -1;

	ck_assert_int_eq(sw_store_signins_count(store, tenant, &n), 0);
	return n;
}

/* A sign-in as the parser would hand it over (strings borrowed). */
static struct sw_signin signin(const char *id, int64_t created, const char *upn, int error_code)
{
	return (struct sw_signin){
		.id = (char *)id,
		.created = created,
		.created_text = (char *)"2026-11-20T08:01:12.1234567Z",
		.upn = (char *)upn,
		.ip = (char *)"198.51.100.7",
		.client_app = (char *)"Authenticated SMTP",
		.error_code = error_code,
		.country = (char *)"NL",
	};
}

/* The query plan SQLite chooses for sql, its details joined by ";", in
 * plan (size n): the index a query starts in, and whether it sorts. */
static const char *query_plan(const char *sql, char *plan, size_t n)
{
	char eqp[1024];
	sqlite3_stmt *st;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	plan[0] = '\0';
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), eqp, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(plan + strlen(plan), n - strlen(plan), "%s;", sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	return plan;
}

/* The layers beyond the switches, stored and read back into a verdict:
 * the ScubaGear case (override on, a CA legacy block wins), an excluded
 * group member, a group not read (unknown, never a guess), and the sweeps. */
START_TEST(test_capolicy_layers)
{
	struct sw_tenant_state ts = {.smtp_disabled = true, .policy_allows_basic = true};
	struct sw_mailbox mb[2] = {{.address = "scanner2@contoso.com", .identity = "scanner2", .object_id = "u1",
	                            .smtp_disabled = SW_TRI_FALSE},
	                           {.address = "printer@contoso.com", .identity = "printer", .object_id = "u2",
	                            .smtp_disabled = SW_TRI_FALSE}};
	struct sw_checkpoint cp = {.watermark = 1000};
	struct sw_effective_ctx c;
	struct sw_mailbox_row row;
	struct sw_verdict v;
	json_auto_t *pol = json_loads("[{\"id\":\"P1\",\"displayName\":\"Block legacy\",\"state\":\"enabled\","
	                              "\"conditions\":{\"clientAppTypes\":[\"other\"],\"applications\":{"
	                              "\"includeApplications\":[\"All\"]},\"users\":{\"includeUsers\":[\"All\"],"
	                              "\"excludeGroups\":[\"g1\"]}},\"grantControls\":{\"builtInControls\":[\"block\"]}}]",
	                              0, NULL);
	json_auto_t *ids = json_pack("[s]", "u2");
	size_t changed;

	ck_assert_ptr_nonnull(pol);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_tenant_state_put(store, "contoso", &ts, 1000), 0);
	ck_assert_int_eq(sw_store_mailboxes_put(store, "contoso", mb, 2, 1000, false, &changed), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "exchange", &cp), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", SW_SOURCE_USERS, &cp), 0);
	ck_assert_int_eq(sw_store_user_policy_put(store, "contoso", "scanner2@contoso.com", "u1", NULL, 1000), 0);
	ck_assert_int_eq(sw_store_user_policy_put(store, "contoso", "printer@contoso.com", "u2", "Block Basic", 1000), 0);
	ck_assert_int_eq(sw_store_auth_policy_put(store, "contoso", "Block Basic", false, 1000), 0);
	ck_assert_int_eq(sw_store_policy_state_put(store, "contoso", 1000, true, pol, SW_NO, NULL), 0);
	ck_assert_int_eq(sw_store_group_members_add(store, "contoso", "g1", ids, 1000), 0);
	ck_assert_int_eq(sw_store_group_done(store, "contoso", "g1", true, 1000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);

	ck_assert_int_eq(sw_store_group_member(store, "contoso", "g1", "u2"), SW_YES);
	ck_assert_int_eq(sw_store_group_member(store, "contoso", "g1", "u1"), SW_NO);
	ck_assert_int_eq(sw_store_group_member(store, "contoso", "g9", "u1"), SW_UNKNOWN);
	ck_assert_int_eq(sw_store_auth_policy_allows(store, "contoso", "block basic"), SW_NO);
	ck_assert_int_eq(sw_store_auth_policy_allows(store, "contoso", "Other"), SW_UNKNOWN);

	ck_assert_int_eq(sw_effective_load(store, "contoso", &c), 0);
	ck_assert_uint_eq(c.ca.n, 1);
	ck_assert_int_eq(sw_store_mailbox_get(store, "contoso", "scanner2@contoso.com", &row), 0);
	ck_assert_int_eq(sw_effective_mailbox(&c, &row, &v), 0);
	ck_assert_int_eq(v.basic, SW_ACCESS_BLOCKED);
	ck_assert_ptr_nonnull(strstr(v.blocked_by, "conditional access Block legacy: blocks"));
	sw_verdict_clear(&v);
	/* printer: excluded by the group; its own policy blocks Basic, not OAuth. */
	ck_assert_int_eq(sw_store_mailbox_get(store, "contoso", "printer@contoso.com", &row), 0);
	ck_assert_int_eq(sw_effective_mailbox(&c, &row, &v), 0);
	ck_assert_int_eq(v.basic, SW_ACCESS_BLOCKED);
	ck_assert_int_eq(v.oauth, SW_ACCESS_ALLOWED);
	ck_assert_ptr_nonnull(strstr(v.blocked_by, "authentication policy Block Basic"));
	ck_assert_ptr_null(strstr(v.blocked_by, "conditional access"));
	sw_verdict_clear(&v);
	sw_effective_free(&c);

	/* Microsoft's What If answer decides over the local reading. */
	char why[32];
	ck_assert_int_eq(sw_store_whatif_get(store, "contoso", "p1", "u1", why, sizeof(why)), SW_UNKNOWN);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_whatif_put(store, "contoso", "u1", "p1", false, "users", 1000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_whatif_get(store, "contoso", "p1", "u1", why, sizeof(why)), SW_NO);
	ck_assert_str_eq(why, "users");
	ck_assert_int_eq(sw_effective_load(store, "contoso", &c), 0);
	ck_assert_int_eq(sw_store_mailbox_get(store, "contoso", "scanner2@contoso.com", &row), 0);
	ck_assert_int_eq(sw_effective_mailbox(&c, &row, &v), 0);
	ck_assert_int_eq(v.basic, SW_ACCESS_ALLOWED);
	ck_assert(v.whatif);
	sw_verdict_clear(&v);
	sw_effective_free(&c);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_whatif_sweep(store, "contoso", 1001), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_whatif_get(store, "contoso", "p1", "u1", why, sizeof(why)), SW_UNKNOWN);

	/* The next read could not finish the group: whether scanner2 is
	 * excluded is unknown, so the verdict says unknown, not "blocked". */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_group_done(store, "contoso", "g1", false, 2000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_group_member(store, "contoso", "g1", "u2"), SW_UNKNOWN);
	ck_assert_int_eq(sw_effective_load(store, "contoso", &c), 0);
	ck_assert_int_eq(sw_store_mailbox_get(store, "contoso", "scanner2@contoso.com", &row), 0);
	ck_assert_int_eq(sw_effective_mailbox(&c, &row, &v), 0);
	ck_assert_int_eq(v.basic, SW_ACCESS_UNKNOWN);
	sw_verdict_clear(&v);
	sw_effective_free(&c);

	/* A read without the policy (403): conditional access unknown. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_policy_state_put(store, "contoso", 3000, false, NULL, SW_UNKNOWN, "refused"), 0);
	ck_assert_int_eq(sw_store_groups_sweep(store, "contoso", 3000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM group_members"), 0);
	ck_assert_int_eq(sw_effective_load(store, "contoso", &c), 0);
	ck_assert(!c.ps.ca_known);
	ck_assert_str_eq(c.ps.error, "refused");
	ck_assert_int_eq(sw_effective_mailbox(&c, &row, &v), 0);
	ck_assert_int_eq(v.basic, SW_ACCESS_UNKNOWN);
	sw_verdict_clear(&v);
	sw_effective_free(&c);
}
END_TEST

START_TEST(test_open_creates_schema)
{
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
	                           "('signins', 'checkpoints', 'alerts', 'outbox', 'sink_stats')"),
	                 5);
	ck_assert_int_eq(query_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	ck_assert_int_eq(query_int("PRAGMA foreign_keys"), 1);
	ck_assert_int_eq(query_int("PRAGMA busy_timeout"), 5000);
	ck_assert_int_eq(signin_count("contoso"), 0);
}
END_TEST

START_TEST(test_reopen_is_idempotent)
{
	struct sw_signin s = signin("id-1", 1000, "a@contoso.com", 0);
	size_t added = 0;

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &s, 1, 5000, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(signin_count("contoso"), 1);
}
END_TEST

/* The ready callback of sw_store_wal_offload: counts. */
static void wal_ready(void *arg)
{
	(*(int *)arg)++;
}

/* WAL checkpoints handed off (issue 22 #4): with the offload on, commits
 * that take the WAL past 1,000 pages say so and leave the pages in the
 * WAL (SQLite's own checkpoint in the commit would have copied them and
 * started the WAL over); a checkpointer on its own connection copies them
 * all; the rows read back after a restart; given back, the commits
 * checkpoint again. */
START_TEST(test_wal_offload)
{
	struct sw_store_checkpointer *c = NULL;
	struct sw_error err = {0};
	char ids[2000][16], upn[2000][32];
	struct sw_signin batch[2000];
	int ready = 0, wal = 0, copied = 0, batches = 0;
	int64_t n = 0;

	ck_assert_int_eq(sw_store_wal_offload(store, wal_ready, &ready), 0);
	while (ready < 6 && batches < 100) {
		for (int i = 0; i < 2000; i++) {
			snprintf(ids[i], sizeof(ids[i]), "w%d-%d", batches, i);
			snprintf(upn[i], sizeof(upn[i]), "user%d@contoso.com", i);
			batch[i] = signin(ids[i], 1000 + batches * 2000 + i, upn[i], i % 3 ? 0 : 50126);
		}
		ck_assert_int_eq(sw_store_begin(store), 0);
		ck_assert_int_eq(sw_store_signins_add(store, "contoso", batch, 2000, 5000, NULL), 0);
		ck_assert_int_eq(sw_store_commit(store), 0);
		batches++;
	}
	ck_assert_int_ge(ready, 6);
	ck_assert_int_eq(sw_store_checkpointer_open(dbpath, &c, &err), 0);
	ck_assert_int_eq(sw_store_checkpointer_run(c, &wal, &copied), 0);
	ck_assert_int_ge(wal, 2000); /* every commit's pages still there */
	ck_assert_int_eq(copied, wal);
	sw_store_checkpointer_free(c);
	reopen();
	ck_assert_int_eq(sw_store_signins_count(store, "contoso", &n), 0);
	ck_assert_int_eq(n, (int64_t)batches * 2000);
	/* Given back: the commits checkpoint, the WAL never grows that long. */
	ck_assert_int_eq(sw_store_wal_offload(store, wal_ready, &ready), 0);
	ck_assert_int_eq(sw_store_wal_offload(store, NULL, NULL), 0);
	ready = 0;
	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < 2000; i++) {
			snprintf(ids[i], sizeof(ids[i]), "x%d-%d", b, i);
			batch[i] = signin(ids[i], 900000 + b * 2000 + i, upn[i], 0);
		}
		ck_assert_int_eq(sw_store_begin(store), 0);
		ck_assert_int_eq(sw_store_signins_add(store, "contoso", batch, 2000, 5000, NULL), 0);
		ck_assert_int_eq(sw_store_commit(store), 0);
	}
	ck_assert_int_eq(ready, 0);
	ck_assert_int_eq(sw_store_checkpointer_open(dbpath, &c, &err), 0);
	ck_assert_int_eq(sw_store_checkpointer_run(c, &wal, &copied), 0);
	ck_assert_int_lt(wal, 2000);
	sw_store_checkpointer_free(c);
}
END_TEST

START_TEST(test_future_schema_refused)
{
	struct sw_error err = {0};
	struct sw_store *other = NULL;
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SW_STORE_SCHEMA_VERSION + 1);
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store), sql, NULL, NULL, NULL), SQLITE_OK);
	sw_store_free(store);
	store = NULL;
	ck_assert_int_eq(sw_store_open(dbpath, &other, &err), -ENOTSUP);
	ck_assert_ptr_null(other);
	ck_assert_ptr_nonnull(strstr(err.text, "newer"));
	ck_assert_str_eq(err.source, dbpath);
	/* And the refusal left it alone: still the future version. */
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), SW_STORE_SCHEMA_VERSION + 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

START_TEST(test_older_schema_migrates_forward)
{
	/* A database left at version 1 by an older smtpwatch (before the
	 * Exchange tables): opening it adds them and keeps the data. */
	struct sw_signin s = signin("id-1", 1000, "a@contoso.com", 0);

	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &s, 1, 5000, NULL), 0);
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store),
	                              BODIES_UNDO
	                              "DROP TABLE tenant_state; DROP TABLE mailboxes; DROP TABLE mailbox_changes;"
	                              "DROP TABLE report_files; DROP TABLE report_obs; DROP TABLE report_days;"
	                              "DROP TABLE report_alerted; DROP TABLE silences; DROP TABLE signin_countries;"
	                              "DROP TABLE failure_sources; DROP INDEX signins_tenant; DROP INDEX signins_id;"
	                              "ALTER TABLE alerts DROP COLUMN transition_at; ALTER TABLE alerts DROP COLUMN changed_by;"
	                              "DROP INDEX outbox_group; DROP INDEX outbox_members; ALTER TABLE outbox DROP COLUMN rule; "
	                              "ALTER TABLE outbox DROP COLUMN tenant; ALTER TABLE outbox DROP COLUMN digest; "
	                              "ALTER TABLE outbox DROP COLUMN members;"
	                              "DROP TABLE audit_changes; DROP TABLE audit_blobs; DROP TABLE audit_subscriptions; " CAPOLICY_DROP "DROP TABLE usage_obs; DROP TABLE usage_state; DROP TABLE trace_msgs; "
	                              "DROP TABLE remediations; DROP TRIGGER signin_days_del; DROP TABLE signin_days; PRAGMA user_version = 1",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
	                           "('tenant_state', 'mailboxes', 'mailbox_changes')"),
	                 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'signins_tenant'"),
	                 1);
	ck_assert_int_eq(signin_count("contoso"), 1);
}
END_TEST

/* signin_days (migration 12): successful sign-ins per lower-case sender
 * and UTC day: a duplicate id adds nothing, failures
 * and sign-ins without a UPN are not counted, retention takes its share
 * off, and the migration builds it from what was stored before. */
START_TEST(test_signin_days_rollup)
{
	struct sw_signin a[] = {
		signin("r1", 86400 + 10, "Scanner@Contoso.com", 0), signin("r2", 86400 + 20, "scanner@contoso.com", 0),
		signin("r3", 2 * 86400 + 5, "scanner@contoso.com", 0), signin("r4", 86400 + 30, "scanner@contoso.com", 50126),
		signin("r5", 86400 + 40, NULL, 0),
	};
	size_t added = 0;

	ck_assert_int_eq(sw_store_signins_add(store, "contoso", a, 5, 9000000, &added), 0);
	ck_assert_uint_eq(added, 5);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", a, 2, 9000000, &added), 0); /* again: duplicates */
	ck_assert_uint_eq(added, 0);
	ck_assert_int_eq(query_int("SELECT n FROM signin_days WHERE tenant = 'contoso' AND sender = "
	                           "'scanner@contoso.com' AND day = 86400"), 2);
	ck_assert_int_eq(query_int("SELECT n FROM signin_days WHERE day = 172800"), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signin_days"), 2);
	/* Retention before day 2: day 1 goes, day 2 stays. */
	ck_assert_int_eq(sw_store_prune(store, 2 * 86400, NULL), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signin_days"), 1);
	ck_assert_int_eq(query_int("SELECT n FROM signin_days WHERE day = 172800"), 1);
	/* A database of version 11: the migration counts what is stored. */
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store),
	                              BODIES_UNDO
	                              "DROP TABLE remediations; DROP TRIGGER signin_days_del; DROP TABLE signin_days;"
	                              "DROP TABLE whatif_results; " /* migration 13 */
	                              "DROP TABLE trace_msgs; " /* migration 15 */
	                              "PRAGMA user_version = 11",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT n FROM signin_days WHERE sender = 'scanner@contoso.com' AND day = 172800"), 1);
	struct sw_signin b = signin("r6", 2 * 86400 + 99, "SCANNER@contoso.com", 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &b, 1, 9000000, NULL), 0);
	ck_assert_int_eq(query_int("SELECT n FROM signin_days WHERE day = 172800"), 2);
}
END_TEST

START_TEST(test_open_unwritable_path_fails)
{
	struct sw_error err = {0};
	struct sw_store *other = NULL;
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/no/such/dir/x.db", dir);
	ck_assert_int_lt(sw_store_open(p, &other, &err), 0);
	ck_assert_ptr_null(other);
	ck_assert_str_ne(err.text, "");
}
END_TEST

/* Does path exist? */
static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Close the store and delete the database with its WAL files. */
static void delete_db(void)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char p[PATH_MAX + 64];

	sw_store_free(store);
	store = NULL;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, suffixes[i]);
		unlink(p);
	}
}

/* The database leaves a marker; once it is gone, a missing database is
 * an error, not a new empty one (issue 21 #14: every alert fired again
 * under new ids).  Removing the marker starts afresh. */
START_TEST(test_deleted_database_refused)
{
	struct sw_error err = {0};
	char marker[PATH_MAX + 64], want[4 * PATH_MAX + 256];
	struct sw_signin s = signin("id-1", 1000, "a@contoso.com", 0);

	snprintf(marker, sizeof(marker), "%s.created", dbpath);
	ck_assert(exists(marker));
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &s, 1, 5000, NULL), 0);
	delete_db();

	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), -ENOENT);
	ck_assert_ptr_null(store);
	snprintf(want, sizeof(want),
	         "database %s was deleted (%s says one was created there): restore it from a backup, or remove %s to "
	         "start with an empty database",
	         dbpath, marker, marker);
	ck_assert_str_eq(err.text, want);
	ck_assert(!exists(dbpath));

	ck_assert_int_eq(unlink(marker), 0);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
	ck_assert(exists(marker));
	ck_assert_int_eq(signin_count("contoso"), 0);

	/* A database from before the marker gets one on its next open. */
	ck_assert_int_eq(unlink(marker), 0);
	reopen();
	ck_assert(exists(marker));
}
END_TEST

/* A corrupt file is refused at open with one line that says so, whether
 * the header is gone or a page inside is damaged (PRAGMA quick_check). */
START_TEST(test_corrupt_database_refused)
{
	struct sw_error err = {0};
	char junk[4096];
	int64_t pages;
	FILE *f;

	for (int i = 0; i < 2000; i++) {
		char id[32], upn[64];
		snprintf(id, sizeof(id), "id-%d", i);
		snprintf(upn, sizeof(upn), "user%d@contoso.com", i);
		struct sw_signin s = signin(id, 1000 + i, upn, 0);
		ck_assert_int_eq(sw_store_signins_add(store, "contoso", &s, 1, 5000, NULL), 0);
	}
	pages = query_int("PRAGMA page_count");
	ck_assert_int_gt(pages, 8);
	sw_store_free(store); /* the last close checkpoints the WAL into the file */
	store = NULL;

	/* A page in the middle: the b-tree check finds it. */
	memset(junk, 0x5a, sizeof(junk));
	f = fopen(dbpath, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, (long)(pages / 2) * 4096, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), -EBADMSG);
	ck_assert_ptr_null(store);
	ck_assert_msg(strstr(err.text, " is corrupt (") != NULL && strstr(err.text, "restore it from a backup") != NULL,
	              "%s", err.text);

	/* The header: not a database at all. */
	f = fopen(dbpath, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(junk, 1, 100, f), 100);
	fclose(f);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), -EBADMSG);
	ck_assert_msg(strstr(err.text, "is corrupt (file is not a database)") != NULL, "%s", err.text);
}
END_TEST

/* Start over in the same directory: no database, no marker. */
static void reopen_fresh(void)
{
	struct sw_error err = {0};
	char marker[PATH_MAX + 64];

	snprintf(marker, sizeof(marker), "%s.created", dbpath);
	unlink(marker);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
}

/* A database deleted while open: in WAL mode SQLite goes on writing to
 * the unlinked file without a word, so the store says so when asked; a
 * write that SQLite refuses for it (rollback-journal mode) says "deleted
 * or moved", not "attempt to write a readonly database". */
START_TEST(test_deleted_while_open)
{
	struct sw_signin s = signin("id-1", 1000, "a@contoso.com", 0);
	char want[PATH_MAX + 64];
	FILE *f;

	ck_assert_int_eq(sw_store_check_file(store), 0);
	ck_assert_int_eq(unlink(dbpath), 0);
	ck_assert_int_eq(sw_store_check_file(store), -ENOENT);
	snprintf(want, sizeof(want), "database %s was deleted while open", dbpath);
	ck_assert_str_eq(sw_store_errmsg(store), want);

	/* Another file under the name is not ours either. */
	f = fopen(dbpath, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(sw_store_check_file(store), -ESTALE);
	ck_assert_ptr_nonnull(strstr(sw_store_errmsg(store), "was replaced by another file while open"));

	delete_db();
	reopen_fresh();
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store), "PRAGMA journal_mode = DELETE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(unlink(dbpath), 0);
	ck_assert_int_lt(sw_store_signins_add(store, "contoso", &s, 1, 5000, NULL), 0);
	snprintf(want, sizeof(want), "was deleted or moved while open");
	ck_assert_msg(strstr(sw_store_errmsg(store), want) != NULL, "%s", sw_store_errmsg(store));
}
END_TEST

START_TEST(test_signins_dedupe_pages)
{
	struct sw_signin page[] = {
		signin("id-1", 1000, "a@contoso.com", 0),
		signin("id-2", 1001, "b@contoso.com", 535),
		signin("id-3", 1002, "a@contoso.com", 0),
	};
	size_t added = 99;

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 3, 5000, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_uint_eq(added, 3);
	ck_assert_int_eq(signin_count("contoso"), 3);

	/* The overlapping re-read brings the same page again. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 3, 6000, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_uint_eq(added, 0);
	ck_assert_int_eq(signin_count("contoso"), 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins"), 3);

	/* Ids are per tenant: another tenant may carry the same one. */
	ck_assert_int_eq(sw_store_signins_add(store, "fabrikam", page, 1, 6000, &added), 0);
	ck_assert_uint_eq(added, 1);
	ck_assert_int_eq(signin_count("fabrikam"), 1);
	ck_assert_int_eq(signin_count("contoso"), 3);
	ck_assert_int_eq(signin_count("nobody"), 0);
}
END_TEST

/* Parse a Graph page and store it, as the daemon does; the records added. */
static size_t store_page(const char *json)
{
	struct sw_signin_page page = {0};
	struct sw_error err = {0};
	size_t added = 99;

	ck_assert_int_eq(sw_signins_parse(json, strlen(json), &page, &err), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page.items, page.n, 5000, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	sw_signin_page_clear(&page);
	return added;
}

START_TEST(test_signins_same_id_shifted_created)
{
	/* Graph sent these ids again with createdDateTime a few seconds (and
	 * a day) later: the key of migration 1, (tenant, created, id), stored
	 * each twice. */
	static const char first[] =
		"{\"value\":[{\"id\":\"a1\",\"createdDateTime\":\"2026-11-20T08:01:12.1234567Z\"},"
		"{\"id\":\"a2\",\"createdDateTime\":\"2026-11-20T08:01:13Z\"}]}";
	static const char shifted[] =
		"{\"value\":[{\"id\":\"a1\",\"createdDateTime\":\"2026-11-20T08:01:15.0000001Z\"},"
		"{\"id\":\"a2\",\"createdDateTime\":\"2026-11-21T08:01:13Z\"},"
		"{\"id\":\"a3\",\"createdDateTime\":\"2026-11-20T08:01:13Z\"}]}";

	ck_assert_uint_eq(store_page(first), 2);
	ck_assert_uint_eq(store_page(shifted), 1);
	reopen();
	ck_assert_uint_eq(store_page(shifted), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins"), 3);
	ck_assert_int_eq(signin_count("contoso"), 3);
	/* The first version stays. */
	ck_assert_int_eq(query_int("SELECT created FROM signins WHERE id = 'a1'"), 1795161672);
	ck_assert_int_eq(query_int("SELECT created FROM signins WHERE id = 'a2'"), 1795161673);
}
END_TEST

START_TEST(test_migration_outbox_groups)
{
	/* A version-7 database with a queued row: migration 8 copies its rule
	 * and tenant out of the body, which digests group by. */
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store),
	                              BODIES_UNDO
	                              "DROP INDEX outbox_group; DROP INDEX outbox_members; ALTER TABLE outbox DROP COLUMN rule; "
	                              "ALTER TABLE outbox DROP COLUMN tenant; ALTER TABLE outbox DROP COLUMN digest; "
	                              "ALTER TABLE outbox DROP COLUMN members; DROP TABLE audit_changes; DROP TABLE audit_blobs; DROP TABLE audit_subscriptions; " CAPOLICY_DROP "DROP TABLE usage_obs; DROP TABLE usage_state; DROP TABLE trace_msgs; "
	                              "DROP TABLE remediations; DROP TRIGGER signin_days_del; DROP TABLE signin_days; PRAGMA user_version = 7;"
	                              "INSERT INTO outbox (alert_id, transition, sink, body, created, next_attempt) VALUES "
	                              "('a-1', 1, 'soc', '{\"rule\":\"r1\",\"tenant\":\"contoso\"}', 10, 10)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE rule = 'r1' AND tenant = 'contoso' AND digest IS NULL "
	                           "AND members = 0"),
	                 1);
	/* and a row queued now gets them from its body too */
	ck_assert_int_eq(sw_store_outbox_add(store, "a-2", 1, "soc", "{\"rule\":\"r2\",\"tenant\":\"fabrikam\"}", 20), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE rule = 'r2' AND tenant = 'fabrikam'"), 1);
}
END_TEST

START_TEST(test_migration_drops_later_duplicates)
{
	/* A version-5 database holding the duplicates its key let in: the
	 * migration keeps the row stored first of each id (per tenant), drops
	 * the later ones and recounts the rollup. */
	sqlite3 *db = sw_store_sqlite(store);

	ck_assert_int_eq(sqlite3_exec(db,
	                              BODIES_UNDO
	                              "DROP INDEX signins_id; ALTER TABLE alerts DROP COLUMN transition_at; "
	                              "ALTER TABLE alerts DROP COLUMN changed_by; "
	                              "DROP INDEX outbox_group; DROP INDEX outbox_members; ALTER TABLE outbox DROP COLUMN rule; "
	                              "ALTER TABLE outbox DROP COLUMN tenant; ALTER TABLE outbox DROP COLUMN digest; "
	                              "ALTER TABLE outbox DROP COLUMN members;"
	                              "DROP TABLE audit_changes; DROP TABLE audit_blobs; DROP TABLE audit_subscriptions; " CAPOLICY_DROP "DROP TABLE usage_obs; DROP TABLE usage_state; DROP TABLE trace_msgs; "
	                              "DROP TABLE remediations; DROP TRIGGER signin_days_del; DROP TABLE signin_days; PRAGMA user_version = 5;"
	                              "INSERT INTO signins (rowid, tenant, id, created, ingested) VALUES"
	                              " (10, 'contoso', 'a1', 1000, 1), (11, 'contoso', 'a2', 1001, 1),"
	                              " (12, 'contoso', 'a1', 1003, 2), (13, 'fabrikam', 'a1', 1000, 2),"
	                              " (14, 'contoso', 'a1', 999, 3), (15, 'contoso', 'a2', 1005, 3),"
	                              " (16, 'contoso', 'a3', 1002, 3);"
	                              "INSERT INTO signin_counts (tenant, n) VALUES ('contoso', 6), ('fabrikam', 1);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins"), 4);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins WHERE rowid IN (10, 11, 13, 16)"), 4);
	/* The first stored, not the earliest created (rowid 14 said 999). */
	ck_assert_int_eq(query_int("SELECT created FROM signins WHERE tenant = 'contoso' AND id = 'a1'"), 1000);
	ck_assert_int_eq(signin_count("contoso"), 3);
	ck_assert_int_eq(signin_count("fabrikam"), 1);
	/* And the insert now goes by the new key. */
	struct sw_signin again = signin("a2", 5000, "a@contoso.com", 0);
	size_t added = 99;
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &again, 1, 6000, &added), 0);
	ck_assert_uint_eq(added, 0);
	ck_assert_int_eq(signin_count("contoso"), 3);
}
END_TEST

START_TEST(test_migration_alert_transition_at)
{
	/* A version-6 database: an alert sent twice (the outbox still has its
	 * rows), one resolved whose rows were pruned, one never sent.  Each
	 * gets the time its latest transition was decided. */
	sqlite3 *db = sw_store_sqlite(store);

	ck_assert_int_eq(sqlite3_exec(db,
	                              BODIES_UNDO
	                              "ALTER TABLE alerts DROP COLUMN transition_at; "
	                              "ALTER TABLE alerts DROP COLUMN changed_by; "
	                              "DROP INDEX outbox_group; DROP INDEX outbox_members; ALTER TABLE outbox DROP COLUMN rule; "
	                              "ALTER TABLE outbox DROP COLUMN tenant; ALTER TABLE outbox DROP COLUMN digest; "
	                              "ALTER TABLE outbox DROP COLUMN members;"
	                              "DROP TABLE audit_changes; DROP TABLE audit_blobs; DROP TABLE audit_subscriptions; " CAPOLICY_DROP "DROP TABLE usage_obs; DROP TABLE usage_state; DROP TABLE trace_msgs; "
	                              "DROP TABLE remediations; DROP TRIGGER signin_days_del; DROP TABLE signin_days; PRAGMA user_version = 6;"
	                              "INSERT INTO alerts (id, rule, tenant, subject, severity, status, first_seen, "
	                              "last_seen, count, notified_count, transition, resolved_at, updated) VALUES"
	                              " ('a-000001', 'r', 'contoso', 'x', 3, 0, 1, 2, 1, 1, 2, 0, 900),"
	                              " ('a-000002', 'r', 'contoso', 'y', 3, 1, 1, 2, 1, 1, 2, 700, 800),"
	                              " ('a-000003', 'r', 'contoso', 'z', 3, 0, 1, 2, 1, 0, 0, 0, 600);"
	                              "INSERT INTO outbox (alert_id, transition, sink, body, created, next_attempt) VALUES"
	                              " ('a-000001', 1, 's', '{}', 100, 100), ('a-000001', 2, 's', '{}', 500, 500),"
	                              " ('a-000001', 2, 't', '{}', 501, 501);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(query_int("SELECT transition_at FROM alerts WHERE id = 'a-000001'"), 501);
	ck_assert_int_eq(query_int("SELECT transition_at FROM alerts WHERE id = 'a-000002'"), 700);
	ck_assert_int_eq(query_int("SELECT transition_at FROM alerts WHERE id = 'a-000003'"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM alerts WHERE changed_by IS NULL"), 3);
}
END_TEST

START_TEST(test_signins_duplicates_within_batch)
{
	struct sw_signin page[] = {
		signin("id-1", 1000, "a@contoso.com", 0),
		signin("id-1", 1000, "a@contoso.com", 0),
		signin("id-2", 1001, "a@contoso.com", 0),
		signin("id-2", 1001, "a@contoso.com", 0),
		signin(NULL, 1003, "a@contoso.com", 0),
	};
	size_t added = 0;

	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 5, 5000, &added), 0);
	ck_assert_uint_eq(added, 2);
	ck_assert_int_eq(signin_count("contoso"), 2);
}
END_TEST

START_TEST(test_signins_fields_stored)
{
	struct sw_signin s = signin("id-9", 1700000000, "scanner@contoso.com", 50126);
	sqlite3_stmt *st;

	s.failure_reason = (char *)"Invalid username or password";
	s.city = (char *)"Amsterdam";
	s.correlation_id = (char *)"corr-1";
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", &s, 1, 1700000100, NULL), 0);
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store),
	                                    "SELECT tenant, id, created, upn, ip, country, city, error_code, "
	                                    "failure_reason, correlation_id, ingested, created_text FROM signins",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "contoso");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "id-9");
	ck_assert_int_eq(sqlite3_column_int64(st, 2), 1700000000);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 3), "scanner@contoso.com");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 4), "198.51.100.7");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 5), "NL");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 6), "Amsterdam");
	ck_assert_int_eq(sqlite3_column_int(st, 7), 50126);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 8), "Invalid username or password");
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 9), "corr-1");
	ck_assert_int_eq(sqlite3_column_int64(st, 10), 1700000100);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 11), "2026-11-20T08:01:12.1234567Z");
	sqlite3_finalize(st);
}
END_TEST

START_TEST(test_checkpoint_roundtrip)
{
	struct sw_checkpoint cp = {.watermark = 12345, .last_success = 100, .last_attempt = 200, .records = 7};
	struct sw_checkpoint got;

	memset(&got, 0x55, sizeof(got));
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "signins", &got), -ENOENT);
	ck_assert_int_eq(got.watermark, 0);
	ck_assert_int_eq(got.records, 0);
	ck_assert_str_eq(got.last_error, "");

	snprintf(cp.last_error, sizeof(cp.last_error), "HTTP 429: throttled");
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "signins", &got), 0);
	ck_assert_int_eq(got.watermark, 12345);
	ck_assert_int_eq(got.last_success, 100);
	ck_assert_int_eq(got.last_attempt, 200);
	ck_assert_int_eq(got.records, 7);
	ck_assert_str_eq(got.last_error, "HTTP 429: throttled");

	/* Overwrite; other sources and tenants stay apart. */
	cp.watermark = 20000;
	cp.last_error[0] = '\0';
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "signins", &got), 0);
	ck_assert_int_eq(got.watermark, 20000);
	ck_assert_str_eq(got.last_error, "");
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "exchange", &got), -ENOENT);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "fabrikam", "signins", &got), -ENOENT);
}
END_TEST

START_TEST(test_checkpoint_atomic_with_records)
{
	struct sw_signin page[] = {
		signin("id-1", 1000, "a@contoso.com", 0),
		signin("id-2", 1001, "b@contoso.com", 0),
	};
	struct sw_checkpoint cp = {.watermark = 1001, .last_success = 5000, .last_attempt = 5000, .records = 2};
	struct sw_checkpoint got;
	size_t added;

	/* A crash (or error) before commit: neither records nor checkpoint. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 2, 5000, &added), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_eq(signin_count("contoso"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins"), 0);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "signins", &got), -ENOENT);

	/* Committed: both, and both survive a restart. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 2, 5000, &added), 0);
	ck_assert_int_eq(sw_store_checkpoint_put(store, "contoso", "signins", &cp), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(signin_count("contoso"), 2);
	reopen();
	ck_assert_int_eq(signin_count("contoso"), 2);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "signins", &got), 0);
	ck_assert_int_eq(got.watermark, 1001);
	ck_assert_int_eq(got.records, 2);
}
END_TEST

START_TEST(test_rollback_without_transaction)
{
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	/* A second BEGIN inside a transaction is an error, not a hang. */
	ck_assert_int_lt(sw_store_begin(store), 0);
	ck_assert_str_ne(sw_store_errmsg(store), "");
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_lt(sw_store_commit(store), 0);
}
END_TEST

/* One translation of SQLite's result codes, extended codes included:
 * what the daemon's log says after strerror(). */
START_TEST(test_errno_mapping)
{
	static const struct {
		int rc, want;
	} table[] = {
		{SQLITE_FULL, -ENOSPC},
		{SQLITE_BUSY, -EBUSY},
		{SQLITE_BUSY_SNAPSHOT, -EBUSY},
		{SQLITE_LOCKED, -EBUSY},
		{SQLITE_LOCKED_SHAREDCACHE, -EBUSY},
		{SQLITE_NOMEM, -ENOMEM},
		{SQLITE_READONLY, -EROFS},
		{SQLITE_READONLY_DBMOVED, -EROFS},
		{SQLITE_CONSTRAINT, -EEXIST},
		{SQLITE_CONSTRAINT_UNIQUE, -EEXIST},
		{SQLITE_CORRUPT, -EIO},
		{SQLITE_CORRUPT_INDEX, -EIO},
		{SQLITE_NOTADB, -EIO},
		{SQLITE_IOERR, -EIO},
		{SQLITE_IOERR_WRITE, -EIO},
		{SQLITE_ERROR, -EIO},
		{SQLITE_MISUSE, -EIO},
		{SQLITE_DONE, -EIO}, /* a row missing where one was expected */
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		ck_assert_msg(sw_store_errno(table[i].rc) == table[i].want, "SQLite code %d: %d, want %d", table[i].rc,
		              sw_store_errno(table[i].rc), table[i].want);
	ck_assert_int_eq(sw_store_result(SQLITE_OK), 0);
	ck_assert_int_eq(sw_store_result(SQLITE_ROW), 0);
	ck_assert_int_eq(sw_store_result(SQLITE_DONE), 0);
	ck_assert_int_eq(sw_store_result(SQLITE_FULL), -ENOSPC);
}
END_TEST

/* The store's other files keep SQLite's text too: after an earlier
 * failure, sw_store_errmsg() tells the later one, not the old one. */
START_TEST(test_errmsg_from_extension_module)
{
	struct sw_tenant_state ts = {.observed = 1000, .policy_allows_basic = true};

	ck_assert_int_lt(sw_store_commit(store), 0); /* no transaction: "commit: ..." */
	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store),
	                              "CREATE TRIGGER refuse BEFORE INSERT ON tenant_state "
	                              "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sw_store_tenant_state_put(store, "contoso", &ts, 1000), -EEXIST);
	ck_assert_msg(strstr(sw_store_errmsg(store), "refused by the test") != NULL, "%s", sw_store_errmsg(store));
}
END_TEST

START_TEST(test_begin_busy_when_other_writer)
{
	sqlite3 *other;

	/* Another connection holds the write lock; our busy_timeout is 5 s, so
	 * keep this short by lowering it on the handle. */
	ck_assert_int_eq(sqlite3_open(dbpath, &other), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_busy_timeout(sw_store_sqlite(store), 50);
	ck_assert_int_eq(sw_store_begin(store), -EBUSY);
	ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
}
END_TEST

/* A firing alert with evidence, as lifecycle would build it. */
static void alert_fill(struct sw_alert *a, const char *rule, const char *subject, int64_t updated)
{
	memset(a, 0, sizeof(*a));
	a->rule = strdup(rule);
	a->tenant = strdup("contoso");
	a->subject = strdup(subject);
	a->severity = SW_SEV_HIGH;
	a->status = SW_ALERT_FIRING;
	a->first_seen = 1000;
	a->last_seen = 2000;
	a->count = 3;
	a->notified_count = 2;
	a->transition = 1;
	a->summary = strdup("something happened");
	a->evidence = json_pack("{s:[s,s],s:i}", "ips", "198.51.100.7", "203.0.113.9", "n", 3);
	a->updated = updated;
}

START_TEST(test_alert_save_find_get)
{
	struct sw_alert a, got = {0};

	alert_fill(&a, "unapproved-basic-auth-submission", "scanner2@contoso.com", 5000);
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), -ENOENT);
	ck_assert_int_eq(sw_store_alert_save(store, &a), 0);
	ck_assert_int_eq(a.seq, 1);
	ck_assert_str_eq(a.id, "a-000001");

	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), 0);
	ck_assert_str_eq(got.id, "a-000001");
	ck_assert_int_eq(got.seq, 1);
	ck_assert_str_eq(got.rule, "unapproved-basic-auth-submission");
	ck_assert_str_eq(got.tenant, "contoso");
	ck_assert_str_eq(got.subject, "scanner2@contoso.com");
	ck_assert_int_eq(got.severity, SW_SEV_HIGH);
	ck_assert_int_eq(got.status, SW_ALERT_FIRING);
	ck_assert_int_eq(got.first_seen, 1000);
	ck_assert_int_eq(got.last_seen, 2000);
	ck_assert_int_eq(got.count, 3);
	ck_assert_int_eq(got.notified_count, 2);
	ck_assert_int_eq(got.transition, 1);
	ck_assert_str_eq(got.summary, "something happened");
	ck_assert_ptr_null(got.remediation);
	ck_assert(json_equal(got.evidence, a.evidence));
	ck_assert(!got.acked);
	ck_assert_int_eq(got.updated, 5000);
	sw_alert_clear(&got);

	/* Update in place: ack it and resolve it. */
	a.acked = true;
	a.ack_note = strdup("known printer, ticket CHG-1");
	a.status = SW_ALERT_RESOLVED;
	a.resolved_at = 6000;
	a.remediation = strdup("Set-CASMailbox ...");
	json_decref(a.evidence);
	a.evidence = NULL;
	ck_assert_int_eq(sw_store_alert_save(store, &a), 0);
	ck_assert_str_eq(a.id, "a-000001");
	ck_assert_int_eq(sw_store_alert_get(store, "a-000001", &got), 0);
	ck_assert(got.acked);
	ck_assert_str_eq(got.ack_note, "known printer, ticket CHG-1");
	ck_assert_int_eq(got.status, SW_ALERT_RESOLVED);
	ck_assert_int_eq(got.resolved_at, 6000);
	ck_assert_str_eq(got.remediation, "Set-CASMailbox ...");
	ck_assert_ptr_null(got.evidence);
	sw_alert_clear(&got);
	ck_assert_int_eq(query_int("SELECT count(*) FROM alerts"), 1);

	ck_assert_int_eq(sw_store_alert_get(store, "a-000002", &got), -ENOENT);
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "fabrikam", a.subject, &got), -ENOENT);

	/* A second alert gets the next id; the same condition cannot be inserted twice. */
	struct sw_alert b, dup;
	alert_fill(&b, "smtp-auth-brute-force", "scanner2@contoso.com", 5000);
	ck_assert_int_eq(sw_store_alert_save(store, &b), 0);
	ck_assert_str_eq(b.id, "a-000002");
	alert_fill(&dup, "smtp-auth-brute-force", "scanner2@contoso.com", 5000);
	ck_assert_int_eq(sw_store_alert_save(store, &dup), -EEXIST);
	sw_alert_clear(&dup);
	sw_alert_clear(&b);
	sw_alert_clear(&a);
}
END_TEST

/* The evidence read back is what is stored, whatever the memo of
 * parsed evidence holds (store.c): a caller's changes to what it was
 * handed, the text changed by another path, a save rolled back, and
 * another alert at the same memo slot (seq 1 and 257) never show. */
START_TEST(test_alert_evidence_memo)
{
	struct sw_alert a, got = {0};
	sqlite3 *db = sw_store_sqlite(store);

	alert_fill(&a, "unapproved-basic-auth-submission", "scanner2@contoso.com", 5000);
	ck_assert_int_eq(sw_store_alert_save(store, &a), 0);
	json_t *saved = json_deep_copy(a.evidence);

	/* The reader changes what it got; the next read is the stored one. */
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), 0);
	ck_assert(json_equal(got.evidence, saved));
	json_object_set_new(got.evidence, "changed", json_true());
	sw_alert_clear(&got);
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), 0);
	ck_assert(json_equal(got.evidence, saved));
	sw_alert_clear(&got);

	/* The text changed behind the store's back. */
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE alerts SET evidence = '{\"ips\":[\"192.0.2.9\"]}' WHERE seq = 1",
	                              NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), 0);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(got.evidence, "ips"), 0)), "192.0.2.9");
	sw_alert_clear(&got);

	/* A save rolled back: the memo has its text, the row the old one. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	json_object_set_new(a.evidence, "rolled_back", json_true());
	ck_assert_int_eq(sw_store_alert_save(store, &a), 0);
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_eq(sw_store_alert_find(store, a.rule, "contoso", a.subject, &got), 0);
	ck_assert_ptr_null(json_object_get(got.evidence, "rolled_back"));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(got.evidence, "ips"), 0)), "192.0.2.9");
	sw_alert_clear(&got);

	/* Alert 257 takes alert 1's slot; each reads its own. */
	for (int i = 2; i <= 257; i++) {
		struct sw_alert b;
		char subject[64];
		snprintf(subject, sizeof(subject), "m%d@contoso.com", i);
		alert_fill(&b, "smtp-auth-brute-force", subject, 5000);
		json_object_set_new(b.evidence, "n", json_integer(i));
		ck_assert_int_eq(sw_store_alert_save(store, &b), 0);
		sw_alert_clear(&b);
	}
	ck_assert_int_eq(sw_store_alert_find(store, "smtp-auth-brute-force", "contoso", "m257@contoso.com", &got), 0);
	ck_assert_int_eq(got.seq, 257);
	ck_assert_int_eq(json_integer_value(json_object_get(got.evidence, "n")), 257);
	sw_alert_clear(&got);
	ck_assert_int_eq(sw_store_alert_get(store, "a-000001", &got), 0);
	ck_assert_ptr_null(json_object_get(got.evidence, "n"));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(got.evidence, "ips"), 0)), "192.0.2.9");
	sw_alert_clear(&got);
	json_decref(saved);
	sw_alert_clear(&a);
}
END_TEST

struct listed {
	char ids[16][24];
	int n;
	int stop_after;
};

/* Record the ids the list hands us, in order. */
static int list_cb(const struct sw_alert *a, void *arg)
{
	struct listed *l = arg;

	ck_assert_int_lt(l->n, 16);
	snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", a->id);
	if (l->stop_after && l->n == l->stop_after)
		return -ECANCELED;
	return 0;
}

START_TEST(test_alerts_list_order_and_filters)
{
	struct sw_alert a[4];
	struct listed l = {0};

	alert_fill(&a[0], "r", "s0", 100); /* a-000001 */
	alert_fill(&a[1], "r", "s1", 300); /* a-000002 */
	alert_fill(&a[2], "r", "s2", 200); /* a-000003, resolved */
	alert_fill(&a[3], "r", "s3", 300); /* a-000004, same time as a-000002 */
	a[2].status = SW_ALERT_RESOLVED;
	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(sw_store_alert_save(store, &a[i]), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);

	ck_assert_int_eq(sw_store_alerts_list(store, false, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.ids[0], "a-000004");
	ck_assert_str_eq(l.ids[1], "a-000002");
	ck_assert_str_eq(l.ids[2], "a-000001");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list(store, true, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 4);
	ck_assert_str_eq(l.ids[0], "a-000004");
	ck_assert_str_eq(l.ids[1], "a-000002");
	ck_assert_str_eq(l.ids[2], "a-000003");
	ck_assert_str_eq(l.ids[3], "a-000001");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list(store, true, 200, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.ids[2], "a-000003");

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list(store, false, 200, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);

	/* The callback stops the walk; its error comes back. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	ck_assert_int_eq(sw_store_alerts_list(store, true, 0, list_cb, &l), -ECANCELED);
	ck_assert_int_eq(l.n, 1);

	/* Firing of one rule and tenant, for the state rules. */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_firing(store, "r", "contoso", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_firing(store, "r", "fabrikam", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_firing(store, "other", "contoso", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 0);

	/* One tenant's list (the report's): the same order and filters, a
	 * fabrikam alert newest of all left out, read through alerts_tenant
	 * in order (no temporary sort). */
	struct sw_alert fab;
	alert_fill(&fab, "r", "s9", 400); /* a-000005 */
	free(fab.tenant);
	fab.tenant = strdup("fabrikam");
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_alert_save(store, &fab), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list_tenant(store, "contoso", false, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.ids[0], "a-000004");
	ck_assert_str_eq(l.ids[1], "a-000002");
	ck_assert_str_eq(l.ids[2], "a-000001");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list_tenant(store, "contoso", true, 200, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.ids[0], "a-000004");
	ck_assert_str_eq(l.ids[2], "a-000003");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list_tenant(store, "fabrikam", true, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.ids[0], "a-000005");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_list_tenant(store, "nobody", true, 0, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 0);
	sw_alert_clear(&fab);
	for (int all = 0; all < 2; all++) {
		char plan[1024];
		query_plan(all ? "SELECT seq FROM alerts WHERE tenant = ?2 AND updated >= ?1 "
		                 "ORDER BY updated DESC, seq DESC"
		               : "SELECT seq FROM alerts WHERE tenant = ?2 AND status = 0 AND updated >= ?1 "
		                 "ORDER BY updated DESC, seq DESC",
		           plan, sizeof(plan));
		ck_assert_msg(strstr(plan, "alerts_tenant (tenant=? AND updated>?)") != NULL, "%s", plan);
		ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
	}

	for (int i = 0; i < 4; i++)
		sw_alert_clear(&a[i]);
}
END_TEST

/* Firing alerts of one rule and subject in any tenant, oldest first: the
 * resolved one, another subject, another rule are left out. */
START_TEST(test_alerts_firing_subject)
{
	struct sw_alert a[5];
	struct listed l = {0};
	const char *tenant[] = {"contoso", "fabrikam", "gone", "contoso", "fabrikam"};

	alert_fill(&a[0], "source-unhealthy", "config", 300);   /* a-000001 */
	alert_fill(&a[1], "source-unhealthy", "config", 100);   /* a-000002 */
	alert_fill(&a[2], "source-unhealthy", "config", 200);   /* a-000003, resolved */
	alert_fill(&a[3], "source-unhealthy", "signins", 200);  /* a-000004 */
	alert_fill(&a[4], "delivery-dead", "config", 200);      /* a-000005 */
	a[2].status = SW_ALERT_RESOLVED;
	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 0; i < 5; i++) {
		free(a[i].tenant);
		a[i].tenant = strdup(tenant[i]);
		ck_assert_int_eq(sw_store_alert_save(store, &a[i]), 0);
	}
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_alerts_firing_subject(store, "source-unhealthy", "config", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.ids[0], "a-000001");
	ck_assert_str_eq(l.ids[1], "a-000002");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_firing_subject(store, "delivery-dead", "config", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.ids[0], "a-000005");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(sw_store_alerts_firing_subject(store, "source-unhealthy", "exchange", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 0);
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	ck_assert_int_eq(sw_store_alerts_firing_subject(store, "source-unhealthy", "config", list_cb, &l), -ECANCELED);
	for (int i = 0; i < 5; i++)
		sw_alert_clear(&a[i]);
}
END_TEST

struct listed_text {
	char ids[16][24];
	char cursors[16][SW_ALERT_CURSOR_MAX];
	char *evidence[16];
	int n;
	int stop_after;
};

/* Record the ids and evidence texts the text list hands us, in order. */
static int list_text_cb(const struct sw_alert *a, const char *evidence, void *arg)
{
	struct listed_text *l = arg;

	ck_assert_int_lt(l->n, 16);
	ck_assert_ptr_null(a->evidence);
	ck_assert_ptr_nonnull(a->rule);
	ck_assert_str_eq(a->summary, "something happened");
	snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", a->id);
	sw_alert_page_cursor(a, l->cursors[l->n], sizeof(l->cursors[0]));
	l->evidence[l->n++] = strdup(evidence);
	if (l->stop_after && l->n == l->stop_after)
		return -ECANCELED;
	return 0;
}

/* Forget what a text list recorded. */
static void listed_text_clear(struct listed_text *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->evidence[i]);
	memset(l, 0, sizeof(*l));
}

/* 70 arrays deep: past sw_json_compact_object's 64. */
#define DEEP10_OPEN "[[[[[[[[[["
#define DEEP10_CLOSE "]]]]]]]]]]"
#define DEEP_OPEN DEEP10_OPEN DEEP10_OPEN DEEP10_OPEN DEEP10_OPEN DEEP10_OPEN DEEP10_OPEN DEEP10_OPEN
#define DEEP_CLOSE DEEP10_CLOSE DEEP10_CLOSE DEEP10_CLOSE DEEP10_CLOSE DEEP10_CLOSE DEEP10_CLOSE DEEP10_CLOSE

START_TEST(test_alerts_list_text)
{
	struct sw_alert a[4];
	struct listed_text l = {0};
	char *want;

	alert_fill(&a[0], "r", "s0", 100); /* a-000001 */
	alert_fill(&a[1], "r", "s1", 300); /* a-000002 */
	alert_fill(&a[2], "r", "s2", 200); /* a-000003, resolved */
	alert_fill(&a[3], "r", "s3", 300); /* a-000004, no evidence */
	a[2].status = SW_ALERT_RESOLVED;
	json_decref(a[3].evidence);
	a[3].evidence = NULL;
	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(sw_store_alert_save(store, &a[i]), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);

	/* The order and filters of sw_store_alerts_list, the evidence as the
	 * store wrote it. */
	want = json_dumps(a[0].evidence, JSON_COMPACT);
	ck_assert_int_eq(sw_store_alerts_list_text(store, false, 0, list_text_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.ids[0], "a-000004");
	ck_assert_str_eq(l.evidence[0], "{}");
	ck_assert_str_eq(l.ids[1], "a-000002");
	ck_assert_str_eq(l.evidence[1], want);
	ck_assert_str_eq(l.ids[2], "a-000001");
	ck_assert_str_eq(l.evidence[2], want);
	free(want);
	listed_text_clear(&l);
	ck_assert_int_eq(sw_store_alerts_list_text(store, true, 0, list_text_cb, &l), 0);
	ck_assert_int_eq(l.n, 4);
	ck_assert_str_eq(l.ids[2], "a-000003");
	listed_text_clear(&l);
	ck_assert_int_eq(sw_store_alerts_list_text(store, true, 200, list_text_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	listed_text_clear(&l);
	ck_assert_int_eq(sw_store_alerts_list_text(store, false, 200, list_text_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);
	listed_text_clear(&l);
	l.stop_after = 1;
	ck_assert_int_eq(sw_store_alerts_list_text(store, true, 0, list_text_cb, &l), -ECANCELED);
	ck_assert_int_eq(l.n, 1);
	listed_text_clear(&l);

	/* Rows edited by hand: what jansson would not load as an object shows
	 * as {} (as sw_store_alerts_list drops it), white space goes (a newline
	 * would end the reply line). */
	static const struct {
		const char *sql_value;
		const char *want;
	} cases[] = {
		{"'not json'", "{}"},
		{"'[1,2]'", "{}"},
		{"'{\"a\":1'", "{}"},
		{"'{ \"a\" :\n [1, \"x y\"] }'", "{\"a\":[1,\"x y\"]}"},
		{"CAST(X'7B2261223A22FF227D' AS TEXT)", "{}"},          /* {"a":"\xff"} */
		{"CAST(X'7B2261223A22C0AF227D' AS TEXT)", "{}"},        /* an overlong "/" */
		{"CAST(X'7B2261223A22EDA080227D' AS TEXT)", "{}"},      /* a surrogate */
		{"'{\"a\":\"\\u0000\"}'", "{}"},
		{"CAST(X'7B2261223A22C3A9F09F9880227D' AS TEXT)", "{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}"},
		{"'{\"a\":\"\\u00e9\\n\"}'", "{\"a\":\"\\u00e9\\n\"}"},
		{"'{\"a\":1}x'", "{}"},
		{"'{\"a\":tru}'", "{}"},
		{"'{\"a\":01}'", "{}"},
		/* a backslash, then the letters u0000: not a NUL */
		{"'{\"a\":\"\\\\u0000\"}'", "{\"a\":\"\\\\u0000\"}"},
		/* deeper than the one-pass check goes: SQLite's parser says */
		{"'{\"a\":" DEEP_OPEN "1" DEEP_CLOSE "}'", "{\"a\":" DEEP_OPEN "1" DEEP_CLOSE "}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char sql[256];

		snprintf(sql, sizeof(sql), "UPDATE alerts SET evidence = %s WHERE id = 'a-000001'", cases[i].sql_value);
		ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store), sql, NULL, NULL, NULL), SQLITE_OK);
		ck_assert_int_eq(sw_store_alerts_list_text(store, false, 0, list_text_cb, &l), 0);
		ck_assert_int_eq(l.n, 3);
		ck_assert_msg(strcmp(l.evidence[2], cases[i].want) == 0, "case %zu: %s, want %s", i, l.evidence[2],
		              cases[i].want);
		listed_text_clear(&l);
	}

	for (int i = 0; i < 4; i++)
		sw_alert_clear(&a[i]);
}
END_TEST

/* Pages of the text list: together the whole list in its order, each at
 * most limit long, "more" on all but the last, the cursor an index range
 * (no OFFSET), an unknown cursor -ENOENT (issue 22 #4). */
START_TEST(test_alerts_page_text)
{
	struct sw_alert a[7];
	struct listed_text whole = {0}, l = {0};
	struct sw_alert_page pg = {.all = true, .limit = 3};
	char cursor[SW_ALERT_CURSOR_MAX], plan[512] = "";
	bool more;
	int got = 0, pages = 0;
	sqlite3_stmt *st;

	for (int i = 0; i < 7; i++) {
		char subj[8];

		snprintf(subj, sizeof(subj), "s%d", i);
		alert_fill(&a[i], "r", subj, i < 4 ? 300 : 100 + i); /* four share one updated */
	}
	a[5].status = SW_ALERT_RESOLVED;
	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 0; i < 7; i++)
		ck_assert_int_eq(sw_store_alert_save(store, &a[i]), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_alerts_list_text(store, true, 0, list_text_cb, &whole), 0);
	ck_assert_int_eq(whole.n, 7);

	do {
		ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), 0);
		ck_assert_int_le(l.n - got, 3);
		ck_assert_int_gt(l.n - got, 0);
		got = l.n;
		pages++;
		if (more) {
			snprintf(cursor, sizeof(cursor), "%s", l.ids[l.n - 1]);
			pg.after = cursor;
		}
	} while (more && pages < 10);
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(l.n, 7);
	for (int i = 0; i < 7; i++)
		ck_assert_str_eq(l.ids[i], whole.ids[i]);
	listed_text_clear(&l);

	/* Position cursors (a page's "next"): the alert at the cursor is
	 * updated before the next page is asked for, and moves to the top;
	 * the next page still follows where it was, so the pages together
	 * are the list as it was, each alert once.  With its id alone the
	 * next page would start over from the top. */
	got = 0;
	pages = 0;
	pg.after = NULL;
	do {
		ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), 0);
		got = l.n;
		pages++;
		if (more) {
			snprintf(cursor, sizeof(cursor), "%s", l.cursors[l.n - 1]);
			ck_assert_ptr_nonnull(strstr(cursor, l.ids[l.n - 1]));
			pg.after = cursor;
			for (int i = 0; i < 7; i++)
				if (strcmp(a[i].id, l.ids[l.n - 1]) == 0) {
					a[i].updated = 5000 + pages;
					ck_assert_int_eq(sw_store_begin(store), 0);
					ck_assert_int_eq(sw_store_alert_save(store, &a[i]), 0);
					ck_assert_int_eq(sw_store_commit(store), 0);
				}
		}
	} while (more && pages < 10);
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(l.n, 7);
	for (int i = 0; i < 7; i++)
		ck_assert_str_eq(l.ids[i], whole.ids[i]);
	listed_text_clear(&l);
	/* The id alone: the moved alert is the top now, so the page after it
	 * is the list from the second alert on. */
	pg.after = whole.ids[2];
	pg.limit = 1;
	ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_ne(l.ids[0], whole.ids[3]);
	listed_text_clear(&l);
	pg.limit = 3;
	for (size_t i = 0; i < 5; i++) {
		static const char *const bad[] = {"a-000001@", "a-000001@12", "a-000001@x.1", "@12.3", "a-1@12.3x"};
		pg.after = bad[i];
		ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), -EINVAL);
		ck_assert_int_eq(l.n, 0);
	}

	/* A page that ends exactly at the end: no more. */
	pg.after = NULL;
	pg.limit = 7;
	ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), 0);
	ck_assert_int_eq(l.n, 7);
	ck_assert(!more);
	listed_text_clear(&l);

	/* Firing only: the resolved one is not in any page. */
	pg.all = false;
	pg.limit = 2;
	pg.after = whole.ids[3];
	ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert(!more);
	ck_assert_str_eq(l.ids[0], "a-000007");
	ck_assert_str_eq(l.ids[1], "a-000005");
	listed_text_clear(&l);

	pg.after = "a-999999";
	ck_assert_int_eq(sw_store_alerts_page_text(store, &pg, list_text_cb, &l, &more), -ENOENT);
	ck_assert_int_eq(l.n, 0);

	/* The page query starts in an index, with no temporary sort. */
	query_plan("SELECT seq FROM alerts WHERE status = 0 AND updated >= ?1 AND (updated, seq) < (?2, ?3) "
	           "ORDER BY updated DESC, seq DESC LIMIT ?4",
	           plan, sizeof(plan));
	ck_assert_msg(strstr(plan, "INDEX alerts_status (status=? AND updated>? AND updated<?)") != NULL, "%s", plan);
	ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);

	/* The firing counts (status, metrics) read the index alone: no table
	 * row, no sort (migration 18); and count what is firing. */
	query_plan("SELECT severity, count(*) FROM alerts WHERE status = 0 GROUP BY severity", plan, sizeof(plan));
	ck_assert_msg(strstr(plan, "COVERING INDEX alerts_status_severity (status=?)") != NULL, "%s", plan);
	ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
	int64_t by_sev[SW_SEV_CRITICAL + 1] = {0}, firing = 0, want = 0;
	ck_assert_int_eq(sw_store_alerts_count(store, by_sev), 0);
	for (int i = 0; i <= SW_SEV_CRITICAL; i++)
		firing += by_sev[i];
	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), "SELECT count(*) FROM alerts NOT INDEXED WHERE status = 0",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	want = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_gt(want, 0);
	ck_assert_int_eq(firing, want);

	listed_text_clear(&whole);
	for (int i = 0; i < 7; i++)
		sw_alert_clear(&a[i]);
}
END_TEST

/* The next due item of sink, asserting its alert id and transition. */
static int64_t expect_next(const char *sink, int64_t now, const char *alert_id, int transition)
{
	struct sw_outbox_item it = {0};
	int64_t id;

	ck_assert_int_eq(sw_store_outbox_next(store, sink, now, &it), 0);
	ck_assert_str_eq(it.alert_id, alert_id);
	ck_assert_int_eq(it.transition, transition);
	ck_assert_str_eq(it.sink, sink);
	ck_assert_ptr_nonnull(it.body);
	id = it.id;
	sw_outbox_item_clear(&it);
	return id;
}

/* An alert document of the flood rule for the digest tests. */
static void queue_doc(const char *id, int transition, int64_t now)
{
	char doc[256];

	snprintf(doc, sizeof(doc),
	         "{\"schema\":\"smtpwatch.alert/2\",\"id\":\"%s\",\"rule\":\"unapproved-basic-auth-submission\","
	         "\"severity\":\"%s\",\"tenant\":\"contoso\",\"tenant_id\":\"contoso.onmicrosoft.com\","
	         "\"subject\":\"%s@contoso.com\",\"last_seen\":\"2026-11-20T08:0%d:00Z\"}",
	         id, transition == 1 ? "high" : "critical", id, transition);
	ck_assert_int_eq(sw_store_outbox_add(store, id, transition, "soc", doc, now), 0);
}

/* Past digest_after notifications of one rule and tenant within the
 * window, the waiting ones become one digest row; the digest is the only
 * ready item, carries them, and takes them along when delivered.  A later
 * transition of a member waits for the digest. */
START_TEST(test_outbox_digest)
{
	struct sw_outbox_item it = {0};
	struct sw_outbox_stats st;
	char id[16];
	int made = -1;
	json_t *doc;

	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "a-%06d", i + 1);
		queue_doc(id, 1, 1000);
	}
	queue_doc("a-000001", 2, 1001); /* not ready: its transition 1 is pending */
	/* Not more than 13 yet (after = 13): nothing. */
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1001, 13, 300, NULL, &made, NULL), 0);
	ck_assert_int_eq(made, 0);
	/* One in flight (row 2) stays out of it. */
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1001, 10, 300, "[2]", &made, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(made, 1);
	ck_assert_int_eq(query_int("SELECT members FROM outbox WHERE alert_id LIKE 'digest-%'"), 11);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE digest IS NOT NULL"), 11);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE id = 2 AND digest IS NULL"), 1);
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.queued, 13); /* notifications, not rows */

	/* The ready items: row 2 (in flight elsewhere) and the digest. */
	ck_assert_int_eq(sw_store_outbox_next_except(store, "soc", 1001, "[2]", &it), 0);
	ck_assert_int_eq(strncmp(it.alert_id, "digest-", 7), 0);
	ck_assert_int_eq(it.transition, 0);
	doc = json_loads(it.body, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "schema")), "smtpwatch.digest/1");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), it.alert_id);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "count")), 11);
	ck_assert_int_eq(json_array_size(json_object_get(doc, "alerts")), 11);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "more")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "tenant_id")), "contoso.onmicrosoft.com");
	json_decref(doc);

	/* Delivered: the members with it, counted as notifications. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_outbox_delivered(store, it.id, 1002), 0);
	ck_assert_int_eq(sw_store_outbox_digest_done(store, it.id, "soc", false, 1002, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.delivered, 11);
	ck_assert_int_eq(st.queued, 2);
	/* a-000001's next transition is ready now that its first send is
	 * delivered (row 2 is still in flight). */
	sw_outbox_item_clear(&it);
	ck_assert_int_eq(sw_store_outbox_next_except(store, "soc", 1002, "[2]", &it), 0);
	ck_assert_str_eq(it.alert_id, "a-000001");
	ck_assert_int_eq(it.transition, 2);
	sw_outbox_item_clear(&it);
}
END_TEST

/* A digest not yet taken for sending takes the later notifications of its
 * group, and says so in its document; once sealed (taken), or while in
 * flight, it takes no more. */
START_TEST(test_outbox_digest_grows)
{
	struct sw_outbox_item it = {0};
	struct sw_outbox_stats st;
	int made = -1, grown = -1;
	int64_t d1, d2;
	char id[16], skip[32];
	json_t *doc;

	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof(id), "a-%06d", i);
		queue_doc(id, 1, 1000);
	}
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1000, 2, 300, NULL, &made, &grown), 0);
	ck_assert_int_eq(made, 1);
	ck_assert_int_eq(grown, 0);
	d1 = query_int("SELECT id FROM outbox WHERE members > 0");
	for (int i = 4; i <= 5; i++) {
		snprintf(id, sizeof(id), "a-%06d", i);
		queue_doc(id, 1, 1010);
	}
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1010, 2, 300, NULL, &made, &grown), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(made, 0);
	ck_assert_int_eq(grown, 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE members > 0"), 1);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 1010, &it), 0);
	ck_assert_int_eq(it.id, d1);
	doc = json_loads(it.body, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), it.alert_id);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "count")), 5);
	ck_assert_int_eq(json_array_size(json_object_get(doc, "alerts")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(doc, "alerts"), 4), "id")),
	                 "a-000005");
	json_decref(doc);
	sw_outbox_item_clear(&it);

	/* Taken for sending: sealed.  Later ones make a digest of their own. */
	ck_assert_int_eq(sw_store_outbox_seal(store, d1), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	for (int i = 6; i <= 7; i++) {
		snprintf(id, sizeof(id), "a-%06d", i);
		queue_doc(id, 1, 1020);
	}
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1020, 2, 300, NULL, &made, &grown), 0);
	ck_assert_int_eq(made, 1);
	ck_assert_int_eq(grown, 0);
	d2 = query_int("SELECT max(id) FROM outbox WHERE members > 0");
	ck_assert_int_ne(d2, d1);
	ck_assert_int_eq(query_int("SELECT members FROM outbox WHERE id = (SELECT min(id) FROM outbox WHERE members > 0)"), 5);
	/* In flight (in skip): it does not grow either, and one alone goes alone. */
	queue_doc("a-000008", 1, 1030);
	snprintf(skip, sizeof(skip), "[%lld]", (long long)d2);
	ck_assert_int_eq(sw_store_outbox_digest(store, "soc", 1030, 2, 300, skip, &made, &grown), 0);
	ck_assert_int_eq(made + grown, 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE digest IS NULL AND members = 0"), 1);

	/* The grown digest delivered: its five members with it. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_outbox_delivered(store, d1, 1040), 0);
	ck_assert_int_eq(sw_store_outbox_digest_done(store, d1, "soc", false, 1040, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.delivered, 5);
	ck_assert_int_eq(st.queued, 3);
}
END_TEST

START_TEST(test_outbox_flow)
{
	struct sw_outbox_item it = {0};
	struct sw_outbox_stats st;
	int64_t due, x1, x2;

	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 1000, &it), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_next_due(store, "soc", &due), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.queued + st.delivered + st.dead + st.failed_attempts + st.last_success, 0);

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000001", 1, "soc", "{\"id\":\"a-000001\"}", 1000), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000001", 1, "local", "{\"id\":\"a-000001\"}", 1000), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000002", 1, "soc", "{\"id\":\"a-000002\"}", 1001), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000001", 2, "soc", "{\"id\":\"a-000001\",\"t\":2}", 1002), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);

	/* Not due before it was created. */
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 999, &it), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_next_due(store, "soc", &due), 0);
	ck_assert_int_eq(due, 1000);
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.queued, 3);

	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 2000, &it), 0);
	ck_assert_str_eq(it.alert_id, "a-000001");
	ck_assert_int_eq(it.transition, 1);
	ck_assert_str_eq(it.body, "{\"id\":\"a-000001\"}");
	ck_assert_int_eq(it.attempts, 0);
	ck_assert_int_eq(it.created, 1000);
	ck_assert_int_eq(it.next_attempt, 1000);
	x1 = it.id;
	sw_outbox_item_clear(&it);

	/* The sink fails: retry in a minute.  The alert's second transition
	 * waits behind its first; the other alert goes ahead. */
	ck_assert_int_eq(sw_store_outbox_retry(store, x1, 2060, "HTTP 503"), 0);
	int64_t y1 = expect_next("soc", 2000, "a-000002", 1);
	ck_assert_int_eq(sw_store_outbox_delivered(store, y1, 2001), 0);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 2001, &it), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_next_due(store, "soc", &due), 0);
	ck_assert_int_eq(due, 2060);

	/* The other sink is on its own. */
	int64_t l1 = expect_next("local", 2000, "a-000001", 1);
	ck_assert_int_eq(sw_store_outbox_delivered(store, l1, 2000), 0);

	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 2060, &it), 0);
	ck_assert_int_eq(it.id, x1);
	ck_assert_int_eq(it.attempts, 1);
	ck_assert_int_eq(it.next_attempt, 2060);
	sw_outbox_item_clear(&it);
	ck_assert_int_eq(sw_store_outbox_delivered(store, x1, 2061), 0);
	/* Delivered is final: a second outcome for it is refused. */
	ck_assert_int_eq(sw_store_outbox_delivered(store, x1, 2062), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_retry(store, x1, 3000, "late"), -ENOENT);

	x2 = expect_next("soc", 2061, "a-000001", 2);
	ck_assert_int_eq(sw_store_outbox_dead(store, x2, 2100, "HTTP 400: bad request"), 0);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 9999, &it), -ENOENT);
	ck_assert_int_eq(sw_store_outbox_next_due(store, "soc", &due), -ENOENT);

	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.queued, 0);
	ck_assert_int_eq(st.delivered, 2);
	ck_assert_int_eq(st.failed_attempts, 2);
	ck_assert_int_eq(st.dead, 1);
	ck_assert_int_eq(st.last_success, 2061);
	ck_assert_str_eq(st.last_error, "HTTP 400: bad request");

	ck_assert_int_eq(sw_store_outbox_stats(store, "local", &st), 0);
	ck_assert_int_eq(st.delivered, 1);
	ck_assert_int_eq(st.failed_attempts, 0);
	ck_assert_int_eq(st.last_success, 2000);
	ck_assert_str_eq(st.last_error, "");

	/* Survives a restart. */
	reopen();
	ck_assert_int_eq(sw_store_outbox_stats(store, "soc", &st), 0);
	ck_assert_int_eq(st.delivered, 2);
	ck_assert_int_eq(st.dead, 1);
}
END_TEST

START_TEST(test_outbox_pending_survives_restart)
{
	struct sw_outbox_item it = {0};

	ck_assert_int_eq(sw_store_outbox_add(store, "a-000007", 3, "soc", "{}", 1000), 0);
	reopen();
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 1000, &it), 0);
	ck_assert_str_eq(it.alert_id, "a-000007");
	ck_assert_int_eq(it.transition, 3);
	sw_outbox_item_clear(&it);
	sw_outbox_item_clear(&it); /* cleared twice is fine */
}
END_TEST

/* The sign-ins older than the retention in slices (issue 22 #4): at most
 * the limit a call, the oldest first, across tenants, the counts kept;
 * the calls together delete what one whole prune would, nothing newer. */
START_TEST(test_prune_signins_sliced)
{
	char ids[50][16];
	struct sw_signin page[50];
	int64_t deleted = -1, total = 0, n = 0;
	int calls = 0;

	for (int i = 0; i < 50; i++) {
		snprintf(ids[i], sizeof(ids[i]), "s-%d", i);
		page[i] = signin(ids[i], 1000 + i * 10, "a@contoso.com", 0); /* 1000 .. 1490 */
	}
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 50, 3000, NULL), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "fabrikam", page, 20, 3000, NULL), 0);
	/* Before 1300: 30 of contoso's, all 20 of fabrikam's. */
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_prune_signins(store, 1300, 8, &deleted), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(deleted, 8);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins WHERE created < 1300"), 42);
	total = deleted;
	do {
		ck_assert_int_eq(sw_store_begin(store), 0);
		ck_assert_int_eq(sw_store_prune_signins(store, 1300, 8, &deleted), 0);
		ck_assert_int_eq(sw_store_commit(store), 0);
		ck_assert_int_le(deleted, 8);
		total += deleted;
		calls++;
	} while (deleted == 8 && calls < 20);
	ck_assert_int_eq(total, 50);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins WHERE created < 1300"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins"), 20);
	ck_assert_int_eq(sw_store_signins_count(store, "contoso", &n), 0);
	ck_assert_int_eq(n, 20);
	ck_assert_int_eq(sw_store_signins_count(store, "fabrikam", &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_prune)
{
	struct sw_signin page[] = {
		signin("old-1", 1000, "a@contoso.com", 0),
		signin("old-2", 1999, "a@contoso.com", 0),
		signin("new-1", 2000, "a@contoso.com", 0),
	};
	struct sw_outbox_item it = {0};
	int64_t deleted = -1;

	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 3, 3000, NULL), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "fabrikam", page, 1, 3000, NULL), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000001", 1, "soc", "{}", 1000), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000002", 1, "soc", "{}", 1000), 0);
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000003", 1, "soc", "{}", 1000), 0);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 1000, &it), 0);
	ck_assert_int_eq(sw_store_outbox_delivered(store, it.id, 1500), 0); /* old: pruned */
	sw_outbox_item_clear(&it);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 1000, &it), 0);
	ck_assert_int_eq(sw_store_outbox_delivered(store, it.id, 2500), 0); /* recent: kept */
	sw_outbox_item_clear(&it);
	/* a-000003 still pending: kept whatever its age. */

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_prune(store, 2000, &deleted), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(deleted, 4); /* 2 contoso + 1 fabrikam sign-ins, 1 outbox row */
	ck_assert_int_eq(signin_count("contoso"), 1);
	ck_assert_int_eq(signin_count("fabrikam"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM signins WHERE tenant = 'contoso' AND id = 'new-1'"), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox"), 2);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 9999, &it), 0);
	ck_assert_str_eq(it.alert_id, "a-000003");
	sw_outbox_item_clear(&it);

	/* A pruned record re-read in an overlapping window comes back once. */
	size_t added;
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", page, 3, 4000, &added), 0);
	ck_assert_uint_eq(added, 2);
	ck_assert_int_eq(signin_count("contoso"), 3);
}
END_TEST

/* One notification for three sinks: each is offered the same document;
 * the body stays while any sink's row is kept, and goes with the last. */
START_TEST(test_outbox_shared_body)
{
	const char *sinks[] = {"soc", "hec", "teams"};
	struct sw_outbox_new n = {.alert_id = "a-000001", .transition = 1, .rule = "r1", .tenant = "contoso",
	                          .body = "{\"id\":\"a-000001\",\"rule\":\"r1\",\"tenant\":\"contoso\"}"};
	struct sw_outbox_item it = {0};
	int64_t ids[3];

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_outbox_queue(store, &n, sinks, 3, 1000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(sw_store_outbox_next(store, sinks[i], 1000, &it), 0);
		ck_assert_str_eq(it.alert_id, "a-000001");
		ck_assert_str_eq(it.sink, sinks[i]);
		ck_assert_str_eq(it.body, n.body);
		ids[i] = it.id;
		sw_outbox_item_clear(&it);
	}
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE rule = 'r1' AND tenant = 'contoso'"), 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox_bodies"), 1);
	ck_assert_int_eq(sw_store_outbox_delivered(store, ids[0], 1100), 0);
	ck_assert_int_eq(sw_store_outbox_delivered(store, ids[1], 1100), 0);
	ck_assert_int_eq(sw_store_prune(store, 2000, NULL), 0);
	ck_assert_int_eq(sw_store_outbox_next(store, "teams", 2000, &it), 0); /* pending: kept, with its body */
	ck_assert_str_eq(it.body, n.body);
	sw_outbox_item_clear(&it);
	ck_assert_int_eq(sw_store_outbox_delivered(store, ids[2], 1200), 0);
	ck_assert_int_eq(sw_store_prune(store, 2000, NULL), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox_bodies"), 0);
	/* No sink: nothing stored. */
	ck_assert_int_eq(sw_store_outbox_queue(store, &n, sinks, 0, 3000), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox_bodies"), 0);
}
END_TEST

START_TEST(test_migration_outbox_bodies)
{
	/* A version-15 database whose outbox rows hold their bodies, one
	 * pending and one delivered: migration 16 keeps each body, and the
	 * pending one is offered with it. */
	struct sw_outbox_item it = {0};

	ck_assert_int_eq(sqlite3_exec(sw_store_sqlite(store),
	                              BODIES_UNDO
	                              "PRAGMA user_version = 15;"
	                              "INSERT INTO outbox (alert_id, transition, sink, body, state, created, next_attempt, "
	                              "rule, tenant) VALUES ('a-000001', 1, 'soc', '{\"n\":1}', 1, 10, 10, 'r', 't'),"
	                              " ('a-000002', 1, 'soc', '{\"n\":2}', 0, 11, 11, 'r', 't');"
	                              "INSERT INTO outbox (alert_id, transition, sink, body, created, next_attempt, rule, "
	                              "tenant, members) VALUES ('digest-3', 0, 'hec', '{}', 12, 12, 'r', 't', 2)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	reopen();
	/* Migration 17: a digest an older version made may have been on the
	 * wire: it takes no more members. */
	ck_assert_int_eq(query_int("SELECT sealed FROM outbox WHERE alert_id = 'digest-3'"), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE sealed = 1"), 1);
	ck_assert_int_eq(sw_store_schema_version(store), SW_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(sw_store_outbox_next(store, "soc", 20, &it), 0);
	ck_assert_str_eq(it.alert_id, "a-000002");
	ck_assert_str_eq(it.body, "{\"n\":2}");
	sw_outbox_item_clear(&it);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox o JOIN outbox_bodies b ON b.id = o.body_id "
	                           "WHERE o.alert_id = 'a-000001' AND b.body = '{\"n\":1}'"),
	                 1);
	/* and a notification queued now gets a body of its own */
	ck_assert_int_eq(sw_store_outbox_add(store, "a-000003", 1, "soc", "{\"rule\":\"r3\",\"tenant\":\"t\"}", 30), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox_bodies"), 4);
	ck_assert_int_eq(query_int("SELECT count(*) FROM outbox WHERE rule = 'r3'"), 1);
}
END_TEST

/* Every sw_store_cached() call site in lib/ holds a statement for the
 * store's life; more call sites than the cache holds would make the last
 * ones fail at run time (an Exchange snapshot once failed so). */
START_TEST(test_cached_statements_fit)
{
	char cmd[PATH_MAX + 128];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "cat %s/../../lib/*.c | grep -o 'sw_store_cached(s, \"' | wc -l",
	         getenv("SW_TEST_DATA"));
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	ck_assert_int_gt(n, 0);
	ck_assert_msg(n + 8 <= SW_STORE_CACHED_MAX, "up to %d cached statements in lib/, the cache holds %d: raise "
	              "SW_STORE_CACHED_MAX", n, SW_STORE_CACHED_MAX);
}
END_TEST

START_TEST(test_optimize)
{
	struct sw_signin s[200];
	char ids[200][16];

	for (int i = 0; i < 200; i++) {
		snprintf(ids[i], sizeof(ids[i]), "id-%d", i);
		s[i] = signin(ids[i], 1000 + i, i % 2 ? "a@contoso.com" : "b@contoso.com", 0);
	}
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", s, 200, 5000, NULL), 0);
	ck_assert_int_eq(sw_store_optimize(store), 0);
	ck_assert_int_gt(query_int("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'signins'"), 0);
	ck_assert_int_eq(sw_store_optimize(store), 0);
}
END_TEST

/* One page of an Exchange snapshot at `at`: the mailboxes named, their
 * switch on (false) for those in `on`; the sweep after it when last. */
static void mailbox_page(const char *const *addrs, size_t n, const char *on, int64_t at, bool last, bool commit,
                         size_t *ret_removed)
{
	struct sw_mailbox m[4] = {0};
	size_t changed, removed = 0;

	for (size_t i = 0; i < n; i++) {
		m[i].address = (char *)addrs[i];
		m[i].identity = (char *)addrs[i];
		m[i].object_id = "oid";
		m[i].smtp_disabled = strstr(on, addrs[i]) ? SW_TRI_FALSE : SW_TRI_NULL;
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_mailboxes_put(store, "contoso", m, n, at, true, &changed), 0);
	if (last)
		ck_assert_int_eq(sw_store_mailboxes_sweep(store, "contoso", at, &removed), 0);
	if (commit)
		ck_assert_int_eq(sw_store_commit(store), 0);
	else
		sw_store_rollback(store);
	if (ret_removed != NULL)
		*ret_removed = removed;
}

static int count_change_cb(const struct sw_mailbox_change *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static int mailbox_changes(const char *addr)
{
	int n = 0;

	ck_assert_int_eq(sw_store_mailbox_changes(store, "contoso", addr, 100, count_change_cb, &n), 0);
	return n;
}

static bool mailbox_present(const char *addr, int64_t *ret_last)
{
	struct sw_mailbox_row row;

	ck_assert_int_eq(sw_store_mailbox_get(store, "contoso", addr, &row), 0);
	if (ret_last != NULL)
		*ret_last = row.last_seen;
	return !row.removed;
}

/* An Exchange snapshot writes only the mailboxes that changed (issue 22
 * #1: every snapshot rewrote every row, a large tenant's whole table
 * through the WAL each run), and the sweep still finds the ones it did
 * not see: not those of a page rolled back, nor those of a run given up
 * before its sweep. */
START_TEST(test_mailbox_snapshot_writes_changes_only)
{
	const char *ab[] = {"a@contoso.com", "b@contoso.com"}, *b[] = {"b@contoso.com"}, *a[] = {"a@contoso.com"};
	size_t removed;
	int64_t last;

	mailbox_page(ab, 2, "", 1000, true, true, &removed);
	ck_assert_uint_eq(removed, 0);
	int a0 = mailbox_changes("a@contoso.com"), b0 = mailbox_changes("b@contoso.com");

	/* a as it was: not written; b switched on: written and recorded. */
	mailbox_page(ab, 2, "b@contoso.com", 2000, true, true, &removed);
	ck_assert_uint_eq(removed, 0);
	ck_assert(mailbox_present("a@contoso.com", &last));
	ck_assert_int_eq(last, 1000);
	ck_assert(mailbox_present("b@contoso.com", &last));
	ck_assert_int_eq(last, 2000);
	ck_assert_int_eq(mailbox_changes("a@contoso.com"), a0);
	ck_assert_int_eq(mailbox_changes("b@contoso.com"), b0 + 1);
	/* Nothing changed: nothing goes to the WAL. */
	char wal[PATH_MAX + 64];
	struct stat st0, st1;
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_int_eq(stat(wal, &st0), 0);
	mailbox_page(ab, 2, "b@contoso.com", 2500, true, true, &removed);
	ck_assert_int_eq(stat(wal, &st1), 0);
	ck_assert_int_eq(st1.st_size, st0.st_size);
	mailbox_page(ab, 2, "", 2600, true, true, &removed); /* and a change does */
	ck_assert_int_eq(stat(wal, &st1), 0);
	ck_assert_int_gt(st1.st_size, st0.st_size);
	mailbox_page(ab, 2, "b@contoso.com", 2700, true, true, &removed);

	/* a not seen (b's page only): removed, once. */
	mailbox_page(b, 1, "b@contoso.com", 3000, true, true, &removed);
	ck_assert_uint_eq(removed, 1);
	ck_assert(!mailbox_present("a@contoso.com", NULL));
	ck_assert_int_eq(mailbox_changes("a@contoso.com"), a0 + 1);
	mailbox_page(b, 1, "b@contoso.com", 3500, true, true, &removed);
	ck_assert_uint_eq(removed, 0);

	/* Back: written again. */
	mailbox_page(ab, 2, "b@contoso.com", 4000, true, true, &removed);
	ck_assert(mailbox_present("a@contoso.com", &last));
	ck_assert_int_eq(last, 4000);

	/* A page that saw a rolled back: a counts as not seen. */
	mailbox_page(a, 1, "b@contoso.com", 5000, false, false, NULL);
	mailbox_page(b, 1, "b@contoso.com", 5000, true, true, &removed);
	ck_assert_uint_eq(removed, 1);
	ck_assert(!mailbox_present("a@contoso.com", NULL));

	/* A run given up after its first page (no sweep): what it saw does
	 * not count for the next run's. */
	mailbox_page(ab, 2, "b@contoso.com", 6000, false, true, NULL);
	ck_assert(mailbox_present("a@contoso.com", NULL));
	mailbox_page(b, 1, "b@contoso.com", 7000, true, true, &removed);
	ck_assert_uint_eq(removed, 1);
	ck_assert(!mailbox_present("a@contoso.com", NULL));
	ck_assert(mailbox_present("b@contoso.com", NULL));
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_creates_schema);
	tcase_add_test(tc, test_mailbox_snapshot_writes_changes_only);
	tcase_add_test(tc, test_reopen_is_idempotent);
	tcase_add_test(tc, test_future_schema_refused);
	tcase_add_test(tc, test_wal_offload);
	tcase_add_test(tc, test_older_schema_migrates_forward);
	tcase_add_test(tc, test_signin_days_rollup);
	tcase_add_test(tc, test_open_unwritable_path_fails);
	tcase_add_test(tc, test_deleted_database_refused);
	tcase_add_test(tc, test_corrupt_database_refused);
	tcase_add_test(tc, test_deleted_while_open);
	tcase_add_test(tc, test_signins_dedupe_pages);
	tcase_add_test(tc, test_signins_same_id_shifted_created);
	tcase_add_test(tc, test_migration_drops_later_duplicates);
	tcase_add_test(tc, test_migration_alert_transition_at);
	tcase_add_test(tc, test_migration_outbox_groups);
	tcase_add_test(tc, test_signins_duplicates_within_batch);
	tcase_add_test(tc, test_signins_fields_stored);
	tcase_add_test(tc, test_checkpoint_roundtrip);
	tcase_add_test(tc, test_checkpoint_atomic_with_records);
	tcase_add_test(tc, test_rollback_without_transaction);
	tcase_add_test(tc, test_begin_busy_when_other_writer);
	tcase_add_test(tc, test_errno_mapping);
	tcase_add_test(tc, test_errmsg_from_extension_module);
	tcase_add_test(tc, test_alert_save_find_get);
	tcase_add_test(tc, test_alert_evidence_memo);
	tcase_add_test(tc, test_alerts_list_order_and_filters);
	tcase_add_test(tc, test_alerts_firing_subject);
	tcase_add_test(tc, test_alerts_list_text);
	tcase_add_test(tc, test_alerts_page_text);
	tcase_add_test(tc, test_outbox_flow);
	tcase_add_test(tc, test_outbox_digest);
	tcase_add_test(tc, test_outbox_digest_grows);
	tcase_add_test(tc, test_outbox_pending_survives_restart);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_outbox_shared_body);
	tcase_add_test(tc, test_migration_outbox_bodies);
	tcase_add_test(tc, test_prune_signins_sliced);
	tcase_add_test(tc, test_optimize);
	tcase_add_test(tc, test_cached_statements_fit);
	tcase_add_test(tc, test_capolicy_layers);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(store_suite)
