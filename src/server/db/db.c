/*
 * db.c - the backend-neutral part of tenfourd's storage (db.h): picks the
 * backend from the DSN's scheme, the default options, and the helpers
 * that free what the getters hand out.  The backends live beside it
 * (sqlite.c; a PostgreSQL one implements the same tf_db_ops).
 */
#include "server/db/db.h"

#include <stdlib.h>
#include <string.h>

/* Longest scheme name quoted back in an error (the rest of a DSN may hold
   a password and is never echoed). */
#define DB_SCHEME_MAX 32

void tf_db_options_default(tf_db_options *o)
{
	memset(o, 0, sizeof *o);
	o->fsync = 1;
	o->readers = 8;
	o->group_max = 256;
}

void tf_db_ledger_clear(tf_db_ledger *l)
{
	if (l == NULL)
		return;
	free(l->result);
	l->result = NULL;
	l->result_len = 0;
}

void tf_db_record_clear(tf_db_record *r)
{
	if (r == NULL)
		return;
	free(r->state);
	r->state = NULL;
	r->state_len = 0;
}

static int db_is_scheme_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	if (first)
		return 0;
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/*
 * The length of the DSN's scheme (the letters before its first ':'), or 0
 * for a bare path.  One letter before ':' is a drive letter, not a scheme;
 * anything with a '/' before the ':' is a path.
 */
static size_t db_scheme_len(const char *dsn)
{
	size_t i = 0;

	while (dsn[i] != '\0' && db_is_scheme_char(dsn[i], i == 0))
		i++;
	if (dsn[i] != ':' || i < 2)
		return 0;
	return i;
}

/*
 * Dispatches on the scheme: "sqlite:<path>" or a bare path open the
 * SQLite backend (which strips the scheme itself).  Any other scheme is
 * TF_EINVAL naming it (only the scheme: the rest of a DSN may carry
 * credentials).  Options are range-checked by the backend.
 */
int tf_db_open(const char *dsn, const tf_db_options *o, tf_db **out,
	       tf_err *err)
{
	size_t n;

	if (out)
		*out = NULL;
	if (dsn == NULL || out == NULL)
		return tf_err_set(err, TF_EINVAL, "dsn",
				  "tf_db_open: dsn and out are required");
	if (dsn[0] == '\0')
		return tf_err_set(err, TF_EINVAL, "dsn",
				  "database DSN is empty (expected "
				  "\"sqlite:<path>\" or a path)");
	n = db_scheme_len(dsn);
	if (n == 0 || (n == 6 && strncmp(dsn, "sqlite", 6) == 0))
		return tf_db_sqlite_ops.open(dsn, o, out, err);
	return tf_err_set(err, TF_EINVAL, "dsn",
			  "database DSN scheme \"%.*s\" is not supported by "
			  "this build (supported: \"sqlite:<path>\")",
			  (int)(n > DB_SCHEME_MAX ? DB_SCHEME_MAX : n), dsn);
}

void tf_db_close(tf_db *db)
{
	if (db != NULL)
		db->ops->close(db);
}
