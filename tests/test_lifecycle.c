/* test_lifecycle.c: conditions -> alerts -> outbox rows, on a real store. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "fixture.h"
#include "store_int.h"
#include "lifecycle.h"
#include "store_lifecycle.h"

#define RULE_UNAPPROVED "unapproved-basic-auth-submission" /* high */
#define RULE_SPRAY "smtp-auth-password-spray"              /* high */
#define RULE_EXPIRING "exception-expiring"                 /* low */
#define RULE_TENANT "tenant-smtp-auth-enabled"             /* critical */
#define RULE_UNAPPROVED_MBX "unapproved-mailbox-exception" /* high */

static char dir[PATH_MAX];
static char dbpath[PATH_MAX + 32];
static struct sw_store *store;
static struct sw_config cfg;
static char *spray_rules[] = {RULE_SPRAY, NULL};
static char *star_rules[] = {"*", NULL};

/* A store in a fresh directory and three sinks:
 *   soc:        medium and up, every rule
 *   spray-only: every severity, only the password-spray rule
 *   everything: every severity, rules = *        */
static void setup(void)
{
	struct sw_error err = {0};

	fixture_tmpdir(dir, sizeof(dir), "lifecycle");
	snprintf(dbpath, sizeof(dbpath), "%s/smtpwatch.db", dir);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.n_sinks = 3;
	cfg.sinks = calloc(cfg.n_sinks, sizeof(*cfg.sinks));
	ck_assert_ptr_nonnull(cfg.sinks);
	cfg.sinks[0].name = "soc";
	cfg.sinks[0].type = SW_SINK_WEBHOOK;
	cfg.sinks[0].min_severity = SW_SEV_MEDIUM;
	cfg.sinks[1].name = "spray-only";
	cfg.sinks[1].type = SW_SINK_TEAMS;
	cfg.sinks[1].min_severity = SW_SEV_INFO;
	cfg.sinks[1].rules = spray_rules;
	cfg.sinks[2].name = "everything";
	cfg.sinks[2].type = SW_SINK_SYSLOG;
	cfg.sinks[2].min_severity = SW_SEV_INFO;
	cfg.sinks[2].rules = star_rules;
	ck_assert_int_eq(sw_store_begin(store), 0);
}

static void teardown(void)
{
	sw_store_rollback(store);
	sw_store_free(store);
	store = NULL;
	free(cfg.sinks);
	memset(&cfg, 0, sizeof(cfg));
	fixture_rmtree(dir);
}

/* Outbox rows queued for a sink so far. */
static int rows(const char *sink)
{
	sqlite3_stmt *st;
	int n;

	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store), "SELECT count(*) FROM outbox WHERE sink = ?1", -1,
	                                    &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The newest outbox row of a sink: its transition, and the document it
 * delivers (its body, shared with the other sinks' rows) parsed. */
static json_t *last_doc(const char *sink, int *ret_transition, char *ret_alert_id)
{
	sqlite3_stmt *st;
	json_t *doc;

	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store),
	                                    "SELECT o.alert_id, o.transition, b.body FROM outbox o JOIN outbox_bodies b "
	                                    "ON b.id = o.body_id WHERE o.sink = ?1 ORDER BY o.id DESC LIMIT 1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	if (ret_alert_id)
		strcpy(ret_alert_id, (const char *)sqlite3_column_text(st, 0));
	if (ret_transition)
		*ret_transition = sqlite3_column_int(st, 1);
	doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	sqlite3_finalize(st);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

static const char *doc_str(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	ck_assert_msg(json_is_string(v), "document member %s is not a string", key);
	return json_string_value(v);
}

static int64_t doc_int(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	ck_assert_msg(json_is_integer(v), "document member %s is not an integer", key);
	return json_integer_value(v);
}

/* A condition for a subject, the rest filled with usual values. */
static struct sw_condition cond(const char *rule, enum sw_severity sev, const char *subject, int64_t count,
                                bool accumulate)
{
	return (struct sw_condition){
		.rule = rule,
		.severity = sev,
		.tenant = "contoso",
		.subject = subject,
		.first_seen = 1795161672, /* 2026-11-20T08:01:12Z */
		.last_seen = 1795167903,  /* 2026-11-20T09:45:03Z */
		.count = count,
		.accumulate = accumulate,
		.summary = "something is wrong",
		.remediation = "fix it",
	};
}

static bool fire(const struct sw_condition *c, int64_t now)
{
	bool notified = false;

	ck_assert_int_eq(sw_lifecycle_fire(store, &cfg, c, now, &notified), 0);
	return notified;
}

static struct sw_alert find(const char *rule, const char *subject)
{
	struct sw_alert a = {0};

	ck_assert_int_eq(sw_store_alert_find(store, rule, "contoso", subject, &a), 0);
	return a;
}

START_TEST(test_first_fire_queues_per_matching_sink)
{
	struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "scanner2@contoso.com", 14, true);
	char alert_id[24];
	int transition;
	json_t *doc;

	c.evidence = json_pack("{s:[s],s:[s]}", "ips", "198.51.100.7", "countries", "NL");
	ck_assert(fire(&c, 1795168000));
	json_decref(c.evidence);
	ck_assert_int_eq(rows("soc"), 1);
	ck_assert_int_eq(rows("spray-only"), 0);
	ck_assert_int_eq(rows("everything"), 1);

	doc = last_doc("soc", &transition, alert_id);
	ck_assert_str_eq(alert_id, "a-000001");
	ck_assert_int_eq(transition, 1);
	ck_assert_str_eq(doc_str(doc, "id"), "a-000001");
	ck_assert_str_eq(doc_str(doc, "rule"), RULE_UNAPPROVED);
	ck_assert_str_eq(doc_str(doc, "severity"), "high");
	ck_assert_str_eq(doc_str(doc, "tenant"), "contoso");
	ck_assert_str_eq(doc_str(doc, "subject"), "scanner2@contoso.com");
	ck_assert_str_eq(doc_str(doc, "status"), "firing");
	ck_assert_str_eq(doc_str(doc, "first_seen"), "2026-11-20T08:01:12Z");
	ck_assert_str_eq(doc_str(doc, "last_seen"), "2026-11-20T09:45:03Z");
	ck_assert_int_eq(doc_int(doc, "count"), 14);
	ck_assert_str_eq(doc_str(doc, "summary"), "something is wrong");
	ck_assert_str_eq(doc_str(doc, "remediation"), "fix it");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(doc, "evidence"), "ips"), 0)),
	                 "198.51.100.7");
	ck_assert_int_eq(doc_int(doc, "transition"), 1);
	ck_assert(json_is_false(json_object_get(doc, "acked")));
	json_decref(doc);

	/* The stored alert agrees. */
	struct sw_alert a = find(RULE_UNAPPROVED, "scanner2@contoso.com");
	ck_assert_int_eq(a.transition, 1);
	ck_assert_int_eq(a.notified_count, 14);
	ck_assert_int_eq(a.updated, 1795168000);
	sw_alert_clear(&a);

	/* Sink filters: a low alert reaches only "everything"; the spray
	 * rule reaches all three. */
	c = cond(RULE_EXPIRING, SW_SEV_LOW, "scanner-hq@contoso.com", 1, false);
	ck_assert(fire(&c, 1795168000));
	ck_assert_int_eq(rows("soc"), 1);
	ck_assert_int_eq(rows("spray-only"), 0);
	ck_assert_int_eq(rows("everything"), 2);
	c = cond(RULE_SPRAY, SW_SEV_HIGH, "198.51.100.7", 25, true);
	ck_assert(fire(&c, 1795168000));
	ck_assert_int_eq(rows("soc"), 2);
	ck_assert_int_eq(rows("spray-only"), 1);
	ck_assert_int_eq(rows("everything"), 3);
}
END_TEST

