/*
 * test_sync.c - tenfourd's sync services (src/server/sync.c, acl.c) on a
 * temporary SQLite database with schemas/cad.json: every ledger rule
 * (replays of applied and rejected commands, gaps, reused command ids,
 * clock_skew and the re-stamp, the late copy of a pre-re-stamp request),
 * the ACL rules (wrong user, roles without write right, scope, ref_set,
 * report approval, create outside scope), agency isolation, text
 * revisions / conflicts / resolution with their audit entries, pull paging,
 * purge on unassign, cursor resets and bad cursors, and core replicas
 * syncing against the server until their records are the server's bytes.
 */
#include "server/server.h"

#include <dirent.h>
#include <stdarg.h>
#include <unistd.h>

#include "tf_test.h"

#define T0 1764000000000LL
#define SEC 1000LL
#define MIN (60 * SEC)
#define EPOCH "00c0ffee00c0ffee"

static tf_schema *schema;
static tf_srv srv;
static char dir[64];
static uint64_t rnd_state = 0x5eed;
static int64_t hlc_ms = T0;
static unsigned notify_calls;
static uint64_t notify_chg;
static char notify_agency[TF_ID_MAX + 1];

/* Callers: agency pd1 and pd2. */
static tf_srv_caller dana, alvarez, brooks, sam, svc, aud, eve;

/* ------------------------------------------------------------ fixtures */

static void on_notify(void *arg, const char *agency, uint64_t chg)
{
	(void)arg;
	notify_calls++;
	notify_chg = chg;
	snprintf(notify_agency, sizeof notify_agency, "%s", agency);
}

static void die(const char *what, const tf_err *e)
{
	fprintf(stderr, "test_sync setup: %s: %s\n", what, e ? e->msg : "");
	exit(1);
}

typedef struct who {
	const char *agency, *user, *device, *unit;
	const char *roles[3];
} who;

static int put_who(tf_db_txn *t, void *arg, tf_err *err)
{
	const who *w = arg;
	tf_db_agency a;
	tf_db_user u;
	tf_db_device d;
	size_t i;
	int rc;

	rc = t->ops->agency_get(t, w->agency, &a, err);
	if (rc == TF_ENOTFOUND) {
		memset(&a, 0, sizeof a);
		snprintf(a.id, sizeof a.id, "%s", w->agency);
		snprintf(a.name, sizeof a.name, "Agency %s", w->agency);
		tf_agency_policy_default(&a.policy);
		snprintf(a.banner, sizeof a.banner, "Authorized use only.");
		a.banner_rev = 1;
		rc = t->ops->agency_put(t, &a, err);
	}
	if (rc)
		return rc;
	memset(&u, 0, sizeof u);
	snprintf(u.agency, sizeof u.agency, "%s", w->agency);
	snprintf(u.id, sizeof u.id, "%s", w->user);
	snprintf(u.name, sizeof u.name, "User %s", w->user);
	for (i = 0; i < 3 && w->roles[i]; i++)
		snprintf(u.roles[u.nroles++], sizeof u.roles[0], "%s",
			 w->roles[i]);
	snprintf(u.unit, sizeof u.unit, "%s", w->unit ? w->unit : "");
	snprintf(u.pwhash, sizeof u.pwhash, "pbkdf2-sha256$600000$x$y");
	u.created_at = T0;
	rc = t->ops->user_put(t, &u, err);
	if (rc)
		return rc;
	memset(&d, 0, sizeof d);
	snprintf(d.agency, sizeof d.agency, "%s", w->agency);
	snprintf(d.id, sizeof d.id, "%s", w->device);
	snprintf(d.label, sizeof d.label, "device %s", w->device);
	snprintf(d.pubkey, sizeof d.pubkey,
		 "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
	d.status = TF_DEV_ENROLLED;
	d.enrolled_at = T0;
	return t->ops->device_put(t, &d, err);
}

typedef struct get_ctx {
	const who *w;
	tf_srv_caller *out;
} get_ctx;

static int get_who(tf_db_txn *t, void *arg, tf_err *err)
{
	get_ctx *g = arg;
	int rc;

	rc = t->ops->user_get(t, g->w->agency, g->w->user, &g->out->user, err);
	if (rc == 0)
		rc = t->ops->device_get(t, g->w->agency, g->w->device,
					&g->out->device, err);
	return rc;
}

/* Inserts the user and device rows, then builds the caller from them. */
static void mk_caller(tf_srv_caller *c, const char *agency, const char *user,
		      const char *device, const char *unit, const char *role)
{
	who w = {agency, user, device, unit, {role, NULL, NULL}};
	get_ctx g = {&w, c};
	tf_err e;

	memset(c, 0, sizeof *c);
	if (tf_db_write(srv.db, put_who, &w, &e) ||
	    tf_db_read(srv.db, get_who, &g, &e))
		die(user, &e);
	snprintf(c->session.agency, sizeof c->session.agency, "%s", agency);
	snprintf(c->session.user, sizeof c->session.user, "%s", user);
	snprintf(c->session.device, sizeof c->session.device, "%s", device);
	c->session.created_at = T0;
	c->session.expires_at = T0 + 720 * MIN;
	snprintf(c->source, sizeof c->source, "127.0.0.1");
}

/* Removes the files SQLite left in the temporary directory, then it. */
static void rm_dir(const char *path)
{
	char file[512];
	struct dirent *de;
	DIR *d = opendir(path);
	size_t guard;

	for (guard = 0; d && guard < 64 && (de = readdir(d)) != NULL; guard++) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof file, "%s/%s", path, de->d_name);
		remove(file);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

static void setup(void)
{
	char dsn[128];
	tf_db_options o;
	size_t len;
	char *text = tf_test_read_file(TF_TEST_SCHEMA_PATH, &len);
	tf_err e;

	if (text == NULL || tf_schema_load(text, len, &schema, &e) != 0)
		die("schema", NULL);
	free(text);
	snprintf(dir, sizeof dir, "/tmp/tf-sync-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", NULL);
	snprintf(dsn, sizeof dsn, "sqlite:%s/sync.db", dir);
	tf_db_options_default(&o);
	o.fsync = 0;
	memset(&srv, 0, sizeof srv);
	if (tf_db_open(dsn, &o, &srv.db, &e))
		die("open", &e);
	srv.schema = schema;
	snprintf(srv.epoch, sizeof srv.epoch, EPOCH);
	srv.max_skew_ms = TF_DEFAULT_MAX_SKEW_MS;
	srv.node = "tenfourd";
	srv.notify = on_notify;
	mk_caller(&dana, "pd1", "dana", "console-dana", NULL, "dispatcher");
	mk_caller(&alvarez, "pd1", "alvarez", "mdt-2a12", "2A12", "officer");
	mk_caller(&brooks, "pd1", "brooks", "mdt-2a14", "2A14", "officer");
	mk_caller(&sam, "pd1", "sam", "console-sup", NULL, "supervisor");
	mk_caller(&svc, "pd1", "cad", "cad-svc", NULL, "service");
	mk_caller(&aud, "pd1", "audrey", "console-aud", NULL, "auditor");
	mk_caller(&eve, "pd2", "eve", "console-eve", NULL, "dispatcher");
}

static void teardown(void)
{
	tf_db_close(srv.db);
	tf_schema_free(schema);
	rm_dir(dir);
}

/* ------------------------------------------------------------ commands */

static void new_uuid(char out[TF_UUID_LEN + 1])
{
	uint8_t rnd[10];

	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	tf_uuid7(T0, rnd, out);
}

/* Per-device next seq (the tests' own bookkeeping). */
typedef struct devseq {
	const tf_srv_caller *c;
	uint64_t next;
} devseq;
static devseq seqs[16];

static uint64_t next_seq(const tf_srv_caller *c)
{
	size_t i;

	for (i = 0; i < 15 && seqs[i].c; i++)
		if (seqs[i].c == c)
			return ++seqs[i].next;
	seqs[i].c = c; /* at most 15 devices in this program */
	seqs[i].next = 1;
	return 1;
}

/* A command's wire JSON; hlc 0 = the next test stamp. */
static void cmd_json(char *out, size_t n, const tf_srv_caller *c,
		     const char *user, uint64_t seq, const char *cmd_id,
		     tf_hlc hlc, const char *entity, const char *record_id,
		     const char *op, const char *args)
{
	char h[TF_HLC_TEXT_LEN + 1];

	if (hlc == 0)
		hlc = TF_HLC_MAKE(++hlc_ms, 0);
	tf_hlc_format(hlc, h);
	snprintf(out, n,
		 "{\"args\":%s,\"base\":0,\"cmd_id\":\"%s\",\"device\":\"%s\","
		 "\"entity\":\"%s\",\"hlc\":\"%s\",\"op\":\"%s\","
		 "\"record_id\":\"%s\",\"seq\":%llu,\"user\":\"%s\"}",
		 args, cmd_id, c->device.id, entity, h, op, record_id,
		 (unsigned long long)seq, user ? user : c->user.id);
}

static char *body_of(const tf_srv_caller *c, const char *const *cmds, size_t n)
{
	tf_buf b;
	size_t i;

	tf_buf_init(&b);
	tf_buf_puts(&b, "{\"commands\":[");
	for (i = 0; i < n; i++) {
		if (i)
			tf_buf_putc(&b, ',');
		tf_buf_puts(&b, cmds[i]);
	}
	tf_buf_printf(&b,
		      "],\"device_id\":\"%s\",\"protocol_version\":1,"
		      "\"schema_version\":1}",
		      c->device.id);
	return tf_buf_take(&b, NULL);
}

/*
 * sync.c writes pages and replies itself (stored record bytes spliced,
 * stored result bytes reused): they must be byte for byte what the core's
 * encoders write for the same message.  Decoding then encoding gives the
 * encoder's bytes.
 */
static int same_as_pull_encoder(const char *page, size_t len)
{
	tf_pull_page p;
	tf_buf b;
	tf_err e;
	int same;

	tf_buf_init(&b);
	if (tf_pull_page_decode(page, len, schema, NULL, &p, &e) != 0)
		return 0;
	same = tf_pull_page_encode(&p, &b) == 0 && b.len == len &&
	       memcmp(b.data, page, len) == 0;
	tf_pull_page_clear(&p);
	tf_buf_free(&b);
	return same;
}

static int same_as_push_encoder(const char *reply, size_t len)
{
	tf_push_reply r;
	tf_buf b;
	tf_err e;
	int same;

	tf_buf_init(&b);
	if (tf_push_reply_decode(reply, len, NULL, &r, &e) != 0)
		return 0;
	same = tf_push_reply_encode(&r, &b) == 0 && b.len == len &&
	       memcmp(b.data, reply, len) == 0;
	tf_push_reply_clear(&r);
	tf_buf_free(&b);
	return same;
}

/* Pushes raw command JSONs; decodes the reply into rep. */
static int push_raw(const tf_srv_caller *c, int64_t now,
		    const char *const *cmds, size_t n, tf_push_reply *rep,
		    tf_err *e)
{
	char *body = body_of(c, cmds, n);
	tf_buf out;
	int rc;

	tf_buf_init(&out);
	memset(rep, 0, sizeof *rep);
	rc = tf_sync_push(&srv, c, now, body, strlen(body), &out, e);
	if (rc == 0)
		CHECK(same_as_push_encoder(out.data, out.len));
	if (rc == 0)
		rc = tf_push_reply_decode(out.data, out.len, NULL, rep, e);
	tf_buf_free(&out);
	free(body);
	return rc;
}

/*
 * Pushes one command (next seq of the caller, fresh cmd id unless given)
 * and returns its result status; res (may be NULL) gets a copy of the
 * result without detail.  cmd_out gets the command id.
 */
static tf_status push1(const tf_srv_caller *c, const char *user,
		       const char *entity, const char *record_id,
		       const char *op, const char *args, char *cmd_out,
		       tf_cmd_result *res)
{
	char cmd[8192], id[TF_UUID_LEN + 1];
	const char *one[1] = {cmd};
	tf_push_reply rep;
	tf_status st = 0;
	tf_err e;

	new_uuid(id);
	if (cmd_out)
		memcpy(cmd_out, id, sizeof id);
	cmd_json(cmd, sizeof cmd, c, user, next_seq(c), id, 0, entity,
		 record_id, op, args);
	if (push_raw(c, T0 + MIN, one, 1, &rep, &e) != 0) {
		fprintf(stderr, "push failed: %s\n", e.msg);
		return 0;
	}
	if (rep.nresults == 1) {
		st = rep.results[0].status;
		if (res) {
			*res = rep.results[0];
			res->detail = NULL;
		}
	}
	tf_push_reply_clear(&rep);
	return st;
}

/* ------------------------------------------------------------ readers */

typedef struct rec_ctx {
	const char *agency, *id;
	char *state;
	size_t len;
} rec_ctx;

static int get_rec(tf_db_txn *t, void *arg, tf_err *err)
{
	rec_ctx *r = arg;
	tf_db_record row;
	int rc;

	memset(&row, 0, sizeof row);
	rc = t->ops->record_get(t, r->agency, r->id, &row, err);
	if (rc == 0) {
		r->state = row.state;
		r->len = row.state_len;
	}
	return rc;
}

/* The stored state of a record (caller frees), NULL when absent. */
static char *server_state(const char *agency, const char *id)
{
	rec_ctx r = {agency, id, NULL, 0};
	tf_err e;

	if (tf_db_read(srv.db, get_rec, &r, &e) != 0)
		return NULL;
	return r.state;
}

typedef struct last_ctx {
	const tf_srv_caller *c;
	uint64_t last;
} last_ctx;

static int get_last(tf_db_txn *t, void *arg, tf_err *err)
{
	last_ctx *l = arg;

	return t->ops->ledger_last(t, l->c->user.agency, l->c->device.id,
				   &l->last, err);
}

static uint64_t ledger_last(const tf_srv_caller *c)
{
	last_ctx l = {c, 0};
	tf_err e;

	tf_db_read(srv.db, get_last, &l, &e);
	return l.last;
}

/* The server audit log as an array of parsed entries. */
static int audit_row(void *arg, const tf_db_audit *a)
{
	tf_json *arr = arg, *ent = NULL;

	if (tf_json_parse(a->bytes, a->len, NULL, &ent, NULL))
		return TF_EINVAL;
	return tf_json_array_push(arr, ent);
}

static int scan_audit(tf_db_txn *t, void *arg, tf_err *err)
{
	/* every chain: pd1's, pd2's and the system's */
	int rc = t->ops->audit_scan(t, "pd1", 1, 0, audit_row, arg, err);

	if (rc == 0)
		rc = t->ops->audit_scan(t, "pd2", 1, 0, audit_row, arg, err);
	return rc ? rc : t->ops->audit_scan(t, "", 1, 0, audit_row, arg, err);
}

static tf_json *audit_all(void)
{
	tf_json *arr = tf_json_array();
	tf_err e;

	if (tf_db_read(srv.db, scan_audit, arr, &e) != 0) {
		tf_json_free(arr);
		return NULL;
	}
	return arr;
}

/* The last audit entry naming cmd_id (borrowed from arr), or NULL. */
static const tf_json *audit_for(const tf_json *arr, const char *cmd_id)
{
	size_t i;

	for (i = arr ? arr->len : 0; i > 0; i--) {
		const tf_json *w =
			tf_json_object_get(arr->u.items[i - 1], "what");
		const char *id = tf_json_get_str(w, "cmd_id", NULL);
		if (id && strcmp(id, cmd_id) == 0)
			return arr->u.items[i - 1];
	}
	return NULL;
}

static size_t audit_count(void)
{
	tf_json *arr = audit_all();
	size_t n = arr ? arr->len : 0;

	tf_json_free(arr);
	return n;
}

/* Pulls one page; returns the rc, page decoded into p. */
static int pull(const tf_srv_caller *c, const char *cursor, size_t limit,
		tf_pull_page *p, uint64_t *head, int *empty, tf_err *e)
{
	tf_buf out;
	int rc;

	tf_buf_init(&out);
	memset(p, 0, sizeof *p);
	rc = tf_sync_pull(&srv, c, T0 + MIN, cursor, limit, &out, head, empty,
			  e);
	if (rc == 0)
		CHECK(same_as_pull_encoder(out.data, out.len));
	if (rc == 0)
		rc = tf_pull_page_decode(out.data, out.len, schema, NULL, p, e);
	tf_buf_free(&out);
	return rc;
}

/* Pulls every page from cursor; returns the final cursor (malloc'd) and
   counts records in *nrec, purged in *npur; 1 when id was in records. */
static char *pull_all(const tf_srv_caller *c, const char *cursor, size_t limit,
		      size_t *nrec, size_t *npur)
{
	char *cur = strdup(cursor ? cursor : "");
	tf_pull_page p;
	size_t guard;
	tf_err e;

	*nrec = *npur = 0;
	for (guard = 0; guard < 1000; guard++) {
		if (pull(c, cur, limit, &p, NULL, NULL, &e) != 0) {
			fprintf(stderr, "pull: %s\n", e.msg);
			break;
		}
		*nrec += p.nrecords;
		*npur += p.npurged;
		free(cur);
		cur = strdup(p.cursor);
		if (!p.has_more) {
			tf_pull_page_clear(&p);
			break;
		}
		tf_pull_page_clear(&p);
	}
	return cur;
}

static int page_has_record(const tf_pull_page *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->nrecords; i++)
		if (strcmp(tf_record_id(p->records[i]), id) == 0)
			return 1;
	return 0;
}

