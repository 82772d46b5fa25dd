/* control.h: the UNIX control socket (JSON lines, SPEC "Control socket"). */
#pragma once

struct daemon;
struct control;

/* Bind path (mode 0660, group socket_group if it exists), listen, accept on
 * the daemon's event base.  -errno with a reason in why. */
int control_new(struct daemon *d, const char *path, const char *group, struct control **ret, char *why, size_t n);
void control_free(struct control *c);
