/* store_capolicy.h: the layers beyond the two switches, as the latest
 * reads left them: conditional access policies and security defaults
 * (Graph), the members of the groups those policies name, each user's
 * authentication policy (Get-User) and every authentication policy's
 * AllowBasicAuthSmtp (Get-AuthenticationPolicy).  Writes run in the
 * caller's transaction, like the rest of store.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The SQL of the schema migrations that create these tables: 10, and 13
 * (Microsoft's What If answers). */
extern const char sw_store_capolicy_schema[];
extern const char sw_store_whatif_schema[];

/* Checkpoint sources: the Graph policies poller, and the Get-User part of
 * an Exchange snapshot (watermark = the snapshot it completed). */
#define SW_SOURCE_POLICIES "policies"
#define SW_SOURCE_USERS "exchange-users"

struct sw_policy_state {
	int64_t observed;      /* run time, 0: never read */
	bool ca_known;         /* the policies were read (not refused) */
	json_t *policies;      /* new reference: the Graph policy objects, [] when unknown */
	int security_defaults; /* SW_YES 1, SW_NO 0, SW_UNKNOWN -1 */
	char error[256];       /* why a layer is unknown ("" when none) */
};
/* -ENOENT (ret->policies NULL) before the first read. */
int sw_store_policy_state_get(struct sw_store *s, const char *tenant, struct sw_policy_state *ret);
void sw_policy_state_clear(struct sw_policy_state *st);
/* Save it: policies is the JSON text of the array. */
int sw_store_policy_state_put(struct sw_store *s, const char *tenant, int64_t observed, bool ca_known,
                              const json_t *policies, int security_defaults, const char *error);

/* Group members: a page of user ids seen in snapshot; a group is known
 * once group_done marks it complete (its members of older snapshots go). */
int sw_store_group_members_add(struct sw_store *s, const char *tenant, const char *group, const json_t *ids,
                               int64_t snapshot);
int sw_store_group_done(struct sw_store *s, const char *tenant, const char *group, bool complete, int64_t snapshot);
/* Forget the groups (and their members) not touched in snapshot. */
int sw_store_groups_sweep(struct sw_store *s, const char *tenant, int64_t snapshot);
/* SW_YES, SW_NO, or SW_UNKNOWN (the group was not read completely). */
int sw_store_group_member(struct sw_store *s, const char *tenant, const char *group, const char *user_id);

/* Get-User rows: address (lower case), object id, assigned policy (NULL: none). */
int sw_store_user_policy_put(struct sw_store *s, const char *tenant, const char *address, const char *object_id,
                             const char *policy, int64_t snapshot);
int sw_store_user_policies_sweep(struct sw_store *s, const char *tenant, int64_t snapshot);
/* -ENOENT when Get-User had no such user. */
int sw_store_user_policy_get(struct sw_store *s, const char *tenant, const char *address, char *object_id,
                             size_t on, char *policy, size_t pn);

/* Microsoft's What If answers (POST /identity/conditionalAccess/evaluate)
 * for a legacy client of user signing in to Exchange Online: per policy,
 * whether it applies and why not (analysisReasons). */
int sw_store_whatif_put(struct sw_store *s, const char *tenant, const char *user_id, const char *policy_id,
                        bool applies, const char *reasons, int64_t snapshot);
/* Forget the answers of users evaluated before snapshot. */
int sw_store_whatif_sweep(struct sw_store *s, const char *tenant, int64_t snapshot);
/* SW_YES applies, SW_NO not (reasons filled), SW_UNKNOWN never asked. */
int sw_store_whatif_get(struct sw_store *s, const char *tenant, const char *policy_id, const char *user_id,
                        char *reasons, size_t n);

/* Get-AuthenticationPolicy rows: AllowBasicAuthSmtp of each policy. */
int sw_store_auth_policy_put(struct sw_store *s, const char *tenant, const char *name, bool allows_basic,
                             int64_t snapshot);
int sw_store_auth_policies_sweep(struct sw_store *s, const char *tenant, int64_t snapshot);
/* SW_YES, SW_NO, or SW_UNKNOWN (no policy of that name, any case). */
int sw_store_auth_policy_allows(struct sw_store *s, const char *tenant, const char *name);
