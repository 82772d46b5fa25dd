/* store_report.h: the SMTP AUTH clients report in the store.
 *
 * Three layers.  report_files: each imported export, by content hash (the
 * same export twice adds nothing).  report_obs: one observation per
 * (tenant, sender, protocol, period) as the exports state it; a period seen
 * again keeps the larger count (a later export of a closed period only adds
 * late records).  report_days: the per-day view every query reads, rebuilt
 * from the observations of a (sender, protocol) whenever one of them
 * changes, so overlapping exports never count a message twice: the
 * shortest periods claim their days first, and a longer period spreads
 * what it has left over its unclaimed days (a 7-day export and a daily
 * export of one of its days give 6 days of the rest, not 7 days plus one).
 *
 * Writes run in the caller's transaction, like the rest of store.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "report.h"
#include "store.h"

/* The SQL of schema migration 3 (report tables). */
extern const char sw_store_report_schema[];

struct sw_report_file {
	int64_t id;
	char name[256];
	char sha256[65];
	int64_t imported;   /* wall time */
	int64_t rows;       /* rows stored */
	int64_t rejected;   /* lines rejected */
	int64_t first_day;  /* 00:00Z of the earliest day, 0 when none */
	int64_t last_day;   /* 00:00Z of the latest day */
};
/* -ENOENT when the tenant never imported this content. */
int sw_store_report_file_find(struct sw_store *s, const char *tenant, const char *sha256, struct sw_report_file *ret);
/* Record an imported file (f->id ignored); *ret_id (may be NULL).  -EEXIST
 * when the content is already recorded. */
int sw_store_report_file_add(struct sw_store *s, const char *tenant, const struct sw_report_file *f, int64_t *ret_id);

/* Store rows as observations and rebuild the day view of every (sender,
 * protocol) that changed.  *ret_changed (may be NULL): observations new or
 * grown. */
int sw_store_report_rows_add(struct sw_store *s, const char *tenant, int64_t file_id,
                             const struct sw_report_row *rows, size_t n, int64_t now, size_t *ret_changed);

/* The start of the latest day a sender submitted anything (any protocol);
 * 0 when the report never showed it.  For exception-unused. */
int sw_store_report_last_use(struct sw_store *s, const char *tenant, const char *sender, int64_t *ret);

/* One sender's use of one protocol over the days from since on. */
struct sw_report_usage {
	char sender[320];
	enum sw_report_auth auth;
	double messages;
	int64_t first_day, last_day;
	double legacy_messages;  /* estimated messages over TLS 1.0 or 1.1 */
	double max_tls10, max_tls11; /* highest daily share, percent */
};
typedef int (*sw_report_usage_cb)(const struct sw_report_usage *u, void *arg);
/* Every (sender, protocol) with messages from since on, by sender. */
int sw_store_report_usage(struct sw_store *s, const char *tenant, int64_t since, sw_report_usage_cb cb, void *arg);

/* Senders and messages per week (weeks start Monday 00:00Z) and protocol. */
struct sw_report_week {
	int64_t week;
	enum sw_report_auth auth;
	int64_t senders;
	double messages;
};
typedef int (*sw_report_week_cb)(const struct sw_report_week *w, void *arg);
int sw_store_report_weeks(struct sw_store *s, const char *tenant, int64_t since, sw_report_week_cb cb, void *arg);
/* 00:00Z of the Monday of t's week. */
int64_t sw_report_week_start(int64_t t);

/* Days from since on when sender sent more than max messages (all
 * protocols together), oldest first. */
typedef int (*sw_report_day_cb)(int64_t day, double messages, void *arg);
int sw_store_report_days_over(struct sw_store *s, const char *tenant, const char *sender, int64_t since,
                              int64_t max, sw_report_day_cb cb, void *arg);

/* Basic use of every sender over all stored days beside what the
 * unapproved-submission rule has already counted for it. */
struct sw_report_basic {
	char sender[320];
	double total;   /* Basic messages in the report, all days */
	double alerted; /* of which the rule has seen */
	int64_t first_day, last_day;
};
typedef int (*sw_report_basic_cb)(const struct sw_report_basic *b, void *arg);
/* Only senders whose total exceeds what was alerted. */
int sw_store_report_basic_new(struct sw_store *s, const char *tenant, sw_report_basic_cb cb, void *arg);
/* The rule has seen every Basic message of sender stored so far. */
int sw_store_report_alerted_sync(struct sw_store *s, const char *tenant, const char *sender);
/* How many Basic submissions sender made since the day of since, as both
 * sources see them: per UTC day the larger of its successful SMTP sign-ins
 * and the Basic messages the report gives for that day, summed.  A day
 * seen by both counts once (they describe the same submissions); a day
 * only one of them covers counts as that one says.  Rounded (report
 * ranges spread their messages over their days). */
int sw_store_basic_use(struct sw_store *s, const char *tenant, const char *sender, int64_t since, int64_t *ret);
/* Whether the report gives Basic messages of sender on any day from the
 * day of from to the day of to: 1 yes, 0 no, or -errno. */
int sw_store_report_basic_on(struct sw_store *s, const char *tenant, const char *sender, int64_t from, int64_t to);

/* What was imported for a tenant. */
struct sw_report_imports {
	int64_t files;
	int64_t last_import; /* wall time, 0 never */
	int64_t first_day, last_day;
};
int sw_store_report_imports(struct sw_store *s, const char *tenant, struct sw_report_imports *ret);

/* Successful SMTP sign-ins per user from the day of since on (for the
 * readiness report: the sign-in logs see Basic submissions too), from the
 * per-day rollup: upn in lower case, first and last as 00:00Z of the
 * day. */
struct sw_signin_sender {
	char upn[320];
	int64_t count;
	int64_t first, last;
};
typedef int (*sw_signin_sender_cb)(const struct sw_signin_sender *u, void *arg);
int sw_store_report_signin_senders(struct sw_store *s, const char *tenant, int64_t since, sw_signin_sender_cb cb,
                                   void *arg);

/* Retention: drop observations and days that ended before cutoff.
 * *ret_deleted (may be NULL) counts observations. */
int sw_store_report_prune(struct sw_store *s, int64_t cutoff, int64_t *ret_deleted);
