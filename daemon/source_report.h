/* source_report.h: the SMTP AUTH clients report source of a tenant: the
 * report_spool directory watcher, and the import that the spool and
 * `smtpwatchctl import-report` share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "store_report.h"

struct tenant;
struct report_spool;

/* Files larger than this are rejected (kept whole in memory while parsed). */
#define REPORT_MAX_FILE (32 * 1024 * 1024)

/* Watch t's report_spool (created if missing).  0 and *ret NULL when the
 * tenant has none; -errno when the watcher cannot be set up. */
int report_spool_new(struct tenant *t, struct report_spool **ret);
void report_spool_free(struct report_spool *sp);
/* Scan at once.  In --once the spool is emptied, then the source reports
 * done (daemon_source_done) once. */
void report_spool_start(struct report_spool *sp);
/* The "report" source in `status` (new reference); sp may be NULL. */
json_t *report_source_status(struct tenant *t, struct report_spool *sp);

/* What an import did. */
struct report_outcome {
	bool duplicate;             /* the same content was imported before: nothing added */
	struct sw_report_file file; /* the file record (the earlier one when duplicate) */
	size_t changed;             /* observations new or grown */
};
/* Store a parsed file for t in one transaction (duplicate check, rows,
 * file record, checkpoint).  -errno with why. */
int report_import_parsed(struct tenant *t, const char *name, const struct sw_report *r, int64_t now,
                         struct report_outcome *ret, char *why, size_t n);
