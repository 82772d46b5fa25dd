/* store_inventory.h: what the reports people read ask of the store (SPEC
 * "Reports people read"): every sender ever seen with SMTP AUTH, Basic and
 * OAuth per week from both sources, and each sender's days of use for
 * basic-sender-stopped.
 *
 * Both sources speak: a successful Authenticated SMTP sign-in is Basic
 * (the sign-in query asks for legacy SMTP AUTH only), and the SMTP AUTH
 * clients report says Basic, OAuth or nothing per row.  Senders are
 * compared in lower case (the report stores them so; UPNs keep the case
 * Entra gives). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The SQL of schema migration 12: signin_days, successful SMTP sign-ins
 * per (tenant, lower-case sender, UTC day), kept by sw_store_signins_add
 * and a delete trigger on signins.
 * The inventory, the weekly chart, basic-sender-stopped and the
 * readiness report read it instead of scanning every stored sign-in
 * (seconds at a million rows, on the daemon's loop). */
extern const char sw_store_inventory_schema[];

/* One sender of the inventory. */
struct sw_inventory_sender {
	char sender[320];
	bool basic, oauth;             /* ever seen with Basic / with OAuth */
	int64_t first_seen, last_seen; /* 00:00Z of the first and last day */
	int64_t last_basic, last_oauth; /* 0 never */
	int64_t messages_30d;          /* report messages from since30 on, all protocols */
	int64_t signins_30d;           /* successful SMTP sign-ins from since30 on */
	bool in_signins, in_report;
};
typedef int (*sw_inventory_cb)(const struct sw_inventory_sender *e, void *arg);
/* Every sender stored for tenant (within retention), by sender. */
int sw_store_inventory(struct sw_store *s, const char *tenant, int64_t since30, sw_inventory_cb cb, void *arg);

/* Senders and messages per week (Monday 00:00Z) and protocol from since
 * on, from both sources: a Basic (sender, day) counts the larger of its
 * sign-ins and the report's Basic messages, as sw_store_basic_use does. */
struct sw_inventory_week {
	int64_t week;
	bool oauth;        /* false: Basic */
	int64_t senders;
	int64_t messages;
};
typedef int (*sw_inventory_week_cb)(const struct sw_inventory_week *w, void *arg);
int sw_store_inventory_weeks(struct sw_store *s, const char *tenant, int64_t since, sw_inventory_week_cb cb,
                             void *arg);

/* Each (sender, day) with a submission from the day of since on, by
 * sender then day: basic (a successful sign-in or report Basic
 * messages), oauth (report OAuth messages), or neither (report rows
 * without a protocol). */
typedef int (*sw_sender_day_cb)(const char *sender, int64_t day, bool basic, bool oauth, void *arg);
int sw_store_sender_days(struct sw_store *s, const char *tenant, int64_t since, sw_sender_day_cb cb, void *arg);
