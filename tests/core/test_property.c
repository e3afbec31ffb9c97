/*
 * test_property.c - convergence under random schedules.  Each schedule
 * runs 2-5 replicas against the reference server (sim_server.c) on a
 * few shared records: random ops of every merge class, pushes lost,
 * resent and delivered late or twice, push replies lost, pull pages cut
 * at random limits and lost, devices offline for a while, clocks skewed
 * (one sometimes beyond the server's limit, so it is re-stamped),
 * replicas saved and reloaded mid-run.  At the end everything is
 * delivered and the properties are checked:
 *  - every replica's view is the server's state, byte for byte;
 *  - no log entry is lost and none doubles: every applied append (and
 *    every lww history entry) is in its log exactly once;
 *  - one effect per command id: each id is in the ledger once;
 *  - add-wins: an added tag is present unless a remove that saw it was
 *    applied, and every present tag comes from an applied add;
 *  - concurrent edits of a text from one base make a conflict (at most
 *    one of them applies) and no proposed text is lost: it is in its
 *    conflict or a person's resolution names it;
 *  - the HLC never goes back across a save and reload;
 *  - nothing ends silently: every command the server rejected raised
 *    exactly one rejection notice on the replica that issued it (open,
 *    or acknowledged by the schedule), and every command's outcome as
 *    the replica saw it (rejected, or settled without a notice) is the
 *    ledger's.  Lost push replies are often followed at once by a
 *    complete pull, whose final ack passes commands whose result the
 *    replica never received; a phase field with transitions makes
 *    racing writes rejected.
 *
 * TF_SEED (default 1) and TF_SCHEDULES (default 2000) choose the runs;
 * a failing schedule prints the seed that replays it alone.
 */
#include "tenfour/replica.h"

#include "sim_server.h"
#include "tf_test.h"

#define T0 1764000000000LL
#define MAX_REPLICAS 5
#define MAX_RECORDS 16
#define MAX_CMDS 2048
#define MAX_INFLIGHT 64

static const char schema_text[] =
	"{\"schema_version\":1,"
	"\"roles\":[\"officer\"],"
	"\"entities\":{\"item\":{"
	"\"scope\":{\"rule\":\"agency\"},"
	"\"read_roles\":[\"officer\"],\"write_roles\":[\"officer\"],"
	"\"fields\":{"
	"\"a\":{\"class\":\"lww\",\"type\":\"integer\",\"min\":0,\"max\":"
	"1000000},"
	"\"b\":{\"class\":\"lww\",\"type\":\"string\",\"max\":64},"
	"\"st\":{\"class\":\"lww\",\"type\":\"enum\",\"values\":[\"x\",\"y\","
	"\"z\"],"
	"\"history\":\"hist\"},"
	"\"hist\":{\"class\":\"log\",\"type\":\"object\",\"props\":{"
	"\"field\":{\"type\":\"enum\",\"values\":[\"st\"],\"required\":true},"
	"\"value\":{\"type\":\"enum\",\"values\":[\"x\",\"y\",\"z\"],"
	"\"required\":true}},\"max_entries\":100000},"
	"\"log\":{\"class\":\"log\",\"type\":\"object\",\"props\":{"
	"\"text\":{\"type\":\"string\",\"max\":64,\"required\":true}},"
	"\"max_entries\":100000},"
	"\"tags\":{\"class\":\"set\",\"type\":\"string\",\"max\":16,"
	"\"max_entries\":64},"
	"\"txt\":{\"class\":\"text\",\"max_bytes\":65536},"
	"\"ph\":{\"class\":\"lww\",\"type\":\"enum\",\"values\":[\"a\",\"b\","
	"\"c\"],\"transitions\":{\"a\":[\"b\",\"c\"],\"b\":[\"a\"],\"c\":["
	"\"a\"]}}"
	"}}}}";

static tf_schema *schema;

/* What the schedules exercised, summed over the run (printed). */
static struct {
	unsigned long cmds, conflicts, rejected, superseded, notices_rej;
	unsigned long restarts, late, skewed, lost_replies, lost_then_pull;
	unsigned long acked, reused, held_unknown;
} stats;

/* What the test remembers about every command it issued. */
typedef struct issued {
	char cmd_id[TF_UUID_LEN + 1];
	char record_id[TF_UUID_LEN + 1];
	tf_op op;
	int64_t base_rev;		/* edit_text */
	char text[256];			/* edit_text: the proposed text */
	char conflict[TF_UUID_LEN + 1]; /* resolve: the conflict */
	char value[16];			/* set_add / set_remove */
	char tags[8][TF_UUID_LEN + 1];	/* set_remove: tags it saw */
	size_t ntags;
	int has_st;	/* set/create of st: a history entry */
	int tags_added; /* create with tags: adds each with tag cmd_id */
	char add_values[4][16];
	int replica;	   /* the replica that issued it */
	int rej_acked;	   /* its rejection notices the schedule acknowledged */
	char rej_code[32]; /* the code of the last one */
} issued;

typedef struct inflight {
	char *req;
	size_t len;
} inflight;

