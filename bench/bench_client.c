/*
 * bench_client.c - the native client's figures for bench/RESULTS.md
 * (issue 4), not a test: timings depend on the machine.
 *
 *  1. The encrypted store against the same store with encryption off
 *     (tf_store_opts.bench_plaintext, the same code otherwise): writes/s
 *     (one committed transaction per write, as a queued command is
 *     persisted, and 100 writes per transaction, as a pull page is),
 *     reads/s; the ratio (target <= 1.25).
 *  2. Unlock: PBKDF2 (600,000) + unwrapping + loading the replica.
 *  3. First sync of a 10,000-record shift into an empty client against a
 *     real tenfourd on loopback (target < 1 s).
 *  4. A client back from a long offline stretch with 2,000 queued
 *     commands while dispatch made 2,000 changes, fully synced (target
 *     < 2 s).
 *
 *   bench_client [--quick] [--records N] [--pending N] [--out FILE]
 *
 * tenfourd is found through $TF_TENFOURD, else beside this program's
 * directory (build/native/bench/../tenfourd).  Run from the repository
 * root (schemas/cad.json).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "srv_harness.h"
#include "store/store.h"
#include "tenfour/client.h"

#define PIN "480275"
#define AGENCY "bench"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc, const tf_err *err)
{
	fprintf(stderr, "bench_client: %s: %s (%s%s%s)\n", what,
		tf_strerror(rc), err && err->where[0] ? err->where : "",
		err && err->where[0] ? ": " : "", err ? err->msg : "");
	exit(1);
}

/* A temp dir under /tmp (removed by rm_rf at the end). */
static void temp_dir(char *out, size_t cap, const char *tag)
{
	snprintf(out, cap, "/tmp/tf-bench-%s-XXXXXX", tag);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	if (strncmp(dir, "/tmp/tf-bench-", 14) != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_client: could not remove %s\n", dir);
}

/* A record-sized value (~1 KB of JSON), distinct per i. */
static void record_json(tf_buf *b, size_t i)
{
	size_t k;

	tf_buf_reset(b);
	tf_buf_printf(b, "{\"id\":\"rec-%08zu\",\"fields\":{\"notes\":[", i);
	for (k = 0; k < 8; k++)
		tf_buf_printf(b,
			      "%s{\"text\":\"Unit 2A12 on scene, contact with "
			      "RP at 1400 block of Main, entry %zu.%zu\"}",
			      k ? "," : "", i, k);
	tf_buf_puts(b, "]}}");
}

typedef struct store_fig {
	double write_1, write_100, read, create_keys, unlock;
} store_fig;

/* Part 1: one store, encrypted or not. */
static void bench_store(int plain, size_t n, store_fig *f)
{
	char dir[256], keypath[300], key[32];
	tf_store_opts o;
	tf_store *st = NULL;
	tf_buf v, got;
	tf_err err;
	size_t i;
	double t;
	int rc;

	temp_dir(dir, sizeof dir, plain ? "plain" : "enc");
	snprintf(keypath, sizeof keypath, "%s/device.key", dir);
	memset(&o, 0, sizeof o);
	o.dir = dir;
	o.device_key_path = keypath;
	o.create_device_key = 1;
	o.bench_plaintext = plain;
	tf_buf_init(&v);
	tf_buf_init(&got);
	if ((rc = tf_store_open(&o, &st, &err)) != 0)
		die("store open", rc, &err);
	t = now_s();
	if ((rc = tf_store_create_keys(st, PIN, strlen(PIN), &err)) != 0)
		die("create keys", rc, &err);
	f->create_keys = now_s() - t;

	/* One transaction per write: a queued command. */
	t = now_s();
	for (i = 0; i < n; i++) {
		record_json(&v, i);
		snprintf(key, sizeof key, "a%07zu", i);
		rc = tf_store_put(st, TF_SK_RECORD, key, v.data, v.len, 1, &err);
		if (rc)
			die("put", rc, &err);
	}
	f->write_1 = (double)n / (now_s() - t);

	/* 100 writes per transaction: a pull page. */
	t = now_s();
	for (i = 0; i < n; i++) {
		if (i % 100 == 0 && (rc = tf_store_begin(st, &err)) != 0)
			die("begin", rc, &err);
		record_json(&v, n + i);
		snprintf(key, sizeof key, "b%07zu", i);
		rc = tf_store_put(st, TF_SK_RECORD, key, v.data, v.len, 1, &err);
		if (rc)
			die("put", rc, &err);
		if ((i % 100 == 99 || i == n - 1) &&
		    (rc = tf_store_commit(st, &err)) != 0)
			die("commit", rc, &err);
	}
	f->write_100 = (double)n / (now_s() - t);

	t = now_s();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "a%07zu", (i * 7919) % n);
		tf_buf_reset(&got);
		if ((rc = tf_store_get(st, TF_SK_RECORD, key, &got, &err)) != 0)
			die("get", rc, &err);
	}
	f->read = (double)n / (now_s() - t);

	tf_store_lock(st);
	t = now_s();
	if ((rc = tf_store_unlock(st, PIN, strlen(PIN), &err)) != 0)
		die("unlock", rc, &err);
	f->unlock = now_s() - t;
	tf_cleanse(got.data, got.len);
	tf_buf_free(&v);
	tf_buf_free(&got);
	tf_store_close(st);
	rm_rf(dir);
}