static int page_has_purged(const tf_pull_page *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->npurged; i++)
		if (strcmp(p->purged[i], id) == 0)
			return 1;
	return 0;
}

/* Creates an incident assigned to `unit` (NULL: none) as c; returns st. */
static tf_status mk_incident(const tf_srv_caller *c, const char *unit,
			     char id[TF_UUID_LEN + 1], char *cmd_out)
{
	char args[256];

	new_uuid(id);
	if (unit)
		snprintf(args, sizeof args,
			 "{\"fields\":{\"assigned_units\":[\"%s\"],"
			 "\"priority\":2,\"remarks\":\"caller on scene\"}}",
			 unit);
	else
		snprintf(args, sizeof args,
			 "{\"fields\":{\"priority\":2,\"remarks\":\"caller on "
			 "scene\"}}");
	return push1(c, NULL, "incident", id, "create", args, cmd_out, NULL);
}

/* ------------------------------------------------------------ ledger */

TEST(test_push_applied_and_replay)
{
	char cmd[1024], id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1];
	const char *one[1] = {cmd};
	tf_push_reply r1, r2;
	uint64_t seq = next_seq(&dana);
	unsigned calls = notify_calls;
	size_t before;
	tf_err e;

	new_uuid(id);
	new_uuid(cid);
	cmd_json(cmd, sizeof cmd, &dana, NULL, seq, cid, 0, "incident", id,
		 "create", "{\"fields\":{\"priority\":3}}");
	CHECK_INT(push_raw(&dana, T0, one, 1, &r1, &e), 0);
	CHECK_INT(r1.nresults, 1);
	CHECK_INT(r1.results[0].status, TF_ST_APPLIED);
	CHECK_INT(r1.ack, seq);
	CHECK_INT(r1.server_time, T0);
	CHECK_INT(notify_calls, calls + 1);
	CHECK_STR(notify_agency, "pd1");
	CHECK(notify_chg > 0);
	{
		tf_json *log = audit_all();
		const tf_json *ent = audit_for(log, cid);
		CHECK(ent != NULL);
		CHECK_STR(tf_json_get_str(ent, "type", NULL), "create");
		CHECK_STR(tf_json_get_str(ent, "outcome", NULL), "success");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "detail"),
					  "status", NULL),
			  "applied");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "actor"),
					  "device", NULL),
			  "console-dana");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "what"),
					  "record_id", NULL),
			  id);
		tf_json_free(log);
	}
	before = audit_count();
	/* The same request again: the stored result as a duplicate. */
	CHECK_INT(push_raw(&dana, T0 + 5, one, 1, &r2, &e), 0);
	CHECK_INT(r2.nresults, 1);
	CHECK_INT(r2.results[0].status, TF_ST_DUPLICATE);
	CHECK_STR(r2.results[0].cmd_id, cid);
	CHECK_INT(r2.ack, seq);
	CHECK_INT(audit_count(), before); /* replays are not audited */
	CHECK_INT(notify_calls, calls + 1);
	tf_push_reply_clear(&r1);
	tf_push_reply_clear(&r2);
	{
		char *st = server_state("pd1", id);
		CHECK(st != NULL && strstr(st, "\"ver\":1") != NULL);
		free(st);
	}
}

typedef struct hash_ctx {
	const char *agency, *cmd_id;
	char req_hash[TF_DB_HASH_HEX + 1];
} hash_ctx;

static int get_req_hash(tf_db_txn *t, void *arg, tf_err *err)
{
	hash_ctx *h = arg;
	tf_db_ledger l;
	int rc;

	memset(&l, 0, sizeof l);
	rc = t->ops->ledger_get_cmd(t, h->agency, h->cmd_id, &l, err);
	if (rc == 0)
		snprintf(h->req_hash, sizeof h->req_hash, "%s", l.req_hash);
	tf_db_ledger_clear(&l);
	return rc;
}

/* The request hash as first defined: the command's tree without "hlc". */
static void tree_hash(const char *cmd, char out[TF_DB_HASH_HEX + 1])
{
	uint8_t h[TF_SHA256_LEN];
	tf_json *j = NULL, *w = NULL;
	tf_command c;
	tf_buf b;
	tf_err e;

	out[0] = '\0';
	memset(&c, 0, sizeof c);
	tf_buf_init(&b);
	if (tf_json_parse(cmd, strlen(cmd), NULL, &j, &e) == 0 &&
	    tf_command_from_json(j, &c, &e) == 0 &&
	    tf_command_to_json(&c, &w) == 0) {
		tf_json_free(tf_json_object_take(w, "hlc"));
		if (tf_json_write(w, &b) == 0 &&
		    tf_sha256(b.data, b.len, h) == 0)
			tf_hex_encode(h, sizeof h, out);
	}
	tf_json_free(w);
	tf_json_free(j);
	tf_command_clear(&c);
	tf_buf_free(&b);
}

/*
 * The ledger's request hash stays what it was (ledgers written before
 * keep replaying), including for args that hold the same "hlc" member
 * text as the envelope and for escapes.
 */
TEST(test_request_hash_stable)
{
	char cmd[2048], args[512], h[TF_HLC_TEXT_LEN + 1];
	char id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1],
		want[TF_DB_HASH_HEX + 1];
	const char *one[1] = {cmd};
	tf_hlc hlc = TF_HLC_MAKE(++hlc_ms, 3);
	hash_ctx hc;
	tf_push_reply rep;
	tf_err e;

	tf_hlc_format(hlc, h);
	new_uuid(id);
	new_uuid(cid);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"remarks\":\"x\\\",\\\"hlc\\\":\\\"%s\\\" "
		 "\\u00e9 \\\\ \\n\"}}",
		 h);
	cmd_json(cmd, sizeof cmd, &dana, NULL, next_seq(&dana), cid, hlc,
		 "incident", id, "create", args);
	CHECK_INT(push_raw(&dana, T0 + MIN, one, 1, &rep, &e), 0);
	CHECK_INT(rep.nresults, 1);
	CHECK_INT(rep.results[0].status, TF_ST_APPLIED);
	tf_push_reply_clear(&rep);
	tree_hash(cmd, want);
	CHECK(want[0] != '\0');
	hc.agency = "pd1";
	hc.cmd_id = cid;
	CHECK_INT(tf_db_read(srv.db, get_req_hash, &hc, &e), 0);
	CHECK_STR(hc.req_hash, want);
	/* The same member, unescaped, as an args key (a rejected command,
	   whose ledger row holds the hash all the same). */
	new_uuid(cid);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"remarks\":\"y\"},\"hlc\":\"%s\"}", h);
	cmd_json(cmd, sizeof cmd, &dana, NULL, next_seq(&dana), cid, hlc,
		 "incident", id, "set", args);
	CHECK(strstr(cmd, ",\"hlc\":\"") != NULL);
	CHECK_INT(push_raw(&dana, T0 + MIN, one, 1, &rep, &e), 0);
	CHECK_INT(rep.nresults, 1);
	CHECK_INT(rep.results[0].status, TF_ST_REJECTED);
	tf_push_reply_clear(&rep);
	tree_hash(cmd, want);
	CHECK(want[0] != '\0');
	hc.cmd_id = cid;
	CHECK_INT(tf_db_read(srv.db, get_req_hash, &hc, &e), 0);
	CHECK_STR(hc.req_hash, want);
}

/*
 * Several commands of one push on the same record: each sees the state
 * the earlier ones left (the push keeps records in memory and writes
 * each once); a create refused for scope leaves no record behind for the
 * commands after it; a replay of the batch gives the same results.
 */
