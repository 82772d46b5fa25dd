/* auth.h: OAuth2 client-credentials tokens of one tenant, one per resource
 * (Graph, Exchange), cached and renewed five minutes before expiry (half
 * the lifetime for short ones, never within a minute of the request), with
 * token requests of a resource paced at one per 10 s, slower after
 * repeated failures (auth.c says why). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct tenant;
struct auth;

/* token is NULL on failure; error then says why (never a secret), and
 * http_status is the token endpoint's answer (0: no answer), or
 * AUTH_LOCAL_ERROR when no request could be made because the credential
 * itself is unusable (certificate_file unreadable, not a certificate and
 * key, cannot sign): retrying will not help until the file is fixed. */
#define AUTH_LOCAL_ERROR (-1L)
typedef void (*auth_cb)(const char *token, const char *error, long http_status, void *arg);

/* A certificate_file is loaded here (problems are logged, and every token
 * request then fails with the reason); NULL only on OOM. */
struct auth *auth_new(struct tenant *t);
void auth_free(struct auth *a);
/* A cached, still fresh token for resource (a base URL), or NULL. */
const char *auth_cached(struct auth *a, const char *resource);
/* Fetch a token for resource; cb runs from the event loop, after the
 * request's turn has come when one was sent less than 10 s ago.  With a
 * certificate, each request carries a freshly signed client assertion, and
 * a certificate_file replaced on disk is read again first. */
int auth_fetch(struct auth *a, const char *resource, auth_cb cb, void *arg);
/* Forget a token the resource refused (401). */
void auth_invalidate(struct auth *a, const char *resource);
/* Drop any pending callback with this arg (its owner is going away). */
void auth_forget(struct auth *a, void *arg);
/* notAfter (Unix seconds) of the tenant's certificate, re-reading a
 * replaced certificate_file; 0 for a client secret tenant or an unreadable
 * file.  For the credential-expiring rule (sw_detect_credential). */
int64_t auth_cert_not_after(struct auth *a);
