/*
 * sim_server.c - the in-memory reference server of sim_server.h.  Small
 * and plain on purpose: it is the oracle the replica and property tests
 * compare against, so it follows ARCHITECTURE.md section 3 literally and
 * uses the core (protocol.c, command.c, record.c) for every byte and
 * every merge.
 */
#include "sim_server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One ledger row: the command's identity and its stored result. */
typedef struct lrow {
	char cmd_id[TF_UUID_LEN + 1];
	char *canon; /* canonical bytes of the request (hash stand-in) */
	size_t canon_len;
	tf_status status;
	int code;
	char message[256];
	char field[64];
	tf_json *detail;
} lrow;

typedef struct sdev {
	char id[TF_ID_MAX + 1];
	int service;
	lrow *rows; /* rows[k] holds seq k + 1 */
	size_t n, cap;
} sdev;

typedef struct srec {
	char id[TF_UUID_LEN + 1];
	tf_json *state;
	uint64_t change; /* feed position of the last change */
} srec;

/* cmd_id -> used, open addressing. */
typedef struct idset {
	char (*keys)[TF_UUID_LEN + 1];
	size_t cap, n;
} idset;

struct tf_sim {
	const tf_schema *schema;
	int64_t max_skew;
	sdev *devs;
	size_t ndevs;
	srec **recs; /* open addressing by id */
	size_t rcap, nrecs;
	idset cmds;
	uint64_t feed;
	uint64_t floor;
	tf_sim_visible_fn visible;
	void *visible_ctx;
};

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 31));
}

/* ------------------------------------------------------------ id set */

static int idset_has(const idset *s, const char *id)
{
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = hash_str(id) & (s->cap - 1); s->keys[i][0];
	     i = (i + 1) & (s->cap - 1))
		if (strcmp(s->keys[i], id) == 0)
			return 1;
	return 0;
}

static int idset_add(idset *s, const char *id)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		idset big;
		big.cap = s->cap ? s->cap * 2 : 64;
		big.n = 0;
		big.keys = calloc(big.cap, sizeof *big.keys);
		if (big.keys == NULL)
			return TF_ENOMEM;
		for (i = 0; i < s->cap; i++)
			if (s->keys[i][0])
				idset_add(&big, s->keys[i]);
		free(s->keys);
		*s = big;
	}
	for (i = hash_str(id) & (s->cap - 1); s->keys[i][0];
	     i = (i + 1) & (s->cap - 1))
		if (strcmp(s->keys[i], id) == 0)
			return 0;
	memcpy(s->keys[i], id, TF_UUID_LEN + 1);
	s->n++;
	return 0;
}

/* ------------------------------------------------------------ records */

static srec *rec_find(const tf_sim *sv, const char *id)
{
	size_t i;

	if (sv->rcap == 0)
		return NULL;
	for (i = hash_str(id) & (sv->rcap - 1); sv->recs[i];
	     i = (i + 1) & (sv->rcap - 1))
		if (strcmp(sv->recs[i]->id, id) == 0)
			return sv->recs[i];
	return NULL;
}