TEST(test_push_same_record_batch)
{
	char c[6][1024], ids[6][TF_UUID_LEN + 1], r1[TF_UUID_LEN + 1];
	char r2[TF_UUID_LEN + 1], *st;
	const char *cmds[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
	tf_push_reply rep, again;
	tf_json *j = NULL;
	size_t i, before = audit_count();
	uint64_t s0;
	tf_err e;

	new_uuid(r1);
	new_uuid(r2);
	for (i = 0; i < 6; i++)
		new_uuid(ids[i]);
	s0 = next_seq(&alvarez);
	/* r1: create in scope, set, append, set. */
	cmd_json(c[0], sizeof c[0], &alvarez, NULL, s0, ids[0], 0, "incident",
		 r1, "create",
		 "{\"fields\":{\"assigned_units\":[\"2A12\"],\"priority\":3}}");
	cmd_json(c[1], sizeof c[1], &alvarez, NULL, s0 + 1, ids[1], 0,
		 "incident", r1, "set", "{\"fields\":{\"priority\":1}}");
	cmd_json(c[2], sizeof c[2], &alvarez, NULL, s0 + 2, ids[2], 0,
		 "incident", r1, "append",
		 "{\"body\":{\"kind\":\"update\",\"text\":\"on scene\"},"
		 "\"field\":\"notes\"}");
	/* r2: a create outside alvarez's scope, a set on it, then the
	   create in scope. */
	cmd_json(c[3], sizeof c[3], &alvarez, NULL, s0 + 3, ids[3], 0,
		 "incident", r2, "create",
		 "{\"fields\":{\"assigned_units\":[\"2A14\"]}}");
	cmd_json(c[4], sizeof c[4], &alvarez, NULL, s0 + 4, ids[4], 0,
		 "incident", r2, "set", "{\"fields\":{\"priority\":2}}");
	cmd_json(c[5], sizeof c[5], &alvarez, NULL, s0 + 5, ids[5], 0,
		 "incident", r2, "create",
		 "{\"fields\":{\"assigned_units\":[\"2A12\"],\"priority\":4}}");
	next_seq(&alvarez);
	next_seq(&alvarez);
	next_seq(&alvarez);
	next_seq(&alvarez);
	next_seq(&alvarez);
	CHECK_INT(push_raw(&alvarez, T0 + MIN, cmds, 6, &rep, &e), 0);
	CHECK_INT(rep.nresults, 6);
	CHECK_INT(rep.ack, s0 + 5);
	CHECK_INT(rep.results[0].status, TF_ST_APPLIED);
	CHECK_INT(rep.results[1].status, TF_ST_APPLIED);
	CHECK_INT(rep.results[2].status, TF_ST_APPLIED);
	CHECK_INT(rep.results[3].status, TF_ST_REJECTED);
	CHECK_INT(rep.results[3].code, TF_EPERM);
	CHECK_INT(rep.results[4].status, TF_ST_REJECTED);
	CHECK_INT(rep.results[5].status, TF_ST_APPLIED);
	/* One audit entry per command. */
	CHECK_INT(audit_count(), before + 6);
	st = server_state("pd1", r1);
	CHECK(st != NULL && tf_json_parse(st, strlen(st), NULL, &j, &e) == 0);
	CHECK_INT(tf_record_ver(j), 3);
	{
		int64_t pr = 0;
		CHECK_INT(tf_json_int64(tf_record_value(j, "priority"), &pr),
			  0);
		CHECK_INT(pr, 1);
		CHECK(strstr(st, "on scene") != NULL);
	}
	tf_json_free(j);
	free(st);
	st = server_state("pd1", r2);
	CHECK(st != NULL && strstr(st, "2A12") != NULL &&
	      strstr(st, "2A14") == NULL && strstr(st, "\"ver\":1") != NULL);
	free(st);
	/* The batch again: the stored results, as duplicates. */
	CHECK_INT(push_raw(&alvarez, T0 + 2 * MIN, cmds, 6, &again, &e), 0);
	CHECK_INT(again.nresults, 6);
	for (i = 0; i < 6 && i < again.nresults; i++) {
		CHECK_STR(again.results[i].cmd_id, ids[i]);
		CHECK_INT(again.results[i].status,
			  rep.results[i].status == TF_ST_APPLIED
				  ? TF_ST_DUPLICATE
				  : TF_ST_REJECTED);
	}
	CHECK_INT(audit_count(), before + 6);
	tf_push_reply_clear(&again);
	tf_push_reply_clear(&rep);
}

TEST(test_push_rejection_replayed)
{
	char cmd[1024], id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1];
	const char *one[1] = {cmd};
	tf_push_reply r1, r2;
	uint64_t seq = next_seq(&dana);
	tf_err e;

	new_uuid(id);
	new_uuid(cid);
	cmd_json(cmd, sizeof cmd, &dana, NULL, seq, cid, 0, "incident", id,
		 "create", "{\"fields\":{\"priority\":9}}");
	CHECK_INT(push_raw(&dana, T0, one, 1, &r1, &e), 0);
	CHECK_INT(r1.nresults, 1);
	CHECK_INT(r1.results[0].status, TF_ST_REJECTED);
	CHECK_INT(r1.results[0].code, TF_ERANGE);
	CHECK_STR(r1.results[0].field, "priority");
	CHECK_INT(r1.ack, seq); /* a rejection advances last */
	CHECK(server_state("pd1", id) == NULL);
	CHECK_INT(push_raw(&dana, T0, one, 1, &r2, &e), 0);
	CHECK_INT(r2.nresults, 1);
	CHECK_INT(r2.results[0].status, TF_ST_REJECTED);
	CHECK_INT(r2.results[0].code, r1.results[0].code);
	CHECK_STR(r2.results[0].message, r1.results[0].message);
	CHECK_STR(r2.results[0].field, r1.results[0].field);
	tf_push_reply_clear(&r1);
	tf_push_reply_clear(&r2);
}

TEST(test_push_gap_stops)
{
	char c1[1024], c2[1024], id1[TF_UUID_LEN + 1], id2[TF_UUID_LEN + 1];
	char k1[TF_UUID_LEN + 1], k2[TF_UUID_LEN + 1];
	const char *two[2] = {c1, c2};
	const char *gap[1] = {c2};
	tf_push_reply r;
	uint64_t seq = next_seq(&brooks);
	tf_err e;

	new_uuid(id1);
	new_uuid(id2);
	new_uuid(k1);
	new_uuid(k2);
	cmd_json(c1, sizeof c1, &brooks, NULL, seq, k1, 0, "report", id1,
		 "create", "{\"fields\":{\"author\":\"brooks\"}}");
	cmd_json(c2, sizeof c2, &brooks, NULL, seq + 2, k2, 0, "report", id2,
		 "create", "{\"fields\":{\"author\":\"brooks\"}}");
	/* Only the gap: nothing, ack unchanged. */
	CHECK_INT(push_raw(&brooks, T0, gap, 1, &r, &e), 0);
	CHECK_INT(r.nresults, 0);
	CHECK_INT(r.ack, seq - 1);
	tf_push_reply_clear(&r);
	/* The contiguous one applies, the batch stops at the gap. */
	CHECK_INT(push_raw(&brooks, T0, two, 2, &r, &e), 0);
	CHECK_INT(r.nresults, 1);
	CHECK_INT(r.results[0].status, TF_ST_APPLIED);
	CHECK_INT(r.ack, seq);
	tf_push_reply_clear(&r);
	CHECK(server_state("pd1", id2) == NULL);
}

TEST(test_push_cmd_id_reused)
{
	char a[1024], b[1024], id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1];
	char other[TF_UUID_LEN + 1];
	const char *one[1] = {a}, *oneb[1] = {b};
	tf_push_reply r;
	uint64_t seq = next_seq(&dana), last;
	tf_err e;

	new_uuid(id);
	new_uuid(cid);
	new_uuid(other);
	cmd_json(a, sizeof a, &dana, NULL, seq, cid, 0, "incident", id,
		 "create", "{\"fields\":{\"priority\":1}}");
	CHECK_INT(push_raw(&dana, T0, one, 1, &r, &e), 0);
	CHECK_INT(r.results[0].status, TF_ST_APPLIED);
	tf_push_reply_clear(&r);
	last = ledger_last(&dana);

	/* Same seq, another cmd_id: refused, nothing stored. */
	cmd_json(b, sizeof b, &dana, NULL, seq, other, 0, "incident", id, "set",
		 "{\"fields\":{\"priority\":4}}");
	CHECK_INT(push_raw(&dana, T0, oneb, 1, &r, &e), 0);
	CHECK_INT(r.nresults, 1);
	CHECK_INT(r.results[0].status, TF_ST_REJECTED);
	CHECK_INT(r.results[0].code, TF_EHASH);
	CHECK(strstr(r.results[0].message, cid) != NULL);
	CHECK_INT(r.ack, last);
	tf_push_reply_clear(&r);

	/* Same seq and cmd_id, other content: refused. */
	cmd_json(b, sizeof b, &dana, NULL, seq, cid, 0, "incident", id,
		 "create", "{\"fields\":{\"priority\":5}}");
	CHECK_INT(push_raw(&dana, T0, oneb, 1, &r, &e), 0);
	CHECK_INT(r.results[0].status, TF_ST_REJECTED);
	CHECK_INT(r.results[0].code, TF_EHASH);
	CHECK_STR(r.results[0].message, "cmd_id reused for another request");
	CHECK_INT(r.ack, last);
	tf_push_reply_clear(&r);

	/* A new seq with a used cmd_id: a stored rejection (last moves). */
	seq = next_seq(&dana);
	cmd_json(b, sizeof b, &dana, NULL, seq, cid, 0, "incident", id, "set",
		 "{\"fields\":{\"priority\":4}}");
	CHECK_INT(push_raw(&dana, T0, oneb, 1, &r, &e), 0);
	CHECK_INT(r.results[0].status, TF_ST_REJECTED);
	CHECK_INT(r.results[0].code, TF_EHASH);
	CHECK_STR(r.results[0].message, "cmd_id already used");
	CHECK_INT(r.ack, seq);
	tf_push_reply_clear(&r);
	/* ... and its replay is the same rejection. */
	CHECK_INT(push_raw(&dana, T0, oneb, 1, &r, &e), 0);
	CHECK_INT(r.nresults, 1);
	CHECK_INT(r.results[0].status, TF_ST_REJECTED);
	CHECK_STR(r.results[0].message, "cmd_id already used");
	CHECK_STR(r.results[0].cmd_id, cid);
	tf_push_reply_clear(&r);
	{
		char *st = server_state("pd1", id);
		CHECK(st && strstr(st, "\"v\":1") != NULL); /* priority kept */
		free(st);
	}
}

TEST(test_push_clock_skew_and_restamp)
{
	char a[1024], b[1024], late[1024], id[TF_UUID_LEN + 1];
	char k1[TF_UUID_LEN + 1], k2[TF_UUID_LEN + 1];
	const char *two[2] = {a, b}, *onea[1] = {a}, *onel[1] = {late};
	int64_t now = T0 + 10 * MIN;
	tf_push_reply r;
	uint64_t seq = next_seq(&alvarez);
	size_t before = audit_count();
	tf_err e;

	new_uuid(id);
	new_uuid(k1);
	new_uuid(k2);
	/* Stamped 2 minutes ahead of the server. */
	cmd_json(late, sizeof late, &alvarez, NULL, seq, k1,
		 TF_HLC_MAKE(now + 2 * MIN, 0), "report", id, "create",
		 "{\"fields\":{\"author\":\"alvarez\"}}");
	cmd_json(b, sizeof b, &alvarez, NULL, seq + 1, k2, TF_HLC_MAKE(now, 1),
		 "report", id, "set",
		 "{\"fields\":{\"status\":\"submitted\"}}");
	memcpy(a, late, sizeof late);
	CHECK_INT(push_raw(&alvarez, now, two, 2, &r, &e), 0);
	CHECK_INT(r.nresults, 1); /* the batch stops */
	CHECK_INT(r.results[0].status, TF_ST_CLOCK_SKEW);
	CHECK_INT(r.results[0].code, TF_ECLOCKSKEW);
	CHECK_INT(r.results[0].server_time, now);
	CHECK_INT(r.ack, seq - 1); /* last did not move */
	tf_push_reply_clear(&r);
	CHECK_INT(audit_count(), before + 1); /* audited as a failure */
	{
		tf_json *log = audit_all();
		const tf_json *ent = audit_for(log, k1);
		CHECK(ent != NULL);
		CHECK_STR(tf_json_get_str(ent, "outcome", NULL), "failure");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "detail"),
					  "code", NULL),
			  "clock_skew");
		tf_json_free(log);
	}
	/* Re-stamped (same cmd_id and seq, new hlc): applied. */
	cmd_json(a, sizeof a, &alvarez, NULL, seq, k1, TF_HLC_MAKE(now, 0),
		 "report", id, "create",
		 "{\"fields\":{\"author\":\"alvarez\"}}");
	CHECK_INT(push_raw(&alvarez, now, onea, 1, &r, &e), 0);
	CHECK_INT(r.results[0].status, TF_ST_APPLIED);
	CHECK_INT(r.ack, seq);
	tf_push_reply_clear(&r);
	/* A late copy of the pre-re-stamp request: the same request (the
	   hash leaves out hlc), so a duplicate, not cmd_id_reused. */
	CHECK_INT(push_raw(&alvarez, now, onel, 1, &r, &e), 0);
	CHECK_INT(r.nresults, 1);
	CHECK_INT(r.results[0].status, TF_ST_DUPLICATE);
	tf_push_reply_clear(&r);
}