START_TEST(test_identical_fire_queues_nothing)
{
	struct sw_condition c = cond(RULE_TENANT, SW_SEV_CRITICAL, "contoso.onmicrosoft.com", 1, false);
	struct sw_alert a;

	ck_assert(fire(&c, 1000));
	ck_assert_int_eq(rows("soc"), 1);
	ck_assert(!fire(&c, 2000));
	ck_assert(!fire(&c, 3000));
	ck_assert_int_eq(rows("soc"), 1);
	ck_assert_int_eq(rows("everything"), 1);
	a = find(RULE_TENANT, "contoso.onmicrosoft.com");
	ck_assert_int_eq(a.transition, 1);
	ck_assert_int_eq(a.count, 1);
	ck_assert_int_eq(a.updated, 1000); /* nothing changed since it fired */
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_accumulate_notifies_on_powers_of_two)
{
	/* Occurrences added per fire, and whether that fire notifies:
	 * 1 (new) -> 2 yes -> 3 no -> 4 yes -> 7 no -> 8 yes. */
	static const struct {
		int64_t add, total;
		bool notify;
	} steps[] = {
		{1, 1, true}, {1, 2, true}, {1, 3, false}, {1, 4, true}, {3, 7, false}, {1, 8, true},
	};
	int transition = 0;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "scanner2@contoso.com", steps[i].add, true);
		struct sw_alert a;

		c.last_seen += (int64_t)i;
		ck_assert_msg(fire(&c, 2000 + (int64_t)i) == steps[i].notify, "step %zu", i);
		a = find(RULE_UNAPPROVED, "scanner2@contoso.com");
		ck_assert_int_eq(a.count, steps[i].total);
		if (steps[i].notify)
			transition++;
		ck_assert_int_eq(a.transition, transition);
		ck_assert_int_eq(rows("soc"), transition);
		sw_alert_clear(&a);
	}
	json_t *doc = last_doc("soc", &transition, NULL);
	ck_assert_int_eq(transition, 4);
	ck_assert_int_eq(doc_int(doc, "count"), 8);
	ck_assert_int_eq(doc_int(doc, "transition"), 4);
	ck_assert_str_eq(doc_str(doc, "last_seen"), "2026-11-20T09:45:08Z");
	json_decref(doc);
}
END_TEST

