/*
 * test_http_durability.c - exactly-once and durability of tenfourd's
 * push over HTTP: 8 concurrent pushers (one device and session each) send
 * batches with resends and duplicates while the server is killed with
 * SIGKILL (and, some rounds, stopped with SIGTERM) at random points and
 * restarted on the same data dir.  Clients keep what a 200 reply
 * acknowledged and resend the rest.
 *
 * Asserted: no reply ever acknowledges less than an earlier reply did
 * (an acknowledged command is never lost), no command is applied twice
 * (a replayed seq answers "duplicate"), and at the end, through a
 * supervisor's pull and then through the database itself after the last
 * stop: every command is in the ledger exactly once with contiguous seqs
 * per device, every ledger row's effect is in its record and every record
 * effect has its ledger row (nothing half-applied).
 *
 * Environment: TF_DURABILITY_ROUNDS (default 15, at most 200).
 */
#include "srv_harness.h"
#include "tf_test.h"

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>

#define NPUSH 8
#define MAX_CMDS 600   /* per device */
#define WINDOW 24      /* unacknowledged commands a device may have */
#define DRAIN_MS 120000

enum { K_ALOG = 1, K_APPEND, K_INCIDENT };

typedef struct cmd {
	char cmd_id[TF_UUID_LEN + 1];
	char record_id[TF_UUID_LEN + 1];
	int kind;
	char *json; /* the command's wire object, sent as is on every resend */
	int applied; /* times a reply said "applied" */
} cmd;

typedef struct pusher {
	int idx;
	pthread_t th;
	tf_h_session sess;
	char user[24], device[24];
	char alog[TF_UUID_LEN + 1];
	cmd cmds[MAX_CMDS + 1]; /* by seq */
	uint64_t generated, acked;
	uint64_t rnd;
	/* counters */
	uint64_t pushes, ok, failed, dups, relogins;
	/* the first violation seen (checked by the main thread) */
	int bad;
	char why[320];
	atomic_int done; /* the thread has returned */
} pusher;

static tf_h_server H;
static pusher P[NPUSH];
static int ready;
static atomic_int final_phase; /* no new commands; drain */
static atomic_int quit;        /* give up (deadline) */

