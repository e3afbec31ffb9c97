/*
 * sqlite.c - tenfourd's embedded storage backend: SQLite in WAL mode behind
 * the operations of db.h (tf_db_sqlite_ops).  Design: ARCHITECTURE.md
 * sections 3-5.
 *
 * Threads.  One writer thread owns the only write connection.  tf_db_write
 * queues a job and sleeps on the job's condition variable; the writer
 * takes up to group_max queued jobs, runs them in one BEGIN IMMEDIATE
 * transaction, each inside its own SAVEPOINT (a job whose fn fails is
 * rolled back to its savepoint, the others keep their changes), COMMITs
 * once (one fsync at synchronous=FULL) and only then wakes the callers:
 * group commit.  Readers take a connection from a fixed pool (blocking,
 * bounded, when all are busy) and run their fn inside BEGIN plus a first
 * SELECT, so everything fn reads comes from one WAL snapshot.
 *
 * Every connection caches its prepared statements (one per operation,
 * indexed by enum sq_stmt); a statement in use by an enclosing scan is
 * never reset under it: a nested use gets a one-off statement.
 *
 * Errors: SQLite failures are TF_EIO with sqlite3_errmsg (which names
 * tables and constraints, never values); a constraint on a key is
 * TF_EEXIST, a missing parent row (foreign key) TF_ENOTFOUND.  A value
 * read back that does not fit its struct is TF_EIO "corrupt row".
 */
#include "server/db/sqlite.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tenfour/json.h"

/* Bounds on what is stored and read back. */
#define SQ_PATH_MAX 4096
#define SQ_META_KEY_MAX 128
#define SQ_META_VAL_MAX ((size_t)1024 * 1024)
#define SQ_BLOB_MAX ((size_t)16 * 1024 * 1024) /* state, result, text */
#define SQ_ROLES_JSON_MAX 1024
#define SQ_FAILS_JSON_MAX 256
#define SQ_FEED_MAX 100000 /* records_since: limit 0 or above -> this */
#define SQ_READERS_MAX 64
#define SQ_GROUP_MAX 4096
#define SQ_QUEUE_MAX 100000	 /* writes waiting; past it TF_EBUSY */
#define SQ_READ_WAIT_MS 30000	 /* for a free read connection */
#define SQ_BUSY_TIMEOUT_MS 10000 /* another process holding the lock */

/* ------------------------------------------------------------- schema */

/*
 * Migrations: step i takes the schema from version i to i + 1, in one
 * transaction with the version bump.  Append new steps; never edit one
 * that has shipped.  The meta table itself exists before step 0 (it holds
 * the version).
 */
static const char *const sq_migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE counters(name TEXT PRIMARY KEY,"
	" value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO counters(name, value) VALUES('chg', 0);"
	"CREATE TABLE agencies(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
	" lock_after_ms INTEGER NOT NULL, offline_window_ms INTEGER NOT NULL,"
	" session_max_ms INTEGER NOT NULL, wipe_after INTEGER NOT NULL,"
	" lockout_failures INTEGER NOT NULL,"
	" lockout_window_ms INTEGER NOT NULL, banner TEXT NOT NULL,"
	" banner_rev INTEGER NOT NULL);"
	"CREATE TABLE users(agency TEXT NOT NULL REFERENCES agencies(id),"
	" id TEXT NOT NULL, name TEXT NOT NULL, roles TEXT NOT NULL,"
	" unit TEXT NOT NULL, pwhash TEXT NOT NULL, totp TEXT NOT NULL,"
	" totp_last_step INTEGER NOT NULL, disabled INTEGER NOT NULL,"
	" locked INTEGER NOT NULL, fail_ms TEXT NOT NULL,"
	" created_at INTEGER NOT NULL, PRIMARY KEY(agency, id));"
	"CREATE TABLE devices(agency TEXT NOT NULL REFERENCES agencies(id),"
	" id TEXT NOT NULL, label TEXT NOT NULL, pubkey TEXT NOT NULL,"
	" status INTEGER NOT NULL, enrolled_at INTEGER NOT NULL,"
	" revoked_at INTEGER NOT NULL, wiped_at INTEGER NOT NULL,"
	" PRIMARY KEY(agency, id));"
	"CREATE TABLE sessions(token_hash TEXT PRIMARY KEY,"
	" agency TEXT NOT NULL, user_id TEXT NOT NULL, device TEXT NOT NULL,"
	" created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL,"
	" FOREIGN KEY(agency, user_id) REFERENCES users(agency, id),"
	" FOREIGN KEY(agency, device) REFERENCES devices(agency, id));"
	"CREATE INDEX sessions_user ON sessions(agency, user_id);"
	"CREATE INDEX sessions_device ON sessions(agency, device);"
	"CREATE TABLE ledger(agency TEXT NOT NULL, device TEXT NOT NULL,"
	" seq INTEGER NOT NULL, cmd_id TEXT NOT NULL,"
	" req_hash TEXT NOT NULL, status INTEGER NOT NULL,"
	" result BLOB NOT NULL, at_ms INTEGER NOT NULL,"
	" PRIMARY KEY(agency, device, seq), UNIQUE(agency, cmd_id),"
	" FOREIGN KEY(agency, device) REFERENCES devices(agency, id));"
	"CREATE TABLE records(agency TEXT NOT NULL REFERENCES agencies(id),"
	" id TEXT NOT NULL, entity TEXT NOT NULL, state BLOB NOT NULL,"
	" chg INTEGER NOT NULL UNIQUE, PRIMARY KEY(agency, id));"
	"CREATE INDEX records_feed ON records(agency, chg);"
	"CREATE TABLE textrevs(n INTEGER PRIMARY KEY,"
	" agency TEXT NOT NULL REFERENCES agencies(id),"
	" record_id TEXT NOT NULL, field TEXT NOT NULL, rev INTEGER NOT NULL,"
	" kind INTEGER NOT NULL, by_user TEXT NOT NULL,"
	" cmd_id TEXT NOT NULL, text BLOB NOT NULL, at_ms INTEGER NOT NULL);"
	"CREATE INDEX textrevs_field ON textrevs(agency, record_id, field, n);"
	"CREATE TABLE conflicts(agency TEXT NOT NULL REFERENCES agencies(id),"
	" record_id TEXT NOT NULL, conflict_id TEXT NOT NULL,"
	" entity TEXT NOT NULL, field TEXT NOT NULL,"
	" opened_at INTEGER NOT NULL,"
	" PRIMARY KEY(agency, record_id, conflict_id));"
	"CREATE TABLE audit(seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL,"
	" hash BLOB NOT NULL);"
	"CREATE TABLE devaudit(agency TEXT NOT NULL, device TEXT NOT NULL,"
	" seq INTEGER NOT NULL, bytes BLOB NOT NULL, hash BLOB NOT NULL,"
	" PRIMARY KEY(agency, device, seq),"
	" FOREIGN KEY(agency, device) REFERENCES devices(agency, id));"
	/* Append-only logs: a mistake in the server cannot rewrite them (the
	   hash chain catches someone who drops these triggers). */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
	"CREATE TRIGGER devaudit_no_update BEFORE UPDATE ON devaudit"
	" BEGIN SELECT RAISE(ABORT, 'devaudit is append-only'); END;"
	"CREATE TRIGGER devaudit_no_delete BEFORE DELETE ON devaudit"
	" BEGIN SELECT RAISE(ABORT, 'devaudit is append-only'); END;",
	/* 1 -> 2: one hash chain per agency (an agency's auditor reads its
	   own log only).  The rows of the single v1 chain become the system
	   chain, agency "", unchanged, so they verify as they did.  SQLite
	   cannot change a primary key in place: the table is copied; the
	   append-only triggers are dropped for the copy and made again. */
	"CREATE TABLE audit_v2(agency TEXT NOT NULL, seq INTEGER NOT NULL,"
	" bytes BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(agency, seq));"
	"INSERT INTO audit_v2(agency, seq, bytes, hash)"
	" SELECT '', seq, bytes, hash FROM audit ORDER BY seq;"
	"DROP TRIGGER audit_no_update;"
	"DROP TRIGGER audit_no_delete;"
	"DROP TABLE audit;"
	"ALTER TABLE audit_v2 RENAME TO audit;"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",
};
#define SQ_SCHEMA_VERSION                                                      \
	((int64_t)(sizeof sq_migrations / sizeof sq_migrations[0]))

#define SQ_USER_COLS                                                           \
	"name, roles, unit, pwhash, totp, totp_last_step, disabled, locked,"   \
	" fail_ms, created_at"
#define SQ_LEDGER_COLS "device, seq, cmd_id, req_hash, status, result, at_ms"