/* Keeps the best rate and the shortest time of two runs. */
static void best(store_fig *acc, const store_fig *f)
{
	if (f->write_1 > acc->write_1)
		acc->write_1 = f->write_1;
	if (f->write_100 > acc->write_100)
		acc->write_100 = f->write_100;
	if (f->read > acc->read)
		acc->read = f->read;
	if (acc->create_keys == 0 || f->create_keys < acc->create_keys)
		acc->create_keys = f->create_keys;
	if (acc->unlock == 0 || f->unlock < acc->unlock)
		acc->unlock = f->unlock;
}

/* ------------------------------------------------------------ with tenfourd */

static void progress_none(void *ctx, const tf_client_progress *p)
{
	(void)ctx;
	(void)p;
}

/* The dispatcher creates n incidents (pushed in batches). */
static void seed_records(tf_h_server *h, tf_h_session *s, tf_replica *r,
			 size_t n, char (*ids)[TF_UUID_LEN + 1])
{
	char args[512];
	uint8_t rnd[20];
	tf_json *a;
	tf_err err;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"type_code\":\"disturbance\","
			 "\"priority\":%zu,\"status\":\"pending\","
			 "\"location\":{\"addr\":\"%zu Main St\"}}}",
			 1 + i % 4, 100 + i);
		if (tf_json_parse(args, strlen(args), NULL, &a, &err) != 0)
			die("args", TF_EJSON, &err);
		tf_random_bytes(rnd, sizeof rnd);
		rc = tf_replica_mutate(r, tf_h_now_ms(), rnd, 1, "incident",
				       NULL, TF_OP_CREATE, a, NULL, ids[i],
				       &err);
		tf_json_free(a);
		if (rc)
			die("seed mutate", rc, &err);
		if ((i + 1) % 1000 == 0 || i + 1 == n) {
			if ((rc = tf_h_sync(h, s, r, tf_h_now_ms(), &err)) != 0)
				die("seed sync", rc, &err);
		}
	}
}

typedef struct sync_fig {
	double first_sync, unlock_loaded, catch_up, login;
	size_t records, pending, dispatch_changes;
} sync_fig;

static int64_t wall_ms(void *ctx)
{
	(void)ctx;
	return tf_h_now_ms();
}

