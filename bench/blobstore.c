/*
 * blobstore.c - measures where avatar blobs should live: rows of an SQLite
 * table (WAL, synchronous=FULL, one BEGIN IMMEDIATE transaction per write,
 * the shape origin_local uses) against one file per blob written the
 * crash-safe way (write, fsync, rename, fsync of the directory) and read with
 * read().
 *
 * Run by bench/blobstore.sh, which builds it; not linked into cameo. Prints
 * per-operation times (median and mean, microseconds) and the ratio
 * SQLite / files for 4 KiB, 64 KiB and 1 MiB blobs. Never asserts a time.
 * The two stores run interleaved, op by op. Iterations are bounded and each
 * of the 9 phases stops after PHASE_BUDGET_S, so a run on a slow disk stays
 * under 40 s.
 *
 * Reads hit the OS page cache in both cases (the files and the database were
 * just written); that is the steady state of a hot origin, not a cold disk.
 *
 * usage: blobstore DIR   (DIR must exist and be empty)
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define PHASE_BUDGET_S 4.0
#define PATH_BUF 4096

typedef struct size_case {
    size_t size;
    int writes; /* at most */
    int reads;  /* at most */
} size_case_t;

static const size_case_t cases[] = {
    {4096, 1000, 20000},
    {65536, 500, 5000},
    {1048576, 100, 500},
};

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "blobstore: %s: %s\n", what, detail);
    exit(1);
}

/* snprintf into a PATH_MAX-sized buffer; a path that does not fit is fatal. */
static void path(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_BUF, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_BUF)
        die("path too long", fmt);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    int n;
    double median, mean;
} stats_t;

static stats_t summarize(double *t, int n)
{
    stats_t s = {n, 0, 0};

    if (n == 0)
        return s;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    s.median = t[n / 2];
    for (int i = 0; i < n; i++)
        s.mean += t[i];
    s.mean /= n;
    return s;
}

/* Distinct content per iteration (first bytes carry the counter) and a
 * 64-hex-digit key like a SHA-256, as origin_local stores. */
static void fill(unsigned char *buf, size_t size, int i, char key[65])
{
    memcpy(buf, &i, sizeof i);
    buf[size - 1] = (unsigned char)i;
    snprintf(key, 65, "%064x", (unsigned)i * 2654435761u);
}

/* ---- SQLite: the blobs table of origin_local, one transaction per write ---- */

typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *ins, *sel;
} sq_t;

static sqlite3_stmt *sq_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("sqlite prepare", sqlite3_errmsg(db));
    return st;
}

/* mmap: also map up to 1 GiB of the database file (PRAGMA mmap_size). */
static void sq_open(sq_t *s, const char *dir, int mmap)
{
    char file[PATH_BUF];

    path(file, "%s/bench.db", dir);
    if (sqlite3_open(file, &s->db) != SQLITE_OK)
        die("sqlite open", sqlite3_errmsg(s->db));
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE IF NOT EXISTS blobs(sha256 TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL,"
                     " size INTEGER NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        die("sqlite setup", sqlite3_errmsg(s->db));
    if (mmap && sqlite3_exec(s->db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL) != SQLITE_OK)
        die("sqlite mmap", sqlite3_errmsg(s->db));
    s->begin = sq_prepare(s->db, "BEGIN IMMEDIATE");
    s->commit = sq_prepare(s->db, "COMMIT");
    s->ins = sq_prepare(s->db, "INSERT INTO blobs(sha256, data, size) VALUES(?1, ?2, ?3)");
    s->sel = sq_prepare(s->db, "SELECT data FROM blobs WHERE sha256 = ?1");
}

/* The last connection to close checkpoints the WAL into the database file. */
static void sq_close(sq_t *s)
{
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->sel);
    sqlite3_close(s->db);
}

static void sq_step_done(sq_t *s, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        die("sqlite step", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
}

static double sq_write(sq_t *s, const unsigned char *buf, size_t size, const char *key)
{
    double t0 = now_us();

    sq_step_done(s, s->begin);
    sqlite3_bind_text(s->ins, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s->ins, 2, buf, size, SQLITE_STATIC);
    sqlite3_bind_int64(s->ins, 3, (sqlite3_int64)size);
    sq_step_done(s, s->ins);
    sq_step_done(s, s->commit);
    return now_us() - t0;
}

/* Reads in place (origin_local hands SQLite's buffer to its callback). */
static double sq_read(sq_t *s, const char *key, unsigned *sink)
{
    double t0 = now_us();

    sqlite3_bind_text(s->sel, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s->sel) != SQLITE_ROW)
        die("sqlite read", "row missing");
    const unsigned char *p = sqlite3_column_blob(s->sel, 0);
    size_t len = (size_t)sqlite3_column_bytes(s->sel, 0);
    *sink += p[0] + p[len - 1];
    sqlite3_reset(s->sel);
    return now_us() - t0;
}

/* ---- files: one per blob, named by its key ---- */