static int rec_insert(tf_sim *sv, srec *r)
{
	size_t i;

	if ((sv->nrecs + 1) * 2 > sv->rcap) {
		size_t cap = sv->rcap ? sv->rcap * 2 : 64, k;
		srec **n = calloc(cap, sizeof *n);
		if (n == NULL)
			return TF_ENOMEM;
		for (k = 0; k < sv->rcap; k++) {
			if (sv->recs[k] == NULL)
				continue;
			for (i = hash_str(sv->recs[k]->id) & (cap - 1); n[i];
			     i = (i + 1) & (cap - 1))
				;
			n[i] = sv->recs[k];
		}
		free(sv->recs);
		sv->recs = n;
		sv->rcap = cap;
	}
	for (i = hash_str(r->id) & (sv->rcap - 1); sv->recs[i];
	     i = (i + 1) & (sv->rcap - 1))
		;
	sv->recs[i] = r;
	sv->nrecs++;
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

int tf_sim_new(const tf_schema *s, tf_sim **out)
{
	tf_sim *sv = calloc(1, sizeof *sv);

	if (sv == NULL)
		return TF_ENOMEM;
	sv->schema = s;
	sv->max_skew = TF_DEFAULT_MAX_SKEW_MS;
	*out = sv;
	return 0;
}

void tf_sim_free(tf_sim *sv)
{
	size_t i, k;

	if (sv == NULL)
		return;
	for (i = 0; i < sv->ndevs; i++) {
		for (k = 0; k < sv->devs[i].n; k++) {
			free(sv->devs[i].rows[k].canon);
			tf_json_free(sv->devs[i].rows[k].detail);
		}
		free(sv->devs[i].rows);
	}
	free(sv->devs);
	for (i = 0; i < sv->rcap; i++) {
		if (sv->recs[i]) {
			tf_json_free(sv->recs[i]->state);
			free(sv->recs[i]);
		}
	}
	free(sv->recs);
	free(sv->cmds.keys);
	free(sv);
}

static sdev *dev_find(const tf_sim *sv, const char *id)
{
	size_t i;

	for (i = 0; i < sv->ndevs; i++)
		if (strcmp(sv->devs[i].id, id) == 0)
			return &sv->devs[i];
	return NULL;
}

int tf_sim_add_device(tf_sim *sv, const char *device, int service)
{
	sdev *d;

	if (!tf_id_valid(device, strlen(device)) || dev_find(sv, device))
		return TF_EINVAL;
	d = realloc(sv->devs, (sv->ndevs + 1) * sizeof *d);
	if (d == NULL)
		return TF_ENOMEM;
	sv->devs = d;
	d = &sv->devs[sv->ndevs++];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "%s", device);
	d->service = service;
	return 0;
}

void tf_sim_set_max_skew(tf_sim *sv, int64_t ms)
{
	sv->max_skew = ms;
}

void tf_sim_set_visible(tf_sim *sv, tf_sim_visible_fn fn, void *ctx)
{
	sv->visible = fn;
	sv->visible_ctx = ctx;
}

void tf_sim_touch_all(tf_sim *sv)
{
	size_t i;

	for (i = 0; i < sv->rcap; i++)
		if (sv->recs[i])
			sv->recs[i]->change = ++sv->feed;
}

void tf_sim_set_retention(tf_sim *sv, uint64_t floor)
{
	sv->floor = floor;
}

uint64_t tf_sim_feed_seq(const tf_sim *sv)
{
	return sv->feed;
}

/* ------------------------------------------------------------ push */

/* The field part of an error place ("incident.priority" -> "priority"). */
static void field_of(const tf_err *e, char *out, size_t n)
{
	const char *dot = strchr(e->where, '.');

	snprintf(out, n, "%s", dot ? dot + 1 : "");
}

static int store_row(tf_sim *sv, sdev *d, const tf_command *c,
		     const tf_cmd_result *res)
{
	lrow *row;
	tf_buf canon;
	int rc;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		lrow *p = realloc(d->rows, cap * sizeof *p);
		if (p == NULL)
			return TF_ENOMEM;
		d->rows = p;
		d->cap = cap;
	}
	tf_buf_init(&canon);
	rc = tf_command_canonical(c, &canon);
	if (rc) {
		tf_buf_free(&canon);
		return rc;
	}
	rc = idset_add(&sv->cmds, c->cmd_id);
	if (rc) {
		tf_buf_free(&canon);
		return rc;
	}
	row = &d->rows[d->n++];
	memset(row, 0, sizeof *row);
	memcpy(row->cmd_id, c->cmd_id, sizeof row->cmd_id);
	row->canon = tf_buf_take(&canon, &row->canon_len);
	row->status = res->status;
	row->code = res->code;
	memcpy(row->message, res->message, sizeof row->message);
	memcpy(row->field, res->field, sizeof row->field);
	row->detail = res->detail ? tf_json_clone(res->detail) : NULL;
	return 0;
}

