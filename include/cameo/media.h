/*
 * media.h - small pure functions about the things cameo stores: validating
 * ids and versions, recognising image types by their magic bytes, deriving
 * an avatar version from its content, and drawing the initials placeholder.
 *
 * No state, no allocation, thread-safe. Used by the HTTP routes and the
 * response builders.
 */
#ifndef CAMEO_MEDIA_H
#define CAMEO_MEDIA_H

#include <stddef.h>

/* 1 if s[0..len) matches [A-Za-z0-9._-]{1,128}, else 0. */
int cameo_id_valid(const char *s, size_t len);

/* 1 if s[0..len) matches [A-Za-z0-9._-]{1,64} (an avatar version), else 0. */
int cameo_version_valid(const char *s, size_t len);

/* The MIME type of an image recognised by its magic bytes (PNG, JPEG, GIF,
 * WebP), as a static string, or NULL. */
const char *cameo_image_type(const void *data, size_t len);

/* Writes the avatar version of data: the first 8 bytes of its SHA-256 as 16
 * lowercase hex digits and a NUL. Same bytes, same version. */
void cameo_avatar_version(const void *data, size_t len, char out[17]);

/* Writes in[0..n) as 2n lowercase hex digits and a NUL into out. */
void cameo_hex(const void *in, size_t n, char *out);

/* Writes up to two uppercase initials (from name's first and last words, or
 * from id when name is NULL or has no letters) into out, NUL-terminated.
 * Only ASCII letters and digits are kept, so the result is safe in XML. */
void cameo_initials(const char *name, const char *id, char out[3]);

/* Writes the SVG placeholder for user id with initials into buf (at most
 * len bytes, NUL-terminated). Its background colour is derived from id (the
 * hue of the same 31-multiplier hash as hueOf in web/cameo.js), so the same
 * id always gives the same bytes, here and in the browser. Returns the length written (the
 * SVG is ~300 bytes; 512 is always enough). */
size_t cameo_initials_svg(const char *id, const char *initials, char *buf, size_t len);

#endif