typedef struct world {
	uint64_t rs;
	tf_sim *sv;
	int n;
	tf_replica *r[MAX_REPLICAS];
	char dev[MAX_REPLICAS][16];
	int64_t skew[MAX_REPLICAS];
	int online[MAX_REPLICAS];
	int64_t now; /* server time */
	char recs[MAX_RECORDS][TF_UUID_LEN + 1];
	int nrecs;
	issued *cmds;
	size_t ncmds;
	inflight fly[MAX_INFLIGHT];
	int nfly;
	int failed; /* a check failed: stop this schedule */
} world;

static uint64_t rnd(world *w, uint64_t n)
{
	return n ? tf_test_rand(&w->rs) % n : 0;
}

static int chance(world *w, int percent)
{
	return (int)rnd(w, 100) < percent;
}

#define FAILW(w, ...)                                                          \
	do {                                                                   \
		tf_test_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
		(w)->failed = 1;                                               \
	} while (0)

/* ------------------------------------------------------------ ops */

static int64_t rnow(const world *w, int i)
{
	return w->now + w->skew[i];
}

/* Issues a mutation on replica i; records it when accepted. */
static int mutate(world *w, int i, const char *record_id, tf_op op,
		  const char *args_text, issued *info)
{
	char cmd[TF_UUID_LEN + 1], rid[TF_UUID_LEN + 1];
	uint8_t bytes[20];
	tf_json *args = NULL;
	tf_hlc before = tf_replica_clock(w->r[i]);
	tf_err err;
	int rc;

	if (tf_json_parse(args_text, strlen(args_text), NULL, &args, &err)) {
		FAILW(w, "bad args %s: %s", args_text, err.msg);
		return -1;
	}
	tf_test_rand_bytes(&w->rs, bytes, sizeof bytes);
	rc = tf_replica_mutate(w->r[i], rnow(w, i), bytes, 1, "item", record_id,
			       op, args, cmd, rid, &err);
	tf_json_free(args);
	if (rc != 0)
		return rc; /* refused locally (e.g. too many conflicts) */
	if (tf_replica_clock(w->r[i]) <= before)
		FAILW(w, "stamp did not move forward on %s", w->dev[i]);
	if (w->ncmds < MAX_CMDS) {
		info->op = op;
		info->replica = i;
		memcpy(info->cmd_id, cmd, sizeof cmd);
		memcpy(info->record_id, rid, sizeof rid);
		w->cmds[w->ncmds++] = *info;
	}
	if (op == TF_OP_CREATE && w->nrecs < MAX_RECORDS)
		memcpy(w->recs[w->nrecs++], rid, sizeof rid);
	return 0;
}

static const char *const words[] = {"alpha", "bravo", "charlie", "delta",
				    "echo",  "fox",   "golf",	 "hotel"};
static const char *const tagvals[] = {"t0", "t1", "t2", "t3", "t4", "t5"};

/* A record id from replica i's view, or NULL. */
static const char *pick_record(world *w, int i)
{
	int k, start;

	if (w->nrecs == 0)
		return NULL;
	start = (int)rnd(w, (uint64_t)w->nrecs);
	for (k = 0; k < w->nrecs; k++) {
		const char *id = w->recs[(start + k) % w->nrecs];
		if (tf_replica_get(w->r[i], id))
			return id;
	}
	return NULL;
}

static void op_create(world *w, int i)
{
	issued info;
	char args[256];

	memset(&info, 0, sizeof info);
	if (chance(w, 50)) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"a\":%d,\"st\":\"x\",\"txt\":\"start\","
			 "\"tags\":[\"%s\"]}}",
			 (int)rnd(w, 1000), tagvals[rnd(w, 6)]);
		info.has_st = 1;
		info.tags_added = 1;
		sscanf(strstr(args, "\"tags\":[\"") + 9, "%15[^\"]",
		       info.add_values[0]);
	} else {
		snprintf(args, sizeof args, "{\"fields\":{\"b\":\"new\"}}");
	}
	mutate(w, i, NULL, TF_OP_CREATE, args, &info);
}

static void op_lww(world *w, int i, const char *id)
{
	issued info;
	char args[256];
	int k = (int)rnd(w, 3);

	memset(&info, 0, sizeof info);
	if (k == 0) {
		snprintf(args, sizeof args, "{\"fields\":{\"a\":%d}}",
			 (int)rnd(w, 1000000));
	} else if (k == 1) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"b\":\"%s\",\"a\":%d}}",
			 words[rnd(w, 8)], (int)rnd(w, 100));
	} else {
		snprintf(args, sizeof args, "{\"fields\":{\"st\":\"%c\"}}",
			 "xyz"[rnd(w, 3)]);
		info.has_st = 1;
	}
	mutate(w, i, id, TF_OP_SET, args, &info);
}

/*
 * Moves the phase field along its transitions from the value replica i
 * sees.  Two replicas moving from the same phase race: the later stamp
 * wins and its transition is checked against the winner's value, so the
 * server rejects it (transition_not_allowed) while both were fine
 * locally.
 */
static void op_phase(world *w, int i, const char *id)
{
	const tf_json *v = tf_record_value(tf_replica_get(w->r[i], id), "ph");
	const char *cur = v && v->type == TF_JSON_STRING ? v->u.str : NULL;
	const char *next;
	issued info;
	char args[64];

	if (cur == NULL || strcmp(cur, "a") != 0)
		next = "a";
	else
		next = chance(w, 50) ? "b" : "c";
	memset(&info, 0, sizeof info);
	snprintf(args, sizeof args, "{\"fields\":{\"ph\":\"%s\"}}", next);
	mutate(w, i, id, TF_OP_SET, args, &info);
}