/* clang-format off */
#define SQ_STMT_MAP(X)                                                         \
	X(BEGIN, "BEGIN")                                                      \
	X(BEGIN_IMM, "BEGIN IMMEDIATE")                                        \
	X(COMMIT, "COMMIT")                                                    \
	X(ROLLBACK, "ROLLBACK")                                                \
	X(SAVEPOINT, "SAVEPOINT tf_job")                                       \
	X(RELEASE, "RELEASE tf_job")                                           \
	X(ROLLBACK_TO, "ROLLBACK TO tf_job")                                   \
	X(SNAPSHOT, "SELECT value FROM meta WHERE key = 'schema_version'")     \
	X(META_GET, "SELECT value FROM meta WHERE key = ?1")                   \
	X(META_PUT, "INSERT INTO meta(key, value) VALUES(?1, ?2)"              \
		" ON CONFLICT(key) DO UPDATE SET value = excluded.value")      \
	X(AGENCY_GET, "SELECT name, lock_after_ms, offline_window_ms,"         \
		" session_max_ms, wipe_after, lockout_failures,"               \
		" lockout_window_ms, banner, banner_rev"                       \
		" FROM agencies WHERE id = ?1")                                \
	X(AGENCY_PUT, "INSERT INTO agencies(id, name, lock_after_ms,"          \
		" offline_window_ms, session_max_ms, wipe_after,"              \
		" lockout_failures, lockout_window_ms, banner, banner_rev)"    \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, max(1, ?10))"     \
		" ON CONFLICT(id) DO UPDATE SET name = excluded.name,"          \
		" lock_after_ms = excluded.lock_after_ms,"                     \
		" offline_window_ms = excluded.offline_window_ms,"             \
		" session_max_ms = excluded.session_max_ms,"                   \
		" wipe_after = excluded.wipe_after,"                           \
		" lockout_failures = excluded.lockout_failures,"               \
		" lockout_window_ms = excluded.lockout_window_ms,"             \
		" banner_rev = CASE WHEN agencies.banner IS excluded.banner"   \
		" THEN max(agencies.banner_rev, ?10)"                          \
		" ELSE max(agencies.banner_rev + 1, ?10) END,"                 \
		" banner = excluded.banner")                                   \
	X(USER_GET, "SELECT " SQ_USER_COLS " FROM users"                       \
		" WHERE agency = ?1 AND id = ?2")                              \
	X(USER_PUT, "INSERT INTO users(agency, id, " SQ_USER_COLS ")"          \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"   \
		" ON CONFLICT(agency, id) DO UPDATE SET name = excluded.name," \
		" roles = excluded.roles, unit = excluded.unit,"               \
		" pwhash = excluded.pwhash, totp = excluded.totp,"             \
		" totp_last_step = excluded.totp_last_step,"                   \
		" disabled = excluded.disabled, locked = excluded.locked,"     \
		" fail_ms = excluded.fail_ms, created_at = excluded.created_at")\
	X(DEVICE_GET, "SELECT label, pubkey, status, enrolled_at, revoked_at," \
		" wiped_at FROM devices WHERE agency = ?1 AND id = ?2")        \
	X(DEVICE_PUT, "INSERT INTO devices(agency, id, label, pubkey, status," \
		" enrolled_at, revoked_at, wiped_at)"                          \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"                      \
		" ON CONFLICT(agency, id) DO UPDATE SET label = excluded.label,"\
		" pubkey = excluded.pubkey, status = excluded.status,"         \
		" enrolled_at = excluded.enrolled_at,"                         \
		" revoked_at = excluded.revoked_at,"                           \
		" wiped_at = excluded.wiped_at")                               \
	X(SESSION_GET, "SELECT agency, user_id, device, created_at,"           \
		" expires_at, revoked FROM sessions WHERE token_hash = ?1")    \
	X(SESSION_PUT, "INSERT INTO sessions(token_hash, agency, user_id,"     \
		" device, created_at, expires_at, revoked)"                    \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"                          \
		" ON CONFLICT(token_hash) DO UPDATE SET"                       \
		" created_at = excluded.created_at,"                           \
		" expires_at = excluded.expires_at,"                           \
		" revoked = excluded.revoked"                                  \
		" WHERE sessions.agency = excluded.agency"                     \
		" AND sessions.user_id = excluded.user_id"                     \
		" AND sessions.device = excluded.device")                      \
	X(REVOKE_USER, "UPDATE sessions SET revoked = 1"                       \
		" WHERE agency = ?1 AND user_id = ?2 AND revoked = 0")         \
	X(REVOKE_DEVICE, "UPDATE sessions SET revoked = 1"                     \
		" WHERE agency = ?1 AND device = ?3 AND revoked = 0")          \
	X(REVOKE_BOTH, "UPDATE sessions SET revoked = 1 WHERE agency = ?1"     \
		" AND user_id = ?2 AND device = ?3 AND revoked = 0")           \
	X(LEDGER_LAST, "SELECT max(seq) FROM ledger"                           \
		" WHERE agency = ?1 AND device = ?2")                          \
	X(LEDGER_GET_SEQ, "SELECT " SQ_LEDGER_COLS " FROM ledger"              \
		" WHERE agency = ?1 AND device = ?2 AND seq = ?3")             \
	X(LEDGER_GET_CMD, "SELECT " SQ_LEDGER_COLS " FROM ledger"              \
		" WHERE agency = ?1 AND cmd_id = ?2")                          \
	X(LEDGER_PUT, "INSERT INTO ledger(agency, " SQ_LEDGER_COLS ")"         \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                     \
	X(CHG_SET, "UPDATE counters SET value = ?1 WHERE name = 'chg'")       \
	X(CHG_HEAD, "SELECT value FROM counters WHERE name = 'chg'")           \
	X(RECORD_GET, "SELECT id, entity, state, chg FROM records"             \
		" WHERE agency = ?1 AND id = ?2")                              \
	X(RECORD_PUT, "INSERT INTO records(agency, id, entity, state, chg)"    \
		" VALUES(?1, ?2, ?3, ?4, ?5)"                                  \
		" ON CONFLICT(agency, id) DO UPDATE SET state = excluded.state,"\
		" chg = excluded.chg WHERE records.entity = excluded.entity")  \
	X(RECORDS_SINCE, "SELECT id, entity, state, chg FROM records"          \
		" WHERE agency = ?1 AND chg > ?2 ORDER BY chg LIMIT ?3")       \
	X(RECORDS_COUNT_SINCE, "SELECT count(*) FROM (SELECT 1 FROM records"   \
		" WHERE agency = ?1 AND chg > ?2 LIMIT ?3)")                   \
	X(TEXTREV_PUT, "INSERT INTO textrevs(agency, record_id, field, rev,"   \
		" kind, by_user, cmd_id, text, at_ms)"                         \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                 \
	X(TEXTREV_LIST, "SELECT rev, kind, by_user, cmd_id, text, at_ms"       \
		" FROM textrevs WHERE agency = ?1 AND record_id = ?2"          \
		" AND field = ?3 ORDER BY n")                                  \
	X(CONFLICT_PUT, "INSERT INTO conflicts(agency, record_id,"             \
		" conflict_id, entity, field, opened_at)"                      \
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6)")                             \
	X(CONFLICT_DEL, "DELETE FROM conflicts WHERE agency = ?1"              \
		" AND record_id = ?2 AND conflict_id = ?3")                    \
	X(CONFLICT_LIST, "SELECT record_id, entity, field, conflict_id,"       \
		" opened_at FROM conflicts WHERE agency = ?1"                  \
		" ORDER BY opened_at, record_id, conflict_id")                 \
	X(AUDIT_LAST, "SELECT seq, hash FROM audit WHERE agency = ?1"         \
		" ORDER BY seq DESC LIMIT 1")                                  \
	X(AUDIT_PUT, "INSERT INTO audit(agency, seq, bytes, hash)"             \
		" VALUES(?1, ?2, ?3, ?4)")                                     \
	X(AUDIT_SCAN, "SELECT seq, bytes, hash FROM audit WHERE agency = ?1"   \
		" AND seq >= ?2 ORDER BY seq LIMIT ?3")                        \
	X(DEVAUDIT_HEAD, "SELECT seq, hash FROM devaudit WHERE agency = ?1"    \
		" AND device = ?2 ORDER BY seq DESC LIMIT 1")                  \
	X(DEVAUDIT_PUT, "INSERT INTO devaudit(agency, device, seq, bytes,"     \
		" hash) VALUES(?1, ?2, ?3, ?4, ?5)")                           \
	X(DEVAUDIT_SCAN, "SELECT seq, bytes, hash FROM devaudit"               \
		" WHERE agency = ?1 AND device = ?2 AND seq >= ?3"             \
		" ORDER BY seq LIMIT ?4")                                      \
	X(COUNT_LEDGER, "SELECT count(*) FROM ledger")                         \
	X(COUNT_RECORDS, "SELECT count(*) FROM records")                       \
	X(COUNT_CONFLICTS, "SELECT count(*) FROM conflicts")                   \
	X(COUNT_AUDIT, "SELECT count(*) FROM audit")

enum sq_stmt {
#define SQ_X_(name, sql) SQ_##name,
	SQ_STMT_MAP(SQ_X_)
#undef SQ_X_
	SQ_NSTMT
};

static const char *const sq_sql[SQ_NSTMT] = {
#define SQ_X_(name, sql) sql,
	SQ_STMT_MAP(SQ_X_)
#undef SQ_X_
};
/* clang-format on */

/* ---------------------------------------------------------- the handle */

typedef struct sq_conn {
	sqlite3 *h;
	sqlite3_stmt *st[SQ_NSTMT];
	unsigned char busy[SQ_NSTMT]; /* the cached statement is stepping */
} sq_conn;

/* A queued tf_db_write: lives on the caller's stack until done. */
typedef struct sq_job {
	tf_db_txn_fn fn;
	void *arg;
	tf_err *err;
	int rc;
	int done;
	pthread_cond_t cv;
	struct sq_job *next;
} sq_job;

/* prev strings handed out by audit_append, alive until the txn ends */
typedef struct sq_hex {
	struct sq_hex *next;
	char hex[TF_AUDIT_PREV_LEN + 1];
} sq_hex;

/* Where a write group's feed counter is (see sq_chg_next). */
enum sq_chg_state { SQ_CHG_UNREAD, SQ_CHG_READ, SQ_CHG_MOVED };

typedef struct sq_txn {
	tf_db_txn base; /* first: ops see a tf_db_txn * */
	sq_conn *c;
	sq_hex *hexes;
	uint64_t chg; /* the group's last feed position handed out */
	enum sq_chg_state chg_state;
} sq_txn;

typedef struct sq_db {
	tf_db base; /* first */
	tf_db_options opt;
	sq_conn w;
	sq_conn *rd;
	unsigned char *rd_busy;
	int nrd;
	pthread_mutex_t mu;
	pthread_cond_t wq_cv; /* the writer waits for jobs */
	pthread_cond_t rd_cv; /* readers wait for a connection */
	sq_job *head, *tail;
	size_t queued;
	int closing;
	int writer_started;
	pthread_t writer;
	uint64_t groups;
} sq_db;

/* Set while a callback runs on this thread: a nested tf_db_read/write
   would deadlock (the writer waiting on itself, a pool exhausted). */
static _Thread_local int sq_in_callback;

/* ------------------------------------------------------------ helpers */

static int sq_eio(sq_conn *c, tf_err *err, const char *where)
{
	return tf_err_set(err, TF_EIO, where, "%s: sqlite: %s", where,
			  sqlite3_errmsg(c->h));
}

/* Maps the result of a failed step: key constraints to TF_EEXIST, a
   missing parent to TF_ENOTFOUND, the rest to TF_EIO. */
static int sq_step_err(sq_conn *c, int rc, tf_err *err, const char *where)
{
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_ROWID)
		return tf_err_set(err, TF_EEXIST, where, "%s: already exists",
				  where);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "%s: its agency, user or device does not "
				  "exist",
				  where);
	return sq_eio(c, err, where);
}

static int sq_corrupt(tf_err *err, const char *where, const char *col)
{
	return tf_err_set(err, TF_EIO, where, "%s: corrupt row (column %s)",
			  where, col);
}

/*
 * Hands out connection c's statement `id`: the cached one, or a one-off
 * when the cached one is busy in an enclosing scan.  Release it with
 * sq_done on every path.
 */
static int sq_prep(sq_conn *c, int id, sqlite3_stmt **out, tf_err *err,
		   const char *where)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*out = NULL;
	if (c->st[id] != NULL && !c->busy[id]) {
		c->busy[id] = 1;
		*out = c->st[id];
		return 0;
	}
	rc = sqlite3_prepare_v3(c->h, sq_sql[id], -1,
				c->st[id] ? 0 : SQLITE_PREPARE_PERSISTENT, &s,
				NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(s);
		return sq_eio(c, err, where);
	}
	if (c->st[id] == NULL) {
		c->st[id] = s;
		c->busy[id] = 1;
	}
	*out = s;
	return 0;
}

static void sq_done(sq_conn *c, int id, sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	if (s == c->st[id]) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		c->busy[id] = 0;
	} else {
		sqlite3_finalize(s);
	}
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ...). */
static int sq_exec(sq_conn *c, int id, tf_err *err, const char *where)
{
	sqlite3_stmt *s;
	int rc = sq_prep(c, id, &s, err, where);

	if (rc)
		return rc;
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = sq_eio(c, err, where);
	else
		rc = 0;
	sq_done(c, id, s);
	return rc;
}

static int sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int sq_bind_blob(sqlite3_stmt *s, int i, const void *v, size_t n)
{
	/* a zero-length blob, never NULL (the columns are NOT NULL) */
	static const char empty[1] = {0};

	return sqlite3_bind_blob64(s, i, n ? v : empty, n, SQLITE_STATIC);
}

/* Copies a text column into dst (cap bytes with the NUL); a value that
   does not fit or holds a NUL is a corrupt row. */
static int sq_col_str(sqlite3_stmt *s, int i, char *dst, size_t cap,
		      tf_err *err, const char *where, const char *col)
{
	const unsigned char *v = sqlite3_column_text(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);

	if (v == NULL) {
		if (sqlite3_column_type(s, i) != SQLITE_NULL)
			return tf_err_set(err, TF_ENOMEM, where,
					  "%s: out of memory reading %s", where,
					  col);
		n = 0;
	}
	if (n >= cap || (n > 0 && memchr(v, 0, n) != NULL))
		return sq_corrupt(err, where, col);
	if (n > 0)
		memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* A blob column, at most max bytes, copied to a malloc'd NUL-terminated
   buffer. */
static int sq_col_dup(sqlite3_stmt *s, int i, size_t max, char **out,
		      size_t *len, tf_err *err, const char *where,
		      const char *col)
{
	const void *v = sqlite3_column_blob(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);
	char *p;

	*out = NULL;
	*len = 0;
	if (n > max)
		return sq_corrupt(err, where, col);
	p = malloc(n + 1);
	if (p == NULL)
		return tf_err_set(err, TF_ENOMEM, where,
				  "%s: out of memory reading %s", where, col);
	if (n > 0)
		memcpy(p, v, n);
	p[n] = '\0';
	*out = p;
	*len = n;
	return 0;
}

static int sq_is_id(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char ch = s[i];

		if (i >= TF_ID_MAX)
			return 0;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '@' || ch == '-'))
			return 0;
	}
	return i > 0;
}

static int sq_is_name(const char *s)
{
	size_t i;

	if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		char ch = s[i];

		if (i >= TF_NAME_MAX)
			return 0;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_'))
			return 0;
	}
	return 1;
}

static int sq_is_hexdig(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* 8-4-4-4-12 lower-case hex, as tf_uuid7 writes it. */
static int sq_is_uuid(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < TF_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!sq_is_hexdig(s[i])) {
			return 0;
		}
	}
	return s[i] == '\0';
}

static int sq_is_hex64(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < TF_DB_HASH_HEX; i++)
		if (!sq_is_hexdig(s[i]))
			return 0;
	return s[i] == '\0';
}

/* A NUL-terminated string within its char[cap] member. */
static int sq_fits(const char *s, size_t cap)
{
	return s != NULL && memchr(s, 0, cap) != NULL;
}

static int sq_bad(tf_err *err, const char *where, const char *what)
{
	return tf_err_set(err, TF_EINVAL, where, "%s: %s", where, what);
}

static sq_txn *sq_t(tf_db_txn *t)
{
	assert(t != NULL && t->ops == &tf_db_sqlite_ops);
	return (sq_txn *)t;
}

static int sq_need_write(tf_db_txn *t, tf_err *err, const char *where)
{
	if (!t->writable)
		return tf_err_set(err, TF_EINVAL, where,
				  "%s: needs a write transaction "
				  "(tf_db_write)",
				  where);
	return 0;
}

/* Steps a statement that returns at most one row: 1 row, 0 none. */
static int sq_step_one(sq_conn *c, sqlite3_stmt *s, tf_err *err,
		       const char *where)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_step_err(c, rc, err, where);
}

/* Steps a statement that writes: 0 or the mapped error. */
static int sq_step_write(sq_conn *c, sqlite3_stmt *s, tf_err *err,
			 const char *where)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return sq_step_err(c, rc, err, where);
}

