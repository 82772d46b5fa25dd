/* ctl_remedy.c: smtpwatchctl remediate, remediation and plan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* How long remediate waits for the write and the read-back. */
#define REMEDIATE_WAIT_S 180

/* One action as text. */
static void print_action(const json_t *a)
{
	char b[8][96];

	printf("remediation %s: %s\n", key_text(a, "id", b[0], 96), key_text(a, "outcome", b[1], 96));
	printf("  command:    %s\n", key_text(a, "command", b[2], 96));
	printf("  alert:      %s (%s, tenant %s)\n", key_text(a, "alert", b[3], 96), key_text(a, "rule", b[4], 96),
	       key_text(a, "tenant", b[5], 96));
	printf("  asked by:   %s at %s\n", key_text(a, "requested_by", b[6], 96), key_text(a, "requested_at", b[7], 96));
	printf("  written:    %s\n", key_text(a, "written_at", b[0], 96));
	printf("  answer:     %s\n", json_string_value(json_object_get(a, "answer")) ?: "-");
	if (json_is_string(json_object_get(a, "state_read")))
		printf("  read back:  SmtpClientAuthenticationDisabled = %s at %s\n", key_text(a, "state_read", b[1], 96),
		       key_text(a, "read_back_at", b[2], 96));
	else
		printf("  read back:  not read back\n");
}

/* remediate ALERT-ID [--dry-run] [--tenant-switch]: the cmdlet, then (not
 * a dry run) the outcome once the daemon has read the target back. */
int do_remediate(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1];
	bool dry = false, tenant_switch = false;
	const struct opt opts[] = {{"--dry-run", &dry, NULL}, {"--tenant-switch", &tenant_switch, NULL}, {NULL, NULL, NULL}};
	json_t *req, *data, *action = NULL;
	int ex;

	PARSE_OR_RETURN(c, v, argc, argv, opts, pos, 1, 1, NULL);
	req = json_pack("{s:s,s:s,s:b,s:b}", "cmd", "remediate", "id", pos[0], "dry_run", dry, "tenant_switch",
	                tenant_switch);
	data = ctl_call(c, req, &ex);
	if (data == NULL)
		return ex;
	if (dry) {
		if (c->json) {
			print_json(data);
		} else {
			char b[3][200];
			printf("dry run, nothing written: %s\n", key_text(data, "command", b[0], 200));
			printf("  tenant %s, alert %s, credentials %s\n", key_text(data, "tenant", b[1], 200),
			       key_text(data, "alert", b[2], 200),
			       json_string_value(json_object_get(data, "credentials")) ?: "-");
		}
		json_decref(data);
		return EXIT_OK;
	}
	json_int_t id = json_integer_value(json_object_get(data, "action"));
	if (!c->json)
		printf("running: %s\n", json_string_value(json_object_get(data, "command")) ?: "?");
	fflush(stdout);
	json_decref(data);
	struct timespec start, now, pause = {0, 200 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		action = ctl_call(c, json_pack("{s:s,s:I}", "cmd", "remediation", "id", id), &ex);
		if (action == NULL)
			return ex;
		const char *outcome = json_string_value(json_object_get(action, "outcome"));
		if (outcome != NULL && strcmp(outcome, "pending") != 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= REMEDIATE_WAIT_S) {
			ctl_err("remediation %lld is still pending after %ds: see smtpwatchctl remediation %lld",
			        (long long)id, REMEDIATE_WAIT_S, (long long)id);
			json_decref(action);
			return EXIT_DAEMON;
		}
		json_decref(action);
		nanosleep(&pause, NULL);
	}
	const char *outcome = json_string_value(json_object_get(action, "outcome"));
	bool done = strcmp(outcome, "done") == 0;
	if (c->json)
		print_json(action);
	else
		print_action(action);
	if (!done)
		ctl_err("remediation %lld failed: %s", (long long)id,
		        json_string_value(json_object_get(action, "answer")) ?: "see the record");
	json_decref(action);
	fflush(stdout);
	return done ? EXIT_OK : EXIT_DAEMON;
}

