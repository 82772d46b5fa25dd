/* control_report.c: import-report and report (issue: SMTP AUTH clients report). */
#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "smtpwatchd.h"

/* import-report {"tenant":..,"file":..}: not in this version yet. */
int control_cmd_import_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                              char *why, size_t n)
{
	snprintf(why, n, "import-report is not available in this version");
	return -ENOTSUP;
}

/* report {"format":..,"since":..}: not in this version yet. */
int control_cmd_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                       char *why, size_t n)
{
	snprintf(why, n, "report is not available in this version");
	return -ENOTSUP;
}