static void op_append(world *w, int i, const char *id)
{
	issued info;
	char args[128];

	memset(&info, 0, sizeof info);
	snprintf(args, sizeof args,
		 "{\"field\":\"log\",\"body\":{\"text\":\"%s %d\"}}",
		 words[rnd(w, 8)], (int)rnd(w, 1000));
	mutate(w, i, id, TF_OP_APPEND, args, &info);
}

static void op_set_add(world *w, int i, const char *id)
{
	issued info;
	char args[128];

	memset(&info, 0, sizeof info);
	snprintf(info.value, sizeof info.value, "%s", tagvals[rnd(w, 6)]);
	snprintf(args, sizeof args, "{\"field\":\"tags\",\"value\":\"%s\"}",
		 info.value);
	mutate(w, i, id, TF_OP_SET_ADD, args, &info);
}

static void op_set_remove(world *w, int i, const char *id)
{
	const tf_json *s = tf_json_object_get(
		tf_record_field(tf_replica_get(w->r[i], id), "tags"), "s");
	const tf_json *el, *tags;
	issued info;
	tf_buf args;
	size_t k;

	if (s == NULL || s->len == 0)
		return;
	memset(&info, 0, sizeof info);
	el = s->u.items[rnd(w, s->len)];
	tags = tf_json_object_get(el, "tags");
	snprintf(info.value, sizeof info.value, "%s",
		 tf_json_get_str(el, "v", NULL));
	for (k = 0; tags && k < tags->len && k < 8; k++)
		snprintf(info.tags[info.ntags++], TF_UUID_LEN + 1, "%s",
			 tags->u.items[k]->u.str);
	tf_buf_init(&args);
	tf_buf_printf(&args, "{\"field\":\"tags\",\"value\":\"%s\",\"tags\":[",
		      info.value);
	for (k = 0; k < info.ntags; k++)
		tf_buf_printf(&args, "%s\"%s\"", k ? "," : "", info.tags[k]);
	tf_buf_puts(&args, "]}");
	mutate(w, i, id, TF_OP_SET_REMOVE, args.data, &info);
	tf_buf_free(&args);
}

static void op_edit(world *w, int i, const char *id)
{
	const tf_json *st = tf_record_field(tf_replica_get(w->r[i], id), "txt");
	const char *base = st ? tf_json_get_str(st, "v", NULL) : "";
	int64_t rev = 0;
	issued info;
	tf_buf args;

	if (st)
		tf_json_int64(tf_json_object_get(st, "rev"), &rev);
	if (base == NULL || strlen(base) > 180)
		base = "";
	memset(&info, 0, sizeof info);
	info.base_rev = rev;
	/* Unique words: an edit never equals another by chance. */
	snprintf(info.text, sizeof info.text, "%s %s%zu", base,
		 words[rnd(w, 8)], w->ncmds);
	tf_buf_init(&args);
	tf_buf_printf(&args, "{\"field\":\"txt\",\"base_rev\":%lld,\"base\":",
		      (long long)rev);
	tf_json_write_string(&args, base, strlen(base));
	tf_buf_puts(&args, ",\"text\":");
	tf_json_write_string(&args, info.text, strlen(info.text));
	tf_buf_putc(&args, '}');
	mutate(w, i, id, TF_OP_EDIT_TEXT, args.data, &info);
	tf_buf_free(&args);
}

static void op_resolve(world *w, int i, const char *id)
{
	const tf_json *st = tf_record_field(tf_replica_get(w->r[i], id), "txt");
	const tf_json *cs = st ? tf_json_object_get(st, "conflicts") : NULL;
	const tf_json *c;
	const char *head, *prop, *merged, *text, *choice;
	char custom[512];
	int64_t rev = 0;
	issued info;
	tf_buf args;

	if (cs == NULL || cs->len == 0)
		return;
	tf_json_int64(tf_json_object_get(st, "rev"), &rev);
	c = cs->u.items[rnd(w, cs->len)];
	head = tf_json_get_str(st, "v", NULL);
	prop = tf_json_get_str(c, "proposed", NULL);
	merged = tf_json_get_str(c, "merged", NULL);
	switch (rnd(w, 4)) {
	case 0:
		choice = "mine";
		text = prop;
		break;
	case 1:
		choice = "theirs";
		text = head;
		break;
	case 2:
		if (merged) {
			choice = "merged";
			text = merged;
			break;
		}
		/* fall through */
	default:
		choice = "custom";
		snprintf(custom, sizeof custom, "%.200s | %.200s", prop, head);
		text = custom;
		break;
	}
	memset(&info, 0, sizeof info);
	snprintf(info.conflict, sizeof info.conflict, "%s",
		 tf_json_get_str(c, "id", NULL));
	tf_buf_init(&args);
	tf_buf_printf(
		&args,
		"{\"field\":\"txt\",\"conflict\":\"%s\",\"head_rev\":%lld,"
		"\"choice\":\"%s\",\"text\":",
		info.conflict, (long long)rev, choice);
	tf_json_write_string(&args, text, strlen(text));
	tf_buf_putc(&args, '}');
	mutate(w, i, id, TF_OP_RESOLVE, args.data, &info);
	tf_buf_free(&args);
}

