/* tlsopts.c -- TLS version and cipher suite flags to a GnuTLS priority string. */
#include "tlsopts.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

typedef enum { AEAD, LEGACY, TLS13, INSECURE } suite_class;

/* The suites Kubernetes components accept by name (Go's crypto/tls names, IANA's spelling),
 * and how GnuTLS spells their parts. */
static const struct suite {
  const char *name;
  uint16_t id;
  const char *kx, *cipher, *mac;
  suite_class cls;
  const char *why; /* INSECURE: why it is refused */
} suites[] = {
    {"TLS_AES_128_GCM_SHA256", 0x1301, NULL, "AES-128-GCM", "AEAD", TLS13, NULL},
    {"TLS_AES_256_GCM_SHA384", 0x1302, NULL, "AES-256-GCM", "AEAD", TLS13, NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", 0x1303, NULL, "CHACHA20-POLY1305", "AEAD", TLS13, NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xc02b, "ECDHE-ECDSA", "AES-128-GCM", "AEAD", AEAD,
     NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xc02c, "ECDHE-ECDSA", "AES-256-GCM", "AEAD", AEAD,
     NULL},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xc02f, "ECDHE-RSA", "AES-128-GCM", "AEAD", AEAD,
     NULL},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xc030, "ECDHE-RSA", "AES-256-GCM", "AEAD", AEAD,
     NULL},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca9, "ECDHE-ECDSA", "CHACHA20-POLY1305",
     "AEAD", AEAD, NULL},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xcca8, "ECDHE-RSA", "CHACHA20-POLY1305",
     "AEAD", AEAD, NULL},
    /* The older spellings Kubernetes still takes. */
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", 0xcca9, "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD",
     AEAD, NULL},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", 0xcca8, "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD", AEAD,
     NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, "ECDHE-ECDSA", "AES-128-CBC", "SHA1", LEGACY,
     NULL},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, "ECDHE-ECDSA", "AES-256-CBC", "SHA1", LEGACY,
     NULL},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, "ECDHE-RSA", "AES-128-CBC", "SHA1", LEGACY,
     NULL},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, "ECDHE-RSA", "AES-256-CBC", "SHA1", LEGACY,
     NULL},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, NULL, NULL, NULL, INSECURE,
     "static RSA key exchange (no forward secrecy)"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, NULL, NULL, NULL, INSECURE,
     "static RSA key exchange (no forward secrecy)"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003c, NULL, NULL, NULL, INSECURE,
     "static RSA key exchange (no forward secrecy)"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, NULL, NULL, NULL, INSECURE,
     "static RSA key exchange (no forward secrecy)"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, NULL, NULL, NULL, INSECURE,
     "static RSA key exchange (no forward secrecy)"},
    {"TLS_RSA_WITH_RC4_128_SHA", 0x0005, NULL, NULL, NULL, INSECURE, "RC4 is broken"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xc007, NULL, NULL, NULL, INSECURE, "RC4 is broken"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xc011, NULL, NULL, NULL, INSECURE, "RC4 is broken"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000a, NULL, NULL, NULL, INSECURE,
     "3DES has 64-bit blocks (Sweet32)"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xc012, NULL, NULL, NULL, INSECURE,
     "3DES has 64-bit blocks (Sweet32)"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xc023, NULL, NULL, NULL, INSECURE,
     "CBC with HMAC-SHA256 (Lucky13 timing)"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xc027, NULL, NULL, NULL, INSECURE,
     "CBC with HMAC-SHA256 (Lucky13 timing)"},
};
#define N_SUITES (sizeof suites / sizeof suites[0])

/* Kubernetes' defaults without the CBC suites: ECDHE with an AEAD cipher. */
static const char *const default_suites =
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

static const struct suite *find(const char *name, size_t len) {
  for (size_t i = 0; i < N_SUITES; i++)
    if (strlen(suites[i].name) == len && strncmp(suites[i].name, name, len) == 0)
      return &suites[i];
  return NULL;
}

static const struct suite *by_id(uint16_t id) {
  for (size_t i = 0; i < N_SUITES; i++)
    if (suites[i].id == id)
      return &suites[i];
  return NULL;
}

/* Appends ":+word" to the priority unless it is there already. */
static void add_part(char *prio, size_t cap, const char *word) {
  char item[48];
  size_t n = strlen(prio);
  snprintf(item, sizeof item, ":+%s", word);
  if (!strstr(prio, item))
    snprintf(prio + n, cap - n, "%s", item);
}

static void append(char *buf, size_t cap, const char *sep, const char *word) {
  size_t n = strlen(buf);
  snprintf(buf + n, cap - n, "%s%s", n ? sep : "", word);
}

/* The named suites: each name checked, the parts collected. named[] marks the table rows. */
static lg_rc parse_suites(const char *list, bool *named, char *kx, char *ciphers, char *macs,
                          size_t cap, bool *legacy, char *err, size_t errlen) {
  const char *p = list;
  bool any = false;

  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const struct suite *s;
    while (len && (*p == ' ' || *p == '\t'))
      p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
      len--;
    if (len) {
      if (!(s = find(p, len)))
        return lg_fail(err, errlen, LG_EINVAL,
                       "--tls-cipher-suites: unknown cipher suite \"%.*s\" (use the IANA names "
                       "Kubernetes components take, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)",
                       (int)(len > 80 ? 80 : len), p);
      if (s->cls == INSECURE)
        return lg_fail(err, errlen, LG_EINVAL, "--tls-cipher-suites: %s is insecure: %s", s->name,
                       s->why);
      named[s - suites] = true;
      if (s->kx)
        add_part(kx, cap, s->kx);
      add_part(ciphers, cap, s->cipher);
      add_part(macs, cap, s->mac);
      *legacy |= s->cls == LEGACY;
      any = true;
    }
    p += len;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == ',')
      p++;
  }
  if (!any)
    return lg_fail(err, errlen, LG_EINVAL, "--tls-cipher-suites names no cipher suite");
  return LG_OK;
}

