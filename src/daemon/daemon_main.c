/*
 * daemon_main.c - the `cameo` command: parses the command line, assembles
 * the process (origin, tiers, engine, HTTP server), and runs until SIGTERM
 * or SIGINT, then drains in-flight requests and exits 0.
 *
 * Start-up order: origin (and demo seeding), memory and Redis tiers,
 * metrics and the event hub, engine, server, then the --warm-file thread.
 * Shutdown runs it backwards: the warmer stops starting batches, the server
 * stops and drains (at most 4 s), the warmer is joined, the engine waits for
 * origin calls still in flight, then everything is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cameo/engine.h"
#include "cameo/log.h"
#include "cameo/media.h"
#include "cameo/origin.h"
#include "cameo/server.h"
#include "cameo/tier.h"
#include "daemon/daemon_config.h"
#include "daemon/daemon_warm.h"
#include "daemon/daemon_seed.h"

#define DRAIN_MS 4000 /* of the 5 s a supervisor typically allows after SIGTERM */

/* Loads DATA/admin-token, or makes one (32 random bytes, hex) and stores it
 * with mode 0600. Returns 1 when it was generated now, 0 when loaded, -1 on
 * error (message printed). */
static int load_or_make_token(cameo_config_t *cfg)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/admin-token", cfg->data_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char buf[256] = {0};
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (n < 16) {
            fprintf(stderr,
                    "cameo: %s: the stored admin token is too short; remove the file to make a new one\n",
                    path);
            return -1;
        }
        memcpy(cfg->admin_token, buf, n + 1);
        return 0;
    }
    unsigned char rnd[32];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        fprintf(stderr, "cameo: cannot read random bytes for the admin token: %s\n", strerror(errno));
        return -1;
    }
    cameo_hex(rnd, sizeof(rnd), cfg->admin_token);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "cameo: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(cfg->admin_token);
    int ok = write(fd, cfg->admin_token, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        fprintf(stderr, "cameo: cannot write %s\n", path);
        unlink(path);
        return -1;
    }
    return 1;
}

