/* sink_webhook.c: the generic webhook: the stored alert document, byte for
 * byte, POSTed as JSON.  With hmac_key_file each request carries
 *   X-Smtpwatch-Signature: sha256=HEX          HMAC-SHA256(key, BODY)
 *   X-Smtpwatch-Timestamp: UNIX-SECONDS        when this attempt started
 *   X-Smtpwatch-Signature-V2: v1=HEX           HMAC-SHA256(key, TIMESTAMP "." BODY)
 * The first is the release-1 signature, kept for receivers that check it;
 * the second binds the body to the time of the attempt, so a receiver that
 * refuses old timestamps (smtpwatch.conf(5) shows one) is not open to a
 * replay of a captured request.  Any 2xx is delivered. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "sink.h"

/* Lower-case hex of HMAC-SHA256(key, body) into hex (65 bytes). */
static int webhook_sign(const struct sw_sink_config *c, const char *body, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t keylen = c->hmac_key_len > 0 ? c->hmac_key_len : strlen(c->hmac_key);

	if (HMAC(EVP_sha256(), c->hmac_key, (int)keylen, (const unsigned char *)body, len, md, &mdlen) == NULL ||
	    mdlen != 32)
		return -EIO;
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	return 0;
}

/* The same of TIMESTAMP "." body (the version 2 signature). */
static int webhook_sign_v2(const struct sw_sink_config *c, int64_t ts, const char *body, size_t len, char *hex)
{
	struct sw_buf b = {0};
	int r;

	r = sw_buf_printf(&b, "%" PRId64 ".", ts);
	if (r >= 0)
		r = sw_buf_append(&b, body, len);
	if (r >= 0)
		r = webhook_sign(c, b.data, b.len, hex);
	sw_buf_clear(&b);
	return r;
}

/* POST the stored body, byte for byte. */
static int webhook_send(struct sink *s, struct sink_attempt *a)
{
	const struct sw_sink_config *c = s->cfg;
	size_t len = strlen(a->doc);
	char sig[128], ts[64], sig2[128], hex[65], hex2[65];
	const char *const signed_headers[] = {sig, ts, sig2, NULL};

	if (c->hmac_key == NULL)
		return sink_http_post(s, a, c->url, a->doc, len, NULL, sink_http_2xx_cb);
	if (webhook_sign(c, a->doc, len, hex) < 0 || webhook_sign_v2(c, a->now, a->doc, len, hex2) < 0) {
		snprintf(a->error, sizeof(a->error), "cannot compute the HMAC signature");
		return SINK_FAILED;
	}
	snprintf(sig, sizeof(sig), "X-Smtpwatch-Signature: sha256=%s", hex);
	snprintf(ts, sizeof(ts), "X-Smtpwatch-Timestamp: %" PRId64, a->now);
	snprintf(sig2, sizeof(sig2), "X-Smtpwatch-Signature-V2: v1=%s", hex2);
	return sink_http_post(s, a, c->url, a->doc, len, signed_headers, sink_http_2xx_cb);
}

const struct sink_ops sink_webhook_ops = {
	.digests = true,
	.type = SW_SINK_WEBHOOK,
	.secret_url = true,
	.setup = sink_setup_url,
	.send = webhook_send,
	.cancel = sink_http_cancel,
};
