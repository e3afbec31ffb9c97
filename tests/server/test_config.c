/*
 * test_config.c - tenfourd options (src/server/config.c): defaults,
 * precedence (file < environment < flags), --key value and --key=value,
 * every validation error naming the option and its source, unknown keys
 * in each source, derived db and schema.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "tf_test.h"

static char dir[64];
static char conf[128];

static void write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");

	if (f == NULL) {
		CHECK(0);
		return;
	}
	fputs(text, f);
	fclose(f);
}

/* Loads with argv (NULL-ended list after argv[0]) and envp. */
static int load(tf_config *c, char *const *envp, tf_err *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	char *a;

	argv[argc++] = (char *)"tenfourd";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	memset(err, 0, sizeof *err);
	return tf_config_load(c, argc, argv, envp, err);
}

static char *const no_env[] = {NULL};

TEST(test_defaults)
{
	tf_config c;
	tf_err err;

	CHECK_INT(load(&c, no_env, &err, NULL), 0);
	CHECK_STR(c.listen, "127.0.0.1:8410");
	CHECK_INT(c.listen_addr.ss_family, AF_INET);
	CHECK_STR(c.data_dir, "/var/lib/tenfourd");
	CHECK_STR(c.db, "sqlite:/var/lib/tenfourd/tenfourd.db");
	CHECK_INT(c.threads, 4);
	CHECK_INT(c.max_connections, 10000);
	CHECK_INT(c.max_connections_per_ip, 256);
	CHECK_STR(c.metrics_allow, "");
	CHECK_INT(c.fsync, 1);
	CHECK_INT(c.metrics, 1);
	CHECK_INT(c.max_skew_ms, 60000);
	CHECK_INT(c.sse_heartbeat_s, 20);
	CHECK_INT(c.pbkdf2_iter, 600000);
	CHECK_INT(c.log_level, TF_LOG_INFO);
	CHECK_STR(c.tls_cert, "");
	CHECK_STR(c.port_file, "");
	/* The packaged schema is absent here: the repository's one. */
	if (access(TF_CONFIG_DEFAULT_SCHEMA, R_OK) != 0)
		CHECK_STR(c.schema, "schemas/cad.json");
}

TEST(test_precedence)
{
	char cflag[160];
	char envc[160];
	tf_config c;
	tf_err err;

	write_conf("# comment\n\n  threads = 2\nsse-heartbeat-s=5\n"
		   "log-level = debug\r\nmetrics = off\n");
	snprintf(cflag, sizeof cflag, "--config=%s", conf);
	/* File only. */
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), 0);
	CHECK_INT(c.threads, 2);
	CHECK_INT(c.sse_heartbeat_s, 5);
	CHECK_INT(c.log_level, TF_LOG_DEBUG);
	CHECK_INT(c.metrics, 0);
	CHECK_STR(c.config, conf);
	/* Environment over file. */
	{
		char *const env[] = {(char *)"TENFOURD_THREADS=3",
				     (char *)"PATH=/bin", NULL};

		CHECK_INT(load(&c, env, &err, "--config", conf, NULL), 0);
		CHECK_INT(c.threads, 3);
		CHECK_INT(c.sse_heartbeat_s, 5);
		/* Flag over environment (both forms). */
		CHECK_INT(load(&c, env, &err, cflag, "--threads", "7", NULL),
			  0);
		CHECK_INT(c.threads, 7);
		CHECK_INT(load(&c, env, &err, cflag, "--threads=8", NULL), 0);
		CHECK_INT(c.threads, 8);
	}
	/* The file named in the environment. */
	snprintf(envc, sizeof envc, "TENFOURD_CONFIG=%s", conf);
	{
		char *const env[] = {envc, (char *)"TENFOURD_SSE_HEARTBEAT_S=9",
				     NULL};

		CHECK_INT(load(&c, env, &err, NULL), 0);
		CHECK_INT(c.threads, 2);
		CHECK_INT(c.sse_heartbeat_s, 9);
	}
}

