/* test_jarena.c -- jansson's allocations in arenas (src/jarena.c): trees made while an arena
 * is entered live in it and go with it; everything else stays with malloc; frees of arena
 * memory are no-ops wherever they happen on the thread; nesting, growth past the first block,
 * the spare block, threads. Run under ASan and valgrind like every test: a stray free() of
 * arena memory or a leak of malloc'd memory fails there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jarena.h"

static const char doc[] = "{\"request\":{\"uid\":\"u\",\"object\":{\"metadata\":{\"labels\":"
                          "{\"a\":\"1\",\"b\":\"2\"}},\"spec\":{\"holderIdentity\":\"h\","
                          "\"leaseDurationSeconds\":15}},\"groups\":[\"x\",\"y\",\"z\"]}}";

/* Before install, an arena is not made: decoding code falls back to malloc. Runs first. */
static void test_not_installed(void **state) {
  (void)state;
  assert_false(lg_jarena_installed());
  assert_null(lg_jarena_new());
  lg_jarena_enter(NULL); /* no-ops */
  lg_jarena_leave(NULL);
  lg_jarena_free(NULL);
  assert_int_equal(lg_jarena_used(NULL), 0);
}

/* A tree parsed in an arena is in it; the arena is freed without a json_decref. What is made
 * outside (before, after, and a json_dumps of the arena's tree) is malloc's and freed as
 * usual. */
static void test_tree_in_arena(void **state) {
  json_t *before = json_string("made before"), *tree, *after;
  lg_jarena *a;
  char *text;
  size_t used;
  (void)state;
  lg_jarena_install();
  lg_jarena_install(); /* once is enough; twice is harmless */
  assert_true(lg_jarena_installed());
  assert_non_null(a = lg_jarena_new());
  assert_int_equal(lg_jarena_used(a), 0);
  lg_jarena_enter(a);
  tree = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
  lg_jarena_leave(a);
  assert_non_null(tree);
  used = lg_jarena_used(a);
  assert_true(used > sizeof doc); /* jansson's nodes and strings went to the arena */
  after = json_string("made after");
  assert_int_equal(lg_jarena_used(a), used); /* not in the arena: it was left */
  text = json_dumps(tree, JSON_COMPACT);     /* malloc'd: free() is right */
  assert_string_equal(text, doc);
  free(text);
  /* Rewriting a string of the tree outside the arena would leak; inside, the old string's
   * free is a no-op and the new one is the arena's. */
  lg_jarena_enter(a);
  assert_int_equal(
      json_string_set(json_object_get(json_object_get(tree, "request"), "uid"), "rewritten"), 0);
  lg_jarena_leave(a);
  assert_true(lg_jarena_used(a) > used);
  /* A reference dropped after leaving (even the last one) frees nothing that is the arena's. */
  json_decref(json_incref(json_object_get(tree, "request")));
  json_decref(tree);
  lg_jarena_free(a);
  json_decref(before);
  json_decref(after);
}

/* Enters nest; leaving the inner one goes back to the outer; freeing an entered arena leaves
 * it. */
static void test_nesting(void **state) {
  lg_jarena *outer = lg_jarena_new(), *inner = lg_jarena_new();
  json_t *o, *i, *x;
  (void)state;
  assert_non_null(outer);
  assert_non_null(inner);
  lg_jarena_enter(outer);
  o = json_object();
  lg_jarena_enter(inner);
  i = json_array();
  lg_jarena_leave(inner);
  x = json_true(); /* a constant: no allocation */
  json_object_set_new(o, "k", json_string("v"));
  lg_jarena_leave(outer);
  assert_true(lg_jarena_used(outer) > 0 && lg_jarena_used(inner) > 0);
  lg_jarena_enter(inner);
  lg_jarena_free(inner); /* leaves it: back to malloc */
  x = json_string("malloc's");
  json_decref(x);
  (void)i;
  (void)o;
  lg_jarena_free(outer);
}

/* A document far past the first block (and one string larger than any block) grows the arena;
 * its memory is all released with it. */
static void test_growth(void **state) {
  lg_jarena *a = lg_jarena_new();
  json_t *arr;
  char *big = malloc(3 * 1024 * 1024 + 1);
  (void)state;
  assert_non_null(a);
  assert_non_null(big);
  memset(big, 'x', 3 * 1024 * 1024);
  big[3 * 1024 * 1024] = '\0';
  lg_jarena_enter(a);
  arr = json_array();
  for (int k = 0; k < 20000; k++)
    json_array_append_new(arr, json_sprintf("entry-%d", k));
  json_array_append_new(arr, json_string(big));
  lg_jarena_leave(a);
  assert_int_equal(json_array_size(arr), 20001);
  assert_int_equal(json_string_length(json_array_get(arr, 20000)), 3 * 1024 * 1024);
  assert_true(lg_jarena_used(a) > 3 * 1024 * 1024);
  lg_jarena_free(a);
  free(big);
}

/* Each thread has its own arenas, and its spare block is freed when it ends. */
static void *worker(void *arg) {
  long ok = 1;
  (void)arg;
  for (int k = 0; k < 200; k++) {
    lg_jarena *a = lg_jarena_new();
    json_t *t;
    if (!a)
      return NULL;
    lg_jarena_enter(a);
    t = json_loads(doc, 0, NULL);
    lg_jarena_leave(a);
    ok &=
        t && json_integer_value(json_object_get(
                 json_object_get(json_object_get(json_object_get(t, "request"), "object"), "spec"),
                 "leaseDurationSeconds")) == 15;
    /* malloc's memory on this thread while another thread's arena is entered there */
    json_decref(json_pack("{s:i}", "k", k));
    lg_jarena_free(a);
  }
  return (void *)ok;
}

static void test_threads(void **state) {
  pthread_t t[4];
  void *ok;
  (void)state;
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(t[i], &ok), 0);
    assert_true(ok == (void *)1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_not_installed), cmocka_unit_test(test_tree_in_arena),
      cmocka_unit_test(test_nesting),       cmocka_unit_test(test_growth),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
