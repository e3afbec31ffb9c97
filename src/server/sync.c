/*
 * sync.c - tenfourd's sync services: push through the command ledger,
 * pull of the change feed, open text conflicts and text revisions.
 * Design: ARCHITECTURE.md section 3; wire forms and ledger rules:
 * docs/PROTOCOL.md sections 5-6 and "Ledger".  tests/support/sim_server.c
 * is the reference: for the same inputs this file gives the same replies
 * (tests/server/test_sync.c runs a core replica against both).
 *
 * Push runs as one tf_db_write job.  Each command is decided completely
 * in memory (ledger position, clock, ACL, scope, merge) before anything
 * of it is written; then its text revisions, conflict rows, ledger row
 * and audit entry are written together, and the records the push
 * changed are written once each when its commands are done (push_rec).
 * A storage failure fails the job, which rolls back the whole push:
 * nothing is acknowledged, and the reply is sent only after the group
 * commit returned (durable).  What needs no database (request hashes,
 * ACL decisions) is worked out before the job, outside the writer.
 *
 * One deliberate difference from the reference server: the ledger's
 * request hash is SHA-256 of the command's canonical bytes *without* its
 * "hlc" member.  A clock_skew refusal makes the client re-stamp the same
 * command (same cmd_id, same seq, new hlc); a late copy of the request
 * from before the re-stamp is then recognised as the same request and
 * replayed, instead of being refused as cmd_id_reused.  The stamp does
 * not change what the command does to the record, only how it orders.
 */
#include "server/acl.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNC_PUSH_ENDPOINT "POST /v1/sync/push"
#define SYNC_CURSOR_VERSION "1"
/* "1." + 16 hex + "." + up to 20 digits + "." + 16 hex */
#define SYNC_CURSOR_MAX 64
#define SYNC_EXCERPT_MAX 200

/* ------------------------------------------------------------ helpers */

static int64_t max_skew(const tf_srv *s)
{
	return s->max_skew_ms > 0 ? s->max_skew_ms : TF_DEFAULT_MAX_SKEW_MS;
}

/* [a-z][a-z0-9_]*, at most TF_NAME_MAX bytes (audit `what` names). */
static int name_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > TF_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* A storage-integrity failure: the stored bytes are not what we wrote. */
static int corrupt(tf_err *err, const char *what, const char *id)
{
	return tf_err_set(err, TF_EIO, "", "stored %s of %s is malformed", what,
			  id);
}

/* Cuts b back to n bytes (n <= b->len), keeping it NUL-terminated. */
static void buf_cut(tf_buf *b, size_t n)
{
	assert(n <= b->len);
	b->len = n;
	if (b->data)
		b->data[n] = '\0';
}

/*
 * The ledger's request hash: hex SHA-256 of the command's canonical
 * bytes without "hlc" (see the file comment for why), i.e. of
 * tf_json_write(tf_command_to_json(c) minus "hlc").  tf_command_canonical
 * writes those bytes with the member ,"hlc":"<text>" between "entity"
 * and "op"; every member after it (op, record_id, seq, user) is an
 * escape-free name, id or number, so its last occurrence is the
 * envelope's, and cutting it out gives the same bytes as the tree.
 */
static int request_hash(const tf_command *c, char out[TF_DB_HASH_HEX + 1])
{
	char hlc[TF_HLC_TEXT_LEN + 1], member[TF_HLC_TEXT_LEN + 16];
	uint8_t h[TF_SHA256_LEN];
	size_t n, i;
	tf_buf b;
	int rc;

	tf_hlc_format(c->hlc, hlc);
	n = (size_t)snprintf(member, sizeof member, ",\"hlc\":\"%s\"", hlc);
	tf_buf_init(&b);
	rc = tf_command_canonical(c, &b);
	if (rc == 0 && b.failed)
		rc = TF_ENOMEM;
	if (rc)
		goto out;
	for (i = b.len >= n ? b.len - n + 1 : 0; i-- > 0;)
		if (b.data[i] == ',' && memcmp(b.data + i, member, n) == 0)
			break;
	if (i == (size_t)-1) {
		rc = TF_EINVAL;
		goto out;
	}
	memmove(b.data + i, b.data + i + n, b.len - i - n);
	buf_cut(&b, b.len - n);
	rc = tf_sha256(b.data, b.len, h);
	if (rc == 0)
		tf_hex_encode(h, sizeof h, out);
out:
	tf_buf_free(&b);
	return rc;
}

/*
 * The encoder's frame around one result: the push reply with ack 0 and
 * server_time 0.  A stored result is exactly the bytes between them, so
 * it is the same object the reply carried, written by the same code.
 */
static void frame(int64_t schema_version, char *pre, size_t npre, char *post,
		  size_t npost)
{
	snprintf(pre, npre, "{\"ack\":0,\"protocol_version\":%d,\"results\":[",
		 TF_PROTOCOL_VERSION);
	snprintf(post, npost,
		 "],\"schema_version\":%" PRId64 ",\"server_time\":0}",
		 schema_version);
}

/* Appends the canonical JSON of result r to out. */
static int result_bytes(int64_t schema_version, const tf_cmd_result *r,
			tf_buf *out)
{
	tf_push_reply rep;
	tf_cmd_result one = *r; /* shallow: the encoder only reads it */
	char pre[64], post[64];
	size_t npre, npost;
	tf_buf b;
	int rc;

	if (r->status == TF_ST_APPLIED && r->code == 0 && r->detail == NULL &&
	    r->message[0] == '\0' && r->field[0] == '\0' &&
	    r->server_time == 0 && r->seq != 0 && r->seq <= TF_SEQ_MAX &&
	    tf_uuid_valid(r->cmd_id, strlen(r->cmd_id))) {
		/* The common result, as the encoder writes it (its members
		   in key order; a UUID needs no escape). */
		tf_buf_printf(out,
			      "{\"cmd_id\":\"%s\",\"seq\":%" PRIu64
			      ",\"status\":\"applied\"}",
			      r->cmd_id, r->seq);
		return out->failed ? TF_ENOMEM : 0;
	}
	frame(schema_version, pre, sizeof pre, post, sizeof post);
	npre = strlen(pre);
	npost = strlen(post);
	memset(&rep, 0, sizeof rep);
	rep.schema_version = schema_version;
	rep.results = &one;
	rep.nresults = 1;
	tf_buf_init(&b);
	rc = tf_push_reply_encode(&rep, &b);
	if (rc == 0 &&
	    (b.len < npre + npost || memcmp(b.data, pre, npre) != 0 ||
	     memcmp(b.data + b.len - npost, post, npost) != 0))
		rc = TF_EINVAL;
	if (rc == 0)
		rc = tf_buf_append(out, b.data + npre, b.len - npre - npost);
	tf_buf_free(&b);
	return rc;
}

/* Reads a stored result back (through the reply decoder's checks). */
static int result_parse(int64_t schema_version, const char *bytes, size_t len,
			tf_cmd_result *out)
{
	tf_push_reply rep;
	char pre[64], post[64];
	tf_buf b;
	int rc;

	frame(schema_version, pre, sizeof pre, post, sizeof post);
	tf_buf_init(&b);
	tf_buf_puts(&b, pre);
	tf_buf_append(&b, bytes, len);
	tf_buf_puts(&b, post);
	rc = b.failed;
	if (rc == 0)
		rc = tf_push_reply_decode(b.data, b.len, NULL, &rep, NULL);
	tf_buf_free(&b);
	if (rc)
		return rc;
	if (rep.nresults != 1) {
		tf_push_reply_clear(&rep);
		return TF_EINVAL;
	}
	*out = rep.results[0];
	rep.results[0].detail = NULL;
	tf_push_reply_clear(&rep);
	return 0;
}

/*
 * The ledger key of a row whose command id is already taken (the
 * "cmd_id already used" rejection, which still holds its seq): the
 * backend keeps command ids unique, so the row gets a UUIDv8 derived
 * from (device, seq, cmd_id).  The stored result keeps the client's
 * cmd_id, and replays compare against that.
 */