START_TEST(test_state_count_not_accumulated)
{
	struct sw_condition c = cond(RULE_UNAPPROVED_MBX, SW_SEV_HIGH, "x@contoso.com", 5, false);
	struct sw_alert a;

	ck_assert(fire(&c, 1000));
	ck_assert(!fire(&c, 1100));
	c.count = 7;
	ck_assert(!fire(&c, 1200)); /* 7 < 8, the next power of two above 5 */
	c.count = 8;
	ck_assert(fire(&c, 1300));
	c.count = 6;
	ck_assert(!fire(&c, 1350)); /* not a growth */
	c.count = 6;
	a = find(RULE_UNAPPROVED_MBX, "x@contoso.com");
	ck_assert_int_eq(a.count, 6);
	ck_assert_int_eq(a.notified_count, 8);
	ck_assert_int_eq(a.transition, 2);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_seen_times_widen)
{
	struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "s@contoso.com", 1, true);
	struct sw_alert a;

	c.first_seen = 5000;
	c.last_seen = 6000;
	fire(&c, 7000);
	c.first_seen = 5500; /* a late batch inside the window */
	c.last_seen = 5800;
	fire(&c, 7100);
	c.first_seen = 4000; /* late records from before */
	c.last_seen = 4500;
	fire(&c, 7200);
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ck_assert_int_eq(a.first_seen, 4000);
	ck_assert_int_eq(a.last_seen, 6000);
	ck_assert_int_eq(a.count, 3);
	ck_assert_int_eq(a.updated, 7200);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_evidence_merge)
{
	struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "s@contoso.com", 1, true);
	struct sw_alert a;
	char id[32];

	c.evidence = json_pack("{s:[s,s],s:[s],s:s}", "ips", "198.51.100.7", "203.0.113.1", "countries", "NL",
	                       "note", "first");
	fire(&c, 1000);
	json_decref(c.evidence);
	c.evidence = json_pack("{s:[s,s],s:s,s:[]}", "ips", "203.0.113.1", "192.0.2.5", "note", "second",
	                       "signin_ids");
	json_t *ids = json_object_get(c.evidence, "signin_ids");
	for (int i = 0; i < 60; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		json_array_append_new(ids, json_string(id));
	}
	fire(&c, 1100);
	json_decref(c.evidence);

	a = find(RULE_UNAPPROVED, "s@contoso.com");
	json_t *ips = json_object_get(a.evidence, "ips");
	ck_assert_int_eq(json_array_size(ips), 3);
	ck_assert_str_eq(json_string_value(json_array_get(ips, 0)), "198.51.100.7");
	ck_assert_str_eq(json_string_value(json_array_get(ips, 1)), "203.0.113.1");
	ck_assert_str_eq(json_string_value(json_array_get(ips, 2)), "192.0.2.5");
	ck_assert_int_eq(json_array_size(json_object_get(a.evidence, "countries")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(a.evidence, "note")), "second");
	ck_assert_int_eq(json_array_size(json_object_get(a.evidence, "signin_ids")), 50);
	sw_alert_clear(&a);

	/* Union is capped too. */
	c.evidence = json_object();
	ips = json_array();
	for (int i = 0; i < 80; i++) {
		snprintf(id, sizeof(id), "10.0.0.%d", i);
		json_array_append_new(ips, json_string(id));
	}
	json_object_set_new(c.evidence, "ips", ips);
	fire(&c, 1200);
	json_decref(c.evidence);
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ips = json_object_get(a.evidence, "ips");
	ck_assert_int_eq(json_array_size(ips), 50);
	ck_assert_str_eq(json_string_value(json_array_get(ips, 0)), "198.51.100.7");
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_resolve_and_come_back)
{
	struct sw_condition c = cond(RULE_TENANT, SW_SEV_CRITICAL, "contoso.onmicrosoft.com", 1, false);
	struct sw_alert a;
	int64_t by_sev[SW_SEV_CRITICAL + 1] = {0};
	int transition;
	json_t *doc;

	ck_assert(fire(&c, 1000));
	ck_assert_int_eq(sw_store_alerts_count(store, by_sev), 0);
	ck_assert_int_eq(by_sev[SW_SEV_CRITICAL], 1);
	ck_assert_int_eq(by_sev[SW_SEV_HIGH] + by_sev[SW_SEV_MEDIUM] + by_sev[SW_SEV_LOW] + by_sev[SW_SEV_INFO], 0);
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_TENANT, "contoso", "contoso.onmicrosoft.com", 1795168000),
	                 0);
	by_sev[SW_SEV_CRITICAL] = 0;
	ck_assert_int_eq(sw_store_alerts_count(store, by_sev), 0);
	ck_assert_int_eq(by_sev[SW_SEV_CRITICAL], 0); /* resolved: not firing */
	ck_assert_int_eq(rows("soc"), 2);
	ck_assert_int_eq(rows("everything"), 2);
	doc = last_doc("soc", &transition, NULL);
	ck_assert_int_eq(transition, 2);
	ck_assert_str_eq(doc_str(doc, "status"), "resolved");
	ck_assert_int_eq(doc_int(doc, "transition"), 2);
	ck_assert_str_eq(doc_str(doc, "resolved_at"), "2026-11-20T09:46:40Z");
	json_decref(doc);
	a = find(RULE_TENANT, "contoso.onmicrosoft.com");
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	ck_assert_int_eq(a.resolved_at, 1795168000);
	ck_assert_int_eq(a.updated, 1795168000);
	sw_alert_clear(&a);

	/* Resolving again, or what never fired, does nothing. */
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_TENANT, "contoso", "contoso.onmicrosoft.com", 3000), 0);
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_TENANT, "contoso", "fabrikam.onmicrosoft.com", 3000), 0);
	ck_assert_int_eq(rows("soc"), 2);

	/* It comes back: same alert id, new transition, count starts over. */
	c.first_seen = 1795170000;
	c.last_seen = 1795170000;
	ck_assert(fire(&c, 1795170000));
	ck_assert_int_eq(rows("soc"), 3);
	doc = last_doc("soc", &transition, NULL);
	ck_assert_int_eq(transition, 3);
	ck_assert_str_eq(doc_str(doc, "id"), "a-000001");
	ck_assert_str_eq(doc_str(doc, "status"), "firing");
	ck_assert_int_eq(doc_int(doc, "count"), 1);
	/* Version 2: null while firing, and when this send was decided. */
	ck_assert(json_is_null(json_object_get(doc, "resolved_at")));
	ck_assert_str_eq(doc_str(doc, "transition_at"), "2026-11-20T10:20:00Z");
	json_decref(doc);
	a = find(RULE_TENANT, "contoso.onmicrosoft.com");
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	ck_assert_int_eq(a.resolved_at, 0);
	ck_assert_int_eq(a.first_seen, 1795170000);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_acked_no_renotify_on_growth)
{
	struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "s@contoso.com", 1, true);
	struct sw_alert a;
	json_t *doc;

	ck_assert(fire(&c, 1000));
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	a.acked = true;
	a.ack_note = strdup("known, migrating next week");
	ck_assert_int_eq(sw_store_alert_save(store, &a), 0);
	sw_alert_clear(&a);

	c.count = 10;
	ck_assert(!fire(&c, 1100)); /* 11 >= 2, but acked */
	ck_assert_int_eq(rows("soc"), 1);
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ck_assert_int_eq(a.count, 11);
	ck_assert(a.acked);
	ck_assert_int_eq(a.transition, 1);
	sw_alert_clear(&a);

	/* The resolution is still news. */
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_UNAPPROVED, "contoso", "s@contoso.com", 1200), 0);
	ck_assert_int_eq(rows("soc"), 2);
	doc = last_doc("soc", NULL, NULL);
	ck_assert_str_eq(doc_str(doc, "status"), "resolved");
	ck_assert(json_is_true(json_object_get(doc, "acked")));
	ck_assert_int_eq(doc_int(doc, "transition"), 2);
	json_decref(doc);

	/* And when it comes back it is news again: the ack is gone. */
	c.count = 1;
	ck_assert(fire(&c, 1300));
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ck_assert(!a.acked);
	ck_assert_ptr_null(a.ack_note);
	ck_assert_int_eq(a.transition, 3);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_sync_resolves_missing_subjects)
{
	const char *subjects[] = {"a@contoso.com", "b@contoso.com", "c@contoso.com"};
	const char *still[] = {"c@contoso.com", "a@contoso.com", "new@contoso.com"};
	struct sw_alert a;
	size_t resolved = 0;

	for (int i = 0; i < 3; i++) {
		struct sw_condition c = cond(RULE_UNAPPROVED_MBX, SW_SEV_HIGH, subjects[i], 1, false);
		ck_assert(fire(&c, 1000));
	}
	/* Another rule and another tenant are not touched. */
	struct sw_condition other = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "b@contoso.com", 1, true);
	ck_assert(fire(&other, 1000));
	other = cond(RULE_UNAPPROVED_MBX, SW_SEV_HIGH, "b@contoso.com", 1, false);
	other.tenant = "fabrikam";
	ck_assert(fire(&other, 1000));
	ck_assert_int_eq(rows("soc"), 5);

	ck_assert_int_eq(sw_lifecycle_sync(store, &cfg, RULE_UNAPPROVED_MBX, "contoso", still, 3, 2000, &resolved), 0);
	ck_assert_uint_eq(resolved, 1);
	ck_assert_int_eq(rows("soc"), 6);
	a = find(RULE_UNAPPROVED_MBX, "b@contoso.com");
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	sw_alert_clear(&a);
	a = find(RULE_UNAPPROVED_MBX, "a@contoso.com");
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);
	a = find(RULE_UNAPPROVED_MBX, "c@contoso.com");
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);
	a = find(RULE_UNAPPROVED, "b@contoso.com");
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);
	ck_assert_int_eq(sw_store_alert_find(store, RULE_UNAPPROVED_MBX, "fabrikam", "b@contoso.com", &a), 0);
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	sw_alert_clear(&a);

	/* Same set again: nothing new. */
	ck_assert_int_eq(sw_lifecycle_sync(store, &cfg, RULE_UNAPPROVED_MBX, "contoso", still, 3, 2100, &resolved), 0);
	ck_assert_uint_eq(resolved, 1); /* nothing new */
	ck_assert_int_eq(rows("soc"), 6);
	/* Nothing present any more: everything left resolves. */
	ck_assert_int_eq(sw_lifecycle_sync(store, &cfg, RULE_UNAPPROVED_MBX, "contoso", NULL, 0, 2200, &resolved), 0);
	ck_assert_uint_eq(resolved, 3);
	ck_assert_int_eq(rows("soc"), 8);
	a = find(RULE_UNAPPROVED_MBX, "c@contoso.com");
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	ck_assert_int_eq(a.resolved_at, 2200);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_no_sinks_still_transitions)
{
	struct sw_condition c = cond(RULE_TENANT, SW_SEV_CRITICAL, "contoso.onmicrosoft.com", 1, false);
	struct sw_config empty = {0};
	struct sw_alert a;
	bool notified = false;

	ck_assert_int_eq(sw_lifecycle_fire(store, &empty, &c, 1000, &notified), 0);
	ck_assert(notified);
	ck_assert_int_eq(sw_lifecycle_resolve(store, &empty, RULE_TENANT, "contoso", "contoso.onmicrosoft.com", 1100), 0);
	a = find(RULE_TENANT, "contoso.onmicrosoft.com");
	ck_assert_int_eq(a.transition, 2);
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	sw_alert_clear(&a);
	ck_assert_int_eq(rows("soc") + rows("everything"), 0);
}
END_TEST

