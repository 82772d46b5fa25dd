/* test_detect_attack.c: password spray, brute force and source drift, from
 * series of sign-ins in a real store, through sw_detect_tenant (the cursor
 * and the page transaction), to the alerts and notifications a user sees. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "store_int.h"
#include "fixture.h"
#include "detect_attack.h"
#include "lifecycle.h"
#include "store_lifecycle.h"

#define NOW 1795000000LL /* 2026-11-18 */
#define MIN 60
#define HOUR 3600
#define DAY 86400

static char tmpdir[64];
static struct sw_store *store;
static struct sw_config cfg;
static struct sw_sink_config sinks[1];
static struct sw_tenant_config tenant;
static struct sw_register reg;
static struct sw_exception entries[2];
static struct sw_cidr allowed_hq[2];

/* A store, one sink, SPEC's default thresholds, two registered mailboxes. */
static void setup(void)
{
	fixture_store_open(tmpdir, "attack", &store);
	fixture_config(&cfg, sinks, &tenant, &reg, entries, 2);
	cfg.rules = (struct sw_rules_config){
		.spray_failures = 20, .spray_users = 5, .spray_window = 15 * MIN,
		.bruteforce_failures = 10, .bruteforce_window = 15 * MIN,
		.unused_after = 30 * DAY, .expiring_within = 14 * DAY, .max_exception_lifetime = 90 * DAY,
	};
	tenant.signins_lookback = 2 * HOUR;

	/* scanner-hq: allowed 203.0.113.0/28 and 2001:db8:10::/48;
	 * mfp: no allowed_ips (only the country check applies). */
	ck_assert_int_eq(sw_cidr_parse("203.0.113.0/28", &allowed_hq[0]), 0);
	ck_assert_int_eq(sw_cidr_parse("2001:db8:10::/48", &allowed_hq[1]), 0);
	entries[0] = (struct sw_exception){.mailbox = "scanner-hq@contoso.com", .line = 1,
	                                   .owner = "facilities@contoso.com", .ticket = "CHG-1",
	                                   .expires = NOW + 40 * DAY, .expires_text = "2026-12-28",
	                                   .allowed_ips = allowed_hq, .n_allowed_ips = 2, .max_daily_messages = -1};
	entries[1] = (struct sw_exception){.mailbox = "mfp@contoso.com", .line = 8, .owner = "it@contoso.com",
	                                   .ticket = "CHG-2", .expires = NOW + 40 * DAY, .expires_text = "2026-12-28",
	                                   .max_daily_messages = -1};
	reg.n = 2;
}

/* Close and remove the store. */
static void teardown(void)
{
	fixture_store_close(tmpdir, store);
}

/* A series of sign-ins, like the simulator's: record i is at at + i*every,
 * with the i-th (mod n) of the comma lists of users, IPs and countries. */
struct series {
	const char *id;     /* id prefix: the same prefix and i give the same id */
	int64_t at;         /* relative to NOW */
	int64_t every;
	int count;
	const char *users;
	const char *ips;
	const char *countries;
	int code;
};

/* The i-th item of a comma list, into buf. */
static const char *nth(const char *list, int i, char *buf, size_t n)
{
	int k = 0;
	const char *p = list;

	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (k == i) {
			snprintf(buf, n, "%.*s", (int)len, p);
			return buf;
		}
		k++;
		if (e == NULL) {
			p = list; /* wrap around */
			i %= k;
			k = 0;
			continue;
		}
		p = e + 1;
	}
}

/* Store one series (a duplicate id is dropped by the store). */
static void add_series(const struct series *s)
{
	struct sw_signin *v = calloc((size_t)s->count, sizeof(*v));
	char (*strs)[4][64] = calloc((size_t)s->count, sizeof(*strs));

	for (int i = 0; i < s->count; i++) {
		snprintf(strs[i][0], 64, "%s-%d", s->id, i);
		v[i].id = strs[i][0];
		v[i].created = NOW + s->at + i * s->every;
		v[i].created_text = "x";
		v[i].upn = (char *)nth(s->users, i, strs[i][1], 64);
		v[i].ip = (char *)nth(s->ips, i, strs[i][2], 64);
		v[i].country = s->countries ? (char *)nth(s->countries, i, strs[i][3], 64) : NULL;
		v[i].client_app = "Authenticated SMTP";
		v[i].error_code = s->code;
	}
	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_store_signins_add(store, "contoso", v, (size_t)s->count, NOW, NULL), 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	free(v);
	free(strs);
}