TEST(test_values)
{
	tf_config c;
	tf_err err;

	CHECK_INT(load(&c, no_env, &err, "--listen", "[::1]:0", "--data-dir",
		       "/tmp/x", "--fsync", "off", "--trusted-proxy",
		       "10.0.0.1", "--max-skew-ms", "5000", "--pbkdf2-iterations",
		       "700000", "--port-file", "/tmp/x/port", NULL),
		  0);
	CHECK_INT(c.listen_addr.ss_family, AF_INET6);
	CHECK_STR(c.db, "sqlite:/tmp/x/tenfourd.db");
	CHECK_INT(c.fsync, 0);
	CHECK_STR(c.trusted_proxy, "10.0.0.1");
	CHECK_INT(c.max_skew_ms, 5000);
	CHECK_INT(c.pbkdf2_iter, 700000);
	CHECK_STR(c.port_file, "/tmp/x/port");
	/* An explicit db and schema are kept. */
	CHECK_INT(load(&c, no_env, &err, "--db", "sqlite:/d.db", "--schema",
		       "/s.json", "--data-dir", "/tmp/y", NULL),
		  0);
	CHECK_STR(c.db, "sqlite:/d.db");
	CHECK_STR(c.schema, "/s.json");
	/* IPv6 addresses are normalised. */
	CHECK_INT(load(&c, no_env, &err, "--trusted-proxy",
		       "0:0:0:0:0:0:0:1", NULL),
		  0);
	CHECK_STR(c.trusted_proxy, "::1");
	CHECK_INT(load(&c, no_env, &err, "--tls-cert", "/c.pem", "--tls-key",
		       "/k.pem", NULL),
		  0);
	CHECK_STR(c.tls_key, "/k.pem");
	CHECK_INT(load(&c, no_env, &err, "--help", NULL), 0);
	CHECK(c.help);
	CHECK_INT(load(&c, no_env, &err, "--version", NULL), 0);
	CHECK(c.version);
}

/* Each bad value: TF_EINVAL, where = option, message names the source. */
static void bad_flag(const char *key, const char *val)
{
	char flag[64];
	tf_config c;
	tf_err err;
	int rc;

	snprintf(flag, sizeof flag, "--%s", key);
	rc = load(&c, no_env, &err, flag, val, NULL);
	CHECK_INT(rc, TF_EINVAL);
	CHECK_STR(err.where, key);
	if (strstr(err.msg, flag) == NULL || strstr(err.msg, key) == NULL)
		tf_test_fail(__FILE__, __LINE__, "%s=%s: \"%s\"", key, val,
			     err.msg);
}

TEST(test_bad_values)
{
	bad_flag("listen", "localhost:80");
	bad_flag("listen", "127.0.0.1");
	bad_flag("listen", "127.0.0.1:65536");
	bad_flag("listen", "127.0.0.1:-1");
	bad_flag("listen", "::1:80");
	bad_flag("listen", "[::1]80");
	bad_flag("listen", "[nothing]:80");
	bad_flag("listen", ":80");
	bad_flag("data-dir", "");
	bad_flag("data-dir", "a\tb");
	bad_flag("db", "");
	bad_flag("schema", "");
	bad_flag("tls-cert", "");
	bad_flag("threads", "0");
	bad_flag("threads", "257");
	bad_flag("threads", "4x");
	bad_flag("threads", "-4");
	bad_flag("threads", " 4");
	bad_flag("threads", "99999999999999999999999");
	bad_flag("max-connections", "0");
	bad_flag("max-connections", "1000001");
	bad_flag("fsync", "yes");
	bad_flag("fsync", "ON");
	bad_flag("metrics", "");
	bad_flag("max-skew-ms", "0");
	bad_flag("max-skew-ms", "86400001");
	bad_flag("sse-heartbeat-s", "0");
	bad_flag("sse-heartbeat-s", "61");
	bad_flag("port-file", "");
	bad_flag("trusted-proxy", "proxy.local");
	bad_flag("trusted-proxy", "10.0.0.256");
	bad_flag("pbkdf2-iterations", "599999");
	bad_flag("pbkdf2-iterations", "10000001");
	bad_flag("log-level", "trace");
}

