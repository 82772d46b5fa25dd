/* remediate.h: what remediation may do and would do (pure): the cmdlet
 * for an alert, the refusals, auto mode's guard, and the enforcement plan
 * (SPEC "Remediation (opt-in)"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "register.h"

#define SW_REMEDY_TRANSPORT_TARGET "Transport Settings"

/* One write: InvokeCommand's CmdletName and Parameters, and the same as
 * PowerShell for people and the record. */
struct sw_remedy_cmd {
	char target[320];  /* the mailbox address, or SW_REMEDY_TRANSPORT_TARGET */
	char cmdlet[32];   /* "Set-CASMailbox", "Set-TransportConfig" */
	char command[400]; /* "Set-CASMailbox -Identity a@b -SmtpClientAuthenticationDisabled $true" */
	bool tenant_switch;
};
/* The cmdlet that remediates alert a: Set-CASMailbox for the mailbox
 * rules, Set-TransportConfig for tenant-smtp-auth-enabled when
 * tenant_switch.  -EPERM with why for a resolved alert, a rule that
 * remediation does not act on (the attack rules: a password spray is
 * stopped at the sender, not by a switch), the tenant rule without
 * --tenant-switch, --tenant-switch on a mailbox rule. */
int sw_remedy_cmd_for(const struct sw_alert *a, bool tenant_switch, struct sw_remedy_cmd *ret, char *why,
                      size_t n);
/* The InvokeCommand body of c (new reference). */
json_t *sw_remedy_cmd_body(const struct sw_remedy_cmd *c);
/* The Parameters of c (new reference). */
json_t *sw_remedy_cmd_params(const struct sw_remedy_cmd *c);
/* The register allows target at now: -EPERM with why (owner, ticket,
 * expiry) when it holds a valid unexpired entry for it. */
int sw_remedy_register_check(const struct sw_register *reg, const char *target, int64_t now, char *why, size_t n);

/* What auto mode knows before it acts on a firing alert. */
struct sw_remedy_guard {
	enum sw_remediation_mode mode;
	const char *const *rules;   /* remediate_rules */
	const char *rule;           /* the alert's */
	bool tenant_switch;         /* the write would be the tenant switch */
	bool registered;            /* the register holds a valid unexpired entry for the mailbox */
	bool acted;                 /* an action for this occurrence of the alert exists */
	int64_t actions_last_hour;  /* automatic actions of the tenant in the last hour */
	int64_t max_per_hour;
	int64_t snapshot_at;        /* the last complete Exchange snapshot (watermark); 0: none */
	bool snapshot_failing;      /* the Exchange source's last run failed */
	int64_t stale_after;        /* [rules] stale_after */
	int64_t now;
};
/* 0 when auto mode may act; -EPERM (never), -EAGAIN (not now: the hourly
 * limit, a stale or incomplete snapshot) with why otherwise. */
int sw_remedy_guard_check(const struct sw_remedy_guard *g, char *why, size_t n);

/* Enforcement readiness (smtpwatchctl plan): a sender seen with SMTP AUTH
 * in the last 30 days, and how its mailbox's own switch stands. */
struct sw_plan_sender {
	const char *address;
	bool basic, oauth;    /* seen with Basic / OAuth in the window */
	int64_t signins;      /* successful SMTP sign-ins in the window */
	int64_t messages;     /* report messages in the window */
	int64_t last_seen;
	int mailbox_disabled; /* the mailbox's SmtpClientAuthenticationDisabled: 1 true, 0 false, -1 null
	                       * (follows the tenant switch), -2 not in the Exchange snapshot */
};
struct sw_plan_input {
	const char *tenant;
	bool tenant_disabled; /* the tenant switch is already off */
	const struct sw_plan_sender *senders;
	size_t n_senders;
	const struct sw_register *reg;
	int64_t now;
};
/* The plan as a JSON document (new reference; NULL on OOM):
 * {"tenant", "tenant_switch": "on"|"off", "breaks": [{"address", "basic",
 * "oauth", "signins", "messages", "last_seen", "registered"}],
 * "needs_override": [{"address", "owner", "ticket", "expires"}],
 * "kept": [...], "commands": [...]}.  breaks: the senders whose mailbox
 * follows the tenant switch (null, or not in the snapshot), which stop
 * once it is off; needs_override: the registered, unexpired ones among
 * them, which need their own override first; kept: senders with their own
 * false override, unaffected; commands, in order: each override, then the
 * switch (none when the switch is off already).  A sender whose mailbox
 * is off already is left out. */
json_t *sw_remedy_plan(const struct sw_plan_input *in);
