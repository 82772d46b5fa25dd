/* fuzz_exo.c: libFuzzer harness for the Exchange InvokeCommand answer
 * parser (warnings-only answers too), every row through the mailbox and
 * policy readers, and the error text. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "exo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: an InvokeCommand answer body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_exo_page page = {0};
	struct sw_error err = {0};
	char text[256];
	size_t i;
	json_t *row;

	if (sw_exo_page_parse((const char *)data, size, &page, &err) == 0) {
		bool allows = true;
		/* A warnings-only answer is a page: its rows are an array. */
		if (!json_is_array(page.rows) || (page.warnings != NULL && !json_is_array(page.warnings)))
			__builtin_trap();
		(void)sw_exo_policy_allows_basic(page.rows, "Block Basic Auth", &allows);
		json_array_foreach(page.rows, i, row) {
			struct sw_mailbox m = {0};
			struct sw_effective eff;

			if (sw_exo_mailbox_parse(row, &m) == 0) {
				if (m.address == NULL)
					__builtin_trap();
				sw_effective_state(false, m.smtp_disabled, "p", i % 2 == 0, &eff);
				sw_mailbox_clear(&m);
			}
			(void)sw_tristate_name(sw_exo_row_smtp_disabled(row));
		}
		sw_exo_page_clear(&page);
	}
	sw_exo_error_text((const char *)data, size, text, sizeof(text));
	if (strnlen(text, sizeof(text)) == sizeof(text))
		__builtin_trap();
	return 0;
}
