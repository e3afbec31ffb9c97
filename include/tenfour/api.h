/*
 * api.h - one bytes-in, bytes-out entry point over the whole core: a method
 * name and a JSON input go in, a canonical JSON document comes out.  It is
 * the ABI of the WebAssembly build (src/wasm/exports.c, web/sdk/core.mjs)
 * and of the test vectors (tests/vectors/), so a call gives the same bytes
 * natively and in a browser.
 *
 * Output, always canonical JSON:
 *   {"ok":<result>}
 *   {"error":{"code":"<wire code>","col":n,"line":n,"message":"...",
 *             "offset":n,"where":"..."}}
 * `where` is present when the error names a place (a field path such as
 * "input.now" or "commands[0].seq"); `offset`, `line` and `col` only for
 * errors in JSON text (byte offset, 1-based line and column).
 *
 * Inputs: most methods take a JSON object whose members are listed per
 * method in docs (tests/vectors/README.md); unknown members are refused.
 * json.canonicalize, schema.load and the protocol.* methods take the
 * document itself.  Time ("now", ms since the Unix epoch) and random bytes
 * ("random", hex) are always members of the input: the core never reads a
 * clock or a random source.
 *
 * State kept in the handle: the loaded schema (schema.load), open
 * replicas, named by small integers ("replica": 1), and a store of record
 * states (store.*) for hosts that merge many commands in one place
 * (store.apply takes one command or a batch of up to TF_API_MAX_BATCH, so
 * that a push or a pull page crosses the ABI once).  A handle is not
 * thread-safe; use one per thread.
 */
#ifndef TENFOUR_API_H
#define TENFOUR_API_H

#include "tenfour/tenfour.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Open replicas per handle (replica.new / replica.load). */
#define TF_API_MAX_REPLICAS 64
/* Record states the handle's store keeps (store.put / store.apply). */
#define TF_API_MAX_STORE 1000000
/* Commands one store.apply call may carry (its batch form, "commands"). */
#define TF_API_MAX_BATCH 10000

typedef struct tf_api tf_api;

/* A new handle with no schema and no replicas; NULL on ENOMEM. */
tf_api *tf_api_new(void);
/* Frees the handle, its schema and every open replica.  NULL is a no-op. */
void tf_api_free(tf_api *a);

/*
 * Calls `method` (mlen bytes, e.g. "record.apply") with the input `in`
 * (inlen bytes).  `out` is reset and receives the output document.
 * Returns 0 when the output is {"ok":...}, or the negative TF_E* code of
 * the error the output describes.  TF_ENOMEM with out->failed set means
 * no output could be written.
 */
int tf_api_call(tf_api *a, const char *method, size_t mlen, const char *in,
		size_t inlen, tf_buf *out);

/*
 * The method names, NULL-terminated, sorted (for hosts that list them).
 * Static storage.
 */
const char *const *tf_api_methods(void);

#ifdef __cplusplus
}
#endif
#endif