/* ------------------------------------------------------------ network */

static void keep_inflight(world *w, const char *req, size_t len)
{
	inflight *f;

	if (w->nfly >= MAX_INFLIGHT)
		return;
	f = &w->fly[w->nfly++];
	f->req = malloc(len + 1);
	if (f->req == NULL) {
		w->nfly--;
		return;
	}
	memcpy(f->req, req, len + 1);
	f->len = len;
}

/* A late copy of an earlier push reaches the server; its reply is lost
 * (the client gave up on it long ago). */
static void deliver_late(world *w, int idx)
{
	tf_buf rep;
	tf_err err;

	tf_buf_init(&rep);
	if (tf_sim_push(w->sv, w->now, w->fly[idx].req, w->fly[idx].len, &rep,
			&err) != 0)
		FAILW(w, "late push refused: %s", err.msg);
	tf_buf_free(&rep);
	stats.late++;
	free(w->fly[idx].req);
	w->fly[idx] = w->fly[--w->nfly];
}

/*
 * A complete pull of replica i (pages of random size, none lost), as a
 * client that just reconnected would make; its final page carries the
 * server's ack.
 */
static void pull_complete(world *w, int i)
{
	tf_pull_page pg;
	tf_buf page;
	tf_err err;
	int more = 1, guard;

	tf_buf_init(&page);
	for (guard = 0; more && guard < 1000 && !w->failed; guard++) {
		tf_buf_reset(&page);
		if (tf_sim_pull(w->sv, w->now, w->dev[i],
				tf_replica_cursor(w->r[i]),
				1 + (size_t)rnd(w, 4), &page, &err) != 0 ||
		    tf_pull_page_decode(page.data, page.len, NULL, NULL, &pg,
					&err) != 0) {
			FAILW(w, "pull: %s", err.msg);
			break;
		}
		more = pg.has_more;
		tf_pull_page_clear(&pg);
		if (tf_replica_apply_pull(w->r[i], rnow(w, i), page.data,
					  page.len, &err) != 0)
			FAILW(w, "pull page on %s: %s", w->dev[i], err.msg);
	}
	tf_buf_free(&page);
}

static void net_push(world *w, int i)
{
	tf_replica_summary s;
	tf_buf req, rep;
	tf_err err;
	int rc;

	if (tf_replica_unsent(w->r[i]) == 0)
		return;
	tf_buf_init(&req);
	tf_buf_init(&rep);
	rc = tf_replica_push_request(w->r[i], 1 + (size_t)rnd(w, 5), &req);
	if (rc) {
		FAILW(w, "push request: %d", rc);
		goto out;
	}
	if (chance(w, 10))
		goto out; /* lost on the way */
	if (chance(w, 15)) {
		keep_inflight(w, req.data, req.len); /* arrives late */
		goto out;
	}
	if (chance(w, 10))
		keep_inflight(w, req.data, req.len); /* and a copy later */
	rc = tf_sim_push(w->sv, w->now, req.data, req.len, &rep, &err);
	if (rc) {
		FAILW(w, "push refused: %s", err.msg);
		goto out;
	}
	if (chance(w, 25)) {
		/* The reply is lost; often a pull follows at once. */
		stats.lost_replies++;
		if (chance(w, 60)) {
			stats.lost_then_pull++;
			pull_complete(w, i);
			/*
			 * Held by the server with no result known: every
			 * command to send that is not above the ack (all
			 * seqs above it are pending).
			 */
			tf_replica_summary_get(w->r[i], rnow(w, i), &s);
			stats.held_unknown += tf_replica_unsent(w->r[i]) -
					      (s.next_seq - 1 - s.ack);
		}
		goto out;
	}
	rc = tf_replica_apply_push_reply(w->r[i], rnow(w, i), rep.data, rep.len,
					 &err);
	if (rc)
		FAILW(w, "push reply on %s: %s", w->dev[i], err.msg);
out:
	tf_buf_free(&req);
	tf_buf_free(&rep);
}

static void net_pull(world *w, int i)
{
	tf_buf page;
	tf_err err;
	int rc;

	tf_buf_init(&page);
	rc = tf_sim_pull(w->sv, w->now, w->dev[i], tf_replica_cursor(w->r[i]),
			 1 + (size_t)rnd(w, 4), &page, &err);
	if (rc)
		FAILW(w, "pull refused: %s", err.msg);
	else if (!chance(w, 15) &&
		 tf_replica_apply_pull(w->r[i], rnow(w, i), page.data, page.len,
				       &err) != 0)
		FAILW(w, "pull page on %s: %s", w->dev[i], err.msg);
	tf_buf_free(&page);
}

