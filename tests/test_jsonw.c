/* test_jsonw.c -- the JSON text writer (src/jsonw.c) against jansson's own dumper: every
 * string jansson would make is written as json_dumps writes it, and every string it would
 * refuse is refused; values, integers, failure and reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* jansson's text of the string s (n bytes), or NULL when it refuses to make it. */
static char *jansson_string(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  char *out = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  return out;
}

/* Checks that the writer and jansson agree on s; name is for the failure message. */
static void same_as_jansson(const char *name, const char *s, size_t n) {
  char *want = jansson_string(s, n), *got;
  lg_jsonw w;
  bool ok;
  lg_jsonw_init(&w);
  ok = lg_jsonw_string(&w, s, n);
  got = lg_jsonw_take(&w);
  if (!want != !ok || !want != !got)
    fail_msg("%s: jansson %s the string, the writer %s it", name, want ? "makes" : "refuses",
             ok ? "writes" : "refuses");
  if (want && strcmp(want, got) != 0)
    fail_msg("%s: jansson writes %s, the writer %s", name, want, got);
  free(want);
  free(got);
}

typedef struct {
  const char *name, *s;
  size_t n; /* 0: strlen(s) */
} string_case;

static const string_case string_cases[] = {
    {"empty", "", 0},
    {"plain", "kube-controller-manager", 0},
    {"quotes and backslashes", "a\"b\\c\"\\", 0},
    {"slash (not escaped)", "system:serviceaccount:kube-system/x", 0},
    {"named escapes", "\b\f\n\r\t", 0},
    {"other control characters", "\x01\x02\x1b\x1f", 0},
    {"DEL (not escaped)",
     "a\x7f"
     "b",
     0},
    {"NUL inside", "a\0b", 3},
    {"the six characters \\u0000 (a NUL escaped in place)", "pod-a\\u0000pod-b", 0},
    {"two-byte UTF-8", "caf\xc3\xa9", 0},
    {"three-byte UTF-8", "\xe2\x82\xac 5", 0},
    {"four-byte UTF-8", "\xf0\x9f\x94\x92 lock", 0},
    {"U+2028 (not escaped)",
     "a\xe2\x80\xa8"
     "b",
     0},
    {"lone continuation byte",
     "a\x80"
     "b",
     0},
    {"cut two-byte sequence", "caf\xc3", 0},
    {"overlong slash", "\xc0\xaf", 0},
    {"surrogate", "\xed\xa0\x80", 0},
    {"above U+10FFFF", "\xf4\x90\x80\x80", 0},
    {"invalid lead byte", "\xff", 0},
    {"long plain run",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "\"end",
     0},
};

static void test_strings(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof string_cases / sizeof *string_cases; i++) {
    const string_case *c = &string_cases[i];
    same_as_jansson(c->name, c->s, c->n ? c->n : strlen(c->s));
  }
}

/* Every single byte, then every pair of bytes: all escapes, and jansson's UTF-8 rules on
 * every lead and continuation byte. */
static void test_every_byte_and_pair(void **state) {
  char s[2], name[32];
  (void)state;
  for (int a = 0; a < 256; a++) {
    s[0] = (char)a;
    snprintf(name, sizeof name, "byte %02x", a);
    same_as_jansson(name, s, 1);
    for (int b = 0; b < 256; b++) {
      s[1] = (char)b;
      snprintf(name, sizeof name, "bytes %02x %02x", a, b);
      same_as_jansson(name, s, 2);
    }
  }
}

/* Random strings of 0 to 24 bytes drawn from bytes that matter to JSON and UTF-8. */
static void test_random_strings(void **state) {
  static const unsigned char pool[] = {'a',  'z',  '"',  '\\', '/',  0,    1,    '\n', 0x1f,
                                       0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0,
                                       0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  unsigned seed = 14;
  char s[24], name[40];
  (void)state;
  for (int k = 0; k < 100000; k++) {
    size_t n = (size_t)(rand_r(&seed) % 25);
    for (size_t i = 0; i < n; i++)
      s[i] = (char)pool[rand_r(&seed) % sizeof pool];
    snprintf(name, sizeof name, "random string %d", k);
    same_as_jansson(name, s, n);
  }
}

/* Values through jansson's dumper; integers at their limits; fragments; null. */
static void test_values(void **state) {
  const char *docs[] = {"[\"system:masters\",\"a\\u0000b\",1,-2.5,true,null,{\"k\":[]}]", "{}",
                        "\"x\"", "9223372036854775807", "-9223372036854775808"};
  lg_jsonw w;
  char *got;
  (void)state;
  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
    json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    lg_jsonw_init(&w);
    LG_JSONW_LIT(&w, "[");
    lg_jsonw_value(&w, v);
    LG_JSONW_LIT(&w, "]");
    got = lg_jsonw_take(&w);
    assert_non_null(got);
    assert_int_equal(strlen(got), strlen(want) + 2);
    assert_memory_equal(got + 1, want, strlen(want));
    free(want);
    free(got);
    json_decref(v);
  }
  lg_jsonw_init(&w);
  lg_jsonw_int(&w, INT64_MIN);
  LG_JSONW_LIT(&w, ",");
  lg_jsonw_int(&w, INT64_MAX);
  LG_JSONW_LIT(&w, ",");
  assert_true(lg_jsonw_cstr(&w, NULL));
  got = lg_jsonw_take(&w);
  assert_string_equal(got, "-9223372036854775808,9223372036854775807,null");
  free(got);
}

/* A refused string leaves what came before it and fails the whole text; a failed writer
 * writes nothing more; take empties the writer, which can be used again. */
static void test_failure_and_reuse(void **state) {
  lg_jsonw w;
  char *got;
  (void)state;
  lg_jsonw_init(&w);
  got = lg_jsonw_take(&w);
  assert_string_equal(got, ""); /* nothing written: the empty text */
  free(got);
  LG_JSONW_LIT(&w, "{\"a\":");
  assert_false(lg_jsonw_cstr(&w, "bad \xff"));
  assert_true(w.failed);
  assert_string_equal(w.p, "{\"a\":");
  LG_JSONW_LIT(&w, "1}");
  assert_string_equal(w.p, "{\"a\":");
  assert_null(lg_jsonw_take(&w));
  assert_null(w.p);
  assert_false(w.failed);
  assert_true(lg_jsonw_cstr(&w, "again"));
  got = lg_jsonw_take(&w);
  assert_string_equal(got, "\"again\"");
  free(got);
  /* A value jansson cannot write fails the writer too. */
  lg_jsonw_value(&w, NULL);
  assert_true(w.failed);
  lg_jsonw_free(&w);
  assert_false(w.failed);
}

/* Texts far past the first buffer grow it: 100,000 escaped strings in one text. */
static void test_growth(void **state) {
  lg_jsonw w;
  char *got;
  size_t n = 0;
  (void)state;
  lg_jsonw_init(&w);
  for (int i = 0; i < 100000; i++)
    lg_jsonw_cstr(&w, "\x01");
  got = lg_jsonw_take(&w);
  assert_non_null(got);
  for (const char *p = got; (p = strstr(p, "\"\\u0001\"")); p++)
    n++;
  assert_int_equal(n, 100000);
  assert_int_equal(strlen(got), 100000 * 8);
  free(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strings),           cmocka_unit_test(test_every_byte_and_pair),
      cmocka_unit_test(test_random_strings),    cmocka_unit_test(test_values),
      cmocka_unit_test(test_failure_and_reuse), cmocka_unit_test(test_growth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
