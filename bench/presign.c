/*
 * presign.c - measures presigned GET URLs (src/origin/origin_s3_sign.c, the
 * code behind --avatar-delivery presigned): microseconds per URL and URLs
 * per second, for keys of 100,000 users, with `now` advancing one second per
 * URL (the daemon's case: the signing key is cached per day, so each URL
 * costs one SHA-256 of the canonical request and one HMAC).
 *
 * Baseline, in the same run: the same signer forced to derive its signing
 * key on every URL (dates alternate between two days), i.e. presigning
 * without the per-day key cache. Then both again on 2 threads sharing one
 * signer (its mutex guards the cached key).
 *
 * Then the daemon's path, cameo__s3_presign (src/origin/origin_s3.c), which
 * signs each URL once per key and time bucket and copies it out of a table
 * afterwards, against the signer called for every URL (what that path did
 * before the table: the baseline). `now` advances one second per 1,000 URLs
 * (a busy instance: every URL of a phase falls in one 30-minute bucket), for
 * two key streams: 1,000 hot avatars (fit the 8,192-entry table) and 100,000
 * users drawn uniformly (most miss it: the table's worst case). On 1 and 2
 * threads sharing one client; each pair alternated 3 times, the best kept.
 *
 * Run by bench/presign.sh, which builds it; not linked into cameo. Never
 * asserts a time. Bounded: 4 phases of at most 1,000,000 URLs and 24 of at
 * most 250,000, < 60 s.
 *
 * usage: presign [URLS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "origin/origin_s3.h"
#include "origin/origin_s3_sign.h"

#define USERS 100000
#define DAY 86400ULL
#define START 1795312800ULL /* a bucket boundary in 2026 */

typedef struct job {
    cameo_s3_signer_t *signer; /* signs every URL; unless s3 is set: */
    cameo__s3_t *s3;           /* the daemon's path, with its table */
    unsigned long n;
    unsigned users;             /* keys drawn from this many users */
    unsigned long urls_per_sec; /* now advances one second per this many URLs */
    int cold;                   /* alternate days: the signing key is derived every time */
    unsigned seed;
    unsigned long bytes; /* URL bytes written, so the work cannot be skipped */
} job_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    job_t *j = arg;
    char key[64], url[2048];
    uint64_t expires_at;
    for (unsigned long i = 0; i < j->n; i++) {
        unsigned user = (unsigned)((i * 2654435761u + j->seed) % j->users);
        snprintf(key, sizeof(key), "avatars/u%u/%016lx", user, (unsigned long)user * 0x9e3779b97f4a7c15ul);
        uint64_t now = START + i / j->urls_per_sec + (j->cold && (i & 1) ? DAY : 0);
        int rc = j->s3 != NULL
                     ? cameo__s3_presign(j->s3, key, now, url, sizeof(url), &expires_at)
                     : cameo_s3_presign_get(j->signer, key, now, 1800, 600, url, sizeof(url), &expires_at);
        if (rc != CAMEO_OK) {
            fprintf(stderr, "presign failed\n");
            exit(1);
        }
        j->bytes += strlen(url);
    }
    return NULL;
}

/* Runs job (n URLs) on each of threads threads, each with its own key
 * stream; adds the URL bytes to *bytes and returns seconds. */
