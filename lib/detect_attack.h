/* detect_attack.h: the event rules over failed and unexpected sign-ins:
 * smtp-auth-password-spray, smtp-auth-brute-force, exception-source-drift,
 * and the rollup of failed SMTP AUTH by source for `status`.
 *
 * They read only the sign-ins stored since the detect cursor (a rowid
 * range handed in by detect.c, inside the transaction of that page) plus,
 * for each new failure, the indexed window of its IP or mailbox around it
 * (signins_ip / signins_upn): never the whole history.  Windows slide by
 * event time, so a record that arrives two hours late still counts in the
 * window it belongs to.
 *
 * Windows.  A window is [t, t + window): failures i..j share one when
 * created_j - created_i < window.  A failure is an occurrence of the rule
 * when some window holding it qualifies (spray: >= spray_failures failures
 * from one IP over >= spray_users distinct users; brute force: >=
 * bruteforce_failures failures for one mailbox).  The alert's count is the
 * number of such failures; each is counted once, when the last record
 * that makes its window qualify is examined (so the failures before the
 * threshold are counted too).
 *
 * Drift.  A sign-in (success or failure) of a mailbox in the register is
 * an occurrence when its IP is outside allowed_ips, or when its country is
 * new for the mailbox: the mailbox had signed in from another country
 * before this country's first sign-in, and that first sign-in is less than
 * SW_DRIFT_NEW_COUNTRY ago (in event time).  The first country a mailbox
 * is ever seen from is its baseline, not drift.
 *
 * Resolution.  Event alerts resolve after a quiet period without an
 * occurrence (by event time, last_seen against now): spray and brute force
 * after max(2 x their window, signins_lookback), drift after
 * max(SW_DRIFT_QUIET, signins_lookback).  The lookback bounds how late a
 * record can still arrive, so an alert does not resolve while late records
 * of its burst may still come in. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"

#define SW_RULE_PASSWORD_SPRAY "smtp-auth-password-spray"
#define SW_RULE_BRUTE_FORCE "smtp-auth-brute-force"
#define SW_RULE_SOURCE_DRIFT "exception-source-drift"

#define SW_DRIFT_QUIET (24 * 3600)       /* drift resolves after a day without one */
#define SW_DRIFT_NEW_COUNTRY (24 * 3600) /* a country stays "new" for a day */
#define SW_FAILURE_ROLLUP_KEEP (32 * 86400) /* hourly failure rollup kept this long */

/* Run the three rules over the tenant's sign-ins with rowid in
 * [first_rowid, last_rowid] (already stored; first > last: none), in the
 * caller's transaction, and add the failures against unregistered
 * mailboxes to the failure rollup.  st->fired counts notifications. */
int sw_detect_attacks(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                      const struct sw_register *reg, int64_t first_rowid, int64_t last_rowid, int64_t now,
                      struct sw_detect_stats *st);
/* Resolve the tenant's spray, brute-force and drift alerts that have been
 * quiet long enough, and prune the failure rollup; in the caller's
 * transaction, once per detection run (after its last page). */
int sw_detect_attacks_resolve(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                              int64_t now, struct sw_detect_stats *st);

/* The top sources of failed SMTP AUTH against unregistered mailboxes since
 * `since` (hour granularity), most failures first: a new array (NULL on
 * error) of {"ip","country","failures","first_seen","last_seen"}. */
json_t *sw_detect_top_failures(struct sw_store *s, const char *tenant, int64_t since, int limit);

/* What a sign-in error code means ("wrong password", ...); NULL if it is
 * not one the attack rules know. */
const char *sw_signin_error_meaning(int code);
