/*
 * test_core_media.c - id and version rules, image sniffing by magic bytes,
 * content-derived versions, initials and their SVG.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cameo/media.h"

static void test_ids_are_1_to_128_of_letters_digits_dot_underscore_dash(void **state)
{
    (void)state;
    char long_id[130];
    memset(long_id, 'a', sizeof(long_id));
    assert_true(cameo_id_valid("Ada.L_9-x", 9));
    assert_true(cameo_id_valid(long_id, 128));
    assert_false(cameo_id_valid(long_id, 129));
    assert_false(cameo_id_valid("", 0));
    const char *bad[] = {"a b", "a/b", "a@b", "é", "a%20", "a\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(cameo_id_valid(bad[i], strlen(bad[i])));
    assert_false(cameo_id_valid("ab\0c", 4)); /* an embedded NUL is not an id character */
    assert_true(cameo_version_valid(long_id, 64));
    assert_false(cameo_version_valid(long_id, 65));
}

static void test_images_are_recognised_by_magic_bytes_only(void **state)
{
    (void)state;
    assert_string_equal("image/png", cameo_image_type("\x89PNG\r\n\x1a\n", 8));
    assert_string_equal("image/jpeg", cameo_image_type("\xff\xd8\xff\xe0", 4));
    assert_string_equal("image/gif", cameo_image_type("GIF87a", 6));
    assert_string_equal("image/gif", cameo_image_type("GIF89a", 6));
    assert_string_equal("image/webp", cameo_image_type("RIFF\x10\0\0\0WEBPVP8 ", 16));
    assert_null(cameo_image_type("\x89PNG\r\n\x1a", 7)); /* truncated */
    assert_null(cameo_image_type("RIFF\x10\0\0\0WAVE", 12));
    assert_null(cameo_image_type("<svg></svg>", 11));
    assert_null(cameo_image_type("", 0));
}

static void test_version_is_16_hex_of_the_content_hash(void **state)
{
    (void)state;
    char a[17], b[17], c[17];
    cameo_avatar_version("hello", 5, a);
    cameo_avatar_version("hello", 5, b);
    cameo_avatar_version("hellp", 5, c);
    /* SHA-256("hello") starts 2cf24dba5fb0a30e. */
    assert_string_equal("2cf24dba5fb0a30e", a);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static void test_initials_from_name_then_id(void **state)
{
    (void)state;
    char out[3];
    cameo_initials("Ada Lovelace", "x", out);
    assert_string_equal("AL", out);
    cameo_initials("  grace  brewster  hopper ", "x", out);
    assert_string_equal("GH", out);
    cameo_initials("Cher", "x", out);
    assert_string_equal("C", out);
    cameo_initials(NULL, "ada.lovelace", out);
    assert_string_equal("AL", out);
    cameo_initials("<&>", "_-_", out); /* nothing usable anywhere */
    assert_string_equal("?", out);
}

static void test_initials_svg_is_deterministic_per_id(void **state)
{
    (void)state;
    char a[512], b[512], c[512];
    size_t na = cameo_initials_svg("ada", "AL", a, sizeof(a));
    size_t nb = cameo_initials_svg("ada", "AL", b, sizeof(b));
    cameo_initials_svg("bob", "AL", c, sizeof(c));
    assert_true(na > 0 && na < sizeof(a));
    assert_int_equal(na, nb);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c); /* another id, another colour */
    assert_non_null(strstr(a, ">AL</text>"));
    assert_memory_equal("<svg", a, 4);
    /* The browser's hueOf("ada"): ((97 * 31 + 100) * 31 + 97) % 360 = 294. */
    assert_non_null(strstr(a, "fill=\"hsl(294,55%,45%)\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_1_to_128_of_letters_digits_dot_underscore_dash),
        cmocka_unit_test(test_images_are_recognised_by_magic_bytes_only),
        cmocka_unit_test(test_version_is_16_hex_of_the_content_hash),
        cmocka_unit_test(test_initials_from_name_then_id),
        cmocka_unit_test(test_initials_svg_is_deterministic_per_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
