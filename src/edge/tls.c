/* tls.c -- the serving certificate and key: refcounted pairs, reload on file change,
 * expiry warnings, the per-handshake certificate callback; the client CAs (reloaded too),
 * client certificate checks and each connection's handshake progress. */
#include "tls.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/x509.h>

#include "certinfo.h"
#include "hotfile.h"
#include "log.h"
#include "times.h"
#include "tls_mhd.h"

/* Certificate and key files are small; anything larger is a wrong path. */
#define PEM_MAX (1024 * 1024)
/* Longest serving certificate chain accepted. */
#define CHAIN_MAX 16
/* The serving certificate's expiry is checked at start, after each reload and then daily;
 * within this many days of notAfter a warning is logged. */
#define EXPIRY_WARN_DAYS 30
#define DAY_MS           (INT64_C(86400) * 1000)

/* A serving certificate chain and its key. Held (lg_hotfile_ref) by the store while current
 * and by each connection whose handshake used it; the last release frees it. GnuTLS is given
 * the chain and key without taking ownership (no GNUTLS_CERT_RETR_DEINIT_ALL), so a
 * connection's reference keeps them valid for as long as its session may use them. */
typedef struct {
  gnutls_pcert_st *chain;
  unsigned n;
  gnutls_privkey_t key;
  int64_t not_after; /* of the first certificate, Unix seconds */
} tls_pair;

/* The trusted client CAs. Held by the store while current and by each client check while
 * it runs; the last release frees it. */
typedef struct {
  gnutls_x509_trust_list_t list;
} ca_set;

struct lg_tls {
  lg_tls_config cfg;
  lg_hotfile_holder pair;            /* the tls_pair new handshakes get */
  lg_hotfile_holder ca;              /* the ca_set new checks use; none without --client-ca-file */
  lg_hotfile_watch pair_file;        /* the certificate and key watch; main thread only */
  lg_hotfile_watch ca_file;          /* the client CA watch; main thread only */
  _Atomic int64_t next_expiry_check; /* CLOCK_MONOTONIC ms; 0 after an install: due now */
};

/* Per-connection state (libmicrohttpd's socket context), made when the connection is
 * accepted and freed when it closes. Touched only by the connection's thread. */
struct lg_tls_conn {
  lg_tls *store;
  lg_hotfile_ref *pair; /* the tls_pair its last handshake presented */
  bool client_checked;  /* client certificate verified (once per handshake) */
  bool client_ok;
  bool hello;        /* a ClientHello arrived */
  bool server_hello; /* a ServerHello was sent */
  bool done;         /* a handshake completed */
};

/* ---- files ---- */

/* Reads all of path (at most PEM_MAX bytes) into a new NUL-terminated buffer. */
static lg_rc read_pem(const char *what, const char *path, char **out, char *err, size_t errlen) {
  FILE *f = NULL;
  char *buf = NULL;
  size_t n = 0;
  lg_rc rc = LG_OK;

  *out = NULL;
  f = fopen(path, "rb");
  if (!f) {
    rc = lg_fail(err, errlen, LG_ETLS, "cannot read %s %s: %s", what, path, strerror(errno));
    goto out;
  }
  buf = malloc(PEM_MAX + 1);
  if (!buf) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  n = fread(buf, 1, PEM_MAX + 1, f);
  if (ferror(f)) {
    rc = lg_fail(err, errlen, LG_ETLS, "cannot read %s %s: %s", what, path, strerror(errno));
    goto out;
  }
  if (n == 0 || n > PEM_MAX) {
    rc = lg_fail(err, errlen, LG_ETLS, "%s %s is %s", what, path, n ? "too large" : "empty");
    goto out;
  }
  buf[n] = '\0';
  *out = buf;
  buf = NULL;

out:
  if (buf) {
    explicit_bzero(buf, PEM_MAX + 1);
    free(buf);
  }
  if (f)
    fclose(f);
  return rc;
}

static void free_pem(char *pem) {
  if (pem) {
    explicit_bzero(pem, strlen(pem));
    free(pem);
  }
}

/* ---- serving certificate ---- */

