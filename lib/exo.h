/* exo.h: Exchange Online admin API (InvokeCommand) answers -> records, and
 * the effective SMTP AUTH state of a mailbox (pure). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* A tri-state Exchange switch: SmtpClientAuthenticationDisabled. */
enum sw_tristate {
	SW_TRI_NULL = -1, /* follow the tenant switch */
	SW_TRI_FALSE = 0, /* SMTP AUTH allowed */
	SW_TRI_TRUE = 1,  /* SMTP AUTH disabled */
};
const char *sw_tristate_name(enum sw_tristate t); /* "null", "false", "true" */

/* One InvokeCommand page: "value" rows, "@odata.nextLink" and
 * "@adminapi.warnings". */
struct sw_exo_page {
	json_t *rows;     /* new reference: array of objects */
	json_t *warnings; /* new reference: array (strings, as Exchange sends them), or NULL */
	char *next_link;  /* NULL on the last page */
};
/* -EINVAL with err when the body is not JSON or lacks a "value" array.  An
 * answer with "@adminapi.warnings" (or "adminapi.warnings") and no "value"
 * is a page without rows: Exchange answers so when a cmdlet finds nothing
 * and says why. */
int sw_exo_page_parse(const char *buf, size_t len, struct sw_exo_page *ret, struct sw_error *err);
void sw_exo_page_clear(struct sw_exo_page *p);

/* The error text of an Exchange or Graph answer: error.details[].message,
 * else "error.code: error.message", else a plain-text body (first line). */
void sw_exo_error_text(const char *buf, size_t len, char *out, size_t n);

/* A Get-CASMailbox row. */
struct sw_mailbox {
	char *address;   /* PrimarySmtpAddress, lower-case */
	char *identity;  /* Identity or Name */
	char *object_id; /* ExternalDirectoryObjectId */
	enum sw_tristate smtp_disabled;
};
/* -EINVAL when the row has no PrimarySmtpAddress. */
int sw_exo_mailbox_parse(const json_t *row, struct sw_mailbox *ret);
void sw_mailbox_clear(struct sw_mailbox *m);

/* A PowerShell boolean as InvokeCommand serialises it: true/false, or
 * the strings "True"/"False" in any case.  Anything else (null, absent,
 * another string) is SW_TRI_NULL. */
enum sw_tristate sw_exo_bool(const json_t *v);
/* SmtpClientAuthenticationDisabled of a row (sw_exo_bool). */
enum sw_tristate sw_exo_row_smtp_disabled(const json_t *row);
/* Whether the Get-AuthenticationPolicy row named policy (by Name or
 * Identity, any case) allows Basic SMTP: AllowBasicAuthSmtp read by
 * sw_exo_bool, and only an explicit false blocks.  -ENOENT when no row
 * has that name. */
int sw_exo_policy_allows_basic(const json_t *rows, const char *policy, bool *ret);

/* What the tenant's switches and policies mean for one mailbox. */
struct sw_effective {
	bool smtp_auth_on;  /* the switches allow SMTP AUTH */
	bool basic_blocked; /* an authentication policy blocks Basic (OAuth still works) */
	char reason[192];   /* "on: mailbox override false", "on: inherits tenant switch; Basic blocked by policy X" */
};
/* tenant_disabled: Get-TransportConfig SmtpClientAuthenticationDisabled;
 * policy: the authentication policy in force (NULL for none) and whether it
 * has AllowBasicAuthSmtp. */
void sw_effective_state(bool tenant_disabled, enum sw_tristate mailbox, const char *policy, bool policy_allows_basic,
                        struct sw_effective *ret);
