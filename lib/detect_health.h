/* detect_health.h: rules about the health of a tenant's own access to
 * Microsoft 365 (its credential), as opposed to what the tenant does. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "detect.h"
#include "store.h"

#define SW_RULE_CREDENTIAL_EXPIRING "credential-expiring"
/* credential-expiring fires this many days before the certificate's notAfter. */
#define SW_CREDENTIAL_WARN_DAYS 30

/* credential-expiring for tenant t, whose certificate (certificate_file)
 * ends at not_after (Unix seconds; 0 when it could not be read: nothing
 * changes).  Fires (severity medium, subject the tenant's client_id) from
 * SW_CREDENTIAL_WARN_DAYS days before not_after and is sent again at 14,
 * 7, 3 and 1 days left and once expired (its count doubles at each of
 * these reminders); a daily call keeps its summary (days left) current.  Resolves once not_after is further away (a new
 * certificate) or the tenant uses a client secret.  Client secrets cannot
 * be read for expiry: an expired one shows as AADSTS7000222 on the
 * sources.  Runs in its own transaction; st (may be NULL) counts. */
int sw_detect_credential(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                         int64_t not_after, int64_t now, struct sw_detect_stats *st);

/* One app registration's credential: the reading app's (client_id,
 * certificate_file) or the remediation app's (remediation_client_id,
 * remediation_certificate_file). */
struct sw_credential {
	const char *client_id;        /* the alert's subject */
	const char *certificate_file; /* NULL: a client secret (resolves) */
	const char *file_key;         /* the config key, for the text: "certificate_file" */
};

/* sw_detect_credential for any credential of t (the remediation app's
 * included); the same reminders, subject cr->client_id. */
int sw_detect_credential_of(struct sw_store *s, const struct sw_config *cfg, const struct sw_tenant_config *t,
                            const struct sw_credential *cr, int64_t not_after, int64_t now,
                            struct sw_detect_stats *st);
