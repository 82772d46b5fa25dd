/* sink_teams.c: Microsoft Teams through a Workflows webhook: the alert (or
 * a digest of many) as an Adaptive Card.  Any 2xx is delivered (Workflows answer 202 with an
 * empty body). */
#include <errno.h>

#include "digest.h"
#include "render.h"
#include "sink.h"

static int teams_send(struct sink *s, struct sink_attempt *a)
{
	struct sw_buf body = {0};
	json_t *doc;
	int r;

	doc = sink_doc(a);
	if (doc == NULL)
		return SINK_FAILED;
	r = sw_digest_is(doc) ? sw_render_teams_digest(doc, &body) : sw_render_teams(doc, &body);
	json_decref(doc);
	if (r < 0) {
		sw_buf_clear(&body);
		a->permanent = r == -EINVAL;
		return sink_fail(a, "cannot render the card", -r);
	}
	r = sink_http_post(s, a, s->cfg->url, body.data, body.len, NULL, sink_http_2xx_cb);
	sw_buf_clear(&body);
	return r;
}

const struct sink_ops sink_teams_ops = {
	.digests = true,
	.type = SW_SINK_TEAMS,
	.secret_url = true,
	.setup = sink_setup_url,
	.send = teams_send,
	.cancel = sink_http_cancel,
};
