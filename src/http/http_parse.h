/*
 * http_parse.h - the few pieces of HTTP that cameo parses itself (h2o parses
 * the rest): entity-tag lists of If-None-Match, and flags and values of a
 * query string (default=initials, limit, after, last_event_id).
 * Pure functions of their input, no h2o types, so they can be fuzzed and
 * unit-tested alone. Internal to src/http/ and its tests.
 */
#ifndef CAMEO_HTTP_PARSE_H
#define CAMEO_HTTP_PARSE_H

#include <stddef.h>

/* 1 when the If-None-Match field value list[0..len) names etag (a quoted
 * entity tag such as "\"abc\"") or is "*", with the weak comparison of
 * RFC 9110 (a W/ prefix is ignored); else 0. */
int cameo__etag_list_matches(const char *list, size_t len, const char *etag);

/* Both query functions split q on '&' only (no decoding) and take a
 * non-empty param or name. */

/* 1 when the query string q[0..len) (without the '?') has the exact
 * component param (e.g. "default=initials") between '&'s; else 0. */
int cameo__query_has(const char *q, size_t len, const char *param);

/* Finds the value of name in the query string q[0..len) (without the '?'):
 * the first component "name=value" between '&'s. Returns 1 with *val and
 * *vlen (pointing into q, not decoded), 0 when absent. A bare "name" (no
 * '=') counts as present with an empty value. */
int cameo__query_get(const char *q, size_t len, const char *name, const char **val, size_t *vlen);

#endif