static void violation(pusher *p, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static void violation(pusher *p, const char *fmt, ...)
{
	va_list ap;

	if (p->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
}

/* Makes command seq of pusher p (its bytes are kept for resends). */
static int make_cmd(pusher *p, uint64_t seq)
{
	cmd *c = &p->cmds[seq];
	tf_command tc;
	tf_json *j = NULL;
	char args[256];
	int64_t now = tf_h_now_ms();
	tf_buf b;
	int rc;

	memset(&tc, 0, sizeof tc);
	tf_h_uuid(now, c->cmd_id);
	memcpy(tc.cmd_id, c->cmd_id, sizeof tc.cmd_id);
	tc.seq = seq;
	tc.hlc = TF_HLC_MAKE(now, seq & 0xffff);
	snprintf(tc.device, sizeof tc.device, "%s", p->device);
	snprintf(tc.user, sizeof tc.user, "%s", p->user);
	if (seq == 1) {
		c->kind = K_ALOG;
		tf_h_uuid(now, p->alog);
		memcpy(c->record_id, p->alog, sizeof c->record_id);
		snprintf(tc.entity, sizeof tc.entity, "activity_log");
		tc.op = TF_OP_CREATE;
		snprintf(args, sizeof args,
			 "{\"fields\":{\"unit_id\":\"U%d\",\"incident_name\":"
			 "\"drill %d\",\"op_period_from\":%lld}}",
			 p->idx, p->idx, (long long)now);
	} else if (seq % 3 == 0) {
		c->kind = K_INCIDENT;
		tf_h_uuid(now, c->record_id);
		snprintf(tc.entity, sizeof tc.entity, "incident");
		tc.op = TF_OP_CREATE;
		snprintf(args, sizeof args,
			 "{\"fields\":{\"type_code\":\"drill-%d-%llu\","
			 "\"priority\":3,\"status\":\"pending\"}}",
			 p->idx, (unsigned long long)seq);
	} else {
		c->kind = K_APPEND;
		memcpy(c->record_id, p->alog, sizeof c->record_id);
		snprintf(tc.entity, sizeof tc.entity, "activity_log");
		tc.op = TF_OP_APPEND;
		snprintf(args, sizeof args,
			 "{\"field\":\"entries\",\"body\":{\"text\":\"%s "
			 "entry %llu\"}}",
			 p->device, (unsigned long long)seq);
	}
	memcpy(tc.record_id, c->record_id, sizeof tc.record_id);
	rc = tf_json_parse(args, strlen(args), NULL, &tc.args, NULL);
	if (rc == 0)
		rc = tf_command_to_json(&tc, &j);
	tf_buf_init(&b);
	if (rc == 0)
		rc = tf_json_write(j, &b);
	if (rc == 0)
		c->json = tf_buf_take(&b, NULL);
	tf_buf_free(&b);
	tf_json_free(j);
	tf_json_free(tc.args);
	return rc ? rc : (c->json ? 0 : TF_ENOMEM);
}

/*
 * One push of seqs [from, to].  Returns 1 when a 200 reply arrived, 0
 * when the server was not reachable or busy (the outcome is unknown).
 */
static int push_range(pusher *p, uint64_t from, uint64_t to)
{
	uint64_t before = p->acked, ack = 0, seq, i;
	const tf_json *res;
	tf_h_resp r;
	tf_buf body;
	int got = 0;

	tf_buf_init(&body);
	tf_h_resp_init(&r);
	tf_buf_puts(&body, "{\"commands\":[");
	for (seq = from; seq <= to; seq++) {
		if (seq > from)
			tf_buf_putc(&body, ',');
		tf_buf_puts(&body, p->cmds[seq].json);
	}
	tf_buf_printf(&body,
		      "],\"device_id\":\"%s\",\"protocol_version\":1,"
		      "\"schema_version\":%lld}",
		      p->device, (long long)H.schema->version);
	p->pushes++;
	if (body.failed ||
	    tf_h_request(&H, &p->sess, "POST", "/v1/sync/push", body.data,
			 body.len, NULL, &r) != 0 ||
	    r.status == 503 || r.status == 0) {
		p->failed++;
		goto out;
	}
	if (r.status == 401) {
		/* A session survives restarts (it is stored); count it. */
		p->relogins++;
		if (tf_h_login(&H, p->user, p->device, &p->sess) != 0)
			violation(p, "re-login of %s failed", p->user);
		goto out;
	}
	if (r.status != 200) {
		violation(p, "push %llu..%llu: HTTP %ld %.200s",
			  (unsigned long long)from, (unsigned long long)to,
			  r.status, tf_buf_cstr(&r.body));
		goto out;
	}
	got = 1;
	p->ok++;
	if (tf_json_uint64(tf_h_get(r.json, "ack", NULL), &ack) != 0) {
		violation(p, "reply without ack: %.200s", tf_buf_cstr(&r.body));
		goto out;
	}
	if (ack < before)
		violation(p,
			  "acknowledged commands lost: ack %llu after %llu "
			  "was acknowledged",
			  (unsigned long long)ack, (unsigned long long)before);
	if (ack > p->generated)
		violation(p, "ack %llu beyond the %llu commands sent",
			  (unsigned long long)ack,
			  (unsigned long long)p->generated);
	res = tf_h_get(r.json, "results", NULL);
	if (res == NULL || res->type != TF_JSON_ARRAY ||
	    res->len != to - from + 1) {
		violation(p, "push %llu..%llu: %zu results: %.200s",
			  (unsigned long long)from, (unsigned long long)to,
			  res ? res->len : 0, tf_buf_cstr(&r.body));
		goto out;
	}
	for (i = 0; i < res->len; i++) {
		const tf_json *x = res->u.items[i];
		const char *st = tf_h_str(x, "status", NULL);
		cmd *c;
		seq = (uint64_t)tf_h_int(0, x, "seq", NULL);
		if (seq != from + i) {
			violation(p, "result %zu has seq %llu", i,
				  (unsigned long long)seq);
			break;
		}
		c = &p->cmds[seq];
		if (strcmp(tf_h_str(x, "cmd_id", NULL), c->cmd_id) != 0)
			violation(p, "seq %llu: result for another cmd_id",
				  (unsigned long long)seq);
		if (strcmp(st, "applied") == 0) {
			if (seq <= before)
				violation(p,
					  "seq %llu applied again after it "
					  "was acknowledged",
					  (unsigned long long)seq);
			if (c->applied++)
				violation(p, "seq %llu applied twice",
					  (unsigned long long)seq);
		} else if (strcmp(st, "duplicate") == 0) {
			p->dups++;
		} else {
			violation(p, "seq %llu: status %s: %.200s",
				  (unsigned long long)seq, st,
				  tf_buf_cstr(&r.body));
		}
	}
	if (ack < to)
		violation(p, "ack %llu below the batch end %llu",
			  (unsigned long long)ack, (unsigned long long)to);
	if (ack > p->acked)
		p->acked = ack;
out:
	tf_buf_free(&body);
	tf_h_resp_free(&r);
	return got;
}

static void pusher_loop(pusher *p);

static void *pusher_main(void *arg)
{
	pusher *p = arg;

	pusher_loop(p);
	atomic_store(&p->done, 1);
	return NULL;
}

static void pusher_loop(pusher *p)
{
	int64_t deadline = tf_h_now_ms() + (int64_t)30 * 60 * 1000;
	uint64_t from, to, n, guard;

	for (guard = 0; guard < 1000000 && !atomic_load(&quit) && !p->bad;
	     guard++) {
		if (tf_h_now_ms() > deadline) {
			violation(p, "no progress before the deadline");
			break;
		}
		if (atomic_load(&final_phase) && p->acked == p->generated)
			break;
		/* New commands, within the window. */
		while (!atomic_load(&final_phase) &&
		       p->generated < MAX_CMDS &&
		       p->generated < p->acked + WINDOW) {
			if (make_cmd(p, p->generated + 1) != 0) {
				violation(p, "make_cmd failed");
				return;
			}
			p->generated++;
		}
		if (p->generated == 0)
			break;
		/* From just after the ack, or a few already acknowledged
		   ones again (duplicates). */
		from = p->acked + 1;
		if (tf_test_rand(&p->rnd) % 4 == 0 && p->acked > 0)
			from = p->acked + 1 -
			       (1 + tf_test_rand(&p->rnd) %
					    (p->acked < 5 ? p->acked : 5));
		if (from > p->generated) {
			/* Everything acknowledged and nothing new (cap
			   reached): resend a tail, a pure duplicate push. */
			from = p->generated;
		}
		n = 1 + tf_test_rand(&p->rnd) % 12;
		to = from + n - 1 > p->generated ? p->generated : from + n - 1;
		if (!push_range(p, from, to)) {
			tf_h_sleep_ms(10 + (int64_t)(tf_test_rand(&p->rnd) %
						     20));
			continue;
		}
		/* Sometimes the same batch again at once (a resend). */
		if (tf_test_rand(&p->rnd) % 8 == 0)
			push_range(p, from, to);
		tf_h_sleep_ms(2 + (int64_t)(tf_test_rand(&p->rnd) % 6));
	}
}

static int setup(const char *argv0)
{
	tf_err err;
	int i;

	tf_err_clear(&err);
	if (tf_h_init(&H, argv0, &err) != 0 ||
	    tf_h_agency(&H, "metro", "Metro PD", &err) != 0 ||
	    tf_h_user_add(&H, "metro", "sup", "supervisor", NULL, &err) ==
		    NULL ||
	    tf_h_device_add(&H, "metro", "sup-ws", &err) == NULL)
		goto fail;
	for (i = 0; i < NPUSH; i++) {
		pusher *p = &P[i];
		p->idx = i;
		p->rnd = 0x1234567ULL * (uint64_t)(i + 1);
		snprintf(p->user, sizeof p->user, "disp%d", i);
		snprintf(p->device, sizeof p->device, "console-%d", i);
		if (tf_h_user_add(&H, "metro", p->user, "dispatcher", NULL,
				  &err) == NULL ||
		    tf_h_device_add(&H, "metro", p->device, &err) == NULL)
			goto fail;
	}
	tf_h_seed_done(&H);
	if (tf_h_start(&H, &err) != 0)
		goto fail;
	for (i = 0; i < NPUSH; i++) {
		if (tf_h_login(&H, P[i].user, P[i].device, &P[i].sess) != 0)
			return -1;
	}
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err.msg);
	return -1;
}

/* Rounds of kill -9 (every 5th a SIGTERM) and restart under load. */
TEST(kill_restart_rounds)
{
	const char *env = getenv("TF_DURABILITY_ROUNDS");
	long rounds = env ? strtol(env, NULL, 10) : 15;
	uint64_t rnd = 0xd00dfeedULL;
	int64_t deadline;
	tf_err err;
	long k;
	int i, st, started = 0, all;

	if (!ready) {
		CHECK(ready);
		return;
	}
	if (rounds < 1 || rounds > 200)
		rounds = 15;
	for (i = 0; i < NPUSH; i++) {
		if (pthread_create(&P[i].th, NULL, pusher_main, &P[i]) != 0) {
			CHECK(0);
			atomic_store(&quit, 1);
			break;
		}
		started++;
	}
	for (k = 0; k < rounds && started == NPUSH; k++) {
		tf_h_sleep_ms(80 + (int64_t)(tf_test_rand(&rnd) % 450));
		if (k % 5 == 4) {
			/* Graceful: in-flight commits finish, exit 0. */
			st = -1;
			CHECK_INT(tf_h_stop(&H, &st), 0);
			CHECK_INT(st, 0);
		} else {
			tf_h_kill(&H);
		}
		tf_h_sleep_ms((int64_t)(tf_test_rand(&rnd) % 50));
		tf_err_clear(&err);
		if (tf_h_start(&H, &err) != 0) {
			fprintf(stderr, "restart %ld: %s\n", k, err.msg);
			CHECK(0);
			atomic_store(&quit, 1);
			break;
		}
	}
	/* Drain: every device's commands acknowledged (bounded). */
	atomic_store(&final_phase, 1);
	deadline = tf_h_now_ms() + DRAIN_MS;
	do {
		all = 1;
		for (i = 0; i < started; i++)
			all &= atomic_load(&P[i].done);
		if (!all)
			tf_h_sleep_ms(50);
	} while (!all && tf_h_now_ms() < deadline);
	if (!all)
		atomic_store(&quit, 1);
	for (i = 0; i < started; i++)
		pthread_join(P[i].th, NULL);
	for (i = 0; i < NPUSH; i++) {
		if (P[i].bad)
			fprintf(stderr, "%s: %s\n", P[i].device, P[i].why);
		CHECK_INT(P[i].bad, 0);
		CHECK(P[i].generated > 1);
		CHECK_INT(P[i].acked, P[i].generated);
	}
	{
		uint64_t cmds = 0, dups = 0, fails = 0, relog = 0;
		for (i = 0; i < NPUSH; i++) {
			cmds += P[i].generated;
			dups += P[i].dups;
			fails += P[i].failed;
			relog += P[i].relogins;
		}
		fprintf(stderr,
			"durability: %ld rounds, %llu commands, %llu duplicate "
			"results, %llu pushes without reply, %llu re-logins\n",
			rounds, (unsigned long long)cmds,
			(unsigned long long)dups, (unsigned long long)fails,
			(unsigned long long)relog);
		CHECK(dups > 0);
	}
}

/* Every command's effect, seen through a supervisor's pull. */
TEST(pull_shows_each_command_once)
{
	tf_h_session s;
	tf_json *recs = NULL;
	size_t i, nincidents = 0, expect_incidents = 0;
	uint64_t seq;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_h_login(&H, "sup", "sup-ws", &s), 0);
	CHECK_INT(tf_h_pull_all(&H, &s, NULL, &recs, NULL, NULL, NULL, NULL),
		  0);
	if (recs == NULL)
		return;
	for (i = 0; i < recs->len; i++)
		if (strcmp(tf_record_entity(recs->u.items[i]), "incident") == 0)
			nincidents++;
	for (i = 0; i < NPUSH; i++) {
		pusher *p = &P[i];
		const tf_json *alog = tf_h_find_record(recs, p->alog);
		const tf_json *e = tf_h_get(alog, "f", "entries", "e", NULL);
		size_t nappend = 0, j;
		CHECK(alog != NULL);
		for (seq = 1; seq <= p->generated; seq++) {
			cmd *c = &p->cmds[seq];
			size_t hits = 0;
			if (c->kind == K_INCIDENT) {
				expect_incidents++;
				CHECK(tf_h_find_record(recs, c->record_id) !=
				      NULL);
				continue;
			}
			if (c->kind != K_APPEND)
				continue;
			nappend++;
			for (j = 0; e && j < e->len; j++)
				hits += strcmp(tf_h_str(e->u.items[j], "id",
							NULL),
					       c->cmd_id) == 0;
			if (hits != 1)
				fprintf(stderr, "%s seq %llu: %zu entries\n",
					p->device, (unsigned long long)seq,
					hits);
			CHECK_INT(hits, 1);
		}
		CHECK_INT(e ? e->len : 0, nappend);
	}
	CHECK_INT(nincidents, expect_incidents);
	tf_json_free(recs);
}