/* Saves and loads replica i again, as after a restart. */
static void restart(world *w, int i)
{
	tf_buf a, b;
	tf_replica *r = NULL;
	tf_hlc clk = tf_replica_clock(w->r[i]);
	tf_err err;

	tf_buf_init(&a);
	tf_buf_init(&b);
	if (tf_replica_save(w->r[i], &a) != 0) {
		FAILW(w, "save failed");
		goto out;
	}
	if (tf_replica_load(schema, a.data, a.len, &r, &err) != 0) {
		FAILW(w, "load failed: %s", err.msg);
		goto out;
	}
	if (tf_replica_save(r, &b) != 0 || strcmp(a.data, b.data) != 0)
		FAILW(w, "save/load/save not byte-identical");
	if (tf_replica_clock(r) != clk)
		FAILW(w, "clock not kept across restart");
	tf_replica_free(w->r[i]);
	w->r[i] = r;
	r = NULL;
	stats.restarts++;
out:
	tf_replica_free(r);
	tf_buf_free(&a);
	tf_buf_free(&b);
}

/* The issued command with this id, or NULL. */
static issued *find_issued(world *w, const char *cmd_id)
{
	size_t k;

	for (k = 0; k < w->ncmds; k++)
		if (strcmp(w->cmds[k].cmd_id, cmd_id) == 0)
			return &w->cmds[k];
	return NULL;
}

/* The officer acknowledges one open notice of replica i (remembered). */
static void ack_one_notice(world *w, int i)
{
	tf_buf b;
	tf_json *arr = NULL;
	const tf_json *n;
	const char *id, *kind;

	tf_buf_init(&b);
	if (tf_replica_notices_json(w->r[i], &b) != 0 ||
	    tf_json_parse(b.data, b.len, NULL, &arr, NULL) != 0) {
		FAILW(w, "notices of %s unreadable", w->dev[i]);
		goto out;
	}
	if (arr->len == 0)
		goto out;
	n = arr->u.items[rnd(w, arr->len)];
	id = tf_json_get_str(n, "id", NULL);
	kind = tf_json_get_str(n, "kind", NULL);
	if (id == NULL || kind == NULL ||
	    tf_replica_ack_notice(w->r[i], id) != 0) {
		FAILW(w, "ack of a notice on %s failed", w->dev[i]);
		goto out;
	}
	stats.acked++;
	if (strcmp(kind, "rejected") == 0) {
		issued *c = find_issued(w, id);
		if (c) {
			c->rej_acked++;
			snprintf(c->rej_code, sizeof c->rej_code, "%s",
				 tf_json_get_str(n, "code", NULL)
					 ? tf_json_get_str(n, "code", NULL)
					 : "");
		}
	}
out:
	tf_json_free(arr);
	tf_buf_free(&b);
}

/* ------------------------------------------------------------ checks */

static const tf_json *find_conflict(const tf_json *rec, const char *id)
{
	const tf_json *cs =
		tf_json_object_get(tf_record_field(rec, "txt"), "conflicts");
	size_t k;

	for (k = 0; cs && k < cs->len; k++) {
		const char *cid = tf_json_get_str(cs->u.items[k], "id", NULL);
		if (cid && strcmp(cid, id) == 0)
			return cs->u.items[k];
	}
	return NULL;
}

static size_t count_log_id(const tf_json *rec, const char *field,
			   const char *id)
{
	const tf_json *e = tf_json_object_get(tf_record_field(rec, field), "e");
	size_t k, n = 0;

	for (k = 0; e && k < e->len; k++) {
		const char *eid = tf_json_get_str(e->u.items[k], "id", NULL);
		if (eid && strcmp(eid, id) == 0)
			n++;
	}
	return n;
}

/* 1 when tag is on element `value` of rec's tags; 2+ would be a bug. */
static int has_tag(const tf_json *rec, const char *value, const char *tag)
{
	const tf_json *s =
		tf_json_object_get(tf_record_field(rec, "tags"), "s");
	size_t k, j;
	int n = 0;

	for (k = 0; s && k < s->len; k++) {
		const tf_json *tags = tf_json_object_get(s->u.items[k], "tags");
		const char *v = tf_json_get_str(s->u.items[k], "v", NULL);
		if (v == NULL || strcmp(v, value) != 0)
			continue;
		for (j = 0; tags && j < tags->len; j++)
			if (strcmp(tags->u.items[j]->u.str, tag) == 0)
				n++;
	}
	return n;
}

static int status_of(world *w, const char *cmd_id, tf_status *st,
		     const tf_json **detail)
{
	return tf_sim_cmd_result(w->sv, cmd_id, st, detail);
}

static int applied(tf_status st)
{
	return st == TF_ST_APPLIED || st == TF_ST_CONFLICT;
}

/* Was tag `tag` of value on record named by an applied remove? */
static int removed(world *w, const char *record_id, const char *tag)
{
	size_t k, j;

	for (k = 0; k < w->ncmds; k++) {
		const issued *c = &w->cmds[k];
		tf_status st;
		if (c->op != TF_OP_SET_REMOVE ||
		    strcmp(c->record_id, record_id) != 0)
			continue;
		if (status_of(w, c->cmd_id, &st, NULL) || !applied(st))
			continue;
		for (j = 0; j < c->ntags; j++)
			if (strcmp(c->tags[j], tag) == 0)
				return 1;
	}
	return 0;
}

/*
 * Open rejection notices naming cmd_id in notices (a parsed array);
 * *code receives the first one's code.
 */
