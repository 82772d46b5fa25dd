/* sink_webhook.c: the generic webhook: the stored alert document, byte for
 * byte, POSTed as JSON; with hmac_key_file it carries
 * X-Smtpwatch-Signature: sha256=HEX, the HMAC-SHA256 of the body.  Any 2xx
 * is delivered. */
#include <errno.h>
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

/* POST the stored body, byte for byte. */
static int webhook_send(struct sink *s, struct sink_attempt *a)
{
	const struct sw_sink_config *c = s->cfg;
	size_t len = strlen(a->doc);
	char sig[128], hex[65];

	if (c->hmac_key != NULL) {
		if (webhook_sign(c, a->doc, len, hex) < 0) {
			snprintf(a->error, sizeof(a->error), "cannot compute the HMAC signature");
			return SINK_FAILED;
		}
		snprintf(sig, sizeof(sig), "X-Smtpwatch-Signature: sha256=%s", hex);
	}
	return sink_http_post(s, a, c->url, a->doc, len, c->hmac_key != NULL ? sig : NULL, sink_http_2xx_cb);
}

const struct sink_ops sink_webhook_ops = {
	.type = SW_SINK_WEBHOOK,
	.secret_url = true,
	.setup = sink_setup_url,
	.send = webhook_send,
	.cancel = sink_http_cancel,
};