/* The database after the last stop: ledger and records agree. */
typedef struct dbcheck {
	size_t records, unknown, entries, orphan_entries, dup_entries;
	const tf_schema *schema;
	tf_db_txn *t;
	int bad_state;
} dbcheck;

static int check_record(void *arg, const tf_db_record *r)
{
	dbcheck *dc = arg;
	tf_json *rec = NULL;
	const tf_json *e;
	size_t i, j;
	int known = 0;
	tf_db_ledger l;
	tf_err err;

	dc->records++;
	if (tf_json_parse(r->state, r->state_len, NULL, &rec, NULL) != 0 ||
	    tf_record_check(dc->schema, rec, NULL) != 0) {
		dc->bad_state++;
		tf_json_free(rec);
		return 0;
	}
	for (i = 0; i < NPUSH && !known; i++) {
		uint64_t seq;
		if (strcmp(P[i].alog, r->id) == 0)
			known = 1;
		for (seq = 1; seq <= P[i].generated && !known; seq++)
			known = P[i].cmds[seq].kind == K_INCIDENT &&
				strcmp(P[i].cmds[seq].record_id, r->id) == 0;
	}
	if (!known)
		dc->unknown++;
	e = tf_h_get(rec, "f", "entries", "e", NULL);
	for (i = 0; e && i < e->len; i++) {
		const char *id = tf_h_str(e->u.items[i], "id", NULL);
		dc->entries++;
		for (j = 0; j < i; j++)
			if (strcmp(tf_h_str(e->u.items[j], "id", NULL), id) ==
			    0)
				dc->dup_entries++;
		/* Every entry has its ledger row. */
		memset(&l, 0, sizeof l);
		if (dc->t->ops->ledger_get_cmd(dc->t, "metro", id, &l, &err) !=
		    0)
			dc->orphan_entries++;
		tf_db_ledger_clear(&l);
	}
	tf_json_free(rec);
	return 0;
}

