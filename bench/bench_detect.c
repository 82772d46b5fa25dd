/* bench_detect.c: the attack detector's throughput, and proof that a poll
 * does not rescan history.
 *
 * Stores N failed Authenticated SMTP sign-ins (default 1,000,000) spread
 * over 7 days in event-time order: background failures from 5,000 IPs
 * against 20,000 mailboxes, a password spray (40 failures, one IP, 12
 * users, 10 minutes) every 4,000 records, a brute force (12 failures, one
 * mailbox, 5 IPs) every 9,000, and a registered mailbox failing from
 * outside its allowed_ips now and then.  Every `poll` records (default
 * 10,000) it runs the sign-in rules (sw_detect_tenant, SW_DETECT_SIGNINS:
 * the unapproved rule plus spray, brute force and drift over the new
 * rowids), as the daemon does after each sign-ins run.  Only detection is
 * timed; ingest is reported apart for scale.
 *
 * bench_detect [-n RECORDS] [-p POLL] [-d DIR]
 * Prints key=value lines: detect_records_per_s, the mean detection time
 * of the first and the last ten polls (flat when history is not rescanned),
 * an empty poll at the end, and the alerts raised. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "detect.h"
#include "detect_attack.h"
#include "store.h"

#define WEEK (7 * 86400LL)
#define NOW 1795000000LL
#define N_IPS 5000
#define N_USERS 20000

/* Monotonic seconds. */
static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: deterministic, fast. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Fill record i of the stream. */
static void gen(int64_t i, int64_t n, uint64_t *seed, struct sw_signin *v, char *id, char *upn, char *ip)
{
	int64_t t = NOW - WEEK + i * WEEK / n;
	int64_t spray = i % 4000, brute = i % 9000;

	snprintf(id, 32, "b%010lld", (long long)i);
	if (spray < 40) { /* one IP, 12 users, one every 15 s in effect */
		snprintf(ip, 48, "45.155.%d.%d", (int)(i / 4000 % 200), (int)(i / 4000 % 250));
		snprintf(upn, 64, "user%05d@contoso.com", (int)(spray % 12));
	} else if (brute < 12) { /* one mailbox, 5 IPs */
		snprintf(ip, 48, "185.220.101.%d", (int)(brute % 5));
		snprintf(upn, 64, "vip%03d@contoso.com", (int)(i / 9000 % 500));
	} else if (i % 997 == 0) { /* the registered scanner, from outside */
		snprintf(ip, 48, "198.51.100.%d", (int)(i % 200));
		snprintf(upn, 64, "scanner-hq@contoso.com");
	} else {
		uint64_t r = rnd(seed);
		snprintf(ip, 48, "10.%d.%d.%d", (int)(r % N_IPS / 65536), (int)(r % N_IPS / 256 % 256),
		         (int)(r % N_IPS % 256));
		snprintf(upn, 64, "user%05d@contoso.com", (int)(r / N_IPS % N_USERS));
	}
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->created = t;
	v->created_text = "x";
	v->upn = upn;
	v->ip = ip;
	v->country = i % 3 ? "NL" : "DE";
	v->client_app = "Authenticated SMTP";
	v->error_code = i % 5 ? 50126 : 50053;
}

/* Count alerts of a rule. */
static int count_cb(const struct sw_alert *a, void *arg)
{
	int64_t *c = arg;

	if (strcmp(a->rule, SW_RULE_PASSWORD_SPRAY) == 0)
		c[0]++;
	else if (strcmp(a->rule, SW_RULE_BRUTE_FORCE) == 0)
		c[1]++;
	else if (strcmp(a->rule, SW_RULE_SOURCE_DRIFT) == 0)
		c[2]++;
	return 0;
}

