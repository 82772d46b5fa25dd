/* audit.h: Office 365 Management Activity API answers (content listings
 * and content blobs of Audit.Exchange) -> the changes that touch SMTP AUTH
 * (pure, no clock).  See SPEC "Change attribution: the unified audit log". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* A blob or listing with more entries is not from Microsoft as documented
 * (blobs hold a few thousand records at most): refused whole (-E2BIG). */
#define SW_AUDIT_BLOB_MAX 50000
#define SW_AUDIT_LISTING_MAX 10000

/* Field limits, in bytes.  Keys (Id, the object, the actor) are never cut:
 * a record with an over-long key is bad.  Parameters are cut for display. */
#define SW_AUDIT_ID_MAX 128
#define SW_AUDIT_NAME_MAX 320   /* UserId, Identity, a policy name */
#define SW_AUDIT_IP_MAX 64
#define SW_AUDIT_PARAMS_MAX 4096 /* the parameters as JSON text, for evidence */

/* What the change is about. */
enum sw_audit_object {
	SW_AUDIT_OBJ_MAILBOX, /* Set-CASMailbox, Set-User */
	SW_AUDIT_OBJ_TENANT,  /* Set-TransportConfig, Set-OrganizationConfig */
	SW_AUDIT_OBJ_POLICY,  /* New-/Set-/Remove-AuthenticationPolicy */
};
const char *sw_audit_object_name(enum sw_audit_object o); /* "mailbox", "tenant", "policy" */

/* What it does to SMTP AUTH (or Basic SMTP, for the policies). */
enum sw_audit_effect {
	SW_AUDIT_ON,       /* turns it on: SmtpClientAuthenticationDisabled False, AllowBasicAuthSmtp True */
	SW_AUDIT_OFF,      /* turns it off */
	SW_AUDIT_INHERIT,  /* a mailbox's switch set to $null: it follows the tenant switch */
	SW_AUDIT_ASSIGN,   /* a policy assigned (value: its name, NULL for none): depends on that policy */
	SW_AUDIT_REMOVED,  /* an authentication policy removed: its users fall back to the default */
};
const char *sw_audit_effect_name(enum sw_audit_effect e); /* "on", "off", "inherit", "assign", "removed" */

/* Who made it (UserType and UserId). */
enum sw_audit_actor {
	SW_ACTOR_PERSON,    /* a user or an administrator */
	SW_ACTOR_SYSTEM,    /* NT AUTHORITY\SYSTEM (...), UserType System or SystemPolicy */
	SW_ACTOR_MICROSOFT, /* UserType DcAdmin: a Microsoft datacenter operator */
	SW_ACTOR_APP,       /* UserType Application or ServicePrincipal, or an app's id as UserId */
};
const char *sw_audit_actor_name(enum sw_audit_actor a); /* "person", "system", "microsoft", "application" */

struct sw_audit_change {
	char *id;          /* Id, required */
	int64_t created;   /* CreationTime (UTC, no zone in the record) */
	char *operation;   /* "Set-CASMailbox" */
	char *user;        /* UserId as sent, may be NULL */
	enum sw_audit_actor actor;
	char *ip;          /* ClientIP without its port, may be NULL */
	enum sw_audit_object object;
	char *subject;     /* mailbox (Identity, lower-case), tenant (OrganizationName), policy name */
	char *setting;     /* the parameter that matters, NULL for Remove-AuthenticationPolicy */
	char *value;       /* normalised: "True", "False", "$null", or a policy name; NULL for none */
	enum sw_audit_effect effect;
	char *parameters;  /* every parameter as compact JSON [{"Name":..,"Value":..}] */
};
void sw_audit_change_clear(struct sw_audit_change *c);

/* A record that could not be read, for the log. */
struct sw_audit_bad {
	size_t index; /* position in the blob, from 0 */
	char id[48];  /* its Id, printable ASCII, "" if none */
	char why[96];
};
#define SW_AUDIT_BAD_NOTES 5

struct sw_audit_blob {
	struct sw_audit_change *items; /* the changes that touch SMTP AUTH */
	size_t n;
	size_t records; /* records in the blob */
	size_t ignored; /* readable records of no interest (other operations, failed cmdlets) */
	/* Records that could not be read: not an object, no Id, CreationTime
	 * unreadable, Parameters neither an array nor a string, a value that
	 * matters in an unexpected form.  The first few are described. */
	size_t bad;
	struct sw_audit_bad bads[SW_AUDIT_BAD_NOTES];
};
/* Parse one content blob (a JSON array of records).  -EINVAL with err
 * when it is not JSON or not an array; -E2BIG past SW_AUDIT_BLOB_MAX. */
int sw_audit_blob_parse(const char *buf, size_t len, struct sw_audit_blob *ret, struct sw_error *err);
void sw_audit_blob_clear(struct sw_audit_blob *b);

/* One entry of subscriptions/content. */
struct sw_audit_content {
	char *id;       /* contentId */
	char *uri;      /* contentUri */
	int64_t created;    /* contentCreated */
	int64_t expiration; /* contentExpiration, 0 when absent */
};
struct sw_audit_listing {
	struct sw_audit_content *items;
	size_t n;
	size_t bad; /* entries without contentId or contentUri */
};
/* -EINVAL with err when not a JSON array, -E2BIG past SW_AUDIT_LISTING_MAX. */
int sw_audit_listing_parse(const char *buf, size_t len, struct sw_audit_listing *ret, struct sw_error *err);
void sw_audit_listing_clear(struct sw_audit_listing *l);

/* A value as the audit log writes it: "$false" "False" "false" "0" and
 * "$true" "True" "true" "1" (0 with *ret), "$null", "null" or "" (1: no
 * value), anything else -EINVAL. */
int sw_audit_bool(const char *v, bool *ret);

/* "203.0.113.9:51234" -> "203.0.113.9", "[2001:db8::1]:443" -> "2001:db8::1";
 * an address without a port stays as it is.  Writes at most n bytes. */
void sw_audit_ip(const char *v, char *out, size_t n);

/* The error code of a Management API error body ({"error":{"code":"AF20024",
 * "message":..}}) into code (n bytes), "" when there is none. */
void sw_audit_error_code(const char *buf, size_t len, char *code, size_t n);
