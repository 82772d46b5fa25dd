/* store_exo.h: the Exchange part of the store: the tenant switch and
 * default policy, every mailbox's current SMTP AUTH switch, and the
 * history of changes between snapshots.  Writes run in the caller's
 * transaction, like the rest of store.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "exo.h"
#include "store.h"

/* The SQL of the schema migration that creates these tables. */
extern const char sw_store_exo_schema[];

struct sw_tenant_state {
	int64_t observed;          /* snapshot time */
	bool smtp_disabled;        /* Get-TransportConfig SmtpClientAuthenticationDisabled */
	char default_policy[128];  /* "" when none */
	bool policy_allows_basic;  /* AllowBasicAuthSmtp of the default policy (true when none) */
};
/* -ENOENT before the first snapshot. */
int sw_store_tenant_state_get(struct sw_store *s, const char *tenant, struct sw_tenant_state *ret);
/* Save it, recording a change of the switch or the policy. */
int sw_store_tenant_state_put(struct sw_store *s, const char *tenant, const struct sw_tenant_state *st, int64_t now);

/* Upsert a page of mailboxes seen in snapshot: a changed switch is
 * recorded as a change; a new mailbox too when record_new.  A mailbox as
 * stored (identity, object id, switch, present) is not written again,
 * only noted as seen for the sweep, on this connection. */
int sw_store_mailboxes_put(struct sw_store *s, const char *tenant, const struct sw_mailbox *items, size_t n,
                           int64_t snapshot, bool record_new, size_t *ret_changed);
/* Mark mailboxes that snapshot did not see (its puts on this connection)
 * as removed (recorded), and forget what it saw. */
int sw_store_mailboxes_sweep(struct sw_store *s, const char *tenant, int64_t snapshot, size_t *ret_removed);

struct sw_mailbox_row {
	char address[320];
	char identity[256];
	char object_id[64];
	enum sw_tristate smtp_disabled;
	int64_t first_seen, last_seen; /* last_seen: the snapshot that last changed it */
	bool removed;
};
/* -ENOENT when never seen. */
int sw_store_mailbox_get(struct sw_store *s, const char *tenant, const char *address, struct sw_mailbox_row *ret);
/* Mailboxes (not removed) whose own switch is false (explicitly on). */
typedef int (*sw_mailbox_cb)(const struct sw_mailbox_row *m, void *arg);
int sw_store_mailboxes_enabled(struct sw_store *s, const char *tenant, sw_mailbox_cb cb, void *arg);
/* Mailboxes (not removed) on which the switches allow SMTP AUTH: their
 * own switch false, or null while the tenant's is on (tenant_disabled
 * false); at most limit, by address. */
int sw_store_mailboxes_switched_on(struct sw_store *s, const char *tenant, bool tenant_disabled, int64_t limit,
                                   sw_mailbox_cb cb, void *arg);

struct sw_mailbox_change {
	int64_t at;
	char field[64]; /* "SmtpClientAuthenticationDisabled", "mailbox", "tenant:SmtpClientAuthenticationDisabled", ... */
	char old_value[160];
	char new_value[160];
};
typedef int (*sw_change_cb)(const struct sw_mailbox_change *c, void *arg);
/* Changes of one mailbox ("" for the tenant's own), newest first, at most limit. */
int sw_store_mailbox_changes(struct sw_store *s, const char *tenant, const char *address, int limit,
                             sw_change_cb cb, void *arg);

/* The latest successful (or any, when !success_only) SMTP sign-in of upn;
 * 0 when none. */
int sw_store_last_signin(struct sw_store *s, const char *tenant, const char *upn, bool success_only, int64_t *ret);

struct sw_signin_brief {
	int64_t created;
	char id[64];
	char ip[64];
	char country[8];
	int error_code;
	char failure_reason[160];
};
typedef int (*sw_signin_brief_cb)(const struct sw_signin_brief *b, void *arg);
/* The latest sign-ins of upn, newest first, at most limit. */
int sw_store_signins_recent(struct sw_store *s, const char *tenant, const char *upn, int limit, sw_signin_brief_cb cb,
                            void *arg);
