/* test_listen.c -- listen addresses (listen.c): HOST:PORT flags and bind addresses, IPv6
 * brackets, "::" as both families and its IPv4 fallback on a host without IPv6. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "listen.h"

typedef struct {
  const char *name, *in;
  bool ipv6_ok;
  const char *shown; /* NULL: must fail */
  int family;
  bool dual, fell_back;
  const char *err; /* part of the error */
} parse_case;

static void test_parse(void **state) {
  static const parse_case cases[] = {
      {"IPv4", "127.0.0.1:8080", true, "127.0.0.1:8080", AF_INET, false, false, NULL},
      {"IPv4 wildcard", "0.0.0.0:1", true, "0.0.0.0:1", AF_INET, false, false, NULL},
      {"IPv6 loopback", "[::1]:8081", true, "[::1]:8081", AF_INET6, false, false, NULL},
      {"IPv6 wildcard: both families", "[::]:8081", true, "[::]:8081", AF_INET6, true, false, NULL},
      {"no host: both families", ":9090", true, "[::]:9090", AF_INET6, true, false, NULL},
      {"no IPv6: the wildcard falls back", "[::]:8081", false, "0.0.0.0:8081", AF_INET, false, true,
       NULL},
      {"no IPv6, no host", ":9090", false, "0.0.0.0:9090", AF_INET, false, true, NULL},
      {"no IPv6: IPv4 is unchanged", "10.0.0.1:80", false, "10.0.0.1:80", AF_INET, false, false,
       NULL},
      {"no IPv6: an IPv6 address fails", "[::1]:80", false, NULL, 0, false, false, "no IPv6"},
      {"no port", "8080", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"a name", "localhost:80", true, NULL, 0, false, false, "not a numeric IPv4 or IPv6"},
      {"bare IPv6", "::1:80", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"no colon after ]", "[::1]80", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"unclosed [", "[::1:80", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"port 0", "127.0.0.1:0", true, NULL, 0, false, false, "1..65535"},
      {"port too large", ":65536", true, NULL, 0, false, false, "1..65535"},
      {"empty port", "127.0.0.1:", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"signed port", "127.0.0.1:+80", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"port with junk", "127.0.0.1:80x", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"empty", "", true, NULL, 0, false, false, "must be HOST:PORT"},
      {"NULL", NULL, true, NULL, 0, false, false, "must be HOST:PORT"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const parse_case *t = &cases[i];
    lg_listen_addr a;
    char err[256] = "";
    lg_rc rc = lg_listen_parse("--flag", t->in, t->ipv6_ok, &a, err, sizeof err);
    if (!t->shown) {
      if (rc == LG_OK || !strstr(err, t->err) || !strstr(err, "--flag"))
        fail_msg("%s: want an error with \"%s\" naming the flag, got rc %d: %s", t->name, t->err,
                 rc, err);
      continue;
    }
    if (rc != LG_OK)
      fail_msg("%s: %s", t->name, err);
    if (strcmp(a.shown, t->shown) != 0 || a.ss.ss_family != t->family || a.dual_stack != t->dual ||
        a.fell_back != t->fell_back || a.ipv6 != (t->family == AF_INET6))
      fail_msg("%s: got %s family %d dual %d fell back %d", t->name, a.shown, a.ss.ss_family,
               a.dual_stack, a.fell_back);
    if (a.len != (t->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)))
      fail_msg("%s: length %u", t->name, (unsigned)a.len);
  }
}

static void test_resolve(void **state) {
  lg_listen_addr a;
  char err[256];
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a.ss;
  (void)state;
  assert_int_equal(lg_listen_resolve("--bind-address", "::", 8443, true, &a, err, sizeof err),
                   LG_OK);
  assert_true(a.dual_stack);
  assert_int_equal(ntohs(a6->sin6_port), 8443);
  assert_string_equal(a.shown, "[::]:8443");
  assert_int_equal(lg_listen_resolve("--bind-address", "::", 8443, false, &a, err, sizeof err),
                   LG_OK);
  assert_true(a.fell_back);
  assert_string_equal(a.shown, "0.0.0.0:8443");
  assert_int_equal(lg_listen_resolve("--bind-address", "fd00::1", 443, true, &a, err, sizeof err),
                   LG_OK);
  assert_false(a.dual_stack);
  assert_string_equal(a.shown, "[fd00::1]:443");
  assert_int_not_equal(lg_listen_resolve("--bind-address", "[::]", 443, true, &a, err, sizeof err),
                       LG_OK);
  assert_non_null(strstr(err, "--bind-address: \"[::]\" is not a numeric IPv4 or IPv6 address"));
  assert_int_not_equal(lg_listen_resolve("--bind-address", "0.0.0.0", 0, true, &a, err, sizeof err),
                       LG_OK);
  /* This machine's answer is one of the two; either way the call must not fail. */
  (void)lg_listen_ipv6_available();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_resolve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
