/*
 * test_http_parse.c - If-None-Match lists and query flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_parse.h"

#define INM(list, tag) cameo__etag_list_matches((list), strlen(list), (tag))
#define QH(q, p) cameo__query_has((q), strlen(q), (p))

static void test_if_none_match_uses_weak_comparison_over_a_list(void **state)
{
    (void)state;
    assert_true(INM("\"abc\"", "\"abc\""));
    assert_true(INM("W/\"abc\"", "\"abc\""));
    assert_true(INM("\"x\", \"abc\"", "\"abc\""));
    assert_true(INM(" \"x\" ,\tW/\"abc\" ", "\"abc\""));
    assert_true(INM("*", "\"abc\""));
    assert_false(INM("\"abcd\"", "\"abc\""));
    assert_false(INM("abc", "\"abc\"")); /* unquoted is not the tag */
    assert_false(INM("", "\"abc\""));
    assert_false(INM(",,", "\"abc\""));
    assert_false(INM("\"ab\", \"c\"", "\"abc\""));
}

static void test_query_flag_must_be_a_whole_component(void **state)
{
    (void)state;
    assert_true(QH("default=initials", "default=initials"));
    assert_true(QH("a=1&default=initials", "default=initials"));
    assert_true(QH("default=initials&a=1", "default=initials"));
    assert_false(QH("default=initialsX", "default=initials"));
    assert_false(QH("xdefault=initials", "default=initials"));
    assert_false(QH("", "default=initials"));
    assert_false(QH("&&", "default=initials"));
}

static void test_query_value_is_the_first_component_of_that_exact_name(void **state)
{
    (void)state;
    const char *v = NULL;
    size_t n = 0;
    const char *q = "limitx=9&limit=50&after=ada&limit=7&flag";
    assert_int_equal(1, cameo__query_get(q, strlen(q), "limit", &v, &n));
    assert_int_equal(2, n);
    assert_memory_equal("50", v, 2);
    assert_int_equal(1, cameo__query_get(q, strlen(q), "after", &v, &n));
    assert_int_equal(3, n);
    assert_memory_equal("ada", v, 3);
    assert_int_equal(1, cameo__query_get(q, strlen(q), "flag", &v, &n));
    assert_int_equal(0, n);
    assert_int_equal(0, cameo__query_get(q, strlen(q), "lim", &v, &n));
    assert_int_equal(0, cameo__query_get(q, strlen(q), "aft", &v, &n));
    assert_int_equal(0, cameo__query_get("", 0, "limit", &v, &n));
    assert_int_equal(1, cameo__query_get("limit=", 6, "limit", &v, &n));
    assert_int_equal(0, n);
}

static void test_query_value_is_found_between_empty_components(void **state)
{
    (void)state;
    const char *v = NULL;
    size_t n = 0;
    const char *q = "&&limit=5&";
    assert_int_equal(1, cameo__query_get(q, strlen(q), "limit", &v, &n));
    assert_int_equal(1, n);
    assert_memory_equal("5", v, 1);
    assert_int_equal(0, cameo__query_get(q, strlen(q), "after", &v, &n));
    assert_true(QH("&default=initials&", "default=initials"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_none_match_uses_weak_comparison_over_a_list),
        cmocka_unit_test(test_query_flag_must_be_a_whole_component),
        cmocka_unit_test(test_query_value_is_the_first_component_of_that_exact_name),
        cmocka_unit_test(test_query_value_is_found_between_empty_components),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