/* The sign-in rules, as the daemon runs them after a sign-ins run. */
static void detect(int64_t now)
{
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &reg, now, SW_DETECT_SIGNINS, NULL), 0);
}

/* Outbox rows of one rule. */
static int64_t sent(const char *rule)
{
	sqlite3_stmt *st;
	int64_t n;

	ck_assert_int_eq(sqlite3_prepare_v2(sw_store_sqlite(store),
	                                    "SELECT count(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "
	                                    "WHERE a.rule = ?1",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, rule, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

#define SPRAY SW_RULE_PASSWORD_SPRAY
#define BRUTE SW_RULE_BRUTE_FORCE
#define DRIFT SW_RULE_SOURCE_DRIFT
#define USERS5 "u1@contoso.com,u2@contoso.com,u3@contoso.com,u4@contoso.com,u5@contoso.com"
#define USERS12 USERS5 ",u6@contoso.com,u7@contoso.com,u8@contoso.com,u9@contoso.com,u10@contoso.com," \
                       "u11@contoso.com,u12@contoso.com"
#define BAD_IPS "185.220.101.4,185.220.101.19,91.240.118.172,193.32.162.55,141.98.11.23"

/* What one alert should look like after a step: status 'F' firing, 'R'
 * resolved, '-' no alert at all; count and notifications so far (outbox
 * rows of the rule, one sink) when firing or resolved. */
struct expect {
	const char *rule;
	const char *subject;
	char status;
	int64_t count;
	int64_t sent;
};

/* Add the series, run detection at NOW + now, check the expectations. */
struct step {
	struct series in[3];
	int64_t now;
	struct expect out[3];
};

struct attack_case {
	const char *name;
	struct step steps[4];
};

static const struct attack_case cases[] = {
	{"spray: 20 failures over 5 users from one IP in 10 minutes",
	 {{{{"s", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}},
	   0,
	   {{SPRAY, "45.155.205.10", 'F', 20, 1}, {BRUTE, "u1@contoso.com", '-', 0, 0}}}}},
	{"spray: 4 users are not a spray, however many failures",
	 {{{{"s", -HOUR, 20, 30, "u1@contoso.com,u2@contoso.com,u3@contoso.com,u4@contoso.com", "45.155.205.10",
	     "RU", 50126}},
	   0,
	   {{SPRAY, "45.155.205.10", '-', 0, 0}}}}},
	{"spray: window edge, 20 failures spanning 15m50s stay below",
	 {{{{"s", -HOUR, 50, 20, USERS5, "45.155.205.10", "RU", 50126}}, 0, {{SPRAY, "45.155.205.10", '-', 0, 0}}}}},
	{"spray: window edge, 20 failures spanning 14m53s fire",
	 {{{{"s", -HOUR, 47, 20, USERS5, "45.155.205.10", "RU", 50126}},
	   0,
	   {{SPRAY, "45.155.205.10", 'F', 20, 1}}}}},
	{"spray: 21 failures with the 20th at exactly 15m: the window is half-open",
	 {{{{"s", -HOUR, 45, 21, USERS5, "45.155.205.10", "RU", 50126}},
	   0,
	   /* 0..19 span 14m15s (fire); 20 is at 15m00s from 0, in the window of 1..20 */
	   {{SPRAY, "45.155.205.10", 'F', 21, 1}}}}},
	{"spray: late records complete a window that was below the threshold",
	 {{{{"a", -HOUR, 60, 15, USERS5, "45.155.205.10", "RU", 50126}}, 0, {{SPRAY, "45.155.205.10", '-', 0, 0}}},
	  {{{"b", -HOUR + 30, 60, 5, USERS5, "45.155.205.10", "RU", 50126}},
	   10 * MIN,
	   /* every earlier failure of the window counts, once */
	   {{SPRAY, "45.155.205.10", 'F', 20, 1}}},
	  {{{"c", -HOUR + 90, 60, 3, USERS5, "45.155.205.10", "RU", 50053}},
	   20 * MIN,
	   {{SPRAY, "45.155.205.10", 'F', 23, 1}}}}},
	{"spray: duplicates (the same ids again) count nothing",
	 {{{{"s", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}}, 0, {{SPRAY, "45.155.205.10", 'F', 20, 1}}},
	  {{{"s", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}}, 5 * MIN, {{SPRAY, "45.155.205.10", 'F', 20, 1}}}}},
	{"spray: from IPv6",
	 {{{{"s", -HOUR, 20, 25, USERS12, "2001:db8:bad::7", "CN", 50126}}, 0, {{SPRAY, "2001:db8:bad::7", 'F', 25, 1}}}}},
	{"spray: grows past the next power of two, re-sent once",
	 {{{{"a", -2 * HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}}, 0, {{SPRAY, "45.155.205.10", 'F', 20, 1}}},
	  {{{"b", -2 * HOUR + 10 * MIN, 30, 11, USERS5, "45.155.205.10", "RU", 50126}},
	   MIN,
	   {{SPRAY, "45.155.205.10", 'F', 31, 1}}},
	  {{{"c", -2 * HOUR + 16 * MIN, 30, 1, USERS5, "45.155.205.10", "RU", 50126}},
	   2 * MIN,
	   {{SPRAY, "45.155.205.10", 'F', 32, 2}}}}},
	{"spray: two bursts of 12, an hour apart, are not one spray",
	 {{{{"a", -3 * HOUR, 30, 12, USERS12, "45.155.205.10", "RU", 50126},
	    {"b", -2 * HOUR, 30, 12, USERS12, "45.155.205.10", "RU", 50126}},
	   0,
	   {{SPRAY, "45.155.205.10", '-', 0, 0}}}}},
	{"spray: quiet for max(2 windows, lookback) resolves, and it comes back",
	 {{{{"a", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}}, 0, {{SPRAY, "45.155.205.10", 'F', 20, 1}}},
	  {{{0}}, HOUR - 1, {{SPRAY, "45.155.205.10", 'F', 20, 1}}}, /* last at -50m30s: 1h50m ago < 2h */
	  {{{0}}, HOUR + 11 * MIN, {{SPRAY, "45.155.205.10", 'R', 20, 2}}},
	  {{{"b", 2 * HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126}},
	   3 * HOUR,
	   {{SPRAY, "45.155.205.10", 'F', 20, 3}}}}},
	{"brute force: 10 failures for one mailbox from 5 IPs",
	 {{{{"b", -HOUR, 30, 10, "ceo@contoso.com", BAD_IPS, "DE,DE,RU,NL,LT", 50126}},
	   0,
	   {{BRUTE, "ceo@contoso.com", 'F', 10, 1}, {SPRAY, "185.220.101.4", '-', 0, 0}}}}},
	{"brute force: 9 are below",
	 {{{{"b", -HOUR, 30, 9, "ceo@contoso.com", BAD_IPS, "DE", 50126}}, 0, {{BRUTE, "ceo@contoso.com", '-', 0, 0}}}}},
	{"brute force: failures before the threshold count once it is reached",
	 {{{{"a", -HOUR, 60, 6, "ceo@contoso.com", "185.220.101.4", "DE", 50126}}, 0, {{BRUTE, "ceo@contoso.com", '-', 0, 0}}},
	  {{{"b", -HOUR + 6 * MIN, 60, 4, "ceo@contoso.com", "91.240.118.172", "RU", 50053}},
	   5 * MIN,
	   {{BRUTE, "ceo@contoso.com", 'F', 10, 1}}}}},
	{"brute force: successes do not count",
	 {{{{"a", -HOUR, 30, 9, "ceo@contoso.com", "185.220.101.4", "DE", 50126},
	    {"b", -HOUR + 10, 30, 5, "ceo@contoso.com", "185.220.101.4", "DE", 0}},
	   0,
	   {{BRUTE, "ceo@contoso.com", '-', 0, 0}}}}},
	{"drift: a registered mailbox outside its allowed_ips, IPv4 and IPv6",
	 {{{{"ok", -3 * HOUR, 10 * MIN, 6, "scanner-hq@contoso.com", "203.0.113.5,2001:db8:10::5", "US", 0},
	    {"bad", -HOUR, 5 * MIN, 3, "scanner-hq@contoso.com", "198.51.100.9,2001:db8:99::1", "US", 0},
	    {"fail", -HOUR + 1, 5 * MIN, 1, "scanner-hq@contoso.com", "203.0.113.200", "US", 50126}},
	   0,
	   {{DRIFT, "scanner-hq@contoso.com", 'F', 4, 1}}}}},
	{"drift: a new country for the mailbox, its first country is the baseline",
	 {{{{"us", -3 * DAY, HOUR, 30, "mfp@contoso.com", "192.0.2.10", "US", 0}}, 0, {{DRIFT, "mfp@contoso.com", '-', 0, 0}}},
	  {{{"de", -HOUR, 10 * MIN, 3, "mfp@contoso.com", "192.0.2.10", "DE", 0}},
	   MIN,
	   {{DRIFT, "mfp@contoso.com", 'F', 3, 1}}},
	  /* two days on, DE is no longer new: nothing more, and it resolves */
	  {{{"de2", 2 * DAY, HOUR, 3, "mfp@contoso.com", "192.0.2.10", "DE", 0}},
	   2 * DAY + 3 * HOUR,
	   {{DRIFT, "mfp@contoso.com", 'R', 3, 2}}}}},
	{"drift: a mailbox outside the register is not drift",
	 {{{{"us", -3 * DAY, HOUR, 3, "someone@contoso.com", "192.0.2.10", "US", 50126},
	    {"de", -HOUR, HOUR, 3, "someone@contoso.com", "198.51.100.1", "DE", 50126}},
	   0,
	   {{DRIFT, "someone@contoso.com", '-', 0, 0}}}}},
};

/* Check one expectation. */
static void check_expect(const char *name, int step, const struct expect *e)
{
	struct sw_alert a = {0};
	int r = sw_store_alert_find(store, e->rule, "contoso", e->subject, &a);

	if (e->status == '-') {
		ck_assert_msg(r == -ENOENT, "%s, step %d: unexpected %s alert for %s (count %lld)", name, step, e->rule,
		              e->subject, (long long)a.count);
		sw_alert_clear(&a);
		return;
	}
	ck_assert_msg(r == 0, "%s, step %d: no %s alert for %s", name, step, e->rule, e->subject);
	ck_assert_msg(a.status == (e->status == 'F' ? SW_ALERT_FIRING : SW_ALERT_RESOLVED), "%s, step %d: status %s",
	              name, step, sw_alert_status_name(a.status));
	ck_assert_msg(a.count == e->count, "%s, step %d: count %lld, want %lld", name, step, (long long)a.count,
	              (long long)e->count);
	ck_assert_msg(sent(e->rule) == e->sent, "%s, step %d: %lld notifications, want %lld", name, step,
	              (long long)sent(e->rule), (long long)e->sent);
	sw_alert_clear(&a);
}

START_TEST(test_table)
{
	const struct attack_case *c = &cases[_i];

	for (int i = 0; i < 4 && (c->steps[i].in[0].id || c->steps[i].now || c->steps[i].out[0].rule); i++) {
		const struct step *s = &c->steps[i];
		for (int k = 0; k < 3 && s->in[k].id; k++)
			add_series(&s->in[k]);
		detect(NOW + s->now);
		for (int k = 0; k < 3 && s->out[k].rule; k++)
			check_expect(c->name, i, &s->out[k]);
	}
}
END_TEST

/* The count does not depend on how records arrive: one batch, or in
 * reverse order a few at a time (late records), give the same alerts. */
START_TEST(test_count_independent_of_arrival)
{
	static const struct series bursts[] = {
		{"a", -5 * HOUR, 20, 30, USERS12, "45.155.205.10", "RU", 50126},         /* spray */
		{"b", -5 * HOUR + 40 * MIN, 60, 8, USERS12, "45.155.205.10", "RU", 50126}, /* tail, below */
		{"c", -5 * HOUR + 50 * MIN, 15, 25, USERS5, "45.155.205.10", "RU", 50126}, /* joins the tail */
		{"d", -4 * HOUR, 30, 12, "ceo@contoso.com", BAD_IPS, "DE", 50126},         /* brute force */
	};
	/* Detection time: before any of it is quiet long enough to resolve. */
	const int64_t T = NOW - 3 * HOUR;
	int64_t spray1, brute1;
	struct sw_alert a = {0};

	for (size_t i = 0; i < 4; i++)
		add_series(&bursts[i]);
	detect(T);
	ck_assert_int_eq(sw_store_alert_find(store, SPRAY, "contoso", "45.155.205.10", &a), 0);
	spray1 = a.count;
	sw_alert_clear(&a);
	ck_assert_int_eq(sw_store_alert_find(store, BRUTE, "contoso", "ceo@contoso.com", &a), 0);
	brute1 = a.count;
	sw_alert_clear(&a);
	/* 30 + (8 tail failures, which share windows with the 25) + 25. */
	ck_assert_int_eq(spray1, 63);
	ck_assert_int_eq(brute1, 12);

	teardown();
	setup();
	/* Newest first, one record at a time per detection run. */
	for (int i = 3; i >= 0; i--) {
		for (int k = bursts[i].count - 1; k >= 0; k--) {
			struct series one = bursts[i];
			char id[16];
			snprintf(id, sizeof(id), "%s%d", bursts[i].id, k);
			one.id = id;
			one.at = bursts[i].at + k * bursts[i].every;
			one.count = 1;
			/* keep the k-th user and IP of the series */
			char u[64], ip[64], cc[8];
			one.users = nth(bursts[i].users, k, u, sizeof(u));
			one.ips = nth(bursts[i].ips, k, ip, sizeof(ip));
			one.countries = nth(bursts[i].countries, k, cc, sizeof(cc));
			add_series(&one);
			if (k % 7 == 0)
				detect(T);
		}
	}
	detect(T);
	ck_assert_int_eq(sw_store_alert_find(store, SPRAY, "contoso", "45.155.205.10", &a), 0);
	ck_assert_int_eq(a.count, spray1);
	sw_alert_clear(&a);
	ck_assert_int_eq(sw_store_alert_find(store, BRUTE, "contoso", "ceo@contoso.com", &a), 0);
	ck_assert_int_eq(a.count, brute1);
	sw_alert_clear(&a);
}
END_TEST

/* What the spray alert tells the user. */
START_TEST(test_spray_evidence)
{
	static const struct series s[] = {
		{"s", -HOUR, 15, 40, USERS12, "45.155.205.10", "RU", 50126},
		{"t", -HOUR + 7, 60, 3, "u1@contoso.com", "45.155.205.10", "RU", 50053},
	};
	struct sw_alert a = {0};
	json_t *ev;

	add_series(&s[0]);
	add_series(&s[1]);
	detect(NOW);
	ck_assert_int_eq(sw_store_alert_find(store, SPRAY, "contoso", "45.155.205.10", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_HIGH);
	ck_assert_int_eq(a.count, 43);
	ck_assert_int_eq(a.first_seen, NOW - HOUR);
	ck_assert_int_eq(a.last_seen, NOW - HOUR + 39 * 15);
	ev = a.evidence;
	ck_assert_int_eq(json_array_size(json_object_get(ev, "users")), 12);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ev, "ips"), 0)), "45.155.205.10");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(ev, "countries"), 0)), "RU");
	json_t *codes = json_object_get(ev, "error_codes");
	ck_assert_int_eq(json_array_size(codes), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(codes, 0), "code")), 50126);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(codes, 0), "meaning")), "wrong password");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(codes, 1), "meaning")),
	                             "locked"));
	ck_assert_int_eq(json_array_size(json_object_get(ev, "signin_ids")), 20);
	ck_assert_msg(strstr(a.summary, "45.155.205.10 (RU)") && strstr(a.summary, "43 failed") &&
	                      strstr(a.summary, "12 users") && strstr(a.summary, "50126 wrong password"),
	              "%s", a.summary);
	ck_assert_ptr_nonnull(strstr(a.remediation, "Block 45.155.205.10"));
	sw_alert_clear(&a);
	/* Every user got 3-4 failures: no brute force. */
	ck_assert_int_eq(sent(BRUTE), 0);
}
END_TEST

