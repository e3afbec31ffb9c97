/*
 * store_testing.h - views into a tf_store for tests/client/test_store.c
 * only: the raw key material and the stored keyring, so that the at-rest
 * test can prove none of it reaches a file.  Declared only when the
 * includer defines TF_STORE_TESTING; never used by the client or the CLI.
 */
#ifndef TF_STORE_TESTING_H
#define TF_STORE_TESTING_H

#ifdef TF_STORE_TESTING

#include "store/store.h"

/* The DEK of generation gen (store unlocked): TF_ENOTFOUND past the last
   generation, TF_ELOCKED when locked. */
int tf_store_testing_dek(const tf_store *st, uint32_t gen, uint8_t out[32]);
/* The key wrapping the keyring inside (from the secret), unlocked only. */
int tf_store_testing_kek(const tf_store *st, uint8_t out[32]);
/* The wrapped keyring as stored (appended to out); TF_ENOTFOUND if none. */
int tf_store_testing_keyring(tf_store *st, tf_buf *out);
/* The seal count reserved in the database for generation gen (-1: the
   device key); TF_ENOTFOUND when no row. */
int tf_store_testing_reserved(tf_store *st, int64_t gen, uint64_t *reserved);

/* Step 1 of tf_store_wipe alone (the keyring erased, the WAL truncated),
   so a test can read the files a crash after it would leave. */
int tf_store_testing_erase_keyring(tf_store *st, tf_err *err);

#endif
#endif
