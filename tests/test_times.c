/* test_times.c -- RFC 3339 parsing and MicroTime formatting, as tables of cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "times.h"

/* Expected values are `date -u -d <time> +%s` times 10^6 plus the fraction. */
#define SEC(s)          ((lg_time)(s)*LG_USEC_PER_SEC)
#define T_2026_11_25_10 SEC(INT64_C(1795600800)) /* 2026-11-25T10:00:00Z */

typedef struct {
  const char *name;
  const char *in;
  lg_time want;
} parse_ok_case;

static const parse_ok_case parse_ok_cases[] = {
    {"epoch", "1970-01-01T00:00:00Z", 0},
    {"metav1.Time without fraction", "2026-11-25T10:00:00Z", T_2026_11_25_10},
    {"MicroTime with 6 digits", "2026-11-25T10:00:00.123456Z", T_2026_11_25_10 + 123456},
    {"MicroTime of zero", "2026-11-25T10:00:00.000000Z", T_2026_11_25_10},
    {"1 fractional digit", "2026-11-25T10:00:00.1Z", T_2026_11_25_10 + 100000},
    {"2 fractional digits", "2026-11-25T10:00:00.12Z", T_2026_11_25_10 + 120000},
    {"3 fractional digits", "2026-11-25T10:00:00.123Z", T_2026_11_25_10 + 123000},
    {"4 fractional digits", "2026-11-25T10:00:00.1234Z", T_2026_11_25_10 + 123400},
    {"5 fractional digits", "2026-11-25T10:00:00.12345Z", T_2026_11_25_10 + 123450},
    {"7 fractional digits truncated", "2026-11-25T10:00:00.1234567Z", T_2026_11_25_10 + 123456},
    {"8 fractional digits truncated", "2026-11-25T10:00:00.12345678Z", T_2026_11_25_10 + 123456},
    {"9 fractional digits (RFC3339Nano)", "2026-11-25T10:00:00.123456789Z",
     T_2026_11_25_10 + 123456},
    {"9 nines truncated, not rounded", "2026-11-25T10:00:00.999999999Z", T_2026_11_25_10 + 999999},
    {"one microsecond", "2026-11-25T10:00:00.000001Z", T_2026_11_25_10 + 1},
    {"below a microsecond truncates to 0", "2026-11-25T10:00:00.0000009Z", T_2026_11_25_10},
    {"many fractional digits", "2026-11-25T10:00:00.50000000000000000001Z",
     T_2026_11_25_10 + 500000},
    {"positive offset", "2026-11-25T12:00:00+02:00", T_2026_11_25_10},
    {"negative half-hour offset", "2026-11-25T04:30:00-05:30", T_2026_11_25_10},
    {"offset with fraction", "2026-11-25T12:00:00.654321+02:00", T_2026_11_25_10 + 654321},
    {"offset +00:00", "2026-11-25T10:00:00+00:00", T_2026_11_25_10},
    {"offset -00:00", "2026-11-25T10:00:00-00:00", T_2026_11_25_10},
    {"offset +23:59", "2026-11-26T09:59:00+23:59", T_2026_11_25_10},
    {"offset crosses midnight backwards", "2026-11-25T01:00:00+02:00",
     SEC(INT64_C(1795561200))}, /* 2026-11-24T23:00:00Z */
    {"offset crosses midnight forwards", "2026-11-24T22:00:00-12:00", T_2026_11_25_10},
    {"lowercase t and z", "2026-11-25t10:00:00.5z", T_2026_11_25_10 + 500000},
    {"lowercase t with offset", "2026-11-25t12:00:00+02:00", T_2026_11_25_10},
    {"leap day 2024", "2024-02-29T00:00:00Z", SEC(INT64_C(1709164800))},
    {"leap day 2000", "2000-02-29T12:34:56Z", SEC(INT64_C(951827696))},
    {"end of year", "2026-12-31T23:59:59Z", SEC(INT64_C(1798761599))},
    {"past 2038", "2038-01-19T03:14:08Z", SEC(INT64_C(2147483648))},
    {"one second before epoch", "1969-12-31T23:59:59Z", SEC(-1)},
    {"half a second before epoch", "1969-12-31T23:59:59.5Z", -500000},
    {"one microsecond before epoch", "1969-12-31T23:59:59.999999Z", -1},
    {"epoch written with +01:00", "1970-01-01T01:00:00+01:00", 0},
    {"before epoch by offset", "1970-01-01T00:00:00+01:00", SEC(-3600)},
    {"1965", "1965-06-15T08:30:00Z", SEC(INT64_C(-143479800))},
    {"1900", "1900-01-01T00:00:00Z", SEC(INT64_C(-2208988800))},
    {"year 1", "0001-01-01T00:00:00Z", SEC(INT64_C(-62135596800))},
    {"year 9999", "9999-12-31T23:59:59.999999Z", SEC(INT64_C(253402300799)) + 999999},
};