/* What the drift alert tells the user. */
START_TEST(test_drift_evidence)
{
	static const struct series s[] = {
		{"ok", -DAY, HOUR, 10, "scanner-hq@contoso.com", "203.0.113.5", "US", 0},
		{"br", -HOUR, 10 * MIN, 3, "scanner-hq@contoso.com", "198.51.100.9", "BR", 0},
	};
	struct sw_alert a = {0};

	add_series(&s[0]);
	detect(NOW - HOUR);
	ck_assert_int_eq(sent(DRIFT), 0);
	add_series(&s[1]);
	detect(NOW);
	ck_assert_int_eq(sw_store_alert_find(store, DRIFT, "contoso", "scanner-hq@contoso.com", &a), 0);
	ck_assert_int_eq(a.severity, SW_SEV_HIGH);
	ck_assert_int_eq(a.count, 3);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(a.evidence, "countries"), 0)), "BR");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(a.evidence, "known_countries"), 0)), "US");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(a.evidence, "allowed_ips"), 0)),
	                 "203.0.113.0/28");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(a.evidence, "allowed_ips"), 1)),
	                 "2001:db8:10::/48");
	ck_assert_int_eq(json_array_size(json_object_get(a.evidence, "reasons")), 2);
	ck_assert_msg(strstr(a.summary, "198.51.100.9") && strstr(a.summary, "outside its allowed_ips") &&
	                      strstr(a.summary, "BR") && strstr(a.summary, "never seen"),
	              "%s", a.summary);
	ck_assert_ptr_nonnull(strstr(a.remediation, "Set-CASMailbox -Identity 'scanner-hq@contoso.com'"));
	sw_alert_clear(&a);
	/* A registered mailbox is no unapproved submitter. */
	ck_assert_int_eq(sent(SW_RULE_UNAPPROVED_BASIC_AUTH), 0);
}
END_TEST

