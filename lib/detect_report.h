/* detect_report.h: the rules that read the SMTP AUTH clients report:
 * unapproved-basic-auth-submission (Basic rows of senders not in the
 * register, shared with the sign-in evidence: one alert per sender),
 * exception-volume-spike and legacy-tls-submission. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"

#define SW_RULE_VOLUME_SPIKE "exception-volume-spike"
#define SW_RULE_LEGACY_TLS "legacy-tls-submission"

/* The state rules look at report days this recent: an export older than
 * that no longer keeps a spike or a legacy TLS alert firing. */
#define SW_REPORT_RECENT (30 * 86400)

/* Run the report rules of one tenant inside the caller's transaction.
 * Basic use is counted once: what the rule has seen is remembered per
 * sender and day, so re-imports and overlapping exports add only what is
 * new.  Counts go to st (fired, resolved). */
int sw_detect_report(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);