/*
 * The single-row lookup by (agency, id) that the getters share: prepares
 * statement `id_stmt`, binds agency and id, steps once.  1 with a row in
 * *s, 0 without one, or the mapped error; *s (NULL when the prepare
 * failed) is the caller's to hand to sq_done in every case.
 */
static int sq_lookup(sq_conn *c, int id_stmt, const char *agency,
		     const char *id, sqlite3_stmt **s, tf_err *err,
		     const char *where)
{
	int rc = sq_prep(c, id_stmt, s, err, where);

	if (rc)
		return rc;
	if (sq_bind_text(*s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(*s, 2, id) != SQLITE_OK)
		return sq_eio(c, err, where);
	return sq_step_one(c, *s, err, where);
}

/* ---------------------------------------------------------------- meta */

static int sq_meta_get(tf_db_txn *t, const char *key, char **val, size_t *len,
		       tf_err *err)
{
	static const char where[] = "meta_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (val)
		*val = NULL;
	if (len)
		*len = 0;
	if (key == NULL || val == NULL || len == NULL)
		return sq_bad(err, where, "key, val and len are required");
	if (strlen(key) > SQ_META_KEY_MAX)
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "meta_get: no such key");
	rc = sq_prep(c, SQ_META_GET, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, key) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"meta_get: no such key");
		goto out;
	}
	rc = sq_col_dup(s, 0, SQ_META_VAL_MAX, val, len, err, where, "value");
out:
	sq_done(c, SQ_META_GET, s);
	return rc;
}

static int sq_meta_put(tf_db_txn *t, const char *key, const char *val,
		       size_t len, tf_err *err)
{
	static const char where[] = "meta_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (key == NULL || key[0] == '\0' || strlen(key) > SQ_META_KEY_MAX)
		return sq_bad(err, where, "key must be 1..128 bytes");
	if (strcmp(key, "schema_version") == 0)
		return sq_bad(err, where,
			      "schema_version is the backend's own key");
	if (val == NULL && len > 0)
		return sq_bad(err, where, "val is NULL");
	if (len > SQ_META_VAL_MAX)
		return tf_err_set(err, TF_ELIMIT, where,
				  "meta_put: value of %zu bytes is over the "
				  "limit of %zu",
				  len, SQ_META_VAL_MAX);
	rc = sq_prep(c, SQ_META_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, key) != SQLITE_OK ||
	    sq_bind_blob(s, 2, val, len) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_META_PUT, s);
	return rc;
}

/* ------------------------------------------------------------- agency */

static int sq_agency_get(tf_db_txn *t, const char *id, tf_db_agency *out,
			 tf_err *err)
{
	static const char where[] = "agency_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	tf_db_agency a;
	tf_err perr;
	int rc;

	if (id == NULL || out == NULL)
		return sq_bad(err, where, "id and out are required");
	if (!sq_is_id(id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "agency_get: no such agency");
	memset(&a, 0, sizeof a);
	rc = sq_prep(c, SQ_AGENCY_GET, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, id) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"agency_get: agency %s not found", id);
		goto out;
	}
	memcpy(a.id, id, strlen(id) + 1);
	rc = sq_col_str(s, 0, a.name, sizeof a.name, err, where, "name");
	if (rc)
		goto out;
	a.policy.lock_after_ms = sqlite3_column_int64(s, 1);
	a.policy.offline_window_ms = sqlite3_column_int64(s, 2);
	a.policy.session_max_ms = sqlite3_column_int64(s, 3);
	a.policy.wipe_after = (uint32_t)sqlite3_column_int64(s, 4);
	a.policy.lockout_failures = (uint32_t)sqlite3_column_int64(s, 5);
	a.policy.lockout_window_ms = sqlite3_column_int64(s, 6);
	if (sqlite3_column_int64(s, 4) != (int64_t)a.policy.wipe_after ||
	    sqlite3_column_int64(s, 5) != (int64_t)a.policy.lockout_failures ||
	    tf_agency_policy_check(&a.policy, &perr) != 0) {
		rc = sq_corrupt(err, where, "policy");
		goto out;
	}
	rc = sq_col_str(s, 7, a.banner, sizeof a.banner, err, where, "banner");
	if (rc)
		goto out;
	a.banner_rev = sqlite3_column_int64(s, 8);
	*out = a;
out:
	sq_done(c, SQ_AGENCY_GET, s);
	return rc;
}

static int sq_agency_put(tf_db_txn *t, const tf_db_agency *a, tf_err *err)
{
	static const char where[] = "agency_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (a == NULL)
		return sq_bad(err, where, "agency is required");
	if (!sq_fits(a->id, sizeof a->id) || !sq_is_id(a->id))
		return sq_bad(err, "agency.id", "not an id");
	if (!sq_fits(a->name, sizeof a->name))
		return sq_bad(err, "agency.name", "longer than 128 bytes");
	if (!sq_fits(a->banner, sizeof a->banner))
		return sq_bad(err, "agency.banner", "longer than 4096 bytes");
	rc = tf_agency_policy_check(&a->policy, err);
	if (rc)
		return rc;
	rc = sq_prep(c, SQ_AGENCY_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, a->id) != SQLITE_OK ||
	    sq_bind_text(s, 2, a->name) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, a->policy.lock_after_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, a->policy.offline_window_ms) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, a->policy.session_max_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, a->policy.wipe_after) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, a->policy.lockout_failures) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, a->policy.lockout_window_ms) !=
		    SQLITE_OK ||
	    sq_bind_text(s, 9, a->banner) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 10, a->banner_rev) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_AGENCY_PUT, s);
	return rc;
}

/* --------------------------------------------------------------- user */

/* Roles as a canonical JSON array of names: ["dispatcher","officer"]. */
static int sq_roles_write(const tf_db_user *u, char *out, size_t cap,
			  tf_err *err)
{
	size_t i, n = 0;

	assert(cap >= 3);
	out[n++] = '[';
	for (i = 0; i < u->nroles; i++) {
		const char *r = u->roles[i];
		size_t len;

		if (!sq_fits(r, sizeof u->roles[i]) || !sq_is_name(r))
			return tf_err_set(err, TF_EINVAL, "user.roles",
					  "user.roles[%zu] is not a role name",
					  i);
		len = strlen(r);
		if (n + len + 4 >= cap)
			return tf_err_set(err, TF_ELIMIT, "user.roles",
					  "user.roles: too long");
		if (i > 0)
			out[n++] = ',';
		out[n++] = '"';
		memcpy(out + n, r, len);
		n += len;
		out[n++] = '"';
	}
	out[n++] = ']';
	out[n] = '\0';
	return 0;
}

/* A JSON array of at most max items parsed from a column, with limits
   that fit what sq_*_write produce. */
static int sq_col_array(sqlite3_stmt *s, int i, size_t maxbytes,
			size_t maxitems, tf_json **out)
{
	tf_json_limits lim = tf_json_default_limits;
	const char *v = (const char *)sqlite3_column_text(s, i);
	size_t n = (size_t)sqlite3_column_bytes(s, i);
	tf_json *j = NULL;

	*out = NULL;
	if (v == NULL || n > maxbytes)
		return -1;
	lim.max_bytes = maxbytes;
	lim.max_depth = 1;
	lim.max_items = maxitems;
	lim.max_string = TF_NAME_MAX;
	if (tf_json_parse(v, n, &lim, &j, NULL) != 0)
		return -1;
	if (j->type != TF_JSON_ARRAY) {
		tf_json_free(j);
		return -1;
	}
	*out = j;
	return 0;
}

static int sq_roles_read(sqlite3_stmt *s, int i, tf_db_user *u)
{
	tf_json *j;
	size_t k;

	if (sq_col_array(s, i, SQ_ROLES_JSON_MAX, TF_POLICY_MAX_ROLES, &j))
		return -1;
	for (k = 0; k < j->len; k++) {
		size_t len;
		const char *r = tf_json_str(j->u.items[k], &len);

		if (r == NULL || len > TF_NAME_MAX || !sq_is_name(r) ||
		    strlen(r) != len) {
			tf_json_free(j);
			return -1;
		}
		memcpy(u->roles[k], r, len + 1);
	}
	u->nroles = j->len;
	tf_json_free(j);
	return 0;
}

static int sq_fails_write(const tf_lockout_state *l, char *out, size_t cap,
			  tf_err *err)
{
	tf_buf b;
	size_t i;
	int rc = 0;

	if (l->nfail > TF_POLICY_MAX_LOCKOUT_FAILURES)
		return tf_err_set(err, TF_EINVAL, "user.lockout",
				  "user.lockout: nfail %u is over %u",
				  (unsigned)l->nfail,
				  (unsigned)TF_POLICY_MAX_LOCKOUT_FAILURES);
	tf_buf_init(&b);
	tf_buf_putc(&b, '[');
	for (i = 0; i < l->nfail; i++)
		tf_buf_printf(&b, "%s%lld", i ? "," : "",
			      (long long)l->fail_ms[i]);
	tf_buf_putc(&b, ']');
	if (b.failed)
		rc = tf_err_set(err, b.failed, "user.lockout",
				"user.lockout: out of memory");
	else if (b.len >= cap)
		rc = tf_err_set(err, TF_ELIMIT, "user.lockout",
				"user.lockout: too long");
	else
		memcpy(out, b.data, b.len + 1);
	tf_buf_free(&b);
	return rc;
}

static int sq_fails_read(sqlite3_stmt *s, int i, tf_lockout_state *l)
{
	tf_json *j;
	size_t k;

	if (sq_col_array(s, i, SQ_FAILS_JSON_MAX,
			 TF_POLICY_MAX_LOCKOUT_FAILURES, &j))
		return -1;
	for (k = 0; k < j->len; k++) {
		if (tf_json_int64(j->u.items[k], &l->fail_ms[k]) != 0) {
			tf_json_free(j);
			return -1;
		}
	}
	l->nfail = (uint32_t)j->len;
	tf_json_free(j);
	return 0;
}

static int sq_user_get(tf_db_txn *t, const char *agency, const char *id,
		       tf_db_user *out, tf_err *err)
{
	static const char where[] = "user_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	tf_db_user *u = NULL;
	int rc;

	if (agency == NULL || id == NULL || out == NULL)
		return sq_bad(err, where, "agency, id and out are required");
	if (!sq_is_id(agency) || !sq_is_id(id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "user_get: no such user");
	rc = sq_lookup(c, SQ_USER_GET, agency, id, &s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"user_get: user %s not found in agency %s", id,
				agency);
		goto out;
	}
	u = calloc(1, sizeof *u);
	if (u == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, where, "user_get: no memory");
		goto out;
	}
	memcpy(u->agency, agency, strlen(agency) + 1);
	memcpy(u->id, id, strlen(id) + 1);
	if ((rc = sq_col_str(s, 0, u->name, sizeof u->name, err, where,
			     "name")) != 0)
		goto out;
	if (sq_roles_read(s, 1, u) != 0) {
		rc = sq_corrupt(err, where, "roles");
		goto out;
	}
	if ((rc = sq_col_str(s, 2, u->unit, sizeof u->unit, err, where,
			     "unit")) != 0 ||
	    (rc = sq_col_str(s, 3, u->pwhash, sizeof u->pwhash, err, where,
			     "pwhash")) != 0 ||
	    (rc = sq_col_str(s, 4, u->totp, sizeof u->totp, err, where,
			     "totp")) != 0)
		goto out;
	u->totp_last_step = sqlite3_column_int64(s, 5);
	u->disabled = sqlite3_column_int(s, 6) != 0;
	u->lockout.locked = sqlite3_column_int(s, 7) != 0;
	if (sq_fails_read(s, 8, &u->lockout) != 0) {
		rc = sq_corrupt(err, where, "fail_ms");
		goto out;
	}
	u->created_at = sqlite3_column_int64(s, 9);
	*out = *u;
out:
	free(u);
	sq_done(c, SQ_USER_GET, s);
	return rc;
}

