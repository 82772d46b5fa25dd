/* store_detect.h: what the sign-in detectors (detect.c, detect_attack.c)
 * read and write: stored sign-ins by rowid range and by the window of one
 * IP or mailbox, the countries seen per registered mailbox, and the
 * rollup of failed SMTP AUTH by source.  Plain records, handed to a
 * callback one at a time; the SQL stays here. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The detectors' tables, created by schema migration 4 (store_lifecycle.c):
 * countries seen per registered mailbox, and failed SMTP AUTH against
 * unregistered mailboxes per (source IP, hour), for `status`.  The text of
 * a migration that has shipped never changes. */
#define SW_STORE_DETECT_SCHEMA                                                                  \
	"CREATE TABLE signin_countries ("                                                       \
	"  tenant TEXT NOT NULL, upn TEXT NOT NULL, country TEXT NOT NULL,"                     \
	"  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, n INTEGER NOT NULL,"         \
	"  PRIMARY KEY (tenant, upn, country)) WITHOUT ROWID;"                                  \
	"CREATE TABLE failure_sources ("                                                        \
	"  tenant TEXT NOT NULL, hour INTEGER NOT NULL, ip TEXT NOT NULL, country TEXT,"        \
	"  n INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"        \
	"  PRIMARY KEY (tenant, hour, ip)) WITHOUT ROWID;"

/* A stored sign-in as the detectors see it.  The strings are borrowed for
 * the callback (NULL for none). */
struct sw_signin_row {
	int64_t rowid, created;
	int error_code;
	const char *id, *upn, *ip, *country;
};
/* Returns < 0 to stop the iteration (that value is returned). */
typedef int (*sw_signin_row_cb)(const struct sw_signin_row *row, void *arg);

/* The tenant's sign-ins with rowid in [first, last], by rowid, at most
 * limit of them (< 0: no limit). */
int sw_store_signins_range(struct sw_store *s, const char *tenant, int64_t first, int64_t last, int64_t limit,
                           sw_signin_row_cb cb, void *arg);
/* The tenant's failed sign-ins (error_code <> 0) of one IP (by_ip) or
 * mailbox with lo < created < hi and rowid <= max_rowid, by (created,
 * rowid): the indexed window around a new failure. */
int sw_store_failures_window(struct sw_store *s, const char *tenant, bool by_ip, const char *key, int64_t lo,
                             int64_t hi, int64_t max_rowid, sw_signin_row_cb cb, void *arg);

/* A country seen for a mailbox: first and last sign-in from it, and how many. */
struct sw_country_row {
	const char *country; /* borrowed */
	int64_t first_seen, last_seen, n;
};
typedef int (*sw_country_cb)(const struct sw_country_row *c, void *arg);
/* The mailbox's countries as the rollup has them. */
int sw_store_countries_get(struct sw_store *s, const char *tenant, const char *upn, sw_country_cb cb, void *arg);
/* The same worked out from its stored sign-ins with rowid < before (a
 * mailbox registered after it was in use has no rollup yet). */
int sw_store_countries_history(struct sw_store *s, const char *tenant, const char *upn, int64_t before,
                               sw_country_cb cb, void *arg);
/* Write (insert or replace) one country of the mailbox in the rollup. */
int sw_store_country_put(struct sw_store *s, const char *tenant, const char *upn, const struct sw_country_row *c);

/* Failed sign-ins of one source IP in one hour (hour: Unix time, a
 * multiple of 3600). */
struct sw_failure_source {
	const char *ip, *country; /* borrowed; country may be NULL */
	int64_t hour, n, first_seen, last_seen;
};
typedef int (*sw_failure_source_cb)(const struct sw_failure_source *f, void *arg);
/* Add f to the rollup: n adds up, the times widen, a known country stays
 * unless f has one. */
int sw_store_failure_add(struct sw_store *s, const char *tenant, const struct sw_failure_source *f);
/* Drop the tenant's rollup hours before `before`. */
int sw_store_failures_prune(struct sw_store *s, const char *tenant, int64_t before);
/* The top sources since the hour `since_hour`, summed over hours, most
 * failures first (then by IP), at most limit; f->hour is 0. */
int sw_store_failures_top(struct sw_store *s, const char *tenant, int64_t since_hour, int limit,
                          sw_failure_source_cb cb, void *arg);
