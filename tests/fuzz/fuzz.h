/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry point, the
 * seeds each target defines (used by fuzz_driver.c in gcc builds), and a
 * check that holds in every build type (assert() is compiled out with
 * NDEBUG).
 */
#ifndef CAMEO_FUZZ_H
#define CAMEO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NULL-terminated inputs the target starts from. */
extern const char *const cameo_fuzz_seeds[];

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

#endif