static void reject_with(tf_cmd_result *res, int code, const char *msg,
			const char *field)
{
	res->status = TF_ST_REJECTED;
	res->code = code;
	snprintf(res->message, sizeof res->message, "%s", msg);
	snprintf(res->field, sizeof res->field, "%s", field);
}

/*
 * One command through the ledger.  *stop is set when the batch ends here
 * (a gap, which gives no result, or a clock_skew).  *has is set when res
 * holds a result to send.
 */
static int ledger_one(tf_sim *sv, sdev *d, int64_t now, const tf_command *c,
		      tf_cmd_result *res, int *has, int *stop)
{
	tf_apply_ctx ctx = {sv->schema, now, 1, d->service};
	tf_apply_result ar;
	tf_err e;
	srec *sr;
	tf_json *state;
	int rc;

	memset(res, 0, sizeof *res);
	memcpy(res->cmd_id, c->cmd_id, sizeof res->cmd_id);
	res->seq = c->seq;
	*has = 1;
	*stop = 0;
	if (c->seq <= d->n) {
		const lrow *row = &d->rows[c->seq - 1];
		tf_buf canon;
		int same;
		if (strcmp(row->cmd_id, c->cmd_id) != 0) {
			char msg[128];
			snprintf(msg, sizeof msg, "seq %llu already holds %s",
				 (unsigned long long)c->seq, row->cmd_id);
			reject_with(res, TF_EHASH, msg, "");
			return 0;
		}
		tf_buf_init(&canon);
		rc = tf_command_canonical(c, &canon);
		same = rc == 0 && canon.len == row->canon_len &&
		       memcmp(canon.data, row->canon, canon.len) == 0;
		tf_buf_free(&canon);
		if (rc)
			return rc;
		if (!same) {
			reject_with(res, TF_EHASH,
				    "cmd_id reused for another request", "");
			return 0;
		}
		if (row->status == TF_ST_REJECTED) {
			reject_with(res, row->code, row->message, row->field);
			return 0;
		}
		res->status = TF_ST_DUPLICATE;
		if (row->detail &&
		    (res->detail = tf_json_clone(row->detail)) == NULL)
			return TF_ENOMEM;
		return 0;
	}
	if (c->seq > d->n + 1) {
		*has = 0;
		*stop = 1;
		return 0;
	}
	if (tf_hlc_check_skew(now, sv->max_skew, c->hlc)) {
		res->status = TF_ST_CLOCK_SKEW;
		res->code = TF_ECLOCKSKEW;
		res->server_time = now;
		snprintf(res->message, sizeof res->message,
			 "stamp more than %lld ms ahead of the server",
			 (long long)sv->max_skew);
		*stop = 1;
		return 0;
	}
	if (idset_has(&sv->cmds, c->cmd_id)) {
		reject_with(res, TF_EHASH, "cmd_id already used", "");
		return store_row(sv, d, c, res);
	}
	tf_err_clear(&e);
	rc = tf_command_validate(sv->schema, c, 1, &e);
	if (rc == TF_ENOMEM)
		return rc;
	if (rc) {
		char field[64];
		field_of(&e, field, sizeof field);
		reject_with(res, rc, e.msg, field);
		return store_row(sv, d, c, res);
	}
	sr = rec_find(sv, c->record_id);
	state = sr ? sr->state : NULL;
	memset(&ar, 0, sizeof ar);
	rc = tf_record_apply(&state, c, &ctx, &ar);
	if (rc) {
		tf_apply_result_clear(&ar);
		return rc;
	}
	if (ar.status == TF_ST_REJECTED) {
		char field[64];
		field_of(&ar.err, field, sizeof field);
		reject_with(res, ar.err.code ? ar.err.code : TF_EVALIDATE,
			    ar.err.msg, field);
		tf_apply_result_clear(&ar);
		return store_row(sv, d, c, res);
	}
	res->status = ar.status;
	res->detail = ar.detail;
	ar.detail = NULL;
	tf_apply_result_clear(&ar);
	if (sr == NULL) {
		sr = calloc(1, sizeof *sr);
		if (sr)
			memcpy(sr->id, c->record_id, sizeof sr->id);
		if (sr == NULL || rec_insert(sv, sr)) {
			free(sr);
			tf_json_free(state);
			return TF_ENOMEM;
		}
	}
	sr->state = state;
	sr->change = ++sv->feed;
	return store_row(sv, d, c, res);
}

