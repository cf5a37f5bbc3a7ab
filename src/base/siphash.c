/* siphash.c -- SipHash-2-4-128, written from the paper's description (2 compression rounds
 * per word, 4 finalization rounds per half of the output). */
#include "siphash.h"

#include <openssl/rand.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t le64(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void rounds(lg_siphash *s, int n) {
  for (int i = 0; i < n; i++) {
    s->v0 += s->v1;
    s->v1 = ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL(s->v2, 32);
  }
}

static void word(lg_siphash *s, uint64_t m) {
  s->v3 ^= m;
  rounds(s, 2);
  s->v0 ^= m;
}

void lg_siphash_key_from(lg_siphash_key *k, const unsigned char key[16]) {
  k->k0 = le64(key);
  k->k1 = le64(key + 8);
}

bool lg_siphash_key_random(lg_siphash_key *k) {
  unsigned char key[16];
  if (RAND_bytes(key, sizeof key) != 1)
    return false;
  lg_siphash_key_from(k, key);
  return true;
}

void lg_siphash_init(lg_siphash *s, const lg_siphash_key *k) {
  s->v0 = k->k0 ^ UINT64_C(0x736f6d6570736575);
  s->v1 = k->k1 ^ UINT64_C(0x646f72616e646f6d) ^ 0xee; /* 0xee: the 128-bit output */
  s->v2 = k->k0 ^ UINT64_C(0x6c7967656e657261);
  s->v3 = k->k1 ^ UINT64_C(0x7465646279746573);
  s->tail = 0;
  s->len = 0;
}

void lg_siphash_update(lg_siphash *s, const void *data, size_t n) {
  const unsigned char *p = data;
  size_t i = 0;
  /* Complete a word begun by an earlier call, then whole words, then keep the rest. */
  for (; i < n && (s->len & 7); i++, s->len++) {
    s->tail |= (uint64_t)p[i] << (8 * (s->len & 7));
    if ((s->len & 7) == 7) {
      word(s, s->tail);
      s->tail = 0;
    }
  }
  for (; i + 8 <= n; i += 8, s->len += 8)
    word(s, le64(p + i));
  for (; i < n; i++, s->len++)
    s->tail |= (uint64_t)p[i] << (8 * (s->len & 7));
}

void lg_siphash_final(lg_siphash *s, uint64_t out[2]) {
  /* The last word: the remaining bytes, and the length (mod 256) in its top byte. */
  word(s, s->tail | (uint64_t)(s->len & 0xff) << 56);
  s->v2 ^= 0xee;
  rounds(s, 4);
  out[0] = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
  s->v1 ^= 0xdd;
  rounds(s, 4);
  out[1] = s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}
