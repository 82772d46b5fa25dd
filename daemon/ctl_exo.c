/* ctl_exo.c: smtpwatchctl exceptions and mailbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* The layers of a verdict, one a line. */
static void print_decided_by(const json_t *row, const char *indent)
{
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(row, "decided_by"), i, s)
		printf("%s%s\n", indent, json_string_value(s));
}

/* Whether legacy authentication is blocked tenant-wide, and the near misses. */
static void print_legacy(const char *tenant, const json_t *tv, const char *legacy)
{
	const json_t *near = json_object_get(tv, "legacy_auth_near_misses");
	size_t i;
	json_t *s;

	if (strcmp(legacy, "yes") == 0)
		printf("tenant %s: legacy authentication blocked for everyone by %s\n", tenant,
		       json_string_value(json_object_get(tv, "legacy_auth_blocked_by")));
	else
		printf("tenant %s: legacy authentication %s (security defaults %s, conditional access %s)\n", tenant,
		       strcmp(legacy, "no") == 0 ? "NOT blocked for everyone" : "blocking unknown",
		       json_string_value(json_object_get(tv, "security_defaults")),
		       json_string_value(json_object_get(tv, "conditional_access")));
	json_array_foreach(near, i, s)
		printf("  near miss: %s\n", json_string_value(s));
	if (json_is_string(json_object_get(tv, "policies_error")))
		printf("  %s\n", json_string_value(json_object_get(tv, "policies_error")));
}

/* The exceptions table: one row per mailbox, then the tenant switches. */
static void print_exceptions(const json_t *data)
{
	const json_t *rows = json_object_get(data, "exceptions");
	const json_t *tenants = json_object_get(data, "tenants");
	struct table t = {.ncols = 11};
	char b[11][64];
	const char *key;
	json_t *row, *tv;
	size_t i;

	if (json_array_size(rows) == 0) {
		printf("no mailbox has SMTP AUTH on by its own override, and the register is empty\n");
	} else {
		table_row(&t, (const char *[]){"TENANT", "MAILBOX", "VERDICT", "EFFECTIVE", "BASIC", "OAUTH", "OWNER",
		                               "TICKET", "EXPIRES", "DAYS", "LAST USED"});
		json_array_foreach(rows, i, row) {
			table_row(&t, (const char *[]){key_text(row, "tenant", b[0], 64), key_text(row, "mailbox", b[1], 64),
			                               key_text(row, "verdict", b[2], 64), key_text(row, "effective", b[3], 64),
			                               key_text(row, "basic_smtp", b[4], 64), key_text(row, "oauth_smtp", b[5], 64),
			                               key_text(row, "owner", b[6], 64), key_text(row, "ticket", b[7], 64),
			                               key_text(row, "expires", b[8], 64), key_text(row, "days_left", b[9], 64),
			                               key_text(row, "last_used", b[10], 64)});
		}
		table_print(&t, stdout);
		printf("\n");
		json_array_foreach(rows, i, row) {
			const char *s = json_string_value(json_object_get(row, "basic_smtp_summary"));
			printf("%s: %s%s%s\n", json_string_value(json_object_get(row, "mailbox")),
			       key_text(row, "reason", b[0], 64), s ? "; " : "", s ? s : "");
			print_decided_by(row, "    ");
		}
	}
	json_object_foreach((json_t *)tenants, key, tv) {
		const char *sw = json_string_value(json_object_get(tv, "tenant_switch"));
		const char *legacy = json_string_value(json_object_get(tv, "legacy_auth_blocked"));
		if (legacy != NULL)
			print_legacy(key, tv, legacy);
		printf("tenant %s: SMTP AUTH %s tenant-wide%s%s%s\n", key,
		       sw == NULL || strcmp(sw, "unknown") == 0 ? "unknown (no Exchange snapshot yet)" : sw,
		       sw != NULL && strcmp(sw, "on") == 0 ? "; every mailbox without its own override inherits it" : "",
		       json_is_true(json_object_get(tv, "basic_blocked_by_policy")) ? "; Basic blocked by policy " : "",
		       json_is_true(json_object_get(tv, "basic_blocked_by_policy"))
		               ? json_string_value(json_object_get(tv, "default_policy"))
		               : "");
	}
}

