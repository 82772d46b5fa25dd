/* ctl_lifecycle.c: smtpwatchctl ack and silence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

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
	return ctl_run(c, req, print_generic);
}

/* silence RULE SUBJECT --for DUR */
int do_silence(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[2], *dur = NULL;
	const struct opt opts[] = {{"--for", NULL, &dur}, {NULL, NULL, NULL}};

	PARSE_OR_RETURN(c, v, argc, argv, opts, pos, 2, 2, NULL);
	if (dur == NULL)
		return verb_usage(v, "--for DUR is required");
	if (check_duration(v, "--for", dur) != 0)
		return EXIT_USAGE;
	return ctl_run(c, json_pack("{s:s,s:s,s:s,s:s}", "cmd", "silence", "rule", pos[0], "subject", pos[1], "for", dur),
	               print_generic);
}
