/* detect.h: the rules, (observations, register, now) -> transitions. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "register.h"
#include "store.h"

#define SW_RULE_UNAPPROVED_BASIC_AUTH "unapproved-basic-auth-submission"
#define SW_RULE_TENANT_ENABLED "tenant-smtp-auth-enabled"
#define SW_RULE_UNAPPROVED_MAILBOX "unapproved-mailbox-exception"
#define SW_RULE_EXPIRED "exception-expired"
#define SW_RULE_EXPIRING "exception-expiring"
#define SW_RULE_UNUSED "exception-unused"
#define SW_RULE_STALE "exception-register-stale"
#define SW_RULE_LEGACY_NOT_BLOCKED "legacy-auth-not-blocked"

/* What sw_detect_tenant runs. */
enum {
	SW_DETECT_SIGNINS = 1 << 0, /* the sign-in (event) rules over new sign-ins */
	SW_DETECT_STATE = 1 << 1,   /* the state rules over the snapshot and register */
	SW_DETECT_ALL = SW_DETECT_SIGNINS | SW_DETECT_STATE,
};

struct sw_detect_stats {
	int64_t signins_examined;
	int64_t fired;    /* notifications queued */
	int64_t resolved;
	bool pending;     /* sign-ins are left for the next call (see max_pages) */
};

/* Run the sign-in rules over the tenant's sign-ins stored since the last
 * run (cursor: checkpoint source "detect", advanced in the transaction of
 * each page of sign-ins), then the state rules over the latest Exchange
 * snapshot and the register (one transaction).  At most SW_DETECT_PAGES
 * pages of sign-ins per call, so a large backlog never holds the caller's
 * event loop: ret->pending says to call again. */
#define SW_DETECT_PAGES 4
int sw_detect_tenant(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                     const struct sw_register *reg, int64_t now, unsigned what, struct sw_detect_stats *ret);
/* The same in slices of a time budget the caller measures (lib/ reads no
 * clock): pages of budget->page sign-ins (SW_DETECT_SLICE_PAGE when 0 or
 * more: the caller sizes it to its budget) until spent(arg) says
 * the slice's time is up (asked after each page; at least one page a
 * call); then, once no sign-in is left, the rules that read the whole
 * store (the attack rules' quiet alerts, the approved senders, audit, the
 * snapshot and register rules, the report, stopped, usage and trace
 * rules) one step at a time, asked likewise after each.  What one call
 * does is one transaction (none when it has nothing to do), committed
 * before it returns; a failure rolls the call's work back.  When work remains,
 * ret->pending is set: call again from the next loop turn with the same
 * budget, whose step says where the pass stands (0 to start one; the
 * pass sets it back to 0 when it ends).  A pass also ends pending when
 * sign-ins were stored while its steps ran. */
#define SW_DETECT_SLICE_PAGE 500
struct sw_detect_budget {
	bool (*spent)(void *arg);
	void *arg;
	unsigned step; /* kept by the caller between the calls of one pass */
	unsigned page; /* sign-ins a page reads: 0 for SW_DETECT_SLICE_PAGE */
};
int sw_detect_tenant_sliced(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                            const struct sw_register *reg, int64_t now, unsigned what,
                            struct sw_detect_budget *budget, struct sw_detect_stats *ret);

/* What the register says of one mailbox beside what Exchange and the
 * sign-ins show: "ok", "unapproved", "expired", "expiring", "unused",
 * "stale", or "off" (not registered, not on). */
const char *sw_detect_verdict(const struct sw_config *cfg, const struct sw_exception *e, bool exists, bool on,
                              int64_t last_used, int64_t watched_since, int64_t now);

/* A JSON string array as "a, b, c and 4 more" (at most 3 named). */
void sw_detect_join(const json_t *arr, char *buf, size_t n);

/* A growable list of strings (subjects to resolve or that hold). */
struct sw_strv {
	char **v;
	size_t n, cap;
};
int sw_strv_add(struct sw_strv *sv, const char *s); /* copies s; -ENOMEM */
void sw_strv_clear(struct sw_strv *sv);
/* An sw_alert_cb that adds the alert's tenant ("-" when none) to the
 * sw_strv arg: the tenants of the alerts a query lists, collected, since
 * the list's callback must not change alerts. */
int sw_strv_add_tenant(const struct sw_alert *a, void *arg);