TEST(test_push_refused_requests)
{
	char cmd[1024], id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1], *body;
	tf_buf out;
	uint64_t last = ledger_last(&dana);
	size_t before = audit_count();
	tf_err e;

	tf_buf_init(&out);
	new_uuid(id);
	new_uuid(cid);
	cmd_json(cmd, sizeof cmd, &dana, NULL, last + 1, cid, 0, "incident", id,
		 "create", "{\"fields\":{\"priority\":3}}");
	{
		const char *one[1] = {cmd};
		body = body_of(&dana, one, 1);
	}
	/* Another device's session. */
	CHECK_INT(tf_sync_push(&srv, &brooks, T0, body, strlen(body), &out, &e),
		  TF_EPERM);
	CHECK_STR(e.where, "device_id");
	/* Malformed envelope: refused whole. */
	CHECK(tf_sync_push(&srv, &dana, T0, body, strlen(body) - 1, &out, &e) <
	      0);
	CHECK(tf_sync_push(&srv, &dana, T0, "{}", 2, &out, &e) < 0);
	free(body);
	body = strdup("{\"commands\":[],\"device_id\":\"console-dana\","
		      "\"protocol_version\":1,\"schema_version\":7}");
	CHECK_INT(tf_sync_push(&srv, &dana, T0, body, strlen(body), &out, &e),
		  TF_EVERSION);
	free(body);
	CHECK_INT(out.len, 0);
	CHECK_INT(ledger_last(&dana), last);
	CHECK(server_state("pd1", id) == NULL);
	CHECK_INT(audit_count(), before);
	tf_buf_free(&out);
}

/* ------------------------------------------------------------ ACL */

TEST(test_acl_rules)
{
	char inc[TF_UUID_LEN + 1], rep[TF_UUID_LEN + 1], unit[TF_UUID_LEN + 1];
	char bolo[TF_UUID_LEN + 1], id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1];
	tf_cmd_result res;
	char args[256];

	/* Wrong user in the command. */
	new_uuid(id);
	CHECK_INT(push1(&alvarez, "brooks", "unit", id, "create",
			"{\"fields\":{\"status\":\"available\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.field, "user");
	CHECK_STR(res.message, "command by brooks sent in alvarez's session");

	/* A role without write right on the entity (auditor). */
	new_uuid(id);
	CHECK_INT(push1(&aud, NULL, "incident", id, "create",
			"{\"fields\":{\"priority\":2}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.field, "priority");
	/* ... and on one field (bolo.status: dispatcher, supervisor). */
	CHECK_INT(push1(&dana, NULL, "bolo", (new_uuid(bolo), bolo), "create",
			"{\"fields\":{\"kind\":\"vehicle\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "bolo", bolo, "set",
			"{\"fields\":{\"status\":\"cancelled\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.field, "status");
	CHECK_INT(push1(&dana, NULL, "bolo", bolo, "set",
			"{\"fields\":{\"status\":\"active\"}}", NULL, NULL),
		  TF_ST_APPLIED);

	/* An officer on an incident not assigned to his unit. */
	CHECK_INT(mk_incident(&dana, "2A14", inc, NULL), TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "incident", inc, "set",
			"{\"fields\":{\"priority\":1}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK(strstr(res.message, "scope") != NULL);
	CHECK(strstr(res.message, "caller") == NULL); /* no content */
	CHECK_INT(push1(&brooks, NULL, "incident", inc, "set",
			"{\"fields\":{\"priority\":1}}", NULL, NULL),
		  TF_ST_APPLIED);

	/* ref_set: only service accounts. */
	new_uuid(unit);
	CHECK_INT(push1(&dana, NULL, "unit", unit, "create",
			"{\"fields\":{\"status\":\"available\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"fetched_at\":%lld,\"ttl\":"
		 "86400000,\"v\":\"2A12\"}}}",
		 (long long)T0);
	CHECK_INT(push1(&dana, NULL, "unit", unit, "ref_set", args, NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_INT(push1(&svc, NULL, "unit", unit, "ref_set", args, NULL, &res),
		  TF_ST_APPLIED);

	/* Report approval: supervisors only. */
	new_uuid(rep);
	CHECK_INT(push1(&alvarez, NULL, "report", rep, "create",
			"{\"fields\":{\"author\":\"alvarez\",\"status\":"
			"\"draft\"}}",
			NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "report", rep, "set",
			"{\"fields\":{\"status\":\"submitted\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "report", rep, "set",
			"{\"fields\":{\"status\":\"approved\"}}", cid, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.field, "status");
	CHECK_INT(push1(&sam, NULL, "report", rep, "set",
			"{\"fields\":{\"status\":\"approved\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	{
		tf_json *log = audit_all();
		const tf_json *ent = audit_for(log, cid);
		CHECK(ent != NULL);
		CHECK_STR(tf_json_get_str(ent, "type", NULL), "modify");
		CHECK_STR(tf_json_get_str(ent, "outcome", NULL), "failure");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "what"),
					  "field", NULL),
			  "status");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "actor"),
					  "role", NULL),
			  "officer");
		CHECK_STR(tf_json_get_str(ent, "where", NULL),
			  "tenfourd POST /v1/sync/push");
		CHECK_STR(tf_json_get_str(ent, "source", NULL), "127.0.0.1");
		tf_json_free(log);
	}

	/* Create outside one's scope: refused, nothing stored. */
	CHECK_INT(mk_incident(&alvarez, "2A14", id, NULL), TF_ST_REJECTED);
	CHECK(server_state("pd1", id) == NULL);
	new_uuid(id);
	CHECK_INT(push1(&alvarez, NULL, "report", id, "create",
			"{\"fields\":{\"author\":\"brooks\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.message, "would create a record outside your scope");
	CHECK(server_state("pd1", id) == NULL);
}

/* A unit created by dana, its callsign set by the service (NULL: none). */
static void mk_unit(const char *callsign, char id[TF_UUID_LEN + 1])
{
	char args[256];

	new_uuid(id);
	CHECK_INT(push1(&dana, NULL, "unit", id, "create",
			"{\"fields\":{\"status\":\"available\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	if (callsign == NULL)
		return;
	snprintf(args, sizeof args,
		 "{\"fields\":{\"callsign\":{\"fetched_at\":%lld,\"ttl\":"
		 "86400000,\"v\":\"%s\"}}}",
		 (long long)T0, callsign);
	CHECK_INT(push1(&svc, NULL, "unit", id, "ref_set", args, NULL, NULL),
		  TF_ST_APPLIED);
}

/*
 * AC-6: an officer writes only the unit whose callsign is his user.unit
 * (status, position, crew) and creates none; the refusal is a stored,
 * audited permission_denied that changes nothing.  Dispatchers, and an
 * officer who is also a dispatcher, write any unit.
 */
TEST(test_acl_officer_own_unit)
{
	char u12[TF_UUID_LEN + 1], u14[TF_UUID_LEN + 1], bare[TF_UUID_LEN + 1];
	char id[TF_UUID_LEN + 1], cid[TF_UUID_LEN + 1], *before, *after;
	tf_srv_caller nounit, both;
	tf_cmd_result res;
	uint64_t last;

	mk_unit("2A12", u12);
	mk_unit("2A14", u14);
	mk_unit(NULL, bare);
	/* His own unit: status, position, crew. */
	CHECK_INT(push1(&alvarez, NULL, "unit", u12, "set",
			"{\"fields\":{\"status\":\"enroute\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "unit", u12, "set",
			"{\"fields\":{\"position\":{\"lat\":39.96,\"lng\":"
			"-83.0,\"ts\":1764000000000}}}",
			NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "unit", u12, "set_add",
			"{\"field\":\"crew\",\"value\":\"alvarez\"}", NULL,
			NULL),
		  TF_ST_APPLIED);
	/* Another officer's unit: refused, stored, audited, unchanged. */
	before = server_state("pd1", u12);
	last = ledger_last(&brooks);
	CHECK_INT(push1(&brooks, NULL, "unit", u12, "set",
			"{\"fields\":{\"status\":\"out_of_service\"}}", cid,
			&res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.field, "callsign");
	CHECK_STR(res.message, "unit 2A12 is not your unit (2A14): the role "
			       "officer writes only its own unit");
	CHECK_INT(ledger_last(&brooks), last + 1);
	{
		tf_json *log = audit_all();
		const tf_json *ent = audit_for(log, cid);
		CHECK(ent != NULL);
		CHECK_STR(tf_json_get_str(ent, "type", NULL), "modify");
		CHECK_STR(tf_json_get_str(ent, "outcome", NULL), "failure");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "detail"),
					  "code", NULL),
			  "permission_denied");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "actor"),
					  "user", NULL),
			  "brooks");
		CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "what"),
					  "record_id", NULL),
			  u12);
		tf_json_free(log);
	}
	CHECK_INT(push1(&brooks, NULL, "unit", u12, "set_add",
			"{\"field\":\"crew\",\"value\":\"brooks\"}", NULL,
			&res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_INT(push1(&brooks, NULL, "unit", u12, "set",
			"{\"fields\":{\"position\":null}}", NULL, &res),
		  TF_ST_REJECTED);
	after = server_state("pd1", u12);
	CHECK(before && after && strcmp(before, after) == 0);
	free(before);
	free(after);
	CHECK_INT(push1(&brooks, NULL, "unit", u14, "set",
			"{\"fields\":{\"status\":\"busy\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	/* A unit without a callsign is nobody's; officers create none. */
	CHECK_INT(push1(&alvarez, NULL, "unit", bare, "set",
			"{\"fields\":{\"status\":\"busy\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	new_uuid(id);
	CHECK_INT(push1(&alvarez, NULL, "unit", id, "create",
			"{\"fields\":{\"status\":\"available\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	CHECK_STR(res.message, "unit: the role officer may not create one");
	CHECK(server_state("pd1", id) == NULL);
	/* An officer without a unit writes none. */
	mk_caller(&nounit, "pd1", "nobody", "mdt-spare", NULL, "officer");
	CHECK_INT(push1(&nounit, NULL, "unit", u12, "set",
			"{\"fields\":{\"status\":\"busy\"}}", NULL, &res),
		  TF_ST_REJECTED);
	CHECK_INT(res.code, TF_EPERM);
	/* Dispatchers write any unit; so does an officer who is also one. */
	CHECK_INT(push1(&dana, NULL, "unit", u12, "set",
			"{\"fields\":{\"status\":\"available\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	mk_caller(&both, "pd1", "olly", "mdt-olly", "2A30", "officer");
	snprintf(both.user.roles[both.user.nroles++], sizeof both.user.roles[0],
		 "dispatcher");
	CHECK_INT(push1(&both, NULL, "unit", u14, "set",
			"{\"fields\":{\"status\":\"available\"}}", NULL, NULL),
		  TF_ST_APPLIED);
	new_uuid(id);
	CHECK_INT(push1(&both, NULL, "unit", id, "create",
			"{\"fields\":{\"status\":\"available\"}}", NULL, NULL),
		  TF_ST_APPLIED);
}

/* ------------------------------------------------------------ agencies */

TEST(test_agency_isolation)
{
	char inc[TF_UUID_LEN + 1], *a, *b;
	tf_pull_page p;
	tf_buf out;
	tf_err e;

	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	/* The same record id in another agency is another record. */
	CHECK_INT(push1(&eve, NULL, "incident", inc, "create",
			"{\"fields\":{\"priority\":5}}", NULL, NULL),
		  TF_ST_APPLIED);
	a = server_state("pd1", inc);
	b = server_state("pd2", inc);
	CHECK(a && b && strcmp(a, b) != 0);
	CHECK(a && strstr(a, "\"v\":2") != NULL);
	free(a);
	free(b);
	/* eve's pull holds only pd2 records. */
	CHECK_INT(pull(&eve, "", 100, &p, NULL, NULL, &e), 0);
	CHECK_INT(p.nrecords, 1);
	CHECK_INT(p.ack, 1);
	tf_pull_page_clear(&p);
	/* Another agency's record: not found, whatever the field. */
	{
		char only[TF_UUID_LEN + 1];
		CHECK_INT(mk_incident(&dana, NULL, only, NULL), TF_ST_APPLIED);
		tf_buf_init(&out);
		CHECK_INT(tf_sync_text_revisions(&srv, &eve, T0 + MIN, only,
						 "remarks", &out, &e),
			  TF_ENOTFOUND);
		CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, only,
						 "remarks", &out, &e),
			  0);
		tf_buf_free(&out);
	}
}

/* ------------------------------------------------------------ text */

TEST(test_text_conflict_and_resolution)
{
	char inc[TF_UUID_LEN + 1], create[TF_UUID_LEN + 1];
	char edit[TF_UUID_LEN + 1], stale[TF_UUID_LEN + 1];
	char res_id[TF_UUID_LEN + 1];
	tf_json *doc = NULL, *log;
	const tf_json *revs, *ent, *d, *disc;
	tf_buf out;
	tf_err e;
	size_t i, nconf_alv;

	CHECK_INT(mk_incident(&dana, "2A12", inc, create), TF_ST_APPLIED);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "edit_text",
			"{\"base\":\"caller on scene\",\"base_rev\":1,"
			"\"field\":\"remarks\",\"text\":\"caller left "
			"scene\"}",
			edit, NULL),
		  TF_ST_APPLIED);
	/* An edit from rev 1 while the text is at rev 2: a conflict. */
	CHECK_INT(push1(&alvarez, NULL, "incident", inc, "edit_text",
			"{\"base\":\"caller on scene\",\"base_rev\":1,"
			"\"field\":\"remarks\",\"text\":\"caller on scene, "
			"armed\"}",
			stale, NULL),
		  TF_ST_CONFLICT);

	/* Conflicts: dana (dispatcher) and alvarez (assigned) see it;
	   brooks (2A14) does not. */
	tf_buf_init(&out);
	CHECK_INT(tf_sync_conflicts(&srv, &dana, T0 + MIN, &out, &e), 0);
	CHECK(strstr(tf_buf_cstr(&out), stale) != NULL);
	tf_buf_reset(&out);
	CHECK_INT(tf_sync_conflicts(&srv, &brooks, T0 + MIN, &out, &e), 0);
	CHECK(strstr(tf_buf_cstr(&out), stale) == NULL);
	tf_buf_reset(&out);
	CHECK_INT(tf_sync_conflicts(&srv, &alvarez, T0 + MIN, &out, &e), 0);
	tf_json_parse(out.data, out.len, NULL, &doc, NULL);
	nconf_alv = 0;
	for (i = 0; doc && i < tf_json_object_get(doc, "conflicts")->len; i++) {
		const tf_json *c =
			tf_json_object_get(doc, "conflicts")->u.items[i];
		if (strcmp(tf_json_get_str(c, "conflict", NULL), stale) == 0) {
			nconf_alv++;
			CHECK_STR(tf_json_get_str(c, "record_id", NULL), inc);
			CHECK_STR(tf_json_get_str(c, "field", NULL), "remarks");
			CHECK_STR(tf_json_get_str(c, "entity", NULL),
				  "incident");
		}
	}
	CHECK_INT(nconf_alv, 1);
	tf_json_free(doc);
	doc = NULL;

	/* Dana resolves with a custom text: both sides are discarded. */
	{
		char args[512];
		snprintf(args, sizeof args,
			 "{\"choice\":\"custom\",\"conflict\":\"%s\","
			 "\"field\":\"remarks\",\"head_rev\":2,"
			 "\"text\":\"caller left scene, armed\"}",
			 stale);
		CHECK_INT(push1(&dana, NULL, "incident", inc, "resolve", args,
				res_id, NULL),
			  TF_ST_APPLIED);
	}
	tf_buf_reset(&out);
	CHECK_INT(tf_sync_conflicts(&srv, &dana, T0 + MIN, &out, &e), 0);
	CHECK(strstr(tf_buf_cstr(&out), stale) == NULL);

	/* Revisions: edit 1, edit 2, proposed (base 1), discarded x2,
	   edit 3. */
	tf_buf_reset(&out);
	CHECK_INT(tf_sync_text_revisions(&srv, &alvarez, T0 + MIN, inc,
					 "remarks", &out, &e),
		  0);
	tf_json_parse(out.data, out.len, NULL, &doc, NULL);
	revs = doc ? tf_json_object_get(doc, "revisions") : NULL;
	CHECK(revs != NULL && revs->len == 6);
	if (revs && revs->len == 6) {
		static const char *const kinds[6] = {"edit",	  "edit",
						     "proposed",  "discarded",
						     "discarded", "edit"};
		static const int64_t rev[6] = {1, 2, 1, 2, 1, 3};
		for (i = 0; i < 6; i++) {
			const tf_json *r = revs->u.items[i];
			int64_t v = -1;
			CHECK_STR(tf_json_get_str(r, "kind", NULL), kinds[i]);
			tf_json_int64(tf_json_object_get(r, "rev"), &v);
			CHECK_INT(v, rev[i]);
		}
		CHECK_STR(tf_json_get_str(revs->u.items[0], "cmd_id", NULL),
			  create);
		CHECK_STR(tf_json_get_str(revs->u.items[1], "text", NULL),
			  "caller left scene");
		CHECK_STR(tf_json_get_str(revs->u.items[2], "text", NULL),
			  "caller on scene, armed");
		CHECK_STR(tf_json_get_str(revs->u.items[2], "by", NULL),
			  "alvarez");
		CHECK_STR(tf_json_get_str(revs->u.items[5], "text", NULL),
			  "caller left scene, armed");
	}
	tf_json_free(doc);
	doc = NULL;
	/* Field checks: not a text field, unknown field, bad id, scope. */
	CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, inc, "priority",
					 &out, &e),
		  TF_EINVAL);
	CHECK_STR(e.where, "field");
	CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, inc, "nope",
					 &out, &e),
		  TF_EINVAL);
	CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, "x", "remarks",
					 &out, &e),
		  TF_EINVAL);
	CHECK_INT(tf_sync_text_revisions(&srv, &brooks, T0 + MIN, inc,
					 "remarks", &out, &e),
		  TF_ENOTFOUND);

	/* Audit: the conflict and the resolution with what was discarded. */
	log = audit_all();
	ent = audit_for(log, stale);
	CHECK(ent != NULL);
	CHECK_STR(tf_json_get_str(tf_json_object_get(ent, "detail"), "status",
				  NULL),
		  "conflict");
	CHECK_STR(tf_json_get_str(ent, "outcome", NULL), "success");
	ent = audit_for(log, res_id);
	CHECK(ent != NULL);
	CHECK_STR(tf_json_get_str(ent, "type", NULL), "conflict_resolution");
	CHECK_STR(
		tf_json_get_str(tf_json_object_get(ent, "actor"), "user", NULL),
		"dana");
	d = ent ? tf_json_object_get(ent, "detail") : NULL;
	CHECK_STR(tf_json_get_str(d, "choice", NULL), "custom");
	CHECK_STR(tf_json_get_str(d, "conflict", NULL), stale);
	disc = d ? tf_json_object_get(d, "discarded") : NULL;
	CHECK(disc && disc->len == 2);
	if (disc && disc->len == 2) {
		CHECK_STR(tf_json_get_str(disc->u.items[0], "by", NULL),
			  "dana");
		CHECK_STR(tf_json_get_str(disc->u.items[0], "excerpt", NULL),
			  "caller left scene");
		CHECK_STR(tf_json_get_str(disc->u.items[1], "from", NULL),
			  "proposed");
		CHECK_STR(tf_json_get_str(disc->u.items[1], "by", NULL),
			  "alvarez");
		CHECK(tf_json_get_str(disc->u.items[1], "sha256", NULL) !=
		      NULL);
	}
	{
		int64_t kept = 0;
		tf_json_int64(tf_json_object_get(d, "kept_rev"), &kept);
		CHECK_INT(kept, 3);
	}
	tf_json_free(log);
	tf_buf_free(&out);
}

/* A resolve from a stale head opens a new conflict in place of the old:
   the old row goes, the new one (named by the resolve) comes, with its
   proposed text kept as a revision. */
TEST(test_stale_resolve_replaces_conflict)
{
	char inc[TF_UUID_LEN + 1], c1[TF_UUID_LEN + 1], c2[TF_UUID_LEN + 1];
	char args[512];
	tf_json *doc = NULL;
	const tf_json *revs, *last;
	tf_buf out;
	tf_err e;

	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "edit_text",
			"{\"base\":\"caller on scene\",\"base_rev\":1,"
			"\"field\":\"remarks\",\"text\":\"two\"}",
			NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&alvarez, NULL, "incident", inc, "edit_text",
			"{\"base\":\"caller on scene\",\"base_rev\":1,"
			"\"field\":\"remarks\",\"text\":\"mine\"}",
			c1, NULL),
		  TF_ST_CONFLICT);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "edit_text",
			"{\"base\":\"two\",\"base_rev\":2,"
			"\"field\":\"remarks\",\"text\":\"three\"}",
			NULL, NULL),
		  TF_ST_APPLIED);
	snprintf(args, sizeof args,
		 "{\"choice\":\"mine\",\"conflict\":\"%s\","
		 "\"field\":\"remarks\",\"head_rev\":2,\"text\":\"mine\"}",
		 c1);
	CHECK_INT(push1(&alvarez, NULL, "incident", inc, "resolve", args, c2,
			NULL),
		  TF_ST_CONFLICT);
	tf_buf_init(&out);
	CHECK_INT(tf_sync_conflicts(&srv, &dana, T0 + MIN, &out, &e), 0);
	CHECK(strstr(tf_buf_cstr(&out), c1) == NULL);
	CHECK(strstr(tf_buf_cstr(&out), c2) != NULL);
	tf_buf_reset(&out);
	CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, inc, "remarks",
					 &out, &e),
		  0);
	tf_json_parse(out.data, out.len, NULL, &doc, NULL);
	revs = doc ? tf_json_object_get(doc, "revisions") : NULL;
	last = revs && revs->len ? revs->u.items[revs->len - 1] : NULL;
	CHECK_STR(tf_json_get_str(last, "kind", NULL), "proposed");
	CHECK_STR(tf_json_get_str(last, "cmd_id", NULL), c2);
	CHECK_STR(tf_json_get_str(last, "text", NULL), "mine");
	{
		int64_t rev = 0;
		tf_json_int64(tf_json_object_get(last, "rev"), &rev);
		CHECK_INT(rev, 2); /* its base: the old conflict's head */
	}
	tf_json_free(doc);
	tf_buf_free(&out);
}

