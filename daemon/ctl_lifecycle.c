/* ctl_lifecycle.c: smtpwatchctl ack, silence and unsilence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* "a-000003 acknowledged: ..." */
static void print_ack(const json_t *a)
{
	char b[3][64];
	const char *note = json_string_value(json_object_get(a, "ack_note"));

	printf("%s acknowledged (%s %s, %s): no repeats until it resolves%s%s\n", key_text(a, "id", b[0], 64),
	       key_text(a, "rule", b[1], 64), json_string_value(json_object_get(a, "subject")) ?: "-",
	       key_text(a, "status", b[2], 64), note ? "; note: " : "", note ? note : "");
}

/* ack ID [--note TEXT] */
int do_ack(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1], *note = NULL;
	const struct opt opts[] = {{"--note", NULL, &note}, {NULL, NULL, NULL}};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, pos, 1, 1, NULL);
	req = json_pack("{s:s,s:s}", "cmd", "ack", "id", pos[0]);
	if (req != NULL && note != NULL)
		json_object_set_new(req, "note", json_string(note));
	return ctl_run(c, req, print_ack);
}

/* One table row per silence; the alerts each covers below the table. */
static void print_silences_of(const json_t *list)
{
	struct table t = {.ncols = 6};
	const json_t *s, *a;
	size_t i, j, n_alerts = 0;

	if (json_array_size(list) == 0) {
		printf("no silences\n");
		return;
	}
	table_row(&t, (const char *[]){"ID", "RULE", "SUBJECT", "UNTIL", "BY", "NOTE"});
	json_array_foreach(list, i, s) {
		char b[5][64];
		table_row(&t, (const char *[]){key_text(s, "id", b[0], 64), key_text(s, "rule", b[1], 64),
		                               json_string_value(json_object_get(s, "subject")) ?: "-",
		                               key_text(s, "until", b[2], 64), key_text(s, "created_by", b[3], 64),
		                               json_string_value(json_object_get(s, "note")) ?: "-"});
	}
	table_print(&t, stdout);
	json_array_foreach(list, i, s) {
		json_array_foreach(json_object_get(s, "alerts"), j, a) {
			char b[4][64];
			if (n_alerts++ == 0)
				printf("\nsilenced alerts (stored, not sent):\n");
			printf("  %s %s %s %s count %s (silence %s)\n", key_text(a, "id", b[0], 64),
			       key_text(a, "rule", b[1], 64), json_string_value(json_object_get(a, "subject")) ?: "-",
			       key_text(a, "status", b[2], 64), key_text(a, "count", b[3], 64),
			       json_string_value(json_object_get(s, "subject")) ?: "-");
		}
	}
}

/* The list, or the silence just set. */
static void print_silences(const json_t *data)
{
	const json_t *one = json_object_get(data, "silence");

	if (one != NULL) {
		json_t *list = json_pack("[O]", one);
		printf("silenced %s for %s until %s\n", json_string_value(json_object_get(one, "rule")) ?: "-",
		       json_string_value(json_object_get(one, "subject")) ?: "-",
		       json_string_value(json_object_get(one, "until")) ?: "-");
		print_silences_of(list);
		json_decref(list);
		return;
	}
	print_silences_of(json_object_get(data, "silences"));
}

/* silence RULE SUBJECT --for DUR [--note TEXT] [--all], or silence (list) */
int do_silence(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[2], *dur = NULL, *note = NULL;
	bool all = false;
	const struct opt opts[] = {{"--for", NULL, &dur}, {"--note", NULL, &note}, {"--all", &all, NULL},
	                           {NULL, NULL, NULL}};
	int npos = 0;
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, pos, 0, 2, &npos);
	if (npos == 0) {
		if (dur != NULL || note != NULL)
			return verb_usage(v, "RULE and SUBJECT are required with --for");
		return ctl_run(c, json_pack("{s:s}", "cmd", "silence"), print_silences);
	}
	if (npos == 1)
		return verb_usage(v, "SUBJECT is required (a mailbox, an IP, a tenant id, or *)");
	if (dur == NULL)
		return verb_usage(v, "--for DUR is required");
	if (check_duration(v, "--for", dur) != 0)
		return EXIT_USAGE;
	req = json_pack("{s:s,s:s,s:s,s:s}", "cmd", "silence", "rule", pos[0], "subject", pos[1], "for", dur);
	if (req != NULL && note != NULL)
		json_object_set_new(req, "note", json_string(note));
	if (req != NULL && all)
		json_object_set_new(req, "all", json_true());
	return ctl_run(c, req, print_silences);
}

/* "lifted the silence of R for S (set by ..., was to run until ...)" */
static void print_unsilence(const json_t *data)
{
	const json_t *u = json_object_get(data, "unsilenced");

	printf("lifted the silence of %s for %s (set by %s, it was to run until %s)\n",
	       json_string_value(json_object_get(u, "rule")) ?: "-", json_string_value(json_object_get(u, "subject")) ?: "-",
	       json_string_value(json_object_get(u, "set_by")) ?: "-", json_string_value(json_object_get(u, "until")) ?: "-");
}

/* unsilence RULE SUBJECT */
int do_unsilence(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[2];

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 2, 2, NULL);
	return ctl_run(c, json_pack("{s:s,s:s,s:s}", "cmd", "unsilence", "rule", pos[0], "subject", pos[1]),
	               print_unsilence);
}
