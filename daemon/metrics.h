/* metrics.h: the daemon's metrics as Prometheus text (control_metrics.c)
 * and their HTTP listener, [daemon] metrics_listen (metrics_http.c). */
#pragma once

#include <stddef.h>

struct daemon;
struct metrics_http;

/* The text of `smtpwatchctl metrics` and GET /metrics: 0 and a malloc'd
 * *ret_text of *ret_len bytes, or -errno with why. */
int metrics_render(struct daemon *d, char **ret_text, size_t *ret_len, char *why, size_t n);

/* Listen on addr (sw_listen_parse's syntax; a unix socket gets mode 0660
 * and the group group, like the control socket) and serve GET /metrics on
 * d->base.  -errno with why. */
int metrics_http_new(struct daemon *d, const char *addr, const char *group, struct metrics_http **ret, char *why,
                     size_t n);
/* Stop listening (a unix socket's path is removed), drop open requests. */
void metrics_http_free(struct metrics_http *m);
/* After a reload: listen where d->cfg now says, replacing *m.  When the
 * new address cannot be bound the old listener stays (if there was one)
 * and why says so: -errno. */
int metrics_http_reload(struct daemon *d, struct metrics_http **m, char *why, size_t n);
