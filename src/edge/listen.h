/* listen.h -- listen addresses: a bind address and port, or a "HOST:PORT" flag, to a socket
 * address; "::" (and an empty host) is every address of both families, IPv4 alone on a host
 * without IPv6. */
#ifndef LG_LISTEN_H
#define LG_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "rc.h"

typedef struct {
  struct sockaddr_storage ss; /* the address to bind */
  socklen_t len;
  bool ipv6;       /* an IPv6 socket */
  bool dual_stack; /* the IPv6 wildcard: takes IPv4 clients too (IPV6_V6ONLY off) */
  bool fell_back;  /* "::" asked for, but the host has no IPv6: 0.0.0.0 instead */
  char shown[64];  /* "127.0.0.1:8443", "[::]:8443", for messages */
} lg_listen_addr;

/* Turns host (a numeric IPv4 or IPv6 address; "" = "::") and port (1..65535) into out.
 * ipv6_ok false (see lg_listen_ipv6_available): "::" becomes 0.0.0.0 (fell_back), any other
 * IPv6 address fails. what names the setting in err ("--bind-address"). */
lg_rc lg_listen_resolve(const char *what, const char *host, int port, bool ipv6_ok,
                        lg_listen_addr *out, char *err, size_t errlen);

/* As lg_listen_resolve, from "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every address). */
lg_rc lg_listen_parse(const char *what, const char *hostport, bool ipv6_ok, lg_listen_addr *out,
                      char *err, size_t errlen);

/* Whether this host can open IPv6 sockets (false when the kernel has IPv6 off). */
bool lg_listen_ipv6_available(void);

#endif
