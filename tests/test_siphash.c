/* test_siphash.c -- SipHash-2-4-128 (src/siphash.c) against the reference vector and against
 * OpenSSL's SIPHASH MAC, for every length up to 300 bytes fed whole and in pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "siphash.h"

/* The digest as its 16 bytes. */
static void digest_bytes(const uint64_t d[2], unsigned char out[16]) {
  for (int i = 0; i < 16; i++)
    out[i] = (unsigned char)(d[i / 8] >> (8 * (i % 8)));
}

static void ours(const unsigned char key[16], const unsigned char *msg, size_t n, size_t piece,
                 unsigned char out[16]) {
  lg_siphash_key k;
  lg_siphash s;
  uint64_t d[2];
  lg_siphash_key_from(&k, key);
  lg_siphash_init(&s, &k);
  for (size_t i = 0; i < n; i += piece)
    lg_siphash_update(&s, msg + i, n - i < piece ? n - i : piece);
  lg_siphash_final(&s, d);
  digest_bytes(d, out);
}

static void openssl(const unsigned char key[16], const unsigned char *msg, size_t n,
                    unsigned char out[16]) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
  EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
  size_t size = 16, len = 0;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_END};
  assert_non_null(c);
  assert_int_equal(EVP_MAC_init(c, key, 16, params), 1);
  assert_int_equal(EVP_MAC_update(c, msg, n), 1);
  assert_int_equal(EVP_MAC_final(c, out, &len, 16), 1);
  assert_int_equal(len, 16);
  EVP_MAC_CTX_free(c);
  EVP_MAC_free(mac);
}

/* The paper's key 00..0f and the empty message (the first 128-bit vector of the reference
 * implementation). */
static void test_reference_vector(void **state) {
  static const unsigned char want[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                         0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
  unsigned char key[16], got[16];
  (void)state;
  for (int i = 0; i < 16; i++)
    key[i] = (unsigned char)i;
  ours(key, (const unsigned char *)"", 0, 1, got);
  assert_memory_equal(got, want, 16);
}

/* Every length from 0 to 300 under random keys, whole and in pieces of 1, 3, 7, 8 and 13
 * bytes (words split across calls), equal to OpenSSL's. */
static void test_against_openssl(void **state) {
  static const size_t pieces[] = {300, 1, 3, 7, 8, 13};
  unsigned char key[16], msg[300], want[16], got[16];
  (void)state;
  for (size_t n = 0; n <= sizeof msg; n++) {
    assert_int_equal(RAND_bytes(key, sizeof key), 1);
    assert_int_equal(RAND_bytes(msg, sizeof msg), 1);
    openssl(key, msg, n, want);
    for (size_t p = 0; p < sizeof pieces / sizeof *pieces; p++) {
      ours(key, msg, n, pieces[p], got);
      if (memcmp(got, want, 16) != 0)
        fail_msg("length %zu in pieces of %zu: differs from OpenSSL's SIPHASH", n, pieces[p]);
    }
  }
}

/* Two random keys differ, and so do the digests they give the same input. */
static void test_random_keys(void **state) {
  lg_siphash_key a, b;
  lg_siphash s;
  uint64_t da[2], db[2];
  (void)state;
  assert_true(lg_siphash_key_random(&a));
  assert_true(lg_siphash_key_random(&b));
  assert_false(a.k0 == b.k0 && a.k1 == b.k1);
  lg_siphash_init(&s, &a);
  lg_siphash_update(&s, "kube-system", 12);
  lg_siphash_final(&s, da);
  lg_siphash_init(&s, &b);
  lg_siphash_update(&s, "kube-system", 12);
  lg_siphash_final(&s, db);
  assert_false(da[0] == db[0] && da[1] == db[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_vector),
      cmocka_unit_test(test_against_openssl),
      cmocka_unit_test(test_random_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
