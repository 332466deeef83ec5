/*
 * test_core_loopmap.c - the per-loop state table (core_loopmap.c): a loop
 * finds what it filed, twice is refused, a full table says so, and a freed
 * slot is used again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cameo/cameo.h"
#include "core/core_loopmap.h"

static cameo_loop_t loops[CAMEO_LOOPMAP_MAX + 1];
static int states[CAMEO_LOOPMAP_MAX + 1];

static void test_a_loop_finds_its_own_state_until_removed(void **state)
{
    (void)state;
    cameo_loopmap_t m;
    cameo__loopmap_init(&m);
    unsigned i0, i1;
    assert_int_equal(CAMEO_OK, cameo__loopmap_add(&m, &loops[0], &states[0], &i0));
    assert_int_equal(CAMEO_OK, cameo__loopmap_add(&m, &loops[1], &states[1], &i1));
    assert_int_not_equal(i0, i1);
    assert_ptr_equal(&states[1], cameo__loopmap_get(&m, &loops[1]));
    assert_ptr_equal(&states[0], cameo__loopmap_get(&m, &loops[0]));
    assert_null(cameo__loopmap_get(&m, &loops[2]));
    assert_int_equal(CAMEO_EINVAL, cameo__loopmap_add(&m, &loops[0], &states[2], NULL));
    assert_ptr_equal(&states[0], cameo__loopmap_remove(&m, &loops[0]));
    assert_null(cameo__loopmap_get(&m, &loops[0]));
    assert_null(cameo__loopmap_remove(&m, &loops[0]));
    unsigned i2;
    assert_int_equal(CAMEO_OK, cameo__loopmap_add(&m, &loops[2], &states[2], &i2));
    assert_int_equal(i0, i2); /* the freed slot */
    cameo__loopmap_remove(&m, &loops[1]);
    cameo__loopmap_remove(&m, &loops[2]);
    cameo__loopmap_destroy(&m);
}

static void test_a_full_table_refuses_one_more_loop(void **state)
{
    (void)state;
    cameo_loopmap_t m;
    cameo__loopmap_init(&m);
    for (int i = 0; i < CAMEO_LOOPMAP_MAX; i++)
        assert_int_equal(CAMEO_OK, cameo__loopmap_add(&m, &loops[i], &states[i], NULL));
    assert_int_equal(CAMEO_EBUSY, cameo__loopmap_add(&m, &loops[CAMEO_LOOPMAP_MAX], &states[0], NULL));
    assert_ptr_equal(&states[CAMEO_LOOPMAP_MAX - 1], cameo__loopmap_get(&m, &loops[CAMEO_LOOPMAP_MAX - 1]));
    for (int i = 0; i < CAMEO_LOOPMAP_MAX; i++)
        cameo__loopmap_remove(&m, &loops[i]);
    cameo__loopmap_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_loop_finds_its_own_state_until_removed),
        cmocka_unit_test(test_a_full_table_refuses_one_more_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
