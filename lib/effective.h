/* effective.h: the verdict of every layer for the mailboxes of one tenant,
 * from what the store holds (the latest Exchange snapshot, Get-User, the
 * authentication policies, conditional access, security defaults and the
 * group members): capolicy.h's evaluator fed from the store. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "capolicy.h"
#include "store.h"
#include "store_capolicy.h"
#include "store_exo.h"

struct sw_effective_ctx {
	struct sw_store *s;
	const char *tenant;
	bool have_state; /* a complete Exchange snapshot */
	struct sw_tenant_state state;
	bool auth_known; /* Get-User was read completely */
	int default_allows;
	bool policies_read; /* the policies source stored a run */
	struct sw_policy_state ps;
	struct sw_ca_policies ca;
};

/* Load the tenant's layers (tenant borrowed).  -ENOMEM, or a store error. */
int sw_effective_load(struct sw_store *s, const char *tenant, struct sw_effective_ctx *ret);
void sw_effective_free(struct sw_effective_ctx *c);
/* The verdict of one mailbox of the snapshot (sw_verdict_clear frees it). */
int sw_effective_mailbox(struct sw_effective_ctx *c, const struct sw_mailbox_row *m, struct sw_verdict *ret);
/* sw_legacy_blocked over the tenant's stored layers. */
int sw_effective_legacy(struct sw_effective_ctx *c, char *by, size_t n, json_t **ret_near);
/* One sentence for alert summaries: "Basic SMTP AUTH can succeed",
 * "Basic SMTP AUTH cannot succeed (blocked by ...)", "... is conditional
 * (...)", "... is unknown (...)". */
void sw_verdict_sentence(const struct sw_verdict *v, char *buf, size_t n);
/* The verdict as JSON fields basic_smtp, oauth_smtp, decided_by, set on obj. */
void sw_verdict_json(const struct sw_verdict *v, json_t *obj);
