/* jwt.c: certificate credentials and signed client assertions (OpenSSL 3
 * EVP).  Pure apart from reading the PEM file and RAND_bytes. */
#include "jwt.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config.h"

#define MIN_RSA_BITS 2048 /* Entra refuses smaller keys */
#define PSS_SALT_LEN 32   /* Entra uses salt length = hash length */

static const struct sw_name alg_names[] = {
	{ SW_JWT_PS256, "PS256" },
	{ SW_JWT_RS256, "RS256" },
	{ 0, NULL },
};

/* See jwt.h.  An unknown value is PS256, the default. */
SW_DEFINE_NAME_LOOKUP(sw_jwt_alg_name, sw_jwt_alg_parse, enum sw_jwt_alg, alg_names, "PS256")

/* See jwt.h. */
void sw_base64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

/* See jwt.h. */
int sw_uuid4(char *buf, size_t n)
{
	unsigned char b[16];

	if (n < 37 || RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(buf, n,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
	         b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* Put "what: OpenSSL's reason" in err and empty OpenSSL's error queue.
 * Reason strings name what failed, never key material. */
static void ossl_error(struct sw_error *err, const char *source, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	if (err != NULL) {
		if (reason != NULL)
			sw_error_set(err, source, 0, "%s (%s)", what, reason);
		else
			sw_error_set(err, source, 0, "%s", what);
	}
	ERR_clear_error();
}

/* An ASN1_TIME as Unix seconds. */
static int asn1_time_unix(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*ret = (int64_t)timegm(&tm);
	return 0;
}

/* Password callback: an encrypted key is an error, never a prompt. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
	*(int *)u = 1;
	return -1;
}

/* Fill thumbprints, times and subject of c from x. */
static int cert_describe(struct sw_cert *c, X509 *x, const char *source, struct sw_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	BIO *b = NULL;
	int r = -EIO;

	if (X509_digest(x, EVP_sha1(), md, &n) != 1 || n != 20) {
		ossl_error(err, source, "cannot hash the certificate");
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		snprintf(c->thumbprint + 2 * i, 3, "%02X", md[i]);
	sw_base64url(md, n, c->x5t);
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32) {
		ossl_error(err, source, "cannot hash the certificate");
		goto out;
	}
	sw_base64url(md, n, c->x5t_s256);
	if (asn1_time_unix(X509_get0_notBefore(x), &c->not_before) < 0 ||
	    asn1_time_unix(X509_get0_notAfter(x), &c->not_after) < 0) {
		if (err != NULL)
			sw_error_set(err, source, 0, "the certificate has an unreadable validity period");
		r = -EINVAL;
		goto out;
	}
	b = BIO_new(BIO_s_mem());
	if (b == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		int k = BIO_read(b, c->subject, (int)sizeof(c->subject) - 1);
		c->subject[k > 0 ? k : 0] = '\0';
	}
	r = 0;
out:
	BIO_free(b);
	ERR_clear_error();
	return r;
}

/* See jwt.h. */
int sw_cert_load_pem(const char *pem, size_t len, const char *source, struct sw_cert **ret, struct sw_error *err)
{
	struct sw_cert *c = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *match = NULL;
	BIO *b = NULL;
	int encrypted = 0, n_certs = 0, r = -ENOMEM;

	if (source == NULL)
		source = "<memory>";
	if (pem == NULL || len > INT32_MAX) {
		r = -EINVAL;
		goto out;
	}
	ERR_clear_error();
	/* The key first: PEM_read_bio_PrivateKey skips other blocks. */
	b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		goto out;
	key = PEM_read_bio_PrivateKey(b, NULL, no_password_cb, &encrypted);
	BIO_free(b);
	b = NULL;
	if (key == NULL) {
		r = -EINVAL;
		if (encrypted)
			ossl_error(err, source, "the private key is encrypted; store it unencrypted (mode 0600)");
		else if (err != NULL)
			sw_error_set(err, source, 0, "no private key found (expected an unencrypted PEM PRIVATE KEY block)");
		goto out;
	}
	if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "RSA-PSS")) {
		if (err != NULL)
			sw_error_set(err, source, 0, "the private key is %s, not RSA", EVP_PKEY_get0_type_name(key));
		r = -EINVAL;
		goto out;
	}
	if (EVP_PKEY_get_bits(key) < MIN_RSA_BITS) {
		if (err != NULL)
			sw_error_set(err, source, 0, "the RSA key has %d bits; Entra needs at least %d",
			             EVP_PKEY_get_bits(key), MIN_RSA_BITS);
		r = -EINVAL;
		goto out;
	}
	/* Then the certificate that belongs to the key (a chain may follow). */
	b = BIO_new_mem_buf(pem, (int)len);
	if (b == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		n_certs++;
		if (match == NULL && X509_check_private_key(x, key) == 1) {
			match = x;
			x = NULL;
		}
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error(); /* the end of the file reads as "no start line" */
	if (match == NULL) {
		if (err != NULL)
			sw_error_set(err, source, 0, n_certs == 0 ? "no certificate found (expected a PEM CERTIFICATE block)"
			                                          : "no certificate in the file matches the private key");
		r = -EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto out;
	r = cert_describe(c, match, source, err);
	if (r < 0)
		goto out;
	c->bits = EVP_PKEY_get_bits(key);
	c->key = key;
	key = NULL;
	*ret = c;
	c = NULL;
	r = 0;
out:
	BIO_free(b);
	X509_free(match);
	EVP_PKEY_free(key);
	sw_cert_free(c);
	ERR_clear_error();
	return r;
}

/* See jwt.h. */
int sw_cert_load(const char *path, struct sw_cert **ret, struct sw_error *err)
{
	char why[200];
	char *pem = NULL;
	size_t len = 0;
	int r;

	r = sw_secret_read(path, &pem, &len, why, sizeof(why));
	if (r < 0) {
		if (err != NULL)
			sw_error_set(err, path, 0, "%s", why);
		return r;
	}
	r = sw_cert_load_pem(pem, len, path, ret, err);
	sw_free_secret(pem);
	return r;
}

/* See jwt.h. */
void sw_cert_free(struct sw_cert *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->key);
	free(c);
}

/* See jwt.h. */
int sw_cert_days_left_at(int64_t not_after, int64_t now)
{
	int64_t d = not_after - now;

	if (d >= 0)
		return (int)(d / 86400 > INT32_MAX ? INT32_MAX : d / 86400);
	d = -((-d + 86399) / 86400);
	return (int)(d < INT32_MIN ? INT32_MIN : d);
}

/* See jwt.h. */
int sw_cert_days_left(const struct sw_cert *c, int64_t now)
{
	return sw_cert_days_left_at(c->not_after, now);
}

/* base64url of a compact JSON object, keys in insertion order; malloc'd. */
static char *json_part(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *out;

	if (s == NULL)
		return NULL;
	out = malloc(strlen(s) / 3 * 4 + 8);
	if (out != NULL)
		sw_base64url((const unsigned char *)s, strlen(s), out);
	free(s);
	return out;
}

/* Sign tbs with c's key as alg says; *ret_sig is malloc'd. */
static int sign(const struct sw_cert *c, enum sw_jwt_alg alg, const char *tbs, unsigned char **ret_sig,
                size_t *ret_len, struct sw_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL;
	size_t len = 0;
	int r = -EIO;

	if (md == NULL)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, c->key) != 1) {
		ossl_error(err, "<jwt>", "cannot start signing");
		goto out;
	}
	if (alg == SW_JWT_PS256) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT_LEN) != 1) {
			ossl_error(err, "<jwt>", "cannot set up RSASSA-PSS");
			goto out;
		}
	} else if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		ossl_error(err, "<jwt>", "cannot set up RSASSA-PKCS1-v1_5 (an RSA-PSS key only signs PS256)");
		goto out;
	}
	if (EVP_DigestSign(md, NULL, &len, (const unsigned char *)tbs, strlen(tbs)) != 1) {
		ossl_error(err, "<jwt>", "cannot sign the assertion");
		goto out;
	}
	sig = malloc(len);
	if (sig == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(md, sig, &len, (const unsigned char *)tbs, strlen(tbs)) != 1) {
		ossl_error(err, "<jwt>", "cannot sign the assertion");
		goto out;
	}
	*ret_sig = sig;
	*ret_len = len;
	sig = NULL;
	r = 0;
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return r;
}

