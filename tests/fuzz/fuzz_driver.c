/*
 * fuzz_driver.c - runs a libFuzzer target without libFuzzer (gcc builds):
 * the target's seeds, then a fixed number of deterministic mutations of
 * them (byte flips, inserts, cuts, splices), all under ASan and UBSan.
 * clang builds link -fsanitize=fuzzer instead and never use this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define RUNS 50000
#define MAX_LEN 512

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    size_t nseeds = 0;
    while (cameo_fuzz_seeds[nseeds] != NULL)
        nseeds++;
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput((const uint8_t *)cameo_fuzz_seeds[i], strlen(cameo_fuzz_seeds[i]));

    uint8_t buf[MAX_LEN];
    for (int run = 0; run < RUNS; run++) {
        const char *seed = cameo_fuzz_seeds[next() % nseeds];
        size_t len = strlen(seed) < MAX_LEN ? strlen(seed) : MAX_LEN;
        memcpy(buf, seed, len);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? next() % len : 0;
            switch (next() % 5) {
            case 0: /* flip a byte to anything */
                if (len)
                    buf[at] = (uint8_t)next();
                break;
            case 1: /* insert a byte */
                if (len < MAX_LEN) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (uint8_t)next();
                    len++;
                }
                break;
            case 2: /* cut */
                len = at;
                break;
            case 3: { /* splice in part of another seed */
                const char *other = cameo_fuzz_seeds[next() % nseeds];
                size_t olen = strlen(other), take = olen ? next() % (olen + 1) : 0;
                if (at + take > MAX_LEN)
                    take = MAX_LEN - at;
                memcpy(buf + at, other, take);
                if (at + take > len)
                    len = at + take;
                break;
            }
            default: /* duplicate a byte run */
                if (len && len < MAX_LEN) {
                    size_t n = 1 + next() % (MAX_LEN - len);
                    if (n > len - at)
                        n = len - at;
                    memmove(buf + at + n, buf + at, len - at);
                    len += n;
                }
                break;
            }
        }
        /* A heap copy of exactly len bytes, so ASan sees any overread. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
    }
    printf("%d inputs, no crash\n", RUNS + (int)nseeds);
    return 0;
}
