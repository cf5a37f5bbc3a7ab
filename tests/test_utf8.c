/* test_utf8.c -- UTF-8 well-formedness, trimming and repair (src/utf8.c), checked against
 * jansson, which refuses any string these functions let through as invalid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <jansson.h>

#include "utf8.h"

static size_t seq(const char *s) { return lg_utf8_seq((const unsigned char *)s, strlen(s)); }

static void test_seq(void **state) {
  (void)state;
  assert_int_equal(seq("a"), 1);
  assert_int_equal(seq("\xc3\xb6"), 2);         /* ö */
  assert_int_equal(seq("\xe2\x82\xac"), 3);     /* € */
  assert_int_equal(seq("\xf0\x9f\x98\x80"), 4); /* U+1F600 */
  assert_int_equal(seq("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF */
  assert_int_equal(seq("\x80"), 0);             /* a continuation alone */
  assert_int_equal(seq("\xc0\x80"), 0);         /* overlong NUL */
  assert_int_equal(seq("\xc1\xbf"), 0);         /* overlong */
  assert_int_equal(seq("\xe0\x80\x80"), 0);     /* overlong */
  assert_int_equal(seq("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
  assert_int_equal(seq("\xf0\x80\x80\x80"), 0); /* overlong */
  assert_int_equal(seq("\xf4\x90\x80\x80"), 0); /* above U+10FFFF */
  assert_int_equal(seq("\xf5\x80\x80\x80"), 0);
  assert_int_equal(seq("\xe2\x82"), 0);     /* cut short */
  assert_int_equal(seq("\xe2\x28\xac"), 0); /* not a continuation */
  assert_int_equal(lg_utf8_seq((const unsigned char *)"", 0), 0);
}

static void trimmed(const char *in, const char *want) {
  char buf[64];
  strcpy(buf, in);
  lg_utf8_trim(buf);
  assert_string_equal(buf, want);
}

static void test_trim(void **state) {
  (void)state;
  trimmed("", "");
  trimmed("abc", "abc");
  trimmed("ab\xc3\xb6", "ab\xc3\xb6");
  trimmed("ab\xc3", "ab");
  trimmed("ab\xe2\x82", "ab");
  trimmed("ab\xe2", "ab");
  trimmed("ab\xf0\x9f\x98", "ab");
  trimmed("ab\xf0\x9f\x98\x80", "ab\xf0\x9f\x98\x80");
}

static void test_repair(void **state) {
  static const char *const inputs[] = {
      "plain",
      "caf\xc3\xa9",
      "cut\xe2\x82",
      "\xff\xfe text",
      "mid\xc3(dle",
      "\xed\xa0\x80",
      "\xc0\x80",
      "a\x80\x80\x80z",
      "\xf4\x90\x80\x80",
      "ok \xe2\x82\xac and \xe2\x82",
  };
  static const size_t replaced[] = {0, 0, 2, 2, 1, 3, 2, 3, 4, 2};
  (void)state;
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    char buf[64];
    json_t *j;
    strcpy(buf, inputs[i]);
    assert_int_equal(lg_utf8_repair(buf), replaced[i]);
    assert_int_equal(strlen(buf), strlen(inputs[i])); /* byte for byte */
    j = json_string(buf);                             /* jansson accepts the result */
    assert_non_null(j);
    json_decref(j);
  }
}

static void test_copy_and_clip(void **state) {
  (void)state;
  char buf[8];
  assert_int_equal(lg_utf8_copy(buf, sizeof buf, "abc"), 3);
  assert_string_equal(buf, "abc");
  /* "abcdef" + e-acute (2 bytes) does not fit in 7 bytes: cut before it */
  assert_int_equal(lg_utf8_copy(buf, sizeof buf, "abcdef\xc3\xa9"), 6);
  assert_string_equal(buf, "abcdef");
  char w[16];
  lg_utf8_clip(w, sizeof w, "short", 10);
  assert_string_equal(w, "short");
  lg_utf8_clip(w, sizeof w, "abcdefg\xc3\xa9xyz", 10); /* 7 + 3 marker: the 2-byte char goes */
  assert_string_equal(w, "abcdefg...");
  lg_utf8_clip(w, sizeof w, "abcdef\xc3\xa9xyzxyz", 10);
  assert_string_equal(w, "abcdef...");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_and_clip),
      cmocka_unit_test(test_seq),
      cmocka_unit_test(test_trim),
      cmocka_unit_test(test_repair),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