TEST(test_sources_named)
{
	char cflag[160], envc[160];
	tf_config c;
	tf_err err;

	snprintf(cflag, sizeof cflag, "--config=%s", conf);
	/* File: path and line. */
	write_conf("threads = 2\n# x\nfsync = maybe\n");
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	CHECK_STR(err.where, "fsync");
	{
		char want[200];

		snprintf(want, sizeof want, "file %s:3", conf);
		CHECK(strstr(err.msg, want) != NULL);
	}
	/* Unknown key in the file. */
	write_conf("threads = 2\nthread = 3\n");
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	CHECK(strstr(err.msg, "unknown option 'thread'") != NULL);
	CHECK(strstr(err.msg, ":2") != NULL);
	/* A line without '='. */
	write_conf("threads 2\n");
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	CHECK(strstr(err.msg, ":1") != NULL);
	/* A file cannot name another file. */
	write_conf("config = /etc/other\n");
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	/* Missing file. */
	CHECK_INT(load(&c, no_env, &err, "--config", "/nonexistent/x.conf",
		       NULL),
		  TF_EIO);
	CHECK(strstr(err.msg, "/nonexistent/x.conf") != NULL);
	/* Environment: the variable is named. */
	{
		char *const env[] = {(char *)"TENFOURD_MAX_CONNECTIONS=lots",
				     NULL};

		CHECK_INT(load(&c, env, &err, NULL), TF_EINVAL);
		CHECK_STR(err.where, "max-connections");
		CHECK(strstr(err.msg, "environment "
				      "TENFOURD_MAX_CONNECTIONS") != NULL);
	}
	/* Unknown TENFOURD_ variable. */
	{
		char *const env[] = {(char *)"TENFOURD_THREAD=4", NULL};

		CHECK_INT(load(&c, env, &err, NULL), TF_EINVAL);
		CHECK(strstr(err.msg, "TENFOURD_THREAD") != NULL);
	}
	/* A bad TENFOURD_CONFIG value. */
	snprintf(envc, sizeof envc, "TENFOURD_CONFIG=");
	{
		char *const env[] = {envc, NULL};

		CHECK_INT(load(&c, env, &err, NULL), TF_EINVAL);
		CHECK_STR(err.where, "config");
		CHECK(strstr(err.msg, "environment TENFOURD_CONFIG") != NULL);
	}
	/* A later flag error is reported even when the file is fine. */
	write_conf("threads = 2\n");
	CHECK_INT(load(&c, no_env, &err, cflag, "--metrics=of", NULL),
		  TF_EINVAL);
	CHECK(strstr(err.msg, "flag --metrics") != NULL);
}

/* max-connections-per-ip and metrics-allow: values, normal form, bounds,
   errors naming the option and the source, precedence. */