/* Lists what prio enables into out->suites; extra (may be NULL) gets the TLS 1.2 suites
 * enabled but not named. */
static lg_rc list_enabled(lg_tlsopts *out, const bool *named, char *extra, size_t cap, bool *has12,
                          bool *has13, char *err, size_t errlen) {
  gnutls_priority_t pc = NULL;
  const char *where = NULL;
  int g = gnutls_priority_init2(&pc, out->priority, &where, 0);

  if (g < 0)
    return lg_fail(err, errlen, LG_ETLS,
                   "GnuTLS refuses the priority string \"%s\" at \"%.40s\": %s", out->priority,
                   where ? where : "", gnutls_strerror(g));
  for (unsigned i = 0;; i++) {
    unsigned idx;
    unsigned char id[2];
    const char *gname;
    const struct suite *s;
    g = gnutls_priority_get_cipher_suite_index(pc, i, &idx);
    if (g == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
      break;
    if (g < 0 || !(gname = gnutls_cipher_suite_info(idx, id, NULL, NULL, NULL, NULL)))
      continue;
    s = by_id((uint16_t)(id[0] << 8 | id[1]));
    append(out->suites, sizeof out->suites, ",", s ? s->name : gname);
    if (s && s->cls == TLS13) {
      *has13 = true;
      continue;
    }
    *has12 = true;
    /* A suite is named when any of its spellings was. */
    bool was_named = false;
    for (size_t k = 0; s && k < N_SUITES; k++)
      was_named |= named[k] && suites[k].id == s->id;
    if (extra && !was_named)
      append(extra, cap, ", ", s ? s->name : gname);
  }
  gnutls_priority_deinit(pc);
  return LG_OK;
}

static lg_rc build(const char *min_version, const char *list, lg_tlsopts *out, char *err,
                   size_t errlen) {
  char kx[128] = "", ciphers[160] = "", macs[64] = "", extra[512] = "";
  bool named[N_SUITES] = {false}, legacy = false, only13 = false, has12 = false, has13 = false;
  lg_rc rc;

  memset(out, 0, sizeof *out);
  if (min_version && !strcmp(min_version, "VersionTLS13"))
    only13 = true;
  else if (min_version &&
           (!strcmp(min_version, "VersionTLS10") || !strcmp(min_version, "VersionTLS11")))
    return lg_fail(err, errlen, LG_EINVAL,
                   "--tls-min-version: %s is insecure; use VersionTLS12 or VersionTLS13",
                   min_version);
  else if (min_version && strcmp(min_version, "VersionTLS12") != 0)
    return lg_fail(err, errlen, LG_EINVAL,
                   "--tls-min-version must be VersionTLS12 or VersionTLS13, not \"%.40s\"",
                   min_version);
  rc = parse_suites(list ? list : default_suites, named, kx, ciphers, macs, sizeof ciphers, &legacy,
                    err, errlen);
  if (rc)
    return rc;
  /* NORMAL keeps GnuTLS's groups, signatures and the system policy; the key exchanges,
   * ciphers and MACs are replaced by the named suites' parts. */
  snprintf(out->priority, sizeof out->priority,
           "NORMAL:-VERS-ALL:+VERS-TLS1.3%s:-KX-ALL%s:-CIPHER-ALL%s:-MAC-ALL%s",
           only13 ? "" : ":+VERS-TLS1.2", kx, ciphers, macs);
  if (only13 && !strstr(macs, "+AEAD"))
    return lg_fail(err, errlen, LG_EINVAL,
                   "--tls-min-version=VersionTLS13 needs an AEAD suite in --tls-cipher-suites "
                   "(TLS 1.3 uses the named suites' AEAD ciphers)");
  rc = list_enabled(out, named, list ? extra : NULL, sizeof extra, &has12, &has13, err, errlen);
  if (rc)
    return rc;
  if (!has13 && (only13 || !has12))
    return lg_fail(err, errlen, LG_EINVAL,
                   "--tls-cipher-suites: no suite is left for TLS %s (TLS 1.3 uses the AEAD "
                   "ciphers of the named suites)",
                   only13 ? "1.3" : "1.2 or 1.3");
  if (legacy)
    append(out->warning, sizeof out->warning, "; ",
           "CBC suites with SHA-1 named: they are weaker than the AEAD ones");
  if (extra[0] && !only13) {
    char note[600];
    snprintf(note, sizeof note,
             "GnuTLS combines key exchanges and ciphers, so these TLS 1.2 suites are on too: %s",
             extra);
    append(out->warning, sizeof out->warning, "; ", note);
  }
  if (!only13 && !has12)
    append(out->warning, sizeof out->warning, "; ",
           "no TLS 1.2 suite named: TLS 1.2 clients cannot connect");
  if (!has13)
    append(out->warning, sizeof out->warning, "; ",
           "no AEAD cipher named: TLS 1.3 clients fall back to TLS 1.2");
  return LG_OK;
}

lg_rc lg_tlsopts_build(const char *min_version, const char *suites_list, lg_tlsopts *out, char *err,
                       size_t errlen) {
  lg_rc rc = build(min_version, suites_list, out, err, errlen);
  if (rc)
    memset(out, 0, sizeof *out);
  return rc;
}