static void test_parse_accepts(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof parse_ok_cases / sizeof parse_ok_cases[0]; i++) {
    const parse_ok_case *c = &parse_ok_cases[i];
    lg_time got = INT64_C(-42);
    lg_rc rc = lg_time_parse(c->in, &got);
    if (rc != LG_OK)
      fail_msg("%s: lg_time_parse(\"%s\") = %d (%s), want LG_OK", c->name, c->in, (int)rc,
               lg_strerror(rc));
    if (got != c->want)
      fail_msg("%s: lg_time_parse(\"%s\") = %" PRId64 ", want %" PRId64, c->name, c->in, got,
               c->want);
  }
}

typedef struct {
  const char *name;
  const char *in;
} parse_bad_case;

static const parse_bad_case parse_bad_cases[] = {
    {"empty", ""},
    {"date only", "2026-11-25"},
    {"space instead of T", "2026-11-25 10:00:00Z"},
    {"missing zone", "2026-11-25T10:00:00"},
    {"missing zone after fraction", "2026-11-25T10:00:00.123456"},
    {"no seconds", "2026-11-25T10:00Z"},
    {"month 13", "2026-13-01T00:00:00Z"},
    {"month 00", "2026-00-10T00:00:00Z"},
    {"day 00", "2026-11-00T00:00:00Z"},
    {"day 32", "2026-11-32T00:00:00Z"},
    {"February 30", "2026-02-30T00:00:00Z"},
    {"February 29 in a common year", "2026-02-29T00:00:00Z"},
    {"February 29 in 2100", "2100-02-29T00:00:00Z"},
    {"April 31", "2026-04-31T00:00:00Z"},
    {"hour 24", "2026-11-25T24:00:00Z"},
    {"minute 60", "2026-11-25T10:60:00Z"},
    {"leap second 60", "2026-11-25T10:00:60Z"},
    {"second 61", "2026-11-25T10:00:61Z"},
    {"dot without digits", "2026-11-25T10:00:00.Z"},
    {"comma fraction", "2026-11-25T10:00:00,5Z"},
    {"non-digit in fraction", "2026-11-25T10:00:00.12a4Z"},
    {"short offset hour", "2026-11-25T12:00:00+2:00"},
    {"short offset minute", "2026-11-25T12:00:00+02:0"},
    {"offset without colon", "2026-11-25T12:00:00+0200"},
    {"offset hour only", "2026-11-25T12:00:00+02"},
    {"offset hour 24", "2026-11-25T12:00:00+24:00"},
    {"offset minute 60", "2026-11-25T12:00:00+02:60"},
    {"offset with seconds", "2026-11-25T12:00:00+02:00:00"},
    {"zone name", "2026-11-25T10:00:00UTC"},
    {"Z and offset", "2026-11-25T10:00:00Z+02:00"},
    {"trailing junk", "2026-11-25T10:00:00Zjunk"},
    {"double Z", "2026-11-25T10:00:00ZZ"},
    {"trailing space", "2026-11-25T10:00:00Z "},
    {"leading space", " 2026-11-25T10:00:00Z"},
    {"trailing newline", "2026-11-25T10:00:00Z\n"},
    {"non-digit month", "2026-1a-25T10:00:00Z"},
    {"non-digit year", "20x6-11-25T10:00:00Z"},
    {"non-digit hour", "2026-11-25T1a:00:00Z"},
    {"signed hour", "2026-11-25T-1:00:00Z"},
    {"slashes", "2026/11/25T10:00:00Z"},
    {"two-digit year", "26-11-25T10:00:00Z"},
    {"five-digit year", "20261-11-25T10:00:00Z"},
    {"single-digit month", "2026-1-25T10:00:00Z"},
    {"unix seconds", "1795600800"},
};

