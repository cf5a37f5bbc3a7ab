/* test_conns.c -- serve's connection list (src/conns.c): the count behind
 * --max-connections and the whole-request deadline behind --connection-timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "conns.h"

typedef struct {
  int fds[16];
  size_t n;
} cuts;

static void record(int fd, void *ud) {
  cuts *c = ud;
  if (c->n < 16)
    c->fds[c->n++] = fd;
}

static void test_count_find_remove(void **state) {
  lg_conns *set = lg_conns_new();
  int a, b, c;
  (void)state;
  assert_non_null(set);
  assert_int_equal(lg_conns_count(set), 0);
  lg_conns_add(set, &a, 10, 0.0);
  lg_conns_add(set, &b, 11, 0.0);
  lg_conns_add(set, &c, 12, 0.0);
  assert_int_equal(lg_conns_count(set), 3);
  assert_non_null(lg_conns_find(set, &b));
  lg_conns_remove(set, &b); /* from the middle */
  assert_null(lg_conns_find(set, &b));
  assert_non_null(lg_conns_find(set, &a));
  assert_non_null(lg_conns_find(set, &c));
  lg_conns_remove(set, &c); /* the head */
  assert_int_equal(lg_conns_count(set), 1);
  assert_null(lg_conns_find(set, &c));
  lg_conns_free(set); /* with a as the last node: freed too */
}

/* A connection has limit seconds from opening, or from its last touch, to deliver a
 * request; past that it is cut once, with its own descriptor. */
static void test_expire(void **state) {
  lg_conns *set = lg_conns_new();
  cuts got = {{0}, 0};
  int a, b, c;
  (void)state;
  lg_conns_add(set, &a, 10, 100.0);
  lg_conns_add(set, &b, 11, 100.0);
  lg_conns_add(set, &c, 12, 105.0);
  assert_int_equal(lg_conns_expire(set, 130.0, 30.0, record, &got), 0); /* exactly at limit */
  lg_conns_touch(set, lg_conns_find(set, &b), 120.0);                   /* b answered */
  assert_int_equal(lg_conns_expire(set, 130.5, 30.0, record, &got), 1);
  assert_int_equal(got.fds[0], 10);
  assert_int_equal(lg_conns_expire(set, 131.0, 30.0, record, &got), 0); /* not twice */
  assert_int_equal(lg_conns_expire(set, 150.5, 30.0, record, &got), 2);
  assert_int_equal(got.n, 3);
  assert_true((got.fds[1] == 11 && got.fds[2] == 12) || (got.fds[1] == 12 && got.fds[2] == 11));
  /* Cut connections stay counted until libmicrohttpd closes them. */
  assert_int_equal(lg_conns_count(set), 3);
  lg_conns_remove(set, &a);
  lg_conns_remove(set, &b);
  lg_conns_remove(set, &c);
  assert_int_equal(lg_conns_count(set), 0);
  lg_conns_touch(set, NULL, 1.0); /* a request whose connection was not found */
  lg_conns_free(set);
  lg_conns_free(NULL);
}

/* Worker threads open and close connections while the main thread expires them. */
typedef struct {
  lg_conns *set;
  int keys[200];
} worker;

static void *churn(void *arg) {
  worker *w = arg;
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 200; i++)
      lg_conns_add(w->set, &w->keys[i], i, (double)round);
    for (int i = 0; i < 200; i++)
      lg_conns_touch(w->set, lg_conns_find(w->set, &w->keys[i]), (double)round + 1);
    for (int i = 199; i >= 0; i--)
      lg_conns_remove(w->set, &w->keys[i]);
  }
  return NULL;
}

static void ignore(int fd, void *ud) {
  (void)fd;
  (void)ud;
}

static void test_threads(void **state) {
  lg_conns *set = lg_conns_new();
  static worker w[2];
  pthread_t t[2];
  (void)state;
  for (int i = 0; i < 2; i++) {
    w[i].set = set;
    assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
  }
  for (int i = 0; i < 200; i++)
    lg_conns_expire(set, 1000.0, 1.0, ignore, NULL);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(lg_conns_count(set), 0);
  lg_conns_free(set);
}

/* Thousands of connections (the index doubles several times): each found; the even ones
 * removed in an order unlike insertion (7i mod N over even i: every even index, shuffled);
 * the odd ones still found and their deadlines still their own. */
static void test_many(void **state) {
  enum { N = 3000 };
  static char keys[N];
  lg_conns *set = lg_conns_new();
  cuts c = {0};
  (void)state;
  assert_non_null(set);
  for (int i = 0; i < N; i++)
    lg_conns_add(set, &keys[i], i, 0.0);
  assert_int_equal(lg_conns_count(set), N);
  for (int i = 0; i < N; i++)
    assert_non_null(lg_conns_find(set, &keys[i]));
  for (int i = 0; i < N; i += 2)
    lg_conns_remove(set, &keys[(i * 7) % N]);
  assert_int_equal(lg_conns_count(set), N / 2);
  for (int i = 0; i < N; i++)
    if (i % 2)
      assert_non_null(lg_conns_find(set, &keys[i]));
    else
      assert_null(lg_conns_find(set, &keys[i]));
  /* Touch every remaining one but fd 1: only it expires. */
  for (int i = 3; i < N; i += 2)
    lg_conns_touch(set, lg_conns_find(set, &keys[i]), 10.0);
  assert_int_equal(lg_conns_expire(set, 10.5, 1.0, record, &c), 1);
  assert_int_equal(c.fds[0], 1);
  lg_conns_free(set); /* frees the rest */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many),
      cmocka_unit_test(test_count_find_remove),
      cmocka_unit_test(test_expire),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
