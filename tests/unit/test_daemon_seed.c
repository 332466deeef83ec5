/*
 * test_daemon_seed.c - the demo users of --seed-demo (src/daemon/daemon_seed.c):
 * valid PNGs, valid distinct ids, and seeding only an empty store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "cameo/media.h"
#include "daemon/daemon_seed.h"

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_avatars_are_valid_96px_pngs_distinct_per_user(void **state)
{
    (void)state;
    unsigned char *first = NULL;
    size_t first_len = 0;
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++) {
        unsigned char *png = NULL;
        size_t len = 0;
        assert_int_equal(CAMEO_OK, cameo_seed_png(i, &png, &len));
        assert_string_equal("image/png", cameo_image_type(png, len));
        /* Walk the chunks: every CRC right, IHDR 96x96 RGB, IDAT inflates to
         * 96 rows of a filter byte and 96 RGB pixels. */
        size_t pos = 8;
        unsigned char raw[96 * (1 + 3 * 96) + 1];
        z_stream zs = {0};
        assert_int_equal(Z_OK, inflateInit(&zs));
        zs.next_out = raw;
        zs.avail_out = sizeof(raw);
        int ended = 0;
        while (pos + 12 <= len) {
            uint32_t n = get32(png + pos);
            const unsigned char *type = png + pos + 4;
            assert_true(pos + 12 + n <= len);
            assert_int_equal(crc32(0L, type, n + 4), get32(png + pos + 8 + n));
            if (memcmp(type, "IHDR", 4) == 0) {
                assert_int_equal(96, get32(type + 4));
                assert_int_equal(96, get32(type + 8));
                assert_int_equal(8, type[12]);
                assert_int_equal(2, type[13]);
            } else if (memcmp(type, "IDAT", 4) == 0) {
                zs.next_in = (unsigned char *)(uintptr_t)(type + 4);
                zs.avail_in = n;
                assert_int_equal(Z_STREAM_END, inflate(&zs, Z_FINISH));
            } else if (memcmp(type, "IEND", 4) == 0) {
                ended = 1;
            }
            pos += 12 + n;
        }
        assert_int_equal(96 * (1 + 3 * 96), zs.total_out);
        inflateEnd(&zs);
        assert_true(ended);
        assert_int_equal(len, pos);
        if (i == 0) {
            first = png;
            first_len = len;
        } else {
            assert_false(len == first_len && memcmp(png, first, len) == 0);
            free(png);
        }
    }
    free(first);
}

static void test_ids_are_valid_and_distinct(void **state)
{
    (void)state;
    for (unsigned i = 0; i < CAMEO_SEED_USERS; i++) {
        const char *id = cameo_seed_id(i);
        assert_true(cameo_id_valid(id, strlen(id)));
        assert_non_null(cameo_seed_name(i));
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(id, cameo_seed_id(j));
    }
    assert_string_equal("ada-lovelace", cameo_seed_id(0));
    assert_null(cameo_seed_id(CAMEO_SEED_USERS));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_seeds_an_empty_store_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/cameo-seed-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cameo_local_config_t cfg = {.dir = dir};
    cameo_origin_t *o = NULL;
    char err[256];
    assert_int_equal(CAMEO_OK, cameo_origin_local_open(&cfg, &o, err, sizeof(err)));
    assert_int_equal(CAMEO_SEED_USERS, cameo_seed_demo(o, 1000));
    assert_int_equal(0, cameo_seed_demo(o, 2000)); /* not empty any more: nothing written */
    o->ops->destroy(o);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avatars_are_valid_96px_pngs_distinct_per_user),
        cmocka_unit_test(test_ids_are_valid_and_distinct),
        cmocka_unit_test(test_seeds_an_empty_store_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