TEST(test_connection_options)
{
	char cflag[160], list[1200];
	tf_config c;
	tf_err err;
	size_t n = 0;

	CHECK_INT(load(&c, no_env, &err, "--max-connections-per-ip", "0",
		       NULL),
		  0);
	CHECK_INT(c.max_connections_per_ip, 0);
	CHECK_INT(load(&c, no_env, &err, "--max-connections-per-ip=1000000",
		       NULL),
		  0);
	CHECK_INT(c.max_connections_per_ip, 1000000);
	/* Normalised, blanks trimmed, IPv4 and IPv6. */
	CHECK_INT(load(&c, no_env, &err, "--metrics-allow",
		       " 10.0.0.7 ,0:0:0:0:0:0:0:1,\t2001:DB8::5", NULL),
		  0);
	CHECK_STR(c.metrics_allow, "10.0.0.7,::1,2001:db8::5");
	/* Sixteen addresses, the most. */
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s10.1.2.%d",
				      i ? "," : "", i);
	CHECK_INT(load(&c, no_env, &err, "--metrics-allow", list, NULL), 0);
	CHECK(strstr(c.metrics_allow, "10.1.2.0,10.1.2.1,") == c.metrics_allow);
	CHECK(strstr(c.metrics_allow, ",10.1.2.15") != NULL);
	/* The environment may clear what the file set. */
	write_conf("metrics-allow = 192.0.2.1\nmax-connections-per-ip = 9\n");
	snprintf(cflag, sizeof cflag, "--config=%s", conf);
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), 0);
	CHECK_STR(c.metrics_allow, "192.0.2.1");
	CHECK_INT(c.max_connections_per_ip, 9);
	{
		char *const env[] = {(char *)"TENFOURD_METRICS_ALLOW=",
				     (char *)"TENFOURD_MAX_CONNECTIONS_PER_IP=10",
				     NULL};

		CHECK_INT(load(&c, env, &err, cflag, NULL), 0);
		CHECK_STR(c.metrics_allow, "");
		CHECK_INT(c.max_connections_per_ip, 10);
		/* Flags over both. */
		CHECK_INT(load(&c, env, &err, cflag, "--metrics-allow=::2",
			       "--max-connections-per-ip", "11", NULL),
			  0);
		CHECK_STR(c.metrics_allow, "::2");
		CHECK_INT(c.max_connections_per_ip, 11);
	}
	/* Bad values, each naming the option and the source. */
	bad_flag("max-connections-per-ip", "1000001");
	bad_flag("max-connections-per-ip", "-1");
	bad_flag("max-connections-per-ip", "");
	bad_flag("max-connections-per-ip", "many");
	bad_flag("metrics-allow", "prometheus.local");
	bad_flag("metrics-allow", "10.0.0.1,");
	bad_flag("metrics-allow", ",10.0.0.1");
	bad_flag("metrics-allow", "10.0.0.1,,10.0.0.2");
	bad_flag("metrics-allow", "10.0.0.0/8");
	bad_flag("metrics-allow", "[::1]");
	strcat(list, ",10.1.2.16");
	bad_flag("metrics-allow", list);
	{
		tf_config d;

		CHECK_INT(load(&d, no_env, &err, "--metrics-allow", list, NULL),
			  TF_EINVAL);
		CHECK(strstr(err.msg, "more than 16") != NULL);
		CHECK_INT(load(&d, no_env, &err, "--metrics-allow", "1.2.3.4,x",
			       NULL),
			  TF_EINVAL);
		CHECK(strstr(err.msg, "\"x\"") != NULL);
	}
	write_conf("threads = 2\nmetrics-allow = 10.0.0.1, nope\n");
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	CHECK_STR(err.where, "metrics-allow");
	{
		char want[200];

		snprintf(want, sizeof want, "file %s:2", conf);
		CHECK(strstr(err.msg, want) != NULL);
	}
	{
		char *const env[] = {
			(char *)"TENFOURD_MAX_CONNECTIONS_PER_IP=2000000", NULL};

		CHECK_INT(load(&c, env, &err, NULL), TF_EINVAL);
		CHECK_STR(err.where, "max-connections-per-ip");
		CHECK(strstr(err.msg, "environment "
				      "TENFOURD_MAX_CONNECTIONS_PER_IP") !=
		      NULL);
	}
}

