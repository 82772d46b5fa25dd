/* remedy.h: remediation writes of a tenant (SPEC "Remediation
 * (opt-in)"): Set-CASMailbox or Set-TransportConfig through InvokeCommand
 * with the remediation credentials (else the read ones), the read-back of
 * the target, the record, and the alert's remediated transition. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "remediate.h" /* lib: struct sw_remedy_cmd */

struct tenant;
struct sw_source_health;

/* Record a pending action for alert (id alert_id, rule) and send the
 * write; who is the user name ("auto" for auto mode), uid -1 for auto.
 * *ret_id is the action's id: the outcome is in the store once the
 * target is read back.  0, or -errno with why. */
int remedy_start(struct tenant *t, const struct sw_remedy_cmd *cmd, const char *alert_id, const char *rule,
                    const char *who, int64_t uid, int64_t *ret_id, char *why, size_t n);
/* Finish what a stopped (or reloaded) daemon left pending: read the
 * target back and complete the record; never write again. */
void remedy_resume(struct tenant *t);
/* Auto mode: act on the firing alerts of remediate_rules that the guard
 * lets through (after a complete Exchange snapshot). */
void remedy_auto(struct tenant *t);
/* source-unhealthy for writes: the last completed action was refused
 * (401/403).  h's strings are borrowed until the next call. */
void remedy_health(struct tenant *t, struct sw_source_health *h);
/* Where the writes' credentials come from, for dry runs and status:
 * "remediation_client_id X" or "client_id X". */
void remedy_credentials(const struct tenant *t, char *buf, size_t n);
/* The notAfter of the remediation app's certificate (remediation_client_id
 * with remediation_certificate_file, remediation not off), 0 when there is
 * none or it cannot be read. */
int64_t remedy_cert_not_after(struct tenant *t);
/* The tenant's remediation for status (new reference; NULL when off):
 * mode, credentials, the auto rules, the hourly limit and the automatic
 * actions of the last hour, writes in flight, pending rows, done and
 * failed in the last day, refused (401/403) with why, the newest action. */
json_t *remedy_status(struct tenant *t, int64_t now);
/* Cancel writes in flight (they stay pending in the store) and free. */
void remedy_tenant_free(struct tenant *t);
