/* fuzz_time.c -- libFuzzer target: lg_time_parse against a reference parser written from
 * RFC 3339, and lg_time_format / lg_time_format_short round trips. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "times.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool digits(const char *s, size_t n, int *out) {
  *out = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return false;
    *out = *out * 10 + (s[i] - '0');
  }
  return true;
}

/* date-time = full-date "T" partial-time time-offset, seconds 00-59 (Go refuses leap
 * seconds), fraction of any length truncated to microseconds, offset hours 00-23. */
static bool reference_parse(const char *s, lg_time *out) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
  int64_t frac = 0, scale = 100000;
  const char *p = s + 19;
  bool leap;

  if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
      !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
      s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
    return false;
  leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
      sec > 59)
    return false;
  if (*p == '.') {
    if (!isdigit((unsigned char)*++p))
      return false;
    for (; isdigit((unsigned char)*p); p++, scale /= 10)
      frac += (*p - '0') * scale;
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p == '-' ? -1 : 1;
    if (strlen(p) < 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
        oh > 23 || om > 59)
      return false;
    p += 6;
  } else {
    return false;
  }
  if (*p)
    return false;
  *out = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
          sign * (oh * 3600 + om * 60)) *
             LG_USEC_PER_SEC +
         frac;
  return true;
}

/* A formatted time that RFC 3339 can hold (years 0000-9999) must parse back to t. */
static void check_round_trip(lg_time t) {
  char buf[LG_TIME_BUFLEN], s[LG_TIME_BUFLEN];
  lg_time back = 0;
  bool four_digit_year;

  lg_time_format(t, buf);
  lg_time_format_short(t, s);
  CHECK(strlen(buf) < LG_TIME_BUFLEN && strlen(s) < LG_TIME_BUFLEN, "format overran");
  four_digit_year = isdigit((unsigned char)buf[0]) && buf[4] == '-';
  if (!four_digit_year)
    return;
  CHECK(strlen(buf) == 27 && buf[19] == '.' && buf[26] == 'Z', "not a MicroTime: %s", buf);
  CHECK(lg_time_parse(buf, &back) == LG_OK && back == t,
        "%s does not parse back to %lld (got %lld)", buf, (long long)t, (long long)back);
  CHECK(lg_time_parse(s, &back) == LG_OK && back == t, "%s does not parse back to %lld (got %lld)",
        s, (long long)t, (long long)back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  lg_time t = 0, want = 0;
  lg_rc rc;
  bool ok;

  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  rc = lg_time_parse(s, &t);
  ok = reference_parse(s, &want);
  CHECK(rc == LG_OK || rc == LG_ETIME, "rc %d for \"%s\"", rc, s);
  CHECK((rc == LG_OK) == ok, "\"%s\": lg_time_parse rc %d, reference %s", s, rc,
        ok ? "accepts" : "refuses");
  if (ok) {
    CHECK(t == want, "\"%s\": %lld, reference %lld", s, (long long)t, (long long)want);
    check_round_trip(t);
  }
  /* Any 64-bit value formats without overrunning, and round-trips when it can. */
  if (size >= sizeof t) {
    memcpy(&t, data, sizeof t);
    check_round_trip(t);
  }
  free(s);
  return 0;
}
