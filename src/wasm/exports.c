/*
 * exports.c - the WebAssembly ABI of the core (wasm32-wasi reactor): one
 * api handle per module instance and one output buffer, reached through
 * five exports.  The host (web/sdk/core.mjs):
 *
 *   p = tf_wasm_alloc(n)            copy the method name and input in
 *   rc = tf_wasm_call(mp, ml, ip, il)   0, or the negative TF_E* code
 *   tf_wasm_out_ptr(), tf_wasm_out_len()  read the output JSON (valid until
 *                                      the next call)
 *   tf_wasm_free(p)
 *
 * tf_wasm_reset() drops the loaded schema and every open replica.
 * The output is always a JSON document, {"ok":...} or {"error":...}
 * (api.h); rc only saves the host a parse to learn which.
 */
#include "tenfour/api.h"

#include <stdlib.h>

#define TF_WASM_EXPORT(name) __attribute__((export_name(name)))

static tf_api *api;
static tf_buf out;

TF_WASM_EXPORT("tf_wasm_alloc") void *tf_wasm_alloc(size_t n);
TF_WASM_EXPORT("tf_wasm_free") void tf_wasm_free(void *p);
TF_WASM_EXPORT("tf_wasm_call")
int tf_wasm_call(const char *m, size_t mlen, const char *in, size_t inlen);
TF_WASM_EXPORT("tf_wasm_out_ptr") const char *tf_wasm_out_ptr(void);
TF_WASM_EXPORT("tf_wasm_out_len") size_t tf_wasm_out_len(void);
TF_WASM_EXPORT("tf_wasm_reset") void tf_wasm_reset(void);

/* n == 0 still returns a distinct pointer, so the host never sees NULL. */
void *tf_wasm_alloc(size_t n)
{
	return malloc(n ? n : 1);
}

void tf_wasm_free(void *p)
{
	free(p);
}

int tf_wasm_call(const char *m, size_t mlen, const char *in, size_t inlen)
{
	if (api == NULL) {
		api = tf_api_new();
		if (api == NULL) {
			tf_buf_reset(&out);
			tf_buf_puts(&out, "{\"error\":{\"code\":\"no_memory\","
					  "\"message\":\"out of memory\"}}");
			return TF_ENOMEM;
		}
	}
	return tf_api_call(api, m, mlen, in, inlen, &out);
}

const char *tf_wasm_out_ptr(void)
{
	return tf_buf_cstr(&out);
}

size_t tf_wasm_out_len(void)
{
	return out.len;
}

void tf_wasm_reset(void)
{
	tf_api_free(api);
	api = NULL;
	tf_buf_free(&out);
}