static int sq_user_put(tf_db_txn *t, const tf_db_user *u, tf_err *err)
{
	static const char where[] = "user_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	char roles[SQ_ROLES_JSON_MAX];
	char fails[SQ_FAILS_JSON_MAX];
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (u == NULL)
		return sq_bad(err, where, "user is required");
	if (!sq_fits(u->agency, sizeof u->agency) || !sq_is_id(u->agency))
		return sq_bad(err, "user.agency", "not an id");
	if (!sq_fits(u->id, sizeof u->id) || !sq_is_id(u->id))
		return sq_bad(err, "user.id", "not an id");
	if (!sq_fits(u->name, sizeof u->name))
		return sq_bad(err, "user.name", "longer than 128 bytes");
	if (!sq_fits(u->unit, sizeof u->unit) ||
	    (u->unit[0] != '\0' && !sq_is_id(u->unit)))
		return sq_bad(err, "user.unit", "not an id");
	if (!sq_fits(u->pwhash, sizeof u->pwhash))
		return sq_bad(err, "user.pwhash", "longer than 256 bytes");
	if (!sq_fits(u->totp, sizeof u->totp))
		return sq_bad(err, "user.totp", "longer than 64 bytes");
	if (u->nroles > TF_POLICY_MAX_ROLES)
		return sq_bad(err, "user.roles", "more than 16 roles");
	rc = sq_roles_write(u, roles, sizeof roles, err);
	if (rc)
		return rc;
	rc = sq_fails_write(&u->lockout, fails, sizeof fails, err);
	if (rc)
		return rc;
	rc = sq_prep(c, SQ_USER_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, u->agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, u->id) != SQLITE_OK ||
	    sq_bind_text(s, 3, u->name) != SQLITE_OK ||
	    sq_bind_text(s, 4, roles) != SQLITE_OK ||
	    sq_bind_text(s, 5, u->unit) != SQLITE_OK ||
	    sq_bind_text(s, 6, u->pwhash) != SQLITE_OK ||
	    sq_bind_text(s, 7, u->totp) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, u->totp_last_step) != SQLITE_OK ||
	    sqlite3_bind_int(s, 9, u->disabled != 0) != SQLITE_OK ||
	    sqlite3_bind_int(s, 10, u->lockout.locked != 0) != SQLITE_OK ||
	    sq_bind_text(s, 11, fails) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 12, u->created_at) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_USER_PUT, s);
	return rc;
}

/* ------------------------------------------------------------- device */

static int sq_device_get(tf_db_txn *t, const char *agency, const char *id,
			 tf_db_device *out, tf_err *err)
{
	static const char where[] = "device_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	tf_db_device d;
	int rc;

	if (agency == NULL || id == NULL || out == NULL)
		return sq_bad(err, where, "agency, id and out are required");
	if (!sq_is_id(agency) || !sq_is_id(id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "device_get: no such device");
	memset(&d, 0, sizeof d);
	rc = sq_lookup(c, SQ_DEVICE_GET, agency, id, &s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"device_get: device %s not found in agency %s",
				id, agency);
		goto out;
	}
	memcpy(d.agency, agency, strlen(agency) + 1);
	memcpy(d.id, id, strlen(id) + 1);
	if ((rc = sq_col_str(s, 0, d.label, sizeof d.label, err, where,
			     "label")) != 0 ||
	    (rc = sq_col_str(s, 1, d.pubkey, sizeof d.pubkey, err, where,
			     "pubkey")) != 0)
		goto out;
	d.status = sqlite3_column_int(s, 2);
	if (d.status < TF_DEV_ENROLLED || d.status > TF_DEV_WIPED) {
		rc = sq_corrupt(err, where, "status");
		goto out;
	}
	d.enrolled_at = sqlite3_column_int64(s, 3);
	d.revoked_at = sqlite3_column_int64(s, 4);
	d.wiped_at = sqlite3_column_int64(s, 5);
	*out = d;
out:
	sq_done(c, SQ_DEVICE_GET, s);
	return rc;
}

static int sq_device_put(tf_db_txn *t, const tf_db_device *d, tf_err *err)
{
	static const char where[] = "device_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (d == NULL)
		return sq_bad(err, where, "device is required");
	if (!sq_fits(d->agency, sizeof d->agency) || !sq_is_id(d->agency))
		return sq_bad(err, "device.agency", "not an id");
	if (!sq_fits(d->id, sizeof d->id) || !sq_is_id(d->id))
		return sq_bad(err, "device.id", "not an id");
	if (!sq_fits(d->label, sizeof d->label))
		return sq_bad(err, "device.label", "longer than 128 bytes");
	if (!sq_fits(d->pubkey, sizeof d->pubkey))
		return sq_bad(err, "device.pubkey", "longer than 64 bytes");
	if (d->status < TF_DEV_ENROLLED || d->status > TF_DEV_WIPED)
		return sq_bad(err, "device.status", "not a device status");
	rc = sq_prep(c, SQ_DEVICE_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, d->agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, d->id) != SQLITE_OK ||
	    sq_bind_text(s, 3, d->label) != SQLITE_OK ||
	    sq_bind_text(s, 4, d->pubkey) != SQLITE_OK ||
	    sqlite3_bind_int(s, 5, d->status) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, d->enrolled_at) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, d->revoked_at) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, d->wiped_at) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_DEVICE_PUT, s);
	return rc;
}

/* ------------------------------------------------------------ session */

static int sq_session_get(tf_db_txn *t, const char *token_hash,
			  tf_db_session *out, tf_err *err)
{
	static const char where[] = "session_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	tf_db_session x;
	int rc;

	if (token_hash == NULL || out == NULL)
		return sq_bad(err, where, "token_hash and out are required");
	if (!sq_is_hex64(token_hash))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "session_get: no such session");
	memset(&x, 0, sizeof x);
	rc = sq_prep(c, SQ_SESSION_GET, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, token_hash) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"session_get: no such session");
		goto out;
	}
	memcpy(x.token_hash, token_hash, TF_DB_HASH_HEX + 1);
	if ((rc = sq_col_str(s, 0, x.agency, sizeof x.agency, err, where,
			     "agency")) != 0 ||
	    (rc = sq_col_str(s, 1, x.user, sizeof x.user, err, where,
			     "user_id")) != 0 ||
	    (rc = sq_col_str(s, 2, x.device, sizeof x.device, err, where,
			     "device")) != 0)
		goto out;
	x.created_at = sqlite3_column_int64(s, 3);
	x.expires_at = sqlite3_column_int64(s, 4);
	x.revoked = sqlite3_column_int(s, 5) != 0;
	*out = x;
out:
	sq_done(c, SQ_SESSION_GET, s);
	return rc;
}

/* Inserts or updates (times, revoked) a session; a token hash held by
   another agency, user or device is TF_EEXIST and changes nothing. */
static int sq_session_put(tf_db_txn *t, const tf_db_session *x, tf_err *err)
{
	static const char where[] = "session_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (x == NULL)
		return sq_bad(err, where, "session is required");
	if (!sq_fits(x->token_hash, sizeof x->token_hash) ||
	    !sq_is_hex64(x->token_hash))
		return sq_bad(err, "session.token_hash", "not 64 hex digits");
	if (!sq_fits(x->agency, sizeof x->agency) || !sq_is_id(x->agency))
		return sq_bad(err, "session.agency", "not an id");
	if (!sq_fits(x->user, sizeof x->user) || !sq_is_id(x->user))
		return sq_bad(err, "session.user", "not an id");
	if (!sq_fits(x->device, sizeof x->device) || !sq_is_id(x->device))
		return sq_bad(err, "session.device", "not an id");
	rc = sq_prep(c, SQ_SESSION_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, x->token_hash) != SQLITE_OK ||
	    sq_bind_text(s, 2, x->agency) != SQLITE_OK ||
	    sq_bind_text(s, 3, x->user) != SQLITE_OK ||
	    sq_bind_text(s, 4, x->device) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, x->created_at) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, x->expires_at) != SQLITE_OK ||
	    sqlite3_bind_int(s, 7, x->revoked != 0) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_write(c, s, err, where);
	if (rc == 0 && sqlite3_changes(c->h) == 0)
		rc = tf_err_set(err, TF_EEXIST, where,
				"session_put: token hash belongs to another "
				"session");
out:
	sq_done(c, SQ_SESSION_PUT, s);
	return rc;
}

static int sq_session_revoke_all(tf_db_txn *t, const char *agency,
				 const char *user, const char *device,
				 uint64_t *n, tf_err *err)
{
	static const char where[] = "session_revoke_all";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int id, rc;

	if (n)
		*n = 0;
	rc = sq_need_write(t, err, where);
	if (rc)
		return rc;
	if (agency == NULL || (user == NULL && device == NULL))
		return sq_bad(err, where,
			      "agency and a user or a device are "
			      "required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (user != NULL && !sq_is_id(user))
		return sq_bad(err, "user", "not an id");
	if (device != NULL && !sq_is_id(device))
		return sq_bad(err, "device", "not an id");
	id = user && device ? SQ_REVOKE_BOTH
	     : user	    ? SQ_REVOKE_USER
			    : SQ_REVOKE_DEVICE;
	rc = sq_prep(c, id, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    (user && sq_bind_text(s, 2, user) != SQLITE_OK) ||
	    (device && sq_bind_text(s, 3, device) != SQLITE_OK)) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_write(c, s, err, where);
	if (rc == 0 && n)
		*n = (uint64_t)sqlite3_changes64(c->h);
out:
	sq_done(c, id, s);
	return rc;
}

/* ------------------------------------------------------------- ledger */

static int sq_ledger_last(tf_db_txn *t, const char *agency, const char *device,
			  uint64_t *last, tf_err *err)
{
	static const char where[] = "ledger_last";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (last)
		*last = 0;
	if (agency == NULL || device == NULL || last == NULL)
		return sq_bad(err, where,
			      "agency, device and last are required");
	if (!sq_is_id(agency) || !sq_is_id(device))
		return 0;
	rc = sq_prep(c, SQ_LEDGER_LAST, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, device) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc < 0)
		goto out;
	rc = 0;
	if (sqlite3_column_int64(s, 0) < 0)
		rc = sq_corrupt(err, where, "seq");
	else
		*last = (uint64_t)sqlite3_column_int64(s, 0);
out:
	sq_done(c, SQ_LEDGER_LAST, s);
	return rc;
}

/* Reads a ledger row (columns SQ_LEDGER_COLS) into *out. */
static int sq_ledger_row(sqlite3_stmt *s, tf_db_ledger *out, tf_err *err,
			 const char *where)
{
	tf_db_ledger l;
	int64_t seq, st;
	int rc;

	memset(&l, 0, sizeof l);
	if ((rc = sq_col_str(s, 0, l.device, sizeof l.device, err, where,
			     "device")) != 0 ||
	    (rc = sq_col_str(s, 2, l.cmd_id, sizeof l.cmd_id, err, where,
			     "cmd_id")) != 0 ||
	    (rc = sq_col_str(s, 3, l.req_hash, sizeof l.req_hash, err, where,
			     "req_hash")) != 0)
		return rc;
	seq = sqlite3_column_int64(s, 1);
	st = sqlite3_column_int64(s, 4);
	if (seq < 1 || (uint64_t)seq > TF_SEQ_MAX)
		return sq_corrupt(err, where, "seq");
	if (st < TF_ST_APPLIED || st > TF_ST_CLOCK_SKEW)
		return sq_corrupt(err, where, "status");
	l.seq = (uint64_t)seq;
	l.status = (tf_status)st;
	l.at_ms = sqlite3_column_int64(s, 6);
	rc = sq_col_dup(s, 5, SQ_BLOB_MAX, &l.result, &l.result_len, err, where,
			"result");
	if (rc)
		return rc;
	*out = l;
	return 0;
}

static int sq_ledger_get(sq_conn *c, int id, const char *agency,
			 const char *device, uint64_t seq, const char *cmd_id,
			 tf_db_ledger *out, tf_err *err, const char *where)
{
	sqlite3_stmt *s = NULL;
	int rc = sq_prep(c, id, &s, err, where);

	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    (device && (sq_bind_text(s, 2, device) != SQLITE_OK ||
			sqlite3_bind_int64(s, 3, (int64_t)seq) != SQLITE_OK)) ||
	    (cmd_id && sq_bind_text(s, 2, cmd_id) != SQLITE_OK)) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"%s: no such ledger entry", where);
		goto out;
	}
	rc = sq_ledger_row(s, out, err, where);
out:
	sq_done(c, id, s);
	return rc;
}

static int sq_ledger_get_seq(tf_db_txn *t, const char *agency,
			     const char *device, uint64_t seq,
			     tf_db_ledger *out, tf_err *err)
{
	static const char where[] = "ledger_get_seq";

	if (agency == NULL || device == NULL || out == NULL)
		return sq_bad(err, where,
			      "agency, device and out are required");
	if (!sq_is_id(agency) || !sq_is_id(device) || seq < 1 ||
	    seq > TF_SEQ_MAX)
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "ledger_get_seq: no such ledger entry");
	return sq_ledger_get(sq_t(t)->c, SQ_LEDGER_GET_SEQ, agency, device, seq,
			     NULL, out, err, where);
}

