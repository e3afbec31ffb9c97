/*
 * config.c - tenfourd's options from a file, the environment and flags
 * (config.h).  One table names every option; the three sources feed the
 * same setter, which validates the value and, on error, names the option
 * and the source it came from, so an operator finds the bad line.
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"

extern char **environ;

enum opt_id {
	O_CONFIG,
	O_LISTEN,
	O_DATA_DIR,
	O_DB,
	O_SCHEMA,
	O_TLS_CERT,
	O_TLS_KEY,
	O_THREADS,
	O_MAX_CONNECTIONS,
	O_MAX_CONNECTIONS_PER_IP,
	O_FSYNC,
	O_MAX_SKEW_MS,
	O_SSE_HEARTBEAT_S,
	O_PORT_FILE,
	O_METRICS,
	O_METRICS_ALLOW,
	O_TRUSTED_PROXY,
	O_PBKDF2_ITERATIONS,
	O_LOG_LEVEL,
	O_COUNT
};

struct opt {
	const char *key;
	const char *arg; /* metavariable for --help */
	const char *help;
};

static const struct opt opts[O_COUNT] = {
	[O_CONFIG] = {"config", "PATH",
		      "read options from PATH (\"key = value\" lines)"},
	[O_LISTEN] = {"listen", "ADDR:PORT",
		      "address to listen on; IPv6 as [ADDR]:PORT; port 0 = "
		      "any free port (default " TF_CONFIG_DEFAULT_LISTEN ")"},
	[O_DATA_DIR] = {"data-dir", "DIR",
			"state directory, created 0700 (default "
			TF_CONFIG_DEFAULT_DATA_DIR ")"},
	[O_DB] = {"db", "DSN",
		  "database (default sqlite:<data-dir>/tenfourd.db)"},
	[O_SCHEMA] = {"schema", "PATH",
		      "entity schema (default " TF_CONFIG_DEFAULT_SCHEMA
		      ", or " TF_CONFIG_FALLBACK_SCHEMA
		      " in the current directory when that is absent)"},
	[O_TLS_CERT] = {"tls-cert", "PEM",
			"serve HTTPS with this certificate (needs tls-key)"},
	[O_TLS_KEY] = {"tls-key", "PEM", "private key for tls-cert"},
	[O_THREADS] = {"threads", "N",
		       "HTTP worker threads, 1..256 (default 4)"},
	[O_MAX_CONNECTIONS] = {"max-connections", "N",
			       "open connections at most, 1..1000000 "
			       "(default 10000)"},
	[O_MAX_CONNECTIONS_PER_IP] = {"max-connections-per-ip", "N",
				      "open connections one peer address may "
				      "hold, 0 (no limit)..1000000; loopback "
				      "and trusted-proxy exempt (default 256)"},
	[O_FSYNC] = {"fsync", "on|off",
		     "sync every commit before acknowledging it (default on)"},
	[O_MAX_SKEW_MS] = {"max-skew-ms", "MS",
			   "client clock skew refused beyond, 1..86400000 "
			   "(default 60000)"},
	[O_SSE_HEARTBEAT_S] = {"sse-heartbeat-s", "S",
			       "SSE heartbeat period, 1..60 (default 20)"},
	[O_PORT_FILE] = {"port-file", "PATH",
			 "write the bound port to PATH once serving"},
	[O_METRICS] = {"metrics", "on|off",
		       "serve GET /metrics without auth (default on)"},
	[O_METRICS_ALLOW] = {"metrics-allow", "ADDR[,ADDR...]",
			     "peers (at most 16 IPv4/IPv6 literals) served "
			     "/metrics besides loopback (default none)"},
	[O_TRUSTED_PROXY] = {"trusted-proxy", "ADDR",
			     "take the client address from X-Forwarded-For "
			     "when the peer is ADDR (a TLS proxy)"},
	[O_PBKDF2_ITERATIONS] = {"pbkdf2-iterations", "N",
				 "PBKDF2 iterations for new password hashes, "
				 ">= 600000 (default 600000)"},
	[O_LOG_LEVEL] = {"log-level", "LEVEL",
			 "debug, info, warn or error (default info)"},
};

