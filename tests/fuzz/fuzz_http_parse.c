/*
 * fuzz_http_parse.c - If-None-Match lists and query flags on arbitrary
 * bytes: no overread, and the answers agree with simple invariants.
 */
#include <stdint.h>
#include <string.h>

#include "http/http_parse.h"
#include "fuzz.h"

const char *const cameo_fuzz_seeds[] = {
    "\"abc\"",
    "W/\"abc\", \"def\"",
    "*",
    " , ,\"x\"\t,W/",
    "\"abc\"  ,  *",
    "default=initials&x=1",
    "a=b&&default=initials",
    "&",
    "",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    int any = cameo__etag_list_matches(p, size, "\"abc\"");
    /* A list with "*" in it matches any tag, so it matches "abc" too. */
    if (cameo__etag_list_matches(p, size, "\"zz-never\"") && !memchr(p, '"', size))
        CHECK(any);
    /* A match needs the tag's bytes or a '*' in the input. */
    if (any)
        CHECK(memchr(p, '*', size) != NULL || (size >= 5 && memmem(p, size, "\"abc\"", 5) != NULL));
    int has = cameo__query_has(p, size, "default=initials");
    if (has)
        CHECK(memmem(p, size, "default=initials", 16) != NULL);
    (void)cameo__query_has(p, size, "");
    return 0;
}
