/*
 * protocol.h - the sync messages: push request/reply and pull page, with
 * protocol_version and schema_version on every message.  A message of an
 * unsupported version is TF_EVERSION and nothing in it is used.
 * Wire forms: docs/PROTOCOL.md, section "Messages".
 */
#ifndef TENFOUR_PROTOCOL_H
#define TENFOUR_PROTOCOL_H

#include "tenfour/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TF_PROTOCOL_VERSION 1

typedef struct tf_proto_limits {
	tf_json_limits json;
	size_t max_commands; /* per push */
	size_t max_records;  /* per pull page */
	size_t max_purged;   /* per pull page */
	size_t max_cursor;   /* bytes of the opaque cursor */
} tf_proto_limits;

/* json defaults, 1000 commands, 5000 records, 5000 purged, 256 bytes */
extern const tf_proto_limits tf_proto_default_limits;

typedef struct tf_push_request {
	int64_t schema_version;
	char device[TF_ID_MAX + 1];
	tf_command *commands; /* owned */
	size_t ncommands;
} tf_push_request;

typedef struct tf_cmd_result {
	char cmd_id[TF_UUID_LEN + 1];
	uint64_t seq;
	tf_status status;
	int code;          /* TF_E* reason when REJECTED/CLOCK_SKEW, else 0 */
	char message[256]; /* human reason, "" when none */
	char field[64];    /* field the reason is about, "" when none */
	tf_json *detail;   /* owned or NULL */
	int64_t server_time; /* CLOCK_SKEW: the server's clock, ms */
} tf_cmd_result;

typedef struct tf_push_reply {
	int64_t schema_version;
	uint64_t ack; /* highest seq of this device the server holds */
	int64_t server_time;
	tf_cmd_result *results; /* owned */
	size_t nresults;
} tf_push_reply;

typedef struct tf_pull_page {
	int64_t schema_version;
	char *cursor;      /* owned, opaque, NUL-terminated */
	tf_json **records; /* owned full record states */
	size_t nrecords;
	char **purged; /* owned record ids no longer in scope */
	size_t npurged;
	uint64_t ack;
	int has_more;
	int reset; /* cursor was past retention: drop base, pull from "" */
	/*
	 * The server's estimate of the changes in its feed after this page
	 * (optional member "remaining", for progress), 0..2^53-1.  The
	 * decoder sets has_remaining and remaining, or 0 and -1 when the
	 * member is absent; the encoder writes it when has_remaining is set
	 * (so a zeroed struct encodes no estimate).
	 */
	int has_remaining;
	int64_t remaining;
} tf_pull_page;

/*
 * Encoders append canonical JSON to out.  Decoders parse, check versions
 * first (TF_EVERSION: nothing used), then every member; `schema` (may be
 * NULL to skip) validates commands and record states.  lim NULL means
 * tf_proto_default_limits.  On error *out is left empty.
 */
int tf_push_request_encode(const tf_push_request *m, tf_buf *out);
int tf_push_request_decode(const char *buf, size_t len, const tf_schema *schema,
			   const tf_proto_limits *lim, tf_push_request *out,
			   tf_err *err);
void tf_push_request_clear(tf_push_request *m);

int tf_push_reply_encode(const tf_push_reply *m, tf_buf *out);
int tf_push_reply_decode(const char *buf, size_t len, const tf_proto_limits *lim,
			 tf_push_reply *out, tf_err *err);
void tf_push_reply_clear(tf_push_reply *m);

int tf_pull_page_encode(const tf_pull_page *m, tf_buf *out);
int tf_pull_page_decode(const char *buf, size_t len, const tf_schema *schema,
			const tf_proto_limits *lim, tf_pull_page *out,
			tf_err *err);
void tf_pull_page_clear(tf_pull_page *m);

#ifdef __cplusplus
}
#endif
#endif
