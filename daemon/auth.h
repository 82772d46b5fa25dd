/* auth.h: OAuth2 client-credentials tokens of one tenant, one per resource
 * (Graph, Exchange), cached and renewed five minutes before expiry. */
#pragma once

#include <stdbool.h>

struct tenant;
struct auth;

/* token is NULL on failure; error then says why (never a secret), and
 * http_status is the token endpoint's answer (0: no answer). */
typedef void (*auth_cb)(const char *token, const char *error, long http_status, void *arg);

struct auth *auth_new(struct tenant *t);
void auth_free(struct auth *a);
/* A cached, still fresh token for resource (a base URL), or NULL. */
const char *auth_cached(struct auth *a, const char *resource);
/* Fetch a token for resource; cb runs from the event loop. */
int auth_fetch(struct auth *a, const char *resource, auth_cb cb, void *arg);
/* Forget a token the resource refused (401). */
void auth_invalidate(struct auth *a, const char *resource);
/* Drop any pending callback with this arg (its owner is going away). */
void auth_forget(struct auth *a, void *arg);