static double phase(job_t job, int threads, unsigned long *bytes)
{
    pthread_t t[2];
    job_t j[2];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        j[i] = job;
        j[i].seed = (unsigned)i * 7919u;
        pthread_create(&t[i], NULL, run, &j[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        *bytes += j[i].bytes;
    }
    return now_s() - t0;
}

/* ---- the daemon's path: cameo__s3_presign and its table ---- */

/* One client per phase, so each starts with an empty table. */
static cameo__s3_t *client(void)
{
    cameo_s3_origin_config_t c = {
        .endpoint = "https://s3.eu-west-3.amazonaws.com",
        .region = "eu-west-3",
        .bucket = "cameo-avatars",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        .presign_bucket_s = 1800,
        .presign_min_validity_s = 600,
    };
    cameo__s3_t *s3;
    char err[256];
    if (cameo__s3_new(&c, &s3, err, sizeof(err)) != CAMEO_OK) {
        fprintf(stderr, "s3: %s\n", err);
        exit(1);
    }
    return s3;
}

static void table_phases(cameo_s3_signer_t *signer, unsigned long n, unsigned long *bytes)
{
    static const unsigned users[] = {1000, USERS};
    printf("%-34s %10s %12s %14s %8s\n", "case (cameo__s3_presign)", "URLs", "us/URL", "URLs/s", "ratio");
    for (int threads = 1; threads <= 2; threads++) {
        for (int u = 0; u < 2; u++) {
            /* Alternated, best of 3: the machine is shared, and the best
             * time is the one least disturbed by it. */
            double base = 1e9, table = 1e9;
            char status[512];
            for (int rep = 0; rep < 3; rep++) {
                job_t job = {.signer = signer, .n = n, .users = users[u], .urls_per_sec = 1000};
                double b = phase(job, threads, bytes);
                job.s3 = client();
                double t = phase(job, threads, bytes);
                cameo__s3_status(job.s3, status, sizeof(status));
                cameo__s3_free(job.s3);
                base = b < base ? b : base;
                table = t < table ? t : table;
            }
            double total = (double)n * threads;
            char name[64];
            snprintf(name, sizeof(name), "baseline: signed per URL, %uk, %dT", users[u] / 1000, threads);
            printf("%-34s %10.0f %12.2f %14.0f %8s\n", name, total, base * 1e6 / (double)n, total / base,
                   "1.00");
            snprintf(name, sizeof(name), "cameo: table, %uk users, %dT", users[u] / 1000, threads);
            printf("%-34s %10.0f %12.2f %14.0f %7.2fx\n", name, total, table * 1e6 / (double)n, total / table,
                   base / table);
            const char *p = strstr(status, "presigned URLs");
            printf("#   %s\n", p != NULL ? p : status);
        }
    }
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    cameo_s3_config_t cfg = {
        .access_key_id = "AKIAIOSFODNN7EXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        .region = "eu-west-3",
        .endpoint = "s3.eu-west-3.amazonaws.com",
        .scheme = "https",
        .bucket = "cameo-avatars",
    };
    cameo_s3_signer_t s;
    char err[256];
    if (cameo_s3_signer_init(&s, &cfg, err, sizeof(err)) != CAMEO_OK) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    unsigned long bytes = 0;
    job_t job = {.signer = &s, .n = n / 10, .users = USERS, .urls_per_sec = 1};
    phase(job, 1, &bytes); /* warm-up */
    job.n = n;
    printf("%-34s %10s %12s %14s %8s\n", "case", "URLs", "us/URL", "URLs/s", "ratio");
    double base1 = 0, base2 = 0;
    for (int threads = 1; threads <= 2; threads++) {
        job.cold = 1;
        double cold = phase(job, threads, &bytes);
        job.cold = 0;
        double warm = phase(job, threads, &bytes);
        double total = (double)n * threads;
        double cold_us = cold * 1e6 / (double)n, warm_us = warm * 1e6 / (double)n; /* per thread */
        if (threads == 1)
            base1 = cold_us;
        else
            base2 = cold_us;
        printf("%-34s %10.0f %12.2f %14.0f %8s\n",
               threads == 1 ? "baseline: key derived per URL, 1T" : "baseline: key derived per URL, 2T",
               total, cold_us, total / cold, "1.00");
        printf("%-34s %10.0f %12.2f %14.0f %7.2fx\n",
               threads == 1 ? "cameo: key cached per day, 1T" : "cameo: key cached per day, 2T", total,
               warm_us, total / warm, (threads == 1 ? base1 : base2) / warm_us);
    }
    printf("\n");
    table_phases(&s, n / 4, &bytes);
    printf("# us/URL is per thread (wall time / URLs of one thread); %lu URL bytes written\n", bytes);
    cameo_s3_signer_destroy(&s);
    return 0;
}
