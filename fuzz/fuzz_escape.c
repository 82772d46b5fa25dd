/* fuzz_escape.c: libFuzzer harness for the escaping helpers (issue 21,
 * findings 7, 16 and 19).  Besides crashes it checks what each helper
 * promises: no control byte, C1 control or invalid UTF-8 out of
 * sw_escape_text, a closed PowerShell literal with every quote doubled,
 * no CSV cell a spreadsheet would run, no secret left by sw_redact. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

/* Is s[0..n) valid UTF-8 without C0 (but those allowed), DEL or C1? */
static bool clean(const unsigned char *s, size_t n, const char *allowed)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		if (c < 0x20 || c == 0x7f) {
			if (strchr(allowed, c) == NULL)
				return false;
		}
		if (c == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* One input: the text; its first byte also picks a secret length. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned flags[] = {0, SW_ESC_MULTILINE, SW_ESC_JSON, SW_ESC_JSON | SW_ESC_MULTILINE};
	struct sw_buf b = {0};
	char *s, ps[128], text[512];

	if (size > 4096)
		return 0;
	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		b.len = 0;
		CHECK(sw_escape_text(&b, (const char *)data, size, flags[f]) == 0);
		CHECK(clean((const unsigned char *)b.data, b.len, (flags[f] & SW_ESC_MULTILINE) ? "\n\t\r" : ""));
		CHECK(!sw_text_needs_escape(b.data, b.len, flags[f]));
		CHECK(sw_text_needs_escape((const char *)data, size, flags[f]) == (b.len != size || memcmp(b.data, data, size) != 0));
	}
	sw_buf_clear(&b);

	/* The string forms stop at a NUL, as C strings do. */
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	CHECK(sw_escape_markdown(&b, s) == 0);
	CHECK(clean((const unsigned char *)b.data, b.len, ""));
	for (size_t i = 0; i < b.len; i++)
		if (strchr("[]()*_`<>", b.data[i]) != NULL) {
			size_t bs = 0;
			for (size_t k = i; k > 0 && b.data[k - 1] == '\\'; k--)
				bs++;
			CHECK(bs % 2 == 1); /* escaped, not an escaped backslash before it */
		}
	sw_buf_clear(&b);

	sw_ps_quote(s, ps, sizeof(ps));
	{
		size_t n = strlen(ps);
		CHECK(n >= 2 && ps[0] == '\'' && ps[n - 1] == '\'');
		for (size_t i = 1; i + 1 < n; i++) {
			CHECK((unsigned char)ps[i] >= 0x20 && ps[i] != 0x7f);
			if (ps[i] == '\'') {
				CHECK(ps[i + 1] == '\'' && i + 2 < n);
				i++;
			}
		}
	}

	CHECK(sw_csv_cell(&b, s) == 0);
	if (b.len > 0 && strchr("=+-@\t\r", b.data[0]) != NULL)
		__builtin_trap();
	if (b.len > 1 && b.data[0] == '"' && strchr("=+-@\t\r", b.data[1]) != NULL)
		__builtin_trap();
	sw_buf_clear(&b);

	/* A secret of the input's own bytes (none of "[redacted]"), then the
	 * text after it: no occurrence may be left. */
	{
		size_t sl = size ? 1 + data[0] % 16 : 0;
		char secret[17];
		bool ok = sl > 0 && sl < size;

		for (size_t i = 0; ok && i < sl; i++) {
			secret[i] = s[1 + i];
			ok = secret[i] != '\0' && strchr(SW_REDACTED, secret[i]) == NULL;
		}
		if (ok) {
			const char *list[] = {secret, NULL};

			secret[sl] = '\0';
			snprintf(text, sizeof(text), "%s", s + 1);
			sw_redact(text, sizeof(text), list);
			CHECK(strstr(text, secret) == NULL);
		}
	}
	free(s);
	return 0;
}
