/* bench_pages.c: where a detection pass's slow pages are (issue 22 #4).
 *
 * Runs one tenant's sliced detection pass over an existing store, as
 * smtpwatchd's first pass after a start does, but a page a call (a budget
 * spent after every page or step), and times each call on the monotonic
 * clock and on the thread's CPU clock.  The store is written to (the
 * pass raises its alerts and moves its cursor): run it on a copy.  The
 * WAL is checkpointed between two calls, untimed, as smtpwatchd has it
 * done on a thread of its own (daemon/walckpt.c), not in a commit.
 *
 *   bench_pages -c CONF -d DB [-t TENANT] [-p PAGE] [-k SLOWEST] [-u ROWID]
 *
 * CONF is the daemon's config (its rules and the tenant's register are
 * used); PAGE the sign-ins a page reads (default SW_DETECT_SLICE_PAGE).
 * Prints key=value lines (calls, pages, sign-ins, the pass's time, a
 * page's median / p99 / max in wall and CPU time) and then the SLOWEST
 * calls (default 10): the rowid the page began after, what it examined
 * and raised, its wall and CPU time; a step (no sign-ins) is named by its
 * number.  -u stops the pass once its cursor reached ROWID (with the
 * cursor set back by hand, a profile of a few pages: perf record -p). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"
#include "util.h"

struct call {
	double wall_ms, cpu_ms;
	int64_t after, examined, fired;
	unsigned step;
};

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool spent_always(void *arg)
{
	(void)arg;
	return true;
}

static int by_wall(const void *a, const void *b)
{
	double x = ((const struct call *)a)->wall_ms, y = ((const struct call *)b)->wall_ms;

	return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The median, p99 and max of the pages' times (v sorted in place). */
static void spread(double *v, size_t n, double out[3])
{
	qsort(v, n, sizeof(*v), cmp_double);
	out[0] = n ? v[n / 2] : 0;
	out[1] = n ? v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0;
	out[2] = n ? v[n - 1] : 0;
}

static void wal_ready(void *arg)
{
	*(bool *)arg = true;
}