/* History before registration counts: a mailbox registered today with a
 * month of US sign-ins does not take a new country as its baseline. */
START_TEST(test_drift_history_before_registration)
{
	static const struct series us = {"us", -10 * DAY, DAY, 8, "late@contoso.com", "192.0.2.1", "US", 0};
	static const struct series fr = {"fr", -HOUR, MIN, 2, "late@contoso.com", "192.0.2.1", "FR", 0};
	struct sw_register empty = {0};

	add_series(&us);
	ck_assert_int_eq(sw_detect_tenant(store, &cfg, &tenant, &empty, NOW - DAY, SW_DETECT_SIGNINS, NULL), 0);
	entries[1].mailbox = "late@contoso.com";
	add_series(&fr);
	detect(NOW);
	ck_assert_int_eq(sent(DRIFT), 1);
}
END_TEST

/* A silenced spray is stored but not sent, and is owed once the silence ends. */
START_TEST(test_silenced_spray)
{
	static const struct series a = {"a", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126};
	static const struct series b = {"b", -HOUR + 10 * MIN, 30, 3, USERS5, "45.155.205.10", "RU", 50126};
	struct sw_alert al = {0};

	ck_assert_int_eq(sw_store_begin(store), 0);
	ck_assert_int_eq(sw_lifecycle_silence(store, SPRAY, "45.155.205.10", NOW + HOUR, NOW, "uid 0", "pentest", NULL),
	                 0);
	ck_assert_int_eq(sw_store_commit(store), 0);
	add_series(&a);
	detect(NOW);
	ck_assert_int_eq(sw_store_alert_find(store, SPRAY, "contoso", "45.155.205.10", &al), 0);
	ck_assert_int_eq(al.status, SW_ALERT_FIRING);
	ck_assert_int_eq(al.count, 20);
	ck_assert_int_eq(al.transition, 0);
	sw_alert_clear(&al);
	ck_assert_int_eq(sent(SPRAY), 0);
	/* After the silence, the next occurrence sends it, count and all. */
	add_series(&b);
	detect(NOW + HOUR + 1);
	ck_assert_int_eq(sent(SPRAY), 1);
	ck_assert_int_eq(sw_store_alert_find(store, SPRAY, "contoso", "45.155.205.10", &al), 0);
	ck_assert_int_eq(al.count, 23);
	ck_assert_int_eq(al.transition, 1);
	sw_alert_clear(&al);
}
END_TEST

