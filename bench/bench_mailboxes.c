/* bench_mailboxes.c: what an Exchange snapshot of a large tenant costs
 * the store (issue 22 #1).
 *
 * Stores N mailboxes (default 100,000) as source_exo.c does, a page of
 * 1,000 a transaction and the sweep with the last, then the same snapshot
 * again R times (default 3) with nothing changed, then once with 1 % of
 * the switches changed and 1 % of the mailboxes gone.  Times each
 * snapshot in CPU (the process's: SQLite runs on this thread) and counts
 * what it wrote (/proc/self/io wchar: the WAL's frames; the WAL is
 * checkpointed after each, unmeasured).
 *
 *   bench_mailboxes [-n MAILBOXES] [-r REPEATS] [-d DIR]
 *
 * Prints key=value lines: first_cpu_ms, first_written_kb, same_cpu_ms
 * and same_written_kb (the mean of the repeats), changed_cpu_ms,
 * changed_written_kb, and the mailboxes removed by the last sweep. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exo.h"
#include "store.h"
#include "store_exo.h"

#define PAGE 1000

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Bytes this process has passed to write(2) and its kin. */
static long long wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "wchar: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void wal_ready(void *arg)
{
	(void)arg;
}

/* One snapshot at `at` of mailboxes [0, n) less every gone-th (0: none),
 * every flip-th with its switch on; its CPU time, the KB it wrote and
 * what its sweep removed. */
static int snapshot(struct sw_store *s, struct sw_store_checkpointer *c, struct sw_mailbox *m, char (*addr)[48],
                    size_t n, size_t gone, size_t flip, int64_t at, double *ret_ms, int *ret_kb, size_t *ret_removed)
{
	double t0 = cpu_ms();
	long long w0 = wchar();
	size_t k = 0, changed, removed = 0;

	for (size_t i = 0; i < n; i++) {
		if (gone && i % gone == gone - 1)
			continue;
		m[k].address = addr[i];
		m[k].identity = addr[i];
		m[k].object_id = addr[i];
		m[k].smtp_disabled = flip && i % flip == 0 ? SW_TRI_FALSE : SW_TRI_NULL;
		k++;
	}
	for (size_t off = 0; off < k; off += PAGE) {
		size_t len = k - off < PAGE ? k - off : PAGE;
		if (sw_store_begin(s) < 0 || sw_store_mailboxes_put(s, "big", m + off, len, at, true, &changed) < 0 ||
		    (off + len == k && sw_store_mailboxes_sweep(s, "big", at, &removed) < 0) || sw_store_commit(s) < 0) {
			fprintf(stderr, "store: %s\n", sw_store_errmsg(s));
			return -1;
		}
	}
	*ret_ms = cpu_ms() - t0;
	*ret_kb = (int)((wchar() - w0) / 1024);
	if (sw_store_checkpointer_run(c, NULL, NULL) < 0) {
		fprintf(stderr, "checkpoint: %s\n", sw_store_checkpointer_errmsg(c));
		return -1;
	}
	*ret_removed = removed;
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = 100000, repeats = 3, removed;
	const char *dir = NULL;
	char tmpl[256], path[300];
	struct sw_store *s = NULL;
	struct sw_store_checkpointer *c = NULL;
	struct sw_error err = {0};
	double first, same = 0, ms;
	int first_wal, same_wal = 0, wal, opt, rc = 1;

	while ((opt = getopt(argc, argv, "n:r:d:")) != -1) {
		switch (opt) {
		case 'n': n = (size_t)atol(optarg); break;
		case 'r': repeats = (size_t)atol(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: bench_mailboxes [-n MAILBOXES] [-r REPEATS] [-d DIR]\n");
			return 2;
		}
	}
	if (n == 0 || repeats == 0)
		return 2;
	snprintf(tmpl, sizeof(tmpl), "%s/sw-bench-mbx-XXXXXX", dir ? dir : "/tmp");
	if (mkdtemp(tmpl) == NULL) {
		perror(tmpl);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/smtpwatch.db", tmpl);
	char (*addr)[48] = calloc(n, sizeof(*addr));
	struct sw_mailbox *m = calloc(n, sizeof(*m));
	if (addr == NULL || m == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		snprintf(addr[i], sizeof(addr[i]), "user%07zu@big.example", i);
	if (sw_store_open(path, &s, &err) < 0 || sw_store_checkpointer_open(path, &c, &err) < 0 ||
	    sw_store_wal_offload(s, wal_ready, NULL) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.text);
		goto out;
	}
	if (snapshot(s, c, m, addr, n, 0, 0, 1000, &first, &first_wal, &removed) < 0)
		goto out;
	for (size_t r = 0; r < repeats; r++) {
		if (snapshot(s, c, m, addr, n, 0, 0, 2000 + (int64_t)r, &ms, &wal, &removed) < 0)
			goto out;
		same += ms;
		same_wal += wal;
	}
	if (snapshot(s, c, m, addr, n, 100, 100, 9000, &ms, &wal, &removed) < 0)
		goto out;
	printf("mailboxes=%zu\nfirst_cpu_ms=%.1f\nfirst_written_kb=%d\nsame_cpu_ms=%.1f\nsame_written_kb=%d\n"
	       "changed_cpu_ms=%.1f\nchanged_written_kb=%d\nchanged_removed=%zu\n",
	       n, first, first_wal, same / (double)repeats, same_wal / (int)repeats, ms, wal, removed);
	rc = 0;
out:
	sw_store_free(s);
	sw_store_checkpointer_free(c);
	free(addr);
	free(m);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
	if (system(path) != 0)
		rc = 1;
	return rc;
}
