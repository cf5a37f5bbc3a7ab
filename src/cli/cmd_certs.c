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
  lg_flags_list names = {0};
  long long days = 365;
  const lg_flag flags[] = {
      {.name = "--out-dir", .kind = LG_FLAG_STRING, .dst = &opts.out_dir},
      {.name = "--dns", .kind = LG_FLAG_LIST, .dst = &names},
      {.name = "--days",
       .kind = LG_FLAG_INT,
       .dst = &days,
       .def = "365",
       .min = 1,
       .max = INT_MAX,
       .bad = "{flag} must be a positive whole number, not \"{value}\""},
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, NULL, NULL, NULL};
  char err[512] = "";
  int status = 2, r;
  lg_rc rc;

  if ((r = lg_cli_parse("certs", &spec, argc, argv, usage)) != 0) {
    status = r == 1 ? 0 : 2;
    goto out;
  }
  if (!opts.out_dir || !*opts.out_dir) {
    lg_cli_usage_error("certs", "--out-dir is required");
    goto out;
  }
  opts.days = (int)days;
  opts.names = names.n ? names.v : default_names;
  opts.n_names = names.n ? names.n : sizeof default_names / sizeof default_names[0];

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
  lg_flags_list_free(&names);
  return status;
}
