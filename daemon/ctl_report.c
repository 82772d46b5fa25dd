/* ctl_report.c: smtpwatchctl import-report and report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* import-report TENANT FILE.csv: the daemon reads the file, so send an
 * absolute path. */
int do_import_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[2];
	char *path;
	int ex;

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 2, 2, NULL);
	path = realpath(pos[1], NULL);
	if (path == NULL) {
		fprintf(stderr, "smtpwatchctl: import-report: %s: %s\n", pos[1], strerror(errno));
		return EXIT_USAGE;
	}
	ex = ctl_run(c, json_pack("{s:s,s:s,s:s}", "cmd", "import-report", "tenant", pos[0], "file", path),
	             print_generic);
	free(path);
	return ex;
}

/* report [--format csv|json] [--since DUR] */
int do_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *format = NULL, *since = NULL;
	const struct opt opts[] = {{"--format", NULL, &format}, {"--since", NULL, &since}, {NULL, NULL, NULL}};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, NULL, 0, 0, NULL);
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		return verb_usage(v, "--format must be csv or json");
	if (check_duration(v, "--since", since) != 0)
		return EXIT_USAGE;
	req = json_pack("{s:s}", "cmd", "report");
	if (req != NULL && format != NULL)
		json_object_set_new(req, "format", json_string(format));
	if (req != NULL && since != NULL)
		json_object_set_new(req, "since", json_string(since));
	return ctl_run(c, req, print_generic);
}
