/* control_exo.c: exceptions and mailbox: the register beside what Exchange
 * and the sign-in logs show. */
#include <errno.h>
#include <stdio.h>

#include "control.h"
#include "smtpwatchd.h"

/* exceptions {"tenant":optional}: not in this version yet. */
int control_cmd_exceptions(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                           char *why, size_t n)
{
	snprintf(why, n, "exceptions is not available in this version");
	return -ENOTSUP;
}

/* mailbox {"address":..}: not in this version yet. */
int control_cmd_mailbox(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	snprintf(why, n, "mailbox is not available in this version");
	return -ENOTSUP;
}