/* The status view of failed SMTP AUTH against mailboxes outside the register. */
START_TEST(test_top_failures)
{
	static const struct series s[] = {
		{"a", -3 * HOUR, 60, 90, USERS12, "45.155.205.10", "RU", 50126},
		{"b", -2 * HOUR, 60, 5, "x@contoso.com", "192.0.2.9", "US", 50126},
		{"c", -2 * HOUR, 60, 7, "scanner-hq@contoso.com", "198.51.100.1", "NL", 50126}, /* registered */
		{"d", -30 * HOUR, 60, 50, "y@contoso.com", "203.0.113.77", "CN", 50126},       /* too old */
		{"e", -HOUR, 60, 4, "y@contoso.com", "192.0.2.200", "US", 0},                 /* successes */
	};
	for (size_t i = 0; i < 5; i++)
		add_series(&s[i]);
	detect(NOW);
	json_t *top = sw_detect_top_failures(store, "contoso", NOW - DAY, 10);
	ck_assert_ptr_nonnull(top);
	ck_assert_int_eq(json_array_size(top), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(top, 0), "ip")), "45.155.205.10");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(top, 0), "failures")), 90);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(top, 0), "country")), "RU");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(top, 1), "ip")), "192.0.2.9");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(top, 1), "failures")), 5);
	json_decref(top);
	top = sw_detect_top_failures(store, "contoso", NOW - 2 * DAY, 1);
	ck_assert_int_eq(json_array_size(top), 1);
	json_decref(top);
	top = sw_detect_top_failures(store, "fabrikam", NOW - 2 * DAY, 10);
	ck_assert_int_eq(json_array_size(top), 0);
	json_decref(top);
}
END_TEST

