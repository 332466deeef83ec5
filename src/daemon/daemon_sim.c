/*
 * daemon_sim.c - cameo-sim: replays a key trace through the cache engine
 * (src/core/core_cache.c, the same code the daemon runs) and prints its miss
 * ratio.
 *
 * Run by hand and by bench/hitratio.sh. A trace is one key per line, gzip or
 * plain (zlib's gzopen reads both). Every object costs one unit of capacity
 * (unit_charge), the cache has one shard, nothing expires: for each key the
 * simulator looks it up and, on a miss, inserts an empty entry. Output is one
 * line: requests=R misses=M miss_ratio=X.
 *
 * Exit status: 0 on success, 1 when the trace cannot be read, 2 for bad usage.
 */
#include "cameo/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LINE_MAX_BYTES (65535 + 2) /* longest key, newline, NUL */

static const char usage[] =
    "usage: cameo-sim --capacity N [--policy s3fifo|s3fifo-tlfu|lru] [--move-to-main K]\n"
    "                 [--small-ratio R] TRACE\n"
    "  Replays TRACE (one key per line, gzip or plain) through the cache engine,\n"
    "  every object costing one unit, and prints: requests=R misses=M miss_ratio=X\n"
    "  --capacity N       cache size in objects (> 0), required\n"
    "  --policy P         s3fifo (default), s3fifo-tlfu (S3-FIFO + TinyLFU admission) or lru\n"
    "  --move-to-main K   S3-FIFO(s): hits in small that move an object to main (1-3; default 2)\n"
    "  --small-ratio R    S3-FIFO: small queue share of the capacity (0 < R < 1; default 0.10)\n";

static int bad_flag(const char *flag, const char *why)
{
    fprintf(stderr, "cameo-sim: %s: %s (see --help)\n", flag, why);
    return 2;
}

static int parse_ulong(const char *s, unsigned long long *out)
{
    char *end;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Replays the trace; returns 0, or -1 with errno-style failure reported. */
static int replay(cameo_cache_t *cache, const char *path, unsigned long long *requests,
                  unsigned long long *misses)
{
    static char line[LINE_MAX_BYTES];
    gzFile f = gzopen(path, "rb");
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "cameo-sim: %s: cannot open: %s\n", path, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    while (gzgets(f, line, sizeof(line)) != NULL) {
        size_t len = strlen(line);
        cameo_entry_t *e = NULL;

        if (len > 0 && line[len - 1] == '\n')
            len--;
        else if (len == sizeof(line) - 1) {
            fprintf(stderr, "cameo-sim: %s: line %llu longer than 65535 bytes\n", path, *requests + 1);
            goto err;
        }
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        (*requests)++;
        if (cameo_cache_lookup(cache, line, len, 0, &e) == CAMEO_ENOTFOUND) {
            (*misses)++;
            e = cameo_entry_alloc(line, len, 0);
            if (e == NULL) {
                fprintf(stderr, "cameo-sim: out of memory\n");
                goto err;
            }
            e->expires_at = e->stale_until = UINT64_MAX;
            if (cameo_cache_insert(cache, e, 0) != CAMEO_OK) {
                fprintf(stderr, "cameo-sim: insert failed\n");
                cameo_entry_unref(e);
                goto err;
            }
        }
        cameo_entry_unref(e);
    }
    if (!gzeof(f)) {
        int zerr;
        const char *msg = gzerror(f, &zerr);

        fprintf(stderr, "cameo-sim: %s: read error: %s\n", path, zerr == Z_ERRNO ? strerror(errno) : msg);
        goto err;
    }
    rc = 0;
err:
    gzclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    cameo_cache_config_t cfg = {.policy = CAMEO_POLICY_S3FIFO, .shards = 1, .unit_charge = 1};
    unsigned long long v, requests = 0, misses = 0;
    const char *trace = NULL;
    cameo_cache_t *cache = NULL;
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--capacity") == 0) {
            if (parse_ulong(val, &v) != 0 || v == 0 || v > SIZE_MAX)
                return bad_flag(a, "expects a positive integer");
            cfg.capacity = (size_t)v;
            i++;
        } else if (strcmp(a, "--policy") == 0) {
            if (val != NULL && strcmp(val, "s3fifo") == 0)
                cfg.policy = CAMEO_POLICY_S3FIFO;
            else if (val != NULL && strcmp(val, "s3fifo-tlfu") == 0)
                cfg.policy = CAMEO_POLICY_S3FIFO_TLFU;
            else if (val != NULL && strcmp(val, "lru") == 0)
                cfg.policy = CAMEO_POLICY_LRU;
            else
                return bad_flag(a, "expects s3fifo, s3fifo-tlfu or lru");
            i++;
        } else if (strcmp(a, "--move-to-main") == 0) {
            if (parse_ulong(val, &v) != 0 || v < 1 || v > 3)
                return bad_flag(a, "expects 1, 2 or 3");
            cfg.move_to_main = (unsigned)v;
            i++;
        } else if (strcmp(a, "--small-ratio") == 0) {
            char *end = NULL;
            double r = val != NULL ? strtod(val, &end) : 0;

            if (val == NULL || end == val || *end != '\0' || !(r > 0 && r < 1))
                return bad_flag(a, "expects a number between 0 and 1");
            cfg.small_ratio = r;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bad_flag(a, "unknown flag");
        } else if (trace != NULL) {
            return bad_flag(a, "only one trace may be given");
        } else {
            trace = a;
        }
    }
    if (cfg.capacity == 0)
        return bad_flag("--capacity", "is required");
    if (trace == NULL)
        return bad_flag("TRACE", "is required");

    rc = cameo_cache_create(&cfg, &cache);
    if (rc != CAMEO_OK) {
        fprintf(stderr, "cameo-sim: cannot create the cache: %s\n", cameo_strerror(rc));
        return 1;
    }
    rc = replay(cache, trace, &requests, &misses);
    cameo_cache_destroy(cache);
    if (rc != 0)
        return 1;
    printf("requests=%llu misses=%llu miss_ratio=%.6f\n", requests, misses,
           requests != 0 ? (double)misses / (double)requests : 0.0);
    return 0;
}