static int sq_ledger_get_cmd(tf_db_txn *t, const char *agency,
			     const char *cmd_id, tf_db_ledger *out, tf_err *err)
{
	static const char where[] = "ledger_get_cmd";

	if (agency == NULL || cmd_id == NULL || out == NULL)
		return sq_bad(err, where,
			      "agency, cmd_id and out are required");
	if (!sq_is_id(agency) || !sq_is_uuid(cmd_id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "ledger_get_cmd: no such ledger entry");
	return sq_ledger_get(sq_t(t)->c, SQ_LEDGER_GET_CMD, agency, NULL, 0,
			     cmd_id, out, err, where);
}

static int sq_ledger_put(tf_db_txn *t, const char *agency,
			 const tf_db_ledger *l, tf_err *err)
{
	static const char where[] = "ledger_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || l == NULL)
		return sq_bad(err, where, "agency and entry are required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (!sq_fits(l->device, sizeof l->device) || !sq_is_id(l->device))
		return sq_bad(err, "ledger.device", "not an id");
	if (l->seq < 1 || l->seq > TF_SEQ_MAX)
		return sq_bad(err, "ledger.seq", "not in 1..2^53-1");
	if (!sq_fits(l->cmd_id, sizeof l->cmd_id) || !sq_is_uuid(l->cmd_id))
		return sq_bad(err, "ledger.cmd_id", "not a UUID");
	if (!sq_fits(l->req_hash, sizeof l->req_hash) ||
	    !sq_is_hex64(l->req_hash))
		return sq_bad(err, "ledger.req_hash", "not 64 hex digits");
	if (l->status < TF_ST_APPLIED || l->status > TF_ST_CLOCK_SKEW)
		return sq_bad(err, "ledger.status", "not a status");
	if (l->result == NULL && l->result_len > 0)
		return sq_bad(err, "ledger.result", "NULL with a length");
	if (l->result_len > SQ_BLOB_MAX)
		return tf_err_set(err, TF_ELIMIT, "ledger.result",
				  "ledger.result: %zu bytes is over %zu",
				  l->result_len, SQ_BLOB_MAX);
	rc = sq_prep(c, SQ_LEDGER_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, l->device) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)l->seq) != SQLITE_OK ||
	    sq_bind_text(s, 4, l->cmd_id) != SQLITE_OK ||
	    sq_bind_text(s, 5, l->req_hash) != SQLITE_OK ||
	    sqlite3_bind_int(s, 6, (int)l->status) != SQLITE_OK ||
	    sq_bind_blob(s, 7, l->result, l->result_len) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, l->at_ms) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_LEDGER_PUT, s);
	return rc;
}

/* ------------------------------------------------------------ records */

static int sq_record_get(tf_db_txn *t, const char *agency, const char *id,
			 tf_db_record *out, tf_err *err)
{
	static const char where[] = "record_get";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	tf_db_record r;
	int64_t chg;
	int rc;

	if (agency == NULL || id == NULL || out == NULL)
		return sq_bad(err, where, "agency, id and out are required");
	if (!sq_is_id(agency) || !sq_is_uuid(id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "record_get: no such record");
	memset(&r, 0, sizeof r);
	rc = sq_lookup(c, SQ_RECORD_GET, agency, id, &s, err, where);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"record_get: record %s not found", id);
		goto out;
	}
	if ((rc = sq_col_str(s, 0, r.id, sizeof r.id, err, where, "id")) != 0 ||
	    (rc = sq_col_str(s, 1, r.entity, sizeof r.entity, err, where,
			     "entity")) != 0)
		goto out;
	chg = sqlite3_column_int64(s, 3);
	if (chg < 1) {
		rc = sq_corrupt(err, where, "chg");
		goto out;
	}
	r.chg = (uint64_t)chg;
	rc = sq_col_dup(s, 2, SQ_BLOB_MAX, &r.state, &r.state_len, err, where,
			"state");
	if (rc)
		goto out;
	*out = r;
out:
	sq_done(c, SQ_RECORD_GET, s);
	return rc;
}

/*
 * The counter row as of this transaction (TF_EIO when missing or negative).
 */
static int sq_chg_read(sq_conn *c, uint64_t *chg, tf_err *err,
		       const char *where)
{
	sqlite3_stmt *s = NULL;
	int rc = sq_prep(c, SQ_CHG_HEAD, &s, err, where);

	if (rc)
		return rc;
	rc = sq_step_one(c, s, err, where);
	if (rc == 0)
		rc = sq_corrupt(err, where, "counters.chg");
	if (rc == 1) {
		int64_t v = sqlite3_column_int64(s, 0);

		rc = v < 0 ? sq_corrupt(err, where, "counters.chg") : 0;
		if (rc == 0)
			*chg = (uint64_t)v;
	}
	sq_done(c, SQ_CHG_HEAD, s);
	return rc;
}

/*
 * The next feed position.  A write group keeps the counter in memory: it
 * reads the row at its first record_put and sq_chg_flush writes it back
 * once, outside every job's savepoint, just before the COMMIT (an UPDATE
 * per record was a fifth of record_put's cost).  So the stored counter
 * covers every position of the committed group, and positions only ever
 * grow, across groups and restarts alike: a group that fails commits
 * neither its records nor its counter, and the next group reads the row
 * again.  A job rolled back to its savepoint leaves its positions unused
 * (the counter is not rolled back with it), a gap that readers never see
 * as a record; the feed orders by position and asks only "greater than".
 */
static int sq_chg_next(sq_txn *tx, uint64_t *chg, tf_err *err,
		       const char *where)
{
	if (tx->chg_state == SQ_CHG_UNREAD) {
		int rc = sq_chg_read(tx->c, &tx->chg, err, where);

		if (rc)
			return rc;
		tx->chg_state = SQ_CHG_READ;
	}
	if (tx->chg >= (uint64_t)INT64_MAX)
		return sq_corrupt(err, where, "counters.chg");
	tx->chg++;
	tx->chg_state = SQ_CHG_MOVED;
	*chg = tx->chg;
	return 0;
}

/* Stores the group's counter if it moved (see sq_chg_next). */
static int sq_chg_flush(sq_txn *tx, tf_err *err)
{
	static const char where[] = "commit";
	sq_conn *c = tx->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (tx->chg_state != SQ_CHG_MOVED)
		return 0;
	rc = sq_prep(c, SQ_CHG_SET, &s, err, where);
	if (rc)
		return rc;
	if (sqlite3_bind_int64(s, 1, (int64_t)tx->chg) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	if (rc == 0 && sqlite3_changes(c->h) != 1)
		rc = sq_corrupt(err, where, "counters.chg");
	sq_done(c, SQ_CHG_SET, s);
	if (rc == 0)
		tx->chg_state = SQ_CHG_READ;
	return rc;
}

static int sq_record_put(tf_db_txn *t, const char *agency, const char *id,
			 const char *entity, const char *state, size_t len,
			 uint64_t *chg, tf_err *err)
{
	static const char where[] = "record_put";
	sq_txn *tx = sq_t(t);
	sq_conn *c = tx->c;
	sqlite3_stmt *s = NULL;
	uint64_t next = 0;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || id == NULL || entity == NULL || state == NULL)
		return sq_bad(err, where,
			      "agency, id, entity and state are required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (!sq_is_uuid(id))
		return sq_bad(err, "record.id", "not a UUID");
	if (!sq_is_name(entity))
		return sq_bad(err, "record.entity", "not an entity name");
	if (len == 0 || len > SQ_BLOB_MAX)
		return tf_err_set(err, TF_ELIMIT, "record.state",
				  "record.state: %zu bytes is not in 1..%zu",
				  len, SQ_BLOB_MAX);
	rc = sq_chg_next(tx, &next, err, where);
	if (rc)
		return rc;
	rc = sq_prep(c, SQ_RECORD_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, id) != SQLITE_OK ||
	    sq_bind_text(s, 3, entity) != SQLITE_OK ||
	    sq_bind_blob(s, 4, state, len) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 5, (int64_t)next) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_write(c, s, err, where);
	if (rc == 0 && sqlite3_changes(c->h) == 0)
		rc = tf_err_set(err, TF_EINVAL, "record.entity",
				"record_put: record %s exists as another "
				"entity",
				id);
	if (rc == 0 && chg)
		*chg = next;
out:
	sq_done(c, SQ_RECORD_PUT, s);
	return rc;
}

static int sq_records_since(tf_db_txn *t, const char *agency, uint64_t after,
			    size_t limit, tf_db_record_fn fn, void *arg,
			    tf_err *err)
{
	static const char where[] = "records_since";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	char *buf = NULL;
	size_t cap = 0;
	int rc;

	if (agency == NULL || fn == NULL)
		return sq_bad(err, where, "agency and fn are required");
	if (!sq_is_id(agency) || after > INT64_MAX)
		return 0;
	if (limit == 0 || limit > SQ_FEED_MAX)
		limit = SQ_FEED_MAX;
	rc = sq_prep(c, SQ_RECORDS_SINCE, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (int64_t)after) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)limit) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	for (;;) {
		tf_db_record r;
		const void *v;
		int64_t chg;

		rc = sq_step_one(c, s, err, where);
		if (rc <= 0)
			break;
		memset(&r, 0, sizeof r);
		if ((rc = sq_col_str(s, 0, r.id, sizeof r.id, err, where,
				     "id")) != 0 ||
		    (rc = sq_col_str(s, 1, r.entity, sizeof r.entity, err,
				     where, "entity")) != 0)
			break;
		chg = sqlite3_column_int64(s, 3);
		v = sqlite3_column_blob(s, 2);
		r.state_len = (size_t)sqlite3_column_bytes(s, 2);
		if (chg <= (int64_t)after || r.state_len > SQ_BLOB_MAX) {
			rc = sq_corrupt(err, where, "state");
			break;
		}
		r.chg = (uint64_t)chg;
		/* a private copy: fn may not write into SQLite's buffer */
		if (r.state_len + 1 > cap) {
			char *nb = realloc(buf, r.state_len + 1);

			if (nb == NULL) {
				rc = tf_err_set(err, TF_ENOMEM, where,
						"records_since: no memory");
				break;
			}
			buf = nb;
			cap = r.state_len + 1;
		}
		if (r.state_len > 0)
			memcpy(buf, v, r.state_len);
		buf[r.state_len] = '\0';
		r.state = buf;
		rc = fn(arg, &r);
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
out:
	free(buf);
	sq_done(c, SQ_RECORDS_SINCE, s);
	return rc;
}

/* Counts over the feed index (agency, chg): no row is read. */
static int sq_records_count_since(tf_db_txn *t, const char *agency,
				  uint64_t after, size_t limit, uint64_t *n,
				  tf_err *err)
{
	static const char where[] = "records_count_since";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	/* LIMIT -1: no limit */
	int64_t lim = limit == 0 || (uint64_t)limit > (uint64_t)INT64_MAX
			      ? -1
			      : (int64_t)limit;
	int rc;

	if (agency == NULL || n == NULL)
		return sq_bad(err, where, "agency and n are required");
	*n = 0;
	if (!sq_is_id(agency) || after > INT64_MAX)
		return 0;
	rc = sq_prep(c, SQ_RECORDS_COUNT_SINCE, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (int64_t)after) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, lim) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc == 1) {
		int64_t v = sqlite3_column_int64(s, 0);

		*n = v < 0 ? 0 : (uint64_t)v;
		rc = 0;
	} else if (rc == 0) {
		rc = sq_corrupt(err, where, "count");
	}
out:
	sq_done(c, SQ_RECORDS_COUNT_SINCE, s);
	return rc;
}

/* Inside a write group whose counter is in memory, that value. */
static int sq_head_chg(tf_db_txn *t, uint64_t *chg, tf_err *err)
{
	static const char where[] = "head_chg";
	sq_txn *tx = sq_t(t);

	if (chg == NULL)
		return sq_bad(err, where, "chg is required");
	*chg = 0;
	if (tx->chg_state != SQ_CHG_UNREAD) {
		*chg = tx->chg;
		return 0;
	}
	return sq_chg_read(tx->c, chg, err, where);
}

/* ----------------------------------------------------------- textrevs */

static int sq_textrev_put(tf_db_txn *t, const char *agency,
			  const tf_db_textrev *r, tf_err *err)
{
	static const char where[] = "textrev_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || r == NULL)
		return sq_bad(err, where, "agency and revision are required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (!sq_fits(r->record_id, sizeof r->record_id) ||
	    !sq_is_uuid(r->record_id))
		return sq_bad(err, "textrev.record_id", "not a UUID");
	if (!sq_fits(r->field, sizeof r->field) || !sq_is_name(r->field))
		return sq_bad(err, "textrev.field", "not a field name");
	if (r->kind < TF_TEXTREV_EDIT || r->kind > TF_TEXTREV_DISCARDED)
		return sq_bad(err, "textrev.kind", "not a revision kind");
	if (!sq_fits(r->by, sizeof r->by) || !sq_is_id(r->by))
		return sq_bad(err, "textrev.by", "not an id");
	if (!sq_fits(r->cmd_id, sizeof r->cmd_id) ||
	    (r->cmd_id[0] != '\0' && !sq_is_uuid(r->cmd_id)))
		return sq_bad(err, "textrev.cmd_id", "not a UUID");
	if (r->text == NULL && r->text_len > 0)
		return sq_bad(err, "textrev.text", "NULL with a length");
	if (r->text_len > SQ_BLOB_MAX)
		return tf_err_set(err, TF_ELIMIT, "textrev.text",
				  "textrev.text: %zu bytes is over %zu",
				  r->text_len, SQ_BLOB_MAX);
	rc = sq_prep(c, SQ_TEXTREV_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, r->record_id) != SQLITE_OK ||
	    sq_bind_text(s, 3, r->field) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, r->rev) != SQLITE_OK ||
	    sqlite3_bind_int(s, 5, r->kind) != SQLITE_OK ||
	    sq_bind_text(s, 6, r->by) != SQLITE_OK ||
	    sq_bind_text(s, 7, r->cmd_id) != SQLITE_OK ||
	    sq_bind_blob(s, 8, r->text, r->text_len) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 9, r->at_ms) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_TEXTREV_PUT, s);
	return rc;
}