static int64_t mono_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bench_sync(const char *argv0, size_t nrec, size_t npend,
		       sync_fig *f)
{
	static tf_h_server h;
	static const tf_client_clock clk = {wall_ms, mono_ms, NULL};
	tf_h_session s_dana;
	tf_h_user *u;
	tf_replica *r_dana = NULL;
	tf_client *c = NULL;
	tf_client_opts co;
	tf_client_login_req lr;
	tf_client_status cs;
	char home[256], pub[64], code[TF_TOTP_DIGITS + 1];
	char args[256];
	char (*ids)[TF_UUID_LEN + 1];
	uint8_t rnd[20];
	tf_json *a;
	tf_buf banner;
	int64_t rev;
	tf_err err;
	size_t i;
	double t;
	int rc;

	ids = calloc(nrec, sizeof *ids);
	if (ids == NULL)
		die("calloc", TF_ENOMEM, NULL);
	if ((rc = tf_h_init(&h, argv0, &err)) != 0 ||
	    (rc = tf_h_agency(&h, AGENCY, "Bench County", &err)) != 0)
		die("harness", rc, &err);
	if (!tf_h_user_add(&h, AGENCY, "dana", "dispatcher", NULL, &err) ||
	    !tf_h_device_add(&h, AGENCY, "console-1", &err) ||
	    !(u = tf_h_user_add(&h, AGENCY, "reyes", "dispatcher", NULL,
				&err)))
		die("seed users", TF_EIO, &err);

	/* The client's own identity, enrolled before the daemon starts (its
	   port is not known yet: the options' server_url names it later). */
	temp_dir(home, sizeof home, "client");
	memset(&co, 0, sizeof co);
	co.home = home;
	co.schema_path = TF_H_SCHEMA_PATH;
	co.cache_budget = (uint64_t)1 << 30;
	co.clock = &clk;
	if ((rc = tf_client_open(&co, &c, &err)) != 0)
		die("client open", rc, &err);
	if ((rc = tf_client_enroll(c, "http://127.0.0.1:9", AGENCY,
				   "console-2", pub, &err)) != 0)
		die("enroll", rc, &err);
	tf_client_close(c);
	c = NULL;
	if ((rc = tf_h_device_enroll_pub(&h, AGENCY, "console-2", pub,
					 &err)) != 0)
		die("enroll pub", rc, &err);
	tf_h_seed_done(&h);
	if ((rc = tf_h_start(&h, &err)) != 0)
		die("start tenfourd", rc, &err);
	co.server_url = h.base;

	if (tf_h_login(&h, "dana", "console-1", &s_dana) != 0)
		die("dana login", TF_EAUTH, NULL);
	if ((rc = tf_replica_new(h.schema, "console-1", "dana",
				 0, &r_dana)) != 0)
		die("replica", rc, NULL);
	seed_records(&h, &s_dana, r_dana, nrec, ids);
	f->records = nrec;

	/* Login (online: PBKDF2 for the new keyring included). */
	if ((rc = tf_client_open(&co, &c, &err)) != 0)
		die("client open", rc, &err);
	tf_buf_init(&banner);
	if ((rc = tf_client_banner(c, &banner, &rev, &err)) != 0)
		die("banner", rc, &err);
	tf_buf_free(&banner);
	if (tf_h_totp_next(u, code) != 0)
		die("totp", TF_EIO, NULL);
	memset(&lr, 0, sizeof lr);
	lr.user = "reyes";
	lr.password = u->password;
	lr.totp = code;
	lr.banner_rev = rev;
	lr.pin = PIN;
	lr.pin_len = strlen(PIN);
	t = now_s();
	if ((rc = tf_client_login(c, &lr, &err)) != 0)
		die("client login", rc, &err);
	f->login = now_s() - t;

	/* 3. First sync of the shift into the empty client. */
	t = now_s();
	if ((rc = tf_client_sync(c, progress_none, NULL, &err)) != 0)
		die("first sync", rc, &err);
	f->first_sync = now_s() - t;
	if ((rc = tf_client_status_get(c, &cs)) != 0)
		die("status", rc, NULL);
	if (cs.sum.records < nrec) {
		fprintf(stderr, "bench_client: first sync gave %zu records of "
			"%zu\n", cs.sum.records, nrec);
		exit(1);
	}

	/* 2. Unlock of a store holding the shift. */
	tf_client_lock(c);
	t = now_s();
	if ((rc = tf_client_unlock(c, PIN, strlen(PIN), &err)) != 0)
		die("unlock", rc, &err);
	f->unlock_loaded = now_s() - t;

	/* 4. Offline: npend queued commands (log entries and field sets on
	   the shift's incidents) while dispatch changes as many records. */
	for (i = 0; i < npend; i++) {
		const char *id = ids[(i * 7919) % nrec];

		if (i % 2 == 0)
			snprintf(args, sizeof args,
				 "{\"field\":\"notes\",\"body\":{\"text\":"
				 "\"offline note %zu\"}}", i);
		else
			snprintf(args, sizeof args,
				 "{\"fields\":{\"disposition\":\"report %zu\"}}",
				 i);
		rc = tf_client_mutate(c, "incident", id,
				      i % 2 == 0 ? "append" : "set", args, 0,
				      NULL, NULL, &err);
		if (rc)
			die("offline mutate", rc, &err);
	}
	for (i = 0; i < npend; i++) {
		snprintf(args, sizeof args,
			 "{\"fields\":{\"priority\":%zu}}", 1 + (i % 3));
		if (tf_json_parse(args, strlen(args), NULL, &a, &err) != 0)
			die("args", TF_EJSON, &err);
		tf_random_bytes(rnd, sizeof rnd);
		rc = tf_replica_mutate(r_dana, tf_h_now_ms(), rnd, 1,
				       "incident", ids[(i * 104729) % nrec],
				       TF_OP_SET, a, NULL, NULL, &err);
		tf_json_free(a);
		if (rc)
			die("dispatch mutate", rc, &err);
	}
	if ((rc = tf_h_sync(&h, &s_dana, r_dana, tf_h_now_ms(), &err)) != 0)
		die("dispatch sync", rc, &err);
	f->pending = npend;
	f->dispatch_changes = npend;
	t = now_s();
	if ((rc = tf_client_sync(c, progress_none, NULL, &err)) != 0)
		die("catch-up sync", rc, &err);
	f->catch_up = now_s() - t;
	if ((rc = tf_client_status_get(c, &cs)) != 0)
		die("status", rc, NULL);
	if (cs.sum.pending != 0) {
		fprintf(stderr, "bench_client: %zu commands still pending\n",
			cs.sum.pending);
		exit(1);
	}

	tf_client_close(c);
	tf_replica_free(r_dana);
	tf_h_destroy(&h);
	rm_rf(home);
	free(ids);
}

