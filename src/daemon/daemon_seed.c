/*
 * daemon_seed.c - the demo users of --seed-demo. See daemon_seed.h.
 *
 * The writes go straight to the origin, one batch of profiles and then one
 * of avatars (an avatar needs its user committed first), and the caller's
 * thread waits on a condition variable until every callback has fired.
 */
#include "daemon/daemon_seed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cameo/media.h"

#define PNG_SIDE 96
#define PNG_CELLS 5 /* the pattern is 5 x 5 cells, mirrored left to right */

static const char *const names[CAMEO_SEED_USERS] = {
    "Ada Lovelace",       "Alan Turing",     "Grace Hopper",       "Edsger Dijkstra",
    "Barbara Liskov",     "Donald Knuth",    "Margaret Hamilton",  "Dennis Ritchie",
    "Ken Thompson",       "Frances Allen",   "John Backus",        "Radia Perlman",
    "Tim Berners-Lee",    "Leslie Lamport",  "Shafi Goldwasser",   "Niklaus Wirth",
    "Hedy Lamarr",        "Claude Shannon",  "Katherine Johnson",  "John McCarthy",
    "Adele Goldberg",     "Alan Kay",        "Sophie Wilson",      "Linus Torvalds",
    "Karen Sparck Jones", "Butler Lampson",  "Jean Sammet",        "Tony Hoare",
    "Anita Borg",         "Vint Cerf",       "Ivan Sutherland",    "Mary Kenneth Keller",
    "Bjarne Stroustrup",  "Annie Easley",    "Robin Milner",       "Lynn Conway",
    "Fernando Corbato",   "Evelyn Berezin",  "Guido van Rossum",   "Joan Clarke",
    "Ken Iverson",        "Betty Holberton", "Yukihiro Matsumoto", "Kathleen Booth",
    "Peter Naur",         "Jean Bartik",     "Whitfield Diffie",   "Carol Shaw",
    "Edgar Codd",         "Susan Kare",
};

static const char *const titles[] = {"Analyst",  "Engineer",      "Researcher", "Architect",
                                     "Designer", "Mathematician", "Programmer"};

static char ids[CAMEO_SEED_USERS][48]; /* made once from names (see make_ids) */
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;

static void make_ids(void)
{
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++) {
        size_t k = 0;
        for (const char *p = names[i]; *p && k + 1 < sizeof(ids[i]); p++) {
            char ch = *p;
            if (ch >= 'A' && ch <= 'Z')
                ids[i][k++] = (char)(ch - 'A' + 'a');
            else if ((ch >= 'a' && ch <= 'z') || ch == '-')
                ids[i][k++] = ch;
            else if (ch == ' ')
                ids[i][k++] = '-';
        }
        ids[i][k] = '\0';
    }
}

const char *cameo_seed_id(unsigned i)
{
    pthread_once(&ids_once, make_ids);
    return i < CAMEO_SEED_USERS ? ids[i] : NULL;
}

const char *cameo_seed_name(unsigned i)
{
    return i < CAMEO_SEED_USERS ? names[i] : NULL;
}

/* ---- PNG ---- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends a chunk (length, type, data, CRC of type and data) at *p. */
static unsigned char *chunk(unsigned char *p, const char type[4], const unsigned char *data, size_t len)
{
    put32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    uLong crc = crc32(0L, p + 4, (uInt)(len + 4));
    put32(p + 8 + len, (uint32_t)crc);
    return p + 12 + len;
}

/* A small hash (splitmix64) of the user number: colours and pattern. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int cameo_seed_png(unsigned i, unsigned char **out, size_t *len)
{
    enum { ROW = 1 + 3 * PNG_SIDE, RAW = ROW * PNG_SIDE };
    uint64_t h = mix(i + 1);
    unsigned char fg[3] = {(unsigned char)(40 + (h & 0x7f)), (unsigned char)(40 + ((h >> 8) & 0x7f)),
                           (unsigned char)(40 + ((h >> 16) & 0x7f))};
    unsigned char bg[3] = {240, 240, 236};
    unsigned char *raw = malloc(RAW);
    uLong zcap = compressBound(RAW);
    unsigned char *z = malloc(zcap);
    unsigned char *png = malloc(zcap + 64);
    if (raw == NULL || z == NULL || png == NULL)
        goto err;
    uint64_t bits = h >> 24; /* 15 bits: 5 rows x 3 columns, mirrored */
    for (unsigned y = 0; y < PNG_SIDE; y++) {
        unsigned char *row = raw + (size_t)y * ROW;
        row[0] = 0; /* filter: none */
        for (unsigned x = 0; x < PNG_SIDE; x++) {
            /* an 8-pixel margin, then cells of 16 */
            int in = x >= 8 && x < 88 && y >= 8 && y < 88;
            unsigned cx = in ? (x - 8) / 16 : 0, cy = in ? (y - 8) / 16 : 0;
            unsigned col = cx < 3 ? cx : PNG_CELLS - 1 - cx;
            int on = in && ((bits >> (cy * 3 + col)) & 1);
            memcpy(row + 1 + 3 * x, on ? fg : bg, 3);
        }
    }
    uLongf zlen = zcap;
    if (compress2(z, &zlen, raw, RAW, 9) != Z_OK)
        goto err;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    put32(ihdr, PNG_SIDE);
    put32(ihdr + 4, PNG_SIDE);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* compression, filter, interlace */
    ihdr[11] = 0;
    ihdr[12] = 0;
    unsigned char *p = png;
    memcpy(p, sig, 8);
    p = chunk(p + 8, "IHDR", ihdr, sizeof(ihdr));
    p = chunk(p, "IDAT", z, zlen);
    p = chunk(p, "IEND", NULL, 0);
    free(raw);
    free(z);
    *out = png;
    *len = (size_t)(p - png);
    return CAMEO_OK;