static void pair_free(tls_pair *p) {
  if (!p)
    return;
  for (unsigned i = 0; i < p->n; i++)
    gnutls_pcert_deinit(&p->chain[i]);
  free(p->chain);
  if (p->key)
    gnutls_privkey_deinit(p->key);
  free(p);
}

static void pair_free_value(void *p) { pair_free(p); }

/* Makes p (owned, freed on failure) the pair of new handshakes; connections keep the one
 * they got. */
static lg_rc install_pair(lg_tls *t, tls_pair *p) {
  int64_t not_after = p->not_after;
  lg_rc rc = lg_hotfile_swap(&t->pair, p);
  if (rc == LG_OK)
    lg_metrics_cert_expiry(t->cfg.metrics, not_after);
  return rc;
}

/* True when the private key is the one whose public half the certificate carries. */
static bool key_matches(const gnutls_pcert_st *cert, gnutls_privkey_t key) {
  gnutls_pubkey_t pub = NULL;
  unsigned char a[64], b[64];
  size_t na = sizeof a, nb = sizeof b;
  bool same = false;

  if (gnutls_pubkey_init(&pub) < 0)
    return false;
  if (gnutls_pubkey_import_privkey(pub, key, 0, 0) >= 0 &&
      gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a, &na) >= 0 &&
      gnutls_pubkey_get_key_id(cert->pubkey, GNUTLS_KEYID_USE_SHA256, b, &nb) >= 0)
    same = na == nb && memcmp(a, b, na) == 0;
  gnutls_pubkey_deinit(pub);
  return same;
}

/* Parses a certificate chain and its key (PEM text, named cert_name and key_name in messages)
 * into a new pair (*out). All or nothing: fails, with the reason in err, unless both parse and
 * the key belongs to the first certificate. */