/* The cursor after the last call: where it began plus what it examined. */
static int64_t k_after(const struct call *calls, size_t n)
{
	return calls[n - 1].after + calls[n - 1].examined;
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *db = NULL, *name = NULL;
	unsigned page = 0;
	size_t slowest = 10, n = 0, cap = 0, pages = 0;
	struct sw_config *cfg = NULL;
	struct sw_register *reg = NULL;
	struct sw_store *s = NULL;
	struct sw_store_checkpointer *ckpt = NULL;
	struct sw_diag diag = {0};
	struct sw_error err = {0};
	struct call *calls = NULL;
	int64_t examined = 0, fired = 0, until = INT64_MAX;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "c:d:t:p:k:u:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': db = optarg; break;
		case 't': name = optarg; break;
		case 'p': page = (unsigned)atoi(optarg); break;
		case 'k': slowest = (size_t)atoi(optarg); break;
		case 'u': until = atoll(optarg); break;
		default: goto usage;
		}
	}
	if (conf == NULL || db == NULL)
		goto usage;
	if (sw_config_load(conf, &cfg, &diag) < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s:%d: %s\n", diag.items[i].source, diag.items[i].line, diag.items[i].text);
		return 1;
	}
	const struct sw_tenant_config *t = name ? sw_config_tenant(cfg, name) : cfg->n_tenants ? &cfg->tenants[0] : NULL;
	if (t == NULL) {
		fprintf(stderr, "%s: no tenant %s\n", conf, name ? name : "at all");
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	if (t->exceptions != NULL &&
	    sw_register_load(t->exceptions, cfg->rules.max_exception_lifetime, now, &reg, &diag) < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s:%d: %s\n", diag.items[i].source, diag.items[i].line, diag.items[i].text);
		goto out;
	}
	if (sw_store_open(db, &s, &err) < 0) {
		fprintf(stderr, "%s: %s\n", db, err.text);
		goto out;
	}

	bool wal_full = false;
	if (sw_store_checkpointer_open(db, &ckpt, &err) < 0 || sw_store_wal_offload(s, wal_ready, &wal_full) < 0) {
		fprintf(stderr, "%s: no checkpointer: %s\n", db, err.text);
		goto out;
	}
	struct sw_register none = {0};
	struct sw_detect_budget budget = {spent_always, NULL, 0, page};
	struct sw_detect_stats st;
	double t0 = clock_ms(CLOCK_MONOTONIC);
	do {
		struct sw_checkpoint cp = {0};
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			struct call *m = realloc(calls, cap * sizeof(*m));
			if (m == NULL)
				goto out;
			calls = m;
		}
		if (sw_store_checkpoint_get(s, t->name, "detect", &cp) < 0)
			cp.watermark = 0;
		struct call *k = &calls[n++];
		k->after = cp.watermark;
		k->step = budget.step;
		st = (struct sw_detect_stats){0};
		double w = clock_ms(CLOCK_MONOTONIC), u = clock_ms(CLOCK_THREAD_CPUTIME_ID);
		if (sw_detect_tenant_sliced(s, cfg, t, reg ? reg : &none, now, SW_DETECT_ALL, &budget, &st) < 0) {
			fprintf(stderr, "detection failed: %s\n", sw_store_errmsg(s));
			goto out;
		}
		k->wall_ms = clock_ms(CLOCK_MONOTONIC) - w;
		k->cpu_ms = clock_ms(CLOCK_THREAD_CPUTIME_ID) - u;
		k->examined = st.signins_examined;
		k->fired = st.fired;
		examined += st.signins_examined;
		fired += st.fired;
		pages += st.signins_examined > 0;
		if (wal_full) {
			wal_full = false;
			if (sw_store_checkpointer_run(ckpt, NULL, NULL) < 0)
				fprintf(stderr, "checkpoint: %s\n", sw_store_checkpointer_errmsg(ckpt));
		}
	} while (st.pending && (st.signins_examined == 0 || k_after(calls, n) < until));
	double total = clock_ms(CLOCK_MONOTONIC) - t0;

	double *wv = calloc(pages + 1, sizeof(double)), *cv = calloc(pages + 1, sizeof(double)), ws[3], cs[3];
	if (wv == NULL || cv == NULL)
		goto out;
	for (size_t i = 0, j = 0; i < n; i++)
		if (calls[i].examined > 0) {
			wv[j] = calls[i].wall_ms;
			cv[j++] = calls[i].cpu_ms;
		}
	spread(wv, pages, ws);
	spread(cv, pages, cs);
	printf("calls=%zu\npages=%zu\npage_size=%u\nsignins_examined=%lld\nnotifications=%lld\npass_s=%.1f\n"
	       "page_wall_ms_median=%.2f\npage_wall_ms_p99=%.2f\npage_wall_ms_max=%.2f\n"
	       "page_cpu_ms_median=%.2f\npage_cpu_ms_p99=%.2f\npage_cpu_ms_max=%.2f\n",
	       n, pages, page ? page : SW_DETECT_SLICE_PAGE, (long long)examined, (long long)fired, total / 1e3, ws[0],
	       ws[1], ws[2], cs[0], cs[1], cs[2]);
	free(wv);
	free(cv);
	qsort(calls, n, sizeof(*calls), by_wall);
	printf("\nslowest calls: wall ms, cpu ms, what\n");
	for (size_t i = 0; i < slowest && i < n; i++) {
		if (calls[i].examined > 0)
			printf("%8.2f %8.2f  page after rowid %lld: %lld sign-ins, %lld notifications\n", calls[i].wall_ms,
			       calls[i].cpu_ms, (long long)calls[i].after, (long long)calls[i].examined,
			       (long long)calls[i].fired);
		else
			printf("%8.2f %8.2f  step %u\n", calls[i].wall_ms, calls[i].cpu_ms, calls[i].step);
	}
	rc = 0;
out:
	free(calls);
	sw_store_free(s);
	sw_store_checkpointer_free(ckpt);
	sw_register_free(reg);
	sw_config_free(cfg);
	sw_diag_clear(&diag);
	return rc;
usage:
	fprintf(stderr, "usage: bench_pages -c CONF -d DB [-t TENANT] [-p PAGE] [-k SLOWEST] [-u ROWID]\n");
	return 2;
}
