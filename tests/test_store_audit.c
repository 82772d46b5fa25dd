/* test_store_audit.c: the audit source's tables (store_audit.h) on a real
 * database: changes deduplicated on (tenant, Id), blob states, the
 * subscription. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "store_audit.h"
#include "store_int.h"

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 32];
static struct sw_store *store;
static struct sw_audit_blob blob;

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct sw_error err = {0};

	snprintf(dir, sizeof(dir), "%s/sw-store-audit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/smtpwatch.db", dir);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
	memset(&blob, 0, sizeof(blob));
}

static void teardown(void)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", SW_STORE_MARKER_SUFFIX};
	char p[PATH_MAX + 64];

	sw_audit_blob_clear(&blob);
	sw_store_free(store);
	store = NULL;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", dbpath, suffixes[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void reopen(void)
{
	struct sw_error err = {0};

	sw_store_free(store);
	store = NULL;
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
}

/* A Set-CASMailbox record as the audit log writes it. */
static void cas_record(char *out, size_t n, const char *id, const char *when, const char *who, const char *mailbox,
                       const char *value)
{
	snprintf(out, n,
	         "{\"Id\":\"%s\",\"RecordType\":1,\"Workload\":\"Exchange\",\"CreationTime\":\"%s\","
	         "\"Operation\":\"Set-CASMailbox\",\"ResultStatus\":\"True\",\"UserId\":\"%s\","
	         "\"ClientIP\":\"203.0.113.9:51234\",\"ObjectId\":\"%s\",\"OrganizationName\":\"contoso.onmicrosoft.com\","
	         "\"Parameters\":[{\"Name\":\"Identity\",\"Value\":\"%s\"},"
	         "{\"Name\":\"SmtpClientAuthenticationDisabled\",\"Value\":\"%s\"}]}",
	         id, when, who, mailbox, mailbox, value);
}

/* Parse a blob of records (a JSON array given as text) into `blob`. */
static void parse(const char *text)
{
	struct sw_error err = {0};

	sw_audit_blob_clear(&blob);
	ck_assert_int_eq(sw_audit_blob_parse(text, strlen(text), &blob, &err), 0);
}

/* Store `blob` for tenant in one transaction; the count added. */
static size_t store_blob(const char *tenant, int64_t now)
{
	size_t added = 99;

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_changes_add(store, tenant, blob.items, blob.n, now, &added), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	return added;
}

/* Three changes: two of scanner2 (on, then off), one of printer. */
static void three_changes(void)
{
	char r1[1024], r2[1024], r3[1024], text[4096];

	cas_record(r1, sizeof(r1), "id-1", "2026-12-01T10:15:02", "admin@contoso.com", "scanner2@contoso.com", "False");
	cas_record(r2, sizeof(r2), "id-2", "2026-12-01T11:00:00", "it-admin@contoso.com", "printer@contoso.com", "False");
	cas_record(r3, sizeof(r3), "id-3", "2026-12-01T12:00:00", "admin@contoso.com", "Scanner2@contoso.com", "True");
	snprintf(text, sizeof(text), "[%s,%s,%s]", r1, r2, r3);
	parse(text);
	ck_assert_uint_eq(blob.n, 3);
}

struct collected {
	size_t n;
	struct sw_change_row rows[8];
};

static int collect_cb(const struct sw_change_row *c, void *arg)
{
	struct collected *col = arg;

	if (col->n < 8)
		col->rows[col->n] = *c;
	col->n++;
	return 0;
}