err:
    free(raw);
    free(z);
    free(png);
    return CAMEO_ENOMEM;
}

/* ---- writing through the origin, and waiting ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned pending; /* guarded by mu: callbacks not yet fired */
    int err;          /* guarded by mu: the first error */
    size_t listed;    /* guarded by mu: ids the emptiness check found */
} waiter_t;

static void finish(waiter_t *w, int err)
{
    pthread_mutex_lock(&w->mu);
    if (err != CAMEO_OK && w->err == CAMEO_OK)
        w->err = err;
    if (--w->pending == 0)
        pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void on_listed(void *arg, int err, const char *const *list, size_t n)
{
    (void)list;
    waiter_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->listed = n;
    pthread_mutex_unlock(&w->mu);
    finish(w, err);
}

static void on_written(void *arg, int err, const cameo_profile_rec_t *rec, int created)
{
    (void)rec;
    (void)created;
    finish(arg, err);
}

/* Counts one operation started with rc: on an error its callback never
 * fires, so it is finished here. */
static void started(waiter_t *w, int rc)
{
    if (rc != CAMEO_OK)
        finish(w, rc);
}

static int wait_all(waiter_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return err;
}

/* The three origin calls seeding makes, in one place: when the origin
 * contract changes, only these lines do. */
static int list_one(cameo_origin_t *o, waiter_t *w)
{
    return o->ops->list_ids(o, NULL, NULL, 1, on_listed, w);
}

static int put_profile(cameo_origin_t *o, const char *id, const char *doc, uint64_t now_wall, waiter_t *w)
{
    return o->ops->put_profile(o, NULL, id, doc, strlen(doc), now_wall, on_written, w);
}

static int put_avatar(cameo_origin_t *o, const char *id, const cameo_blob_t *blob, uint64_t now_wall,
                      waiter_t *w)
{
    return o->ops->put_avatar(o, NULL, id, blob, now_wall, on_written, w);
}

int cameo_seed_demo(cameo_origin_t *o, uint64_t now_wall)
{
    if (o->ops->list_ids == NULL)
        return CAMEO_ENOTSUP;
    waiter_t w = {.pending = 1};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int err;
    started(&w, list_one(o, &w));
    if ((err = wait_all(&w)) != CAMEO_OK || w.listed > 0)
        goto out;

    w.pending = CAMEO_SEED_USERS;
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++) {
        char doc[256];
        snprintf(doc, sizeof(doc), "{\"name\":\"%s\",\"title\":\"%s\",\"demo\":true}", names[i],
                 titles[i % (sizeof(titles) / sizeof(titles[0]))]);
        started(&w, put_profile(o, cameo_seed_id(i), doc, now_wall, &w));
    }
    if ((err = wait_all(&w)) != CAMEO_OK)
        goto out;

    unsigned navatars = 0;
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++)
        navatars += i % 10 != 9;
    w.pending = navatars;
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++) {
        if (i % 10 == 9)
            continue; /* every tenth user keeps the initials placeholder */
        unsigned char *png = NULL;
        size_t len = 0;
        int rc = cameo_seed_png(i, &png, &len);
        char version[17];
        if (rc == CAMEO_OK) {
            cameo_avatar_version(png, len, version);
            cameo_blob_t blob = {png, len, cameo_image_type(png, len), version};
            rc = put_avatar(o, cameo_seed_id(i), &blob, now_wall, &w);
        }
        free(png); /* the origin copied the bytes */
        started(&w, rc);
    }
    err = wait_all(&w);
out:
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if (err != CAMEO_OK)
        return err;
    return w.listed > 0 ? 0 : CAMEO_SEED_USERS;
}