/* Each revision's text points into SQLite's row buffer (NUL-terminated),
   valid for the callback only, like a record of records_since. */
static int sq_textrev_list(tf_db_txn *t, const char *agency,
			   const char *record_id, const char *field,
			   tf_db_textrev_fn fn, void *arg, tf_err *err)
{
	static const char where[] = "textrev_list";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (agency == NULL || record_id == NULL || field == NULL || fn == NULL)
		return sq_bad(err, where,
			      "agency, record_id, field and fn are required");
	if (!sq_is_id(agency) || !sq_is_uuid(record_id) || !sq_is_name(field))
		return 0;
	rc = sq_prep(c, SQ_TEXTREV_LIST, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, record_id) != SQLITE_OK ||
	    sq_bind_text(s, 3, field) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	for (;;) {
		tf_db_textrev r;
		int64_t kind;

		rc = sq_step_one(c, s, err, where);
		if (rc <= 0)
			break;
		memset(&r, 0, sizeof r);
		memcpy(r.record_id, record_id, TF_UUID_LEN + 1);
		memcpy(r.field, field, strlen(field) + 1);
		r.rev = sqlite3_column_int64(s, 0);
		kind = sqlite3_column_int64(s, 1);
		if (kind < TF_TEXTREV_EDIT || kind > TF_TEXTREV_DISCARDED) {
			rc = sq_corrupt(err, where, "kind");
			break;
		}
		r.kind = (int)kind;
		if ((rc = sq_col_str(s, 2, r.by, sizeof r.by, err, where,
				     "by_user")) != 0 ||
		    (rc = sq_col_str(s, 3, r.cmd_id, sizeof r.cmd_id, err,
				     where, "cmd_id")) != 0)
			break;
		r.text = (const char *)sqlite3_column_text(s, 4);
		r.text_len = (size_t)sqlite3_column_bytes(s, 4);
		if (r.text == NULL || r.text_len > SQ_BLOB_MAX) {
			rc = r.text == NULL
				     ? tf_err_set(err, TF_ENOMEM, where,
						  "textrev_list: no memory")
				     : sq_corrupt(err, where, "text");
			break;
		}
		r.at_ms = sqlite3_column_int64(s, 5);
		rc = fn(arg, &r);
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
out:
	sq_done(c, SQ_TEXTREV_LIST, s);
	return rc;
}

/* ---------------------------------------------------------- conflicts */

static int sq_conflict_put(tf_db_txn *t, const char *agency,
			   const tf_db_conflict *x, tf_err *err)
{
	static const char where[] = "conflict_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || x == NULL)
		return sq_bad(err, where, "agency and conflict are required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (!sq_fits(x->record_id, sizeof x->record_id) ||
	    !sq_is_uuid(x->record_id))
		return sq_bad(err, "conflict.record_id", "not a UUID");
	if (!sq_fits(x->conflict_id, sizeof x->conflict_id) ||
	    !sq_is_uuid(x->conflict_id))
		return sq_bad(err, "conflict.conflict_id", "not a UUID");
	if (!sq_fits(x->entity, sizeof x->entity) || !sq_is_name(x->entity))
		return sq_bad(err, "conflict.entity", "not an entity name");
	if (!sq_fits(x->field, sizeof x->field) || !sq_is_name(x->field))
		return sq_bad(err, "conflict.field", "not a field name");
	rc = sq_prep(c, SQ_CONFLICT_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, x->record_id) != SQLITE_OK ||
	    sq_bind_text(s, 3, x->conflict_id) != SQLITE_OK ||
	    sq_bind_text(s, 4, x->entity) != SQLITE_OK ||
	    sq_bind_text(s, 5, x->field) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, x->opened_at) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_CONFLICT_PUT, s);
	return rc;
}

static int sq_conflict_del(tf_db_txn *t, const char *agency,
			   const char *record_id, const char *conflict_id,
			   tf_err *err)
{
	static const char where[] = "conflict_del";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || record_id == NULL || conflict_id == NULL)
		return sq_bad(err, where,
			      "agency, record_id and conflict_id "
			      "are required");
	if (!sq_is_id(agency) || !sq_is_uuid(record_id) ||
	    !sq_is_uuid(conflict_id))
		return tf_err_set(err, TF_ENOTFOUND, where,
				  "conflict_del: no such conflict");
	rc = sq_prep(c, SQ_CONFLICT_DEL, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, record_id) != SQLITE_OK ||
	    sq_bind_text(s, 3, conflict_id) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_write(c, s, err, where);
	if (rc == 0 && sqlite3_changes(c->h) == 0)
		rc = tf_err_set(err, TF_ENOTFOUND, where,
				"conflict_del: conflict %s not found on record "
				"%s",
				conflict_id, record_id);
out:
	sq_done(c, SQ_CONFLICT_DEL, s);
	return rc;
}

static int sq_conflict_list(tf_db_txn *t, const char *agency,
			    tf_db_conflict_fn fn, void *arg, tf_err *err)
{
	static const char where[] = "conflict_list";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (agency == NULL || fn == NULL)
		return sq_bad(err, where, "agency and fn are required");
	if (!sq_is_id(agency))
		return 0;
	rc = sq_prep(c, SQ_CONFLICT_LIST, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	for (;;) {
		tf_db_conflict x;

		rc = sq_step_one(c, s, err, where);
		if (rc <= 0)
			break;
		memset(&x, 0, sizeof x);
		if ((rc = sq_col_str(s, 0, x.record_id, sizeof x.record_id, err,
				     where, "record_id")) != 0 ||
		    (rc = sq_col_str(s, 1, x.entity, sizeof x.entity, err,
				     where, "entity")) != 0 ||
		    (rc = sq_col_str(s, 2, x.field, sizeof x.field, err, where,
				     "field")) != 0 ||
		    (rc = sq_col_str(s, 3, x.conflict_id, sizeof x.conflict_id,
				     err, where, "conflict_id")) != 0)
			break;
		x.opened_at = sqlite3_column_int64(s, 4);
		rc = fn(arg, &x);
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
out:
	sq_done(c, SQ_CONFLICT_LIST, s);
	return rc;
}

/* -------------------------------------------------------------- audit */

/* The hash column of an audit row: exactly 32 bytes. */
static int sq_col_hash(sqlite3_stmt *s, int i, uint8_t hash[32])
{
	const void *v = sqlite3_column_blob(s, i);

	if (v == NULL || sqlite3_column_bytes(s, i) != 32)
		return -1;
	memcpy(hash, v, 32);
	return 0;
}

/*
 * Appends ev to its agency's chain (ev->agency; NULL: the system chain,
 * stored under agency ""): seq and prev come from that chain's last row
 * read in this same write transaction (the single writer makes that the
 * true last).  ev->prev is left pointing at hex kept by the transaction
 * (valid until the tf_db_write callback returns); on failure ev is as it
 * was.  Errors: tf_audit_write's (naming the member), TF_EIO.
 */
static int sq_audit_append(tf_db_txn *t, tf_audit_event *ev, uint64_t *seq,
			   tf_err *err)
{
	static const char where[] = "audit_append";
	sq_txn *tx = sq_t(t);
	sq_conn *c = tx->c;
	sqlite3_stmt *s = NULL;
	uint64_t old_seq, last = 0;
	const char *old_prev;
	uint8_t lasthash[32], hash[32];
	const char *chain;
	sq_hex *hx = NULL;
	tf_buf b;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (ev == NULL)
		return sq_bad(err, where, "event is required");
	if (ev->agency != NULL && !sq_is_id(ev->agency))
		return sq_bad(err, "actor.agency", "not an id");
	chain = ev->agency != NULL ? ev->agency : "";
	tf_buf_init(&b);
	old_seq = ev->seq;
	old_prev = ev->prev;
	rc = sq_prep(c, SQ_AUDIT_LAST, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, chain) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_one(c, s, err, where);
	if (rc == 1) {
		int64_t v = sqlite3_column_int64(s, 0);

		if (v < 1 || sq_col_hash(s, 1, lasthash) != 0)
			rc = sq_corrupt(err, where, "audit");
		else
			rc = 0;
		last = (uint64_t)v;
	}
	sq_done(c, SQ_AUDIT_LAST, s);
	s = NULL;
	if (rc < 0)
		return rc;
	hx = malloc(sizeof *hx);
	if (hx == NULL)
		return tf_err_set(err, TF_ENOMEM, where,
				  "audit_append: no memory");
	if (last == 0)
		memcpy(hx->hex, tf_audit_genesis, sizeof hx->hex);
	else
		tf_hex_encode(lasthash, sizeof lasthash, hx->hex);
	ev->seq = last + 1;
	ev->prev = hx->hex;
	rc = tf_audit_write(ev, &b, err);
	if (rc)
		goto out;
	if (b.len > TF_AUDIT_ENTRY_MAX) {
		rc = tf_err_set(err, TF_ELIMIT, where,
				"audit_append: entry of %zu bytes is over %d",
				b.len, TF_AUDIT_ENTRY_MAX);
		goto out;
	}
	if (tf_sha256(b.data, b.len, hash) != 0) {
		rc = tf_err_set(err, TF_EIO, where,
				"audit_append: SHA-256 failed");
		goto out;
	}
	rc = sq_prep(c, SQ_AUDIT_PUT, &s, err, where);
	if (rc)
		goto out;
	if (sq_bind_text(s, 1, chain) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (int64_t)ev->seq) != SQLITE_OK ||
	    sq_bind_blob(s, 3, b.data, b.len) != SQLITE_OK ||
	    sq_bind_blob(s, 4, hash, sizeof hash) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_AUDIT_PUT, s);
	if (rc)
		goto out;
	if (seq)
		*seq = ev->seq;
	hx->next = tx->hexes;
	tx->hexes = hx;
	hx = NULL;
out:
	if (rc) {
		ev->seq = old_seq;
		ev->prev = old_prev;
	}
	free(hx);
	tf_buf_free(&b);
	return rc;
}

/* Runs a scan of audit rows (seq, bytes, hash) through fn. */
static int sq_audit_rows(sq_conn *c, sqlite3_stmt *s, tf_db_audit_fn fn,
			 void *arg, tf_err *err, const char *where)
{
	for (;;) {
		tf_db_audit a;
		int64_t seq;
		int rc = sq_step_one(c, s, err, where);

		if (rc <= 0)
			return rc;
		memset(&a, 0, sizeof a);
		seq = sqlite3_column_int64(s, 0);
		a.bytes = (const char *)sqlite3_column_text(s, 1);
		a.len = (size_t)sqlite3_column_bytes(s, 1);
		if (a.bytes == NULL)
			return tf_err_set(err, TF_ENOMEM, where,
					  "%s: no memory", where);
		if (seq < 1 || a.len > TF_AUDIT_ENTRY_MAX ||
		    sq_col_hash(s, 2, a.hash) != 0)
			return sq_corrupt(err, where, "audit");
		a.seq = (uint64_t)seq;
		rc = fn(arg, &a);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
}

static int sq_audit_scan(tf_db_txn *t, const char *agency, uint64_t from,
			 size_t limit, tf_db_audit_fn fn, void *arg,
			 tf_err *err)
{
	static const char where[] = "audit_scan";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (fn == NULL)
		return sq_bad(err, where, "fn is required");
	if (agency == NULL || (agency[0] != '\0' && !sq_is_id(agency)))
		return sq_bad(err, "agency",
			      "an id or \"\" (the system chain)");
	if (from > INT64_MAX)
		return 0;
	rc = sq_prep(c, SQ_AUDIT_SCAN, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, (int64_t)from) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3,
			       limit == 0 || limit > INT64_MAX
				       ? -1
				       : (int64_t)limit) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_audit_rows(c, s, fn, arg, err, where);
	sq_done(c, SQ_AUDIT_SCAN, s);
	return rc;
}

static int sq_devaudit_head(tf_db_txn *t, const char *agency,
			    const char *device, uint64_t *seq, uint8_t hash[32],
			    tf_err *err)
{
	static const char where[] = "devaudit_head";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (agency == NULL || device == NULL || seq == NULL || hash == NULL)
		return sq_bad(err, where,
			      "agency, device, seq and hash are "
			      "required");
	*seq = 0;
	memset(hash, 0, 32);
	if (!sq_is_id(agency) || !sq_is_id(device))
		return 0;
	rc = sq_prep(c, SQ_DEVAUDIT_HEAD, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, device) != SQLITE_OK) {
		rc = sq_eio(c, err, where);
		goto out;
	}
	rc = sq_step_one(c, s, err, where);
	if (rc == 1) {
		int64_t v = sqlite3_column_int64(s, 0);

		if (v < 1 || sq_col_hash(s, 1, hash) != 0) {
			memset(hash, 0, 32);
			rc = sq_corrupt(err, where, "devaudit");
		} else {
			*seq = (uint64_t)v;
			rc = 0;
		}
	}
out:
	sq_done(c, SQ_DEVAUDIT_HEAD, s);
	return rc;
}