/* The list of actions, or one. */
static void print_remediations(const json_t *data)
{
	const json_t *list = json_object_get(data, "remediations"), *a;
	struct table t = {.ncols = 7};
	size_t i;

	if (list == NULL) {
		print_action(data);
		return;
	}
	if (json_array_size(list) == 0) {
		printf("no remediations\n");
		return;
	}
	table_row(&t, (const char *[]){"ID", "TENANT", "ALERT", "OUTCOME", "BY", "REQUESTED", "COMMAND"});
	json_array_foreach(list, i, a) {
		char b[6][96];
		table_row(&t, (const char *[]){key_text(a, "id", b[0], 96), key_text(a, "tenant", b[1], 96),
		                               key_text(a, "alert", b[2], 96), key_text(a, "outcome", b[3], 96),
		                               key_text(a, "requested_by", b[4], 96), key_text(a, "requested_at", b[5], 96),
		                               json_string_value(json_object_get(a, "command")) ?: "-"});
	}
	table_print(&t, stdout);
}

/* remediation [ACTION-ID] [--tenant NAME] [--alert ID] */
int do_remediation(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1] = {NULL}, *tenant = NULL, *alert = NULL;
	const struct opt opts[] = {{"--tenant", NULL, &tenant}, {"--alert", NULL, &alert}, {NULL, NULL, NULL}};
	json_t *req;
	char *end;

	PARSE_OR_RETURN(c, v, argc, argv, opts, pos, 0, 1, NULL);
	req = json_pack("{s:s}", "cmd", "remediation");
	if (pos[0] != NULL) {
		long long id = strtoll(pos[0], &end, 10);
		if (*end != '\0' || id <= 0) {
			json_decref(req);
			return verb_usage(v, "ACTION-ID is a number, not \"%s\"", pos[0]);
		}
		json_object_set_new(req, "id", json_integer(id));
	}
	if (tenant != NULL)
		json_object_set_new(req, "tenant", json_string(tenant));
	if (alert != NULL)
		json_object_set_new(req, "alert", json_string(alert));
	return ctl_run(c, req, print_remediations);
}

/* The plan as text. */
static void print_plan(const json_t *data)
{
	const json_t *plans = json_object_get(data, "tenants"), *p, *row;
	size_t i, j;

	json_array_foreach(plans, i, p) {
		char b[6][96];
		if (i > 0)
			printf("\n");
		printf("tenant %s: the tenant switch allows SMTP AUTH: %s\n", key_text(p, "tenant", b[0], 96),
		       strcmp(json_string_value(json_object_get(p, "tenant_switch")) ?: "", "on") == 0 ? "yes" : "no");
		const json_t *breaks = json_object_get(p, "breaks");
		if (json_array_size(breaks) == 0) {
			printf("turning it off breaks no sender seen in the last 30 days\n");
		} else {
			struct table t = {.ncols = 6};
			printf("turning it off stops these senders (seen in the last 30 days, relying on the tenant switch):\n");
			table_row(&t, (const char *[]){"SENDER", "AUTH", "SIGN-INS", "MESSAGES", "LAST SEEN", "REGISTERED"});
			json_array_foreach(breaks, j, row) {
				bool ba = json_is_true(json_object_get(row, "basic")), oa = json_is_true(json_object_get(row, "oauth"));
				table_row(&t, (const char *[]){key_text(row, "address", b[0], 96),
				                               ba && oa ? "Basic+OAuth" : ba ? "Basic" : oa ? "OAuth" : "-",
				                               key_text(row, "signins", b[1], 96), key_text(row, "messages", b[2], 96),
				                               key_text(row, "last_seen", b[3], 96),
				                               json_is_true(json_object_get(row, "registered")) ? "yes" : "no"});
			}
			table_print(&t, stdout);
		}
		const json_t *needs = json_object_get(p, "needs_override");
		if (json_array_size(needs) > 0) {
			printf("registered exceptions that need their own override first:\n");
			json_array_foreach(needs, j, row)
				printf("  %s (owner %s, ticket %s, expires %s)\n", key_text(row, "address", b[0], 96),
				       key_text(row, "owner", b[1], 96), key_text(row, "ticket", b[2], 96),
				       key_text(row, "expires", b[3], 96));
		}
		const json_t *cmds = json_object_get(p, "commands");
		if (json_array_size(cmds) == 0) {
			printf("nothing to run: the tenant switch is already off\n");
			continue;
		}
		printf("commands, in order:\n");
		json_array_foreach(cmds, j, row)
			printf("  %zu. %s\n", j + 1, json_string_value(row) ?: "?");
	}
}

/* plan [TENANT] */
int do_plan(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1] = {NULL};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 0, 1, NULL);
	req = json_pack("{s:s}", "cmd", "plan");
	if (req != NULL && pos[0] != NULL)
		json_object_set_new(req, "tenant", json_string(pos[0]));
	return ctl_run(c, req, print_plan);
}