static void test_parse_rejects(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof parse_bad_cases / sizeof parse_bad_cases[0]; i++) {
    const parse_bad_case *c = &parse_bad_cases[i];
    lg_time got = INT64_C(-42);
    lg_rc rc = lg_time_parse(c->in, &got);
    if (rc != LG_ETIME)
      fail_msg("%s: lg_time_parse(\"%s\") = %d (%s, %" PRId64 "), want LG_ETIME", c->name, c->in,
               (int)rc, lg_strerror(rc), got);
  }
}

static void test_parse_null(void **state) {
  lg_time got = 0;
  (void)state;
  assert_int_equal(lg_time_parse(NULL, &got), LG_EINVAL);
  assert_int_equal(lg_time_parse("2026-11-25T10:00:00Z", NULL), LG_EINVAL);
}

typedef struct {
  const char *name;
  lg_time t;
  const char *full;  /* lg_time_format */
  const char *brief; /* lg_time_format_short */
} format_case;

static const format_case format_cases[] = {
    {"epoch", 0, "1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00Z"},
    {"whole second", T_2026_11_25_10, "2026-11-25T10:00:00.000000Z", "2026-11-25T10:00:00Z"},
    {"microseconds", T_2026_11_25_10 + 123456, "2026-11-25T10:00:00.123456Z",
     "2026-11-25T10:00:00.123456Z"},
    {"leading zeros kept", T_2026_11_25_10 + 100, "2026-11-25T10:00:00.000100Z",
     "2026-11-25T10:00:00.000100Z"},
    {"one microsecond", 1, "1970-01-01T00:00:00.000001Z", "1970-01-01T00:00:00.000001Z"},
    {"minus one microsecond", -1, "1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"},
    {"minus half a second", -500000, "1969-12-31T23:59:59.500000Z", "1969-12-31T23:59:59.500000Z"},
    {"minus one second", SEC(-1), "1969-12-31T23:59:59.000000Z", "1969-12-31T23:59:59Z"},
    {"minus 1.5 seconds", SEC(-1) - 500000, "1969-12-31T23:59:58.500000Z",
     "1969-12-31T23:59:58.500000Z"},
    {"1965", SEC(INT64_C(-143479800)) + 250000, "1965-06-15T08:30:00.250000Z",
     "1965-06-15T08:30:00.250000Z"},
    {"1900", SEC(INT64_C(-2208988800)), "1900-01-01T00:00:00.000000Z", "1900-01-01T00:00:00Z"},
    {"year 1", SEC(INT64_C(-62135596800)), "0001-01-01T00:00:00.000000Z", "0001-01-01T00:00:00Z"},
    {"leap day", SEC(INT64_C(951827696)), "2000-02-29T12:34:56.000000Z", "2000-02-29T12:34:56Z"},
    {"past 2038", SEC(INT64_C(2147483648)), "2038-01-19T03:14:08.000000Z", "2038-01-19T03:14:08Z"},
    {"year 9999", SEC(INT64_C(253402300799)) + 999999, "9999-12-31T23:59:59.999999Z",
     "9999-12-31T23:59:59.999999Z"},
    /* The extremes must still fit the buffer (date -u -d @9223372036854 and @-9223372036855). */
    {"INT64_MAX", INT64_MAX, "294247-01-10T04:00:54.775807Z", "294247-01-10T04:00:54.775807Z"},
    {"INT64_MIN", INT64_MIN, "-290308-12-21T19:59:05.224192Z", "-290308-12-21T19:59:05.224192Z"},
};

