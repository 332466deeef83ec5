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

/* The '&'-separated components of q[0..len), in order; an empty q, and a
 * trailing '&', end with an empty component. Returns 1 with *comp and *clen
 * and moves *p past the component, 0 when there is none left (*p is NULL
 * then). *p starts at q. */
static int next_component(const char **p, const char *end, const char **comp, size_t *clen)
{
    if (*p == NULL)
        return 0;
    const char *amp = memchr(*p, '&', (size_t)(end - *p));
    const char *tend = amp != NULL ? amp : end;
    *comp = *p;
    *clen = (size_t)(tend - *p);
    *p = amp != NULL ? amp + 1 : NULL;
    return 1;
}

int cameo__query_has(const char *q, size_t len, const char *param)
{
    size_t plen = strlen(param), clen;
    const char *p = q, *comp;
    while (next_component(&p, q + len, &comp, &clen))
        if (clen == plen && memcmp(comp, param, plen) == 0)
            return 1;
    return 0;
}

int cameo__query_get(const char *q, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name), clen;
    const char *p = q, *comp;
    while (next_component(&p, q + len, &comp, &clen)) {
        if (clen >= nlen && memcmp(comp, name, nlen) == 0 && (clen == nlen || comp[nlen] == '=')) {
            *val = clen == nlen ? comp + clen : comp + nlen + 1;
            *vlen = clen == nlen ? 0 : clen - nlen - 1;
            return 1;
        }
    }
    return 0;
}
