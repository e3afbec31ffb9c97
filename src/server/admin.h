/*
 * admin.h - `tenfourd admin ...`: the operator's command line over the
 * tf_admin_* services of server.h (admin.c), and the demo agency seed.
 * docs/OPERATIONS.md is the operator's reference.
 */
#ifndef TF_ADMIN_H
#define TF_ADMIN_H

#include <stdio.h>

#include "server/server.h"

/*
 * Runs `tenfourd admin [options] <command> ...`; argv[0] is "admin" (the
 * word after "tenfourd").  Output goes to stdout, errors to stderr.
 * Returns the process exit status: 0 done, 1 the operation failed (the
 * message names what and where), 2 a usage error.
 */
int tf_admin_main(int argc, char **argv);

/* The demo agency's id and the address demo.sh serves it on. */
#define TF_ADMIN_DEMO_AGENCY "demo"
#define TF_ADMIN_DEMO_SERVER "http://127.0.0.1:8410"

/*
 * Seeds the demo agency of DOMAIN.md into s (opened, identity loaded):
 * agency "demo" with the default CJIS policy and an AC-8 banner, its
 * users (fixed demo passwords, fresh TOTP secrets), devices with fresh
 * Ed25519 keys whose private PEMs are written to out_dir/devices/<id>.pem
 * (0600), out_dir/credentials.json (0600), and the incidents, units and
 * BOLOs pushed through tf_sync_push as the dispatcher on console-1.
 * `report` (may be NULL) gets the human-readable summary.  TF_EEXIST when
 * the agency is already there (nothing is changed then).  A failure half
 * way leaves what was written (each step is its own audited write).
 */
int tf_admin_seed_demo(tf_srv *s, const char *out_dir, int64_t now_ms,
		       FILE *report, tf_err *err);

#endif
