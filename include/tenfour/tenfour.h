/*
 * tenfour.h - errors, the detailed error record and the growable byte buffer
 * shared by every module of the tenfour core.
 *
 * Design: ../../docs/PROTOCOL.md (formats), docs/ARCHITECTURE in shared/.
 * Every function of the core returns 0 or a negative TF_E* code; where the
 * caller may want to know *what* and *where*, it also takes a tf_err that is
 * filled with a message naming the field, command id or byte offset.
 */
#ifndef TENFOUR_TENFOUR_H
#define TENFOUR_TENFOUR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X(NAME, value, "short string", "wire code")
 * The wire code is what the protocol carries in {code} fields.
 */
#define TF_ERRNO_MAP(X)                                                        \
	X(ENOMEM, -1, "out of memory", "no_memory")                              \
	X(EINVAL, -2, "invalid argument", "invalid_argument")                    \
	X(EJSON, -3, "malformed JSON", "malformed_json")                         \
	X(ELIMIT, -4, "limit exceeded", "limit_exceeded")                        \
	X(EUTF8, -5, "invalid UTF-8", "invalid_utf8")                            \
	X(EDUPKEY, -6, "duplicate object key", "duplicate_key")                  \
	X(ESCHEMA, -7, "invalid schema", "invalid_schema")                       \
	X(EVALIDATE, -8, "validation failed", "validation_failed")               \
	X(ENOTFOUND, -9, "not found", "not_found")                               \
	X(EEXIST, -10, "already exists", "already_exists")                       \
	X(EVERSION, -11, "unsupported version", "unsupported_version")           \
	X(ECLOCKSKEW, -12, "clock skew beyond limit", "clock_skew")              \
	X(ETRANSITION, -13, "transition not allowed", "transition_not_allowed")  \
	X(EOFFLINE, -14, "refused while offline", "online_only")                 \
	X(EPERM, -15, "permission denied", "permission_denied")                  \
	X(ECONFLICT, -16, "conflict", "conflict")                                \
	X(ESTATE, -17, "object failed earlier; reset it", "failed_state")        \
	X(EPROTO, -18, "protocol error", "protocol_error")                       \
	X(ERANGE, -19, "value out of range", "out_of_range")                     \
	X(EGAP, -20, "sequence gap", "sequence_gap")                             \
	X(EHASH, -21, "command id reused for another request", "cmd_id_reused") \
	X(EEXPIRED, -22, "expired", "expired")                                   \
	X(ELOCKED, -23, "locked", "locked")                                      \
	X(EROLLBACK, -24, "clock rollback detected", "clock_rollback")           \
	X(EWIPE, -25, "wipe required", "wipe_required")                          \
	X(ETYPE, -26, "wrong type", "wrong_type")                                \
	X(EUNKNOWN, -27, "unknown field", "unknown_field")                       \
	X(EMISSING, -28, "missing field", "missing_field")                       \
	X(EAUTH, -29, "authentication required or failed", "unauthenticated")   \
	X(EREVOKED, -30, "device revoked", "device_revoked")                     \
	X(EBUSY, -31, "service busy; retry later", "busy")                       \
	X(EIO, -32, "storage or system error", "internal_error")               \
	X(ENET, -33, "server unreachable", "unreachable")

enum tf_errno {
	TF_OK = 0,
#define TF_X_(name, val, str, code) TF_##name = (val),
	TF_ERRNO_MAP(TF_X_)
#undef TF_X_
};

/* A short English description of `code`; never NULL. */
const char *tf_strerror(int code);
/* The wire code of `code` ("clock_skew", ...); never NULL. */
const char *tf_errcode(int code);
/* The error number for a wire code, or TF_EINVAL when unknown. */
int tf_errno_from_code(const char *code);

/*
 * Detailed error: filled by functions that take a `tf_err *` (which may be
 * NULL when the caller does not want details).  `where` names the place
 * (a field path such as "incident.priority", a command id, "byte 17");
 * `msg` is a full sentence including `where`.  For JSON input errors
 * `offset` is the byte offset and `line`/`col` are 1-based.
 */
typedef struct tf_err {
	int code;
	size_t offset;
	unsigned line, col;
	char where[96];
	char msg[256];
} tf_err;

/* Sets err (when non-NULL) and returns `code`. `where` may be NULL. */
int tf_err_set(tf_err *err, int code, const char *where, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
void tf_err_clear(tf_err *err);

/*
 * Growable byte buffer.  Appends that fail set `failed` and later appends do
 * nothing (sticky), so a writer can append freely and check once.
 * `data` is always NUL-terminated when len > 0 or after tf_buf_cstr().
 * Hard cap: TF_BUF_MAX bytes (an append past it fails with TF_ELIMIT).
 */
#define TF_BUF_MAX ((size_t)256 * 1024 * 1024)
typedef struct tf_buf {
	char *data;
	size_t len, cap;
	int failed; /* 0 or the TF_E* code of the first failure */
} tf_buf;

void tf_buf_init(tf_buf *b);
void tf_buf_free(tf_buf *b);
void tf_buf_reset(tf_buf *b);  /* len = 0, keeps capacity, clears failed */
int tf_buf_append(tf_buf *b, const void *p, size_t n);
int tf_buf_putc(tf_buf *b, char c);
int tf_buf_puts(tf_buf *b, const char *s);
int tf_buf_printf(tf_buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
/* Returns a NUL-terminated string (the buffer's data, or "" when empty). */
const char *tf_buf_cstr(tf_buf *b);
/* Transfers ownership of the data to the caller (free() it); resets b. */
char *tf_buf_take(tf_buf *b, size_t *len);

/* Lower-case hex of n bytes into out (2n+1 bytes with NUL). */
void tf_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2n hex digits into n bytes; TF_EINVAL on a bad digit. */
int tf_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n);

/* Securely zeroes n bytes (not optimised away). */
void tf_memzero(void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