static int alias_key(const char *agency, const char *device, uint64_t seq,
		     const char *cmd_id, char out[TF_UUID_LEN + 1])
{
	uint8_t h[TF_SHA256_LEN];
	char hex[2 * 16 + 1];
	tf_buf b;
	int rc;

	tf_buf_init(&b);
	tf_buf_printf(&b, "tenfour-ledger-alias\n%s\n%s\n%" PRIu64 "\n%s",
		      agency, device, seq, cmd_id);
	rc = b.failed;
	if (rc == 0)
		rc = tf_sha256(b.data, b.len, h);
	tf_buf_free(&b);
	if (rc)
		return rc;
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80); /* version 8 */
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	tf_hex_encode(h, 16, hex);
	snprintf(out, TF_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex,
		 hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

static void reject_with(tf_cmd_result *res, int code, const char *msg,
			const char *field)
{
	res->status = TF_ST_REJECTED;
	res->code = code;
	res->server_time = 0;
	snprintf(res->message, sizeof res->message, "%s", msg);
	snprintf(res->field, sizeof res->field, "%s", field);
}

/* The field part of an error place ("incident.priority" -> "priority"). */
static void field_of(const tf_err *e, char *out, size_t n)
{
	const char *dot = strchr(e->where, '.');

	snprintf(out, n, "%s", dot ? dot + 1 : "");
}

static int obj_put(tf_json *o, const char *key, tf_json *v)
{
	if (v == NULL)
		return TF_ENOMEM;
	return tf_json_object_set(o, key, v);
}

static int64_t int_member(const tf_json *o, const char *key)
{
	int64_t v = 0;

	if (o == NULL || tf_json_int64(tf_json_object_get(o, key), &v))
		return 0;
	return v;
}

/* ------------------------------------------------------------ access */

/*
 * One AU-2 "access" entry for a read the caller made: the caller's agency
 * chain, actor user/device/role, source, where "<node> <endpoint>", the
 * record and field when the read names one, and `detail` (counts only,
 * never ids or content: the entry stays far below TF_AUDIT_DETAIL_MAX).
 */
typedef struct access_job {
	const tf_srv *s;
	const tf_srv_caller *c;
	int64_t now;
	const char *endpoint;
	const char *entity, *record_id, *field; /* may be NULL */
	const tf_json *detail;
} access_job;

/* The caller's first well-formed role (audit names), or NULL. */
static const char *caller_role(const tf_srv_caller *c)
{
	size_t i;

	for (i = 0; i < c->user.nroles && i < TF_POLICY_MAX_ROLES; i++)
		if (name_ok(c->user.roles[i]))
			return c->user.roles[i];
	return NULL;
}

static int access_run(tf_db_txn *t, void *arg, tf_err *err)
{
	const access_job *a = arg;
	char where[TF_AUDIT_WHERE_MAX + 1];
	tf_audit_event ev;

	snprintf(where, sizeof where, "%s %s",
		 a->s->node && a->s->node[0] ? a->s->node : "tenfourd",
		 a->endpoint);
	memset(&ev, 0, sizeof ev);
	ev.ts_ms = a->now;
	ev.type = TF_AUDIT_ACCESS;
	ev.success = 1;
	ev.user = a->c->user.id;
	ev.agency = a->c->user.agency;
	ev.device = a->c->device.id;
	ev.role = caller_role(a->c);
	ev.source = a->c->source;
	ev.where = where;
	ev.entity = a->entity;
	ev.record_id = a->record_id;
	ev.field = a->field;
	ev.detail = a->detail;
	return tf_srv_audit(t, &ev, err);
}

/*
 * Writes the access entry (a group-committed write) after the read and
 * before its reply: CJIS wants no unaudited access, so when the entry
 * cannot be written the read fails with TF_EIO and nothing is sent.
 */
static int audit_access(access_job *a, tf_err *err)
{
	char why[sizeof err->msg];
	int rc;

	rc = tf_db_write(a->s->db, access_run, a, err);
	if (rc == 0)
		return 0;
	snprintf(why, sizeof why, "%s", err ? err->msg : "");
	return tf_err_set(err, TF_EIO, "",
			  "%s: the access could not be audited, nothing is "
			  "served: %s",
			  a->endpoint, why);
}

/* ------------------------------------------------------------ push */

/*
 * What can be decided about a command without the database, worked out
 * in the caller's thread before the write job: the writer runs every
 * push of the server one after the other, so work moved out of the job
 * runs in parallel on the HTTP threads.
 */
typedef struct push_pre {
	char hash[TF_DB_HASH_HEX + 1]; /* request_hash */
	int acl;		       /* tf_acl_check_command's return */
	const char *role;	       /* the role that allowed it (acl 0) */
} push_pre;

/*
 * A record as this push sees it.  Commands of one push often hit the same
 * record; each is applied to the parsed state kept here, and a changed
 * record is written once, when the job's commands are done (the job is
 * one transaction, all or nothing, so no reader sees the difference, and
 * the record takes one feed position per push).
 */
typedef struct push_rec {
	char id[TF_UUID_LEN + 1];
	const tf_entity *ent; /* set when changed */
	tf_json *state;	      /* owned; NULL: no such record (yet) */
	int dirty;	      /* changed by this push: written at the end */
} push_rec;

typedef struct push_job {
	tf_srv *s;
	const tf_srv_caller *c;
	int64_t now;
	const tf_push_request *req;
	push_pre *pre;		/* req->ncommands slots */
	tf_cmd_result *results; /* req->ncommands slots */
	size_t nresults;
	uint64_t last; /* the device's ledger position */
	uint64_t head; /* highest feed position written, 0: none */
	char where[TF_AUDIT_WHERE_MAX + 1];
	/* The reply's results, comma separated: each the bytes the ledger
	   stored for it (or, when not stored, result_bytes'), so the reply
	   is not encoded a second time. */
	tf_buf rbytes;
	/* The records of this push: recs in first-touch order, found
	   through slots (open addressing, index + 1, 0 empty). */
	push_rec *recs; /* req->ncommands slots */
	size_t nrecs;
	size_t *slots;
	size_t nslots; /* a power of two >= 2 * req->ncommands */
} push_job;

/* What one applied command changes, decided before anything is written. */
typedef struct change {
	const tf_entity *ent;
	/* the text field states before, as {"f":{<text field>: state}}
	   (tf_record_field reads it like the record), NULL for a create */
	const tf_json *old;
	tf_json *state; /* state after (owned by the caller) */
} change;

static const char *agency_of(const push_job *j)
{
	return j->c->user.agency;
}

static const char *audit_role(const push_job *j, const char *role)
{
	if (role && name_ok(role))
		return role;
	if (j->c->user.nroles && name_ok(j->c->user.roles[0]))
		return j->c->user.roles[0];
	return NULL;
}

/* The field an audit entry names: args.field, or the only args.fields. */
static const char *audit_field(const tf_command *cmd)
{
	const char *f = tf_json_get_str(cmd->args, "field", NULL);
	const tf_json *fs;

	if (f == NULL) {
		fs = tf_json_object_get(cmd->args, "fields");
		if (fs && fs->type == TF_JSON_OBJECT && fs->len == 1)
			f = fs->u.members[0].key;
	}
	return name_ok(f) ? f : NULL;
}

/*
 * The resolution part of an audit detail: what was kept and, for each
 * discarded text, its author, side, size, SHA-256 and a 200-byte excerpt
 * cut at a UTF-8 boundary (the full text is in the text revisions).
 * Bounded: two discarded texts of at most 200 bytes each (6 bytes per
 * escaped byte) stay well under TF_AUDIT_DETAIL_MAX.
 */
static int audit_resolution(tf_json *d, const tf_json *detail,
			    const tf_json *state)
{
	const tf_json *disc = tf_json_object_get(detail, "discarded");
	const char *field = tf_json_get_str(detail, "field", NULL);
	tf_json *arr = tf_json_array();
	size_t i;
	int rc = 0;

	if (arr == NULL)
		return TF_ENOMEM;
	rc = obj_put(d, "choice",
		     tf_json_clone(tf_json_object_get(detail, "choice")));
	if (rc == 0)
		rc = obj_put(
			d, "conflict",
			tf_json_clone(tf_json_object_get(detail, "conflict")));
	if (rc == 0)
		rc = obj_put(
			d, "kept_rev",
			tf_json_int(int_member(
				field ? tf_record_field(state, field) : NULL,
				"rev")));
	for (i = 0; rc == 0 && disc && i < disc->len; i++) {
		const tf_json *it = disc->u.items[i];
		const tf_json *text = tf_json_object_get(it, "text");
		uint8_t h[TF_SHA256_LEN];
		char hex[2 * TF_SHA256_LEN + 1];
		size_t n;
		tf_json *o;
		if (text == NULL || text->type != TF_JSON_STRING)
			continue;
		n = text->len < SYNC_EXCERPT_MAX ? text->len : SYNC_EXCERPT_MAX;
		while (n > 0 && n < text->len &&
		       ((unsigned char)text->u.str[n] & 0xc0) == 0x80)
			n--;
		rc = tf_sha256(text->u.str, text->len, h);
		if (rc)
			break;
		tf_hex_encode(h, sizeof h, hex);
		o = tf_json_object();
		if (o == NULL) {
			rc = TF_ENOMEM;
			break;
		}
		rc = obj_put(o, "by",
			     tf_json_clone(tf_json_object_get(it, "by")));
		if (rc == 0)
			rc = obj_put(
				o, "from",
				tf_json_clone(tf_json_object_get(it, "from")));
		if (rc == 0)
			rc = obj_put(o, "bytes", tf_json_uint(text->len));
		if (rc == 0)
			rc = obj_put(o, "sha256", tf_json_cstring(hex));
		if (rc == 0)
			rc = obj_put(o, "excerpt",
				     tf_json_string(text->u.str, n));
		if (rc == 0)
			rc = tf_json_array_push(arr, o);
		else
			tf_json_free(o);
	}
	if (rc == 0)
		return tf_json_object_set(d, "discarded", arr);
	tf_json_free(arr);
	return rc;
}

/*
 * One audit entry for a command that was applied, conflicted, refused or
 * clock-skewed (replays are not audited again).  state: the record after
 * an applied resolve (for kept_rev), else NULL.
 */
static int audit_cmd(push_job *j, tf_db_txn *t, const tf_command *cmd,
		     const tf_cmd_result *res, const char *role,
		     const tf_json *state, tf_err *err)
{
	tf_audit_event ev;
	tf_json *d = tf_json_object();
	int rc;

	if (d == NULL)
		return TF_ENOMEM;
	memset(&ev, 0, sizeof ev);
	rc = obj_put(d, "status", tf_json_cstring(tf_status_name(res->status)));
	if (rc == 0 && res->code)
		rc = obj_put(d, "code", tf_json_cstring(tf_errcode(res->code)));
	if (rc == 0 && res->status == TF_ST_CONFLICT && res->detail &&
	    tf_json_object_get(res->detail, "conflict"))
		rc = obj_put(d, "conflict",
			     tf_json_clone(tf_json_object_get(res->detail,
							      "conflict")));
	if (rc == 0 && cmd->op == TF_OP_RESOLVE &&
	    res->status == TF_ST_APPLIED && res->detail)
		rc = audit_resolution(d, res->detail, state);
	if (rc)
		goto out;
	ev.ts_ms = j->now;
	ev.type = cmd->op == TF_OP_CREATE    ? TF_AUDIT_CREATE
		  : cmd->op == TF_OP_RESOLVE ? TF_AUDIT_CONFLICT_RESOLUTION
					     : TF_AUDIT_MODIFY;
	ev.success =
		res->status == TF_ST_APPLIED || res->status == TF_ST_CONFLICT;
	ev.user = j->c->user.id;
	ev.agency = j->c->user.agency;
	ev.device = j->c->device.id;
	ev.role = audit_role(j, role);
	ev.source = j->c->source;
	ev.where = j->where;
	ev.entity = cmd->entity;
	ev.record_id = cmd->record_id;
	ev.cmd_id = cmd->cmd_id;
	ev.field = audit_field(cmd);
	ev.detail = d;
	rc = tf_srv_audit(t, &ev, err);
out:
	tf_json_free(d);
	return rc;
}

/* Writes the ledger row of res (seq = cmd->seq) and moves last. */
static int ledger_store(push_job *j, tf_db_txn *t, const tf_command *cmd,
			const tf_cmd_result *res, const char *key,
			const char *hash, tf_err *err)
{
	size_t mark = j->rbytes.len;
	tf_db_ledger l;
	int rc;

	/* The stored result is also the reply's: push_job_run sees it. */
	rc = result_bytes(j->s->schema->version, res, &j->rbytes);
	if (rc)
		return rc;
	memset(&l, 0, sizeof l);
	snprintf(l.device, sizeof l.device, "%s", j->c->device.id);
	l.seq = cmd->seq;
	snprintf(l.cmd_id, sizeof l.cmd_id, "%s", key);
	snprintf(l.req_hash, sizeof l.req_hash, "%s", hash);
	l.status = res->status;
	l.result = j->rbytes.data + mark;
	l.result_len = j->rbytes.len - mark;
	l.at_ms = j->now;
	rc = t->ops->ledger_put(t, agency_of(j), &l, err);
	if (rc == 0)
		j->last = cmd->seq;
	return rc;
}

/* A rejection that holds its seq: ledger row plus audit entry. */
static int store_rejection(push_job *j, tf_db_txn *t, const tf_command *cmd,
			   tf_cmd_result *res, const char *key,
			   const char *hash, const char *role, tf_err *err)
{
	int rc = ledger_store(j, t, cmd, res, key, hash, err);

	if (rc == 0)
		rc = audit_cmd(j, t, cmd, res, role, NULL, err);
	return rc;
}

static int textrev_put(push_job *j, tf_db_txn *t, const char *record_id,
		       const char *field, int64_t rev, int kind, const char *by,
		       const char *cmd_id, const tf_json *text, tf_err *err)
{
	tf_db_textrev r;

	memset(&r, 0, sizeof r);
	snprintf(r.record_id, sizeof r.record_id, "%s", record_id);
	snprintf(r.field, sizeof r.field, "%s", field);
	r.rev = rev;
	r.kind = kind;
	snprintf(r.by, sizeof r.by, "%s", by ? by : "");
	snprintf(r.cmd_id, sizeof r.cmd_id, "%s", cmd_id);
	r.text = text && text->type == TF_JSON_STRING ? text->u.str : "";
	r.text_len = text && text->type == TF_JSON_STRING ? text->len : 0;
	r.at_ms = j->now;
	return t->ops->textrev_put(t, agency_of(j), &r, err);
}

/* The conflict with id `id` in a text field state's list, or NULL. */
static const tf_json *conflict_find(const tf_json *fst, const char *id)
{
	const tf_json *cs = fst ? tf_json_object_get(fst, "conflicts") : NULL;
	size_t i;

	for (i = 0; cs && cs->type == TF_JSON_ARRAY && i < cs->len; i++) {
		const char *cid = tf_json_get_str(cs->u.items[i], "id", NULL);
		if (cid && strcmp(cid, id) == 0)
			return cs->u.items[i];
	}
	return NULL;
}

/*
 * The text side of one applied command: a resolve's discarded texts become
 * DISCARDED revisions (head: the rev it had, proposed: the conflict's
 * base); then, comparing each text field's state before and after, a new
 * rev is an EDIT revision, a conflict that appeared gets its row and a
 * PROPOSED revision (rev = its base), one that went away loses its row.
 */
static int text_changes(push_job *j, tf_db_txn *t, const tf_command *cmd,
			const change *ch, const tf_json *detail, tf_err *err)
{
	const char *id = cmd->record_id;
	size_t i, k;
	int rc = 0;

	if (cmd->op == TF_OP_RESOLVE && detail &&
	    tf_json_object_get(detail, "discarded")) {
		const tf_json *disc = tf_json_object_get(detail, "discarded");
		const char *field = tf_json_get_str(detail, "field", NULL);
		const char *cid = tf_json_get_str(detail, "conflict", NULL);
		const tf_json *of = field && ch->old
					    ? tf_record_field(ch->old, field)
					    : NULL;
		const tf_json *oc = cid ? conflict_find(of, cid) : NULL;
		for (k = 0; rc == 0 && field && k < disc->len; k++) {
			const tf_json *it = disc->u.items[k];
			const char *from = tf_json_get_str(it, "from", NULL);
			int head = from && strcmp(from, "head") == 0;
			rc = textrev_put(j, t, id, field,
					 head ? int_member(of, "rev")
					      : int_member(oc, "base_rev"),
					 TF_TEXTREV_DISCARDED,
					 tf_json_get_str(it, "by", NULL),
					 cmd->cmd_id,
					 tf_json_object_get(it, "text"), err);
		}
	}
	for (i = 0; rc == 0 && i < ch->ent->nfields; i++) {
		const tf_field *f = &ch->ent->fields[i];
		const tf_json *of, *nf, *ocs, *ncs;
		int64_t orev, nrev;
		if (f->cls != TF_CLASS_TEXT)
			continue;
		of = ch->old ? tf_record_field(ch->old, f->name) : NULL;
		nf = tf_record_field(ch->state, f->name);
		orev = of ? int_member(of, "rev") : 0;
		nrev = nf ? int_member(nf, "rev") : 0;
		if (nf && (of == NULL || nrev != orev))
			rc = textrev_put(
				j, t, id, f->name, nrev, TF_TEXTREV_EDIT,
				tf_json_get_str(nf, "by", NULL), cmd->cmd_id,
				tf_json_object_get(nf, "v"), err);
		ncs = nf ? tf_json_object_get(nf, "conflicts") : NULL;
		ocs = of ? tf_json_object_get(of, "conflicts") : NULL;
		for (k = 0; rc == 0 && ncs && k < ncs->len; k++) {
			const tf_json *cf = ncs->u.items[k];
			const char *cid = tf_json_get_str(cf, "id", NULL);
			tf_db_conflict row;
			if (cid == NULL || conflict_find(of, cid))
				continue;
			memset(&row, 0, sizeof row);
			snprintf(row.record_id, sizeof row.record_id, "%s", id);
			snprintf(row.entity, sizeof row.entity, "%s",
				 ch->ent->name);
			snprintf(row.field, sizeof row.field, "%s", f->name);
			snprintf(row.conflict_id, sizeof row.conflict_id, "%s",
				 cid);
			row.opened_at = j->now;
			rc = t->ops->conflict_put(t, agency_of(j), &row, err);
			if (rc == 0)
				rc = textrev_put(
					j, t, id, f->name,
					int_member(cf, "base_rev"),
					TF_TEXTREV_PROPOSED,
					tf_json_get_str(cf, "by", NULL), cid,
					tf_json_object_get(cf, "proposed"),
					err);
		}
		for (k = 0; rc == 0 && ocs && k < ocs->len; k++) {
			const char *cid =
				tf_json_get_str(ocs->u.items[k], "id", NULL);
			if (cid == NULL || conflict_find(nf, cid))
				continue;
			rc = t->ops->conflict_del(t, agency_of(j), id, cid,
						  err);
		}
	}
	return rc;
}

/*
 * The states of e's text fields in rec, cloned into {"f":{...}}: all that
 * text_changes compares after the command was applied to rec in place
 * (a whole-record clone would cost as much as the parse).
 */
static int text_snapshot(const tf_entity *e, const tf_json *rec, tf_json **out)
{
	tf_json *o = tf_json_object(), *f = tf_json_object();
	size_t i;
	int rc = 0;

	*out = NULL;
	if (o == NULL || f == NULL) {
		tf_json_free(o);
		tf_json_free(f);
		return TF_ENOMEM;
	}
	for (i = 0; rc == 0 && i < e->nfields; i++) {
		const tf_json *st;
		if (e->fields[i].cls != TF_CLASS_TEXT)
			continue;
		st = tf_record_field(rec, e->fields[i].name);
		if (st)
			rc = obj_put(f, e->fields[i].name, tf_json_clone(st));
	}
	if (rc == 0)
		rc = tf_json_object_set(o, "f", f);
	else
		tf_json_free(f);
	if (rc) {
		tf_json_free(o);
		return rc;
	}
	*out = o;
	return 0;
}

/*
 * The push's view of record `id`: from the cache, else read and parsed
 * (a state that does not parse is a storage fault).  *out stays valid
 * for the job.
 */
static int rec_get(push_job *j, tf_db_txn *t, const char *id, push_rec **out,
		   tf_err *err)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	tf_db_record row;
	tf_json *st = NULL;
	size_t k;
	int rc;

	for (k = 0; id[k]; k++)
		h = (h ^ (unsigned char)id[k]) * 16777619u;
	for (k = h & (j->nslots - 1); j->slots[k];
	     k = (k + 1) & (j->nslots - 1)) {
		push_rec *r = &j->recs[j->slots[k] - 1];
		if (strcmp(r->id, id) == 0) {
			*out = r;
			return 0;
		}
	}
	assert(j->nrecs < j->req->ncommands);
	memset(&row, 0, sizeof row);
	rc = t->ops->record_get(t, agency_of(j), id, &row, err);
	if (rc == 0) {
		rc = tf_json_parse(row.state, row.state_len, NULL, &st, NULL);
		if (rc && rc != TF_ENOMEM)
			rc = corrupt(err, "record", id);
	} else if (rc == TF_ENOTFOUND) {
		rc = 0;
	}
	tf_db_record_clear(&row);
	if (rc)
		return rc;
	*out = &j->recs[j->nrecs];
	memset(*out, 0, sizeof **out);
	snprintf((*out)->id, sizeof(*out)->id, "%s", id);
	(*out)->state = st;
	j->slots[k] = ++j->nrecs;
	return 0;
}

