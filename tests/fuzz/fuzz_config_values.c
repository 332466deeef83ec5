/*
 * fuzz_config_values.c - the size and duration parsers of the command line
 * on arbitrary strings: they accept or refuse, never overflow.
 */
#include <stdint.h>
#include <string.h>

#include "daemon/daemon_config.h"
#include "fuzz.h"

const char *const cameo_fuzz_seeds[] = {
    "256MiB",
    "64K",
    "1048576",
    "18446744073709551615",
    "5GiB",
    "10s",
    "250ms",
    "7d",
    "99999999999999999999h",
    "1m",
    "",
    "-1",
    " 5s",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64];
    if (size >= sizeof(s))
        size = sizeof(s) - 1;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t bytes = 0;
    uint64_t ms = 0;
    if (cameo_parse_size(s, &bytes) == 0)
        CHECK(s[0] >= '0' && s[0] <= '9');
    if (cameo_parse_duration(s, &ms) == 0)
        CHECK(s[0] >= '0' && s[0] <= '9' && strpbrk(s, "smhd") != NULL);
    return 0;
}
