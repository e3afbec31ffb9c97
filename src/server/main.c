/*
 * main.c - the tenfourd process: `tenfourd [options]` serves, `tenfourd
 * admin ...` administers (admin.c).  Serving: options (config.c), the
 * data directory, the schema, the database, the server identity, the
 * HTTP layer; then SIGTERM/SIGINT stop it gracefully: /healthz turns to
 * "stopping", no new connections, SSE streams end, requests in flight
 * finish, the database drains its queued writes, exit 0.
 *
 * Signals are blocked in every thread and taken with sigwait() here, so
 * no handler ever runs inside the server's locks.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/admin.h"
#include "server/config.h"
#include "server/http.h"
#include "server/server.h"
#include "tenfour/schema.h"

#define SCHEMA_FILE_MAX ((size_t)4 * 1024 * 1024)

static void log_error(const char *msg, const tf_err *err)
{
	tf_buf f;

	tf_buf_init(&f);
	tf_log_field_str(&f, "code", tf_errcode(err->code));
	tf_log_field_str(&f, "field", err->where);
	tf_log_field_str(&f, "detail", err->msg);
	tf_log_write(TF_LOG_ERROR, msg, tf_buf_cstr(&f));
	tf_buf_free(&f);
}

/* The data directory: created 0700 when missing; must be a directory. */
static int make_data_dir(const char *path, tf_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return tf_err_set(err, TF_EIO, "data-dir",
				  "data-dir: cannot create %s: %s", path,
				  strerror(errno));
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return tf_err_set(err, TF_EIO, "data-dir",
				  "data-dir: %s is not a directory", path);
	return 0;
}

static int load_schema(const char *path, tf_schema **out, tf_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t n;
	int rc;

	*out = NULL;
	if (f == NULL)
		return tf_err_set(err, TF_EIO, "schema",
				  "schema: cannot read %s: %s", path,
				  strerror(errno));
	text = malloc(SCHEMA_FILE_MAX + 1);
	if (text == NULL) {
		fclose(f);
		return tf_err_set(err, TF_ENOMEM, "schema", "out of memory");
	}
	n = fread(text, 1, SCHEMA_FILE_MAX + 1, f);
	if (ferror(f) || n > SCHEMA_FILE_MAX)
		rc = tf_err_set(err, TF_EIO, "schema",
				"schema: %s is unreadable or over %zu bytes",
				path, SCHEMA_FILE_MAX);
	else
		rc = tf_schema_load(text, n, out, err);
	free(text);
	fclose(f);
	return rc;
}

/* The DSN's scheme only: a PostgreSQL DSN may carry a password. */
static void dsn_scheme(const char *dsn, char *out, size_t cap)
{
	size_t n = strcspn(dsn, ":");

	if (dsn[n] != ':')
		n = 0;
	snprintf(out, cap, "%.*s", (int)n, n ? dsn : "sqlite");
}

static int serve(const tf_config *cfg)
{
	sigset_t sigs;
	tf_schema *schema = NULL;
	tf_db *db = NULL;
	tf_db_options o;
	tf_http *h = NULL;
	tf_http_limits lim;
	tf_srv s;
	tf_err err;
	char host[64], node[96], scheme[32];
	int sig = 0, rc, have_identity = 0;

	memset(&s, 0, sizeof s);
	memset(&err, 0, sizeof err);
	tf_log_set_level(cfg->log_level);
	/* Blocked before any thread starts, so every thread inherits it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rc = make_data_dir(cfg->data_dir, &err);
	if (rc == 0)
		rc = load_schema(cfg->schema, &schema, &err);
	if (rc < 0)
		goto out;
	tf_db_options_default(&o);
	o.fsync = cfg->fsync;
	rc = tf_db_open(cfg->db, &o, &db, &err);
	if (rc < 0)
		goto out;
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(node, sizeof node, "tenfourd@%s", host);
	s.db = db;
	s.schema = schema;
	s.max_skew_ms = cfg->max_skew_ms;
	s.totp_window = 1;
	s.pbkdf2_iter = cfg->pbkdf2_iter;
	s.node = node;
	rc = tf_srv_init_identity(&s, &err);
	if (rc < 0)
		goto out;
	have_identity = 1;
	/* max-connections-per-ip and metrics-allow; the per-session
	   limits keep their defaults. */
	tf_http_limits_config(&lim, cfg);
	rc = tf_http_start_limits(&s, cfg, &lim, &h, &err);
	if (rc < 0)
		goto out;
	{
		tf_buf f;

		dsn_scheme(cfg->db, scheme, sizeof scheme);
		tf_buf_init(&f);
		tf_log_field_str(&f, "version", TF_SERVER_VERSION);
		tf_log_field_str(&f, "listen", cfg->listen);
		tf_log_field_int(&f, "port", tf_http_port(h));
		tf_log_field_str(&f, "tls", cfg->tls_cert[0] ? "on" : "off");
		tf_log_field_int(&f, "threads", cfg->threads);
		tf_log_field_int(&f, "max_connections_per_ip",
				 cfg->max_connections_per_ip);
		tf_log_field_str(&f, "db", scheme);
		tf_log_field_str(&f, "fsync", cfg->fsync ? "on" : "off");
		tf_log_field_str(&f, "schema", cfg->schema);
		tf_log_field_str(&f, "key_id", s.key_id);
		tf_log_write(TF_LOG_INFO, "start", tf_buf_cstr(&f));
		tf_buf_free(&f);
	}
	while (sigwait(&sigs, &sig) != 0)
		;
	{
		tf_buf f;

		tf_buf_init(&f);
		tf_log_field_str(&f, "signal", sig == SIGTERM ? "SIGTERM"
							       : "SIGINT");
		tf_log_write(TF_LOG_INFO, "stopping", tf_buf_cstr(&f));
		tf_buf_free(&f);
	}
out:
	tf_http_stop(h);
	if (db != NULL)
		tf_db_close(db); /* finishes queued writes first */
	if (have_identity)
		tf_srv_fini(&s);
	tf_schema_free(schema);
	if (rc < 0) {
		log_error("cannot start", &err);
		return 1;
	}
	tf_log_write(TF_LOG_INFO, "stop", "");
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	tf_config *cfg;
	tf_err err;
	int rc;

	if (argc > 1 && strcmp(argv[1], "admin") == 0)
		return tf_admin_main(argc - 1, argv + 1);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	cfg = malloc(sizeof *cfg);
	if (cfg == NULL) {
		fputs("tenfourd: out of memory\n", stderr);
		return 1;
	}
	memset(&err, 0, sizeof err);
	rc = tf_config_load(cfg, argc, argv, NULL, &err);
	if (rc < 0) {
		fprintf(stderr, "tenfourd: %s\n", err.msg);
		free(cfg);
		return 2;
	}
	if (cfg->help) {
		tf_config_usage(stdout);
		rc = 0;
	} else if (cfg->version) {
		printf("tenfourd %s\n", TF_SERVER_VERSION);
		rc = 0;
	} else {
		rc = serve(cfg);
	}
	free(cfg);
	return rc;
}
