/* capolicy.h: whether Basic (and OAuth) SMTP AUTH can succeed for a
 * mailbox, through every layer: the tenant switch, the mailbox override,
 * the authentication policies, conditional access and security defaults.
 * Pure: parsers of the Graph and Exchange answers, and the evaluator; the
 * caller supplies group membership and What If answers. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "exo.h"
#include "util.h"

/* Exchange Online's first-party application id (Office 365 Exchange Online). */
#define SW_CA_APP_EXCHANGE "00000002-0000-0ff1-ce00-000000000000"
/* The Graph permission the conditional access and security defaults reads need. */
#define SW_CA_PERMISSION "Policy.Read.All"

enum sw_access {
	SW_ACCESS_ALLOWED,
	SW_ACCESS_BLOCKED,
	SW_ACCESS_CONDITIONAL, /* depends on conditions smtpwatch cannot know (location, platform, role) */
	SW_ACCESS_UNKNOWN,     /* a layer could not be read (its permission is missing) */
};
const char *sw_access_name(enum sw_access a); /* "allowed", "blocked", "conditional", "unknown" */
int sw_access_parse(const char *s, enum sw_access *ret);

enum sw_ca_state {
	SW_CA_DISABLED,
	SW_CA_ENABLED,
	SW_CA_REPORT_ONLY, /* enabledForReportingButNotEnforced */
};
const char *sw_ca_state_name(enum sw_ca_state s); /* Graph's names */
int sw_ca_state_parse(const char *s, enum sw_ca_state *ret);

/* One conditional access policy, as far as legacy SMTP AUTH is concerned. */
struct sw_ca_policy {
	char *id;
	char *name;
	enum sw_ca_state state;
	bool microsoft_managed; /* "Microsoft-managed: ..." (Microsoft may enable it itself) */
	bool block;             /* grantControls.builtInControls holds "block" */
	bool legacy;            /* clientAppTypes hold "other" or "all": Basic SMTP AUTH is an "other" client */
	bool modern;            /* ... "all" or "mobileAppsAndDesktopClients": OAuth SMTP AUTH */
	bool exchange;          /* applications include All, Office365 or Exchange Online and do not exclude it */
	bool all_users;         /* includeUsers holds "All" */
	bool by_role_or_guest;  /* includes directory roles or guests: who is in scope is a condition */
	json_t *include_users, *exclude_users, *include_groups, *exclude_groups; /* new references: string arrays */
	char scope_note[160];   /* why the clients or applications leave SMTP AUTH out, "" when they do not */
	char unmodelled[160];   /* the conditions not evaluated ("locations, platforms"), "" when none */
};

struct sw_ca_policies {
	struct sw_ca_policy *v;
	size_t n, cap;
};

/* One policy object of the Graph answer.  -EINVAL without id. */
int sw_ca_policy_parse(const json_t *obj, struct sw_ca_policy *ret);
void sw_ca_policy_clear(struct sw_ca_policy *p);
/* A page of GET /identity/conditionalAccess/policies: its policies are
 * appended to ret (objects without an id are skipped and counted in
 * *ret_skipped), *ret_next gets @odata.nextLink (new string) or NULL.
 * -EINVAL with err when the body is not JSON or has no "value" array. */
int sw_ca_policies_parse(const char *buf, size_t len, struct sw_ca_policies *ret, char **ret_next,
                         size_t *ret_skipped, struct sw_error *err);
/* Append a copy of p (by parsing raw, the policy's Graph object). */
int sw_ca_policies_add(struct sw_ca_policies *ps, const json_t *raw);
void sw_ca_policies_clear(struct sw_ca_policies *ps);
/* The group ids the policies name (include and exclude), each once, in a
 * new array. */
json_t *sw_ca_policies_groups(const struct sw_ca_policies *ps);

/* GET /policies/identitySecurityDefaultsEnforcementPolicy: isEnabled.
 * -EINVAL when the body is not JSON or isEnabled is not a boolean. */
int sw_secdefaults_parse(const char *buf, size_t len, bool *ret_enabled, struct sw_error *err);

/* A page of GET /groups/{id}/transitiveMembers/microsoft.graph.user:
 * the "id" of each object, in a new array (ids lower-cased), and the
 * next link.  -EINVAL as sw_ca_policies_parse. */