/* One mailbox: its state, register entry, sign-ins, alerts, history. */
static void print_mailbox(const json_t *data)
{
	const json_t *tenants = json_object_get(data, "tenants");
	static const struct {
		const char *key, *label;
	} fields[] = {
		{"tenant", "Tenant"},       {"mailbox", "Mailbox"},     {"identity", "Identity"},
		{"switch", "SmtpClientAuthenticationDisabled"},        {"effective", "Effective"},
		{"reason", "Reason"},       {"verdict", "Verdict"},     {"registered", "Registered"},
		{"owner", "Owner"},         {"ticket", "Ticket"},       {"justification", "Justification"},
		{"expires", "Expires"},     {"days_left", "Days left"}, {"last_used", "Last SMTP AUTH use"},
	};
	char b[5][96];
	json_t *row, *x;
	size_t i, k;

	json_array_foreach(tenants, i, row) {
		if (i > 0)
			printf("\n");
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			printf("%-34s %s\n", fields[k].label, key_text(row, fields[k].key, b[0], 96));
		const json_t *ts = json_object_get(row, "tenant_state");
		printf("%-34s %s\n", "Tenant switch", key_text(ts, "tenant_switch", b[0], 96));
		printf("%-34s %s\n", "Basic SMTP AUTH", key_text(row, "basic_smtp", b[0], 96));
		printf("%-34s %s\n", "OAuth SMTP AUTH", key_text(row, "oauth_smtp", b[0], 96));
		if (json_is_string(json_object_get(row, "basic_smtp_summary")))
			printf("%-34s %s\n", "", json_string_value(json_object_get(row, "basic_smtp_summary")));
		printf("Decided by:\n");
		print_decided_by(row, "  ");

		struct table t = {.ncols = 5};
		printf("\nRecent sign-ins:\n");
		if (json_array_size(json_object_get(row, "signins")) == 0)
			printf("  none\n");
		else
			table_row(&t, (const char *[]){"  TIME", "IP", "COUNTRY", "ERROR", "REASON"});
		json_array_foreach(json_object_get(row, "signins"), k, x) {
			char tm[40];
			snprintf(tm, sizeof(tm), "  %s", key_text(x, "time", b[0], 96));
			table_row(&t, (const char *[]){tm, key_text(x, "ip", b[1], 96), key_text(x, "country", b[2], 96),
			                               key_text(x, "error_code", b[3], 96),
			                               key_text(x, "failure_reason", b[4], 96)});
		}
		table_print(&t, stdout);

		printf("\nAlerts:\n");
		if (json_array_size(json_object_get(row, "alerts")) == 0)
			printf("  none\n");
		json_array_foreach(json_object_get(row, "alerts"), k, x) {
			printf("  %s %s %s %s: %s\n", key_text(x, "id", b[0], 96), key_text(x, "severity", b[1], 96),
			       key_text(x, "rule", b[2], 96), key_text(x, "status", b[3], 96),
			       key_text(x, "summary", b[4], 96));
		}
		printf("\nChanges (unified audit log):\n");
		if (json_array_size(json_object_get(row, "changes")) == 0)
			printf("  none recorded\n");
		else
			print_change_table(json_object_get(row, "changes"), false, "  ");
		printf("\nHistory:\n");
		if (json_array_size(json_object_get(row, "history")) == 0)
			printf("  no changes seen\n");
		json_array_foreach(json_object_get(row, "history"), k, x) {
			printf("  %s %s: %s -> %s\n", key_text(x, "at", b[0], 96), key_text(x, "field", b[1], 96),
			       key_text(x, "old", b[2], 96), key_text(x, "new", b[3], 96));
		}
	}
}

/* exceptions [--tenant NAME] */
int do_exceptions(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *tenant = NULL;
	const struct opt opts[] = {{"--tenant", NULL, &tenant}, {NULL, NULL, NULL}};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, NULL, 0, 0, NULL);
	req = json_pack("{s:s}", "cmd", "exceptions");
	if (req != NULL && tenant != NULL)
		json_object_set_new(req, "tenant", json_string(tenant));
	return ctl_run(c, req, print_exceptions);
}

/* mailbox ADDRESS */
int do_mailbox(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1];

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 1, 1, NULL);
	return ctl_run(c, json_pack("{s:s,s:s}", "cmd", "mailbox", "address", pos[0]), print_mailbox);
}
