/*
 * http_parse.c - If-None-Match lists, query flags and values. See http_parse.h.
 */
#include "http/http_parse.h"

#include <string.h>

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int cameo__etag_list_matches(const char *list, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = list, *end = list + len;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',')
            p++;
        const char *tend = p;
        while (tend > tok && is_ows(tend[-1]))
            tend--;
        if (tend - tok >= 2 && tok[0] == 'W' && tok[1] == '/')
            tok += 2;
        size_t tlen = (size_t)(tend - tok);
        if ((tlen == 1 && *tok == '*') || (tlen == elen && memcmp(tok, etag, elen) == 0))
            return 1;
    }
    return 0;
}

int cameo__query_has(const char *q, size_t len, const char *param)
{
    size_t plen = strlen(param);
    const char *p = q, *end = q + len;
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *tend = amp != NULL ? amp : end;
        if ((size_t)(tend - p) == plen && memcmp(p, param, plen) == 0)
            return 1;
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return 0;
}

int cameo__query_get(const char *q, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *tend = amp != NULL ? amp : end;
        size_t tlen = (size_t)(tend - p);
        if (tlen >= nlen && memcmp(p, name, nlen) == 0 && (tlen == nlen || p[nlen] == '=')) {
            *val = tlen == nlen ? tend : p + nlen + 1;
            *vlen = tlen == nlen ? 0 : tlen - nlen - 1;
            return 1;
        }
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return 0;
}
