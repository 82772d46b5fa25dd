/* detect_stopped.h: basic-sender-stopped (SPEC "Reports people read"): a
 * sender that submitted with Basic SMTP AUTH on at least 5 of the 14 days
 * before and on none of the last 3 days: broken by the cutoff, or
 * migrated.  It resolves when the sender submits again, saying "now on
 * OAuth" when it does so with OAuth. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "register.h"
#include "store.h"

#define SW_RULE_BASIC_STOPPED "basic-sender-stopped"
#define SW_STOPPED_QUIET_DAYS 3  /* the last 3 days, today included */
#define SW_STOPPED_WINDOW_DAYS 14 /* the 14 days before them */
#define SW_STOPPED_MIN_DAYS 5

/* One sender's use, gathered day by day relative to the day of now. */
struct sw_sender_use {
	int basic_days;     /* days with Basic in the 14 days before the last 3 */
	bool recent;        /* any submission in the last 3 days */
	int64_t last_basic; /* 00:00Z of the latest day with Basic, 0 never */
	int64_t last_oauth; /* ... with OAuth */
	int64_t last_any;   /* ... with any submission (also a report row without a protocol) */
};

/* Add one day of submissions (day = 00:00Z) to u, as seen at now. */
void sw_sender_use_add(struct sw_sender_use *u, int64_t day, bool basic, bool oauth, int64_t now);
/* Does the condition hold for u? */
bool sw_stopped_holds(const struct sw_sender_use *u);

/* How a stopped sender came back after its last Basic day stopped_after. */
enum sw_comeback {
	SW_COMEBACK_NONE,  /* still silent */
	SW_COMEBACK_BASIC, /* submits with Basic again */
	SW_COMEBACK_OAUTH, /* submits with OAuth only: now on OAuth */
	SW_COMEBACK_OTHER, /* submits, the protocol unknown (a report row without one) */
};
enum sw_comeback sw_stopped_comeback(const struct sw_sender_use *u, int64_t stopped_after);

/* Run the rule for one tenant inside the caller's transaction.  It speaks
 * only while some source watched the quiet days: the sign-ins were read
 * up to within stale_after of now, or the report covers yesterday.
 * Counts go to st. */
int sw_detect_stopped(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                      const struct sw_register *reg, int64_t now, struct sw_detect_stats *st);