static void test_format(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
    const format_case *c = &format_cases[i];
    char buf[LG_TIME_BUFLEN];
    const char *got;
    memset(buf, 'x', sizeof buf);
    got = lg_time_format(c->t, buf);
    if (got != buf)
      fail_msg("%s: lg_time_format did not return its buffer", c->name);
    if (strcmp(got, c->full) != 0)
      fail_msg("%s: lg_time_format(%" PRId64 ") = \"%s\", want \"%s\"", c->name, c->t, got,
               c->full);
    memset(buf, 'x', sizeof buf);
    got = lg_time_format_short(c->t, buf);
    if (got != buf)
      fail_msg("%s: lg_time_format_short did not return its buffer", c->name);
    if (strcmp(got, c->brief) != 0)
      fail_msg("%s: lg_time_format_short(%" PRId64 ") = \"%s\", want \"%s\"", c->name, c->t, got,
               c->brief);
  }
}

/* parse(format(t)) == t, for both formats, over the table and a spread of values. */
static void check_round_trip(const char *name, lg_time t) {
  char buf[LG_TIME_BUFLEN];
  lg_time back = INT64_C(-42);
  lg_rc rc = lg_time_parse(lg_time_format(t, buf), &back);
  if (rc != LG_OK || back != t)
    fail_msg("%s: parse(format(%" PRId64 ")) = %d, %" PRId64 " (text \"%s\")", name, t, (int)rc,
             back, buf);
  back = INT64_C(-42);
  rc = lg_time_parse(lg_time_format_short(t, buf), &back);
  if (rc != LG_OK || back != t)
    fail_msg("%s: parse(format_short(%" PRId64 ")) = %d, %" PRId64 " (text \"%s\")", name, t,
             (int)rc, back, buf);
}

static void test_round_trip(void **state) {
  const lg_time lo = SEC(INT64_C(-62135596800));          /* 0001-01-01 */
  const lg_time hi = SEC(INT64_C(253402300799)) + 999999; /* 9999-12-31T23:59:59.999999 */
  uint64_t x = UINT64_C(0x9E3779B97F4A7C15);
  char name[64];
  (void)state;
  for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++)
    if (format_cases[i].t >= lo && format_cases[i].t <= hi)
      check_round_trip(format_cases[i].name, format_cases[i].t);
  for (lg_time t = -3 * LG_USEC_PER_SEC; t <= 3 * LG_USEC_PER_SEC; t += 250001) {
    snprintf(name, sizeof name, "near epoch %" PRId64, t);
    check_round_trip(name, t);
  }
  for (int i = 0; i < 2000; i++) {
    lg_time t;
    x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    t = lo + (lg_time)((x >> 1) % (uint64_t)(hi - lo + 1));
    snprintf(name, sizeof name, "random #%d", i);
    check_round_trip(name, t);
  }
}

static void test_now(void **state) {
  char buf[LG_TIME_BUFLEN];
  lg_time a = lg_time_now(), b, back = 0;
  (void)state;
  b = lg_time_now();
  assert_true(a > SEC(INT64_C(1704067200))); /* after 2024-01-01 */
  assert_true(b >= a);
  assert_int_equal(lg_time_parse(lg_time_format(a, buf), &back), LG_OK);
  assert_true(back == a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_accepts), cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_parse_null),    cmocka_unit_test(test_format),
      cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
