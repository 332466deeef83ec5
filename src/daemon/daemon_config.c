/*
 * daemon_config.c - flags, environment variables and defaults of
 * `cameo serve`. See daemon_config.h.
 */
#include "daemon/daemon_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cameo/log.h"

typedef enum {
    T_LISTEN,   /* HOST:PORT or [V6]:PORT */
    T_PATH,     /* a file or directory path */
    T_NUMBER,   /* an integer from min to max */
    T_SECRET,   /* min to max printable characters without spaces, never echoed */
    T_SIZE,     /* bytes, with an optional unit (KiB, MiB, GiB) */
    T_LEVEL,    /* debug | info | warn | error */
    T_DURATION, /* ms, s, m, h or d, from min to max ms (max 0: no limit), a multiple of step ms */
    T_URL,      /* redis://..., never echoed (it may hold a password) */
    T_PREFIX,   /* 1 to 127 printable characters */
    T_HTTP_URL, /* http(s)://..., at most 2048 bytes */
    T_BLOBS,    /* local | s3://BUCKET[/PREFIX] */
    T_ENDPOINT, /* http(s)://HOST[:PORT] */
    T_REGION,   /* [a-z0-9-]{1,32} */
    T_BOOL,     /* true/false, 1/0, yes/no; the flag alone means true */
    T_DELIVERY, /* proxy | presigned */
    T_POINTER,  /* a JSON pointer: '/' then printable ASCII, at most 256 bytes */
    T_TEMPLATE  /* an object key template: [A-Za-z0-9._/-] and {value}, at most 512 bytes */
} opt_type_t;

/* One flag. min, max and step bound T_NUMBER, T_DURATION and T_SECRET
 * (its length); the target of offset is an unsigned (T_NUMBER), a uint64_t
 * of ms (T_DURATION) or a char array of at least max + 1 (T_SECRET). */
typedef struct opt {
    const char *flag, *env, *def, *help;
    opt_type_t type;
    size_t offset;
    uint64_t min, max, step;
} opt_t;

/* Standard variables read when a flag's own CAMEO_* variable is unset. */
static const struct {
    const char *flag, *env;
} env_fallbacks[] = {
    {"--s3-access-key", "AWS_ACCESS_KEY_ID"},
    {"--s3-secret-key", "AWS_SECRET_ACCESS_KEY"},
    {"--s3-session-token", "AWS_SESSION_TOKEN"},
};

static const char *env_fallback(const char *flag)
{
    for (size_t i = 0; i < sizeof(env_fallbacks) / sizeof(env_fallbacks[0]); i++)
        if (strcmp(env_fallbacks[i].flag, flag) == 0)
            return env_fallbacks[i].env;
    return NULL;
}

#define OFF(f) offsetof(cameo_config_t, f)
/* Rows name their target (and bounds) with designators: the rest is zero. */
#define AT(f) .offset = OFF(f)
#define AT0 .offset = 0 /* a type that fills several fields itself */
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define SECRET(f, lo) AT(f), RANGE(lo, sizeof(((cameo_config_t *)0)->f) - 1) /* T_SECRET filling f */
#define TIMEOUT RANGE(1, 60000) /* T_DURATION of a network wait: 1 ms to 60 s */
#define COUNT RANGE(1, 1000000) /* T_NUMBER of things */

