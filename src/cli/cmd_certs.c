/* cmd_certs.c -- `leaseguard certs`: write a dev CA and a serving certificate and key. */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"

static const char usage[] =
    "Usage: leaseguard certs --out-dir=DIR [--dns=NAME]... [--days=N]\n"
    "\n"
    "Writes a throwaway CA (DIR/ca.crt) and a serving certificate and key signed by it\n"
    "(DIR/tls.crt, DIR/tls.key, EC P-256) for development. The CA key is not kept.\n"
    "\n"
    "  --out-dir DIR  directory to write into; created if missing (required)\n"
    "  --dns NAME     subjectAltName entry, repeatable; an IPv4/IPv6 address becomes an\n"
    "                 IP entry; the first is the subject CN (default: localhost, 127.0.0.1)\n"
    "  --days N       validity of both certificates in days (default 365)\n";

/* Same as the library's default, passed explicitly so the summary shows what was written. */
static const char *const default_names[] = {"localhost", "127.0.0.1"};

static int parse_days(const char *s, int *days) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v <= 0 || v > INT_MAX)
    return -1;
  *days = (int)v;
  return 0;
}

static int is_ip(const char *name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static void print_summary(const lg_certs_opts *o) {
  size_t dl = strlen(o->out_dir);
  const char *sep = dl && o->out_dir[dl - 1] == '/' ? "" : "/";
  const char *d = o->out_dir;
  printf("wrote %s%sca.crt, %s%stls.crt, %s%stls.key for ", d, sep, d, sep, d, sep);
  for (size_t i = 0; i < o->n_names; i++)
    printf("%s%s:%s", i ? ", " : "", is_ip(o->names[i]) ? "IP" : "DNS", o->names[i]);
  printf(" (valid %d days)\n", o->days);
}

int lg_cmd_certs(int argc, char **argv) {
  lg_certs_opts opts = {.out_dir = NULL, .names = NULL, .n_names = 0, .days = 365};
  const char **names = NULL;
  size_t n = 0;
  char err[512] = "";
  int status = 2;
  lg_rc rc;

  names = calloc(argc > 0 ? (size_t)argc : 1, sizeof *names);
  if (!names) {
    fprintf(stderr, "leaseguard certs: out of memory\n");
    status = 1;
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m;
    if (lg_cli_is_help(argv[i])) {
      fputs(usage, stdout);
      status = 0;
      goto out;
    }
    if ((m = lg_cli_flag(argc, argv, &i, "--out-dir", &v)) != 0) {
      if (m < 0)
        goto out;
      opts.out_dir = v;
    } else if ((m = lg_cli_flag(argc, argv, &i, "--dns", &v)) != 0) {
      if (m < 0)
        goto out;
      names[n++] = v;
    } else if ((m = lg_cli_flag(argc, argv, &i, "--days", &v)) != 0) {
      if (m < 0)
        goto out;
      if (parse_days(v, &opts.days) != 0) {
        lg_cli_usage_error("certs", "--days must be a positive whole number, not \"%s\"", v);
        goto out;
      }
    } else {
      lg_cli_usage_error("certs", "unknown argument \"%s\"", argv[i]);
      goto out;
    }
  }
  if (!opts.out_dir || !*opts.out_dir) {
    lg_cli_usage_error("certs", "--out-dir is required");
    goto out;
  }
  opts.names = n ? names : default_names;
  opts.n_names = n ? n : sizeof default_names / sizeof default_names[0];

  rc = lg_certs_generate(&opts, err, sizeof err);
  if (rc) {
    fprintf(stderr, "leaseguard certs: %s\n", err[0] ? err : lg_strerror(rc));
    /* A name or day count the library refuses is still a usage error. */
    status = rc == LG_EINVAL ? 2 : 1;
    goto out;
  }
  print_summary(&opts);
  status = 0;

out:
  free(names);
  return status;
}