static int open_rejections(const tf_json *notices, const char *cmd_id,
			   const char **code)
{
	size_t k;
	int n = 0;

	for (k = 0; notices && k < notices->len; k++) {
		const tf_json *o = notices->u.items[k];
		const char *kind = tf_json_get_str(o, "kind", NULL);
		const char *id = tf_json_get_str(o, "cmd_id", NULL);
		if (kind == NULL || strcmp(kind, "rejected") != 0 ||
		    id == NULL || strcmp(id, cmd_id) != 0)
			continue;
		if (n++ == 0 && tf_json_get_str(o, "code", NULL))
			*code = tf_json_get_str(o, "code", NULL);
	}
	return n;
}

/*
 * Nothing ends silently: each command's outcome as its replica saw it
 * matches the ledger.  A rejection (stored, or refused without being
 * stored) raised exactly one notice, open or acknowledged; anything the
 * ledger kept as applied, duplicate or conflict raised none.
 */
static void check_outcomes(world *w)
{
	tf_json *notices[MAX_REPLICAS] = {NULL};
	size_t k;
	int i;

	for (i = 0; i < w->n; i++) {
		tf_buf b;
		tf_buf_init(&b);
		if (tf_replica_notices_json(w->r[i], &b) != 0 ||
		    tf_json_parse(b.data, b.len, NULL, &notices[i], NULL) != 0)
			FAILW(w, "notices of %s unreadable", w->dev[i]);
		tf_buf_free(&b);
	}
	for (k = 0; k < w->ncmds && !w->failed; k++) {
		const issued *c = &w->cmds[k];
		const char *code = c->rej_code;
		tf_status st;
		int held = status_of(w, c->cmd_id, &st, NULL) == 0;
		int raised =
			open_rejections(notices[c->replica], c->cmd_id, &code) +
			c->rej_acked;
		if (!held || st == TF_ST_REJECTED) {
			if (raised != 1)
				FAILW(w,
				      "%s: command %s %s; %d rejection "
				      "notices raised, not 1",
				      w->dev[c->replica], c->cmd_id,
				      held ? "rejected by the server"
					   : "never held by the server",
				      raised);
		} else if (raised == 1 && strcmp(code, "cmd_id_reused") == 0 &&
			   w->skew[c->replica] > TF_DEFAULT_MAX_SKEW_MS) {
			/*
			 * A known gap of the protocol, not of the replica:
			 * a late copy of a request sent before a clock_skew
			 * re-stamp reached the ledger after all, so the
			 * re-stamped command (same cmd_id, other bytes) is
			 * refused as cmd_id_reused.  Only a clock past the
			 * server's limit is re-stamped.  Not silent: the
			 * officer is told; counted and printed.
			 */
			stats.reused++;
		} else if (raised != 0) {
			FAILW(w,
			      "%s: command %s is %s in the ledger but the "
			      "replica raised %d rejection notices (%s)",
			      w->dev[c->replica], c->cmd_id, tf_status_name(st),
			      raised, code);
		}
	}
	for (i = 0; i < w->n; i++)
		tf_json_free(notices[i]);
}