static const opt_t opts[] = {
    {"--listen", "CAMEO_LISTEN", "127.0.0.1:8080", "address and port to serve on ([::1]:8080 for IPv6)",
     T_LISTEN, AT0},
    {"--data", "CAMEO_DATA", "./cameo-data", "directory of the embedded store and the admin token", T_PATH,
     AT(data_dir)},
    {"--workers", "CAMEO_WORKERS", NULL, "event-loop threads (default: number of cores)", T_NUMBER,
     AT(workers), RANGE(1, 256)},
    {"--admin-token", "CAMEO_ADMIN_TOKEN", NULL,
     "Bearer token of admin requests (default: generated, kept in DATA)", T_SECRET, SECRET(admin_token, 16)},
    {"--mem-limit", "CAMEO_MEM_LIMIT", "256MiB", "bytes of the memory tier, counting keys and metadata",
     T_SIZE, AT(mem_limit)},
    {"--log-level", "CAMEO_LOG_LEVEL", "info", "debug (with access log), info, warn or error", T_LEVEL,
     AT(log_level)},
    {"--max-avatar-size", "CAMEO_MAX_AVATAR_SIZE", "5MiB", "largest avatar upload", T_SIZE,
     AT(max_avatar_size)},
    {"--blob-retention", "CAMEO_BLOB_RETENTION", "7d",
     "a replaced or deleted avatar stays readable at least this long, then its bytes (its S3 object with "
     "--blobs "
     "s3://) are deleted",
     T_DURATION, AT(blob_retention_ms), RANGE(1, 0)},
    {"--ttl", "CAMEO_TTL", "5m", "how long a cached profile is fresh", T_DURATION, AT(ttl_ms)},
    {"--grace", "CAMEO_GRACE", "1m", "after the TTL, served stale while one refresh runs", T_DURATION,
     AT(grace_ms)},
    {"--negative-ttl", "CAMEO_NEGATIVE_TTL", "10s", "how long \"no such user\" is cached", T_DURATION,
     AT(negative_ttl_ms)},
    {"--refresh-ahead", "CAMEO_REFRESH_AHEAD", "30s",
     "in this last part of a profile's TTL, reads refresh it in the background, the more likely the "
     "hotter (at most half the TTL; 0s: never)",
     T_DURATION, AT(refresh_ahead_ms)},
    {"--stale-if-error", "CAMEO_STALE_IF_ERROR", "24h",
     "how long after its TTL a profile is kept to answer when the origin fails (the larger of this and "
     "--grace; 0s: never)",
     T_DURATION, AT(stale_if_error_ms)},
    {"--redis", "CAMEO_REDIS", NULL,
     "L2 shared by instances: redis://[user:password@]host:port[/db] (default: none)", T_URL, AT(redis_url)},
    {"--redis-prefix", "CAMEO_REDIS_PREFIX", "cameo:", "namespace of cameo's keys in Redis", T_PREFIX,
     AT(redis_prefix)},
    {"--redis-timeout", "CAMEO_REDIS_TIMEOUT", "50ms",
     "per Redis command; then the read goes on without Redis", T_DURATION, AT(redis_timeout_ms), TIMEOUT},
    {"--sse-max", "CAMEO_SSE_MAX", "1024", "GET /v1/events streams at once (503 past it)", T_NUMBER,
     AT(sse_max), COUNT},
    {"--sse-keepalive", "CAMEO_SSE_KEEPALIVE", "15s", "comment line sent on an idle event stream", T_DURATION,
     AT(sse_keepalive_ms), TIMEOUT},
    {"--events-backlog", "CAMEO_EVENTS_BACKLOG", "1024", "events kept for Last-Event-ID resume", T_NUMBER,
     AT(events_backlog), COUNT},
    {"--warm-file", "CAMEO_WARM_FILE", NULL,
     "after start, load the user ids in this file (one per line) and their avatars, as POST /v1/warm does",
     T_PATH, AT(warm_file)},
    {"--users-url", "CAMEO_USERS_URL", NULL,
     "read profiles from an HTTP user service, GET http(s)://host/users/{id} (read-only; default: the "
     "embedded store)",
     T_HTTP_URL, AT(users_url)},
    {"--users-batch-url", "CAMEO_USERS_BATCH_URL", NULL,
     "its batch lookup, POST {\"ids\": [...]} (default: none, one GET per id)", T_HTTP_URL,
     AT(users_batch_url)},
    {"--users-batch-size", "CAMEO_USERS_BATCH_SIZE", "50", "ids per batch lookup (at most 1000)", T_NUMBER,
     AT(users_batch_size), RANGE(1, 1000)},
    {"--origin-timeout", "CAMEO_ORIGIN_TIMEOUT", "3s", "per user-service request attempt", T_DURATION,
     AT(origin_timeout_ms), TIMEOUT},
    {"--origin-connect-timeout", "CAMEO_ORIGIN_CONNECT_TIMEOUT", "1s", "to connect to the user service",
     T_DURATION, AT(origin_connect_timeout_ms), TIMEOUT},
    {"--origin-retries", "CAMEO_ORIGIN_RETRIES", "2",
     "more attempts after a failure that may pass (0 to 10; jittered backoff)", T_NUMBER, AT(origin_retries),
     RANGE(0, 10)},
    {"--origin-concurrency", "CAMEO_ORIGIN_CONCURRENCY", "16", "user-service requests in flight per worker",
     T_NUMBER, AT(origin_concurrency), COUNT},
    {"--breaker-failures", "CAMEO_BREAKER_FAILURES", "5",
     "failed user-service requests in a row that open the circuit breaker", T_NUMBER, AT(breaker_failures),
     COUNT},
    {"--breaker-open", "CAMEO_BREAKER_OPEN", "5s", "how long the open breaker fails calls before a probe",
     T_DURATION, AT(breaker_open_ms), TIMEOUT},
    {"--avatar-field", "CAMEO_AVATAR_FIELD", NULL,
     "with --users-url and --blobs s3://: JSON pointer to the profile member naming the avatar object "
     "(e.g. /picture_id); its value is the avatar version (default: none)",
     T_POINTER, AT(avatar_field)},
    {"--avatar-key-template", "CAMEO_AVATAR_KEY_TEMPLATE", "avatars/{value}",
     "with --avatar-field: the object key of a field value, under the --blobs prefix", T_TEMPLATE,
     AT(avatar_key_template)},
    {"--blobs", "CAMEO_BLOBS", "local", "where avatar bytes live: local (the store) or s3://BUCKET[/PREFIX]",
     T_BLOBS, AT0},
    {"--s3-endpoint", "CAMEO_S3_ENDPOINT", NULL,
     "S3 server: http(s)://HOST[:PORT] (default: https://s3.REGION.amazonaws.com)", T_ENDPOINT,
     AT(s3_endpoint)},
    {"--s3-region", "CAMEO_S3_REGION", "us-east-1", "S3 region, signed into every request", T_REGION,
     AT(s3_region)},
    {"--s3-path-style", "CAMEO_S3_PATH_STYLE", "false",
     "address the bucket as HOST/BUCKET/KEY (MinIO, IPs) instead of BUCKET.HOST/KEY", T_BOOL,
     AT(s3_path_style)},
    {"--s3-access-key", "CAMEO_S3_ACCESS_KEY", NULL, "S3 access key id (or AWS_ACCESS_KEY_ID)", T_SECRET,
     SECRET(s3_access_key, 1)},
    {"--s3-secret-key", "CAMEO_S3_SECRET_KEY", NULL, "S3 secret access key (or AWS_SECRET_ACCESS_KEY)",
     T_SECRET, SECRET(s3_secret_key, 1)},
    {"--s3-session-token", "CAMEO_S3_SESSION_TOKEN", NULL,
     "temporary credentials' session token (or AWS_SESSION_TOKEN)", T_SECRET, SECRET(s3_session_token, 1)},
    {"--s3-timeout", "CAMEO_S3_TIMEOUT", "5s", "whole S3 request, connect included", T_DURATION,
     AT(s3_timeout_ms), TIMEOUT},
    {"--s3-connect-timeout", "CAMEO_S3_CONNECT_TIMEOUT", "1s", "connecting to S3", T_DURATION,
     AT(s3_connect_timeout_ms), TIMEOUT},
    {"--s3-max-concurrent", "CAMEO_S3_MAX_CONCURRENT", "256", "S3 requests in flight at once (503 past it)",
     T_NUMBER, AT(s3_max_concurrent), COUNT},
    {"--avatar-delivery", "CAMEO_AVATAR_DELIVERY", "proxy",
     "proxy (bytes through cameo) or presigned (redirect to a presigned S3 URL; needs --blobs s3://)",
     T_DELIVERY, AT(avatar_presigned)},
    {"--presign-bucket", "CAMEO_PRESIGN_BUCKET", "30m",
     "presigned URLs are identical within such a time bucket", T_DURATION, AT(presign_bucket_ms),
     RANGE(1000, 3 * 86400000ull), .step = 1000},
    {"--presign-min-validity", "CAMEO_PRESIGN_MIN_VALIDITY", "10m",
     "a presigned URL is never handed out with less validity left", T_DURATION, AT(presign_min_validity_ms),
     RANGE(1000, 3 * 86400000ull), .step = 1000},
    {"--seed-demo", "CAMEO_SEED_DEMO", "false",
     "on an empty store, add 50 demo users with avatars (for /demo)", T_BOOL, AT(seed_demo)},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int cameo_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    static const struct {
        const char *suffix;
        unsigned long long mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1024},
                 {"kb", 1024},
                 {"kib", 1024},
                 {"m", 1024 * 1024},
                 {"mb", 1024 * 1024},
                 {"mib", 1024 * 1024},
                 {"g", 1024ull * 1024 * 1024},
                 {"gb", 1024ull * 1024 * 1024},
                 {"gib", 1024ull * 1024 * 1024}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (v > SIZE_MAX / units[i].mul)
                return -1;
            *out = (size_t)(v * units[i].mul);
            return 0;
        }
    }
    return -1;
}

