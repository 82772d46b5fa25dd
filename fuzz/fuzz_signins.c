/* fuzz_signins.c: libFuzzer harness for the Graph sign-ins page parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "signins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a page body; any record it yields must be whole. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_signin_page page = {0};
	struct sw_error err = {0};
	char text[256];

	if (sw_signins_parse((const char *)data, size, &page, &err) == 0) {
		for (size_t i = 0; i < page.n; i++) {
			/* The parser promises an id and a time on every item. */
			if (page.items[i].id == NULL || page.items[i].created_text == NULL)
				__builtin_trap();
			/* ... and keeps every field within its limit. */
			if (strlen(page.items[i].id) > SW_SIGNIN_ID_MAX ||
			    (page.items[i].upn && strlen(page.items[i].upn) > SW_SIGNIN_UPN_MAX) ||
			    (page.items[i].correlation_id && strlen(page.items[i].correlation_id) > SW_SIGNIN_ID_MAX) ||
			    (page.items[i].failure_reason &&
			     strlen(page.items[i].failure_reason) > SW_SIGNIN_REASON_MAX) ||
			    (page.items[i].city && strlen(page.items[i].city) > SW_SIGNIN_CITY_MAX))
				__builtin_trap();
		}
		/* Counted and described: the notes go to the log as they are. */
		if (page.n + page.skipped > SW_SIGNINS_PAGE_MAX)
			__builtin_trap();
		for (size_t i = 0; i < page.skipped && i < SW_SIGNINS_SKIP_NOTES; i++) {
			for (const char *c = page.skips[i].id; *c; c++)
				if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
					__builtin_trap();
			if (strnlen(page.skips[i].why, sizeof(page.skips[i].why)) == sizeof(page.skips[i].why))
				__builtin_trap();
		}
		sw_signin_page_clear(&page);
	}
	sw_graph_error_parse((const char *)data, size, text, sizeof(text));
	return 0;
}
