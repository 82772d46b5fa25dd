/* gen_pages.h: a deterministic generator of Graph auditLogs/signIns pages
 * (Microsoft's field set, about 2 KB a record, SMTP AUTH successes and
 * failures, some duplicated ids) for the ingest benchmark and fuzz seeds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct gen {
	uint64_t seed;
	int64_t newest;   /* createdDateTime of record 0 (Unix s) */
	int64_t step_ms;  /* records are this far apart, newest first */
	size_t dup_every; /* every Nth record repeats the previous id (0: never) */
	uint64_t next;    /* the next record number */
	uint64_t emitted; /* records written so far, duplicates included */
};

/* Start a generator: record 0 at newest, step_ms apart going back. */
void gen_init(struct gen *g, uint64_t seed, int64_t newest, int64_t step_ms);
/* Replace out's contents with one page of n records; a nextLink unless
 * last.  0 or -ENOMEM. */
int gen_page(struct gen *g, size_t n, bool last, struct sw_buf *out);
