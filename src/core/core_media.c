/*
 * core_media.c - id and version validation, image sniffing, content-derived
 * avatar versions and the initials SVG. See media.h.
 */
#include "cameo/media.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

static int token_valid(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int cameo_id_valid(const char *s, size_t len)
{
    return token_valid(s, len, 128);
}

int cameo_version_valid(const char *s, size_t len)
{
    return token_valid(s, len, 64);
}

const char *cameo_image_type(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return "image/jpeg";
    if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

void cameo_avatar_version(const void *data, size_t len, char out[17])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    cameo_hex(md, 8, out);
}

void cameo_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* First alphanumeric ASCII character of each word of s (words split on
 * anything else); takes the first and the last word. */
static int initials_of(const char *s, char out[3])
{
    char first = 0, last = 0;
    int in_word = 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 128) {
            if (!in_word) {
                if (!first)
                    first = (char)toupper(c);
                else
                    last = (char)toupper(c);
            }
            in_word = 1;
        } else {
            in_word = 0;
        }
    }
    if (!first)
        return 0;
    out[0] = first;
    out[1] = last;
    out[2] = '\0';
    return 1;
}

void cameo_initials(const char *name, const char *id, char out[3])
{
    if (name != NULL && initials_of(name, out))
        return;
    if (!initials_of(id, out)) {
        out[0] = '?';
        out[1] = '\0';
    }
}

size_t cameo_initials_svg(const char *id, const char *initials, char *buf, size_t len)
{
    /* The hue of web/cameo.js and web/cameo-sw.js (hueOf), so a page shows
     * the same colour whether it draws the placeholder or asks for it. */
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
        h = h * 31u + *p;
    unsigned hue = (unsigned)(h % 360);
    int n = snprintf(
        buf, len,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"128\" height=\"128\" viewBox=\"0 0 128 128\">"
        "<rect width=\"128\" height=\"128\" fill=\"hsl(%u,55%%,45%%)\"/>"
        "<text x=\"64\" y=\"64\" dy=\".35em\" text-anchor=\"middle\" fill=\"#fff\" "
        "font-family=\"Helvetica,Arial,sans-serif\" font-size=\"52\">%s</text></svg>",
        hue, initials);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}