/* Ingest in pages, detect every poll, print the numbers. */
int main(int argc, char **argv)
{
	int64_t n = 1000000, poll = 10000, batch = 1000;
	const char *dir = NULL;
	char tmpl[256], path[300], cmd[320];
	struct sw_store *s = NULL;
	struct sw_error err = {0};
	struct sw_signin *v = NULL;
	char (*ids)[32] = NULL, (*upns)[64] = NULL, (*ips)[48] = NULL;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	double t_ingest = 0, t_detect = 0, first10 = 0, last10 = 0, t0;
	int64_t polls = 0, alerts[3] = {0};
	struct sw_detect_stats st;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "n:p:d:")) != -1) {
		switch (c) {
		case 'n': n = atoll(optarg); break;
		case 'p': poll = atoll(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench_detect [-n RECORDS] [-p POLL] [-d DIR]\n");
			return 2;
		}
	}
	if (n <= 0 || poll <= 0 || poll % batch != 0) {
		fprintf(stderr, "bench_detect: RECORDS > 0 and POLL a multiple of %lld\n", (long long)batch);
		return 2;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/sw-bench-detect-XXXXXX", dir ? dir : (getenv("TMPDIR") ?: "/tmp"));
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/smtpwatch.db", tmpl);
	if (sw_store_open(path, &s, &err) < 0) {
		fprintf(stderr, "bench_detect: %s\n", err.text);
		goto out;
	}

	/* Config as in SPEC's defaults; one registered mailbox. */
	struct sw_sink_config sink = {.name = "soc", .type = SW_SINK_WEBHOOK, .min_severity = SW_SEV_INFO};
	struct sw_tenant_config tenant = {.name = "contoso", .tenant_id = "contoso.onmicrosoft.com",
	                                  .signins_lookback = 7200};
	struct sw_config cfg = {
		.rules = {.spray_failures = 20, .spray_users = 5, .spray_window = 900, .bruteforce_failures = 10,
		          .bruteforce_window = 900, .unused_after = 30 * 86400, .expiring_within = 14 * 86400,
		          .max_exception_lifetime = 90 * 86400},
		.tenants = &tenant, .n_tenants = 1, .sinks = &sink, .n_sinks = 1,
	};
	struct sw_cidr allowed;
	sw_cidr_parse("203.0.113.0/28", &allowed);
	struct sw_exception e = {.mailbox = "scanner-hq@contoso.com", .owner = "facilities@contoso.com",
	                         .expires = NOW + 40 * 86400, .expires_text = "2026-12-28", .allowed_ips = &allowed,
	                         .n_allowed_ips = 1, .max_daily_messages = -1};
	struct sw_register reg = {.entries = &e, .n = 1};

	v = calloc((size_t)batch, sizeof(*v));
	ids = calloc((size_t)batch, sizeof(*ids));
	upns = calloc((size_t)batch, sizeof(*upns));
	ips = calloc((size_t)batch, sizeof(*ips));
	if (v == NULL || ids == NULL || upns == NULL || ips == NULL)
		goto out;
	int64_t total_polls = (n + poll - 1) / poll;
	for (int64_t i = 0; i < n;) {
		int64_t m = n - i < batch ? n - i : batch;
		for (int64_t k = 0; k < m; k++)
			gen(i + k, n, &seed, &v[k], ids[k], upns[k], ips[k]);
		t0 = mono();
		if (sw_store_begin(s) < 0 || sw_store_signins_add(s, "contoso", v, (size_t)m, NOW, NULL) < 0 ||
		    sw_store_commit(s) < 0) {
			fprintf(stderr, "bench_detect: ingest: %s\n", sw_store_errmsg(s));
			goto out;
		}
		t_ingest += mono() - t0;
		i += m;
		if (i % poll == 0 || i == n) {
			int64_t now = NOW - WEEK + i * WEEK / n;
			t0 = mono();
			if (sw_detect_tenant(s, &cfg, &tenant, &reg, now, SW_DETECT_SIGNINS, &st) < 0) {
				fprintf(stderr, "bench_detect: detect: %s\n", sw_store_errmsg(s));
				goto out;
			}
			double dt = mono() - t0;
			t_detect += dt;
			if (polls < 10)
				first10 += dt;
			if (polls >= total_polls - 10)
				last10 += dt;
			polls++;
			if (polls == 1)
				sw_store_optimize(s); /* as after the first large ingest */
		}
	}
	t0 = mono();
	sw_detect_tenant(s, &cfg, &tenant, &reg, NOW, SW_DETECT_SIGNINS, &st);
	double empty = mono() - t0;
	sw_store_alerts_list(s, true, 0, count_cb, alerts);

	printf("records=%lld\npolls=%lld\n", (long long)n, (long long)polls);
	printf("ingest_records_per_s=%.0f\n", (double)n / t_ingest);
	printf("detect_seconds=%.2f\ndetect_records_per_s=%.0f\n", t_detect, (double)n / t_detect);
	printf("detect_ms_per_poll_first10=%.1f\ndetect_ms_per_poll_last10=%.1f\n",
	       first10 * 1000 / (polls < 10 ? (double)polls : 10.0), last10 * 1000 / (polls < 10 ? (double)polls : 10.0));
	printf("detect_ms_empty_poll=%.2f\n", empty * 1000);
	printf("alerts_spray=%lld\nalerts_bruteforce=%lld\nalerts_drift=%lld\n", (long long)alerts[0],
	       (long long)alerts[1], (long long)alerts[2]);
	rc = 0;
out:
	free(v);
	free(ids);
	free(upns);
	free(ips);
	sw_store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_detect: could not remove %s\n", tmpl);
	return rc;
}
