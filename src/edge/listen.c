/* listen.c -- bind addresses and "HOST:PORT" flags to socket addresses, dual stack by default. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool lg_listen_ipv6_available(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0)
    return errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT;
  close(fd);
  return true;
}

lg_rc lg_listen_resolve(const char *what, const char *host, int port, bool ipv6_ok,
                        lg_listen_addr *out, char *err, size_t errlen) {
  struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;

  memset(out, 0, sizeof *out);
  if (!host || !*host)
    host = "::";
  if (port < 1 || port > 65535)
    return lg_fail(err, errlen, LG_EINVAL, "%s: port %d is not in 1..65535", what, port);
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    out->len = sizeof *a4;
    snprintf(out->shown, sizeof out->shown, "%s:%d", host, port);
    return LG_OK;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
    return lg_fail(err, errlen, LG_EINVAL, "%s: \"%.80s\" is not a numeric IPv4 or IPv6 address",
                   what, host);
  if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) && !ipv6_ok) {
    /* "every address" on a host without IPv6 is every IPv4 address. */
    memset(&out->ss, 0, sizeof out->ss);
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    a4->sin_port = htons((uint16_t)port);
    out->len = sizeof *a4;
    out->fell_back = true;
    snprintf(out->shown, sizeof out->shown, "0.0.0.0:%d", port);
    return LG_OK;
  }
  if (!ipv6_ok)
    return lg_fail(err, errlen, LG_EINVAL,
                   "%s: %.80s is an IPv6 address, and this host has no IPv6", what, host);
  a6->sin6_family = AF_INET6;
  a6->sin6_port = htons((uint16_t)port);
  out->len = sizeof *a6;
  out->ipv6 = true;
  /* The wildcard takes IPv4 clients too, as Kubernetes components listening on "::" do. */
  out->dual_stack = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
  snprintf(out->shown, sizeof out->shown, "[%s]:%d", host, port);
  return LG_OK;
}

lg_rc lg_listen_parse(const char *what, const char *hostport, bool ipv6_ok, lg_listen_addr *out,
                      char *err, size_t errlen) {
  const char *colon, *host = hostport, *port_s;
  char buf[64];
  size_t hlen;
  char *end;
  long port;

  memset(out, 0, sizeof *out);
  if (!hostport || !(colon = strrchr(hostport, ':')))
    goto bad;
  port_s = colon + 1;
  hlen = (size_t)(colon - hostport);
  if (hostport[0] == '[') {
    /* "[IPV6]:PORT": the brackets must close right before the port's colon. */
    if (hlen < 2 || hostport[hlen - 1] != ']')
      goto bad;
    host = hostport + 1;
    hlen -= 2;
  } else if (memchr(hostport, ':', hlen)) {
    goto bad; /* a bare IPv6 address: its port is ambiguous */
  }
  if (hlen >= sizeof buf || !*port_s || *port_s == '+' || *port_s == '-')
    goto bad;
  memcpy(buf, host, hlen);
  buf[hlen] = '\0';
  errno = 0;
  port = strtol(port_s, &end, 10);
  if (errno || *end || port < 1 || port > 65535)
    goto bad;
  return lg_listen_resolve(what, buf, (int)port, ipv6_ok, out, err, errlen);

bad:
  return lg_fail(
      err, errlen, LG_EINVAL,
      "%s must be HOST:PORT, [IPV6]:PORT or :PORT with a port in 1..65535, not \"%.80s\"", what,
      hostport ? hostport : "");
}
