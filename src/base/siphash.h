/* siphash.h -- SipHash-2-4 with its 128-bit output (Aumasson and Bernstein), streamed: a
 * keyed hash for table keys. Without the key nobody can aim two inputs at one digest, and it
 * costs a small fraction of a SHA-256 through OpenSSL's EVP (no allocation, no fetch). */
#ifndef LG_SIPHASH_H
#define LG_SIPHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t k0, k1; /* the 16 key bytes, as two little-endian words */
} lg_siphash_key;

typedef struct {
  uint64_t v0, v1, v2, v3;
  uint64_t tail; /* the bytes of an incomplete word */
  size_t len;    /* bytes taken so far */
} lg_siphash;

/* Fills *k from the 16 bytes at key. */
void lg_siphash_key_from(lg_siphash_key *k, const unsigned char key[16]);

/* Fills *k with a random key (OpenSSL's generator); false when it has none to give. */
bool lg_siphash_key_random(lg_siphash_key *k);

/* Starts a hash with key k. */
void lg_siphash_init(lg_siphash *s, const lg_siphash_key *k);

/* Adds n bytes at p. */
void lg_siphash_update(lg_siphash *s, const void *p, size_t n);

/* Ends the hash: out[0] and out[1] are the first and second 8 bytes of the 128-bit digest,
 * read as little-endian words (OpenSSL's SIPHASH MAC with size 16 gives the same bytes). */
void lg_siphash_final(lg_siphash *s, uint64_t out[2]);

#endif