START_TEST(test_caller_transaction_rolls_back)
{
	struct sw_condition c = cond(RULE_TENANT, SW_SEV_CRITICAL, "contoso.onmicrosoft.com", 1, false);
	struct sw_alert a;

	/* setup() opened the transaction; an error later in the caller's
	 * work rolls the alert and its outbox rows back together. */
	ck_assert(fire(&c, 1000));
	ck_assert_int_eq(sw_store_rollback(store), 0);
	ck_assert_int_eq(sw_store_alert_find(store, RULE_TENANT, "contoso", "contoso.onmicrosoft.com", &a), -ENOENT);
	ck_assert_int_eq(rows("soc"), 0);
}
END_TEST

START_TEST(test_invalid_condition)
{
	struct sw_condition c = cond(RULE_TENANT, SW_SEV_CRITICAL, NULL, 1, false);

	ck_assert_int_eq(sw_lifecycle_fire(store, &cfg, &c, 1000, NULL), -EINVAL);
	ck_assert_int_eq(sw_lifecycle_sync(store, &cfg, NULL, "contoso", NULL, 0, 1000, NULL), -EINVAL);
}
END_TEST

START_TEST(test_ack_stops_repeats_until_resolved)
{
	struct sw_condition c = cond(RULE_SPRAY, SW_SEV_HIGH, "45.155.205.10", 20, true);
	struct sw_alert a = {0}, got = {0};
	json_t *doc;

	ck_assert(fire(&c, 1000));
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(sw_lifecycle_ack(store, a.id, "pentest by Contoso red team, CHG-7", 1100, &got), 0);
	ck_assert(got.acked);
	ck_assert_str_eq(got.ack_note, "pentest by Contoso red team, CHG-7");
	ck_assert_int_eq(got.updated, 1100);
	ck_assert_int_eq(got.transition, 1);
	sw_alert_clear(&got);
	ck_assert_int_eq(rows("soc"), 1); /* an ack notifies nobody */

	/* The document shows the ack and its note. */
	got = find(RULE_SPRAY, "45.155.205.10");
	doc = sw_alert_document(&got);
	ck_assert(json_is_true(json_object_get(doc, "acked")));
	ck_assert_str_eq(doc_str(doc, "ack_note"), "pentest by Contoso red team, CHG-7");
	json_decref(doc);
	sw_alert_clear(&got);

	/* 20 -> 100: past 32 and 64, but acked: stored, not sent. */
	c.count = 80;
	ck_assert(!fire(&c, 1200));
	ck_assert_int_eq(rows("soc"), 1);
	got = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(got.count, 100);
	sw_alert_clear(&got);

	/* A second ack without a note keeps the note. */
	ck_assert_int_eq(sw_lifecycle_ack(store, a.id, NULL, 1250, NULL), 0);
	got = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_str_eq(got.ack_note, "pentest by Contoso red team, CHG-7");
	sw_alert_clear(&got);

	/* Resolved: the resolution is sent; a resolved alert cannot be acked. */
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_SPRAY, "contoso", "45.155.205.10", 1300), 0);
	ck_assert_int_eq(rows("soc"), 2);
	ck_assert_int_eq(sw_lifecycle_ack(store, a.id, "late", 1400, NULL), -EALREADY);
	ck_assert_int_eq(sw_lifecycle_ack(store, "a-999999", NULL, 1400, NULL), -ENOENT);
	ck_assert_int_eq(sw_lifecycle_ack(store, "", NULL, 1400, NULL), -EINVAL);

	/* It comes back: news again, the ack is gone. */
	c.count = 20;
	ck_assert(fire(&c, 1500));
	ck_assert_int_eq(rows("soc"), 3);
	got = find(RULE_SPRAY, "45.155.205.10");
	ck_assert(!got.acked);
	sw_alert_clear(&got);
	sw_alert_clear(&a);
}
END_TEST