/* Writes every record this push changed, once each, in first-touch order. */
static int recs_flush(push_job *j, tf_db_txn *t, tf_err *err)
{
	uint64_t chg = 0;
	tf_buf b;
	size_t i;
	int rc = 0;

	tf_buf_init(&b);
	for (i = 0; rc == 0 && i < j->nrecs; i++) {
		const push_rec *r = &j->recs[i];
		if (!r->dirty)
			continue;
		tf_buf_reset(&b);
		rc = tf_json_write(r->state, &b);
		if (rc == 0)
			rc = t->ops->record_put(t, agency_of(j), r->id,
						r->ent->name, b.data, b.len,
						&chg, err);
		if (rc == 0 && chg > j->head)
			j->head = chg;
	}
	tf_buf_free(&b);
	return rc;
}

/*
 * A new command (seq = last + 1, stamp acceptable, cmd_id unused):
 * ACL, scope, merge, then its writes.  Business refusals are stored
 * rejections.
 */
static int push_new(push_job *j, tf_db_txn *t, const tf_command *cmd,
		    const push_pre *pre, tf_cmd_result *res, tf_err *err)
{
	const char *hash = pre->hash;
	const tf_schema *schema = j->s->schema;
	tf_apply_ctx ctx = {schema, j->now, 1, 0};
	tf_apply_result ar;
	tf_acl_refusal ref;
	tf_json *old = NULL;
	const tf_entity *oe;
	const char *role = NULL;
	push_rec *rec = NULL;
	change ch;
	int rc, in = 0;

	memset(&ar, 0, sizeof ar);
	/* Refusals (rare) are worked out again for their message. */
	rc = pre->acl;
	role = pre->role;
	if (rc != 0)
		rc = tf_acl_check_command(schema, j->c, cmd, &role, &ref);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		reject_with(res, ref.code, ref.message, ref.field);
		rc = store_rejection(j, t, cmd, res, cmd->cmd_id, hash, role,
				     err);
		goto out;
	}
	rc = rec_get(j, t, cmd->record_id, &rec, err);
	if (rc)
		goto out;
	if (rec->state) {
		rc = tf_acl_in_scope(schema, j->c, rec->state, &in);
		if (rc)
			goto out;
		if (!in) {
			reject_with(res, TF_EPERM,
				    "the record is not in your scope", "");
			rc = store_rejection(j, t, cmd, res, cmd->cmd_id, hash,
					     role, err);
			goto out;
		}
	}
	/* The policy table's rules on the stored record (an officer's own
	   unit), before anything is applied.  In scope, its entity is the
	   schema's; the command applies to the state in place, and `old`
	   keeps the text fields before. */
	if (tf_acl_check_record(schema, j->c, cmd, rec->state, &ref)) {
		reject_with(res, ref.code, ref.message, ref.field);
		rc = store_rejection(j, t, cmd, res, cmd->cmd_id, hash, role,
				     err);
		goto out;
	}
	if (rec->state) {
		oe = tf_schema_entity(schema, tf_record_entity(rec->state));
		assert(oe != NULL);
		rc = text_snapshot(oe, rec->state, &old);
		if (rc)
			goto out;
	}
	ctx.allow_ref = tf_acl_has_role(j->c, "service");
	/* A rejected apply leaves the state as it was (tf_record_apply). */
	rc = tf_record_apply(&rec->state, cmd, &ctx, &ar);
	if (rc == TF_ENOMEM)
		goto out;
	if (rc) {
		rc = corrupt(err, "record", cmd->record_id);
		goto out;
	}
	if (ar.status == TF_ST_REJECTED) {
		char field[64];
		field_of(&ar.err, field, sizeof field);
		reject_with(res, ar.err.code ? ar.err.code : TF_EVALIDATE,
			    ar.err.msg, field);
		rc = store_rejection(j, t, cmd, res, cmd->cmd_id, hash, role,
				     err);
		goto out;
	}
	if (old == NULL) {
		rc = tf_acl_in_scope(schema, j->c, rec->state, &in);
		if (rc == 0 && !in) {
			/* Not created after all. */
			tf_json_free(rec->state);
			rec->state = NULL;
		}
		if (rc)
			goto out;
		if (!in) {
			reject_with(res, TF_EPERM,
				    "would create a record outside your scope",
				    "");
			rc = store_rejection(j, t, cmd, res, cmd->cmd_id, hash,
					     role, err);
			goto out;
		}
	}
	/* Decided: write the record, its text side, the ledger, the audit. */
	res->status = ar.status;
	res->detail = ar.detail;
	ar.detail = NULL;
	ch.ent = tf_schema_entity(schema, tf_record_entity(rec->state));
	ch.old = old;
	ch.state = rec->state;
	assert(ch.ent != NULL);
	rec->ent = ch.ent;
	rec->dirty = 1; /* written by recs_flush */
	rc = text_changes(j, t, cmd, &ch, res->detail, err);
	if (rc == 0)
		rc = ledger_store(j, t, cmd, res, cmd->cmd_id, hash, err);
	if (rc == 0)
		rc = audit_cmd(j, t, cmd, res, role, rec->state, err);
