/* detect_usage.h: unapproved-basic-auth-submission from the email app
 * usage report, for tenants whose sign-ins cannot be read (no Entra ID P1,
 * or AuditLog.Read.All refused).  The report says a user sent over SMTP
 * AUTH in its 7 days, not whether with Basic or OAuth: the alert says so
 * and is medium (high when sign-ins or the SMTP AUTH clients report showed
 * Basic for the same sender: then it is that alert). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"

/* Reports this recent feed the rule. */
#define SW_USAGE_RECENT (14 * 86400)

/* Can the tenant's sign-ins be read?  False once the sign-ins source has
 * failed and not succeeded for a day (or never): a 403 "doesn't have
 * premium license" is that.  Before its first attempt: true (wait). */
bool sw_detect_signins_available(struct sw_store *s, const char *tenant, int64_t now);

/* The rule, inside the caller's transaction; counts go to st.  Each
 * report observation is acted on once. */
int sw_detect_usage(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                    const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);

/* exception-source-drift from message trace where sign-ins cannot be read:
 * a registered mailbox's mail from outside its allowed_ips ("all mail sent
 * by this mailbox").  Each stored message is looked at once. */
int sw_detect_trace_drift(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                          const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);
