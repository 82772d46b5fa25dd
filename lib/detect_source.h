/* detect_source.h: the daemon's own health rules: source-unhealthy and
 * coverage-gap (SPEC), from what each source's runs left behind. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "store.h"

#define SW_RULE_SOURCE_UNHEALTHY "source-unhealthy"
#define SW_RULE_COVERAGE_GAP "coverage-gap"

/* Sign-ins stay in Entra for 30 days (P1/P2, which the API requires). */
#define SW_SIGNINS_RETENTION (30 * 86400)
/* coverage-gap speaks this long before a gap falls out of retention. */
#define SW_COVERAGE_WARN (3 * 86400)

struct sw_source_health {
	const char *source;    /* "signins", "exchange", "report" */
	int64_t watching_since; /* when the daemon started watching it (wall clock) */
	int64_t last_success;  /* 0: never */
	int64_t watermark;     /* covered up to here (sign-ins); 0: never */
	int64_t backfill_from; /* where the first run starts (sign-ins) */
	bool denied;           /* the last answer was 401/403 after a token renewal */
	const char *last_error;
	const char *hint;      /* what permission or role is missing */
	/* How long the service keeps what the source reads: past it, a gap is
	 * lost for good (coverage-gap).  0 for a source without a watermark
	 * gap; sign-ins: SW_SIGNINS_RETENTION, audit: SW_AUDIT_RETENTION. */
	int64_t retention;
};
/* The Management Activity API keeps content 7 days; coverage-gap warns
 * one day before. */
#define SW_AUDIT_RETENTION (7 * 86400)
#define SW_AUDIT_COVERAGE_WARN 86400

/* Fire or resolve source-unhealthy (and, for sources with a watermark,
 * coverage-gap) for one source of one tenant.  The caller holds a
 * transaction. */
int sw_detect_source(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_source_health *h, int64_t now, struct sw_detect_stats *st);
