/* bench_register.c: how long an exception register of N entries takes to
 * load (issue 21 #15: 100,000 entries took 61 s, quadratic in the
 * duplicate check), and N lookups in it.
 *
 * Writes N entries (default 100,000) as the register of a large tenant
 * would hold them (owner, justification, ticket, expires, allowed_ips of
 * two ranges, max_daily_messages) to a temporary file, loads it with
 * sw_register_load, then looks every mailbox up in upper case.
 *
 * bench_register [-n ENTRIES]
 * Prints key=value lines: entries, file_bytes, load_s, find_us_per_lookup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "register.h"

#define NOW 1795348800LL /* 2026-11-22T12:00:00Z */

/* Monotonic seconds. */
static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/sw-bench-register-XXXXXX";
	struct sw_register *reg = NULL;
	struct sw_diag diag = {0};
	long n = 100000, found = 0;
	char upper[64];
	double t0, t1, t2;
	FILE *f;
	int fd, c, rc = 1;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else
			return 2;
	}
	fd = mkstemp(path);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		return 1;
	}
	for (long i = 0; i < n; i++)
		fprintf(f,
		        "[exception device-%06ld@contoso.com]\n"
		        "owner = facilities@contoso.com\n"
		        "justification = scan-to-mail, firmware has no OAuth\n"
		        "ticket = CHG-%06ld\n"
		        "expires = 2027-01-31\n"
		        "allowed_ips = 203.0.%ld.0/28, 2001:db8:%lx::/48\n"
		        "max_daily_messages = 400\n\n",
		        i, i, i % 256, i % 65536);
	fflush(f);
	printf("entries=%ld\nfile_bytes=%ld\n", n, ftell(f));
	fclose(f);

	t0 = mono();
	if (sw_register_load(path, 90 * 86400LL, NOW, &reg, &diag) < 0) {
		fprintf(stderr, "load failed (%zu problems)\n", diag.n);
		goto out;
	}
	t1 = mono();
	for (long i = 0; i < n; i++) {
		snprintf(upper, sizeof(upper), "DEVICE-%06ld@CONTOSO.COM", i);
		found += sw_register_find(reg, upper) != NULL;
	}
	t2 = mono();
	printf("load_s=%.3f\nfind_us_per_lookup=%.3f\n", t1 - t0, n ? (t2 - t1) * 1e6 / (double)n : 0.0);
	rc = found == n ? 0 : 1;
	if (rc != 0)
		fprintf(stderr, "found %ld of %ld\n", found, n);
out:
	sw_register_free(reg);
	sw_diag_clear(&diag);
	unlink(path);
	return rc;
}