static int db_check_txn(tf_db_txn *t, void *arg, tf_err *err)
{
	dbcheck *dc = arg;
	tf_db_stats stats;
	uint64_t total = 0, seq, last;
	size_t i;
	int rc;

	dc->t = t;
	for (i = 0; i < NPUSH; i++) {
		pusher *p = &P[i];
		total += p->generated;
		last = 0;
		rc = t->ops->ledger_last(t, "metro", p->device, &last, err);
		CHECK_INT(rc, 0);
		CHECK_INT(last, p->generated);
		for (seq = 1; seq <= p->generated; seq++) {
			cmd *c = &p->cmds[seq];
			tf_db_ledger l;
			tf_db_record r;
			memset(&l, 0, sizeof l);
			memset(&r, 0, sizeof r);
			rc = t->ops->ledger_get_seq(t, "metro", p->device, seq,
						    &l, err);
			CHECK_INT(rc, 0);
			if (rc == 0) {
				CHECK_STR(l.cmd_id, c->cmd_id);
				CHECK_INT(l.status, TF_ST_APPLIED);
			}
			tf_db_ledger_clear(&l);
			/* Its effect: the record it created or appended to. */
			rc = t->ops->record_get(t, "metro", c->record_id, &r,
						err);
			CHECK_INT(rc, 0);
			if (rc == 0 && c->kind == K_APPEND) {
				char needle[64];
				snprintf(needle, sizeof needle,
					 "\"id\":\"%s\"", c->cmd_id);
				CHECK(r.state && strstr(r.state, needle));
			}
			tf_db_record_clear(&r);
		}
	}
	rc = t->ops->stats(t, &stats, err);
	CHECK_INT(rc, 0);
	CHECK_INT(stats.ledger_rows, total);
	return t->ops->records_since(t, "metro", 0, 1000000, check_record, dc,
				     err);
}

