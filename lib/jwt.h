/* jwt.h: certificate credentials: a PEM file with a certificate and its RSA
 * private key, and the signed client assertion (RFC 7523 JWT) that the
 * token endpoint takes instead of a client secret. */
#pragma once

#include <stdint.h>

#include "util.h"

struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

enum sw_jwt_alg {
	SW_JWT_PS256, /* RSASSA-PSS, SHA-256, MGF1 SHA-256, salt 32; header x5t#S256 */
	SW_JWT_RS256, /* RSASSA-PKCS1-v1_5, SHA-256; header x5t */
};

/* Client assertions live this long (Entra takes at most 10 minutes). */
#define SW_JWT_LIFETIME 600

/* A loaded certificate credential.  Everything but key is public. */
struct sw_cert {
	struct evp_pkey_st *key; /* the private key: never log */
	int64_t not_before;      /* Unix seconds */
	int64_t not_after;       /* Unix seconds */
	char thumbprint[41];     /* SHA-1 of the DER certificate, upper-case hex (as Entra shows it) */
	char x5t[28];            /* base64url SHA-1 of the DER certificate */
	char x5t_s256[44];       /* base64url SHA-256 of the DER certificate */
	char subject[256];       /* one-line subject name, for messages */
	int bits;                /* RSA key size */
};

/* "PS256" or "RS256" (exact).  0 or -EINVAL. */
int sw_jwt_alg_parse(const char *s, enum sw_jwt_alg *ret);
const char *sw_jwt_alg_name(enum sw_jwt_alg alg);

/* Load a PEM file holding a certificate and its unencrypted RSA private
 * key (PKCS#8 or PKCS#1, any order; extra chain certificates are
 * skipped: the one matching the key is used).  The file must not be
 * readable by group or others.  -EPERM, -ENOENT/-errno (cannot read),
 * -EINVAL (no certificate, no key, encrypted key, key and certificate do
 * not match, not RSA or under 2048 bits), -ENOMEM; err says which, never
 * with key material. */
int sw_cert_load(const char *path, struct sw_cert **ret, struct sw_error *err);
/* The same from PEM text in memory (no permission check); source names it in err. */
int sw_cert_load_pem(const char *pem, size_t len, const char *source, struct sw_cert **ret, struct sw_error *err);
void sw_cert_free(struct sw_cert *c);

/* Whole days from now until notAfter, rounded down; negative once expired
 * (-1 on the day after notAfter). */
int sw_cert_days_left(const struct sw_cert *c, int64_t now);
/* The same from a notAfter time. */
int sw_cert_days_left_at(int64_t not_after, int64_t now);

/* Build and sign a client assertion: header {"alg","typ":"JWT","x5t#S256"}
 * (PS256) or {"alg","typ":"JWT","x5t"} (RS256); claims aud = token_url,
 * iss = sub = client_id, jti = a fresh random UUID, iat = nbf = now,
 * exp = now + SW_JWT_LIFETIME.  *ret is malloc'd "h.p.s" (a credential:
 * free with sw_free_secret, never log).  -EINVAL, -ENOMEM, -EIO (OpenSSL
 * failed; err says where). */
int sw_jwt_assertion(const struct sw_cert *c, enum sw_jwt_alg alg, const char *client_id, const char *token_url,
                     int64_t now, char **ret, struct sw_error *err);

/* base64url without padding of n bytes into out (room for 4 * ceil(n / 3) + 1). */
void sw_base64url(const unsigned char *in, size_t n, char *out);
/* A random version 4 UUID, lower-case; buf >= 37.  0 or -EIO. */
int sw_uuid4(char *buf, size_t n);