int cameo_parse_duration(const char *s, uint64_t *out_ms)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    static const struct {
        const char *suffix;
        unsigned long long mul;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out_ms = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

/* Writes ms as the largest unit that divides it: "60s", "3d", "250ms". */
static void fmt_duration(uint64_t ms, char out[24])
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms > 0 && ms % units[i].ms == 0) {
            snprintf(out, 24, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(out, 24, "%llums", (unsigned long long)ms);
}

/* Applies value to option o. Returns 0, or -1 with errbuf set. */
static int apply(cameo_config_t *cfg, const opt_t *o, const char *value, const char *source, char *errbuf,
                 size_t errlen)
{
    char *field = (char *)cfg + o->offset;
    switch (o->type) {
    case T_LISTEN: {
        /* HOST:PORT, or [V6]:PORT */
        const char *colon = strrchr(value, ':');
        const char *host = value;
        size_t hlen = colon ? (size_t)(colon - value) : 0;
        if (hlen >= 2 && value[0] == '[' && value[hlen - 1] == ']')
            host++, hlen -= 2;
        char *end;
        unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (colon == NULL || hlen == 0 || hlen >= sizeof(cfg->host) || *(colon + 1) == '\0' || *end != '\0' ||
            port == 0 || port > 65535) {
            snprintf(errbuf, errlen, "%s: expected HOST:PORT (e.g. 127.0.0.1:8080), got '%s'", source, value);
            return -1;
        }
        memcpy(cfg->host, host, hlen);
        cfg->host[hlen] = '\0';
        cfg->port = (unsigned)port;
        return 0;
    }
    case T_PATH:
        if (value[0] == '\0' || strlen(value) >= sizeof(cfg->data_dir)) {
            snprintf(errbuf, errlen, "%s: expected a directory path, got '%s'", source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    case T_SIZE: {
        size_t v;
        if (cameo_parse_size(value, &v) != 0 || v == 0) {
            snprintf(errbuf, errlen, "%s: expected a size such as 256MiB, 64KiB or 1048576, got '%s'", source,
                     value);
            return -1;
        }
        *(size_t *)(void *)field = v;
        return 0;
    }
    case T_LEVEL: {
        int level = cameo_log_parse_level(value);
        if (level < 0) {
            snprintf(errbuf, errlen, "%s: expected debug, info, warn or error, got '%s'", source, value);
            return -1;
        }
        *(int *)(void *)field = level;
        return 0;
    }
    case T_URL:
        /* Checked in full when the Redis tier is made; here only its length.
         * It may hold a password: never echo it. */
        if (value[0] == '\0' || strlen(value) >= sizeof(cfg->redis_url)) {
            snprintf(errbuf, errlen, "%s: expected redis://[user:password@]host:port[/db]", source);
            return -1;
        }
        strcpy(field, value);
        return 0;
    case T_PREFIX: {
        size_t len = strlen(value);
        int ok = len > 0 && len < sizeof(cfg->redis_prefix);
        for (size_t i = 0; i < len && ok; i++)
            ok = value[i] > ' ' && value[i] < 127;
        if (!ok) {
            snprintf(errbuf, errlen, "%s: expected 1 to 127 printable characters without spaces, got '%.64s'",
                     source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_HTTP_URL: {
        size_t len = strlen(value);
        int ok = len < sizeof(cfg->users_url) &&
                 (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0);
        for (size_t i = 0; i < len && ok; i++)
            ok = value[i] > ' ' && value[i] < 127;
        if (!ok) {
            snprintf(errbuf, errlen,
                     "%s: expected an http:// or https:// URL of at most 2048 bytes, got '%.64s'", source,
                     value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_BLOBS: {
        if (strcmp(value, "local") == 0) {
            cfg->blobs_s3 = 0;
            return 0;
        }
        const char *b = strncmp(value, "s3://", 5) == 0 ? value + 5 : NULL;
        const char *slash = b != NULL ? strchr(b, '/') : NULL;
        size_t blen = b == NULL ? 0 : slash != NULL ? (size_t)(slash - b) : strlen(b);
        const char *prefix = slash != NULL ? slash + 1 : "";
        size_t plen = strlen(prefix);
        while (plen > 0 && prefix[plen - 1] == '/')
            plen--; /* s3://bucket/avatars/ */
        int ok = b != NULL && blen >= 3 && blen < sizeof(cfg->s3_bucket) && plen < sizeof(cfg->s3_prefix) &&
                 (plen == 0 || prefix[0] != '/');
        for (size_t i = 0; ok && i < blen; i++)
            ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '.';
        for (size_t i = 0; ok && i < plen; i++)
            ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", prefix[i]) &&
                 prefix[i] != '\0' && !(prefix[i] == '/' && prefix[i + 1] == '/');
        if (!ok) {
            snprintf(errbuf, errlen,
                     "%s: expected local or s3://BUCKET[/PREFIX] (bucket: 3 to 63 of a-z 0-9 . -; prefix: "
                     "A-Z a-z 0-9 . _ - /), got '%.128s'",
                     source, value);
            return -1;
        }
        cfg->blobs_s3 = 1;
        memcpy(cfg->s3_bucket, b, blen);
        cfg->s3_bucket[blen] = '\0';
        memcpy(cfg->s3_prefix, prefix, plen);
        cfg->s3_prefix[plen] = '\0';
        return 0;
    }
    case T_ENDPOINT: {
        const char *host = strncmp(value, "http://", 7) == 0    ? value + 7
                           : strncmp(value, "https://", 8) == 0 ? value + 8
                                                                : NULL;
        size_t hlen = host != NULL ? strlen(host) : 0;
        if (hlen > 0 && host[hlen - 1] == '/')
            hlen--;
        int ok = host != NULL && hlen > 0 && strlen(value) < sizeof(cfg->s3_endpoint);
        for (size_t i = 0; ok && i < hlen; i++)
            ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", host[i]) &&
                 host[i] != '\0';
        if (!ok) {
            snprintf(errbuf, errlen, "%s: expected http://HOST[:PORT] or https://HOST[:PORT], got '%.128s'",
                     source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_REGION: {
        size_t len = strlen(value);
        int ok = len >= 1 && len < sizeof(cfg->s3_region);
        for (size_t i = 0; ok && i < len; i++)
            ok = (value[i] >= 'a' && value[i] <= 'z') || (value[i] >= '0' && value[i] <= '9') ||
                 value[i] == '-';
        if (!ok) {
            snprintf(errbuf, errlen, "%s: expected a region such as us-east-1, got '%.64s'", source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_BOOL: {
        static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                    "off"};
        for (size_t i = 0; i < 4; i++) {
            if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
                *(int *)(void *)field = strcasecmp(value, yes[i]) == 0;
                return 0;
            }
        }
        snprintf(errbuf, errlen, "%s: expected true or false (1/0, yes/no, on/off), got '%.32s'", source,
                 value);
        return -1;
    }
    case T_DELIVERY:
        if (strcmp(value, "proxy") != 0 && strcmp(value, "presigned") != 0) {
            snprintf(errbuf, errlen, "%s: expected proxy or presigned, got '%.32s'", source, value);
            return -1;
        }
        *(int *)(void *)field = strcmp(value, "presigned") == 0;
        return 0;
    case T_POINTER: {
        size_t len = strlen(value);
        int ok = value[0] == '/' && len < sizeof(cfg->avatar_field);
        for (size_t i = 0; ok && i < len; i++)
            ok = value[i] >= ' ' && value[i] < 127;
        if (!ok) {
            snprintf(errbuf, errlen,
                     "%s: expected a JSON pointer such as /picture_id (printable, at most 256 bytes), got "
                     "'%.64s'",
                     source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_TEMPLATE: {
        /* Segments of [A-Za-z0-9._-] and {value}; none empty, "." or "..". */
        size_t len = strlen(value);
        int ok = len < sizeof(cfg->avatar_key_template) && strstr(value, "{value}") != NULL;
        for (const char *seg = value; ok;) {
            size_t sl = strcspn(seg, "/");
            ok = sl > 0 && !(sl == 1 && seg[0] == '.') && !(sl == 2 && seg[0] == '.' && seg[1] == '.');
            for (size_t i = 0; ok && i < sl; i++) {
                if (strncmp(seg + i, "{value}", 7) == 0 && i + 7 <= sl)
                    i += 6;
                else
                    ok =
                        strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", seg[i]) &&
                        seg[i] != '\0';
            }
            if (seg[sl] == '\0')
                break;
            seg += sl + 1;
        }
        if (!ok) {
            snprintf(errbuf, errlen,
                     "%s: expected a key such as avatars/{value} (contains {value}; segments of A-Z a-z 0-9 "
                     ". _ -, none empty, . or ..; at most 512 bytes), got '%.64s'",
                     source, value);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    case T_NUMBER: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 || n < o->min || n > o->max) {
            snprintf(errbuf, errlen, "%s: expected a number from %llu to %llu, got '%.32s'", source,
                     (unsigned long long)o->min, (unsigned long long)o->max, value);
            return -1;
        }
        *(unsigned *)(void *)field = (unsigned)n;
        return 0;
    }
    case T_SECRET: {
        size_t len = strlen(value);
        int ok = len >= o->min && len <= o->max;
        for (size_t i = 0; ok && i < len; i++)
            ok = value[i] > ' ' && value[i] < 127;
        if (!ok) {
            snprintf(errbuf, errlen, "%s: expected %llu to %llu printable characters without spaces", source,
                     (unsigned long long)o->min, (unsigned long long)o->max);
            return -1; /* never echo a credential */
        }
        strcpy(field, value);
        return 0;
    }
    case T_DURATION: {
        uint64_t v;
        char lo[24], hi[24];
        if (cameo_parse_duration(value, &v) != 0) {
            snprintf(errbuf, errlen, "%s: expected a duration such as 250ms, 10s, 5m, 1h or 7d, got '%.32s'",
                     source, value);
            return -1;
        }
        if (v < o->min || (o->max != 0 && v > o->max) || (o->step > 1 && v % o->step != 0)) {
            fmt_duration(o->min, lo);
            fmt_duration(o->max, hi);
            if (o->max != 0)
                snprintf(errbuf, errlen, "%s: expected a duration from %s to %s%s, got '%.32s'", source, lo,
                         hi, o->step == 1000 ? " in whole seconds" : "", value);
            else
                snprintf(errbuf, errlen, "%s: expected a duration of at least %s, got '%.32s'", source, lo,
                         value);
            return -1;
        }
        *(uint64_t *)(void *)field = v;
        return 0;
    }
    }
    return -1;
}

int cameo_config_parse(cameo_config_t *cfg, int argc, char **argv, char *errbuf, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = cores > 0 && cores <= 256 ? (unsigned)cores : 1;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].def != NULL && apply(cfg, &opts[i], opts[i].def, opts[i].flag, errbuf, errlen) != 0)
            return -1;
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = opts[i].env;
        const char *v = getenv(env);
        if ((v == NULL || v[0] == '\0') && env_fallback(opts[i].flag) != NULL)
            v = getenv(env = env_fallback(opts[i].flag));
        if (v != NULL && v[0] != '\0' && apply(cfg, &opts[i], v, env, errbuf, errlen) != 0)
            return -1;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const opt_t *o = NULL;
        for (size_t i = 0; i < NOPTS && o == NULL; i++)
            if (strlen(opts[i].flag) == name_len && strncmp(opts[i].flag, arg, name_len) == 0)
                o = &opts[i];
        if (o == NULL) {
            snprintf(errbuf, errlen, "%.*s: unknown flag (see cameo --help)",
                     (int)(name_len > 64 ? 64 : name_len), arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (o->type == T_BOOL && eq == NULL && (value == NULL || strncmp(value, "--", 2) == 0)) {
            if (value != NULL)
                a--; /* "--s3-path-style --next-flag": the flag alone means true */
            value = "true";
        }
        if (value == NULL) {
            snprintf(errbuf, errlen, "%s: missing value", o->flag);
            return -1;
        }
        if (apply(cfg, o, value, o->flag, errbuf, errlen) != 0)
            return -1;
    }
    if (cfg->blobs_s3 && (cfg->s3_access_key[0] == '\0' || cfg->s3_secret_key[0] == '\0')) {
        snprintf(errbuf, errlen,
                 "%s: --blobs s3:// needs credentials (or AWS_ACCESS_KEY_ID and "
                 "AWS_SECRET_ACCESS_KEY)",
                 cfg->s3_access_key[0] == '\0' ? "--s3-access-key" : "--s3-secret-key");
        return -1;
    }
    if (cfg->users_batch_url[0] != '\0' && cfg->users_url[0] == '\0') {
        snprintf(errbuf, errlen, "--users-batch-url: needs --users-url");
        return -1;
    }
    if (cfg->avatar_presigned && !cfg->blobs_s3) {
        snprintf(errbuf, errlen, "--avatar-delivery: presigned needs --blobs s3://BUCKET[/PREFIX]");
        return -1;
    }
    if (cfg->avatar_field[0] != '\0' && (cfg->users_url[0] == '\0' || !cfg->blobs_s3)) {
        snprintf(errbuf, errlen, "--avatar-field: needs %s",
                 cfg->users_url[0] == '\0' ? "--users-url (it names a field of the user service's profiles)"
                                           : "--blobs s3://BUCKET[/PREFIX] (where the avatar objects are)");
        return -1;
    }
    if (cfg->avatar_field[0] == '\0' && strcmp(cfg->avatar_key_template, "avatars/{value}") != 0) {
        snprintf(errbuf, errlen, "--avatar-key-template: needs --avatar-field");
        return -1;
    }
    if (cfg->users_url[0] != '\0' && cfg->blobs_s3 && cfg->avatar_field[0] == '\0') {
        snprintf(
            errbuf, errlen,
            "--blobs: with --users-url, avatar objects are named by a profile field: add --avatar-field");
        return -1;
    }
    if (cfg->presign_bucket_ms + cfg->presign_min_validity_ms > 7 * 86400000ull) {
        snprintf(errbuf, errlen, "--presign-bucket: with --presign-min-validity it must stay within 7 days");
        return -1;
    }
    return 0;
}

void cameo_config_usage(void)
{
    printf("cameo - a cache for profile pictures and user profiles\n\n"
           "usage:\n"
           "  cameo serve [flags]   serve the HTTP API (see docs/api.md)\n"
           "  cameo version         print the version\n"
           "  cameo --help          print this help\n\n"
           "flags of serve (each also as an environment variable; flags win):\n");
    for (size_t i = 0; i < NOPTS; i++)
        printf("  %-18s %-22s %s%s%s%s\n", opts[i].flag, opts[i].env, opts[i].help, opts[i].def ? " [" : "",
               opts[i].def ? opts[i].def : "", opts[i].def ? "]" : "");
}