/* Reading only new rows: a detection run with nothing new touches nothing. */
START_TEST(test_nothing_new_nothing_done)
{
	static const struct series s = {"s", -HOUR, 30, 20, USERS5, "45.155.205.10", "RU", 50126};
	struct sw_checkpoint cp;

	add_series(&s);
	detect(NOW);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "detect", &cp), 0);
	int64_t wm = cp.watermark;
	detect(NOW + MIN);
	detect(NOW + 2 * MIN);
	ck_assert_int_eq(sw_store_checkpoint_get(store, "contoso", "detect", &cp), 0);
	ck_assert_int_eq(cp.watermark, wm);
	ck_assert_int_eq(sent(SPRAY), 1);
	ck_assert_int_eq(sw_detect_attacks(store, &cfg, &tenant, &reg, wm + 1, wm, NOW, NULL), 0);
	ck_assert_int_eq(sw_detect_attacks(NULL, &cfg, &tenant, &reg, 1, 2, NOW, NULL), -EINVAL);
}
END_TEST

START_TEST(test_error_meanings)
{
	ck_assert_str_eq(sw_signin_error_meaning(50126), "wrong password");
	ck_assert_str_eq(sw_signin_error_meaning(50057), "account disabled");
	ck_assert_str_eq(sw_signin_error_meaning(50034), "no such user");
	ck_assert_str_eq(sw_signin_error_meaning(50076), "MFA required");
	ck_assert_str_eq(sw_signin_error_meaning(50074), "MFA required");
	ck_assert_str_eq(sw_signin_error_meaning(53003), "blocked by Conditional Access");
	ck_assert_str_eq(sw_signin_error_meaning(530035), "blocked by security defaults");
	ck_assert_ptr_null(sw_signin_error_meaning(0));
	ck_assert_ptr_null(sw_signin_error_meaning(12345));
}
END_TEST

static Suite *detect_attack_suite(void)
{
	Suite *s = suite_create("detect_attack");
	TCase *tc = tcase_create("detect_attack");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_count_independent_of_arrival);
	tcase_add_test(tc, test_spray_evidence);
	tcase_add_test(tc, test_drift_evidence);
	tcase_add_test(tc, test_drift_history_before_registration);
	tcase_add_test(tc, test_silenced_spray);
	tcase_add_test(tc, test_top_failures);
	tcase_add_test(tc, test_nothing_new_nothing_done);
	tcase_add_test(tc, test_error_meanings);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(detect_attack_suite)
