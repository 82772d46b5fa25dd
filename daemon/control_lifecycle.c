/* control_lifecycle.c: ack and silence (issue: alert lifecycle). */
#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "smtpwatchd.h"

/* ack {"id":..,"note":..}: not in this version yet. */
int control_cmd_ack(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                    size_t n)
{
	snprintf(why, n, "ack is not available in this version");
	return -ENOTSUP;
}

/* silence {"rule":..,"subject":..,"for":..}: not in this version yet. */
int control_cmd_silence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	snprintf(why, n, "silence is not available in this version");
	return -ENOTSUP;
}