static void check_world(world *w)
{
	size_t k, j;
	int i;

	for (i = 0; i < w->n && !w->failed; i++) {
		tf_replica_summary s;
		tf_buf a, b, ids;
		tf_json *list = NULL;
		tf_replica_summary_get(w->r[i], w->now, &s);
		if (s.pending)
			FAILW(w, "%s: %zu commands still pending", w->dev[i],
			      s.pending);
		tf_buf_init(&a);
		tf_buf_init(&b);
		tf_buf_init(&ids);
		tf_sim_dump(w->sv, w->dev[i], &a);
		tf_replica_list_json(w->r[i], NULL, &ids);
		tf_json_parse(ids.data, ids.len, NULL, &list, NULL);
		tf_buf_putc(&b, '[');
		for (k = 0; list && k < list->len; k++) {
			if (k)
				tf_buf_putc(&b, ',');
			tf_json_write(tf_replica_get(w->r[i],
						     list->u.items[k]->u.str),
				      &b);
		}
		tf_buf_putc(&b, ']');
		if (strcmp(tf_buf_cstr(&a), tf_buf_cstr(&b)) != 0)
			FAILW(w, "%s does not match the server:\n%s\n%s",
			      w->dev[i], tf_buf_cstr(&a), tf_buf_cstr(&b));
		tf_json_free(list);
		tf_buf_free(&a);
		tf_buf_free(&b);
		tf_buf_free(&ids);
		stats.superseded += s.superseded;
		stats.notices_rej += s.rejected;
	}
	for (k = 0; k < w->ncmds && !w->failed; k++) {
		const issued *c = &w->cmds[k];
		const tf_json *rec = tf_sim_record(w->sv, c->record_id);
		const tf_json *detail = NULL;
		tf_status st;
		if (status_of(w, c->cmd_id, &st, &detail) != 0) {
			/* Never reached the ledger: only possible if it was
			 * dropped as a rejection notice on the replica. */
			continue;
		}
		stats.cmds++;
		stats.conflicts += st == TF_ST_CONFLICT;
		stats.rejected += st == TF_ST_REJECTED;
		if (c->op == TF_OP_APPEND && applied(st) &&
		    count_log_id(rec, "log", c->cmd_id) != 1)
			FAILW(w, "append %s: %zu entries", c->cmd_id,
			      count_log_id(rec, "log", c->cmd_id));
		if (c->op == TF_OP_APPEND && !applied(st) &&
		    count_log_id(rec, "log", c->cmd_id) != 0)
			FAILW(w, "rejected append %s has an entry", c->cmd_id);
		if (c->has_st && applied(st) &&
		    count_log_id(rec, "hist", c->cmd_id) != 1)
			FAILW(w, "history of %s: %zu entries", c->cmd_id,
			      count_log_id(rec, "hist", c->cmd_id));
		if (c->op == TF_OP_SET_ADD && applied(st) &&
		    has_tag(rec, c->value, c->cmd_id) !=
			    !removed(w, c->record_id, c->cmd_id))
			FAILW(w, "add-wins broken for %s (%s)", c->cmd_id,
			      c->value);
		if (c->op == TF_OP_CREATE && c->tags_added && applied(st) &&
		    has_tag(rec, c->add_values[0], c->cmd_id) !=
			    !removed(w, c->record_id, c->cmd_id))
			FAILW(w, "add-wins broken for create %s", c->cmd_id);
		if (c->op == TF_OP_EDIT_TEXT && st == TF_ST_CONFLICT) {
			const tf_json *cf = find_conflict(rec, c->cmd_id);
			int decided = 0;
			for (j = 0; j < w->ncmds && cf == NULL; j++) {
				const tf_json *rd = NULL;
				tf_status rs;
				if (w->cmds[j].op != TF_OP_RESOLVE ||
				    strcmp(w->cmds[j].conflict, c->cmd_id) ||
				    status_of(w, w->cmds[j].cmd_id, &rs, &rd) ||
				    !applied(rs))
					continue;
				decided = 1;
			}
			if (cf && strcmp(tf_json_get_str(cf, "proposed", NULL),
					 c->text) != 0)
				FAILW(w, "conflict %s lost its text",
				      c->cmd_id);
			if (cf == NULL && !decided)
				FAILW(w, "edit %s conflicted and vanished",
				      c->cmd_id);
		}
	}
	/* Every present tag comes from an applied add. */
	for (k = 0; k < (size_t)w->nrecs && !w->failed; k++) {
		const tf_json *rec = tf_sim_record(w->sv, w->recs[k]);
		const tf_json *s =
			tf_json_object_get(tf_record_field(rec, "tags"), "s");
		tf_err err;
		if (rec && tf_record_check(schema, rec, &err) != 0)
			FAILW(w, "server state invalid: %s", err.msg);
		for (j = 0; s && j < s->len; j++) {
			const tf_json *tags =
				tf_json_object_get(s->u.items[j], "tags");
			size_t t;
			for (t = 0; tags && t < tags->len; t++) {
				tf_status st;
				const char *tag = tags->u.items[t]->u.str;
				if (status_of(w, tag, &st, NULL) != 0 ||
				    !applied(st))
					FAILW(w, "tag %s has no applied add",
					      tag);
			}
		}
	}
	/* Edits of one record from one base: at most one applies. */
	for (k = 0; k < w->ncmds && !w->failed; k++) {
		const issued *c = &w->cmds[k];
		tf_status st;
		if (c->op != TF_OP_EDIT_TEXT ||
		    status_of(w, c->cmd_id, &st, NULL) || st != TF_ST_APPLIED)
			continue;
		for (j = k + 1; j < w->ncmds; j++) {
			const issued *d = &w->cmds[j];
			tf_status st2;
			if (d->op != TF_OP_EDIT_TEXT ||
			    strcmp(d->record_id, c->record_id) ||
			    d->base_rev != c->base_rev ||
			    strcmp(d->text, c->text) == 0 ||
			    status_of(w, d->cmd_id, &st2, NULL) ||
			    st2 != TF_ST_APPLIED)
				continue;
			{
				tf_buf dbg;
				tf_buf_init(&dbg);
				tf_json_write(
					tf_record_field(
						tf_sim_record(w->sv,
							      c->record_id),
						"txt"),
					&dbg);
				FAILW(w,
				      "edits %s and %s from rev %lld both "
				      "applied (%s | %s); txt now %s",
				      c->cmd_id, d->cmd_id,
				      (long long)c->base_rev, c->text, d->text,
				      tf_buf_cstr(&dbg));
				tf_buf_free(&dbg);
			}
		}
	}
	/* One ledger row per command id is kept by the sim's id set; a
	 * second effect would show above as a doubled entry or tag. */
	if (!w->failed)
		check_outcomes(w);
}

/* ------------------------------------------------------------ schedule */

static void step(world *w)
{
	int i = (int)rnd(w, (uint64_t)w->n);
	const char *id;
	uint64_t what = rnd(w, 100);

	w->now += (int64_t)rnd(w, 3000);
	if (what < 4) {
		w->online[i] = !w->online[i];
		return;
	}
	if (what < 6) {
		restart(w, i);
		return;
	}
	if (what < 8) {
		ack_one_notice(w, i);
		return;
	}
	if (what < 11) {
		if (w->nfly)
			deliver_late(w, (int)rnd(w, (uint64_t)w->nfly));
		return;
	}
	if (what < 30) {
		if (w->online[i])
			net_push(w, i);
		return;
	}
	if (what < 48) {
		if (w->online[i])
			net_pull(w, i);
		return;
	}
	if (what < 51 || w->nrecs == 0) {
		op_create(w, i);
		return;
	}
	id = pick_record(w, i);
	if (id == NULL)
		return;
	switch (rnd(w, 10)) {
	case 0:
	case 1:
		op_lww(w, i, id);
		break;
	case 8:
	case 9:
		op_phase(w, i, id);
		break;
	case 2:
		op_append(w, i, id);
		break;
	case 3:
		op_set_add(w, i, id);
		break;
	case 4:
		op_set_remove(w, i, id);
		break;
	case 5:
	case 6:
		op_edit(w, i, id);
		break;
	default:
		op_resolve(w, i, id);
		break;
	}
}

