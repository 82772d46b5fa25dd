/* fuzz_token.c: libFuzzer harness for token endpoint answers (a broken or
 * hostile identity platform): whatever comes back, a token is whole, its
 * lifetime inside the promised range, and an error names no token. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: a token answer body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_token tok = {0};
	struct sw_error err = {0};
	const int64_t now = 1795161600;
	int r;

	r = sw_token_parse((const char *)data, size, now, &tok, &err);
	if (r == 0) {
		if (tok.access_token == NULL || tok.access_token[0] == '\0')
			__builtin_trap();
		/* The lifetime is bounded, so expires_at can neither overflow nor
		 * lie in the past, whatever expires_in said. */
		if (tok.lifetime < 1 || tok.lifetime > SW_TOKEN_MAX_LIFETIME || tok.expires_at != now + tok.lifetime)
			__builtin_trap();
		sw_token_clear(&tok);
	} else {
		if (tok.access_token != NULL)
			__builtin_trap();
		(void)strlen(err.text);
	}
	return 0;
}