TEST(test_bad_flags)
{
	tf_config c;
	tf_err err;

	CHECK_INT(load(&c, no_env, &err, "--nope", "1", NULL), TF_EINVAL);
	CHECK(strstr(err.msg, "--nope") != NULL);
	CHECK_INT(load(&c, no_env, &err, "--nope=1", NULL), TF_EINVAL);
	CHECK(strstr(err.msg, "--nope") != NULL);
	CHECK(strstr(err.msg, "=1") == NULL);
	CHECK_INT(load(&c, no_env, &err, "serve", NULL), TF_EINVAL);
	CHECK(strstr(err.msg, "serve") != NULL);
	CHECK_INT(load(&c, no_env, &err, "--threads", NULL), TF_EINVAL);
	CHECK_STR(err.where, "threads");
	CHECK(strstr(err.msg, "needs a value") != NULL);
	/* tls-cert without tls-key and the reverse. */
	CHECK_INT(load(&c, no_env, &err, "--tls-cert", "/c.pem", NULL),
		  TF_EINVAL);
	CHECK_STR(err.where, "tls-key");
	CHECK_INT(load(&c, no_env, &err, "--tls-key", "/k.pem", NULL),
		  TF_EINVAL);
	CHECK_STR(err.where, "tls-cert");
}

TEST(test_limits)
{
	char cflag[160], *big;
	tf_config c;
	tf_err err;
	FILE *f;

	snprintf(cflag, sizeof cflag, "--config=%s", conf);
	big = malloc(TF_CONFIG_FILE_MAX + 2);
	if (big == NULL) {
		CHECK(0);
		return;
	}
	/* A line over the line limit. */
	memset(big, '#', TF_CONFIG_LINE_MAX + 1);
	big[TF_CONFIG_LINE_MAX + 1] = '\0';
	write_conf(big);
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_ELIMIT);
	/* A file over the size limit. */
	memset(big, '\n', TF_CONFIG_FILE_MAX + 1);
	big[TF_CONFIG_FILE_MAX + 1] = '\0';
	write_conf(big);
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_ELIMIT);
	free(big);
	/* A NUL byte. */
	f = fopen(conf, "wb");
	if (f != NULL) {
		fwrite("threads = 2\n\0\n", 1, 14, f);
		fclose(f);
	}
	CHECK_INT(load(&c, no_env, &err, cflag, NULL), TF_EINVAL);
	/* Path too long. */
	big = malloc(TF_CONFIG_PATH_MAX + 2);
	if (big != NULL) {
		memset(big, 'a', TF_CONFIG_PATH_MAX + 1);
		big[TF_CONFIG_PATH_MAX + 1] = '\0';
		CHECK_INT(load(&c, no_env, &err, "--data-dir", big, NULL),
			  TF_EINVAL);
		CHECK_STR(err.where, "data-dir");
		free(big);
	}
}

TEST(test_usage)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	static const char *const keys[] = {
		"--config",	     "--listen",	  "--data-dir",
		"--db",		     "--schema",	  "--tls-cert",
		"--tls-key",	     "--threads",	  "--max-connections",
		"--fsync",	     "--max-skew-ms",	  "--sse-heartbeat-s",
		"--port-file",	     "--metrics",	  "--trusted-proxy",
		"--pbkdf2-iterations", "--log-level",	  "TENFOURD_LOG_LEVEL",
		"--max-connections-per-ip", "--metrics-allow",
		"TENFOURD_METRICS_ALLOW",
		"override",
	};

	if (f == NULL) {
		CHECK(0);
		return;
	}
	tf_config_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strstr(text, keys[i]) == NULL)
			tf_test_fail(__FILE__, __LINE__, "usage lacks %s",
				     keys[i]);
	free(text);
}

int main(int argc, char **argv)
{
	(void)argc;
	snprintf(dir, sizeof dir, "/tmp/tf_config_XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(conf, sizeof conf, "%s/tenfourd.conf", dir);
	RUN(test_defaults);
	RUN(test_precedence);
	RUN(test_values);
	RUN(test_bad_values);
	RUN(test_sources_named);
	RUN(test_connection_options);
	RUN(test_bad_flags);
	RUN(test_limits);
	RUN(test_usage);
	unlink(conf);
	rmdir(dir);
	return tf_test_finish(argv[0]);
}