int main(int argc, char **argv)
{
	size_t n_store = 5000, nrec = 10000, npend = 2000;
	int store_only = 0;
	store_fig enc, plain;
	sync_fig sf;
	const char *out = NULL;
	char exe[600], dir[512];
	FILE *fp = stdout;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			n_store = 1000;
			nrec = 2000;
			npend = 400;
		} else if (strcmp(argv[i], "--store-only") == 0) {
			store_only = 1;
		} else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
			nrec = (size_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--pending") == 0 && i + 1 < argc) {
			npend = (size_t)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_client [--quick] "
				"[--store-only] [--records N] [--pending N] [--out FILE]\n");
			return 2;
		}
	}
	if (nrec == 0 || nrec > 1000000 || npend > 100000) {
		fprintf(stderr, "bench_client: --records 1..1000000, "
			"--pending 0..100000\n");
		return 2;
	}
	if (getenv("TF_TENFOURD") == NULL) {
		snprintf(dir, sizeof dir, "%s", argv[0]);
		snprintf(exe, sizeof exe, "%s/../tenfourd", dirname(dir));
		setenv("TF_TENFOURD", exe, 1);
	}

	/* Encrypted and plaintext alternate, best of three each, so that a
	   burst of load on a shared machine does not land on one side. */
	memset(&enc, 0, sizeof enc);
	memset(&plain, 0, sizeof plain);
	for (i = 0; i < 3; i++) {
		store_fig e, p;

		bench_store(0, n_store, &e);
		bench_store(1, n_store, &p);
		best(&enc, &e);
		best(&plain, &p);
	}
	memset(&sf, 0, sizeof sf);
	if (!store_only)
		bench_sync(argv[0], nrec, npend, &sf);

	if (out && (fp = fopen(out, "w")) == NULL) {
		perror(out);
		return 1;
	}
	fprintf(fp,
		"{\"store\":{\"n\":%zu,"
		"\"encrypted\":{\"writes_1_per_s\":%.0f,"
		"\"writes_100_per_s\":%.0f,\"reads_per_s\":%.0f,"
		"\"create_keys_s\":%.3f,\"unlock_s\":%.3f},"
		"\"plaintext\":{\"writes_1_per_s\":%.0f,"
		"\"writes_100_per_s\":%.0f,\"reads_per_s\":%.0f},"
		"\"ratio\":{\"writes_1\":%.3f,\"writes_100\":%.3f,"
		"\"reads\":%.3f}},\n"
		" \"client\":{\"records\":%zu,\"login_s\":%.3f,"
		"\"first_sync_s\":%.3f,\"unlock_with_records_s\":%.3f,"
		"\"pending\":%zu,\"dispatch_changes\":%zu,"
		"\"catch_up_s\":%.3f}}\n",
		n_store, enc.write_1, enc.write_100, enc.read, enc.create_keys,
		enc.unlock, plain.write_1, plain.write_100, plain.read,
		plain.write_1 / enc.write_1, plain.write_100 / enc.write_100,
		plain.read / enc.read, sf.records, sf.login, sf.first_sync,
		sf.unlock_loaded, sf.pending, sf.dispatch_changes, sf.catch_up);
	if (fp != stdout)
		fclose(fp);
	return 0;
}