START_TEST(test_changes_dedupe_on_id)
{
	three_changes();
	ck_assert_uint_eq(store_blob("contoso", 5000), 3);
	/* the overlap window lists the same records again: nothing new */
	ck_assert_uint_eq(store_blob("contoso", 6000), 0);
	/* the same Id in another tenant is another change */
	ck_assert_uint_eq(store_blob("fabrikam", 6000), 3);
	reopen();
	ck_assert_uint_eq(store_blob("contoso", 7000), 0);

	struct collected col = {0};
	ck_assert_int_eq(sw_store_changes_list(store, "contoso", NULL, 0, 0, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 3);
	/* ingested is the first store's time: the repeat changed nothing */
	ck_assert_int_eq(col.rows[0].ingested, 5000);
}
END_TEST

START_TEST(test_changes_fields_and_order)
{
	struct collected col = {0};

	three_changes();
	store_blob("contoso", 5000);
	ck_assert_int_eq(sw_store_changes_list(store, NULL, NULL, 0, 0, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 3);
	/* newest first */
	ck_assert_str_eq(col.rows[0].id, "id-3");
	ck_assert_str_eq(col.rows[1].id, "id-2");
	ck_assert_str_eq(col.rows[2].id, "id-1");
	const struct sw_change_row *c = &col.rows[2];
	ck_assert_str_eq(c->tenant, "contoso");
	ck_assert_int_eq(c->created, 1796120102); /* 2026-12-01T10:15:02Z */
	ck_assert_str_eq(c->operation, "Set-CASMailbox");
	ck_assert_str_eq(c->user, "admin@contoso.com");
	ck_assert_str_eq(c->actor, "person");
	ck_assert_str_eq(c->ip, "203.0.113.9");
	ck_assert_str_eq(c->object, "mailbox");
	ck_assert_str_eq(c->subject, "scanner2@contoso.com");
	ck_assert_str_eq(c->setting, "SmtpClientAuthenticationDisabled");
	ck_assert_str_eq(c->value, "False");
	ck_assert_str_eq(c->effect, "on");
	ck_assert_ptr_nonnull(strstr(c->parameters, "\"SmtpClientAuthenticationDisabled\""));
	ck_assert_str_eq(col.rows[0].effect, "off");
}
END_TEST

START_TEST(test_changes_filters)
{
	struct collected col = {0};

	three_changes();
	store_blob("contoso", 5000);
	store_blob("fabrikam", 5000);
	/* one subject, any case */
	ck_assert_int_eq(sw_store_changes_list(store, "contoso", "SCANNER2@contoso.com", 0, 0, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 2);
	ck_assert_str_eq(col.rows[0].id, "id-3");
	/* since: created at or after */
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(sw_store_changes_list(store, "contoso", NULL, 1796122800, 0, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 2); /* 11:00 and 12:00 */
	/* limit, across tenants */
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(sw_store_changes_list(store, NULL, NULL, 0, 4, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 4);
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(sw_store_changes_list(store, "northwind", NULL, 0, 0, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 0);
}
END_TEST

static int stop_cb(const struct sw_change_row *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return -ECANCELED;
}

START_TEST(test_changes_after_cursor)
{
	struct collected col = {0};
	int calls = 0;

	three_changes();
	store_blob("contoso", 5000);
	ck_assert_int_eq(sw_store_changes_after(store, "contoso", 0, 2, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 2);
	/* oldest rowid first: the order of arrival, not of CreationTime */
	ck_assert_int_lt(col.rows[0].rowid, col.rows[1].rowid);
	int64_t cursor = col.rows[1].rowid;
	memset(&col, 0, sizeof(col));
	ck_assert_int_eq(sw_store_changes_after(store, "contoso", cursor, 10, collect_cb, &col), 0);
	ck_assert_uint_eq(col.n, 1);
	ck_assert_int_eq(sw_store_changes_after(store, "contoso", 0, 10, stop_cb, &calls), -ECANCELED);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(test_change_latest)
{
	struct sw_change_row row;
	const char *const both[] = {"printer@contoso.com", "SCANNER2@CONTOSO.COM", NULL};
	const char *const scanner[] = {"", "scanner2", "scanner2@contoso.com", NULL};
	const char *const nobody[] = {"nobody@contoso.com", NULL};

	three_changes();
	store_blob("contoso", 5000);
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", scanner, NULL, INT64_MAX, &row), 0);
	ck_assert_str_eq(row.id, "id-3");
	/* until: the state seen at 11:30 was produced by id-1 */
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", scanner, NULL, 1796124600, &row), 0);
	ck_assert_str_eq(row.id, "id-1");
	/* several names: the latest of all of them */
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", both, NULL, 1796124600, &row), 0);
	ck_assert_str_eq(row.id, "id-2");
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", nobody, NULL, INT64_MAX, &row), -ENOENT);
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "tenant", both, NULL, INT64_MAX, &row), -ENOENT);
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", scanner, NULL, 1000, &row), -ENOENT);
	/* any subject; a setting that none of them has */
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", NULL, NULL, 1796124600, &row), 0);
	ck_assert_str_eq(row.id, "id-2");
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", NULL, "AuthenticationPolicy", INT64_MAX,
	                                        &row), -ENOENT);
	ck_assert_int_eq(sw_store_change_latest(store, "contoso", "mailbox", NULL, "SmtpClientAuthenticationDisabled",
	                                        INT64_MAX, &row), 0);
	ck_assert_str_eq(row.id, "id-3");
}
END_TEST

static int lost_cb(const struct sw_blob_lost *b, void *arg)
{
	struct sw_blob_lost *out = arg;

	*out = *b;
	return 0;
}

START_TEST(test_blob_states)
{
	struct sw_audit_content c1 = {.id = (char *)"blob-1", .uri = (char *)"https://manage.office.com/x/1",
	                              .created = 1000, .expiration = 1000 + 7 * 86400};
	struct sw_audit_content c2 = {.id = (char *)"blob-2", .uri = (char *)"https://manage.office.com/x/2",
	                              .created = 2000, .expiration = 2000 + 7 * 86400};
	enum sw_blob_state state;
	struct sw_blob_lost lost = {0};
	int64_t deleted = -1;

	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-1", &state), -ENOENT);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c1, SW_BLOB_PENDING, 0, NULL, 3000), 0);
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c2, SW_BLOB_PENDING, 0, NULL, 3000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-1", &state), 0);
	ck_assert_int_eq(state, SW_BLOB_PENDING);
	ck_assert_int_eq(sw_store_blob_state(store, "fabrikam", "blob-1", &state), -ENOENT);

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c1, SW_BLOB_READ, 12, NULL, 3100), 0);
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c2, SW_BLOB_LOST, 0, "404 Not Found after expiry", 3100),
	                 0);
	/* listed again in the overlap window: a read blob stays read */
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c1, SW_BLOB_PENDING, 0, NULL, 4000), 0);
	ck_assert_int_eq(sw_store_blob_put(store, "contoso", &c1, SW_BLOB_LOST, 0, "x", 4000), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	reopen();
	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-1", &state), 0);
	ck_assert_int_eq(state, SW_BLOB_READ);
	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-2", &state), 0);
	ck_assert_int_eq(state, SW_BLOB_LOST);

	ck_assert_int_eq(sw_store_blobs_lost(store, "contoso", 10, lost_cb, &lost), 0);
	ck_assert_str_eq(lost.content_id, "blob-2");
	ck_assert_int_eq(lost.created, 2000);
	ck_assert_int_eq(lost.expiration, 2000 + 7 * 86400);
	ck_assert_int_eq(lost.noticed, 3100);
	ck_assert_str_eq(lost.why, "404 Not Found after expiry");

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_blobs_prune(store, 1500, &deleted), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-1", &state), -ENOENT);
	ck_assert_int_eq(sw_store_blob_state(store, "contoso", "blob-2", &state), 0);
}
END_TEST