/* A long multi-byte discarded text: the excerpt stops at 200 bytes, on a
   character boundary, and the audit entry stays within its limit. */
TEST(test_resolution_excerpt_bounded)
{
	char inc[TF_UUID_LEN + 1], stale[TF_UUID_LEN + 1];
	char res_id[TF_UUID_LEN + 1];
	static char args[8192], text[4096];
	const tf_json *ent, *disc;
	tf_json *log;
	size_t i, n = 0;

	for (i = 0; i < 600; i++) /* "é" is 2 bytes; offset by one "x" */
		n += (size_t)snprintf(text + n, sizeof text - n, "%s",
				      i == 0 ? "x" : "\xc3\xa9");
	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "edit_text",
			"{\"base\":\"caller on scene\",\"base_rev\":1,"
			"\"field\":\"remarks\",\"text\":\"new\"}",
			NULL, NULL),
		  TF_ST_APPLIED);
	snprintf(args, sizeof args,
		 "{\"base\":\"caller on scene\",\"base_rev\":1,"
		 "\"field\":\"remarks\",\"text\":\"%s\"}",
		 text);
	CHECK_INT(push1(&alvarez, NULL, "incident", inc, "edit_text", args,
			stale, NULL),
		  TF_ST_CONFLICT);
	snprintf(args, sizeof args,
		 "{\"choice\":\"mine\",\"conflict\":\"%s\","
		 "\"field\":\"remarks\",\"head_rev\":2,\"text\":\"new\"}",
		 stale);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "resolve", args, res_id,
			NULL),
		  TF_ST_APPLIED);
	log = audit_all();
	ent = audit_for(log, res_id);
	disc = ent ? tf_json_object_get(tf_json_object_get(ent, "detail"),
					"discarded")
		   : NULL;
	CHECK(disc && disc->len == 1);
	if (disc && disc->len == 1) {
		size_t len = 0;
		int64_t bytes = 0;
		const char *x =
			tf_json_get_str(disc->u.items[0], "excerpt", &len);
		CHECK(x != NULL);
		CHECK_INT(len, 199); /* 200 would split a character */
		CHECK(x && tf_utf8_valid(x, len));
		tf_json_int64(tf_json_object_get(disc->u.items[0], "bytes"),
			      &bytes);
		CHECK_INT(bytes, strlen(text));
	}
	tf_json_free(log);
}

/* ------------------------------------------------------------ pull */

TEST(test_pull_paging)
{
	char ids[7][TF_UUID_LEN + 1], *cur, *cur2;
	tf_pull_page p;
	size_t i, k, seen = 0, nrec, npur, guard;
	uint64_t head = 0;
	int empty = -1;
	tf_err e;

	/* Catch up first, then add 7 records in sam's scope. */
	cur = pull_all(&sam, "", 5000, &nrec, &npur);
	CHECK_INT(npur, 0);
	for (i = 0; i < 7; i++)
		CHECK_INT(mk_incident(&dana, NULL, ids[i], NULL),
			  TF_ST_APPLIED);
	for (guard = 0; guard < 10; guard++) {
		CHECK_INT(pull(&sam, cur, 3, &p, &head, &empty, &e), 0);
		CHECK(p.nrecords <= 3);
		for (k = 0; k < p.nrecords; k++)
			for (i = 0; i < 7; i++)
				if (strcmp(tf_record_id(p.records[k]),
					   ids[i]) == 0)
					seen++;
		CHECK_INT(empty, 0);
		/* The estimate of what is left: 7 - 3, 7 - 6, then none. */
		CHECK_INT(p.has_remaining, 1);
		CHECK_INT(p.remaining, guard == 0 ? 4 : guard == 1 ? 1 : 0);
		free(cur);
		cur = strdup(p.cursor);
		if (!p.has_more) {
			tf_pull_page_clear(&p);
			break;
		}
		CHECK_INT(p.nrecords, 3);
		tf_pull_page_clear(&p);
	}
	CHECK_INT(guard, 2); /* 3 + 3 + 1 */
	CHECK_INT(seen, 7);
	/* Caught up: an empty page, the same position. */
	CHECK_INT(pull(&sam, cur, 3, &p, &head, &empty, &e), 0);
	CHECK_INT(p.nrecords, 0);
	CHECK_INT(p.has_more, 0);
	CHECK_INT(p.remaining, 0);
	CHECK_INT(empty, 1);
	CHECK_STR(p.cursor, cur);
	{
		uint64_t chg = 0;
		CHECK_INT(tf_sync_cursor_chg(&srv, cur, &chg), 0);
		CHECK_INT(chg, head);
	}
	CHECK_INT(p.ack, ledger_last(&sam));
	tf_pull_page_clear(&p);
	/* cursor_make for SSE ids round-trips. */
	{
		tf_buf b;
		tf_buf_init(&b);
		CHECK_INT(tf_sync_cursor_make(&srv, &sam, head, &b), 0);
		CHECK_STR(tf_buf_cstr(&b), cur);
		tf_buf_free(&b);
	}
	/* A whole pull in pages of 2 sees as much as one big page. */
	free(pull_all(&sam, "", 5000, &nrec, &npur));
	cur2 = pull_all(&sam, "", 2, &i, &k);
	CHECK_INT(i, nrec);
	CHECK_STR(cur2, cur);
	free(cur2);
	free(cur);
}

