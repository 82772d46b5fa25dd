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
			(void)strlen(page.items[i].id);
		}
		sw_signin_page_clear(&page);
	}
	sw_graph_error_parse((const char *)data, size, text, sizeof(text));
	return 0;
}
