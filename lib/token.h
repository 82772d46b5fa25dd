/* token.h: OAuth2 client-credentials requests and token responses. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* expires_in outside what a token answer can mean is replaced (the
 * identity platform issues tokens for 60 to 90 minutes): absent, not a
 * number or not positive is SW_TOKEN_DEFAULT_LIFETIME, more than
 * SW_TOKEN_MAX_LIFETIME is cut to it, so now + lifetime never overflows. */
#define SW_TOKEN_DEFAULT_LIFETIME 300
#define SW_TOKEN_MAX_LIFETIME 86400

struct sw_token {
	char *access_token; /* never log */
	int64_t expires_at; /* Unix seconds */
	int64_t lifetime;   /* seconds, the expires_in taken (after the rules above) */
	/* Why expires_in was replaced ("absent", "not a number", "not
	 * positive", "over 24 hours"), NULL when it was taken as sent. */
	const char *lifetime_fixed;
};

/* "{login_url}/{tenant_id}/oauth2/v2.0/token" (no double slash). malloc'd. */
char *sw_token_url(const char *login_url, const char *tenant_id);
/* "{resource_url}/.default". malloc'd. */
char *sw_token_scope(const char *resource_url);
/* Form body for a client secret grant. malloc'd; contains the secret. */
char *sw_token_form_secret(const char *client_id, const char *client_secret, const char *scope);
/* Form body for a certificate credential: client_assertion_type
 * urn:ietf:params:oauth:client-assertion-type:jwt-bearer and the signed
 * assertion (jwt.h).  malloc'd; a credential until it expires. */
char *sw_token_form_assertion(const char *client_id, const char *assertion, const char *scope);

/* Parse a token endpoint answer (expires_in as above).  On {"error":..} returns -EACCES and puts
 * "invalid_client: AADSTS7000215: Invalid client secret provided." (the
 * first line of error_description) in err->text; -EINVAL for a body that
 * is not a token answer. */
int sw_token_parse(const char *buf, size_t len, int64_t now, struct sw_token *ret, struct sw_error *err);
void sw_token_clear(struct sw_token *t);