static void settle(world *w)
{
	tf_err err;
	int round, i;

	while (w->nfly)
		deliver_late(w, (int)rnd(w, (uint64_t)w->nfly));
	for (round = 0; round < 3 && !w->failed; round++) {
		w->now += 1000;
		for (i = 0; i < w->n; i++) {
			if (tf_sim_sync(w->sv, w->r[i], w->dev[i], w->now,
					rnow(w, i), 1 + (size_t)rnd(w, 6),
					&err) != 0)
				FAILW(w, "final sync of %s: %s", w->dev[i],
				      err.msg);
		}
	}
}

/* One schedule; returns 1 when it failed. */
static int run_schedule(uint64_t seed)
{
	world w;
	int i, steps, k;
	tf_err err;

	memset(&w, 0, sizeof w);
	w.rs = seed * 0x9e3779b97f4a7c15ULL + 1;
	w.cmds = calloc(MAX_CMDS, sizeof *w.cmds);
	w.now = T0;
	w.n = 2 + (int)rnd(&w, 4);
	if (w.cmds == NULL || tf_sim_new(schema, &w.sv) != 0) {
		free(w.cmds);
		return 1;
	}
	for (i = 0; i < w.n; i++) {
		snprintf(w.dev[i], sizeof w.dev[i], "dev-%d", i);
		tf_sim_add_device(w.sv, w.dev[i], 0);
		/* Within the server's 60 s, one sometimes beyond it. */
		w.skew[i] = (int64_t)rnd(&w, 80001) - 30000;
		if (i == 1 && chance(&w, 10)) {
			w.skew[i] = 75000 + (int64_t)rnd(&w, 20000);
			stats.skewed++;
		}
		w.online[i] = 1;
		{
			char user[16];
			snprintf(user, sizeof user, "user%d", i);
			if (tf_replica_new(schema, w.dev[i], user, 0,
					   &w.r[i]) != 0)
				w.failed = 1;
		}
	}
	/* A few shared records everyone starts from. */
	for (k = 0; k < 2 + (int)rnd(&w, 3) && !w.failed; k++)
		op_create(&w, 0);
	for (i = 0; i < w.n && !w.failed; i++)
		if (tf_sim_sync(w.sv, w.r[i], w.dev[i], w.now, rnow(&w, i), 0,
				&err) != 0)
			FAILW(&w, "initial sync: %s", err.msg);
	steps = 40 + (int)rnd(&w, 120);
	for (k = 0; k < steps && !w.failed; k++)
		step(&w);
	for (i = 0; i < w.n; i++)
		w.online[i] = 1;
	if (!w.failed)
		settle(&w);
	if (!w.failed)
		check_world(&w);
	for (i = 0; i < w.n; i++)
		tf_replica_free(w.r[i]);
	while (w.nfly)
		free(w.fly[--w.nfly].req);
	tf_sim_free(w.sv);
	free(w.cmds);
	return w.failed;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtoull(s, &end, 10);
	return *end == '\0' ? (uint64_t)v : dflt;
}

TEST(random_schedules)
{
	uint64_t seed = env_u64("TF_SEED", 1);
	uint64_t n = env_u64("TF_SCHEDULES", 2000), k;
	int reported = 0;

	for (k = 0; k < n; k++) {
		if (run_schedule(seed + k) && reported++ < 5)
			fprintf(stderr,
				"schedule failed: rerun with TF_SEED=%llu "
				"TF_SCHEDULES=1\n",
				(unsigned long long)(seed + k));
	}
	printf("%llu schedules from seed %llu: %lu commands (%lu conflicts, "
	       "%lu rejected), %lu supersede and %lu rejection notices open "
	       "at the end, %lu notices acknowledged, %lu replies lost (%lu "
	       "followed by a complete pull, after which %lu commands were "
	       "acked with no result known), %lu late pushes, %lu restarts, "
	       "%lu clocks past the limit; %lu false cmd_id_reused rejections "
	       "after a re-stamp\n",
	       (unsigned long long)n, (unsigned long long)seed, stats.cmds,
	       stats.conflicts, stats.rejected, stats.superseded,
	       stats.notices_rej, stats.acked, stats.lost_replies,
	       stats.lost_then_pull, stats.held_unknown, stats.late,
	       stats.restarts, stats.skewed, stats.reused);
}

int main(int argc, char **argv)
{
	tf_err err;

	(void)argc;
	if (tf_schema_load(schema_text, strlen(schema_text), &schema, &err)) {
		fprintf(stderr, "test schema: %s\n", err.msg);
		return 1;
	}
	RUN(random_schedules);
	tf_schema_free(schema);
	return tf_test_finish(argv[0]);
}