/* Set a silence in the test's transaction. */
static int64_t silence(const char *rule, const char *subject, int64_t until, int64_t now)
{
	int64_t id = 0;

	ck_assert_int_eq(sw_lifecycle_silence(store, rule, subject, until, now, "uid 0", NULL, &id), 0);
	return id;
}

START_TEST(test_silence_stores_but_sends_nothing)
{
	struct sw_condition c = cond(RULE_SPRAY, SW_SEV_HIGH, "45.155.205.10", 20, true);
	struct sw_alert a;
	int64_t until = 0;

	silence(RULE_SPRAY, "45.155.205.10", 5000, 1000);
	ck_assert(sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 1000, &until));
	ck_assert_int_eq(until, 5000);
	ck_assert(!fire(&c, 1000));
	ck_assert_int_eq(rows("soc") + rows("spray-only") + rows("everything"), 0);
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(a.status, SW_ALERT_FIRING);
	ck_assert_int_eq(a.count, 20);
	ck_assert_int_eq(a.transition, 0);
	ck_assert_str_eq(a.id, "a-000001"); /* it has its id, it can be listed and acked */
	sw_alert_clear(&a);

	/* Growth and resolution while silenced: stored, not sent. */
	c.count = 50;
	ck_assert(!fire(&c, 2000));
	ck_assert_int_eq(sw_lifecycle_resolve(store, &cfg, RULE_SPRAY, "contoso", "45.155.205.10", 3000), 0);
	ck_assert_int_eq(rows("soc") + rows("spray-only") + rows("everything"), 0);
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	ck_assert_int_eq(a.count, 70);
	ck_assert_int_eq(a.transition, 0);
	sw_alert_clear(&a);

	/* Silence over (until is exclusive): it comes back and is sent. */
	ck_assert(!sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 5000, NULL));
	c.count = 20;
	ck_assert(fire(&c, 5000));
	ck_assert_int_eq(rows("soc"), 1);
	ck_assert_int_eq(rows("spray-only"), 1);
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(a.transition, 1);
	sw_alert_clear(&a);
}
END_TEST

