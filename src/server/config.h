/*
 * config.h - tenfourd's settings: one table of options read from a file
 * (--config PATH: "key = value" lines, # comments), the environment
 * (TENFOURD_<KEY>, upper case, '-' as '_') and the command line
 * (--key value or --key=value).  Flags override the environment, which
 * overrides the file.  Every value is validated; an error names the
 * option and where the value came from ("file /etc/tenfourd.conf:12",
 * "environment TENFOURD_THREADS", "flag --threads").  docs/tenfourd.8 and
 * `tenfourd --help` list the options.
 */
#ifndef TF_SERVER_CONFIG_H
#define TF_SERVER_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "tenfour/tenfour.h"

#define TF_SERVER_VERSION "0.1.0" /* tenfourd --version, build_info */
#define TF_CONFIG_PATH_MAX 1024  /* file and directory names, bytes */
#define TF_CONFIG_ADDR_MAX 64    /* an IPv4 or IPv6 literal */
#define TF_CONFIG_FILE_MAX ((size_t)64 * 1024)
#define TF_CONFIG_LINE_MAX ((size_t)4096)
#define TF_CONFIG_DEFAULT_DATA_DIR "/var/lib/tenfourd"
#define TF_CONFIG_DEFAULT_SCHEMA "/usr/share/tenfour/cad.json"
#define TF_CONFIG_FALLBACK_SCHEMA "schemas/cad.json"
#define TF_CONFIG_DEFAULT_LISTEN "127.0.0.1:8410"
#define TF_CONFIG_PER_IP_DEFAULT 256
#define TF_CONFIG_METRICS_ALLOW_MAX 16 /* addresses in metrics-allow */
/* metrics-allow as stored: normalised literals joined by ',' */
#define TF_CONFIG_METRICS_ALLOW_LEN \
	(TF_CONFIG_METRICS_ALLOW_MAX * (TF_CONFIG_ADDR_MAX + 1))

enum tf_log_level {
	TF_LOG_DEBUG = 0,
	TF_LOG_INFO = 1,
	TF_LOG_WARN = 2,
	TF_LOG_ERROR = 3
};

typedef struct tf_config {
	char config[TF_CONFIG_PATH_MAX + 1]; /* the file read, "" = none */
	char listen[TF_CONFIG_ADDR_MAX + 16]; /* as given: "ADDR:PORT" */
	struct sockaddr_storage listen_addr;  /* parsed listen */
	socklen_t listen_len;
	char data_dir[TF_CONFIG_PATH_MAX + 1];
	char db[TF_CONFIG_PATH_MAX + 32];  /* DSN, "sqlite:<path>" */
	char schema[TF_CONFIG_PATH_MAX + 1];
	char tls_cert[TF_CONFIG_PATH_MAX + 1]; /* PEM files, "" = plain HTTP */
	char tls_key[TF_CONFIG_PATH_MAX + 1];
	unsigned threads;         /* MHD thread pool, 1..256, default 4 */
	unsigned max_connections; /* 1..1000000, default 10000 */
	/* connections one peer address may hold, 0..1000000 (0: no
	   limit), default 256; loopback and trusted-proxy are exempt */
	unsigned max_connections_per_ip;
	int fsync;                /* 1 (default) or 0 */
	int64_t max_skew_ms;      /* 1..86400000, default 60000 */
	unsigned sse_heartbeat_s; /* 1..60, default 20 */
	char port_file[TF_CONFIG_PATH_MAX + 1]; /* "" = none */
	int metrics;              /* 1 (default): serve GET /metrics */
	char trusted_proxy[TF_CONFIG_ADDR_MAX]; /* normalised, "" = none */
	/* peers served /metrics besides loopback: at most 16 IPv4/IPv6
	   literals, normalised, comma-separated, "" = none */
	char metrics_allow[TF_CONFIG_METRICS_ALLOW_LEN];
	uint32_t pbkdf2_iter;     /* >= 600000, default 600000 */
	int log_level;            /* enum tf_log_level, default info */
	int help, version;        /* --help / --version were given */
	int db_set, schema_set;   /* given explicitly (else derived) */
} tf_config;

/* Built-in defaults (db and schema are derived later by tf_config_load). */
void tf_config_default(tf_config *c);

/*
 * Fills c from its defaults, then the file named by --config (flag) or
 * TENFOURD_CONFIG (environment), then the environment envp (NULL-ended
 * "KEY=value" strings; NULL means the process environment), then
 * argv[1..argc-1].  Derives db ("sqlite:<data-dir>/tenfourd.db") and
 * schema (TF_CONFIG_DEFAULT_SCHEMA, or TF_CONFIG_FALLBACK_SCHEMA in the
 * current directory when the former does not exist) when not given.
 * Errors (err->where = the option name, err->msg names the source too):
 * TF_EINVAL for a bad value, an unknown option or a stray argument,
 * TF_EIO for an unreadable file, TF_ELIMIT for a file or line too long.
 * Stops at --help / --version (c->help / c->version set, returns 0).
 */
int tf_config_load(tf_config *c, int argc, char **argv, char *const *envp,
		   tf_err *err);

/* Writes the --help text (options, defaults, precedence) to f. */
void tf_config_usage(FILE *f);

/* "debug", "info", "warn", "error". */
const char *tf_config_log_level_name(int level);

#endif