out:
	tf_apply_result_clear(&ar);
	tf_json_free(old);
	return rc;
}

/* seq <= last: replay the stored result, or refuse a different request. */
static int push_replay(push_job *j, tf_db_txn *t, const tf_command *cmd,
		       const push_pre *pre, tf_cmd_result *res, tf_err *err)
{
	tf_cmd_result st;
	tf_db_ledger l;
	int rc;

	memset(&l, 0, sizeof l);
	memset(&st, 0, sizeof st);
	rc = t->ops->ledger_get_seq(t, agency_of(j), j->c->device.id, cmd->seq,
				    &l, err);
	if (rc == TF_ENOTFOUND)
		rc = tf_err_set(err, TF_EIO, "",
				"ledger row %" PRIu64 " of %s is missing",
				cmd->seq, j->c->device.id);
	if (rc)
		goto out;
	rc = result_parse(j->s->schema->version, l.result, l.result_len, &st);
	if (rc == TF_ENOMEM)
		goto out;
	if (rc) {
		rc = corrupt(err, "ledger result", cmd->cmd_id);
		goto out;
	}
	if (strcmp(st.cmd_id, cmd->cmd_id) != 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "seq %" PRIu64 " already holds %s",
			 cmd->seq, st.cmd_id);
		reject_with(res, TF_EHASH, msg, "");
		rc = audit_cmd(j, t, cmd, res, NULL, NULL, err);
		goto out;
	}
	if (strcmp(pre->hash, l.req_hash) != 0) {
		reject_with(res, TF_EHASH, "cmd_id reused for another request",
			    "");
		rc = audit_cmd(j, t, cmd, res, NULL, NULL, err);
		goto out;
	}
	if (st.status == TF_ST_REJECTED) {
		reject_with(res, st.code, st.message, st.field);
		goto out;
	}
	res->status = TF_ST_DUPLICATE;
	res->detail = st.detail;
	st.detail = NULL;
out:
	tf_json_free(st.detail);
	tf_db_ledger_clear(&l);
	return rc;
}

/*
 * One command through the ledger.  *has: res holds a result to send;
 * *stop: the batch ends here (a gap, which gives no result, or a
 * clock_skew).
 */
static int push_one(push_job *j, tf_db_txn *t, size_t i, tf_cmd_result *res,
		    int *has, int *stop, tf_err *err)
{
	const tf_command *cmd = &j->req->commands[i];
	const push_pre *pre = &j->pre[i];
	char key[TF_UUID_LEN + 1];
	tf_db_ledger l;
	int rc;

	memset(res, 0, sizeof *res);
	memcpy(res->cmd_id, cmd->cmd_id, sizeof res->cmd_id);
	res->seq = cmd->seq;
	*has = 1;
	*stop = 0;
	if (cmd->seq <= j->last)
		return push_replay(j, t, cmd, pre, res, err);
	if (cmd->seq > j->last + 1) {
		*has = 0;
		*stop = 1;
		return 0;
	}
	if (tf_hlc_check_skew(j->now, max_skew(j->s), cmd->hlc)) {
		res->status = TF_ST_CLOCK_SKEW;
		res->code = TF_ECLOCKSKEW;
		res->server_time = j->now;
		snprintf(res->message, sizeof res->message,
			 "stamp more than %" PRId64 " ms ahead of the server",
			 max_skew(j->s));
		*stop = 1;
		return audit_cmd(j, t, cmd, res, NULL, NULL, err);
	}
	memset(&l, 0, sizeof l);
	rc = t->ops->ledger_get_cmd(t, agency_of(j), cmd->cmd_id, &l, err);
	tf_db_ledger_clear(&l);
	if (rc == 0) {
		reject_with(res, TF_EHASH, "cmd_id already used", "");
		rc = alias_key(agency_of(j), j->c->device.id, cmd->seq,
			       cmd->cmd_id, key);
		if (rc == 0)
			rc = store_rejection(j, t, cmd, res, key, pre->hash,
					     NULL, err);
		return rc;
	}
	if (rc != TF_ENOTFOUND)
		return rc;
	return push_new(j, t, cmd, pre, res, err);
}

static void push_results_reset(push_job *j)
{
	size_t i;

	for (i = 0; j->results && i < j->nresults; i++) {
		tf_json_free(j->results[i].detail);
		j->results[i].detail = NULL;
	}
	j->nresults = 0;
	j->head = 0;
	tf_buf_reset(&j->rbytes);
	for (i = 0; i < j->nrecs; i++)
		tf_json_free(j->recs[i].state);
	j->nrecs = 0;
	if (j->slots)
		memset(j->slots, 0, j->nslots * sizeof *j->slots);
}

static int push_job_run(tf_db_txn *t, void *arg, tf_err *err)
{
	push_job *j = arg;
	size_t i;
	int rc, has, stop;

	/* A backend may run a job again after a failed group: start over. */
	push_results_reset(j);
	rc = t->ops->ledger_last(t, agency_of(j), j->c->device.id, &j->last,
				 err);
	for (i = 0; rc == 0 && i < j->req->ncommands; i++) {
		tf_cmd_result *res = &j->results[j->nresults];
		size_t mark = j->rbytes.len;
		if (j->nresults)
			tf_buf_putc(&j->rbytes, ',');
		rc = push_one(j, t, i, res, &has, &stop, err);
		if (rc == 0 && !has)
			buf_cut(&j->rbytes, mark);
		else if (rc == 0 && j->rbytes.len == mark + (j->nresults != 0))
			/* Not stored (a replay, a clock_skew): its bytes. */
			rc = result_bytes(j->s->schema->version, res,
					  &j->rbytes);
		if (rc == 0 && j->rbytes.failed)
			rc = TF_ENOMEM;
		if (rc == 0 && has)
			j->nresults++;
		if (rc == 0 && stop)
			break;
	}
	if (rc == 0)
		rc = recs_flush(j, t, err);
	if (rc) {
		/* The slot being filled may hold a detail already. */
		if (j->nresults < j->req->ncommands) {
			tf_json_free(j->results[j->nresults].detail);
			j->results[j->nresults].detail = NULL;
		}
		/* Whatever failed inside the job, nothing was acknowledged:
		   a server-side failure (the message says which). */
		if (rc != TF_ENOMEM && rc != TF_EIO) {
			if (err)
				err->code = TF_EIO;
			rc = TF_EIO;
		}
	}
	return rc;
}

