/*
 * core_log.c - the process's logger: key=value lines on stderr. See log.h.
 */
#include "cameo/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

atomic_int cameo__log_level = CAMEO_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cameo_log_set_level(cameo_log_level_t level)
{
    atomic_store(&cameo__log_level, (int)level);
}

int cameo_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return CAMEO_LOG_WARN;
    return -1;
}

void cameo_log(cameo_log_level_t level, const char *msg, const char *fmt, ...)
{
    if (!cameo_log_enabled(level))
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], msg);
    if (fmt != NULL && n > 0 && (size_t)n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

const char *cameo_log_url(const char *url, char *buf, size_t len)
{
    const char *sep = strstr(url, "://");
    size_t scheme_len = sep != NULL ? (size_t)(sep - url) + 3 : 0;
    const char *host = url + scheme_len;
    size_t n = strcspn(host, "/?#");
    const char *at = memrchr(host, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    snprintf(buf, len, "%.*s%.*s/...", (int)scheme_len, url, (int)n, host);
    return buf;
}
