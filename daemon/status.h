/* status.h: each tenant's part of `status`, kept as text (status.c). */
#pragma once

#include <stdint.h>

#include "smtpwatchd.h"

struct sw_buf;

/* Something in the tenant's status changed: make it again at the next call. */
void status_touch(struct tenant *t);
/* Append the tenant's member of status' "tenants" ("NAME":{...}) to out:
 * 0 or -ENOMEM. */
int status_tenant_dump(struct tenant *t, int64_t now, struct sw_buf *out);
/* Free what the tenant keeps (tenant_free). */
void status_tenant_free(struct tenant *t);
/* Free the background's timer, after every tenant (daemon_tenants_free). */
void status_daemon_free(struct daemon *d);