int tf_sim_push(tf_sim *sv, int64_t now_ms, const char *req, size_t len,
		tf_buf *reply, tf_err *err)
{
	tf_push_request m;
	tf_push_reply rep;
	sdev *d;
	size_t i;
	int rc, has, stop;

	memset(&rep, 0, sizeof rep);
	rc = tf_push_request_decode(req, len, NULL, NULL, &m, err);
	if (rc)
		return rc;
	if (m.schema_version != sv->schema->version) {
		rc = tf_err_set(err, TF_EVERSION, "schema_version",
				"push: schema_version differs");
		goto out;
	}
	d = dev_find(sv, m.device);
	if (d == NULL) {
		rc = tf_err_set(err, TF_EPERM, "device_id",
				"push: device %s not enrolled", m.device);
		goto out;
	}
	if (m.ncommands) {
		rep.results = calloc(m.ncommands, sizeof *rep.results);
		if (rep.results == NULL) {
			rc = TF_ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < m.ncommands; i++) {
		rc = ledger_one(sv, d, now_ms, &m.commands[i],
				&rep.results[rep.nresults], &has, &stop);
		if (rc)
			goto out;
		if (has)
			rep.nresults++;
		if (stop)
			break;
	}
	rep.schema_version = sv->schema->version;
	rep.ack = d->n;
	rep.server_time = now_ms;
	rc = tf_push_reply_encode(&rep, reply);
out:
	tf_push_reply_clear(&rep);
	tf_push_request_clear(&m);
	return rc;
}

/* ------------------------------------------------------------ pull */

static int cmp_change(const void *a, const void *b)
{
	const srec *x = *(const srec *const *)a, *y = *(const srec *const *)b;

	return x->change < y->change ? -1 : x->change > y->change;
}

static int parse_cursor(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i, n = strlen(s);

	*out = 0;
	if (n == 0)
		return 0;
	if (n > 19 || (n > 1 && s[0] == '0'))
		return TF_EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TF_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int tf_sim_pull(tf_sim *sv, int64_t now_ms, const char *device,
		const char *cursor, size_t limit, tf_buf *page, tf_err *err)
{
	tf_pull_page p;
	srec **chg = NULL;
	char **purged = NULL;
	tf_json **records = NULL;
	char cur[24];
	uint64_t from;
	size_t n = 0, i, take;
	sdev *d;
	int rc;

	(void)now_ms;
	memset(&p, 0, sizeof p);
	d = dev_find(sv, device);
	if (d == NULL)
		return tf_err_set(err, TF_EPERM, "device",
				  "pull: device %s not enrolled", device);
	if (parse_cursor(cursor, &from) || from > sv->feed)
		return tf_err_set(err, TF_EINVAL, "cursor",
				  "pull: bad cursor \"%.40s\"", cursor);
	if (limit == 0)
		limit = 1000;
	if (limit > tf_proto_default_limits.max_records)
		limit = tf_proto_default_limits.max_records;
	p.schema_version = sv->schema->version;
	p.ack = d->n;
	if (cursor[0] && from < sv->floor) {
		p.cursor = cur;
		cur[0] = '\0';
		p.has_more = 1;
		p.reset = 1;
		return tf_pull_page_encode(&p, page);
	}
	if (sv->nrecs) {
		chg = malloc(sv->nrecs * sizeof *chg);
		records = malloc(sv->nrecs * sizeof *records);
		purged = malloc(sv->nrecs * sizeof *purged);
		if (chg == NULL || records == NULL || purged == NULL) {
			rc = TF_ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < sv->rcap; i++)
		if (sv->recs[i] && sv->recs[i]->change > from)
			chg[n++] = sv->recs[i];
	if (n > 1)
		qsort(chg, n, sizeof *chg, cmp_change);
	take = n < limit ? n : limit;
	for (i = 0; i < take; i++) {
		if (sv->visible == NULL ||
		    sv->visible(sv->visible_ctx, device, chg[i]->state))
			records[p.nrecords++] = chg[i]->state;
		else
			purged[p.npurged++] = chg[i]->id;
	}
	p.records = records;
	p.purged = purged;
	p.has_more = take < n;
	snprintf(cur, sizeof cur, "%llu",
		 (unsigned long long)(p.has_more ? chg[take - 1]->change
						 : sv->feed));
	p.cursor = cur;
	rc = tf_pull_page_encode(&p, page);
out:
	free(chg);
	free(records);
	free(purged);
	return rc;
}

/* ------------------------------------------------------------ queries */

const tf_json *tf_sim_record(const tf_sim *sv, const char *id)
{
	const srec *r = rec_find(sv, id);

	return r ? r->state : NULL;
}

size_t tf_sim_nrecords(const tf_sim *sv)
{
	return sv->nrecs;
}

uint64_t tf_sim_last(const tf_sim *sv, const char *device)
{
	const sdev *d = dev_find(sv, device);

	return d ? d->n : 0;
}

int tf_sim_cmd_result(const tf_sim *sv, const char *cmd_id, tf_status *st,
		      const tf_json **detail)
{
	size_t i, k;

	for (i = 0; i < sv->ndevs; i++) {
		for (k = 0; k < sv->devs[i].n; k++) {
			const lrow *row = &sv->devs[i].rows[k];
			if (strcmp(row->cmd_id, cmd_id) != 0)
				continue;
			if (st)
				*st = row->status;
			if (detail)
				*detail = row->detail;
			return 0;
		}
	}
	return TF_ENOTFOUND;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp((*(const srec *const *)a)->id,
		      (*(const srec *const *)b)->id);
}

int tf_sim_dump(const tf_sim *sv, const char *device, tf_buf *out)
{
	srec **v;
	size_t n = 0, i, k = 0;

	v = malloc((sv->nrecs ? sv->nrecs : 1) * sizeof *v);
	if (v == NULL)
		return TF_ENOMEM;
	for (i = 0; i < sv->rcap; i++) {
		srec *r = sv->recs[i];
		if (r == NULL)
			continue;
		if (device && sv->visible &&
		    !sv->visible(sv->visible_ctx, device, r->state))
			continue;
		v[n++] = r;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_id);
	tf_buf_putc(out, '[');
	for (i = 0; i < n; i++) {
		if (k++)
			tf_buf_putc(out, ',');
		tf_json_write(v[i]->state, out);
	}
	tf_buf_putc(out, ']');
	free(v);
	return out->failed;
}

int tf_sim_sync(tf_sim *sv, tf_replica *r, const char *device,
		int64_t server_ms, int64_t replica_ms, size_t limit,
		tf_err *err)
{
	tf_pull_page page;
	tf_buf req, rep;
	size_t guard, before, stalled = 0;
	int rc = 0, more = 1;

	tf_buf_init(&req);
	tf_buf_init(&rep);
	for (guard = 0; guard < 100000 && tf_replica_unsent(r) > 0; guard++) {
		before = tf_replica_unsent(r);
		tf_buf_reset(&req);
		tf_buf_reset(&rep);
		rc = tf_replica_push_request(r, 1000, &req);
		if (rc == 0)
			rc = tf_sim_push(sv, server_ms, req.data, req.len, &rep,
					 err);
		if (rc == 0)
			rc = tf_replica_apply_push_reply(
				r, replica_ms, rep.data, rep.len, err);
		if (rc)
			goto out;
		/* A clock_skew re-stamps and sends again; stuck = stop. */
		if (tf_replica_unsent(r) < before)
			stalled = 0;
		else if (++stalled > 3)
			break;
	}
	for (guard = 0; guard < 100000 && more; guard++) {
		tf_buf_reset(&rep);
		rc = tf_sim_pull(sv, server_ms, device, tf_replica_cursor(r),
				 limit, &rep, err);
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
