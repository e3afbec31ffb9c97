/*
 * sqlite.h - private introspection of the SQLite backend (db/sqlite.c),
 * for its tests and the server's metrics.  Everything else goes through
 * db.h.
 */
#ifndef TF_DB_SQLITE_H
#define TF_DB_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include "server/db/db.h"

/*
 * *groups gets how many group transactions the writer has run since open
 * (each one BEGIN ... COMMIT, one fsync at the durable default); together
 * with the number of tf_db_write calls this shows group commit at work.
 * TF_EINVAL when db is not a SQLite database.
 */
int tf_db_sqlite_groups(tf_db *db, uint64_t *groups);

/* *n gets the number of writes waiting for the writer right now (not
   counting the group it is running).  TF_EINVAL when db is not SQLite. */
int tf_db_sqlite_queued(tf_db *db, size_t *n);

#endif
