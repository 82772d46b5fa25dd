/* ctl_exo.c: smtpwatchctl exceptions and mailbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

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
	return ctl_run(c, req, print_generic);
}

/* mailbox ADDRESS */
int do_mailbox(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[1];

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 1, 1, NULL);
	return ctl_run(c, json_pack("{s:s,s:s}", "cmd", "mailbox", "address", pos[0]), print_generic);
}