int sw_group_members_parse(const char *buf, size_t len, json_t **ret_ids, char **ret_next, struct sw_error *err);

/* A Get-User row: the user's assigned authentication policy. */
struct sw_user_policy {
	char *address;   /* UserPrincipalName (else WindowsEmailAddress), lower-case */
	char *object_id; /* ExternalDirectoryObjectId, lower-case, NULL when absent */
	char *policy;    /* AuthenticationPolicy, NULL when none is assigned */
};
/* -EINVAL when the row names no user. */
int sw_user_policy_parse(const json_t *row, struct sw_user_policy *ret);
void sw_user_policy_clear(struct sw_user_policy *u);

/* A What If answer (POST /identity/conditionalAccess/evaluate): for each
 * policy, whether it applies to the sign-in and, when not, why
 * (analysisReasons).  cb is called per policy; -EINVAL as above. */
typedef int (*sw_whatif_cb)(const char *policy_id, bool applies, const char *reasons, void *arg);
int sw_whatif_parse(const char *buf, size_t len, sw_whatif_cb cb, void *arg, struct sw_error *err);
/* The request body of a What If evaluation of a legacy ("other") client
 * signing in to Exchange Online as user_id (new string). */
char *sw_whatif_body(const char *user_id);

/* Tri-state answers the caller supplies. */
#define SW_YES 1
#define SW_NO 0
#define SW_UNKNOWN (-1)

/* What the evaluator needs of one mailbox and its tenant. */
struct sw_layers {
	bool tenant_disabled;     /* Get-TransportConfig SmtpClientAuthenticationDisabled */
	enum sw_tristate mailbox; /* Get-CASMailbox SmtpClientAuthenticationDisabled */
	/* Authentication policies.  auth_known false: Get-User or
	 * Get-AuthenticationPolicy was not read. */
	bool auth_known;
	const char *default_policy; /* Get-OrganizationConfig DefaultAuthenticationPolicy, NULL for none */
	const char *user_policy;    /* Get-User AuthenticationPolicy, NULL for none */
	int default_allows, user_allows; /* AllowBasicAuthSmtp: SW_YES, SW_NO, SW_UNKNOWN (policy not found) */
	int security_defaults;      /* SW_YES on, SW_NO off, SW_UNKNOWN not read */
	bool ca_known;              /* conditional access policies were read */
	const struct sw_ca_policies *ca;
	const char *user_id;        /* the mailbox's ExternalDirectoryObjectId, NULL when unknown */
	/* Is user a (transitive) member of group?  SW_UNKNOWN when the group
	 * was not read.  May be NULL: every group is unknown. */
	int (*member)(void *arg, const char *group_id, const char *user_id);
	/* Microsoft's What If answer for (policy, user): SW_YES applies,
	 * SW_NO does not (reasons filled), SW_UNKNOWN none.  May be NULL. */
	int (*whatif)(void *arg, const char *policy_id, const char *user_id, char *reasons, size_t n);
	void *arg;
};

struct sw_verdict {
	enum sw_access basic;  /* can Basic SMTP AUTH succeed? */
	enum sw_access oauth;  /* can OAuth SMTP AUTH succeed? */
	json_t *decided_by;    /* new reference: strings, one per layer in order ("tenant switch: on") */
	char blocked_by[320];  /* the layers that block Basic ("" when none) */
	bool whatif;           /* Microsoft's What If answered for at least one policy */
};
/* Fill ret (sw_verdict_clear frees it).  -ENOMEM. */
int sw_verdict_eval(const struct sw_layers *in, struct sw_verdict *ret);
void sw_verdict_clear(struct sw_verdict *v);

/* Does the tenant block legacy authentication for everyone (-ENOMEM, or
 * one of the tri-state answers: note SW_UNKNOWN < 0): security
 * defaults on, or an enabled CA policy that blocks legacy clients for all
 * users, Exchange included, with no exclusion and no condition?  SW_YES
 * (what blocks in by), SW_NO (near gets the policies that almost do, new
 * array of strings: "Block legacy auth (report-only)"), or SW_UNKNOWN
 * (a layer not read and nothing else blocks). */
int sw_legacy_blocked(const struct sw_ca_policies *ca, bool ca_known, int security_defaults, char *by, size_t n,
                      json_t **ret_near);
