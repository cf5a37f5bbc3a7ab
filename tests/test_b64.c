/* test_b64.c -- src/b64.c: RFC 4648's vectors both ways, binary data, and what Go's
 * base64.StdEncoding refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64.h"

static const struct {
  const char *plain, *b64;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    {"\xff\xfe\xfd?>", "//79Pz4="},
};

static void test_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
    size_t len = 99;
    char *enc = lg_b64_encode(vectors[i].plain, strlen(vectors[i].plain));
    char *dec = lg_b64_decode(vectors[i].b64, &len);
    if (!enc || strcmp(enc, vectors[i].b64) != 0)
      fail_msg("encode \"%s\": got \"%s\", want \"%s\"", vectors[i].plain, enc ? enc : "(null)",
               vectors[i].b64);
    if (!dec || len != strlen(vectors[i].plain) || memcmp(dec, vectors[i].plain, len) != 0)
      fail_msg("decode \"%s\": wrong bytes", vectors[i].b64);
    assert_int_equal(dec[len], '\0');
    free(enc);
    free(dec);
  }
}

static void test_binary(void **state) {
  const unsigned char bytes[] = {0, 1, 2, 0, 255};
  size_t len = 0;
  char *enc = lg_b64_encode(bytes, sizeof bytes), *dec;
  (void)state;
  assert_string_equal(enc, "AAECAP8=");
  dec = lg_b64_decode(enc, &len);
  assert_int_equal(len, sizeof bytes);
  assert_memory_equal(dec, bytes, sizeof bytes);
  free(enc);
  free(dec);
}

static void test_refused(void **state) {
  static const char *const bad[] = {"Zg",   "Zg=",      "Z===",   "Zm9v!A==", "Zm 9v",
                                    "=Zg=", "Zg==Zg==", "Zm9v\n", "Zm9-",     "Zm9_"};
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *dec = lg_b64_decode(bad[i], NULL);
    if (dec)
      fail_msg("\"%s\" decoded, but is not standard padded base64", bad[i]);
  }
  assert_null(lg_b64_decode(NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_binary),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