TEST(test_pull_purge_on_unassign)
{
	char inc[TF_UUID_LEN + 1], create[TF_UUID_LEN + 1], args[256], *cur;
	tf_pull_page p;
	size_t nrec, npur;
	tf_err e;

	cur = pull_all(&alvarez, "", 5000, &nrec, &npur);
	CHECK_INT(npur, 0); /* a first pull purges nothing */
	CHECK_INT(mk_incident(&dana, "2A12", inc, create), TF_ST_APPLIED);
	CHECK_INT(pull(&alvarez, cur, 100, &p, NULL, NULL, &e), 0);
	CHECK(page_has_record(&p, inc));
	free(cur);
	cur = strdup(p.cursor);
	tf_pull_page_clear(&p);
	/* Unassign 2A12: the incident leaves alvarez's devices. */
	snprintf(args, sizeof args,
		 "{\"field\":\"assigned_units\",\"tags\":[\"%s\"],"
		 "\"value\":\"2A12\"}",
		 create);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "set_remove", args, NULL,
			NULL),
		  TF_ST_APPLIED);
	CHECK_INT(pull(&alvarez, cur, 100, &p, NULL, NULL, &e), 0);
	CHECK(!page_has_record(&p, inc));
	CHECK(page_has_purged(&p, inc));
	tf_pull_page_clear(&p);
	/* Brooks never pulled: his first pull carries no purged ids. */
	CHECK_INT(pull(&brooks, "", 5000, &p, NULL, NULL, &e), 0);
	CHECK_INT(p.npurged, 0);
	CHECK(!page_has_record(&p, inc));
	tf_pull_page_clear(&p);
	free(cur);
}

TEST(test_pull_reset_and_bad_cursor)
{
	char cur[128], *good;
	tf_pull_page p;
	size_t nrec, npur;
	uint64_t chg = 0;
	tf_err e;

	good = pull_all(&alvarez, "", 5000, &nrec, &npur);
	CHECK_INT(tf_sync_cursor_chg(&srv, good, &chg), 0);
	/* Another epoch (another database). */
	snprintf(cur, sizeof cur, "1.%s%s", "1111111111111111", good + 18);
	CHECK_INT(pull(&alvarez, cur, 100, &p, NULL, NULL, &e), 0);
	CHECK_INT(p.reset, 1);
	CHECK_INT(p.has_more, 1);
	CHECK_STR(p.cursor, "");
	CHECK_INT(p.nrecords, 0);
	CHECK_INT(p.ack, ledger_last(&alvarez));
	tf_pull_page_clear(&p);
	CHECK_INT(tf_sync_cursor_chg(&srv, cur, &chg), TF_EINVAL);
	/* Another scope: alvarez's cursor in brooks's session. */
	CHECK_INT(pull(&brooks, good, 100, &p, NULL, NULL, &e), 0);
	CHECK_INT(p.reset, 1);
	tf_pull_page_clear(&p);
	/* Ahead of the head. */
	{
		tf_buf b;
		tf_buf_init(&b);
		tf_sync_cursor_make(&srv, &alvarez, chg + 1000, &b);
		CHECK_INT(pull(&alvarez, tf_buf_cstr(&b), 100, &p, NULL, NULL,
			       &e),
			  0);
		CHECK_INT(p.reset, 1);
		tf_pull_page_clear(&p);
		tf_buf_free(&b);
	}
	/* Garbage. */
	{
		static const char *const bad[] = {
			"x",
			"17",
			"1.",
			"2.00c0ffee00c0ffee.1.0000000000000000",
			"1.00c0ffee00c0ffee.01.0000000000000000",
			"1.00c0ffee00c0ffee..0000000000000000",
			"1.00c0ffee00c0ffee.1.000000000000000",
			"1.00c0ffee00c0ffee.1.00000000000000000",
			"1.00C0FFEE00C0FFEE.1.0000000000000000",
			("1.00c0ffee00c0ffee.99999999999999999999999."
			 "0000000000000000")};
		size_t i;
		tf_buf out;
		tf_buf_init(&out);
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			CHECK_INT(tf_sync_pull(&srv, &alvarez, T0, bad[i], 10,
					       &out, NULL, NULL, &e),
				  TF_EINVAL);
			CHECK_STR(e.where, "cursor");
			CHECK_INT(tf_sync_cursor_chg(&srv, bad[i], &chg),
				  TF_EINVAL);
		}
		CHECK_INT(out.len, 0);
		tf_buf_free(&out);
	}
	free(good);
}

typedef struct raw_put {
	const char *id, *entity, *state;
} raw_put;

static int put_raw_record(tf_db_txn *t, void *arg, tf_err *err)
{
	const raw_put *r = arg;
	uint64_t chg = 0;

	return t->ops->record_put(t, "pd1", r->id, r->entity, r->state,
				  strlen(r->state), &chg, err);
}

/* 1 when the page holds exactly `state` as one of its records. */
static int page_holds(tf_buf *page, const char *state)
{
	return state != NULL && strstr(tf_buf_cstr(page), state) != NULL;
}

/*
 * Pages carry the stored record bytes: for a caller with a read role
 * (spliced without parsing) and for one whose scope rule reads the record
 * (parsed for the decision only), with escapes and non-ASCII text; a
 * stored state that is not a record of its entity goes out as an id only.
 */
TEST(test_pull_stored_bytes)
{
	char inc[TF_UUID_LEN + 1], bad[TF_UUID_LEN + 1], *cur, *st;
	raw_put rp;
	size_t nrec, npur;
	tf_buf page;
	tf_err e;

	cur = pull_all(&dana, "", 5000, &nrec, &npur);
	new_uuid(inc);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "create",
			"{\"fields\":{\"assigned_units\":[\"2A12\"],"
			"\"remarks\":\"caf\\u00e9 \\\"quoted\\\" back\\\\slash "
			"\\u0001 tab\\t \\u2028 \\ud83d\\ude93\"}}",
			NULL, NULL),
		  TF_ST_APPLIED);
	CHECK_INT(push1(&dana, NULL, "incident", inc, "append",
			"{\"body\":{\"kind\":\"update\",\"text\":\"</script> "
			"\\u00fc\"},\"field\":\"notes\"}",
			NULL, NULL),
		  TF_ST_APPLIED);
	st = server_state("pd1", inc);
	CHECK(st != NULL);
	tf_buf_init(&page);
	CHECK_INT(
		tf_sync_pull(&srv, &dana, T0, cur, 5000, &page, NULL, NULL, &e),
		0);
	CHECK(same_as_pull_encoder(page.data, page.len));
	CHECK(page_holds(&page, st));
	tf_buf_reset(&page);
	CHECK_INT(tf_sync_pull(&srv, &alvarez, T0, "", 5000, &page, NULL, NULL,
			       &e),
		  0);
	CHECK(same_as_pull_encoder(page.data, page.len));
	CHECK(page_holds(&page, st));
	/* Brooks (2A14) is not assigned: neither content nor, first pull,
	   an id. */
	tf_buf_reset(&page);
	CHECK_INT(tf_sync_pull(&srv, &brooks, T0, "", 5000, &page, NULL, NULL,
			       &e),
		  0);
	CHECK(strstr(tf_buf_cstr(&page), inc) == NULL);
	/* A row whose bytes are not a record of its entity. */
	new_uuid(bad);
	rp.id = bad;
	rp.entity = "bolo";
	rp.state = "{\"entity\":\"bolo\",\"f\":{\"kind\":{\"by\":\"x\"";
	CHECK_INT(tf_db_write(srv.db, put_raw_record, &rp, &e), 0);
	tf_buf_reset(&page);
	CHECK_INT(
		tf_sync_pull(&srv, &dana, T0, cur, 5000, &page, NULL, NULL, &e),
		0);
	CHECK(same_as_pull_encoder(page.data, page.len));
	CHECK(page_holds(&page, st));
	CHECK(strstr(tf_buf_cstr(&page), "\"kind\":{\"by\":\"x\"") == NULL);
	{
		tf_pull_page p;
		CHECK_INT(tf_pull_page_decode(page.data, page.len, schema, NULL,
					      &p, &e),
			  0);
		CHECK(page_has_purged(&p, bad));
		CHECK(!page_has_record(&p, bad));
		tf_pull_page_clear(&p);
	}
	/* The officer's parse path fails closed alike (bolo: agency-wide). */
	tf_buf_reset(&page);
	CHECK_INT(tf_sync_pull(&srv, &alvarez, T0, cur, 5000, &page, NULL, NULL,
			       &e),
		  0);
	CHECK(same_as_pull_encoder(page.data, page.len));
	CHECK(strstr(tf_buf_cstr(&page), "\"kind\":{\"by\":\"x\"") == NULL);
	tf_buf_free(&page);
	free(st);
	free(cur);
}

/* The records of every page of a full pull by c, parsed (caller frees). */
static tf_json *pull_records(const tf_srv_caller *c)
{
	tf_json *all = tf_json_array();
	char *cur = strdup("");
	tf_pull_page p;
	size_t guard, i;
	tf_err e;

	for (guard = 0; guard < 1000; guard++) {
		if (pull(c, cur, 7, &p, NULL, NULL, &e) != 0)
			break;
		for (i = 0; i < p.nrecords; i++) {
			tf_json_array_push(all, p.records[i]);
			p.records[i] = NULL;
		}
		free(cur);
		cur = strdup(p.cursor);
		if (!p.has_more) {
			tf_pull_page_clear(&p);
			break;
		}
		tf_pull_page_clear(&p);
	}
	free(cur);
	return all;
}

static int holds_id(const tf_json *arr, const char *id)
{
	size_t i;

	for (i = 0; i < arr->len; i++)
		if (strcmp(tf_record_id(arr->u.items[i]), id) == 0)
			return 1;
	return 0;
}

/*
 * The pull decides scope from the scope field's bytes alone when the
 * caller has no read role: for every record of the agency (all kinds,
 * scope fields present, emptied or absent), each caller's pages hold
 * exactly the records the core's tf_policy_in_scope puts in scope on the
 * whole parsed state.
 */
TEST(test_pull_scope_matches_policy)
{
	const tf_srv_caller *cs[] = {&alvarez, &brooks, &dana, &sam, &svc};
	tf_json *all = pull_records(&aud), *mine;
	size_t w, i, checked = 0;

	CHECK(all->len > 10);
	for (w = 0; w < sizeof cs / sizeof cs[0]; w++) {
		tf_principal p;
		memset(&p, 0, sizeof p);
		p.user = cs[w]->user.id;
		p.unit = cs[w]->user.unit[0] ? cs[w]->user.unit : NULL;
		p.agency = cs[w]->user.agency;
		for (i = 0; i < cs[w]->user.nroles; i++)
			p.roles[p.nroles++] = cs[w]->user.roles[i];
		mine = pull_records(cs[w]);
		for (i = 0; i < all->len; i++) {
			const tf_json *rec = all->u.items[i];
			const tf_entity *e =
				tf_schema_entity(schema, tf_record_entity(rec));
			int in = 0;
			CHECK(e != NULL);
			if (e == NULL)
				continue;
			CHECK_INT(tf_policy_in_scope(e, rec, &p, &in, NULL), 0);
			CHECK_INT(holds_id(mine, tf_record_id(rec)), in);
			checked++;
		}
		tf_json_free(mine);
	}
	CHECK(checked >= 5 * 10);
	tf_json_free(all);
}

/* ------------------------------------------------------------ access */

static const char *actor_str(const tf_json *ent, const char *key)
{
	return tf_json_get_str(tf_json_object_get(ent, "actor"), key, NULL);
}

/* The access entries of the log (a new array of clones, caller frees). */
static tf_json *access_entries(void)
{
	tf_json *log = audit_all(), *out = tf_json_array();
	size_t i;

	/* pd1's chain only: audit_all ends with pd2's and the system's */
	for (i = 0; log && out && i < log->len; i++)
		if (strcmp(tf_json_get_str(log->u.items[i], "type", NULL),
			   "access") == 0 &&
		    strcmp(actor_str(log->u.items[i], "agency"), "pd1") == 0)
			tf_json_array_push(out, tf_json_clone(log->u.items[i]));
	tf_json_free(log);
	return out;
}