/*
 * The push reply around the results' bytes, member for member as
 * tf_push_reply_encode writes it (ack, protocol_version, results,
 * schema_version, server_time), with its range checks.
 */
static int reply_write(int64_t schema_version, uint64_t ack, int64_t now,
		       const tf_buf *results, tf_buf *out)
{
	size_t mark = out->len;

	if (now < 0 || now > TF_HLC_MAX_MS || ack > TF_SEQ_MAX)
		return TF_EINVAL;
	tf_buf_printf(out,
		      "{\"ack\":%" PRIu64 ",\"protocol_version\":%d,"
		      "\"results\":[",
		      ack, TF_PROTOCOL_VERSION);
	tf_buf_append(out, results->data, results->len);
	tf_buf_printf(out,
		      "],\"schema_version\":%" PRId64
		      ",\"server_time\":%" PRId64 "}",
		      schema_version, now);
	if (out->failed) {
		buf_cut(out, mark);
		return TF_ENOMEM;
	}
	return 0;
}

int tf_sync_push(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		 const char *body, size_t len, tf_buf *reply, tf_err *err)
{
	tf_push_request m;
	push_job j;
	size_t i;
	int rc;

	assert(s != NULL && s->db != NULL && s->schema != NULL && c != NULL);
	memset(&j, 0, sizeof j);
	tf_buf_init(&j.rbytes);
	rc = tf_push_request_decode(body, len, NULL, NULL, &m, err);
	if (rc)
		return rc;
	if (m.schema_version != s->schema->version) {
		rc = tf_err_set(err, TF_EVERSION, "schema_version",
				"push: schema_version %" PRId64
				" differs from the server's %" PRId64,
				m.schema_version, s->schema->version);
		goto out;
	}
	if (strcmp(m.device, c->device.id) != 0) {
		rc = tf_err_set(err, TF_EPERM, "device_id",
				"push: device_id %s is not this session's "
				"device",
				m.device);
		goto out;
	}
	j.s = s;
	j.c = c;
	j.now = now_ms;
	j.req = &m;
	snprintf(j.where, sizeof j.where, "%s %s",
		 s->node && s->node[0] ? s->node : "tenfourd",
		 SYNC_PUSH_ENDPOINT);
	if (m.ncommands) {
		j.results = calloc(m.ncommands, sizeof *j.results);
		j.pre = calloc(m.ncommands, sizeof *j.pre);
		j.recs = calloc(m.ncommands, sizeof *j.recs);
		for (j.nslots = 2; j.nslots < 2 * m.ncommands;)
			j.nslots *= 2;
		j.slots = calloc(j.nslots, sizeof *j.slots);
		if (j.results == NULL || j.pre == NULL || j.recs == NULL ||
		    j.slots == NULL) {
			rc = TF_ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < m.ncommands; i++) {
		tf_acl_refusal ref;
		rc = request_hash(&m.commands[i], j.pre[i].hash);
		if (rc) {
			rc = tf_err_set(err, rc, "",
					"push: cannot hash commands[%zu]", i);
			goto out;
		}
		/* TF_ENOMEM here is tried again inside the job. */
		j.pre[i].acl = tf_acl_check_command(
			s->schema, c, &m.commands[i], &j.pre[i].role, &ref);
	}
	rc = tf_db_write(s->db, push_job_run, &j, err);
	if (rc)
		goto out;
	rc = reply_write(s->schema->version, j.last, now_ms, &j.rbytes, reply);
	if (rc)
		rc = tf_err_set(err, rc, "", "push: cannot encode the reply");
	if (j.head && s->notify)
		s->notify(s->notify_arg, c->user.agency, j.head);
out:
	push_results_reset(&j);
	tf_buf_free(&j.rbytes);
	free(j.slots);
	free(j.recs);
	free(j.pre);
	free(j.results);
	tf_push_request_clear(&m);
	return rc;
}

/* ------------------------------------------------------------ cursor */

/*
 * A cursor is "1.<epoch>.<chg>.<tag>": the format version, the database's
 * feed epoch (16 hex), the feed position (decimal) and the caller's scope
 * tag (16 hex, tf_acl_scope_tag).  Returns 0 with the parts, or
 * TF_EINVAL when s is not of that form.
 */
static int cursor_parse(const char *s, char epoch[17], uint64_t *chg,
			char tag[TF_ACL_TAG_LEN + 1])
{
	size_t n = strlen(s), i, k;
	uint64_t v = 0;

	if (n > SYNC_CURSOR_MAX || strncmp(s, SYNC_CURSOR_VERSION ".", 2) != 0)
		return TF_EINVAL;
	for (i = 2, k = 0; k < 16; i++, k++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return TF_EINVAL;
		epoch[k] = s[i];
	}
	epoch[16] = '\0';
	if (s[i++] != '.')
		return TF_EINVAL;
	for (k = 0; s[i] >= '0' && s[i] <= '9'; i++, k++) {
		if (k >= 20 || (k == 1 && s[i - 1] == '0') ||
		    v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return TF_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (k == 0 || s[i++] != '.')
		return TF_EINVAL;
	for (k = 0; k < TF_ACL_TAG_LEN; i++, k++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return TF_EINVAL;
		tag[k] = s[i];
	}
	tag[TF_ACL_TAG_LEN] = '\0';
	if (s[i] != '\0')
		return TF_EINVAL;
	*chg = v;
	return 0;
}

static int cursor_write(const tf_srv *s, const char *tag, uint64_t chg,
			char *out, size_t n)
{
	if (strlen(s->epoch) != 16)
		return TF_EINVAL;
	snprintf(out, n, SYNC_CURSOR_VERSION ".%s.%" PRIu64 ".%s", s->epoch,
		 chg, tag);
	return 0;
}

int tf_sync_cursor_chg(const tf_srv *s, const char *cursor, uint64_t *chg)
{
	char epoch[17], tag[TF_ACL_TAG_LEN + 1];
	uint64_t v;

	if (cursor == NULL || cursor_parse(cursor, epoch, &v, tag) ||
	    strcmp(epoch, s->epoch) != 0)
		return TF_EINVAL;
	*chg = v;
	return 0;
}

int tf_sync_cursor_make(const tf_srv *s, const tf_srv_caller *c, uint64_t chg,
			tf_buf *out)
{
	char tag[TF_ACL_TAG_LEN + 1], cur[SYNC_CURSOR_MAX + 1];
	int rc = tf_acl_scope_tag(c, tag);

	if (rc == 0)
		rc = cursor_write(s, tag, chg, cur, sizeof cur);
	if (rc == 0)
		rc = tf_buf_puts(out, cur);
	return rc;
}

/* ------------------------------------------------------------ pull */

/* A page's "remaining" is at most 2^53-1 (the protocol's bound). */
#define SYNC_REMAINING_MAX ((uint64_t)9007199254740991)
/*
 * Rows a page's "remaining" counts at most (a few ms of index scan);
 * past it the page says the feed positions after it instead.
 */
#define SYNC_REMAINING_COUNT_MAX ((size_t)50000)

typedef struct pull_job {
	tf_srv *s;
	const tf_srv_caller *c;
	uint64_t from;
	int purge; /* the cursor was not empty: out-of-scope ids are sent */
	size_t limit;
	/* per entity index: the caller sees all its records (no parse) */
	unsigned char sees_all[TF_SCHEMA_MAX_ENTITIES];
	/* results (reset at the start of the job) */
	int reset, has_more;
	uint64_t head, ack, last_chg;
	uint64_t remaining; /* the agency's feed after the page */
	size_t scanned;
	tf_buf records; /* the page's record states, comma separated */
	size_t nrecords;
	tf_buf purged; /* the page's purged ids as JSON strings, likewise */
	size_t npurged;
	/* per entity index: the page's records of it (the access entry) */
	size_t nent[TF_SCHEMA_MAX_ENTITIES];
} pull_job;

static void pull_reset(pull_job *j)
{
	tf_buf_reset(&j->records);
	tf_buf_reset(&j->purged);
	j->nrecords = j->npurged = j->scanned = 0;
	memset(j->nent, 0, sizeof j->nent);
	j->reset = j->has_more = 0;
	j->head = j->ack = j->last_chg = j->remaining = 0;
}

/*
 * Whether stored state bytes look like a record of `entity` without
 * parsing them: the canonical form starts {"entity":"<entity>","f":{ and
 * ends with }.  Our own tf_json_write made them; this catches a row whose
 * bytes are not a record of its entity (truncated, another entity's),
 * which then fails closed like an unreadable state.
 */
static int state_shaped(const tf_db_record *r, const char *entity)
{
	static const char pre[] = "{\"entity\":\"", mid[] = "\",\"f\":{";
	size_t n = strlen(entity), np = sizeof pre - 1, nm = sizeof mid - 1;

	return r->state != NULL && r->state_len > np + n + nm &&
	       memcmp(r->state, pre, np) == 0 &&
	       memcmp(r->state + np, entity, n) == 0 &&
	       memcmp(r->state + np + n, mid, nm) == 0 &&
	       r->state[r->state_len - 1] == '}';
}

/* The end of the JSON string whose opening quote is at p, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The end of the JSON value at p (well-formed input), or NULL. */
static const char *skip_value(const char *p, const char *end)
{
	size_t depth = 0;

	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']')
			p++;
		return p < end ? p : NULL;
	}
	while (p < end) {
		if (*p == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		p++;
		if (depth == 0)
			return p;
	}
	return NULL;
}

/*
 * The bytes of field `name`'s state in a stored state that state_shaped
 * accepted, found without parsing the rest: the members of "f" are in
 * key order (canonical JSON) and field names need no escapes, so the
 * scan stops at the first key past `name`.  Returns 1 with [*v, *vend),
 * 0 when the field has no state, -1 when the bytes do not scan (the
 * caller then parses the whole state).
 */
static int field_bytes(const tf_db_record *r, const char *entity,
		       const char *name, const char **v, const char **vend)
{
	const char *p =
		r->state + strlen("{\"entity\":\"\",\"f\":{") + strlen(entity);
	const char *end = r->state + r->state_len, *k, *ke;
	size_t n = strlen(name);
	int cmp;

	if (p < end && *p == '}')
		return 0;
	while (p < end && *p == '"') {
		k = p + 1;
		ke = memchr(k, '"', (size_t)(end - k));
		if (ke == NULL || memchr(k, '\\', (size_t)(ke - k)) != NULL ||
		    ke + 1 >= end || ke[1] != ':')
			return -1;
		cmp = strncmp(k, name,
			      (size_t)(ke - k) < n ? (size_t)(ke - k) : n);
		if (cmp == 0)
			cmp = (size_t)(ke - k) < n ? -1 : (size_t)(ke - k) > n;
		if (cmp > 0)
			return 0;
		p = skip_value(ke + 2, end);
		if (p == NULL)
			return -1;
		if (cmp == 0) {
			*v = ke + 2;
			*vend = p;
			return 1;
		}
		if (*p == '}')
			return 0;
		if (*p != ',')
			return -1;
		p++;
	}
	return -1;
}

/*
 * Whether a stored state is in the caller's scope by its scope field
 * alone: the core's tf_acl_in_scope over {"entity","f":{<that field>}},
 * parsed from the field's bytes only.  Returns 0 with *in, 1 when the
 * bytes did not scan (parse the whole state instead), or TF_ENOMEM.
 */
static int scope_by_field(pull_job *j, const tf_db_record *r,
			  const tf_entity *e, int *in)
{
	const char *v = NULL, *vend = NULL;
	tf_json *st = NULL;
	tf_buf b;
	int rc, found;

	if (e->scope_field == NULL)
		return 1;
	found = field_bytes(r, e->name, e->scope_field, &v, &vend);
	if (found < 0)
		return 1;
	tf_buf_init(&b);
	tf_buf_printf(&b, "{\"entity\":\"%s\",\"f\":{", e->name);
	if (found) {
		tf_buf_printf(&b, "\"%s\":", e->scope_field);
		tf_buf_append(&b, v, (size_t)(vend - v));
	}
	tf_buf_puts(&b, "}}");
	rc = b.failed ? TF_ENOMEM : 0;
	if (rc == 0) {
		rc = tf_json_parse(b.data, b.len, NULL, &st, NULL);
		if (rc && rc != TF_ENOMEM)
			rc = 1;
	}
	if (rc == 0)
		rc = tf_acl_in_scope(j->s->schema, j->c, st, in);
	tf_json_free(st);
	tf_buf_free(&b);
	return rc;
}

/*
 * One record of the feed.  The stored state is canonical JSON (written
 * by tf_json_write), which is exactly what tf_pull_page_encode would
 * write for it, so an in-scope record's bytes go into the page as they
 * are.  The state is parsed only when the scope rule must read fields
 * (a caller without a read role on an entity with a per-record rule).
 */
static int pull_record(void *arg, const tf_db_record *r)
{
	pull_job *j = arg;
	const tf_entity *e;
	tf_json *st = NULL;
	int rc, in = 0;

	/* One record past the limit: the page is full and more exist. */
	if (j->scanned == j->limit) {
		j->has_more = 1;
		return 1;
	}
	j->scanned++;
	j->last_chg = r->chg;
	e = tf_schema_entity(j->s->schema, r->entity);
	if (e != NULL && e->index < TF_SCHEMA_MAX_ENTITIES &&
	    j->sees_all[e->index]) {
		in = state_shaped(r, e->name);
	} else if (e != NULL && state_shaped(r, e->name) &&
		   (rc = scope_by_field(j, r, e, &in)) != 1) {
		if (rc)
			return rc;
	} else if (e != NULL) {
		rc = tf_json_parse(r->state, r->state_len, NULL, &st, NULL);
		if (rc == TF_ENOMEM)
			return rc;
		if (rc == 0)
			rc = tf_acl_in_scope(j->s->schema, j->c, st, &in);
		tf_json_free(st);
		if (rc == TF_ENOMEM)
			return rc;
		in = rc == 0 && in && state_shaped(r, e->name);
	}
	if (in) {
		if (j->nrecords)
			tf_buf_putc(&j->records, ',');
		tf_buf_append(&j->records, r->state, r->state_len);
		j->nrecords++;
		j->nent[e->index]++; /* in: e is the schema's, index checked */
		return j->records.failed ? TF_ENOMEM : 0;
	}
	/* Out of scope (or unreadable, fail closed): an id, never content. */
	if (j->purge) {
		if (!tf_uuid_valid(r->id, strlen(r->id)))
			return TF_EINVAL;
		if (j->npurged)
			tf_buf_putc(&j->purged, ',');
		tf_json_write_string(&j->purged, r->id, strlen(r->id));
		j->npurged++;
		return j->purged.failed ? TF_ENOMEM : 0;
	}
	return 0;
}

/*
 * j->remaining: the agency's records with chg > after, counted up to
 * SYNC_REMAINING_COUNT_MAX; past that, head - after, which bounds them
 * too (each holds one feed position in (after, head]) without a scan
 * whose cost would grow with the feed on every page.
 */
static int pull_remaining(tf_db_txn *t, pull_job *j, uint64_t after,
			  tf_err *err)
{
	int rc = t->ops->records_count_since(t, j->c->user.agency, after,
					     SYNC_REMAINING_COUNT_MAX,
					     &j->remaining, err);

	if (rc == 0 && j->remaining >= SYNC_REMAINING_COUNT_MAX &&
	    j->head > after)
		j->remaining = j->head - after;
	return rc;
}

static int pull_job_run(tf_db_txn *t, void *arg, tf_err *err)
{
	pull_job *j = arg;
	int rc;

	pull_reset(j);
	rc = t->ops->head_chg(t, &j->head, err);
	if (rc == 0)
		rc = t->ops->ledger_last(t, j->c->user.agency, j->c->device.id,
					 &j->ack, err);
	if (rc)
		return rc;
	if (j->from > j->head) {
		/* The pull starts over from "": all of the feed is ahead. */
		j->reset = 1;
		return pull_remaining(t, j, 0, err);
	}
	rc = t->ops->records_since(t, j->c->user.agency, j->from, j->limit + 1,
				   pull_record, j, err);
	if (rc == TF_EINVAL)
		rc = tf_err_set(err, TF_EIO, "",
				"pull: a stored record id is "
				"not a UUID");
	if (rc < 0)
		return rc;
	/*
	 * "remaining": the agency's records after the page's last change,
	 * in this same read, not filtered by scope (an upper bound of what
	 * the caller will receive).  A final page scanned all of them.
	 */
	if (j->has_more)
		return pull_remaining(t, j, j->last_chg, err);
	return 0;
}

/*
 * The page, member for member as tf_pull_page_encode writes it (ack,
 * cursor, has_more, protocol_version, purged, records, remaining, reset,
 * schema_version), with the records' stored bytes spliced in.  The
 * encoder's own checks hold by construction: counts <= the pull limit
 * (<= the protocol's max_records and max_purged), ids checked as UUIDs,
 * a cursor of hex digits, dots and decimals, remaining at most 2^53-1.
 */
static int page_write(const pull_job *j, int64_t schema_version,
		      const char *cursor, int has_more, int reset, tf_buf *page)
{
	size_t mark = page->len;

	if (strlen(cursor) > tf_proto_default_limits.max_cursor ||
	    j->ack > TF_SEQ_MAX ||
	    j->nrecords > tf_proto_default_limits.max_records ||
	    j->npurged > tf_proto_default_limits.max_purged)
		return TF_EINVAL;
	tf_buf_printf(page, "{\"ack\":%" PRIu64 ",\"cursor\":", j->ack);
	tf_json_write_string(page, cursor, strlen(cursor));
	tf_buf_printf(page,
		      ",\"has_more\":%s,\"protocol_version\":%d,\"purged\":[",
		      has_more ? "true" : "false", TF_PROTOCOL_VERSION);
	tf_buf_append(page, j->purged.data, j->purged.len);
	tf_buf_puts(page, "],\"records\":[");
	tf_buf_append(page, j->records.data, j->records.len);
	tf_buf_printf(page,
		      "],\"remaining\":%" PRIu64
		      ",\"reset\":%s,\"schema_version\":%" PRId64 "}",
		      j->remaining < SYNC_REMAINING_MAX ? j->remaining
							: SYNC_REMAINING_MAX,
		      reset ? "true" : "false", schema_version);
	if (page->failed) {
		page->len = mark;
		return TF_ENOMEM;
	}
	return 0;
}

/*
 * The access entry of a pull page that carries records or purged ids:
 * {"entities":{<entity>:<records of it>},"purged":m,"records":n}.
 * Bounded: at most TF_SCHEMA_MAX_ENTITIES names of TF_NAME_MAX bytes.
 */
static int pull_audit(const pull_job *j, int64_t now, tf_err *err)
{
	const tf_schema *sc = j->s->schema;
	tf_json *d = tf_json_object(), *ents = tf_json_object();
	access_job a;
	size_t i;
	int rc = 0;

	if (d == NULL || ents == NULL) {
		tf_json_free(d);
		tf_json_free(ents);
		return tf_err_set(err, TF_ENOMEM, "",
				  "pull: no memory for the audit");
	}
	for (i = 0; rc == 0 && i < sc->nentities; i++) {
		const tf_entity *e = &sc->entities[i];
		if (e->index < TF_SCHEMA_MAX_ENTITIES && j->nent[e->index])
			rc = obj_put(ents, e->name,
				     tf_json_uint(j->nent[e->index]));
	}
	if (rc == 0)
		rc = tf_json_object_set(d, "entities", ents);
	else
		tf_json_free(ents);
	if (rc == 0)
		rc = obj_put(d, "purged", tf_json_uint(j->npurged));
	if (rc == 0)
		rc = obj_put(d, "records", tf_json_uint(j->nrecords));
	if (rc) {
		rc = tf_err_set(err, rc, "", "pull: no memory for the audit");
	} else {
		memset(&a, 0, sizeof a);
		a.s = j->s;
		a.c = j->c;
		a.now = now;
		a.endpoint = "GET /v1/sync/pull";
		a.detail = d;
		rc = audit_access(&a, err);
	}
	tf_json_free(d);
	return rc;
}

/*
 * Purge semantics: `purged` carries the ids (never the content) of the
 * agency's records that changed after the cursor and are not in the
 * caller's scope: records that left it (a unit unassigned) and records
 * that were never in it.  A first pull (empty cursor) sends none: a
 * device that never pulled holds nothing to purge.
 *
 * AU-2: a page that carries records or purged ids is audited as one
 * "access" entry (counts per entity, no ids: see pull_audit), written
 * after the read and before the page is returned; when it cannot be
 * written the pull fails with TF_EIO and `page` is left as it was.
 * Empty pages (caught up, a long-poll's rounds, a reset) are not.
 */
int tf_sync_pull(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		 const char *cursor, size_t limit, tf_buf *page, uint64_t *head,
		 int *empty, tf_err *err)
{
	char epoch[17], tag[TF_ACL_TAG_LEN + 1], mine[TF_ACL_TAG_LEN + 1];
	char cur[SYNC_CURSOR_MAX + 1];
	pull_job j;
	uint64_t from = 0;
	size_t i, mark;
	int rc, reset = 0, page_reset, has_more;

	assert(s != NULL && s->db != NULL && c != NULL && page != NULL);
	memset(&j, 0, sizeof j);
	tf_buf_init(&j.records);
	tf_buf_init(&j.purged);
	if (cursor == NULL)
		cursor = "";
	rc = tf_acl_scope_tag(c, mine);
	if (rc)
		return tf_err_set(err, rc, "", "pull: %s", tf_strerror(rc));
	if (cursor[0]) {
		if (cursor_parse(cursor, epoch, &from, tag))
			return tf_err_set(err, TF_EINVAL, "cursor",
					  "pull: cursor \"%.40s\" is not one "
					  "of this server's",
					  cursor);
		/* Another database or another scope: start over. */
		reset = strcmp(epoch, s->epoch) != 0 || strcmp(tag, mine) != 0;
	}
	if (limit == 0)
		limit = TF_SRV_DEFAULT_PULL_LIMIT;
	if (limit > TF_SRV_MAX_PULL_LIMIT)
		limit = TF_SRV_MAX_PULL_LIMIT;
	j.s = s;
	j.c = c;
	j.from = reset ? 0 : from;
	j.purge = cursor[0] != '\0';
	j.limit = reset ? 0 : limit;
	for (i = 0; i < s->schema->nentities && i < TF_SCHEMA_MAX_ENTITIES;
	     i++) {
		const tf_entity *e = &s->schema->entities[i];
		if (e->index < TF_SCHEMA_MAX_ENTITIES)
			j.sees_all[e->index] =
				(unsigned char)tf_acl_sees_all(c, e);
	}
	if (reset) {
		/* Only the ack is read: the page carries no records. */
		j.from = UINT64_MAX;
	}
	rc = tf_db_read(s->db, pull_job_run, &j, err);
	if (rc)
		goto out;
	page_reset = reset || j.reset;
	if (page_reset) {
		/* The reference server's reset page: no cursor, has_more. */
		cur[0] = '\0';
		has_more = 1;
	} else {
		rc = cursor_write(s, mine, j.has_more ? j.last_chg : j.head,
				  cur, sizeof cur);
		if (rc) {
			rc = tf_err_set(err, TF_EIO, "", "pull: no feed epoch");
			goto out;
		}
		has_more = j.has_more;
	}
	mark = page->len;
	rc = page_write(&j, s->schema->version, cur, has_more, page_reset,
			page);
	if (rc) {
		rc = tf_err_set(err, rc, "", "pull: cannot encode the page");
		goto out;
	}
	/* AU-2: a page that shows records or ids is an access; an empty
	   one (a long-poll's wait) is not. */
	if (j.nrecords || j.npurged) {
		rc = pull_audit(&j, now_ms, err);
		if (rc) {
			buf_cut(page, mark);
			goto out;
		}
	}
	if (head)
		*head = j.head;
	if (empty)
		*empty = !page_reset && j.nrecords == 0 && j.npurged == 0 &&
			 !has_more;
out:
	tf_buf_free(&j.records);
	tf_buf_free(&j.purged);
	return rc;
}

/* ------------------------------------------------------------ conflicts */

/* Bounds of GET /v1/conflicts: conflicts listed, agency rows examined. */
#define SYNC_CONFLICTS_MAX 1000
#define SYNC_CONFLICTS_SCAN_MAX ((size_t)10 * SYNC_CONFLICTS_MAX)

typedef struct conflict_job {
	tf_srv *s;
	const tf_srv_caller *c;
	tf_db_conflict *rows;
	size_t n, cap;
	int more;      /* the scan stopped at SYNC_CONFLICTS_SCAN_MAX rows */
	int truncated; /* out: visible conflicts were left out */
	size_t nlist;  /* out: conflicts listed */
	tf_json *list; /* out */
} conflict_job;

/* Collects rows first: no other query runs inside the scan. */
static int conflict_row(void *arg, const tf_db_conflict *row)
{
	conflict_job *j = arg;

	if (j->n == SYNC_CONFLICTS_SCAN_MAX) {
		j->more = 1;
		return 1;
	}
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		tf_db_conflict *p = realloc(j->rows, cap * sizeof *p);
		if (p == NULL)
			return TF_ENOMEM;
		j->rows = p;
		j->cap = cap;
	}
	j->rows[j->n++] = *row;
	return 0;
}

/* 1 when the caller may see and resolve conflict row r. */
static int conflict_visible(conflict_job *j, tf_db_txn *t,
			    const tf_db_conflict *r, tf_err *err)
{
	const tf_entity *e = tf_schema_entity(j->s->schema, r->entity);
	const tf_field *f = e ? tf_entity_field(e, r->field) : NULL;
	tf_db_record rec;
	tf_json *st = NULL;
	int rc, in = 0;

	if (f == NULL || tf_acl_may_write(j->c, e, f) == NULL)
		return 0;
	memset(&rec, 0, sizeof rec);
	rc = t->ops->record_get(t, j->c->user.agency, r->record_id, &rec, err);
	if (rc == TF_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	rc = tf_json_parse(rec.state, rec.state_len, NULL, &st, NULL);
	if (rc == 0)
		rc = tf_acl_in_scope(j->s->schema, j->c, st, &in);
	tf_json_free(st);
	tf_db_record_clear(&rec);
	if (rc == TF_ENOMEM)
		return rc;
	return rc == 0 && in;
}

static int conflict_item(const tf_db_conflict *r, tf_json **out)
{
	tf_json *o = tf_json_object();
	int rc;

	*out = NULL;
	if (o == NULL)
		return TF_ENOMEM;
	rc = obj_put(o, "conflict", tf_json_cstring(r->conflict_id));
	if (rc == 0)
		rc = obj_put(o, "entity", tf_json_cstring(r->entity));
	if (rc == 0)
		rc = obj_put(o, "field", tf_json_cstring(r->field));
	if (rc == 0)
		rc = obj_put(o, "opened_at", tf_json_int(r->opened_at));
	if (rc == 0)
		rc = obj_put(o, "record_id", tf_json_cstring(r->record_id));
	if (rc) {
		tf_json_free(o);
		return rc;
	}
	*out = o;
	return 0;
}

static int conflict_job_run(tf_db_txn *t, void *arg, tf_err *err)
{
	conflict_job *j = arg;
	size_t i;
	int rc;

	j->n = 0;
	j->nlist = 0;
	j->more = j->truncated = 0;
	tf_json_free(j->list);
	j->list = tf_json_array();
	if (j->list == NULL)
		return TF_ENOMEM;
	rc = t->ops->conflict_list(t, j->c->user.agency, conflict_row, j, err);
	if (rc > 0)
		rc = 0;
	for (i = 0; rc == 0 && i < j->n; i++) {
		const tf_db_conflict *r = &j->rows[i];
		tf_json *o;
		rc = conflict_visible(j, t, r, err);
		if (rc <= 0)
			continue; /* not visible (0), or a failure ends the loop
				   */
		if (j->nlist == SYNC_CONFLICTS_MAX) {
			/* One more the caller may see: the list is cut. */
			j->truncated = 1;
			rc = 0;
			break;
		}
		rc = conflict_item(r, &o);
		if (rc == 0)
			rc = tf_json_array_push(j->list, o);
		if (rc == 0)
			j->nlist++;
	}
	if (rc == 0 && j->more)
		j->truncated = 1;
	return rc;
}

/*
 * GET /v1/conflicts.  The open conflicts of the caller's agency the
 * caller may resolve (a write role on the field, the record in scope),
 * oldest first: {"conflicts":[...],"truncated":bool}.  Bounded: at most
 * SYNC_CONFLICTS_MAX (1,000) conflicts, from the agency's oldest
 * SYNC_CONFLICTS_SCAN_MAX (10,000) open conflicts; truncated is true
 * when a conflict the caller may see was left out, or when the agency
 * holds more open conflicts than were examined (resolving the oldest
 * brings the rest into the list).  Each call is audited (AU-2 access,
 * detail {"conflicts": n}) before the reply; TF_EIO when it cannot be.
 */
int tf_sync_conflicts(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
		      tf_buf *out, tf_err *err)
{
	conflict_job j;
	access_job a;
	tf_json *d = NULL;
	size_t mark;
	int rc;

	assert(s != NULL && c != NULL && out != NULL);
	mark = out->len;
	memset(&j, 0, sizeof j);
	j.s = s;
	j.c = c;
	rc = tf_db_read(s->db, conflict_job_run, &j, err);
	if (rc == 0) {
		tf_buf_puts(out, "{\"conflicts\":");
		tf_json_write(j.list, out);
		tf_buf_printf(out, ",\"truncated\":%s}",
			      j.truncated ? "true" : "false");
		rc = out->failed ? tf_err_set(err, TF_ENOMEM, "",
					      "conflicts: no memory")
				 : 0;
	}
	if (rc == 0) {
		d = tf_json_object();
		rc = d ? obj_put(d, "conflicts", tf_json_uint(j.nlist))
		       : TF_ENOMEM;
		if (rc)
			rc = tf_err_set(err, rc, "",
					"conflicts: no memory for the audit");
	}
	if (rc == 0) {
		memset(&a, 0, sizeof a);
		a.s = s;
		a.c = c;
		a.now = now_ms;
		a.endpoint = "GET /v1/conflicts";
		a.detail = d;
		rc = audit_access(&a, err);
	}
	if (rc && out->len > mark)
		buf_cut(out, mark);
	tf_json_free(d);
	tf_json_free(j.list);
	free(j.rows);
	return rc;
}

/* ------------------------------------------------------------ text revs */

/* Bounds of a text-revisions read: revisions, and bytes of their text. */
#define SYNC_TEXTREVS_MAX 200
#define SYNC_TEXTREVS_TEXT_MAX ((size_t)8 * 1024 * 1024)

/* A kept revision: the row with its own copy of the text. */
typedef struct kept_rev {
	tf_db_textrev r;
	char *text; /* owned */
} kept_rev;

typedef struct textrev_job {
	tf_srv *s;
	const tf_srv_caller *c;
	const char *record_id, *field;
	char entity[TF_NAME_MAX + 1]; /* out: the record's entity */
	/* The newest revisions seen so far, oldest first: a ring of
	   SYNC_TEXTREVS_MAX slots from `first`, `nkept` of them, holding
	   `bytes` of text (<= SYNC_TEXTREVS_TEXT_MAX). */
	kept_rev ring[SYNC_TEXTREVS_MAX];
	size_t first, nkept, bytes;
	uint64_t seen; /* revisions the field has */
} textrev_job;

static const char *textrev_kind(int kind)
{
	switch (kind) {
	case TF_TEXTREV_EDIT:
		return "edit";
	case TF_TEXTREV_PROPOSED:
		return "proposed";
	case TF_TEXTREV_DISCARDED:
		return "discarded";
	default:
		return "unknown";
	}
}

static void ring_drop_oldest(textrev_job *j)
{
	kept_rev *k = &j->ring[j->first];

	assert(j->nkept > 0);
	j->bytes -= k->r.text_len;
	free(k->text);
	k->text = NULL;
	j->first = (j->first + 1) % SYNC_TEXTREVS_MAX;
	j->nkept--;
}

static void ring_clear(textrev_job *j)
{
	while (j->nkept)
		ring_drop_oldest(j);
	j->first = j->bytes = 0;
	j->seen = 0;
}

/*
 * One revision of the scan (oldest first): kept as the newest, then the
 * oldest kept ones go while more than SYNC_TEXTREVS_MAX or more than
 * SYNC_TEXTREVS_TEXT_MAX bytes of text are kept.  So the memory held is
 * bounded whatever the history, and at the end the ring holds the newest
 * revisions that fit both bounds.
 */
static int textrev_row(void *arg, const tf_db_textrev *r)
{
	textrev_job *j = arg;
	size_t len = r->text ? r->text_len : 0;
	kept_rev *k;
	char *copy;

	j->seen++;
	copy = malloc(len + 1);
	if (copy == NULL)
		return TF_ENOMEM;
	if (len)
		memcpy(copy, r->text, len);
	copy[len] = '\0';
	if (j->nkept == SYNC_TEXTREVS_MAX)
		ring_drop_oldest(j);
	k = &j->ring[(j->first + j->nkept) % SYNC_TEXTREVS_MAX];
	k->r = *r;
	k->r.text = NULL;
	k->r.text_len = len;
	k->text = copy;
	j->nkept++;
	j->bytes += len;
	while (j->nkept && j->bytes > SYNC_TEXTREVS_TEXT_MAX)
		ring_drop_oldest(j);
	return 0;
}

static int textrev_job_run(tf_db_txn *t, void *arg, tf_err *err)
{
	textrev_job *j = arg;
	const tf_entity *e;
	const tf_field *f;
	tf_db_record rec;
	tf_json *st = NULL;
	int rc, in = 0;

	ring_clear(j);
	memset(&rec, 0, sizeof rec);
	rc = t->ops->record_get(t, j->c->user.agency, j->record_id, &rec, err);
	if (rc && rc != TF_ENOTFOUND)
		return rc;
	if (rc == 0) {
		rc = tf_json_parse(rec.state, rec.state_len, NULL, &st, NULL);
		if (rc == 0)
			rc = tf_acl_in_scope(j->s->schema, j->c, st, &in);
		if (rc == TF_ENOMEM)
			goto out;
	}
	/* Absent, of another agency or out of scope: all look the same. */
	if (rc || !in) {
		rc = tf_err_set(err, TF_ENOTFOUND, "record_id", "no record %s",
				j->record_id);
		goto out;
	}
	e = tf_schema_entity(j->s->schema, tf_record_entity(st));
	f = e ? tf_entity_field(e, j->field) : NULL;
	if (f == NULL || f->cls != TF_CLASS_TEXT) {
		rc = tf_err_set(err, TF_EINVAL, "field",
				"%s has no text field \"%.40s\"",
				e ? e->name : "the record", j->field);
		goto out;
	}
	snprintf(j->entity, sizeof j->entity, "%s", e->name);
	rc = t->ops->textrev_list(t, j->c->user.agency, j->record_id, f->name,
				  textrev_row, j, err);
	if (rc > 0)
		rc = 0;
out:
	tf_json_free(st);
	tf_db_record_clear(&rec);
	return rc;
}

/* The kept revisions, oldest first, as the reply's array. */
static int textrev_list_json(const textrev_job *j, tf_json **out)
{
	tf_json *list = tf_json_array();
	size_t i;
	int rc = 0;

	*out = NULL;
	if (list == NULL)
		return TF_ENOMEM;
	for (i = 0; rc == 0 && i < j->nkept; i++) {
		const kept_rev *k =
			&j->ring[(j->first + i) % SYNC_TEXTREVS_MAX];
		tf_json *o = tf_json_object();
		if (o == NULL) {
			rc = TF_ENOMEM;
			break;
		}
		rc = obj_put(o, "at", tf_json_int(k->r.at_ms));
		if (rc == 0)
			rc = obj_put(o, "by", tf_json_cstring(k->r.by));
		if (rc == 0)
			rc = obj_put(o, "cmd_id", tf_json_cstring(k->r.cmd_id));
		if (rc == 0)
			rc = obj_put(o, "kind",
				     tf_json_cstring(textrev_kind(k->r.kind)));
		if (rc == 0)
			rc = obj_put(o, "rev", tf_json_int(k->r.rev));
		if (rc == 0)
			rc = obj_put(o, "text",
				     tf_json_string(k->text, k->r.text_len));
		if (rc == 0)
			rc = tf_json_array_push(list, o);
		else
			tf_json_free(o);
	}
	if (rc) {
		tf_json_free(list);
		return rc;
	}
	*out = list;
	return 0;
}

/*
 * GET /v1/records/ID/text/FIELD: the stored revisions of a text field of
 * a record in the caller's scope, {"revisions":[{"at","by","cmd_id",
 * "kind","rev","text"}],"truncated":bool}.  Bounded: the newest
 * SYNC_TEXTREVS_MAX (200) revisions holding at most
 * SYNC_TEXTREVS_TEXT_MAX (8 MiB) of text between them, oldest first
 * within what is returned; truncated is true when older revisions were
 * left out.  A record that is absent, of another agency or out of scope
 * is TF_ENOTFOUND; a field that is not a text field of it, TF_EINVAL.
 * Each successful read is audited (AU-2 access: what.record_id, entity,
 * field, detail {"revisions": n}) before the reply; TF_EIO when it
 * cannot be.
 */
int tf_sync_text_revisions(tf_srv *s, const tf_srv_caller *c, int64_t now_ms,
			   const char *record_id, const char *field,
			   tf_buf *out, tf_err *err)
{
	textrev_job *j;
	tf_json *list = NULL, *d = NULL;
	access_job a;
	size_t mark;
	int rc;

	assert(s != NULL && c != NULL && out != NULL);
	mark = out->len;
	if (record_id == NULL || !tf_uuid_valid(record_id, strlen(record_id)))
		return tf_err_set(err, TF_EINVAL, "record_id",
				  "record id must be a lower-case UUID");
	if (field == NULL || !name_ok(field))
		return tf_err_set(err, TF_EINVAL, "field",
				  "field must match [a-z][a-z0-9_]*");
	j = calloc(1, sizeof *j); /* the ring: too big for a stack */
	if (j == NULL)
		return tf_err_set(err, TF_ENOMEM, "",
				  "text revisions: no memory");
	j->s = s;
	j->c = c;
	j->record_id = record_id;
	j->field = field;
	rc = tf_db_read(s->db, textrev_job_run, j, err);
	if (rc == 0) {
		rc = textrev_list_json(j, &list);
		if (rc == 0) {
			tf_buf_puts(out, "{\"revisions\":");
			tf_json_write(list, out);
			tf_buf_printf(out, ",\"truncated\":%s}",
				      j->seen > j->nkept ? "true" : "false");
			rc = out->failed ? TF_ENOMEM : 0;
		}
		if (rc == 0) {
			d = tf_json_object();
			rc = d ? obj_put(d, "revisions", tf_json_uint(j->nkept))
			       : TF_ENOMEM;
		}
		if (rc)
			rc = tf_err_set(err, rc, "",
					"text revisions: no memory");
	}
	if (rc == 0) {
		memset(&a, 0, sizeof a);
		a.s = s;
		a.c = c;
		a.now = now_ms;
		a.endpoint = "GET /v1/records/{id}/text/{field}";
		a.entity = j->entity;
		a.record_id = record_id;
		a.field = field;
		a.detail = d;
		rc = audit_access(&a, err);
	}
	if (rc && out->len > mark)
		buf_cut(out, mark);
	tf_json_free(d);
	tf_json_free(list);
	ring_clear(j);
	free(j);
	return rc;
}
