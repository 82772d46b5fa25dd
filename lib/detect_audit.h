/* detect_audit.h: the rule smtp-auth-setting-changed over the admin
 * changes the audit source stored, and the changed_by that explains a
 * drift alert (SPEC "Change attribution: the unified audit log"). */
#pragma once

#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"
#include "store_audit.h"

#define SW_RULE_SETTING_CHANGED "smtp-auth-setting-changed"

/* How many changes one call examines (the rest wait for the next). */
#define SW_DETECT_AUDIT_PAGE 500

/* Raise smtp-auth-setting-changed for each change stored since the last
 * call (cursor: checkpoint "detect-audit", the last rowid seen), in the
 * caller's transaction: high for a change that turns SMTP AUTH or Basic on
 * for a mailbox not in the register, the tenant switch or a policy; low
 * for a registered mailbox (and a policy assignment); info for one that
 * turns it off.  Each change is its own notification. */
int sw_detect_audit(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                    const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);

/* The severity the rule gives a change (the table above); tenant_on says
 * whether the tenant switch is on (a mailbox set to $null follows it). */
enum sw_severity sw_detect_audit_severity(const struct sw_change_row *c, const struct sw_register *reg,
                                          bool tenant_on, int64_t now);

/* The alert document's changed_by of a change: compact JSON
 * {"user","at","ip","operation","audit_id","actor"} (user and ip null when
 * the record had none; a non-person actor with a "note" saying what it is).
 * malloc'd; NULL on out of memory. */
char *sw_changed_by(const struct sw_change_row *c);

/* The change that explains a mailbox's SMTP AUTH being on at until: with
 * its own override on (own_override), the latest change of its own switch
 * (any of names: address, Identity...) if that turned it on; when it
 * follows the tenant, the latest change of the tenant switch if that
 * turned it on.  *ret_json is sw_changed_by() of it, or NULL when no
 * change explains it. */
int sw_explain_mailbox_on(struct sw_store *s, const char *tenant, const char *const *names, bool own_override,
                          int64_t until, char **ret_json);
/* The same for the tenant switch being on. */
int sw_explain_tenant_on(struct sw_store *s, const char *tenant, int64_t until, char **ret_json);

/* A stored change as shown by smtpwatchctl changes and mailbox --json:
 * {"tenant","at","user","actor","ip","operation","object","subject",
 * "setting","value","effect","parameters" (the array), "audit_id"} (user,
 * ip, setting, value null when absent).  New reference; NULL on OOM. */
json_t *sw_change_row_json(const struct sw_change_row *c);