START_TEST(test_subscription)
{
	struct sw_subscription sub;

	ck_assert_int_eq(sw_store_subscription_get(store, "contoso", "Audit.Exchange", &sub), -ENOENT);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_subscription_put(store, "contoso", "Audit.Exchange", "enabled", NULL, 100), 0);
	ck_assert_int_eq(sw_store_subscription_put(store, "contoso", "Audit.Exchange", "enabled", "AF20024", 200), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	ck_assert_int_eq(sw_store_subscription_get(store, "contoso", "Audit.Exchange", &sub), 0);
	ck_assert_str_eq(sub.status, "enabled");
	ck_assert_int_eq(sub.changed, 100); /* the same status again: since when it is so */
	ck_assert_str_eq(sub.why, "AF20024");
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_subscription_put(store, "contoso", "Audit.Exchange", "disabled",
	                                           "AF20023: The subscription was disabled", 300),
	                 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	reopen();
	ck_assert_int_eq(sw_store_subscription_get(store, "contoso", "Audit.Exchange", &sub), 0);
	ck_assert_str_eq(sub.status, "disabled");
	ck_assert_int_eq(sub.changed, 300);
	ck_assert_str_eq(sub.why, "AF20023: The subscription was disabled");
	ck_assert_int_eq(sw_store_subscription_get(store, "fabrikam", "Audit.Exchange", &sub), -ENOENT);
}
END_TEST

START_TEST(test_rollback_keeps_nothing)
{
	/* A crash before the commit (the checkpoint commits with the
	 * records): nothing half-stored, and the retry stores each once. */
	size_t added = 0;

	three_changes();
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_changes_add(store, "contoso", blob.items, blob.n, 5000, &added), 0);
	ck_assert_uint_eq(added, 3);
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_uint_eq(store_blob("contoso", 6000), 3);
}
END_TEST

static Suite *store_audit_suite(void)
{
	Suite *s = suite_create("store_audit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_changes_dedupe_on_id);
	tcase_add_test(tc, test_changes_fields_and_order);
	tcase_add_test(tc, test_changes_filters);
	tcase_add_test(tc, test_changes_after_cursor);
	tcase_add_test(tc, test_change_latest);
	tcase_add_test(tc, test_blob_states);
	tcase_add_test(tc, test_subscription);
	tcase_add_test(tc, test_rollback_keeps_nothing);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(store_audit_suite)
