/*
 * daemon_config.h - the command line and environment of `cameo serve`:
 * every setting, its flag, its CAMEO_* variable and its default, in one
 * table. Flags override the environment, which overrides the defaults.
 */
#ifndef CAMEO_DAEMON_CONFIG_H
#define CAMEO_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cameo_config {
    char host[64];
    unsigned port;
    char data_dir[4096];
    unsigned workers;
    char admin_token[256]; /* "" until given or loaded */
    size_t mem_limit;
    int log_level;
    size_t max_avatar_size;
    uint64_t ttl_ms, grace_ms, negative_ttl_ms;
    uint64_t stale_if_error_ms; /* 0: off */
    uint64_t refresh_ahead_ms;  /* 0: off */
    char redis_url[1024];       /* "" without Redis; may hold a password: never print it */
    char redis_prefix[128];
    uint64_t redis_timeout_ms;
    unsigned sse_max; /* GET /v1/events streams at once */
    uint64_t sse_keepalive_ms;
    unsigned events_backlog; /* events kept for Last-Event-ID resume */
    /* The HTTP user-service origin (read-only), instead of the embedded store's profiles. */
    char users_url[2049];       /* "" for none */
    char users_batch_url[2049]; /* "" for none */
    unsigned users_batch_size;
    uint64_t origin_timeout_ms, origin_connect_timeout_ms;
    unsigned origin_retries, origin_concurrency, breaker_failures;
    uint64_t breaker_open_ms;
    /* Mode 2 avatars: the profile member naming the object (a JSON pointer,
     * "" for none; needs users_url and blobs_s3) and its key template. */
    char avatar_field[257];
    char avatar_key_template[513]; /* contains {value}; after the bucket's prefix */
    char warm_file[4096];          /* "" for none */

    /* Avatar bytes in S3 (--blobs s3://BUCKET[/PREFIX]); see docs/origins.md. */
    int blobs_s3;          /* 0: in the embedded store (--blobs local) */
    char s3_bucket[64];    /* S3 naming rules, checked here */
    char s3_prefix[513];   /* "" for none; no leading or trailing '/' */
    char s3_endpoint[300]; /* "" means https://s3.REGION.amazonaws.com */
    char s3_region[33];
    int s3_path_style;
    /* Credentials: flag, else CAMEO_S3_*, else AWS_ACCESS_KEY_ID /
     * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. Never print them. */
    char s3_access_key[129];
    char s3_secret_key[129];
    char s3_session_token[4097];
    uint64_t s3_timeout_ms, s3_connect_timeout_ms;
    unsigned s3_max_concurrent;
    int avatar_presigned; /* --avatar-delivery presigned */
    uint64_t presign_bucket_ms, presign_min_validity_ms;
    uint64_t blob_retention_ms; /* superseded avatar versions (and their S3 objects) kept this long */
    int seed_demo;              /* seed demo users into an empty store (daemon_seed.h) */
} cameo_config_t;

/* Parses the arguments of `serve` (argv[0] is the first flag) over the
 * environment. Returns 0, or -1 with a one-line message naming the flag in
 * errbuf (the caller prints it and exits 2). */
int cameo_config_parse(cameo_config_t *cfg, int argc, char **argv, char *errbuf, size_t errlen);

/* Prints the flags, their variables and defaults. */
void cameo_config_usage(void);

/* Parsers shared with tests: sizes ("256MiB", "64K", "1048576") and
 * durations ("10s", "250ms", "5m", "1h", "7d"). Return 0 or -1. */
int cameo_parse_size(const char *s, size_t *out);
int cameo_parse_duration(const char *s, uint64_t *out_ms);

#endif
