/* times.c -- RFC 3339 parsing (strptime + timegm), MicroTime formatting, the clocks. */
#include "times.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int two_digits(const char *p) {
  if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
    return -1;
  return (p[0] - '0') * 10 + (p[1] - '0');
}

lg_rc lg_time_parse(const char *s, lg_time *out) {
  struct tm tm;
  const char *p;
  int64_t frac = 0, scale = 100000;
  int offset = 0;

  if (!s || !out)
    return LG_EINVAL;
  /* strptime alone accepts too much (missing zero padding, spaces), so the
   * fixed-width shape of RFC 3339 is checked first. */
  if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return LG_ETIME;
  for (int i = 0; i < 19; i++)
    if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)s[i]))
      return LG_ETIME;
  memset(&tm, 0, sizeof tm);
  p = strptime(s, "%Y-%m-%d", &tm);
  if (!p || p != s + 10)
    return LG_ETIME;
  p = strptime(s + 11, "%H:%M:%S", &tm);
  if (!p || p != s + 19 || tm.tm_sec > 59) /* Go rejects leap seconds too */
    return LG_ETIME;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return LG_ETIME;
    for (; isdigit((unsigned char)*p); p++) {
      frac += (*p - '0') * scale;
      scale /= 10;
    }
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int hh = two_digits(p + 1), mm;
    if (hh < 0 || p[3] != ':') /* checked before reading on, past a short string's end */
      return LG_ETIME;
    mm = two_digits(p + 4);
    if (mm < 0 || hh > 23 || mm > 59)
      return LG_ETIME;
    offset = (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return LG_ETIME;
  }
  if (*p != '\0')
    return LG_ETIME;
  {
    /* timegm normalises out-of-range days (Feb 30) in place, so the day is kept
     * from before the call and compared with the day the result falls on. */
    struct tm check;
    int mday = tm.tm_mday;
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1 && tm.tm_year != 69)
      return LG_ETIME;
    if (!gmtime_r(&secs, &check) || check.tm_mday != mday)
      return LG_ETIME;
    *out = ((int64_t)secs - offset) * LG_USEC_PER_SEC + frac;
  }
  return LG_OK;
}

static const char *format(lg_time t, char buf[LG_TIME_BUFLEN], int always_frac) {
  time_t secs = (time_t)(t / LG_USEC_PER_SEC);
  int64_t usec = t % LG_USEC_PER_SEC;
  struct tm tm;
  if (usec < 0) {
    usec += LG_USEC_PER_SEC;
    secs -= 1;
  }
  if (!gmtime_r(&secs, &tm)) {
    snprintf(buf, LG_TIME_BUFLEN, "invalid-time");
    return buf;
  }
  if (always_frac || usec)
    snprintf(buf, LG_TIME_BUFLEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec);
  else
    snprintf(buf, LG_TIME_BUFLEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

const char *lg_time_format(lg_time t, char buf[LG_TIME_BUFLEN]) { return format(t, buf, 1); }

const char *lg_time_format_short(lg_time t, char buf[LG_TIME_BUFLEN]) { return format(t, buf, 0); }

lg_time lg_time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (lg_time)ts.tv_sec * LG_USEC_PER_SEC + ts.tv_nsec / 1000;
}

int64_t lg_time_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * LG_USEC_PER_SEC + ts.tv_nsec / 1000;
}