START_TEST(test_silence_owes_the_missed_notification)
{
	struct sw_condition c = cond(RULE_UNAPPROVED_MBX, SW_SEV_HIGH, "x@contoso.com", 1, false);
	struct sw_condition e = cond(RULE_SPRAY, SW_SEV_HIGH, "45.155.205.10", 3, true);
	struct sw_alert a;

	/* Fired and sent before the silence. */
	ck_assert(fire(&e, 1000));
	ck_assert_int_eq(rows("soc"), 1);
	silence(RULE_SPRAY, "*", 3000, 1100);
	/* 3 -> 4 would have been sent: owed. */
	e.count = 1;
	ck_assert(!fire(&e, 1200));
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(a.notified_count, 0);
	ck_assert_int_eq(a.transition, 1);
	sw_alert_clear(&a);
	/* After the silence, the next occurrence pays it, even below 8. */
	ck_assert(fire(&e, 3000));
	ck_assert_int_eq(rows("soc"), 2);
	a = find(RULE_SPRAY, "45.155.205.10");
	ck_assert_int_eq(a.count, 5);
	ck_assert_int_eq(a.notified_count, 5);
	sw_alert_clear(&a);

	/* A state condition first seen while silenced is sent when the
	 * silence ends, though nothing about it changed. */
	silence(RULE_UNAPPROVED_MBX, "x@contoso.com", 4000, 3000);
	ck_assert(!fire(&c, 3000));
	ck_assert(!fire(&c, 3500));
	ck_assert(fire(&c, 4000));
	ck_assert(!fire(&c, 4100));
	ck_assert_int_eq(rows("soc"), 3);
}
END_TEST

START_TEST(test_silence_matching)
{
	struct sw_condition c;

	silence(RULE_UNAPPROVED, "Scanner2@Contoso.com", 5000, 1000);
	silence("*", "45.155.205.10", 5000, 1000);
	silence(RULE_EXPIRING, "*", 5000, 1000);
	/* Subjects match without case, across tenants. */
	c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "scanner2@contoso.com", 1, true);
	ck_assert(!fire(&c, 1000));
	c.tenant = "fabrikam";
	ck_assert(!fire(&c, 1000));
	/* The same subject under another rule is not silenced... */
	c = cond(RULE_UNAPPROVED_MBX, SW_SEV_HIGH, "scanner2@contoso.com", 1, false);
	ck_assert(fire(&c, 1000));
	/* ...unless the rule is "*". */
	c = cond(RULE_SPRAY, SW_SEV_HIGH, "45.155.205.10", 25, true);
	ck_assert(!fire(&c, 1000));
	c = cond(RULE_TENANT, SW_SEV_CRITICAL, "45.155.205.10", 1, false);
	ck_assert(!fire(&c, 1000));
	/* "*" subject: every subject of that rule. */
	c = cond(RULE_EXPIRING, SW_SEV_LOW, "a@contoso.com", 1, false);
	ck_assert(!fire(&c, 1000));
	c = cond(RULE_EXPIRING, SW_SEV_LOW, "b@contoso.com", 1, false);
	ck_assert(!fire(&c, 1000));
	ck_assert_int_eq(rows("soc") + rows("everything") + rows("spray-only"), 2);
}
END_TEST

