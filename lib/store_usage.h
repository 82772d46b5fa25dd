/* store_usage.h: the email app usage report's tables: one observation per
 * (tenant, user, refresh date), and the latest state of each tenant's
 * report (counts, concealed names) for status and the rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "usage.h"

extern const char sw_store_usage_schema[];

/* Store the rows of one report, each (user, refresh date) once: a report
 * read again adds nothing.  Inside the caller's transaction. */
int sw_store_usage_add(struct sw_store *s, const char *tenant, const struct sw_usage_row *rows, size_t n, int64_t now,
                       size_t *ret_added);

/* What the latest report of a tenant said. */
struct sw_usage_state {
	int64_t refresh_day;      /* 0: no report read yet */
	int64_t users, smtp_users;
	bool concealed;           /* the report's names are hashes */
	int64_t concealed_users, concealed_smtp;
	char settings[16];        /* displayConcealedNames: "on", "off", "unknown" */
	int64_t problems;         /* rows refused in the latest report */
	int64_t updated;          /* when it was read */
};
int sw_store_usage_state_put(struct sw_store *s, const char *tenant, const struct sw_usage_state *st);
/* -ENOENT when no report was read for tenant. */
int sw_store_usage_state_get(struct sw_store *s, const char *tenant, struct sw_usage_state *ret);

/* One user with SMTP App activity (see sw_store_usage_smtp_new). */
struct sw_usage_smtp {
	char upn[320];
	int64_t first_day, last_day; /* refresh dates of the first and latest report that showed it */
	int64_t last_activity;       /* latest Last Activity Date, 0 when none */
	int64_t reports;             /* reports that showed it */
};
typedef int (*sw_usage_smtp_cb)(const struct sw_usage_smtp *u, void *arg);
/* Users with SMTP App activity in a report of refresh date >= since that
 * the rule has not acted on yet. */
int sw_store_usage_smtp_new(struct sw_store *s, const char *tenant, int64_t since, sw_usage_smtp_cb cb, void *arg);
/* Every user with SMTP App activity in a report of refresh date >= since. */
int sw_store_usage_smtp_users(struct sw_store *s, const char *tenant, int64_t since, sw_usage_smtp_cb cb, void *arg);
/* The rule acted on every observation of upn so far. */
int sw_store_usage_alerted(struct sw_store *s, const char *tenant, const char *upn);
/* The latest day a report showed upn with SMTP App activity (its Last
 * Activity Date, else the refresh date); 0 when none. */
int sw_store_usage_last_use(struct sw_store *s, const char *tenant, const char *upn, int64_t *ret);
/* Distinct users with SMTP App activity in reports of refresh date >= since. */
int sw_store_usage_smtp_count(struct sw_store *s, const char *tenant, int64_t since, int64_t *ret);

/* Message trace (source trace): each message of a registered exception
 * mailbox once, by its id. */
extern const char sw_store_trace_schema[];
struct sw_trace_row {
	char id[64];
	char mailbox[320]; /* senderAddress, lower case */
	int64_t received;
	char ip[64];       /* fromIP, "" when none */
};
int sw_store_trace_add(struct sw_store *s, const char *tenant, const struct sw_trace_row *rows, size_t n,
                       size_t *ret_added);
/* Days since since on which mailbox sent more than max messages (all mail). */
int sw_store_trace_days_over(struct sw_store *s, const char *tenant, const char *mailbox, int64_t since, int64_t max,
                             int (*cb)(int64_t day, double messages, void *arg), void *arg);
/* Source IPs of mailbox's messages the drift rule has not seen. */
int sw_store_trace_new_ips(struct sw_store *s, const char *tenant, const char *mailbox,
                           int (*cb)(const char *ip, int64_t first, int64_t last, int64_t count, void *arg), void *arg);
int sw_store_trace_alerted(struct sw_store *s, const char *tenant, const char *mailbox);
