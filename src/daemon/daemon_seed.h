/*
 * daemon_seed.h - demo data for `cameo serve --seed-demo`: 50 users with
 * names, titles and generated PNG avatars, written through the origin when
 * the store holds no user yet, so `make run` shows a populated /demo.
 *
 * Called by daemon_main.c before the engine exists (nothing is cached yet,
 * so nothing needs invalidating), and by tests/unit/test_daemon_seed.c.
 */
#ifndef CAMEO_DAEMON_SEED_H
#define CAMEO_DAEMON_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "cameo/origin.h"

#define CAMEO_SEED_USERS 50

/* When o holds no user: creates CAMEO_SEED_USERS users (profiles, then the
 * avatars of all but every tenth, which keep the initials placeholder), and
 * waits for every write. now_wall: ms since the epoch, stored as
 * updated_at. Returns the number of users created (0 when the store already
 * had users), or a negative CAMEO_E* code (CAMEO_ENOTSUP when o cannot list
 * users); a failure may leave some users written. */
int cameo_seed_demo(cameo_origin_t *o, uint64_t now_wall);

/* The generated avatar of user number i (0-based) as PNG bytes: a 96x96
 * symmetric 5x5 pattern in a colour derived from i. Returns CAMEO_OK with
 * *out (malloc'd, the caller frees it) and *len, or CAMEO_ENOMEM. */
int cameo_seed_png(unsigned i, unsigned char **out, size_t *len);

/* The id and display name of user number i < CAMEO_SEED_USERS (static
 * strings, e.g. "ada-lovelace" and "Ada Lovelace"). */
const char *cameo_seed_id(unsigned i);
const char *cameo_seed_name(unsigned i);

#endif