static int list_cb(const struct sw_silence *sil, void *arg)
{
	json_array_append_new(arg, json_pack("{s:I,s:s,s:s,s:I,s:s}", "id", (json_int_t)sil->id, "rule", sil->rule,
	                                     "subject", sil->subject, "until", (json_int_t)sil->until, "by",
	                                     sil->created_by));
	return 0;
}

START_TEST(test_silence_set_replace_list)
{
	json_t *list;
	int64_t id1, id2;

	ck_assert_int_eq(sw_lifecycle_silence(store, "no-such-rule", "x", 5000, 1000, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(sw_lifecycle_silence(store, RULE_SPRAY, "", 5000, 1000, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(sw_lifecycle_silence(store, RULE_SPRAY, "x", 1000, 1000, NULL, NULL, NULL), -EINVAL);
	id1 = silence(RULE_SPRAY, "45.155.205.10", 9000, 1000);
	id2 = silence(RULE_UNAPPROVED, "scanner2@contoso.com", 3000, 1000);
	ck_assert_int_ne(id1, id2);
	/* The same pair again replaces it (here: cut short). */
	ck_assert_int_eq(silence(RULE_SPRAY, "45.155.205.10", 2000, 1500), id1);
	ck_assert(!sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 2500, NULL));

	list = json_array();
	ck_assert_int_eq(sw_store_silences_list(store, 1600, list_cb, list), 0);
	ck_assert_int_eq(json_array_size(list), 2);
	/* Soonest to end first. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "rule")), RULE_SPRAY);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(list, 0), "until")), 2000);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "by")), "uid 0");
	json_array_clear(list);
	ck_assert_int_eq(sw_store_silences_list(store, 2500, list_cb, list), 0);
	ck_assert_int_eq(json_array_size(list), 1);
	json_array_clear(list);
	ck_assert_int_eq(sw_store_silences_list(store, 0, list_cb, list), 0);
	ck_assert_int_eq(json_array_size(list), 2);
	json_decref(list);
}
END_TEST

/* The silences read at once for a list answer as the query per alert does. */
START_TEST(test_silences_loaded_match_like_the_store)
{
	static const struct {
		const char *rule, *subject;
		int64_t until; /* at 2000 */
	} cases[] = {
		{RULE_UNAPPROVED, "scanner2@contoso.com", 5000},  /* case does not matter */
		{RULE_UNAPPROVED, "SCANNER2@CONTOSO.COM", 5000},
		{RULE_UNAPPROVED_MBX, "scanner2@contoso.com", 0}, /* another rule */
		{RULE_UNAPPROVED, "scanner2@contoso.co", 0},
		{RULE_TENANT, "45.155.205.10", 5000},             /* "*" rule */
		{RULE_SPRAY, "45.155.205.10", 9000},              /* the longest of two */
		{RULE_SPRAY, "45.155.205.11", 0},
		{RULE_EXPIRING, "a@contoso.com", 4000},           /* "*" subject */
		{RULE_EXPIRING, "45.155.205.10", 5000},
		{RULE_TENANT, "contoso", 0},                      /* ended at 1500 */
		{RULE_UNAPPROVED, "j\xc3\xb6rg@contoso.com", 6000}, /* ASCII case only, as SQLite's NOCASE */
		{RULE_UNAPPROVED, "J\xc3\xb6RG@contoso.com", 6000},
		{RULE_UNAPPROVED, "j\xc3\x96rg@contoso.com", 0},
	};
	struct sw_silences set = {0};
	int64_t until;

	silence(RULE_UNAPPROVED, "Scanner2@Contoso.com", 5000, 1000);
	silence("*", "45.155.205.10", 5000, 1000);
	silence(RULE_SPRAY, "45.155.205.10", 9000, 1000);
	silence(RULE_EXPIRING, "*", 4000, 1000);
	silence(RULE_TENANT, "*", 1500, 1000);
	silence(RULE_UNAPPROVED, "j\xc3\xb6rg@contoso.com", 6000, 1000);
	ck_assert_int_eq(sw_silences_load(store, 2000, &set), 0);
	ck_assert_uint_eq(set.n, 5);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		until = 0;
		sw_lifecycle_silenced(store, cases[i].rule, cases[i].subject, 2000, &until);
		ck_assert_msg(until == cases[i].until, "case %zu: the store says %lld", i, (long long)until);
		until = sw_silences_until(&set, cases[i].rule, cases[i].subject);
		ck_assert_msg(until == cases[i].until, "case %zu: the set says %lld", i, (long long)until);
	}
	sw_silences_clear(&set);
	ck_assert_ptr_null(set.items);
	sw_silences_clear(NULL);
	/* Nothing in force: an empty set. */
	ck_assert_int_eq(sw_silences_load(store, 9000, &set), 0);
	ck_assert_uint_eq(set.n, 0);
	ck_assert_int_eq(sw_silences_until(&set, RULE_SPRAY, "45.155.205.10"), 0);
	sw_silences_clear(&set);
}
END_TEST

/* Silences and acks survive a restart (a new handle on the same file). */
START_TEST(test_silence_and_ack_survive_reopen)
{
	struct sw_condition c = cond(RULE_UNAPPROVED, SW_SEV_HIGH, "s@contoso.com", 1, true);
	struct sw_error err = {0};
	struct sw_alert a;

	ck_assert(fire(&c, 1000));
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ck_assert_int_eq(sw_lifecycle_ack(store, a.id, "known", 1100, NULL), 0);
	sw_alert_clear(&a);
	silence(RULE_SPRAY, "45.155.205.10", 9000, 1000);
	ck_assert_int_eq(sw_store_commit(store), 0);
	sw_store_free(store);
	ck_assert_int_eq(sw_store_open(dbpath, &store, &err), 0);
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert(sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 2000, NULL));
	a = find(RULE_UNAPPROVED, "s@contoso.com");
	ck_assert(a.acked);
	ck_assert_str_eq(a.ack_note, "known");
	sw_alert_clear(&a);
}
END_TEST

/* unsilence lifts exactly the pair it names, keeps the row, and says
 * when there was nothing to lift. */
START_TEST(test_unsilence_lifts_one_pair)
{
	struct sw_silence was;

	silence(RULE_SPRAY, "45.155.205.10", 9000, 1000);
	silence("*", "45.155.205.10", 9000, 1000);
	ck_assert_int_eq(sw_lifecycle_unsilence(store, RULE_SPRAY, "45.155.205.99", 2000, NULL), -ENOENT);
	ck_assert_int_eq(sw_lifecycle_unsilence(store, RULE_SPRAY, "45.155.205.10", 2000, &was), 0);
	ck_assert_str_eq(was.rule, RULE_SPRAY);
	ck_assert_int_eq(was.until, 9000);
	/* The "*" silence still covers it; lift that one too. */
	ck_assert(sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 2000, NULL));
	ck_assert_int_eq(sw_lifecycle_unsilence(store, "*", "45.155.205.10", 2000, NULL), 0);
	ck_assert(!sw_lifecycle_silenced(store, RULE_SPRAY, "45.155.205.10", 2000, NULL));
	/* Lifted already: nothing in force any more. */
	ck_assert_int_eq(sw_lifecycle_unsilence(store, RULE_SPRAY, "45.155.205.10", 2001, NULL), -ENOENT);
	ck_assert_int_eq(sw_lifecycle_unsilence(store, "", "x", 2001, NULL), -EINVAL);
}
END_TEST

/* silence-changed cannot be silenced, not even by "*" "*", and each event
 * of it reaches the sinks again, not only at powers of two. */
START_TEST(test_silence_changed_is_never_silenced)
{
	struct sw_condition c = cond(SW_RULE_SILENCE_CHANGED, SW_SEV_MEDIUM, "*:*", 1, false);
	struct sw_alert a;

	ck_assert(sw_rule_known(SW_RULE_SILENCE_CHANGED));
	ck_assert_int_eq(sw_lifecycle_silence(store, SW_RULE_SILENCE_CHANGED, "*", 5000, 1000, NULL, NULL, NULL),
	                 -EPERM);
	silence("*", "*", 9000, 1000);
	ck_assert(!sw_lifecycle_silenced(store, SW_RULE_SILENCE_CHANGED, "*:*", 1000, NULL));
	ck_assert(sw_lifecycle_silenced(store, RULE_SPRAY, "x", 1000, NULL));
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(sw_lifecycle_event(store, &cfg, &c, 1000 + i), 0);
	ck_assert_int_eq(rows("soc"), 3);
	ck_assert_int_eq(rows("everything"), 3);
	ck_assert_int_eq(rows("spray-only"), 0);
	a = find(SW_RULE_SILENCE_CHANGED, "*:*");
	ck_assert_int_eq(a.status, SW_ALERT_RESOLVED);
	ck_assert_int_eq(a.transition, 3);
	sw_alert_clear(&a);
}
END_TEST

static Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_first_fire_queues_per_matching_sink);
	tcase_add_test(tc, test_identical_fire_queues_nothing);
	tcase_add_test(tc, test_accumulate_notifies_on_powers_of_two);
	tcase_add_test(tc, test_state_count_not_accumulated);
	tcase_add_test(tc, test_seen_times_widen);
	tcase_add_test(tc, test_evidence_merge);
	tcase_add_test(tc, test_resolve_and_come_back);
	tcase_add_test(tc, test_acked_no_renotify_on_growth);
	tcase_add_test(tc, test_sync_resolves_missing_subjects);
	tcase_add_test(tc, test_no_sinks_still_transitions);
	tcase_add_test(tc, test_caller_transaction_rolls_back);
	tcase_add_test(tc, test_invalid_condition);
	tcase_add_test(tc, test_ack_stops_repeats_until_resolved);
	tcase_add_test(tc, test_silence_stores_but_sends_nothing);
	tcase_add_test(tc, test_silence_owes_the_missed_notification);
	tcase_add_test(tc, test_silence_matching);
	tcase_add_test(tc, test_silences_loaded_match_like_the_store);
	tcase_add_test(tc, test_silence_set_replace_list);
	tcase_add_test(tc, test_silence_and_ack_survive_reopen);
	tcase_add_test(tc, test_unsilence_lifts_one_pair);
	tcase_add_test(tc, test_silence_changed_is_never_silenced);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(lifecycle_suite)
