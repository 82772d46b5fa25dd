/* ctl_audit.c: smtpwatchctl changes, and the change history of mailbox. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

/* See ctl.h. */
void changed_by_text(const json_t *cb, char *buf, size_t n)
{
	const char *user = json_string_value(json_object_get(cb, "user"));
	const char *at = json_string_value(json_object_get(cb, "at"));
	const char *ip = json_string_value(json_object_get(cb, "ip"));
	const char *op = json_string_value(json_object_get(cb, "operation"));
	const char *note = json_string_value(json_object_get(cb, "note"));
	char ago[48] = "";
	int64_t t;

	if (at != NULL && sw_time_parse(at, &t) == 0) {
		int64_t d = (int64_t)time(NULL) - t;
		if (d < 0)
			d = 0;
		if (d < 7200)
			snprintf(ago, sizeof(ago), " %lld minute%s ago", (long long)(d / 60), d / 60 == 1 ? "" : "s");
		else if (d < 2 * 86400)
			snprintf(ago, sizeof(ago), " %lld hours ago", (long long)(d / 3600));
		else
			snprintf(ago, sizeof(ago), " %lld days ago", (long long)(d / 86400));
	}
	if (user == NULL) {
		snprintf(buf, n, "%s", note ? note : "unknown");
		return;
	}
	snprintf(buf, n, "switched on by %s%s%s%s%s%s%s%s%s%s", user, note ? " (" : "", note ? note : "",
	         note ? ")" : "", ago, ip ? " from " : "", ip ? ip : "", op ? " (" : "", op ? op : "", op ? ")" : "");
}

/* "SmtpClientAuthenticationDisabled=False (on)" of a change. */
static void change_what(const json_t *x, char *buf, size_t n)
{
	const char *setting = json_string_value(json_object_get(x, "setting"));
	const char *value = json_string_value(json_object_get(x, "value"));
	const char *effect = json_string_value(json_object_get(x, "effect"));

	if (setting != NULL)
		snprintf(buf, n, "%s=%s (%s)", setting, value ? value : "$null", effect ? effect : "?");
	else
		snprintf(buf, n, "(%s)", effect ? effect : "?");
}

/* Who made a change, saying so when it was not a person. */
static void change_who(const json_t *x, char *buf, size_t n)
{
	const char *user = json_string_value(json_object_get(x, "user"));
	const char *actor = json_string_value(json_object_get(x, "actor"));

	if (actor != NULL && strcmp(actor, "person") != 0)
		snprintf(buf, n, "%s [%s]", user ? user : "?", actor);
	else
		snprintf(buf, n, "%s", user ? user : "?");
}

/* See ctl.h. */
void print_change_table(const json_t *changes, bool with_tenant, const char *indent)
{
	struct table t = {.ncols = with_tenant ? 7 : 6};
	char b[7][360], first[380];
	json_t *x;
	size_t i;

	snprintf(first, sizeof(first), "%sTIME", indent);
	if (with_tenant)
		table_row(&t, (const char *[]){first, "TENANT", "WHO", "FROM", "CMDLET", "OBJECT", "CHANGE"});
	else
		table_row(&t, (const char *[]){first, "WHO", "FROM", "CMDLET", "OBJECT", "CHANGE"});
	json_array_foreach(changes, i, x) {
		char tm[380];
		snprintf(tm, sizeof(tm), "%s%s", indent, key_text(x, "at", b[0], sizeof(b[0])));
		change_who(x, b[2], sizeof(b[2]));
		change_what(x, b[6], sizeof(b[6]));
		if (with_tenant)
			table_row(&t, (const char *[]){tm, key_text(x, "tenant", b[1], sizeof(b[1])), b[2],
			                               key_text(x, "ip", b[3], sizeof(b[3])),
			                               key_text(x, "operation", b[4], sizeof(b[4])),
			                               key_text(x, "subject", b[5], sizeof(b[5])), b[6]});
		else
			table_row(&t, (const char *[]){tm, b[2], key_text(x, "ip", b[3], sizeof(b[3])),
			                               key_text(x, "operation", b[4], sizeof(b[4])),
			                               key_text(x, "subject", b[5], sizeof(b[5])), b[6]});
	}
	table_print(&t, stdout);
}

static void print_changes(const json_t *data)
{
	const json_t *changes = json_object_get(data, "changes");

	if (json_array_size(changes) == 0) {
		if (!json_is_true(json_object_get(data, "audit")))
			printf("no changes: the audit source is off (audit = on in the tenant's section, with "
			       "ActivityFeed.Read)\n");
		else
			printf("no admin change of an SMTP AUTH setting recorded\n");
		return;
	}
	print_change_table(changes, true, "");
}

/* changes [--tenant NAME] [--since DUR] */
int do_changes(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *tenant = NULL, *since = NULL;
	const struct opt opts[] = {{"--tenant", NULL, &tenant}, {"--since", NULL, &since}, {NULL, NULL, NULL}};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, NULL, 0, 0, NULL);
	if (check_duration(v, "--since", since) != 0)
		return EXIT_USAGE;
	req = json_pack("{s:s}", "cmd", "changes");
	if (req != NULL && tenant != NULL)
		json_object_set_new(req, "tenant", json_string(tenant));
	if (req != NULL && since != NULL)
		json_object_set_new(req, "since", json_string(since));
	return ctl_run(c, req, print_changes);
}
