/* fuzz_audit.c: libFuzzer harness for the Management Activity API parsers
 * (content blobs and content listings). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a blob body, then the same bytes as a listing. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_audit_blob blob = {0};
	struct sw_audit_listing listing = {0};
	struct sw_error err = {0};
	char code[32];

	if (sw_audit_blob_parse((const char *)data, size, &blob, &err) == 0) {
		/* Every record is accounted for, once. */
		if (blob.n + blob.ignored + blob.bad != blob.records)
			__builtin_trap();
		for (size_t i = 0; i < blob.n; i++) {
			const struct sw_audit_change *c = &blob.items[i];
			/* The parser promises an id, a subject and the evidence text. */
			if (c->id == NULL || c->subject == NULL || c->operation == NULL || c->parameters == NULL)
				__builtin_trap();
			if (strlen(c->id) > SW_AUDIT_ID_MAX || strlen(c->subject) > SW_AUDIT_NAME_MAX ||
			    strlen(c->parameters) > SW_AUDIT_PARAMS_MAX || (c->ip && strlen(c->ip) > SW_AUDIT_IP_MAX))
				__builtin_trap();
			if (c->effect != SW_AUDIT_REMOVED && c->effect != SW_AUDIT_ASSIGN && c->value == NULL)
				__builtin_trap();
		}
		/* The notes go to the log as they are: printable, terminated. */
		for (size_t i = 0; i < blob.bad && i < SW_AUDIT_BAD_NOTES; i++) {
			for (const char *c = blob.bads[i].id; *c; c++)
				if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
					__builtin_trap();
			if (strnlen(blob.bads[i].why, sizeof(blob.bads[i].why)) == sizeof(blob.bads[i].why))
				__builtin_trap();
		}
		sw_audit_blob_clear(&blob);
	}
	if (sw_audit_listing_parse((const char *)data, size, &listing, &err) == 0) {
		for (size_t i = 0; i < listing.n; i++)
			if (listing.items[i].id == NULL || listing.items[i].uri == NULL)
				__builtin_trap();
		sw_audit_listing_clear(&listing);
	}
	sw_audit_error_code((const char *)data, size, code, sizeof(code));
	return 0;
}