static int sq_devaudit_put(tf_db_txn *t, const char *agency, const char *device,
			   const tf_db_audit *a, tf_err *err)
{
	static const char where[] = "devaudit_put";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc = sq_need_write(t, err, where);

	if (rc)
		return rc;
	if (agency == NULL || device == NULL || a == NULL)
		return sq_bad(err, where,
			      "agency, device and entry are required");
	if (!sq_is_id(agency))
		return sq_bad(err, "agency", "not an id");
	if (!sq_is_id(device))
		return sq_bad(err, "device", "not an id");
	if (a->seq < 1 || a->seq > INT64_MAX)
		return sq_bad(err, "audit.seq", "not in 1..2^63-1");
	if (a->bytes == NULL || a->len == 0)
		return sq_bad(err, "audit.bytes", "empty entry");
	if (a->len > TF_AUDIT_ENTRY_MAX)
		return tf_err_set(err, TF_ELIMIT, "audit.bytes",
				  "audit.bytes: %zu bytes is over %d", a->len,
				  TF_AUDIT_ENTRY_MAX);
	rc = sq_prep(c, SQ_DEVAUDIT_PUT, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, device) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)a->seq) != SQLITE_OK ||
	    sq_bind_blob(s, 4, a->bytes, a->len) != SQLITE_OK ||
	    sq_bind_blob(s, 5, a->hash, sizeof a->hash) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_step_write(c, s, err, where);
	sq_done(c, SQ_DEVAUDIT_PUT, s);
	return rc;
}

static int sq_devaudit_scan(tf_db_txn *t, const char *agency,
			    const char *device, uint64_t from, size_t limit,
			    tf_db_audit_fn fn, void *arg, tf_err *err)
{
	static const char where[] = "devaudit_scan";
	sq_conn *c = sq_t(t)->c;
	sqlite3_stmt *s = NULL;
	int rc;

	if (agency == NULL || device == NULL || fn == NULL)
		return sq_bad(err, where, "agency, device and fn are required");
	if (!sq_is_id(agency) || !sq_is_id(device) || from > INT64_MAX)
		return 0;
	rc = sq_prep(c, SQ_DEVAUDIT_SCAN, &s, err, where);
	if (rc)
		return rc;
	if (sq_bind_text(s, 1, agency) != SQLITE_OK ||
	    sq_bind_text(s, 2, device) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, (int64_t)from) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4,
			       limit == 0 || limit > INT64_MAX
				       ? -1
				       : (int64_t)limit) != SQLITE_OK)
		rc = sq_eio(c, err, where);
	else
		rc = sq_audit_rows(c, s, fn, arg, err, where);
	sq_done(c, SQ_DEVAUDIT_SCAN, s);
	return rc;
}

/* -------------------------------------------------------------- stats */

static int sq_count(sq_conn *c, int id, uint64_t *out, tf_err *err)
{
	static const char where[] = "stats";
	sqlite3_stmt *s = NULL;
	int rc = sq_prep(c, id, &s, err, where);

	if (rc)
		return rc;
	rc = sq_step_one(c, s, err, where);
	if (rc == 1) {
		int64_t v = sqlite3_column_int64(s, 0);

		*out = v < 0 ? 0 : (uint64_t)v;
		rc = 0;
	} else if (rc == 0) {
		rc = sq_corrupt(err, where, "count");
	}
	sq_done(c, id, s);
	return rc;
}

static int sq_stats(tf_db_txn *t, tf_db_stats *out, tf_err *err)
{
	sq_conn *c = sq_t(t)->c;
	tf_db_stats st;
	int rc;

	if (out == NULL)
		return sq_bad(err, "stats", "out is required");
	memset(&st, 0, sizeof st);
	if ((rc = sq_count(c, SQ_COUNT_LEDGER, &st.ledger_rows, err)) != 0 ||
	    (rc = sq_count(c, SQ_COUNT_RECORDS, &st.records, err)) != 0 ||
	    (rc = sq_count(c, SQ_COUNT_CONFLICTS, &st.conflicts_open, err)) !=
		    0 ||
	    (rc = sq_count(c, SQ_COUNT_AUDIT, &st.audit_entries, err)) != 0 ||
	    (rc = sq_head_chg(t, &st.head_chg, err)) != 0)
		return rc;
	*out = st;
	return 0;
}

/* ------------------------------------------------------- connections */

static void sq_conn_close(sq_conn *c)
{
	size_t i;

	for (i = 0; i < SQ_NSTMT; i++) {
		sqlite3_finalize(c->st[i]);
		c->st[i] = NULL;
		c->busy[i] = 0;
	}
	if (c->h != NULL)
		sqlite3_close(c->h);
	c->h = NULL;
}

/* Runs SQL text outside the statement cache (pragmas, migrations). */
static int sq_exec_sql(sq_conn *c, const char *sql, tf_err *err,
		       const char *where)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return 0;
	rc = tf_err_set(err, TF_EIO, where, "%s: sqlite: %s", where,
			msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static int sq_conn_open(sq_conn *c, const char *path, int writer,
			const tf_db_options *o, tf_err *err)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    SQLITE_OPEN_NOFOLLOW;
	int rc;

	memset(c, 0, sizeof *c);
	rc = sqlite3_open_v2(path, &c->h, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = tf_err_set(err, TF_EIO, "dsn", "open database: sqlite: %s",
				c->h ? sqlite3_errmsg(c->h)
				     : sqlite3_errstr(rc));
		sq_conn_close(c);
		return rc;
	}
	sqlite3_extended_result_codes(c->h, 1);
	sqlite3_busy_timeout(c->h, SQ_BUSY_TIMEOUT_MS);
	rc = sq_exec_sql(c, "PRAGMA trusted_schema = OFF", err, "open");
	if (rc == 0 && writer)
		rc = sq_exec_sql(c,
				 o->fsync ? "PRAGMA synchronous = FULL;"
					    "PRAGMA foreign_keys = ON"
					  : "PRAGMA synchronous = NORMAL;"
					    "PRAGMA foreign_keys = ON",
				 err, "open");
	if (rc == 0 && !writer)
		rc = sq_exec_sql(c, "PRAGMA query_only = ON", err, "open");
	if (rc)
		sq_conn_close(c);
	return rc;
}

/* Switches the file to WAL (a property of the file, kept across opens). */
static int sq_wal(sq_conn *c, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int rc = sqlite3_prepare_v2(c->h, "PRAGMA journal_mode = WAL", -1, &s,
				    NULL);

	if (rc != SQLITE_OK)
		return sq_eio(c, err, "journal_mode");
	rc = sqlite3_step(s);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
		rc = tf_err_set(err, TF_EIO, "journal_mode",
				"open database: cannot switch to WAL mode "
				"(%s)",
				mode ? (const char *)mode
				     : sqlite3_errmsg(c->h));
	else
		rc = 0;
	sqlite3_finalize(s);
	return rc;
}

/* The schema version recorded in meta (0: a new database); the caller
   holds a write transaction. */
static int sq_version(sq_conn *c, int64_t *v, tf_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*v = 0;
	rc = sq_prep(c, SQ_SNAPSHOT, &s, err, "schema_version");
	if (rc)
		return rc;
	rc = sq_step_one(c, s, err, "schema_version");
	if (rc == 1) {
		const unsigned char *txt = sqlite3_column_text(s, 0);
		char *end = NULL;
		long long n = txt ? strtoll((const char *)txt, &end, 10) : -1;

		if (txt == NULL || *end != '\0' || end == (const char *)txt ||
		    n < 1)
			rc = sq_corrupt(err, "schema_version", "meta.value");
		else
			rc = 0;
		*v = n;
	}
	sq_done(c, SQ_SNAPSHOT, s);
	return rc;
}

/*
 * Brings the schema to SQ_SCHEMA_VERSION, one transaction per step (each
 * re-reads the version, so two processes opening a new file at once do
 * not both migrate).  A newer version than this build knows is
 * TF_EVERSION and changes nothing.
 */
static int sq_migrate(sq_conn *c, tf_err *err)
{
	int rc = sq_exec_sql(c,
			     "CREATE TABLE IF NOT EXISTS meta(key TEXT "
			     "PRIMARY KEY, value BLOB NOT NULL)",
			     err, "migrate");

	while (rc == 0) {
		int64_t v;
		char sql[96];

		rc = sq_exec(c, SQ_BEGIN_IMM, err, "migrate");
		if (rc)
			break;
		rc = sq_version(c, &v, err);
		if (rc == 0 && v > SQ_SCHEMA_VERSION)
			rc = tf_err_set(err, TF_EVERSION, "schema_version",
					"database schema version %lld is newer "
					"than this tenfourd knows (%lld); "
					"upgrade tenfourd",
					(long long)v,
					(long long)SQ_SCHEMA_VERSION);
		if (rc == 0 && v == SQ_SCHEMA_VERSION) {
			rc = sq_exec(c, SQ_COMMIT, err, "migrate");
			if (rc == 0)
				return 0;
		}
		if (rc == 0 && v >= 0 && v < SQ_SCHEMA_VERSION)
			rc = sq_exec_sql(c, sq_migrations[v], err, "migrate");
		else if (rc == 0)
			rc = sq_corrupt(err, "schema_version", "meta.value");
		if (rc == 0) {
			snprintf(sql, sizeof sql,
				 "INSERT OR REPLACE INTO meta(key, value) "
				 "VALUES('schema_version', '%lld')",
				 (long long)v + 1);
			rc = sq_exec_sql(c, sql, err, "migrate");
		}
		if (rc == 0)
			rc = sq_exec(c, SQ_COMMIT, err, "migrate");
		if (rc)
			sq_exec(c, SQ_ROLLBACK, NULL, "migrate");
	}
	return rc;
}

/* -------------------------------------------------------------- writer */

/* A job whose changes did not survive: TF_EIO, unless its own fn had
   already failed (its error says more, and nothing of it was stored). */
static void sq_fail_job(sq_job *j, const char *msg)
{
	if (j->rc >= 0)
		j->rc = tf_err_set(j->err, TF_EIO, "commit", "%s", msg);
}

/*
 * One group: BEGIN IMMEDIATE, each job in its own savepoint, the feed
 * counter stored (sq_chg_flush), COMMIT, then (in the caller) wake them.  A job whose fn fails is rolled back to its
 * savepoint; if the transaction itself breaks (SQLite rolled it back, a
 * savepoint or the COMMIT failed) every job that had succeeded gets
 * TF_EIO, because none of its changes is stored.
 */
static void sq_run_group(sq_db *db, sq_job *g)
{
	sq_conn *c = &db->w;
	sq_txn tx;
	sq_job *j;
	tf_err e;
	int broken = 0;

	memset(&tx, 0, sizeof tx);
	memset(&e, 0, sizeof e);
	tx.base.ops = &tf_db_sqlite_ops;
	tx.base.db = &db->base;
	tx.base.writable = 1;
	tx.c = c;
	for (j = g; j; j = j->next)
		j->rc = 0;
	if (sq_exec(c, SQ_BEGIN_IMM, &e, "begin") != 0) {
		for (j = g; j; j = j->next)
			sq_fail_job(j, e.msg);
		return;
	}
	for (j = g; j && !broken; j = j->next) {
		if (sq_exec(c, SQ_SAVEPOINT, &e, "savepoint") != 0) {
			broken = 1;
			break;
		}
		sq_in_callback = 1;
		j->rc = j->fn(&tx.base, j->arg, j->err);
		sq_in_callback = 0;
		while (tx.hexes) {
			sq_hex *h = tx.hexes;

			tx.hexes = h->next;
			free(h);
		}
		if (sqlite3_get_autocommit(c->h)) {
			/* SQLite rolled the whole transaction back (an I/O
			   error, a full disk): nothing of the group stays */
			tf_err_set(&e, TF_EIO, "commit",
				   "group transaction rolled back: sqlite: %s",
				   sqlite3_errmsg(c->h));
			broken = 1;
			break;
		}
		/* a failed fn's changes go; ROLLBACK TO keeps the savepoint
		   open, so it is released either way */
		if (j->rc < 0 &&
		    sq_exec(c, SQ_ROLLBACK_TO, &e, "rollback to") != 0)
			broken = 1;
		if (!broken && sq_exec(c, SQ_RELEASE, &e, "release") != 0)
			broken = 1;
	}
	if (!broken && sq_chg_flush(&tx, &e) != 0)
		broken = 1;
	if (!broken && sq_exec(c, SQ_COMMIT, &e, "commit") == 0)
		return;
	if (!sqlite3_get_autocommit(c->h))
		sq_exec(c, SQ_ROLLBACK, NULL, "rollback");
	for (j = g; j; j = j->next)
		sq_fail_job(j, e.msg);
}