static lg_rc parse_pair(const char *cert, const char *key, const char *cert_name,
                        const char *key_name, tls_pair **out, char *err, size_t errlen) {
  tls_pair *p = NULL;
  gnutls_datum_t d;
  lg_certinfo info;
  int g;
  lg_rc rc = LG_OK;

  *out = NULL;
  p = calloc(1, sizeof *p);
  if (!p || !(p->chain = calloc(CHAIN_MAX, sizeof *p->chain))) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  /* The first certificate is the server's; each next one must have issued the one before. */
  p->n = CHAIN_MAX;
  d.data = (unsigned char *)cert;
  d.size = (unsigned)strlen(cert);
  g = gnutls_pcert_list_import_x509_raw(p->chain, &p->n, &d, GNUTLS_X509_FMT_PEM,
                                        GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
  if (g < 0 || p->n == 0) {
    p->n = 0;
    rc = lg_fail(err, errlen, LG_ETLS, "%s: no usable PEM certificate chain: %s", cert_name,
                 g < 0 ? gnutls_strerror(g) : "no certificate");
    goto out;
  }
  d.data = (unsigned char *)key;
  d.size = (unsigned)strlen(key);
  if ((g = gnutls_privkey_init(&p->key)) < 0 ||
      (g = gnutls_privkey_import_x509_raw(p->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
    rc = lg_fail(err, errlen, LG_ETLS, "%s: no usable PEM private key: %s", key_name,
                 gnutls_strerror(g));
    goto out;
  }
  if (!key_matches(&p->chain[0], p->key)) {
    rc = lg_fail(err, errlen, LG_ETLS, "the private key in %s does not match the certificate in %s",
                 key_name, cert_name);
    goto out;
  }
  if (lg_certinfo_read(cert, &info, NULL, 0) != LG_OK) {
    rc = lg_fail(err, errlen, LG_ETLS, "%s: unreadable notAfter", cert_name);
    goto out;
  }
  p->not_after = info.not_after;
  *out = p;
  p = NULL;

out:
  pair_free(p);
  return rc;
}

/* Loads the certificate and key files into a new pair (*out), as parse_pair. */
static lg_rc load_pair(const lg_tls_config *cfg, tls_pair **out, char *err, size_t errlen) {
  char *cert = NULL, *key = NULL;
  lg_rc rc;

  *out = NULL;
  rc = read_pem("TLS certificate file", cfg->cert_file, &cert, err, errlen);
  if (!rc)
    rc = read_pem("TLS private key file", cfg->key_file, &key, err, errlen);
  if (!rc)
    rc = parse_pair(cert, key, cfg->cert_file, cfg->key_file, out, err, errlen);
  free_pem(key);
  free_pem(cert);
  return rc;
}

/* Where the pair comes from, for logs: the certificate file, or the configured source. */
static const char *source(const lg_tls *t) {
  return t->cfg.cert_file ? t->cfg.cert_file : t->cfg.pair_source ? t->cfg.pair_source : "memory";
}

void lg_tls_check_expiry(lg_tls *t) {
  lg_hotfile_ref *held = lg_hotfile_acquire(&t->pair);
  const tls_pair *p = lg_hotfile_get(held);
  char when[LG_TIME_BUFLEN], days[24];
  int64_t left;

  atomic_store(&t->next_expiry_check, lg_time_mono() / 1000 + DAY_MS);
  if (!p)
    return;
  left = p->not_after - (int64_t)time(NULL);
  lg_time_format_short(p->not_after * LG_USEC_PER_SEC, when);
  if (left <= 0) {
    snprintf(days, sizeof days, "%lld", (long long)(-left / 86400));
    lg_log(LG_LOG_ERROR, "serving certificate has expired", "source", source(t), "notAfter", when,
           "daysAgo", days, NULL);
  } else if (left < EXPIRY_WARN_DAYS * 86400) {
    snprintf(days, sizeof days, "%lld", (long long)(left / 86400));
    lg_log(LG_LOG_WARNING, "serving certificate expires soon", "source", source(t), "notAfter",
           when, "daysLeft", days, NULL);
  }
  lg_hotfile_release(held);
}

int64_t lg_tls_expiry_due_ms(const lg_tls *t) {
  return atomic_load(&t->next_expiry_check) - lg_time_mono() / 1000;
}

/* Reloads the certificate and key when either file changed (stat follows symlinks, so the
 * kubelet swapping a Secret volume's ..data link counts), or always when forced (SIGHUP).
 * A pair that does not load, or whose key does not match, leaves the current one in
 * force. Main thread only. */
static void check_pair(lg_tls *t, bool force) {
  const lg_tls_config *cfg = &t->cfg;
  tls_pair *p = NULL;
  char detail[768] = "", when[LG_TIME_BUFLEN];
  lg_rc rc;

  if (!cfg->cert_file)
    return; /* the certificate controller installs the pairs */
  switch (lg_hotfile_watch_check(&t->pair_file, force)) {
  case LG_HOTFILE_SAME:
  case LG_HOTFILE_STILL_GONE:
    return;
  case LG_HOTFILE_GONE:
    lg_log(LG_LOG_ERROR, "cannot read the serving certificate or key; keeping the current pair",
           "path", t->pair_file.missing, "error", strerror(t->pair_file.error), NULL);
    lg_metrics_file_reload(cfg->metrics, "tls-certificate", false);
    return;
  case LG_HOTFILE_CHANGED:
    break;
  }
  rc = load_pair(cfg, &p, detail, sizeof detail);
  if (rc == LG_OK) {
    lg_time_format_short(p->not_after * LG_USEC_PER_SEC, when);
    rc = install_pair(t, p);
  }
  lg_metrics_file_reload(cfg->metrics, "tls-certificate", rc == LG_OK);
  if (rc) {
    lg_log(LG_LOG_ERROR, "serving certificate reload failed; keeping the current certificate",
           "error", detail[0] ? detail : lg_strerror(rc), NULL);
    return;
  }
  lg_log(LG_LOG_INFO, "serving certificate reloaded", "path", cfg->cert_file, "notAfter", when,
         NULL);
  lg_tls_check_expiry(t);
}

/* Loads the pair the server starts with; none without files (the controller installs one). */
static lg_rc load_first_pair(lg_tls *t, char *err, size_t errlen) {
  const char *files[2] = {t->cfg.cert_file, t->cfg.key_file};
  tls_pair *p = NULL;
  lg_rc rc;

  if (!t->cfg.cert_file)
    return LG_OK;
  /* Watched from here on; when a file is missing, load_pair says so. */
  lg_hotfile_watch_init(&t->pair_file, files, 2);
  rc = load_pair(&t->cfg, &p, err, errlen);
  if (rc)
    return rc;
  rc = install_pair(t, p);
  if (rc)
    return lg_fail(err, errlen, rc, "%s", lg_strerror(rc));
  return LG_OK;
}

/* ---- client CA ---- */

static void ca_free(void *v) {
  ca_set *c = v;
  if (c) {
    gnutls_x509_trust_list_deinit(c->list, 1);
    free(c);
  }
}

/* Reads the client CA file into a new trust list (*out). All or nothing: fails unless it
 * holds at least one PEM certificate and nothing else unusable. */
static lg_rc load_client_ca(const char *path, ca_set **out, char *err, size_t errlen) {
  ca_set *c = NULL;
  char *pem = NULL;
  gnutls_datum_t d;
  int g;
  lg_rc rc;

  *out = NULL;
  rc = read_pem("client CA file", path, &pem, err, errlen);
  if (rc)
    goto out;
  if (!(c = calloc(1, sizeof *c)) || gnutls_x509_trust_list_init(&c->list, 0) < 0) {
    free(c);
    c = NULL;
    rc = lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  d.data = (unsigned char *)pem;
  d.size = (unsigned)strlen(pem);
  g = gnutls_x509_trust_list_add_trust_mem(c->list, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
  if (g <= 0) {
    rc = lg_fail(err, errlen, LG_ETLS, "client CA file %s holds no usable PEM certificate: %s",
                 path, g < 0 ? gnutls_strerror(g) : "none found");
    goto out;
  }
  *out = c;
  c = NULL;

out:
  ca_free(c);
  free_pem(pem);
  return rc;
}

/* Reloads the client CA file when it changed, or always when forced; a file that does not
 * load leaves the current CAs in force. Main thread only. */
static void check_client_ca(lg_tls *t, bool force) {
  const char *path = t->cfg.client_ca_file;
  ca_set *c = NULL;
  char detail[768] = "";
  lg_rc rc;

  if (!path)
    return;
  switch (lg_hotfile_watch_check(&t->ca_file, force)) {
  case LG_HOTFILE_SAME:
  case LG_HOTFILE_STILL_GONE:
    return;
  case LG_HOTFILE_GONE:
    lg_log(LG_LOG_ERROR, "cannot read the client CA file; keeping the current client CA", "path",
           path, "error", strerror(t->ca_file.error), NULL);
    lg_metrics_file_reload(t->cfg.metrics, "client-ca", false);
    return;
  case LG_HOTFILE_CHANGED:
    break;
  }
  rc = load_client_ca(path, &c, detail, sizeof detail);
  if (rc == LG_OK)
    rc = lg_hotfile_swap(&t->ca, c); /* checks already running keep theirs */
  lg_metrics_file_reload(t->cfg.metrics, "client-ca", rc == LG_OK);
  if (rc) {
    lg_log(LG_LOG_ERROR, "client CA reload failed; keeping the current client CA", "error",
           detail[0] ? detail : lg_strerror(rc), NULL);
    return;
  }
  lg_log(LG_LOG_INFO, "client CA reloaded", "path", path, NULL);
}

lg_rc lg_tls_install_pem(lg_tls *t, const char *cert, const char *key, char *err, size_t errlen) {
  tls_pair *p = NULL;
  lg_rc rc;

  if (!cert || !key)
    return lg_fail(err, errlen, LG_EINVAL, "no certificate or key");
  rc = parse_pair(cert, key, "tls.crt", "tls.key", &p, err, errlen);
  if (rc == LG_OK && (rc = install_pair(t, p)) != LG_OK)
    lg_fail(err, errlen, rc, "%s", lg_strerror(rc));
  if (rc)
    return rc;
  /* The main thread logs the expiry of the new pair at its next turn. */
  atomic_store(&t->next_expiry_check, 0);
  return LG_OK;
}

bool lg_tls_ready(lg_tls *t) { return lg_hotfile_loaded(&t->pair); }

void lg_tls_reload_if_changed(lg_tls *t, bool force) {
  check_pair(t, force);
  check_client_ca(t, force);
}

/* ---- the store ---- */

lg_rc lg_tls_new(const lg_tls_config *cfg, lg_tls **out, char *err, size_t errlen) {
  lg_tls *t = NULL;
  int held = 0; /* holders made */
  ca_set *c = NULL;
  lg_rc rc = LG_OK;

  *out = NULL;
  if (!cfg || !cfg->cert_file != !cfg->key_file)
    return lg_fail(err, errlen, LG_EINVAL, "TLS certificate and key files go together");
  t = calloc(1, sizeof *t);
  if (!t)
    return lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
  t->cfg = *cfg;
  if (lg_hotfile_holder_init(&t->pair, pair_free_value) == LG_OK)
    held = 1;
  if (held == 1 && lg_hotfile_holder_init(&t->ca, ca_free) == LG_OK)
    held = 2;
  if (held < 2) {
    rc = lg_fail(err, errlen, LG_ESERVER, "cannot create a mutex");
    goto out;
  }
  rc = load_first_pair(t, err, errlen);
  if (rc)
    goto out;
  lg_tls_check_expiry(t);
  if (cfg->client_ca_file) {
    lg_hotfile_watch_init(&t->ca_file, &cfg->client_ca_file, 1);
    rc = load_client_ca(cfg->client_ca_file, &c, err, errlen);
    if (rc == LG_OK && (rc = lg_hotfile_swap(&t->ca, c)) != LG_OK)
      lg_fail(err, errlen, rc, "%s", lg_strerror(rc));
    if (rc)
      goto out;
  }
  *out = t;
  t = NULL;

out:
  if (t) {
    if (held >= 1)
      lg_hotfile_holder_destroy(&t->pair);
    if (held >= 2)
      lg_hotfile_holder_destroy(&t->ca);
    free(t);
  }
  return rc;
}

void lg_tls_free(lg_tls *t) {
  if (!t)
    return;
  lg_hotfile_holder_destroy(&t->pair);
  lg_hotfile_holder_destroy(&t->ca);
  free(t);
}

/* ---- connections ---- */

static lg_tls_conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
  return ci ? ci->socket_context : NULL;
}

/* Notes the handshake's progress, for lg_tls_conn_failed. */
static int on_handshake(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                        const gnutls_datum_t *msg) {
  lg_tls_conn *tc = conn_of(gnutls_session_get_ptr(session));
  (void)when;
  (void)msg;
  if (!tc)
    return 0;
  if (incoming && htype == GNUTLS_HANDSHAKE_CLIENT_HELLO)
    tc->hello = true;
  else if (!incoming && htype == GNUTLS_HANDSHAKE_SERVER_HELLO)
    tc->server_hello = true;
  else if (incoming && htype == GNUTLS_HANDSHAKE_FINISHED)
    tc->done = true;
  return 0;
}

lg_tls_conn *lg_tls_conn_new(lg_tls *t, struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
  gnutls_session_t session = ci ? ci->tls_session : NULL;
  lg_tls_conn *tc = calloc(1, sizeof *tc);

  if (!tc)
    return NULL;
  tc->store = t;
  if (session) {
    /* The certificate request names no CA: the trusted CAs may change at any time, and
     * clients present their certificate all the same. */
    if (t->cfg.client_ca_file)
      gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_POST,
                                       on_handshake);
  }
  return tc;
}

void lg_tls_conn_free(lg_tls_conn *tc) {
  if (!tc)
    return;
  lg_hotfile_release(tc->pair);
  free(tc);
}

bool lg_tls_conn_failed(const lg_tls_conn *tc, char *reason, size_t len) {
  if (!tc || tc->done)
    return false;
  /* libmicrohttpd frees the session before it says the connection closed, so the TLS error
   * itself is gone; how far the handshake got tells most of it. */
  if (!tc->hello)
    snprintf(reason, len, "closed before a TLS ClientHello (not TLS, or a bare TCP check)");
  else if (!tc->server_hello)
    snprintf(reason, len, "no TLS version or cipher suite in common");
  else
    snprintf(reason, len,
             "the handshake failed after the ServerHello (the client gave up, or "
             "does not trust the certificate)");
  return true;
}

/* GnuTLS asks for the server's certificate once per handshake. libmicrohttpd links each
 * TLS session to its connection (gnutls_session_set_ptr; its PSK callback relies on the
 * same), which holds the reference that keeps the pair alive until the connection closes. */
int lg_tls_on_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                   gnutls_pcert_st **chain, unsigned int *n, gnutls_ocsp_data_st **ocsp,
                   unsigned int *n_ocsp, gnutls_privkey_t *key, unsigned int *flags) {
  lg_tls_conn *tc = conn_of(gnutls_session_get_ptr(session));
  lg_hotfile_ref *held;
  const tls_pair *p;

  (void)info;
  if (!tc || !(held = lg_hotfile_acquire(&tc->store->pair)))
    return -1;
  lg_hotfile_release(tc->pair);
  tc->pair = held;
  p = lg_hotfile_get(held);
  tc->client_checked = false;
  *chain = p->chain;
  *n = p->n;
  *ocsp = NULL;
  *n_ocsp = 0;
  *key = p->key;
  *flags = 0;
  return 0;
}

/* Verifies the peer's chain (n DER certificates) against the CAs, for client auth. */
static bool verify_chain(ca_set *ca, const gnutls_datum_t *raw, unsigned n, char *reason,
                         size_t len) {
  gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                   .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
  gnutls_x509_crt_t crts[CHAIN_MAX];
  gnutls_datum_t text = {NULL, 0};
  unsigned status = 0, have = 0;
  bool ok = false;
  int g = 0;

  if (n > CHAIN_MAX)
    n = CHAIN_MAX;
  for (; have < n; have++) {
    if ((g = gnutls_x509_crt_init(&crts[have])) < 0)
      break;
    if ((g = gnutls_x509_crt_import(crts[have], &raw[have], GNUTLS_X509_FMT_DER)) < 0) {
      have++; /* initialised: freed below */
      break;
    }
  }
  if (g < 0) {
    snprintf(reason, len, "unreadable client certificate: %s", gnutls_strerror(g));
    goto out;
  }
  g = gnutls_x509_trust_list_verify_crt2(ca->list, crts, n, &purpose, 1, 0, &status, NULL);
  if (g < 0) {
    snprintf(reason, len, "%s", gnutls_strerror(g));
    goto out;
  }
  ok = status == 0;
  if (ok)
    goto out;
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0) {
    size_t n_text;
    snprintf(reason, len, "%s", (const char *)text.data);
    gnutls_free(text.data);
    n_text = strlen(reason);
    while (n_text && (reason[n_text - 1] == ' ' || reason[n_text - 1] == '.'))
      reason[--n_text] = '\0';
  } else {
    snprintf(reason, len, "client certificate not trusted");
  }

out:
  for (unsigned i = 0; i < have; i++)
    gnutls_x509_crt_deinit(crts[i]);
  return ok;
}

/* True when the client presented a certificate that chains to the current client CAs and may
 * be used for client authentication; else reason says why. */
static bool verify_client(lg_tls *t, struct MHD_Connection *c, char *reason, size_t len) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  gnutls_session_t session = ci ? ci->tls_session : NULL;
  const gnutls_datum_t *raw;
  unsigned n = 0;
  lg_hotfile_ref *ca;
  bool ok;

  if (!session) {
    snprintf(reason, len, "no TLS session");
    return false;
  }
  raw = gnutls_certificate_get_peers(session, &n);
  if (!raw || n == 0) {
    snprintf(reason, len, "no client certificate presented");
    return false;
  }
  if (!(ca = lg_hotfile_acquire(&t->ca))) {
    snprintf(reason, len, "no client CA loaded");
    return false;
  }
  ok = verify_chain(lg_hotfile_get(ca), raw, n, reason, len);
  lg_hotfile_release(ca);
  return ok;
}

bool lg_tls_client_allowed(lg_tls *t, struct MHD_Connection *c, char *reason, size_t len) {
  lg_tls_conn *tc;

  if (len)
    reason[0] = '\0';
  if (!t->cfg.client_ca_file)
    return true;
  tc = conn_of(c);
  if (!tc) {
    snprintf(reason, len, "no TLS state");
    return false;
  }
  if (!tc->client_checked) {
    tc->client_ok = verify_client(t, c, reason, len);
    tc->client_checked = true;
  }
  return tc->client_ok;
}