static double fs_write(const char *dir, int dfd, const unsigned char *buf, size_t size, const char *key)
{
    char tmp[PATH_BUF], final[PATH_BUF];

    path(tmp, "%s/.%s.tmp", dir, key);
    path(final, "%s/%s", dir, key);
    double t0 = now_us();
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open", tmp);
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, buf + off, size - off);
        if (w <= 0)
            die("write", tmp);
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0 || fsync(dfd) != 0)
        die("fsync/rename", final);
    return now_us() - t0;
}

static double fs_read(const char *dir, const char *key, unsigned char *buf, unsigned *sink)
{
    char file[PATH_BUF];
    struct stat sb;

    path(file, "%s/%s", dir, key);
    double t0 = now_us();
    int fd = open(file, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0)
        die("open", file);
    size_t len = (size_t)sb.st_size;
    for (size_t off = 0; off < len;) {
        ssize_t r = read(fd, buf + off, len - off);
        if (r <= 0)
            die("read", file);
        off += (size_t)r;
    }
    close(fd);
    *sink += buf[0] + buf[len - 1];
    return now_us() - t0;
}

/* ---- the runs: both stores interleaved op by op (alternating which goes
 * first), so disk noise and background load fall on both alike ---- */

static int run_writes(sq_t *s, const char *fdir, const size_case_t *c, unsigned char *buf, double *t_sq,
                      double *t_fs)
{
    int dfd = open(fdir, O_RDONLY | O_DIRECTORY), n = 0;
    double start = now_us();
    char key[65];

    if (dfd < 0)
        die("open dir", fdir);
    for (; n < c->writes && now_us() - start < PHASE_BUDGET_S * 1e6; n++) {
        fill(buf, c->size, n, key);
        if (n % 2) {
            t_fs[n] = fs_write(fdir, dfd, buf, c->size, key);
            t_sq[n] = sq_write(s, buf, c->size, key);
        } else {
            t_sq[n] = sq_write(s, buf, c->size, key);
            t_fs[n] = fs_write(fdir, dfd, buf, c->size, key);
        }
    }
    close(dfd);
    return n;
}

static int run_reads(sq_t *s, const char *fdir, const size_case_t *c, int stored, unsigned char *buf,
                     double *t_sq, double *t_fs, unsigned *sink)
{
    unsigned char dummy[8];
    double start = now_us();
    char key[65];
    int n = 0;

    for (; n < c->reads && now_us() - start < PHASE_BUDGET_S * 1e6; n++) {
        fill(dummy, sizeof dummy, (int)((unsigned)n * 7919u % (unsigned)stored), key);
        if (n % 2) {
            t_fs[n] = fs_read(fdir, key, buf, sink);
            t_sq[n] = sq_read(s, key, sink);
        } else {
            t_sq[n] = sq_read(s, key, sink);
            t_fs[n] = fs_read(fdir, key, buf, sink);
        }
    }
    return n;
}

static void row(const char *op, size_t size, stats_t sq, stats_t fs)
{
    printf("| %s | %zu KiB | %9.1f | %9.1f | %9.1f | %9.1f | %5.2f | %d |\n", op, size / 1024, sq.median,
           sq.mean, fs.median, fs.mean, fs.median > 0 ? sq.median / fs.median : 0.0, sq.n);
}

int main(int argc, char **argv)
{
    unsigned sink = 0;
    int most = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        most = cases[i].reads > most ? cases[i].reads : most;
    double *t_sq = malloc(sizeof(double) * (size_t)most), *t_fs = malloc(sizeof(double) * (size_t)most);
    unsigned char *buf = calloc(1, 1048576);
    if (!t_sq || !t_fs || !buf)
        die("malloc", "out of memory");

    printf("SQLite %s, WAL, synchronous=FULL, one transaction per write; files: write+fsync+rename+"
           "fsync(dir), read(); times in us per op\n\n",
           sqlite3_libversion());
    printf("| op | size | sqlite p50 | sqlite mean | files p50 | files mean | ratio p50 "
           "sqlite/files | n |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_case_t *c = &cases[i];
        char sub[PATH_BUF], fdir[PATH_BUF];
        path(sub, "%s/%zu", argv[1], c->size);
        path(fdir, "%s/files", sub);
        if (mkdir(sub, 0700) != 0 || mkdir(fdir, 0700) != 0)
            die("mkdir", sub);
        sq_t sq;
        sq_open(&sq, sub, 0);
        int w = run_writes(&sq, fdir, c, buf, t_sq, t_fs);
        row("write", c->size, summarize(t_sq, w), summarize(t_fs, w));
        int r = run_reads(&sq, fdir, c, w, buf, t_sq, t_fs, &sink);
        row("read", c->size, summarize(t_sq, r), summarize(t_fs, r));
        sq_close(&sq);
        sq_open(&sq, sub, 1);
        r = run_reads(&sq, fdir, c, w, buf, t_sq, t_fs, &sink);
        row("read, sqlite mmap_size=1G", c->size, summarize(t_sq, r), summarize(t_fs, r));
        sq_close(&sq);
    }
    printf("\nmedian (p50) and mean in us per op; ratio = sqlite p50 / files p50 (checksum %u)\n", sink);
    free(t_sq);
    free(t_fs);
    free(buf);
    return 0;
}