static size_t access_count(void)
{
	tf_json *a = access_entries();
	size_t n = a ? a->len : 0;

	tf_json_free(a);
	return n;
}

static int64_t detail_int(const tf_json *ent, const char *key)
{
	int64_t v = -1;

	tf_json_int64(
		tf_json_object_get(tf_json_object_get(ent, "detail"), key), &v);
	return v;
}

/*
 * AU-2: every pull page with records or purged ids is one access entry
 * (counts per entity, no ids), each conflicts list and each text
 * revisions read one; empty pages and refused reads none.
 */
TEST(test_access_audited)
{
	char inc[TF_UUID_LEN + 1], *cur;
	tf_json *acc;
	const tf_json *last, *ents;
	tf_pull_page p;
	size_t before, nrec, npur, i;
	int64_t sum = 0;
	tf_buf out;
	tf_err e;

	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	/* A full pull in pages: one entry per page. */
	before = access_count();
	CHECK_INT(pull(&sam, "", 5000, &p, NULL, NULL, &e), 0);
	CHECK(p.nrecords > 3);
	acc = access_entries();
	CHECK_INT(acc->len, before + 1);
	last = acc->len ? acc->u.items[acc->len - 1] : NULL;
	CHECK_STR(tf_json_get_str(last, "where", NULL),
		  "tenfourd GET /v1/sync/pull");
	CHECK_STR(tf_json_get_str(last, "outcome", NULL), "success");
	CHECK_STR(tf_json_get_str(last, "source", NULL), "127.0.0.1");
	CHECK_STR(actor_str(last, "user"), "sam");
	CHECK_STR(actor_str(last, "device"), "console-sup");
	CHECK_STR(actor_str(last, "role"), "supervisor");
	CHECK_STR(actor_str(last, "agency"), "pd1");
	CHECK_INT(detail_int(last, "records"), p.nrecords);
	CHECK_INT(detail_int(last, "purged"), 0);
	ents = tf_json_object_get(tf_json_object_get(last, "detail"),
				  "entities");
	CHECK(ents != NULL && ents->type == TF_JSON_OBJECT);
	for (i = 0; ents && i < ents->len; i++) {
		int64_t v = 0;
		tf_json_int64(ents->u.members[i].value, &v);
		CHECK(v > 0);
		sum += v;
	}
	CHECK_INT(sum, p.nrecords);
	CHECK(tf_json_object_get(ents, "incident") != NULL);
	tf_json_free(acc);
	tf_pull_page_clear(&p);
	before = access_count();
	cur = pull_all(&sam, "", 3, &nrec, &npur);
	CHECK_INT(access_count(), before + (nrec + 2) / 3);
	/* Caught up: an empty page is no access. */
	before = access_count();
	CHECK_INT(pull(&sam, cur, 3, &p, NULL, NULL, &e), 0);
	CHECK_INT(p.nrecords + p.npurged, 0);
	tf_pull_page_clear(&p);
	CHECK_INT(access_count(), before);
	free(cur);

	/* Conflicts: every call, with the count listed. */
	tf_buf_init(&out);
	before = access_count();
	CHECK_INT(tf_sync_conflicts(&srv, &brooks, T0 + 2 * MIN, &out, &e), 0);
	CHECK(strstr(tf_buf_cstr(&out), "\"truncated\":false") != NULL);
	acc = access_entries();
	CHECK_INT(acc->len, before + 1);
	last = acc->len ? acc->u.items[acc->len - 1] : NULL;
	{ /* the time the caller passed, not a clock read */
		int64_t ts = -1;

		tf_json_int64(tf_json_object_get(last, "ts"), &ts);
		CHECK_INT(ts, T0 + 2 * MIN);
	}
	CHECK_STR(tf_json_get_str(last, "where", NULL),
		  "tenfourd GET /v1/conflicts");
	CHECK_STR(actor_str(last, "user"), "brooks");
	CHECK(detail_int(last, "conflicts") >= 0);
	tf_json_free(acc);

	/* Text revisions: the record, entity and field, the count. */
	tf_buf_reset(&out);
	before = access_count();
	CHECK_INT(tf_sync_text_revisions(&srv, &alvarez, T0 + 3 * MIN, inc,
					 "remarks", &out, &e),
		  0);
	acc = access_entries();
	CHECK_INT(acc->len, before + 1);
	last = acc->len ? acc->u.items[acc->len - 1] : NULL;
	{
		int64_t ts = -1;

		tf_json_int64(tf_json_object_get(last, "ts"), &ts);
		CHECK_INT(ts, T0 + 3 * MIN);
	}
	CHECK_STR(tf_json_get_str(last, "where", NULL),
		  "tenfourd GET /v1/records/{id}/text/{field}");
	CHECK_STR(tf_json_get_str(tf_json_object_get(last, "what"), "record_id",
				  NULL),
		  inc);
	CHECK_STR(tf_json_get_str(tf_json_object_get(last, "what"), "entity",
				  NULL),
		  "incident");
	CHECK_STR(tf_json_get_str(tf_json_object_get(last, "what"), "field",
				  NULL),
		  "remarks");
	CHECK_INT(detail_int(last, "revisions"), 1);
	CHECK_STR(actor_str(last, "role"), "officer");
	tf_json_free(acc);
	/* Refused reads are not accesses. */
	before = access_count();
	CHECK_INT(tf_sync_text_revisions(&srv, &brooks, T0 + MIN, inc,
					 "remarks", &out, &e),
		  TF_ENOTFOUND);
	CHECK_INT(tf_sync_text_revisions(&srv, &dana, T0 + MIN, inc, "priority",
					 &out, &e),
		  TF_EINVAL);
	CHECK_INT(access_count(), before);
	tf_buf_free(&out);
}

/*
 * When the access entry cannot be written (here: a source the audit
 * log refuses), the read fails with TF_EIO and returns nothing; an empty
 * page needs no entry and is served.
 */
TEST(test_access_unaudited_fails)
{
	char inc[TF_UUID_LEN + 1], *cur;
	tf_srv_caller bad = sam;
	size_t before = audit_count(), nrec, npur;
	tf_buf out;
	tf_err e;

	CHECK_INT(mk_incident(&dana, NULL, inc, NULL), TF_ST_APPLIED);
	before = audit_count();
	snprintf(bad.source, sizeof bad.source, "not valid");
	tf_buf_init(&out);
	CHECK_INT(tf_sync_pull(&srv, &bad, T0, "", 100, &out, NULL, NULL, &e),
		  TF_EIO);
	CHECK_INT(out.len, 0);
	CHECK(strstr(e.msg, "audited") != NULL);
	CHECK_INT(tf_sync_conflicts(&srv, &bad, T0 + MIN, &out, &e), TF_EIO);
	CHECK_INT(out.len, 0);
	CHECK_INT(tf_sync_text_revisions(&srv, &bad, T0 + MIN, inc, "remarks",
					 &out, &e),
		  TF_EIO);
	CHECK_INT(out.len, 0);
	CHECK_INT(audit_count(), before);
	/* Caught up: nothing to audit, served. */
	cur = pull_all(&sam, "", 5000, &nrec, &npur);
	CHECK_INT(tf_sync_pull(&srv, &bad, T0, cur, 100, &out, NULL, NULL, &e),
		  0);
	CHECK(out.len > 0);
	free(cur);
	tf_buf_free(&out);
}

typedef struct rev_fill {
	const char *id;
	size_t n, len; /* revisions to add, bytes of text each */
	int64_t rev0;
} rev_fill;

static int put_revs(tf_db_txn *t, void *arg, tf_err *err)
{
	const rev_fill *f = arg;
	char *text = malloc(f->len + 1);
	tf_db_textrev r;
	size_t i;
	int rc = 0;

	if (text == NULL)
		return TF_ENOMEM;
	for (i = 0; rc == 0 && i < f->n; i++) {
		memset(text, 'a' + (int)(i % 26), f->len);
		text[f->len] = '\0';
		memset(&r, 0, sizeof r);
		snprintf(r.record_id, sizeof r.record_id, "%s", f->id);
		snprintf(r.field, sizeof r.field, "remarks");
		r.rev = f->rev0 + (int64_t)i;
		r.kind = TF_TEXTREV_EDIT;
		snprintf(r.by, sizeof r.by, "dana");
		new_uuid(r.cmd_id);
		r.text = text;
		r.text_len = f->len;
		r.at_ms = T0;
		rc = t->ops->textrev_put(t, "pd1", &r, err);
	}
	free(text);
	return rc;
}

/* Revs of a text-revisions reply, oldest first; *trunc its flag. */
static tf_json *revs_of(const tf_srv_caller *c, const char *id, int *trunc)
{
	tf_json *doc = NULL, *revs = NULL;
	const tf_json *t;
	tf_buf out;
	tf_err e;

	tf_buf_init(&out);
	*trunc = -1;
	if (tf_sync_text_revisions(&srv, c, T0 + MIN, id, "remarks", &out,
				   &e) == 0 &&
	    tf_json_parse(out.data, out.len, NULL, &doc, NULL) == 0) {
		t = tf_json_object_get(doc, "truncated");
		*trunc = t ? t->type == TF_JSON_TRUE : -1;
		revs = tf_json_object_take(doc, "revisions");
	}
	tf_json_free(doc);
	tf_buf_free(&out);
	return revs;
}

static int64_t rev_at(const tf_json *revs, size_t i)
{
	int64_t v = -1;

	if (revs && i < revs->len)
		tf_json_int64(tf_json_object_get(revs->u.items[i], "rev"), &v);
	return v;
}

/*
 * A text-revisions read is bounded: the newest 200 revisions, at most
 * 8 MiB of text, oldest first, "truncated" when some were left out.
 */
TEST(test_text_revisions_bounded)
{
	char inc[TF_UUID_LEN + 1], big[TF_UUID_LEN + 1];
	rev_fill f;
	tf_json *revs;
	tf_err e;
	int trunc;

	/* 1 (the create) + 204 revisions: the newest 200. */
	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	revs = revs_of(&dana, inc, &trunc);
	CHECK(revs && revs->len == 1);
	CHECK_INT(trunc, 0);
	tf_json_free(revs);
	f.id = inc;
	f.n = 199;
	f.len = 10;
	f.rev0 = 2;
	CHECK_INT(tf_db_write(srv.db, put_revs, &f, &e), 0);
	revs = revs_of(&dana, inc, &trunc);
	CHECK(revs && revs->len == 200);
	CHECK_INT(trunc, 0);
	CHECK_INT(rev_at(revs, 0), 1);
	tf_json_free(revs);
	f.n = 5;
	f.rev0 = 201;
	CHECK_INT(tf_db_write(srv.db, put_revs, &f, &e), 0);
	revs = revs_of(&alvarez, inc, &trunc);
	CHECK(revs && revs->len == 200);
	CHECK_INT(trunc, 1);
	CHECK_INT(rev_at(revs, 0), 6);
	CHECK_INT(rev_at(revs, 199), 205);
	tf_json_free(revs);

	/* 20 revisions of 1 MiB after the create: the newest 8. */
	CHECK_INT(mk_incident(&dana, "2A12", big, NULL), TF_ST_APPLIED);
	f.id = big;
	f.n = 20;
	f.len = (size_t)1024 * 1024;
	f.rev0 = 2;
	CHECK_INT(tf_db_write(srv.db, put_revs, &f, &e), 0);
	revs = revs_of(&dana, big, &trunc);
	CHECK(revs && revs->len == 8);
	CHECK_INT(trunc, 1);
	CHECK_INT(rev_at(revs, 0), 14);
	CHECK_INT(rev_at(revs, 7), 21);
	{
		size_t len = 0;
		tf_json_get_str(revs ? revs->u.items[7] : NULL, "text", &len);
		CHECK_INT(len, f.len);
	}
	tf_json_free(revs);
}

typedef struct conf_fill {
	const char *id, *field;
	size_t n;
	int64_t at;
	int del;
} conf_fill;

/* Adds (or, del, removes) n conflict rows on record id. */
static int put_confs(tf_db_txn *t, void *arg, tf_err *err)
{
	const conf_fill *f = arg;
	tf_db_conflict c;
	uint8_t rnd[10] = {0};
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < f->n; i++) {
		memset(&c, 0, sizeof c);
		snprintf(c.record_id, sizeof c.record_id, "%s", f->id);
		snprintf(c.entity, sizeof c.entity, "incident");
		snprintf(c.field, sizeof c.field, "%s", f->field);
		/* ids derived from (at, i): the same again for del */
		rnd[2] = (uint8_t)(i >> 8);
		rnd[3] = (uint8_t)i;
		rnd[4] = (uint8_t)(f->field[0]);
		tf_uuid7(f->at, rnd, c.conflict_id);
		c.opened_at = f->at;
		rc = f->del ? t->ops->conflict_del(t, "pd1", c.record_id,
						   c.conflict_id, err)
			    : t->ops->conflict_put(t, "pd1", &c, err);
	}
	return rc;
}

