/* store_remediate.h: the remediation actions (SPEC "Remediation
 * (opt-in)"), one row per write smtpwatch asked Exchange to make.  A row
 * is inserted (outcome "pending") in its own transaction before the write
 * is sent, and completed after the read-back, so a daemon stopped between
 * the two finds it on restart, reads the target back and completes the
 * same row: an action is recorded once, and never written twice. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The SQL of the schema migration that creates the table. */
extern const char sw_store_remediate_schema[];

#define SW_REMEDY_PENDING "pending"
#define SW_REMEDY_DONE "done"
#define SW_REMEDY_FAILED "failed"

struct sw_remedy_action {
	int64_t id;
	char *tenant;
	char *alert_id;
	char *rule;
	char *target;       /* the mailbox address, or "Transport Settings" */
	char *cmdlet;       /* "Set-CASMailbox", "Set-TransportConfig" */
	char *parameters;   /* the InvokeCommand Parameters, compact JSON */
	char *command;      /* the same as PowerShell, for people */
	char *requested_by; /* the peer's user name, or "auto" */
	int64_t uid;        /* the peer's uid, -1 for auto */
	int64_t requested_at;
	int64_t written_at;   /* Exchange answered the write; 0: no answer (yet) */
	int64_t read_back_at; /* 0: not read back (yet) */
	int http_status;      /* of the write; 0: none */
	char *answer;         /* Exchange's message or warnings; NULL: none */
	char *state_read;     /* SmtpClientAuthenticationDisabled read back: "true", "false", "null"; NULL: none */
	char *outcome;        /* pending, done, failed */
	bool notified;        /* the alert's remediated transition was queued */
};
void sw_remedy_action_clear(struct sw_remedy_action *a);

/* Insert a pending action (id, times after requested_at, answer, state
 * and outcome are ignored); *ret_id its id.  The caller's transaction. */
int sw_store_remedy_add(struct sw_store *s, const struct sw_remedy_action *a, int64_t *ret_id);
/* The write's answer. */
int sw_store_remedy_written(struct sw_store *s, int64_t id, int64_t at, int http_status, const char *answer);
/* The read-back and the outcome; answer (NULL keeps it) replaces the
 * stored one. */
int sw_store_remedy_complete(struct sw_store *s, int64_t id, int64_t at, const char *state_read,
                             const char *outcome, const char *answer);
/* Mark the remediated transition as queued. */
int sw_store_remedy_notified(struct sw_store *s, int64_t id);
/* One action; -ENOENT when none. */
int sw_store_remedy_get(struct sw_store *s, int64_t id, struct sw_remedy_action *ret);
/* Call cb for each action, newest first: of one tenant (NULL: every
 * tenant), of one alert (NULL: any), only pending ones when pending_only.
 * cb returns < 0 to stop (that value is returned); a is borrowed. */
typedef int (*sw_remedy_cb)(const struct sw_remedy_action *a, void *arg);
int sw_store_remedy_list(struct sw_store *s, const char *tenant, const char *alert_id, bool pending_only,
                         sw_remedy_cb cb, void *arg);
/* Actions of a tenant requested at or after since, by whom ("auto", or
 * NULL for anyone), for the hourly limit. */
int sw_store_remedy_count(struct sw_store *s, const char *tenant, const char *requested_by, int64_t since,
                          int64_t *ret);

/* The alert's remediated transition: its transition is bumped and its
 * document, with "status":"remediated" and "remediation_action": action
 * (borrowed), is queued for every sink that wants the rule.  An action is
 * news whether or not a silence covers the alert (like silence-changed).
 * The caller's transaction; -ENOENT when the alert is gone. */
struct sw_config;
int sw_store_remedy_notify(struct sw_store *s, const struct sw_config *cfg, const char *alert_id,
                           const json_t *action, int64_t now);
/* An action as the control socket and the alert document show it (new
 * reference). */
json_t *sw_remedy_action_json(const struct sw_remedy_action *a);