static void *sq_writer_main(void *p)
{
	sq_db *db = p;

	pthread_mutex_lock(&db->mu);
	for (;;) {
		sq_job *g, *last, *j, *next;
		size_t n = 1;

		while (db->head == NULL && !db->closing)
			pthread_cond_wait(&db->wq_cv, &db->mu);
		if (db->head == NULL)
			break; /* closing, and the queue is drained */
		g = last = db->head;
		while (last->next && n < (size_t)db->opt.group_max) {
			last = last->next;
			n++;
		}
		db->head = last->next;
		if (db->head == NULL)
			db->tail = NULL;
		last->next = NULL;
		db->queued -= n;
		pthread_mutex_unlock(&db->mu);

		sq_run_group(db, g);

		pthread_mutex_lock(&db->mu);
		db->groups++;
		for (j = g; j; j = next) {
			next = j->next; /* j dies once its caller wakes */
			j->done = 1;
			pthread_cond_signal(&j->cv);
		}
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

static int sq_write(tf_db *d, tf_db_txn_fn fn, void *arg, tf_err *err)
{
	sq_db *db = (sq_db *)d;
	sq_job j;
	int rc;

	assert(d != NULL && d->ops == &tf_db_sqlite_ops);
	if (fn == NULL)
		return tf_err_set(err, TF_EINVAL, "fn", "tf_db_write: no fn");
	if (sq_in_callback)
		return tf_err_set(err, TF_EINVAL, "tf_db_write",
				  "tf_db_write called inside a transaction "
				  "callback");
	memset(&j, 0, sizeof j);
	j.fn = fn;
	j.arg = arg;
	j.err = err;
	if (pthread_cond_init(&j.cv, NULL) != 0)
		return tf_err_set(err, TF_ENOMEM, "tf_db_write",
				  "tf_db_write: cannot create a condition "
				  "variable");
	pthread_mutex_lock(&db->mu);
	if (db->closing || db->queued >= SQ_QUEUE_MAX) {
		rc = tf_err_set(err, TF_EBUSY, "tf_db_write",
				db->closing ? "database is closing"
					    : "too many writes waiting");
		pthread_mutex_unlock(&db->mu);
		pthread_cond_destroy(&j.cv);
		return rc;
	}
	if (db->tail)
		db->tail->next = &j;
	else
		db->head = &j;
	db->tail = &j;
	db->queued++;
	pthread_cond_signal(&db->wq_cv);
	while (!j.done)
		pthread_cond_wait(&j.cv, &db->mu);
	pthread_mutex_unlock(&db->mu);
	pthread_cond_destroy(&j.cv);
	return j.rc;
}

/* -------------------------------------------------------------- reader */

static int sq_read(tf_db *d, tf_db_txn_fn fn, void *arg, tf_err *err)
{
	sq_db *db = (sq_db *)d;
	struct timespec deadline;
	sq_txn tx;
	tf_err e;
	int i = -1, rc = 0;

	assert(d != NULL && d->ops == &tf_db_sqlite_ops);
	if (fn == NULL)
		return tf_err_set(err, TF_EINVAL, "fn", "tf_db_read: no fn");
	if (sq_in_callback)
		return tf_err_set(err, TF_EINVAL, "tf_db_read",
				  "tf_db_read called inside a transaction "
				  "callback");
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += SQ_READ_WAIT_MS / 1000;
	pthread_mutex_lock(&db->mu);
	while (!db->closing && rc == 0) {
		for (i = 0; i < db->nrd && db->rd_busy[i]; i++)
			;
		if (i < db->nrd)
			break;
		if (pthread_cond_timedwait(&db->rd_cv, &db->mu, &deadline) ==
		    ETIMEDOUT)
			rc = tf_err_set(err, TF_EBUSY, "tf_db_read",
					"all %d read connections stayed busy "
					"for %d ms",
					db->nrd, SQ_READ_WAIT_MS);
	}
	if (rc == 0 && db->closing)
		rc = tf_err_set(err, TF_EBUSY, "tf_db_read",
				"database is closing");
	if (rc == 0)
		db->rd_busy[i] = 1;
	pthread_mutex_unlock(&db->mu);
	if (rc)
		return rc;

	memset(&tx, 0, sizeof tx);
	tx.base.ops = &tf_db_sqlite_ops;
	tx.base.db = d;
	tx.c = &db->rd[i];
	/* BEGIN alone takes no snapshot; the first read does */
	rc = sq_exec(tx.c, SQ_BEGIN, err, "begin");
	if (rc == 0) {
		rc = sq_exec(tx.c, SQ_SNAPSHOT, err, "snapshot");
		if (rc == 0) {
			sq_in_callback = 1;
			rc = fn(&tx.base, arg, err);
			sq_in_callback = 0;
		}
		if (!sqlite3_get_autocommit(tx.c->h) &&
		    sq_exec(tx.c, SQ_COMMIT, &e, "commit") != 0)
			sq_exec(tx.c, SQ_ROLLBACK, NULL, "rollback");
	}

	pthread_mutex_lock(&db->mu);
	db->rd_busy[i] = 0;
	pthread_cond_broadcast(&db->rd_cv);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* ---------------------------------------------------------- open/close */

static void sq_free(sq_db *db)
{
	int i;

	if (db->rd != NULL)
		for (i = 0; i < db->nrd; i++)
			sq_conn_close(&db->rd[i]);
	sq_conn_close(&db->w);
	free(db->rd);
	free(db->rd_busy);
	pthread_cond_destroy(&db->rd_cv);
	pthread_cond_destroy(&db->wq_cv);
	pthread_mutex_destroy(&db->mu);
	free(db);
}

static void sq_close(tf_db *d)
{
	sq_db *db = (sq_db *)d;
	int i;

	if (d == NULL)
		return;
	assert(d->ops == &tf_db_sqlite_ops);
	pthread_mutex_lock(&db->mu);
	db->closing = 1;
	pthread_cond_broadcast(&db->wq_cv);
	pthread_cond_broadcast(&db->rd_cv);
	/* reads in flight finish on their own connection first */
	for (;;) {
		for (i = 0; i < db->nrd && !db->rd_busy[i]; i++)
			;
		if (i == db->nrd)
			break;
		pthread_cond_wait(&db->rd_cv, &db->mu);
	}
	pthread_mutex_unlock(&db->mu);
	if (db->writer_started)
		pthread_join(db->writer, NULL);
	sq_free(db);
}

/* Creates the file 0600 if it is missing (SQLite would use 0644); its
   -wal and -shm files take the database file's mode. */
static int sq_create_file(const char *path, tf_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return tf_err_set(err, TF_EIO, "dsn", "open database file: %s",
				  strerror(errno));
	close(fd);
	return 0;
}

static int sq_options(const tf_db_options *o, tf_db_options *out, tf_err *err)
{
	if (o == NULL) {
		tf_db_options_default(out);
		return 0;
	}
	if (o->readers < 1 || o->readers > SQ_READERS_MAX)
		return tf_err_set(err, TF_ERANGE, "readers",
				  "readers is %d; allowed 1..%d", o->readers,
				  SQ_READERS_MAX);
	if (o->group_max < 1 || o->group_max > SQ_GROUP_MAX)
		return tf_err_set(err, TF_ERANGE, "group_max",
				  "group_max is %d; allowed 1..%d",
				  o->group_max, SQ_GROUP_MAX);
	*out = *o;
	out->fsync = o->fsync != 0;
	return 0;
}

/*
 * Opens "sqlite:<path>" or a bare path: creates the file (0600), WAL,
 * migrations, the read pool and the writer thread.  Errors: TF_EINVAL
 * (empty or overlong path), TF_ERANGE (options), TF_EVERSION (a newer
 * schema), TF_EIO (SQLite or the system), TF_ENOMEM.
 */
static int sq_open(const char *dsn, const tf_db_options *o, tf_db **out,
		   tf_err *err)
{
	const char *path = dsn;
	pthread_condattr_t ca;
	sq_db *db = NULL;
	int i, rc;

	if (out)
		*out = NULL;
	if (dsn == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "dsn",
				  "sqlite open: dsn and out are required");
	if (strncmp(path, "sqlite:", 7) == 0)
		path += 7;
	if (path[0] == '\0' || strlen(path) >= SQ_PATH_MAX)
		return tf_err_set(err, TF_EINVAL, "dsn",
				  "sqlite DSN needs a path of 1..%d bytes",
				  SQ_PATH_MAX - 1);
	if (sqlite3_threadsafe() == 0)
		return tf_err_set(err, TF_EIO, "sqlite",
				  "this SQLite is built without threads");
	db = calloc(1, sizeof *db);
	if (db == NULL)
		return tf_err_set(err, TF_ENOMEM, "dsn",
				  "sqlite open: no memory");
	db->base.ops = &tf_db_sqlite_ops;
	rc = sq_options(o, &db->opt, err);
	if (rc) {
		free(db);
		return rc;
	}
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->wq_cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->rd_cv, &ca);
	pthread_condattr_destroy(&ca);

	rc = sq_create_file(path, err);
	if (rc == 0)
		rc = sq_conn_open(&db->w, path, 1, &db->opt, err);
	if (rc == 0)
		rc = sq_wal(&db->w, err);
	if (rc == 0)
		rc = sq_migrate(&db->w, err);
	if (rc)
		goto out;
	db->rd = calloc((size_t)db->opt.readers, sizeof *db->rd);
	db->rd_busy = calloc((size_t)db->opt.readers, 1);
	if (db->rd == NULL || db->rd_busy == NULL) {
		rc = tf_err_set(err, TF_ENOMEM, "dsn",
				"sqlite open: no memory");
		goto out;
	}
	for (i = 0; i < db->opt.readers && rc == 0; i++) {
		rc = sq_conn_open(&db->rd[i], path, 0, &db->opt, err);
		if (rc == 0)
			db->nrd = i + 1;
	}
	if (rc)
		goto out;
	if (pthread_create(&db->writer, NULL, sq_writer_main, db) != 0) {
		rc = tf_err_set(err, TF_EIO, "dsn",
				"sqlite open: cannot start the writer thread");
		goto out;
	}
	db->writer_started = 1;
	*out = &db->base;
	return 0;
out:
	sq_free(db);
	return rc;
}

int tf_db_sqlite_groups(tf_db *d, uint64_t *groups)
{
	sq_db *db = (sq_db *)d;

	if (d == NULL || groups == NULL || d->ops != &tf_db_sqlite_ops)
		return TF_EINVAL;
	pthread_mutex_lock(&db->mu);
	*groups = db->groups;
	pthread_mutex_unlock(&db->mu);
	return 0;
}

int tf_db_sqlite_queued(tf_db *d, size_t *n)
{
	sq_db *db = (sq_db *)d;

	if (d == NULL || n == NULL || d->ops != &tf_db_sqlite_ops)
		return TF_EINVAL;
	pthread_mutex_lock(&db->mu);
	*n = db->queued;
	pthread_mutex_unlock(&db->mu);
	return 0;
}

const tf_db_ops tf_db_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.read = sq_read,
	.write = sq_write,
	.meta_get = sq_meta_get,
	.meta_put = sq_meta_put,
	.agency_get = sq_agency_get,
	.agency_put = sq_agency_put,
	.user_get = sq_user_get,
	.user_put = sq_user_put,
	.device_get = sq_device_get,
	.device_put = sq_device_put,
	.session_get = sq_session_get,
	.session_put = sq_session_put,
	.session_revoke_all = sq_session_revoke_all,
	.ledger_last = sq_ledger_last,
	.ledger_get_seq = sq_ledger_get_seq,
	.ledger_get_cmd = sq_ledger_get_cmd,
	.ledger_put = sq_ledger_put,
	.record_get = sq_record_get,
	.record_put = sq_record_put,
	.records_since = sq_records_since,
	.head_chg = sq_head_chg,
	.records_count_since = sq_records_count_since,
	.textrev_put = sq_textrev_put,
	.textrev_list = sq_textrev_list,
	.conflict_put = sq_conflict_put,
	.conflict_del = sq_conflict_del,
	.conflict_list = sq_conflict_list,
	.audit_append = sq_audit_append,
	.audit_scan = sq_audit_scan,
	.devaudit_head = sq_devaudit_head,
	.devaudit_put = sq_devaudit_put,
	.devaudit_scan = sq_devaudit_scan,
	.stats = sq_stats,
};