static int serve(int argc, char **argv)
{
    cameo_config_t cfg;
    char err[512];
    if (cameo_config_parse(&cfg, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "cameo: %s\n", err);
        return 2;
    }
    cameo_log_set_level((cameo_log_level_t)cfg.log_level);

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "cameo: --data: cannot create %s: %s\n", cfg.data_dir, strerror(errno));
        return 1;
    }
    int generated = 0;
    if (cfg.admin_token[0] == '\0' && (generated = load_or_make_token(&cfg)) < 0)
        return 1;

    /* Signals are taken by sigwait() below; threads inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a full disk or file-size limit is an I/O error, not a crash */

    int rc = 1;
    cameo_origin_t *origin = NULL;
    cameo_tier_t *mem = NULL, *redis = NULL;
    cameo_metrics_t *metrics = NULL;
    cameo_engine_t *engine = NULL;
    cameo_hub_t *hub = NULL;
    cameo_server_t *server = NULL;
    cameo_warmer_t *warmer = NULL;

    if (cfg.warm_file[0] != '\0' && cameo_warm_check(cfg.warm_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "cameo: --warm-file: %s\n", err);
        rc = 2;
        goto out;
    }
    /* Avatar bytes in a bucket (--blobs s3://), in either mode. */
    char endpoint[sizeof(cfg.s3_endpoint) + 64];
    if (cfg.s3_endpoint[0] != '\0')
        snprintf(endpoint, sizeof(endpoint), "%s", cfg.s3_endpoint);
    else
        snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", cfg.s3_region);
    cameo_s3_origin_config_t s3 = {
        .endpoint = endpoint,
        .region = cfg.s3_region,
        .bucket = cfg.s3_bucket,
        .prefix = cfg.s3_prefix,
        .path_style = cfg.s3_path_style,
        .access_key = cfg.s3_access_key,
        .secret_key = cfg.s3_secret_key,
        .session_token = cfg.s3_session_token,
        .connect_timeout_ms = cfg.s3_connect_timeout_ms,
        .timeout_ms = cfg.s3_timeout_ms,
        .max_object = cfg.max_avatar_size,
        .max_concurrent = cfg.s3_max_concurrent,
        .presign_bucket_s = cfg.presign_bucket_ms / 1000,
        .presign_min_validity_s = cfg.presign_min_validity_ms / 1000,
    };
    if (cfg.users_url[0] != '\0') {
        char ubuf[160];
        cameo_http_origin_config_t hcfg = {
            .users_url = cfg.users_url,
            .batch_url = cfg.users_batch_url,
            .batch_size = cfg.users_batch_size,
            .concurrency = cfg.origin_concurrency,
            .connect_timeout_ms = cfg.origin_connect_timeout_ms,
            .timeout_ms = cfg.origin_timeout_ms,
            .retries = cfg.origin_retries,
            .breaker_failures = cfg.breaker_failures,
            .breaker_open_ms = cfg.breaker_open_ms,
            .avatar_field = cfg.avatar_field,
            .s3 = cfg.blobs_s3 ? &s3 : NULL,
            .avatar_key_template = cfg.avatar_key_template,
        };
        if (cameo_origin_http_open(&hcfg, &origin, err, sizeof(err)) != CAMEO_OK) {
            /* names the settings, never a secret */
            fprintf(stderr, "cameo: %s: %s\n",
                    cfg.blobs_s3 ? "--users-url / --avatar-* / --blobs / --s3-*" : "--users-url", err);
            rc = 2;
            goto out;
        }
        cameo_log(CAMEO_LOG_INFO, "origin",
                  "kind=http users_url=%s batch=%s batch_size=%u avatar_field=%s avatar_key=%s%s%s",
                  cameo_log_url(cfg.users_url, ubuf, sizeof(ubuf)), cfg.users_batch_url[0] ? "yes" : "no",
                  cfg.users_batch_size, cfg.avatar_field[0] ? cfg.avatar_field : "-", cfg.s3_prefix,
                  cfg.s3_prefix[0] ? "/" : "", cfg.blobs_s3 ? cfg.avatar_key_template : "-");
    } else {
        cameo_local_config_t lcfg = {
            .dir = cfg.data_dir, .blob_retention_ms = cfg.blob_retention_ms, .blobs_elsewhere = cfg.blobs_s3};
        if (cameo_origin_local_open(&lcfg, &origin, err, sizeof(err)) != CAMEO_OK) {
            fprintf(stderr, "cameo: --data: %s\n", err);
            goto out;
        }
        if (cfg.blobs_s3) {
            /* Avatar bytes in the bucket; profiles and pointers stay local. */
            cameo_origin_t *local = origin;
            origin = NULL; /* owned by the blobs origin from here, also on failure */
            if (cameo_origin_blobs_open(&s3, local, &origin, err, sizeof(err)) != CAMEO_OK) {
                fprintf(stderr, "cameo: --blobs / --s3-*: %s\n", err); /* names the setting, never a secret */
                rc = 2;
                goto out;
            }
        }
    }
    int seeded = 0;
    if (cfg.seed_demo && (cfg.users_url[0] != '\0' || cfg.blobs_s3)) {
        /* Seeding writes through the embedded store from this thread, with no loop. */
        cameo_log(CAMEO_LOG_WARN, "seed_skipped", "reason=\"--seed-demo needs the embedded store alone\"");
        cfg.seed_demo = 0;
    }
    if (cfg.seed_demo && (seeded = cameo_seed_demo(origin, cameo_wall_ms())) < 0) {
        fprintf(stderr, "cameo: --seed-demo: %s\n", cameo_strerror(seeded));
        goto out;
    }
    if (seeded > 0)
        cameo_log(CAMEO_LOG_INFO, "seeded", "users=%d", seeded);
    cameo_cache_config_t ccfg = {.capacity = cfg.mem_limit};
    if (cameo_tier_mem_create(&ccfg, &mem) != CAMEO_OK) {
        fprintf(stderr, "cameo: --mem-limit: cannot create a memory tier of %zu bytes\n", cfg.mem_limit);
        goto out;
    }
    if (cfg.redis_url[0] != '\0') {
        cameo_redis_config_t rcfg = {
            .url = cfg.redis_url, .prefix = cfg.redis_prefix, .timeout_ms = cfg.redis_timeout_ms};
        if (cameo_tier_redis_create(&rcfg, &redis, err, sizeof(err)) != CAMEO_OK) {
            fprintf(stderr, "cameo: --redis (CAMEO_REDIS): %s\n", err);
            rc = 2;
            goto out;
        }
    }
    cameo_tier_t *tiers[] = {mem, redis};
    metrics = cameo_metrics_create(cfg.workers, cameo_now_ms());
    hub = cameo_hub_create(cfg.events_backlog, cfg.sse_max);
    cameo_engine_config_t ecfg = {
        .ttl_ms = cfg.ttl_ms,
        .grace_ms = cfg.grace_ms,
        .negative_ttl_ms = cfg.negative_ttl_ms,
        .hub = hub,
        .stale_if_error_ms = cfg.stale_if_error_ms ? cfg.stale_if_error_ms : CAMEO_STALE_IF_ERROR_OFF,
        .refresh_ahead_ms = cfg.refresh_ahead_ms ? cfg.refresh_ahead_ms : CAMEO_REFRESH_AHEAD_OFF};
    if (metrics == NULL || hub == NULL ||
        cameo_engine_create(&ecfg, tiers, redis != NULL ? 2 : 1, origin, metrics, &engine) != CAMEO_OK) {
        fprintf(stderr, "cameo: out of memory\n");
        goto out;
    }
    cameo_server_config_t scfg = {
        .host = cfg.host,
        .port = cfg.port,
        .workers = cfg.workers,
        .admin_token = cfg.admin_token,
        .max_avatar_size = cfg.max_avatar_size,
        .max_profile_size = 64 * 1024,
        .max_batch_body = 256 * 1024,
        .engine = engine,
        .metrics = metrics,
        .hub = hub,
        .sse_keepalive_ms = cfg.sse_keepalive_ms,
        .avatar_presigned = cfg.avatar_presigned,
    };
    int src = cameo_server_start(&scfg, &server, err, sizeof(err));
    if (src != CAMEO_OK) {
        /* a listener (the flag), or a worker that could not attach to Redis or the origin */
        fprintf(stderr, "cameo: %s%s\n", src == CAMEO_EUNAVAIL ? "" : "--listen: ", err);
        goto out;
    }

    const char *bracket = strchr(cfg.host, ':') ? "[" : "";
    const char *unbracket = bracket[0] ? "]" : "";
    cameo_log(CAMEO_LOG_INFO, "listening",
              "url=http://%s%s%s:%u/ workers=%u data=%s mem_limit=%zu redis=%s blobs=%s%s%s%s delivery=%s "
              "version=%s",
              bracket, cfg.host, unbracket, cfg.port, cfg.workers, cfg.data_dir, cfg.mem_limit,
              redis != NULL ? "on" : "off", cfg.blobs_s3 ? "s3://" : "local",
              cfg.blobs_s3 ? cfg.s3_bucket : "", cfg.s3_prefix[0] ? "/" : "", cfg.s3_prefix,
              cfg.avatar_presigned ? "presigned" : "proxy", CAMEO_VERSION);
    if (cfg.seed_demo)
        printf("demo: http://%s%s%s:%u/demo%s\n", bracket, cfg.host, unbracket, cfg.port,
               seeded > 0 ? " (50 demo users added)" : "");
    printf("cameo %s serving http://%s%s%s:%u/\n", CAMEO_VERSION, bracket, cfg.host, unbracket, cfg.port);
    if (generated)
        printf("admin token (generated, stored in %s/admin-token): %s\n", cfg.data_dir, cfg.admin_token);
    else
        printf("admin token: as given, or in %s/admin-token\n", cfg.data_dir);
    fflush(stdout);

    if (cfg.warm_file[0] != '\0')
        warmer = cameo_warm_start(cfg.warm_file, cfg.host, cfg.port, cfg.admin_token);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    cameo_log(CAMEO_LOG_INFO, "shutdown", "signal=%s drain_ms=%d", sig == SIGTERM ? "SIGTERM" : "SIGINT",
              DRAIN_MS);
    if (warmer != NULL)
        cameo_warm_stop_async(warmer); /* no new batch starts */
    cameo_server_shutdown(server, DRAIN_MS);
    cameo_warm_stop(warmer);
    rc = 0;
out:
    cameo_engine_destroy(engine);
    cameo_server_free(server);
    if (origin != NULL)
        origin->ops->destroy(origin);
    if (redis != NULL)
        redis->ops->destroy(redis); /* every loop detached when its worker stopped */
    if (mem != NULL)
        mem->ops->destroy(mem);
    cameo_metrics_destroy(metrics);
    cameo_hub_destroy(hub);
    if (rc == 0)
        cameo_log(CAMEO_LOG_INFO, "stopped", NULL);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cameo_config_usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("cameo %s\n", CAMEO_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 2, argv + 2);
    fprintf(stderr, "cameo: %s: unknown command (try cameo --help)\n", argv[1]);
    return 2;
}