TEST(database_ledger_matches_records)
{
	dbcheck dc;
	tf_db *db = NULL;
	tf_err err;
	int st = -1;

	if (!ready) {
		CHECK(ready);
		return;
	}
	CHECK_INT(tf_h_stop(&H, &st), 0);
	CHECK_INT(st, 0);
	memset(&dc, 0, sizeof dc);
	dc.schema = H.schema;
	tf_err_clear(&err);
	CHECK_INT(tf_db_open(H.dsn, NULL, &db, &err), 0);
	if (db == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return;
	}
	CHECK_INT(tf_db_read(db, db_check_txn, &dc, &err), 0);
	tf_db_close(db);
	CHECK_INT(dc.bad_state, 0);
	CHECK_INT(dc.unknown, 0);
	CHECK_INT(dc.orphan_entries, 0);
	CHECK_INT(dc.dup_entries, 0);
	CHECK(dc.records >= NPUSH);
}

int main(int argc, char **argv)
{
	int any = 0, i;
	uint64_t seq;

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	ready = setup(argv[0]) == 0;
	RUN(kill_restart_rounds);
	any |= tf_test_failed_checks;
	RUN(pull_shows_each_command_once);
	any |= tf_test_failed_checks;
	RUN(database_ledger_matches_records);
	any |= tf_test_failed_checks;
	if (any || !ready)
		tf_h_log_tail(&H, 4000);
	for (i = 0; i < NPUSH; i++)
		for (seq = 0; seq <= MAX_CMDS; seq++)
			free(P[i].cmds[seq].json);
	tf_h_destroy(&H);
	return tf_test_finish(argv[0]);
}
