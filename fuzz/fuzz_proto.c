/* fuzz_proto.c: libFuzzer harness for the control protocol: request and
 * reply lines, and a reply built from a parsed request. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a line as a client (or a daemon) might send it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req = NULL, *reply = NULL;
	char why[256];

	if (size > SW_PROTO_MAX_LINE)
		return 0;
	if (sw_proto_request_parse((const char *)data, size, &req, why, sizeof(why)) == 0) {
		/* Echo the request back as the daemon would, and read it again. */
		char *line = sw_proto_reply_ok(json_deep_copy(req));
		if (line != NULL) {
			if (sw_proto_reply_parse(line, strlen(line), &reply, why, sizeof(why)) != 0)
				__builtin_trap();
			json_decref(reply);
			reply = NULL;
			free(line);
		}
		json_decref(req);
	}
	if (sw_proto_reply_parse((const char *)data, size, &reply, why, sizeof(why)) == 0)
		json_decref(reply);
	return 0;
}
