/* control_metrics.c: the Prometheus text of `metrics` (issue: run it like a service). */
#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "smtpwatchd.h"

/* metrics: not in this version yet. */
int control_cmd_metrics(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	snprintf(why, n, "metrics is not available in this version");
	return -ENOTSUP;
}