/* Where a value came from, for error messages. */
#define SRC_MAX 200

void tf_config_default(tf_config *c)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&c->listen_addr;

	memset(c, 0, sizeof *c);
	snprintf(c->listen, sizeof c->listen, "%s", TF_CONFIG_DEFAULT_LISTEN);
	in->sin_family = AF_INET;
	in->sin_port = htons(8410);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->listen_len = sizeof *in;
	snprintf(c->data_dir, sizeof c->data_dir, "%s",
		 TF_CONFIG_DEFAULT_DATA_DIR);
	c->threads = 4;
	c->max_connections = 10000;
	c->max_connections_per_ip = TF_CONFIG_PER_IP_DEFAULT;
	c->fsync = 1;
	c->max_skew_ms = 60000;
	c->sse_heartbeat_s = 20;
	c->metrics = 1;
	c->pbkdf2_iter = TF_PBKDF2_MIN_ITER;
	c->log_level = TF_LOG_INFO;
}

const char *tf_config_log_level_name(int level)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};

	return level >= 0 && level <= TF_LOG_ERROR ? names[level] : "info";
}

/* A printable, bounded copy of an offending value for a message. */
static void show(char *out, size_t cap, const char *v)
{
	size_t i = 0;

	for (; *v != '\0' && i + 4 < cap; v++) {
		unsigned char ch = (unsigned char)*v;

		out[i++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (*v != '\0' && i + 3 < cap) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* TF_EINVAL: "option 'KEY' (SOURCE): DETAIL", where = KEY. */
static int bad(tf_err *err, const char *key, const char *src,
	       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(tf_err *err, const char *key, const char *src,
	       const char *fmt, ...)
{
	char detail[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return tf_err_set(err, TF_EINVAL, key, "option '%s' (%s): %s", key,
			  src, detail);
}

/* Decimal digits only, within [lo, hi]. */
static int parse_uint(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

static int has_ctl(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 1;
	return 0;
}

static int set_path(char *dst, size_t cap, const char *key, const char *src,
		    const char *v, tf_err *err)
{
	if (*v == '\0')
		return bad(err, key, src, "must not be empty");
	if (strlen(v) >= cap)
		return bad(err, key, src, "longer than %zu bytes", cap - 1);
	if (has_ctl(v))
		return bad(err, key, src, "contains control characters");
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* "ADDR:PORT" with an IPv4 literal, or "[ADDR]:PORT" with IPv6. */
static int set_listen(tf_config *c, const char *key, const char *src,
		      const char *v, tf_err *err)
{
	char host[TF_CONFIG_ADDR_MAX], shown[80];
	const char *colon, *hs = v;
	size_t hl;
	uint64_t port;

	show(shown, sizeof shown, v);
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			return bad(err, key, src,
				   "expected [IPV6]:PORT, got \"%s\"", shown);
		hs = v + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return bad(err, key, src,
				   "expected ADDR:PORT, got \"%s\"", shown);
		hl = (size_t)(colon - v);
	}
	if (hl == 0 || hl >= sizeof host)
		return bad(err, key, src, "no address in \"%s\"", shown);
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (parse_uint(colon + 1, 0, 65535, &port) < 0)
		return bad(err, key, src, "port must be 0..65535 in \"%s\"",
			   shown);
	memset(&c->listen_addr, 0, sizeof c->listen_addr);
	if (v[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)&c->listen_addr;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return bad(err, key, src,
				   "\"%s\" is not an IPv4 literal (IPv6 goes "
				   "in brackets)",
				   shown);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		c->listen_len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 =
			(struct sockaddr_in6 *)&c->listen_addr;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return bad(err, key, src,
				   "\"%s\" is not an IPv6 literal", shown);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		c->listen_len = sizeof *in6;
	}
	snprintf(c->listen, sizeof c->listen, "%s", v);
	return 0;
}

static int set_onoff(int *dst, const char *key, const char *src,
		     const char *v, tf_err *err)
{
	char shown[80];

	if (strcmp(v, "on") == 0) {
		*dst = 1;
		return 0;
	}
	if (strcmp(v, "off") == 0) {
		*dst = 0;
		return 0;
	}
	show(shown, sizeof shown, v);
	return bad(err, key, src, "must be on or off, got \"%s\"", shown);
}

static int set_number(uint64_t *dst, uint64_t lo, uint64_t hi,
		      const char *key, const char *src, const char *v,
		      tf_err *err)
{
	char shown[80];

	if (parse_uint(v, lo, hi, dst) == 0)
		return 0;
	show(shown, sizeof shown, v);
	return bad(err, key, src,
		   "must be an integer from %llu to %llu, got \"%s\"",
		   (unsigned long long)lo, (unsigned long long)hi, shown);
}

/* An IPv4 or IPv6 literal (n bytes at v) in its normal text form. */
static int norm_addr(const char *v, size_t n, char *out, size_t cap)
{
	unsigned char a[sizeof(struct in6_addr)];
	char lit[TF_CONFIG_ADDR_MAX];

	if (n == 0 || n >= sizeof lit)
		return -1;
	memcpy(lit, v, n);
	lit[n] = '\0';
	if (inet_pton(AF_INET, lit, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)cap) ? 0 : -1;
	if (inet_pton(AF_INET6, lit, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)cap) ? 0 : -1;
	return -1;
}

/*
 * metrics-allow: "" (none) or ADDR[,ADDR...], at most
 * TF_CONFIG_METRICS_ALLOW_MAX literals, blanks around each allowed; kept
 * normalised (the form http.c compares request sources in).  An empty
 * entry is an error (a stray comma is more likely a typo than meant).
 * c is changed only when the whole list is good.
 */
static int set_metrics_allow(tf_config *c, const char *key, const char *src,
			     const char *v, tf_err *err)
{
	char list[TF_CONFIG_METRICS_ALLOW_LEN], one[TF_CONFIG_ADDR_MAX];
	char entry[TF_CONFIG_ADDR_MAX], shown[80];
	size_t len = 0, count = 0;

	list[0] = '\0';
	for (const char *p = v; *v != '\0'; p++) {
		size_t n = strcspn(p, ","), k;
		const char *b = p, *e = p + n;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			return bad(err, key, src, "address %zu of the list is "
				   "empty", count + 1);
		if (count == TF_CONFIG_METRICS_ALLOW_MAX)
			return bad(err, key, src, "more than %d addresses",
				   TF_CONFIG_METRICS_ALLOW_MAX);
		if (norm_addr(b, (size_t)(e - b), one, sizeof one) < 0) {
			k = (size_t)(e - b) < sizeof entry ? (size_t)(e - b)
							   : sizeof entry - 1;
			memcpy(entry, b, k);
			entry[k] = '\0';
			show(shown, sizeof shown, entry);
			return bad(err, key, src,
				   "\"%s\" is not an IPv4 or IPv6 address",
				   shown);
		}
		/* Fits: 16 entries of at most ADDR_MAX - 1 bytes and a ','. */
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
					count > 0 ? "," : "", one);
		count++;
		p += n;
		if (*p == '\0')
			break;
	}
	memcpy(c->metrics_allow, list, len + 1);
	return 0;
}

/* Validates v for option id and stores it in c. */
static int set_option(tf_config *c, enum opt_id id, const char *src,
		      const char *v, tf_err *err)
{
	const char *key = opts[id].key;
	char shown[80];
	uint64_t n = 0;
	int rc;

	switch (id) {
	case O_CONFIG:
		return set_path(c->config, sizeof c->config, key, src, v, err);
	case O_LISTEN:
		return set_listen(c, key, src, v, err);
	case O_DATA_DIR:
		return set_path(c->data_dir, sizeof c->data_dir, key, src, v,
				err);
	case O_DB:
		rc = set_path(c->db, sizeof c->db, key, src, v, err);
		c->db_set = rc == 0;
		return rc;
	case O_SCHEMA:
		rc = set_path(c->schema, sizeof c->schema, key, src, v, err);
		c->schema_set = rc == 0;
		return rc;
	case O_TLS_CERT:
		return set_path(c->tls_cert, sizeof c->tls_cert, key, src, v,
				err);
	case O_TLS_KEY:
		return set_path(c->tls_key, sizeof c->tls_key, key, src, v,
				err);
	case O_PORT_FILE:
		return set_path(c->port_file, sizeof c->port_file, key, src, v,
				err);
	case O_THREADS:
		rc = set_number(&n, 1, 256, key, src, v, err);
		if (rc == 0)
			c->threads = (unsigned)n;
		return rc;
	case O_MAX_CONNECTIONS:
		rc = set_number(&n, 1, 1000000, key, src, v, err);
		if (rc == 0)
			c->max_connections = (unsigned)n;
		return rc;
	case O_MAX_CONNECTIONS_PER_IP:
		rc = set_number(&n, 0, 1000000, key, src, v, err);
		if (rc == 0)
			c->max_connections_per_ip = (unsigned)n;
		return rc;
	case O_MAX_SKEW_MS:
		rc = set_number(&n, 1, 86400000, key, src, v, err);
		if (rc == 0)
			c->max_skew_ms = (int64_t)n;
		return rc;
	case O_SSE_HEARTBEAT_S:
		rc = set_number(&n, 1, 60, key, src, v, err);
		if (rc == 0)
			c->sse_heartbeat_s = (unsigned)n;
		return rc;
	case O_PBKDF2_ITERATIONS:
		rc = set_number(&n, TF_PBKDF2_MIN_ITER, TF_PBKDF2_MAX_ITER, key,
				src, v, err);
		if (rc == 0)
			c->pbkdf2_iter = (uint32_t)n;
		return rc;
	case O_FSYNC:
		return set_onoff(&c->fsync, key, src, v, err);
	case O_METRICS:
		return set_onoff(&c->metrics, key, src, v, err);
	case O_METRICS_ALLOW:
		return set_metrics_allow(c, key, src, v, err);
	case O_TRUSTED_PROXY:
		if (norm_addr(v, strlen(v), c->trusted_proxy,
			      sizeof c->trusted_proxy) == 0)
			return 0;
		show(shown, sizeof shown, v);
		return bad(err, key, src,
			   "must be an IPv4 or IPv6 address, got \"%s\"",
			   shown);
	case O_LOG_LEVEL:
		for (int l = TF_LOG_DEBUG; l <= TF_LOG_ERROR; l++)
			if (strcmp(v, tf_config_log_level_name(l)) == 0) {
				c->log_level = l;
				return 0;
			}
		show(shown, sizeof shown, v);
		return bad(err, key, src,
			   "must be debug, info, warn or error, got \"%s\"",
			   shown);
	case O_COUNT:
		break;
	}
	return tf_err_set(err, TF_EINVAL, key, "option '%s' (%s): unknown",
			  key, src);
}

static int find_opt(const char *key, size_t len)
{
	for (int i = 0; i < O_COUNT; i++)
		if (strlen(opts[i].key) == len &&
		    memcmp(opts[i].key, key, len) == 0)
			return i;
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

/* Reads the whole file (bounded) into a NUL-terminated malloc'd text. */
static int read_file(const char *path, char **out, tf_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t n;
	int rc = 0;

	*out = NULL;
	if (f == NULL)
		return tf_err_set(err, TF_EIO, "config",
				  "option 'config': cannot read %s: %s", path,
				  strerror(errno));
	text = malloc(TF_CONFIG_FILE_MAX + 1);
	if (text == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "config", "out of memory");
		goto out;
	}
	n = fread(text, 1, TF_CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = tf_err_set(err, TF_EIO, "config",
				"option 'config': error reading %s", path);
		goto out;
	}
	if (n > TF_CONFIG_FILE_MAX) {
		rc = tf_err_set(err, TF_ELIMIT, "config",
				"option 'config': %s is larger than %zu bytes",
				path, TF_CONFIG_FILE_MAX);
		goto out;
	}
	if (memchr(text, '\0', n) != NULL) {
		rc = tf_err_set(err, TF_EINVAL, "config",
				"option 'config': %s contains a NUL byte",
				path);
		goto out;
	}
	text[n] = '\0';
	*out = text;
	text = NULL;
out:
	free(text);
	fclose(f);
	return rc;
}

/* Applies "key = value" lines; # starts a comment line. */
static int load_file(tf_config *c, const char *path, tf_err *err)
{
	char *text = NULL, *line, *next, src[SRC_MAX];
	unsigned lineno = 0;
	int rc = read_file(path, &text, err);

	if (rc < 0)
		return rc;
	for (line = text; line != NULL && rc == 0; line = next) {
		char *eq, *key, *val;
		int id;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		snprintf(src, sizeof src, "file %s:%u", path, lineno);
		if (strlen(line) > TF_CONFIG_LINE_MAX) {
			rc = tf_err_set(err, TF_ELIMIT, "config",
					"%s: line longer than %zu bytes", src,
					TF_CONFIG_LINE_MAX);
			break;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL) {
			rc = tf_err_set(err, TF_EINVAL, "config",
					"%s: expected \"key = value\"", src);
			break;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		id = find_opt(key, strlen(key));
		if (id < 0 || id == O_CONFIG) {
			char shown[80];

			show(shown, sizeof shown, key);
			rc = tf_err_set(err, TF_EINVAL, "config",
					"%s: unknown option '%s'%s", src, shown,
					id == O_CONFIG
						? " (a file cannot name another)"
						: "");
			break;
		}
		rc = set_option(c, (enum opt_id)id, src, val, err);
	}
	free(text);
	return rc;
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* "TENFOURD_" + the key upper-cased with '-' as '_'. */
static void env_name(const char *key, char *out, size_t cap)
{
	size_t i = (size_t)snprintf(out, cap, "TENFOURD_");

	for (; *key != '\0' && i + 1 < cap; key++)
		out[i++] = *key == '-' ? '_'
			   : (*key >= 'a' && *key <= 'z')
				   ? (char)(*key - 'a' + 'A')
				   : *key;
	out[i] = '\0';
}

/* Every TENFOURD_* variable must name an option. */
static int load_env(tf_config *c, char *const *envp, tf_err *err)
{
	char name[64], src[SRC_MAX];

	for (char *const *e = envp; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		int known = 0;

		if (strncmp(*e, "TENFOURD_", 9) != 0 || eq == NULL)
			continue;
		for (int i = 0; i < O_COUNT && !known; i++) {
			env_name(opts[i].key, name, sizeof name);
			known = strlen(name) == (size_t)(eq - *e) &&
				memcmp(name, *e, (size_t)(eq - *e)) == 0;
		}
		if (!known) {
			char shown[80];

			show(shown, sizeof shown, *e);
			*strchr(shown, '=') = '\0';
			return tf_err_set(err, TF_EINVAL, "environment",
					  "environment %s: no such option",
					  shown);
		}
	}
	for (int i = 0; i < O_COUNT; i++) {
		const char *v;
		int rc;

		if (i == O_CONFIG)
			continue; /* read before the file */
		env_name(opts[i].key, name, sizeof name);
		v = env_get(envp, name);
		if (v == NULL)
			continue;
		snprintf(src, sizeof src, "environment %s", name);
		rc = set_option(c, (enum opt_id)i, src, v, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * One pass over argv.  With only_config, applies --config alone (it must
 * be known before the file is read); otherwise everything but --config.
 */
static int load_flags(tf_config *c, int argc, char **argv, int only_config,
		      tf_err *err)
{
	char src[SRC_MAX], shown[80];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v;
		size_t klen;
		int id, rc;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			c->help = !only_config;
			continue;
		}
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			c->version = !only_config;
			continue;
		}
		show(shown, sizeof shown, a);
		if (strncmp(a, "--", 2) != 0)
			return tf_err_set(err, TF_EINVAL, "argv",
					  "unexpected argument \"%s\" (options "
					  "are --key value or --key=value)",
					  shown);
		eq = strchr(a + 2, '=');
		klen = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
		id = find_opt(a + 2, klen);
		if (id < 0) {
			if (eq != NULL)
				shown[eq - a < 79 ? eq - a : 79] = '\0';
			return tf_err_set(err, TF_EINVAL, "argv",
					  "unknown option \"%s\" (see --help)",
					  shown);
		}
		snprintf(src, sizeof src, "flag --%s", opts[id].key);
		if (eq != NULL) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			return bad(err, opts[id].key, src, "needs a value");
		}
		if ((id == O_CONFIG) != (only_config != 0))
			continue;
		rc = set_option(c, (enum opt_id)id, src, v, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tf_config_load(tf_config *c, int argc, char **argv, char *const *envp,
		   tf_err *err)
{
	const char *v;
	int rc;

	tf_config_default(c);
	if (envp == NULL)
		envp = environ;
	v = env_get(envp, "TENFOURD_CONFIG");
	if (v != NULL) {
		rc = set_option(c, O_CONFIG, "environment TENFOURD_CONFIG", v,
				err);
		if (rc < 0)
			return rc;
	}
	rc = load_flags(c, argc, argv, 1, err);
	if (rc < 0)
		return rc;
	if (c->config[0] != '\0') {
		rc = load_file(c, c->config, err);
		if (rc < 0)
			return rc;
	}
	rc = load_env(c, envp, err);
	if (rc < 0)
		return rc;
	rc = load_flags(c, argc, argv, 0, err);
	if (rc < 0 || c->help || c->version)
		return rc;
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0'))
		return tf_err_set(err, TF_EINVAL,
				  c->tls_cert[0] ? "tls-key" : "tls-cert",
				  "option '%s': required with '%s'",
				  c->tls_cert[0] ? "tls-key" : "tls-cert",
				  c->tls_cert[0] ? "tls-cert" : "tls-key");
	if (!c->db_set &&
	    (size_t)snprintf(c->db, sizeof c->db, "sqlite:%s/tenfourd.db",
			     c->data_dir) >= sizeof c->db)
		return tf_err_set(err, TF_EINVAL, "data-dir",
				  "option 'data-dir': too long to derive db");
	if (!c->schema_set)
		snprintf(c->schema, sizeof c->schema, "%s",
			 access(TF_CONFIG_DEFAULT_SCHEMA, R_OK) == 0
				 ? TF_CONFIG_DEFAULT_SCHEMA
				 : TF_CONFIG_FALLBACK_SCHEMA);
	return 0;
}

void tf_config_usage(FILE *f)
{
	char name[64];

	fputs("usage: tenfourd [options]        run the sync server\n"
	      "       tenfourd admin ...         administration (tenfourd "
	      "admin --help)\n"
	      "       tenfourd --help | --version\n\n"
	      "Options (each also as TENFOURD_<KEY> in the environment and as "
	      "\"key = value\"\nin the --config file; flags override the "
	      "environment, which overrides the file):\n",
	      f);
	for (int i = 0; i < O_COUNT; i++) {
		char flag[64];

		snprintf(flag, sizeof flag, "--%s %s", opts[i].key,
			 opts[i].arg);
		env_name(opts[i].key, name, sizeof name);
		fprintf(f, "  %-30s %s\n  %-30s [%s]\n", flag, opts[i].help, "",
			name);
	}
}
