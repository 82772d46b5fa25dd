/* bench_ingest.c: sign-in ingest throughput, the limit against smtpwatch.
 *
 * Each page of generated Graph sign-ins (gen_pages.c) is fed to two
 * consumers, in alternating order so that a load change on a shared machine
 * hits both alike:
 *   limit      jansson parse, fields bound straight from the tree into one
 *              prepared INSERT OR IGNORE, one transaction per page, into the
 *              same table, indexes and pragmas as the store;
 *   smtpwatch  the daemon's ingest path (source_signins.c signins_page
 *              without the HTTP): sw_signins_parse, sw_store_begin,
 *              sw_store_signins_add (dedupe + rollup), checkpoint get/put,
 *              sw_store_commit, page freed.
 * Generation is not timed.  Only one page exists in memory at a time.
 *
 * bench_ingest [-n RECORDS] [-p PAGE_SIZE] [-m both|limit|smtpwatch]
 *              [-d DIR] [-o DB] [-t TENANT] [-c CACHE_KIB]
 * -o writes the smtpwatch path into DB and keeps it (a database for the
 * status benchmark).  -c sets PRAGMA cache_size (KiB) on both databases
 * after open, to weigh the store's 64 MiB cache against memory.  Results
 * are printed as key=value lines. */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gen_pages.h"
#include "signins.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

/* The store's sign-ins table and its indexes (store.c migrations 1, 5, 6),
 * for the limit. */
static const char limit_schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	"PRAGMA cache_size = -65536;"
	"CREATE TABLE signins (rowid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,"
	" created INTEGER NOT NULL, created_text TEXT, upn TEXT, user_id TEXT, app_id TEXT, ip TEXT,"
	" country TEXT, city TEXT, error_code INTEGER NOT NULL DEFAULT 0, failure_reason TEXT,"
	" correlation_id TEXT, ingested INTEGER NOT NULL, UNIQUE (tenant, created, id));"
	"CREATE INDEX signins_upn ON signins (tenant, upn, created);"
	"CREATE INDEX signins_ip ON signins (tenant, ip, created);"
	"CREATE INDEX signins_tenant ON signins (tenant);"
	"CREATE UNIQUE INDEX signins_id ON signins (tenant, id);";

struct limit {
	sqlite3 *db;
	sqlite3_stmt *ins;
};

struct meter {
	double wall, cpu;
	uint64_t stored;
};

/* Seconds on a clock. */
static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Open the limit's database with the store's table and pragmas. */
static int limit_open(const char *path, struct limit *l)
{
	int rc;

	memset(l, 0, sizeof(*l));
	rc = sqlite3_open(path, &l->db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(l->db, limit_schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(l->db,
		                        "INSERT OR IGNORE INTO signins (tenant, id, created, created_text, upn, user_id,"
		                        " app_id, ip, country, city, error_code, failure_reason, correlation_id, ingested)"
		                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
		                        -1, SQLITE_PREPARE_PERSISTENT, &l->ins, NULL);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "bench_ingest: %s: %s\n", path, sqlite3_errmsg(l->db));
		return -EIO;
	}
	return 0;
}

/* Close the limit's database. */
static void limit_close(struct limit *l)
{
	sqlite3_finalize(l->ins);
	sqlite3_close(l->db);
	memset(l, 0, sizeof(*l));
}