static size_t conflicts_listed(const tf_srv_caller *c, int *trunc)
{
	tf_json *doc = NULL;
	const tf_json *l, *t;
	size_t n = 0;
	tf_buf out;
	tf_err e;

	tf_buf_init(&out);
	*trunc = -1;
	if (tf_sync_conflicts(&srv, c, T0 + MIN, &out, &e) != 0)
		fprintf(stderr, "conflicts: %s\n", e.msg);
	else if (tf_json_parse(out.data, out.len, NULL, &doc, NULL) == 0) {
		l = tf_json_object_get(doc, "conflicts");
		t = tf_json_object_get(doc, "truncated");
		n = l ? l->len : 0;
		*trunc = t ? t->type == TF_JSON_TRUE : -1;
	}
	tf_json_free(doc);
	tf_buf_free(&out);
	return n;
}

/*
 * The conflicts list is bounded: at most 1,000, "truncated" when one
 * the caller may see was left out, or when the agency holds more open
 * conflicts than the 10,000 examined.
 */
TEST(test_conflicts_bounded)
{
	char inc[TF_UUID_LEN + 1];
	conf_fill vis = {NULL, "remarks", 1005, T0 + 1000 * MIN, 0};
	conf_fill hid = {NULL, "zz_nofield", 10000, T0 - MIN, 0};
	size_t base;
	tf_json *acc;
	tf_err e;
	int trunc;

	base = conflicts_listed(&dana, &trunc);
	CHECK_INT(trunc, 0);
	CHECK(base < 100);
	CHECK_INT(mk_incident(&dana, "2A12", inc, NULL), TF_ST_APPLIED);
	vis.id = hid.id = inc;
	vis.n = 1000 - base;
	CHECK_INT(tf_db_write(srv.db, put_confs, &vis, &e), 0);
	CHECK_INT(conflicts_listed(&dana, &trunc), 1000);
	CHECK_INT(trunc, 0);
	acc = access_entries();
	CHECK_INT(detail_int(acc->u.items[acc->len - 1], "conflicts"), 1000);
	tf_json_free(acc);
	vis.del = 1;
	CHECK_INT(tf_db_write(srv.db, put_confs, &vis, &e), 0);
	vis.del = 0;
	vis.n = 1005;
	CHECK_INT(tf_db_write(srv.db, put_confs, &vis, &e), 0);
	CHECK_INT(conflicts_listed(&dana, &trunc), 1000);
	CHECK_INT(trunc, 1);
	/* Brooks (2A14) may see none of them: nothing was left out. */
	CHECK_INT(conflicts_listed(&brooks, &trunc), 0);
	CHECK_INT(trunc, 0);
	vis.del = 1;
	CHECK_INT(tf_db_write(srv.db, put_confs, &vis, &e), 0);
	/* 10,000 older rows nobody may see hide the rest of the agency. */
	CHECK_INT(tf_db_write(srv.db, put_confs, &hid, &e), 0);
	CHECK_INT(conflicts_listed(&dana, &trunc), 0);
	CHECK_INT(trunc, 1);
	hid.del = 1;
	CHECK_INT(tf_db_write(srv.db, put_confs, &hid, &e), 0);
	CHECK_INT(conflicts_listed(&dana, &trunc), base);
	CHECK_INT(trunc, 0);
}

/* ------------------------------------------------------------ replicas */

/* tf_sim_sync's loop against tenfourd's services. */
static int rsync(tf_replica *r, const tf_srv_caller *c, int64_t server_ms,
		 int64_t replica_ms, size_t limit, tf_err *err)
{
	tf_pull_page page;
	tf_buf req, rep;
	size_t guard, before, stalled = 0;
	int rc = 0, more = 1;

	tf_buf_init(&req);
	tf_buf_init(&rep);
	for (guard = 0; guard < 1000 && tf_replica_unsent(r) > 0; guard++) {
		before = tf_replica_unsent(r);
		tf_buf_reset(&req);
		tf_buf_reset(&rep);
		rc = tf_replica_push_request(r, 1000, &req);
		if (rc == 0)
			rc = tf_sync_push(&srv, c, server_ms, req.data, req.len,
					  &rep, err);
		if (rc == 0)
			CHECK(same_as_push_encoder(rep.data, rep.len));
		if (rc == 0)
			rc = tf_replica_apply_push_reply(
				r, replica_ms, rep.data, rep.len, err);
		if (rc)
			goto out;
		if (tf_replica_unsent(r) < before)
			stalled = 0;
		else if (++stalled > 3)
			break;
	}
	for (guard = 0; guard < 1000 && more; guard++) {
		tf_buf_reset(&rep);
		rc = tf_sync_pull(&srv, c, server_ms, tf_replica_cursor(r),
				  limit, &rep, NULL, NULL, err);
		if (rc == 0)
			CHECK(same_as_pull_encoder(rep.data, rep.len));
		if (rc == 0)
			rc = tf_pull_page_decode(rep.data, rep.len, NULL, NULL,
						 &page, err);
		if (rc)
			goto out;
		more = page.has_more;
		tf_pull_page_clear(&page);
		rc = tf_replica_apply_pull(r, replica_ms, rep.data, rep.len,
					   err);
		if (rc)
			goto out;
	}
out:
	tf_buf_free(&req);
	tf_buf_free(&rep);
	return rc;
}

static int mutate(tf_replica *r, int64_t now, const char *entity,
		  const char *id, char *id_out, tf_op op, const char *args)
{
	uint8_t rnd[20];
	tf_json *a = NULL;
	tf_err e;
	int rc;

	if (tf_json_parse(args, strlen(args), NULL, &a, &e) != 0)
		return TF_EJSON;
	tf_test_rand_bytes(&rnd_state, rnd, sizeof rnd);
	rc = tf_replica_mutate(r, now, rnd, 1, entity, id, op, a, NULL, id_out,
			       &e);
	tf_json_free(a);
	return rc;
}

/* Every record r shows is the server's bytes, and r shows all of them. */
static int converged(tf_replica *r, const tf_srv_caller *c)
{
	tf_buf ids, mine;
	tf_json *list = NULL;
	size_t i, nrec = 0, npur = 0;
	int same = 1;

	tf_buf_init(&ids);
	tf_buf_init(&mine);
	tf_replica_list_json(r, NULL, &ids);
	tf_json_parse(ids.data, ids.len, NULL, &list, NULL);
	for (i = 0; list && i < list->len; i++) {
		const char *id = list->u.items[i]->u.str;
		char *st = server_state(c->user.agency, id);
		tf_buf_reset(&mine);
		tf_json_write(tf_replica_get(r, id), &mine);
		if (st == NULL || strcmp(st, tf_buf_cstr(&mine)) != 0) {
			fprintf(stderr, "record %s\nserver:  %s\nreplica: %s\n",
				id, st ? st : "(none)", tf_buf_cstr(&mine));
			same = 0;
		}
		free(st);
	}
	free(pull_all(c, "", 5000, &nrec, &npur));
	if (list == NULL || nrec != list->len) {
		fprintf(stderr, "server shows %zu records, replica %zu\n", nrec,
			list ? list->len : 0);
		same = 0;
	}
	tf_json_free(list);
	tf_buf_free(&ids);
	tf_buf_free(&mine);
	return same;
}

TEST(test_replicas_converge)
{
	tf_srv_caller d2 = {0}, o2 = {0};
	tf_replica *rd = NULL, *ro = NULL;
	char inc[TF_UUID_LEN + 1], unit[TF_UUID_LEN + 1];
	int64_t now = T0 + 30 * MIN;
	tf_replica_summary sum;
	tf_err e;

	/* Fresh devices so the replicas start at seq 1. */
	mk_caller(&d2, "pd1", "dana", "console-dana-2", NULL, "dispatcher");
	mk_caller(&o2, "pd1", "alvarez", "mdt-2a12-b", "2A12", "officer");
	CHECK_INT(tf_replica_new(schema, "console-dana-2", "dana", 0, &rd), 0);
	CHECK_INT(tf_replica_new(schema, "mdt-2a12-b", "alvarez", 0, &ro), 0);
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(rsync(ro, &o2, now, now, 7, &e), 0);

	CHECK_INT(mutate(rd, now, "incident", NULL, inc, TF_OP_CREATE,
			 "{\"fields\":{\"assigned_units\":[\"2A12\"],"
			 "\"priority\":2,\"remarks\":\"shots fired\","
			 "\"status\":\"pending\"}}"),
		  0);
	CHECK_INT(mutate(rd, now, "unit", NULL, unit, TF_OP_CREATE,
			 "{\"fields\":{\"status\":\"available\"}}"),
		  0);
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(rsync(ro, &o2, now, now, 7, &e), 0);
	CHECK(tf_replica_get(ro, inc) != NULL);

	/* The officer's clock runs 3 minutes fast: clock_skew, re-stamp. */
	now += MIN;
	CHECK_INT(mutate(ro, now + 3 * MIN, "incident", inc, NULL, TF_OP_SET,
			 "{\"fields\":{\"status\":\"active\"}}"),
		  0);
	CHECK_INT(mutate(ro, now + 3 * MIN, "incident", inc, NULL, TF_OP_APPEND,
			 "{\"body\":{\"text\":\"on scene\"},\"field\":"
			 "\"notes\"}"),
		  0);
	CHECK_INT(mutate(rd, now, "incident", inc, NULL, TF_OP_SET,
			 "{\"fields\":{\"priority\":1}}"),
		  0);
	CHECK_INT(rsync(ro, &o2, now, now + 3 * MIN, 7, &e), 0);
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(rsync(ro, &o2, now, now + 3 * MIN, 7, &e), 0);
	tf_replica_summary_get(ro, now, &sum);
	CHECK_INT(sum.pending, 0);
	tf_replica_summary_get(rd, now, &sum);
	CHECK_INT(sum.pending, 0);
	CHECK(converged(rd, &d2));
	CHECK(converged(ro, &o2));
	{
		const tf_json *v =
			tf_record_value(tf_replica_get(rd, inc), "status");
		CHECK(v && strcmp(v->u.str, "active") == 0);
	}

	/* Concurrent text edits: a conflict both replicas see. */
	CHECK_INT(mutate(ro, now + 3 * MIN, "incident", inc, NULL,
			 TF_OP_EDIT_TEXT,
			 "{\"base\":\"shots fired\",\"base_rev\":1,\"field\":"
			 "\"remarks\",\"text\":\"shots fired, one down\"}"),
		  0);
	CHECK_INT(mutate(rd, now, "incident", inc, NULL, TF_OP_EDIT_TEXT,
			 "{\"base\":\"shots fired\",\"base_rev\":1,\"field\":"
			 "\"remarks\",\"text\":\"shots fired near school\"}"),
		  0);
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(rsync(ro, &o2, now, now + 3 * MIN, 7, &e), 0);
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(tf_replica_state(rd, inc), TF_SYNC_CONFLICT);
	CHECK(converged(rd, &d2));
	CHECK(converged(ro, &o2));

	/* Unassigning the unit purges the incident from the officer. */
	{
		const tf_json *set = tf_record_field(tf_replica_get(rd, inc),
						     "assigned_units");
		const tf_json *el = tf_json_object_get(set, "s")->u.items[0];
		const tf_json *tags = tf_json_object_get(el, "tags");
		char args[256];
		snprintf(args, sizeof args,
			 "{\"field\":\"assigned_units\",\"tags\":[\"%s\"],"
			 "\"value\":\"2A12\"}",
			 tags->u.items[0]->u.str);
		CHECK_INT(mutate(rd, now, "incident", inc, NULL,
				 TF_OP_SET_REMOVE, args),
			  0);
	}
	CHECK_INT(rsync(rd, &d2, now, now, 7, &e), 0);
	CHECK_INT(rsync(ro, &o2, now, now + 3 * MIN, 7, &e), 0);
	CHECK(tf_replica_get(ro, inc) == NULL);
	CHECK(tf_replica_get(ro, unit) != NULL);
	CHECK(converged(rd, &d2));
	CHECK(converged(ro, &o2));
	tf_replica_free(rd);
	tf_replica_free(ro);
}

int main(int argc, char **argv)
{
	(void)argc;
	setup();
	RUN(test_push_applied_and_replay);
	RUN(test_request_hash_stable);
	RUN(test_push_same_record_batch);
	RUN(test_push_rejection_replayed);
	RUN(test_push_gap_stops);
	RUN(test_push_cmd_id_reused);
	RUN(test_push_clock_skew_and_restamp);
	RUN(test_push_refused_requests);
	RUN(test_acl_rules);
	RUN(test_acl_officer_own_unit);
	RUN(test_agency_isolation);
	RUN(test_text_conflict_and_resolution);
	RUN(test_stale_resolve_replaces_conflict);
	RUN(test_resolution_excerpt_bounded);
	RUN(test_pull_paging);
	RUN(test_pull_purge_on_unassign);
	RUN(test_pull_reset_and_bad_cursor);
	RUN(test_replicas_converge);
	RUN(test_pull_scope_matches_policy);
	RUN(test_access_audited);
	RUN(test_access_unaudited_fails);
	RUN(test_text_revisions_bounded);
	RUN(test_conflicts_bounded);
	RUN(test_pull_stored_bytes); /* last: it stores a malformed row */
	teardown();
	return tf_test_finish(argv[0]);
}