/* See jwt.h. */
int sw_jwt_assertion(const struct sw_cert *c, enum sw_jwt_alg alg, const char *client_id, const char *token_url,
                     int64_t now, char **ret, struct sw_error *err)
{
	json_t *hdr = NULL, *claims = NULL;
	char *h = NULL, *p = NULL, *tbs = NULL, *sig64 = NULL, *jwt = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char jti[37];
	int r = -EINVAL;

	if (c == NULL || c->key == NULL || client_id == NULL || client_id[0] == '\0' || token_url == NULL ||
	    token_url[0] == '\0' || (alg != SW_JWT_PS256 && alg != SW_JWT_RS256)) {
		if (err != NULL)
			sw_error_set(err, "<jwt>", 0, "missing certificate, client_id or token URL");
		return -EINVAL;
	}
	if (sw_uuid4(jti, sizeof(jti)) < 0) {
		ossl_error(err, "<jwt>", "no random bytes for the jti");
		return -EIO;
	}
	if (alg == SW_JWT_PS256)
		hdr = json_pack("{s:s,s:s,s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256", c->x5t_s256);
	else
		hdr = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "typ", "JWT", "x5t", c->x5t);
	claims = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "aud", token_url, "iss", client_id, "sub", client_id,
	                   "jti", jti, "nbf", (json_int_t)now, "iat", (json_int_t)now, "exp",
	                   (json_int_t)(now + SW_JWT_LIFETIME));
	r = -ENOMEM;
	if (hdr == NULL || claims == NULL)
		goto out;
	h = json_part(hdr);
	p = json_part(claims);
	if (h == NULL || p == NULL || asprintf(&tbs, "%s.%s", h, p) < 0) {
		tbs = NULL;
		goto out;
	}
	r = sign(c, alg, tbs, &sig, &sig_len, err);
	if (r < 0)
		goto out;
	r = -ENOMEM;
	sig64 = malloc(sig_len / 3 * 4 + 8);
	if (sig64 == NULL)
		goto out;
	sw_base64url(sig, sig_len, sig64);
	if (asprintf(&jwt, "%s.%s", tbs, sig64) < 0)
		goto out;
	*ret = jwt;
	r = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	free(h);
	free(p);
	free(tbs);
	free(sig);
	free(sig64);
	return r;
}