/* A string member, NULL when absent or not a string (borrowed). */
static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Bind a borrowed string or NULL. */
static void bind(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* The limit: parse, bind from the tree, insert, one transaction a page. */
static int limit_page(struct limit *l, const char *tenant, const char *buf, size_t len, int64_t now,
                      uint64_t *added)
{
	json_t *root = json_loadb(buf, len, 0, NULL), *value, *rec;
	size_t i;
	int r = -EIO;

	value = json_object_get(root, "value");
	if (!json_is_array(value) || sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	json_array_foreach(value, i, rec) {
		const json_t *status = json_object_get(rec, "status"), *loc = json_object_get(rec, "location");
		const char *id = str(rec, "id"), *created = str(rec, "createdDateTime");
		int64_t t;

		if (id == NULL || created == NULL || sw_time_parse(created, &t) < 0)
			continue;
		bind(l->ins, 1, tenant);
		bind(l->ins, 2, id);
		sqlite3_bind_int64(l->ins, 3, t);
		bind(l->ins, 4, created);
		bind(l->ins, 5, str(rec, "userPrincipalName"));
		bind(l->ins, 6, str(rec, "userId"));
		bind(l->ins, 7, str(rec, "appId"));
		bind(l->ins, 8, str(rec, "ipAddress"));
		bind(l->ins, 9, str(loc, "countryOrRegion"));
		bind(l->ins, 10, str(loc, "city"));
		sqlite3_bind_int64(l->ins, 11, json_integer_value(json_object_get(status, "errorCode")));
		bind(l->ins, 12, str(status, "failureReason"));
		bind(l->ins, 13, str(rec, "correlationId"));
		sqlite3_bind_int64(l->ins, 14, now);
		if (sqlite3_step(l->ins) != SQLITE_DONE) {
			sqlite3_reset(l->ins);
			sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		sqlite3_reset(l->ins);
		*added += (uint64_t)sqlite3_changes(l->db);
	}
	if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	r = 0;
fail:
	if (r < 0)
		fprintf(stderr, "bench_ingest: limit: %s\n", sqlite3_errmsg(l->db));
	json_decref(root);
	return r;
}

/* smtpwatch: what source_signins.c does with a page, minus the HTTP. */
static int smtpwatch_page(struct sw_store *s, const char *tenant, const char *buf, size_t len, int64_t now,
                          int64_t from, uint64_t *added)
{
	struct sw_signin_page page = {0};
	struct sw_error err = {0};
	struct sw_checkpoint cp;
	size_t n = 0;
	int r;

	r = sw_signins_parse(buf, len, &page, &err);
	if (r < 0) {
		fprintf(stderr, "bench_ingest: parse: %s\n", err.text);
		return r;
	}
	r = sw_store_begin(s);
	if (r < 0)
		goto fail;
	r = sw_store_signins_add(s, tenant, page.items, page.n, now, &n);
	if (r < 0)
		goto fail;
	sw_store_checkpoint_get(s, tenant, "signins", &cp);
	cp.records += (int64_t)n;
	cp.last_attempt = now;
	if (page.next_link == NULL && cp.watermark == 0) {
		struct sw_checkpoint since = {.watermark = from, .last_success = now};
		r = sw_store_checkpoint_put(s, tenant, "signins-since", &since);
		if (r < 0)
			goto fail;
	}
	if (page.next_link == NULL) {
		cp.watermark = now;
		cp.last_success = now;
		cp.last_error[0] = '\0';
	}
	r = sw_store_checkpoint_put(s, tenant, "signins", &cp);
	if (r < 0)
		goto fail;
	r = sw_store_commit(s);
	if (r < 0)
		goto fail;
	*added += n;
	sw_signin_page_clear(&page);
	return 0;
fail:
	fprintf(stderr, "bench_ingest: store: %s\n", sw_store_errmsg(s));
	sw_store_rollback(s);
	sw_signin_page_clear(&page);
	return r;
}

/* Peak resident set of this process in KiB. */
static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Print one consumer's figures. */
static void report(const char *name, const struct meter *m, uint64_t records)
{
	printf("%s_wall_s=%.3f\n%s_cpu_s=%.3f\n%s_records_per_s=%.0f\n%s_cpu_records_per_s=%.0f\n%s_stored=%llu\n",
	       name, m->wall, name, m->cpu, name, m->wall > 0 ? (double)records / m->wall : 0, name,
	       m->cpu > 0 ? (double)records / m->cpu : 0, name, (unsigned long long)m->stored);
}

/* Usage text. */
static void usage(void)
{
	fprintf(stderr, "usage: bench_ingest [-n RECORDS] [-p PAGE_SIZE] [-m both|limit|smtpwatch] [-d DIR] "
	                "[-o DB] [-t TENANT] [-c CACHE_KIB]\n");
}

/* Feed generated pages to the limit and to smtpwatch; print the figures. */
int main(int argc, char **argv)
{
	uint64_t records = 200000, page_size = 1000, pages, bytes = 0;
	const char *mode = "both", *dir = NULL, *out_db = NULL, *tenant = "contoso";
	long cache_kib = 0;
	char pragma[64];
	char tmpl[] = "/tmp/bench-ingest-XXXXXX", path[4200];
	struct meter ml = {0}, ms = {0};
	struct sw_buf b = {0};
	struct sw_store *store = NULL;
	struct sw_error err = {0};
	struct limit lim = {0};
	bool do_limit, do_sw, made_dir = false;
	struct gen g;
	int64_t now = (int64_t)time(NULL);
	int c, rc = 1;

	while ((c = getopt(argc, argv, "n:p:m:d:o:t:c:h")) != -1) {
		switch (c) {
		case 'n': records = strtoull(optarg, NULL, 10); break;
		case 'p': page_size = strtoull(optarg, NULL, 10); break;
		case 'm': mode = optarg; break;
		case 'd': dir = optarg; break;
		case 'o': out_db = optarg; break;
		case 't': tenant = optarg; break;
		case 'c': cache_kib = strtol(optarg, NULL, 10); break;
		default: usage(); return 2;
		}
	}
	do_limit = strcmp(mode, "both") == 0 || strcmp(mode, "limit") == 0;
	do_sw = strcmp(mode, "both") == 0 || strcmp(mode, "smtpwatch") == 0;
	if ((!do_limit && !do_sw) || records == 0 || page_size == 0 || page_size > 1000) {
		usage();
		return 2;
	}
	if (dir == NULL) {
		dir = mkdtemp(tmpl);
		if (dir == NULL) {
			perror("mkdtemp");
			return 1;
		}
		made_dir = true;
	}
	if (do_limit) {
		snprintf(path, sizeof(path), "%s/limit.db", dir);
		if (limit_open(path, &lim) < 0)
			goto fail;
	}
	if (do_sw) {
		snprintf(path, sizeof(path), "%s/smtpwatch.db", dir);
		if (sw_store_open(out_db ? out_db : path, &store, &err) < 0) {
			fprintf(stderr, "bench_ingest: %s\n", err.text);
			goto fail;
		}
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%ld", cache_kib);
	if (cache_kib > 0 && ((do_limit && sqlite3_exec(lim.db, pragma, NULL, NULL, NULL) != SQLITE_OK) ||
	                      (do_sw && sqlite3_exec(sw_store_sqlite(store), pragma, NULL, NULL, NULL) != SQLITE_OK)))
		goto fail;
	/* Two records a second: 1M records span about six days, inside the
	 * default retention and a 7-day backfill. */
	gen_init(&g, 0x5eed, now, 500);
	pages = (records + page_size - 1) / page_size;
	for (uint64_t i = 0; i < pages; i++) {
		size_t n = (size_t)(i + 1 < pages ? page_size : records - i * page_size);
		bool last = i + 1 == pages;

		if (gen_page(&g, n, last, &b) < 0)
			goto fail;
		bytes += b.len;
		for (int k = 0; k < 2; k++) {
			bool lim_turn = (k == 0) == (i % 2 == 0);
			struct meter *m = lim_turn ? &ml : &ms;
			double w0, c0;
			int r;

			if (lim_turn ? !do_limit : !do_sw)
				continue;
			w0 = now_s(CLOCK_MONOTONIC);
			c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
			if (lim_turn)
				r = limit_page(&lim, tenant, b.data, b.len, now, &m->stored);
			else
				r = smtpwatch_page(store, tenant, b.data, b.len, now, now - 7 * 86400, &m->stored);
			m->wall += now_s(CLOCK_MONOTONIC) - w0;
			m->cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
			if (r < 0)
				goto fail;
		}
	}
	printf("records=%llu\npages=%llu\nbytes_per_record=%.0f\n", (unsigned long long)records,
	       (unsigned long long)pages, (double)bytes / (double)records);
	if (do_limit)
		report("limit", &ml, records);
	if (do_sw)
		report("smtpwatch", &ms, records);
	if (do_limit && do_sw && ml.wall > 0 && ms.wall > 0) {
		printf("ratio=%.2f\n", ml.wall / ms.wall);
		printf("ratio_cpu=%.2f\n", ml.cpu / ms.cpu);
	}
	printf("peak_rss_kb=%ld\n", peak_rss_kb());
	if (out_db != NULL && sw_store_optimize(store) < 0)
		fprintf(stderr, "bench_ingest: optimize: %s\n", sw_store_errmsg(store));
	rc = 0;
fail:
	sw_buf_clear(&b);
	sw_store_free(store);
	limit_close(&lim);
	if (made_dir) {
		const char *files[] = {"limit.db", "limit.db-wal", "limit.db-shm", "smtpwatch.db", "smtpwatch.db-wal",
		                       "smtpwatch.db-shm"};
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return rc;
}
