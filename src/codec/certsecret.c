/* certsecret.c -- the certificate controller's Secret: decode, judge, rewrite, bundle. */
#include "certsecret.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "certinfo.h"
#include "certs.h"

static const char *const key_names[] = {
#define LG_CS_NAME(name, key) key,
    LG_CERTSECRET_KEYS(LG_CS_NAME)
#undef LG_CS_NAME
};

const char *lg_certsecret_key_name(lg_certsecret_key k) {
  return (unsigned)k < LG_CS_COUNT ? key_names[k] : "unknown";
}

static bool is_key(lg_certsecret_key k) {
  return k == LG_CS_CA_KEY || k == LG_CS_TLS_KEY || k == LG_CS_NEXT_KEY;
}

static void drop(lg_certsecret *s, lg_certsecret_key k) {
  if (s->pem[k] && is_key(k))
    OPENSSL_cleanse(s->pem[k], strlen(s->pem[k]));
  free(s->pem[k]);
  s->pem[k] = NULL;
  s->not_base64[k] = false;
}

void lg_certsecret_free(lg_certsecret *s) {
  if (!s)
    return;
  for (int k = 0; k < LG_CS_COUNT; k++)
    drop(s, (lg_certsecret_key)k);
}

lg_rc lg_certsecret_read(const json_t *secret, lg_certsecret *out) {
  const json_t *data = json_object_get(secret, "data");

  lg_certsecret_free(out);
  for (int k = 0; k < LG_CS_COUNT; k++) {
    const json_t *v = json_object_get(data, key_names[k]);
    size_t len = 0;
    char *text;
    if (!v)
      continue;
    text = json_is_string(v) ? lg_b64_decode(json_string_value(v), &len) : NULL;
    /* Text only: a NUL inside is not PEM. */
    if (text && strlen(text) != len) {
      free(text);
      text = NULL;
    }
    if (!text) {
      out->not_base64[k] = true;
      text = strdup("");
    }
    if (!text) {
      lg_certsecret_free(out);
      return LG_ENOMEM;
    }
    out->pem[k] = text;
  }
  return LG_OK;
}

/* ---- the view ---- */

/* Records what is wrong with a certificate, unless something was recorded before. */
__attribute__((format(printf, 3, 4))) static lg_certrot_state bad(char *problem, size_t len,
                                                                  const char *fmt, ...) {
  va_list ap;
  if (len && !problem[0]) {
    va_start(ap, fmt);
    vsnprintf(problem, len, fmt, ap);
    va_end(ap);
  }
  return LG_CERTROT_BAD;
}

/* One certificate (crt) with its key (key, or LG_CS_COUNT for none): absent, usable, or what
 * is wrong with it. */
static lg_certrot_cert look(const lg_certsecret *s, lg_certsecret_key crt, lg_certsecret_key key,
                            bool want_ca, char *problem, size_t len) {
  lg_certrot_cert c = {LG_CERTROT_ABSENT, 0, 0};
  bool has_key = key != LG_CS_COUNT;
  lg_certinfo info;
  char err[200] = "";

  if (!s->pem[crt] && (!has_key || !s->pem[key]))
    return c;
  if (!s->pem[crt] || s->not_base64[crt])
    c.state = bad(problem, len, "%s is %s", key_names[crt], s->pem[crt] ? "not base64" : "missing");
  else if (has_key && (!s->pem[key] || s->not_base64[key]))
    c.state = bad(problem, len, "%s is %s", key_names[key], s->pem[key] ? "not base64" : "missing");
  else if (lg_certinfo_read(s->pem[crt], &info, err, sizeof err) != LG_OK)
    c.state = bad(problem, len, "%s: %s", key_names[crt], err);
  else if (want_ca && !info.is_ca)
    c.state = bad(problem, len, "%s is not a CA certificate", key_names[crt]);
  else if (has_key && lg_certinfo_key_matches(s->pem[crt], s->pem[key], err, sizeof err) != LG_OK)
    c.state = bad(problem, len, "%s: %s", key_names[key], err);
  else
    c = (lg_certrot_cert){LG_CERTROT_OK, info.not_before + LG_CERTS_BACKDATE_S, info.not_after};
  return c;
}

void lg_certsecret_view(const lg_certsecret *s, const char *const *names, size_t n_names,
                        lg_certrot_view *v, char *problem, size_t len) {
  memset(v, 0, sizeof *v);
  if (len)
    problem[0] = '\0';
  v->exists = true;
  v->problem = problem;
  v->ca = look(s, LG_CS_CA_CRT, LG_CS_CA_KEY, true, problem, len);
  v->tls = look(s, LG_CS_TLS_CRT, LG_CS_TLS_KEY, false, problem, len);
  if (v->ca.state == LG_CERTROT_OK && v->tls.state == LG_CERTROT_OK)
    v->tls_issued_by_ca =
        lg_certinfo_issued_by(s->pem[LG_CS_TLS_CRT], s->pem[LG_CS_CA_CRT], NULL, 0) == LG_OK;
  if (v->tls.state == LG_CERTROT_OK)
    v->tls_names = lg_certinfo_covers(s->pem[LG_CS_TLS_CRT], names, n_names, NULL, 0) == LG_OK;
  v->prev = look(s, LG_CS_PREV_CRT, LG_CS_COUNT, true, problem, len);
  v->next = look(s, LG_CS_NEXT_CRT, LG_CS_NEXT_KEY, true, problem, len);
}

/* ---- actions ---- */

/* Moves a new pair into the keys crt and key of s (the pair is emptied). */
static void put(lg_certsecret *s, lg_certsecret_key crt, lg_certsecret_key key, lg_certs_pem *p) {
  drop(s, crt);
  drop(s, key);
  s->pem[crt] = p->cert;
  s->pem[key] = p->key;
  p->cert = p->key = NULL;
}

/* A serving pair for p from the CA in keys crt and key of s. */
static lg_rc serving(const lg_certsecret *s, lg_certsecret_key crt, lg_certsecret_key key,
                     const lg_certsecret_params *p, int64_t now, lg_certs_pem *out, char *err,
                     size_t errlen) {
  const lg_certs_pem ca = {s->pem[crt], s->pem[key]};
  return lg_certs_make_serving(&ca, p->names, p->n_names, now, p->validity, out, err, errlen);
}

lg_rc lg_certsecret_apply(const lg_certsecret *cur, lg_certrot_action a,
                          const lg_certsecret_params *p, int64_t now, lg_certsecret *out, char *err,
                          size_t errlen) {
  lg_certs_pem ca = {0}, tls = {0};
  lg_rc rc = LG_OK;

  memset(out, 0, sizeof *out);
  for (int k = 0; k < LG_CS_COUNT && a != LG_CERTROT_CREATE && a != LG_CERTROT_REPAIR; k++) {
    out->not_base64[k] = cur->not_base64[k];
    if (cur->pem[k] && !(out->pem[k] = strdup(cur->pem[k]))) {
      rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
      goto out;
    }
  }
  switch (a) {
  case LG_CERTROT_CREATE:
  case LG_CERTROT_REPAIR:
    if (!(rc = lg_certs_make_ca(now, p->validity, &ca, err, errlen)))
      rc = lg_certs_make_serving(&ca, p->names, p->n_names, now, p->validity, &tls, err, errlen);
    if (!rc) {
      put(out, LG_CS_CA_CRT, LG_CS_CA_KEY, &ca);
      put(out, LG_CS_TLS_CRT, LG_CS_TLS_KEY, &tls);
    }
    break;
  case LG_CERTROT_REISSUE:
    if (!(rc = serving(cur, LG_CS_CA_CRT, LG_CS_CA_KEY, p, now, &tls, err, errlen)))
      put(out, LG_CS_TLS_CRT, LG_CS_TLS_KEY, &tls);
    break;
  case LG_CERTROT_ANNOUNCE:
    if (!(rc = lg_certs_make_ca(now, p->validity, &ca, err, errlen)))
      put(out, LG_CS_NEXT_CRT, LG_CS_NEXT_KEY, &ca);
    break;
  case LG_CERTROT_SWITCH:
    if ((rc = serving(cur, LG_CS_NEXT_CRT, LG_CS_NEXT_KEY, p, now, &tls, err, errlen)))
      break;
    drop(out, LG_CS_PREV_CRT);
    drop(out, LG_CS_CA_KEY);
    out->pem[LG_CS_PREV_CRT] = out->pem[LG_CS_CA_CRT];
    out->pem[LG_CS_CA_CRT] = out->pem[LG_CS_NEXT_CRT];
    out->pem[LG_CS_CA_KEY] = out->pem[LG_CS_NEXT_KEY];
    out->pem[LG_CS_NEXT_CRT] = out->pem[LG_CS_NEXT_KEY] = NULL;
    put(out, LG_CS_TLS_CRT, LG_CS_TLS_KEY, &tls);
    break;
  case LG_CERTROT_DROP:
    drop(out, LG_CS_PREV_CRT);
    break;
  default:
    break;
  }

out:
  lg_certs_pem_free(&ca);
  lg_certs_pem_free(&tls);
  if (rc)
    lg_certsecret_free(out);
  return rc;
}

/* ---- output ---- */

json_t *lg_certsecret_data(const lg_certsecret *s, const json_t *base) {
  json_t *data = json_is_object(base) ? json_deep_copy(base) : json_object();

  for (int k = 0; data && k < LG_CS_COUNT; k++)
    json_object_del(data, key_names[k]);

  for (int k = 0; data && k < LG_CS_COUNT; k++) {
    char *b64;
    if (!s->pem[k])
      continue;
    b64 = lg_b64_encode(s->pem[k], strlen(s->pem[k]));
    if (!b64 || json_object_set_new(data, key_names[k], json_string(b64)) != 0) {
      json_decref(data);
      data = NULL;
    }
    if (b64 && is_key((lg_certsecret_key)k))
      OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
  }
  return data;
}

char *lg_certsecret_bundle(const lg_certsecret *s, const lg_certrot_view *v) {
  const struct {
    lg_certsecret_key key;
    bool ok;
  } cas[] = {{LG_CS_CA_CRT, v->ca.state == LG_CERTROT_OK},
             {LG_CS_NEXT_CRT, v->next.state == LG_CERTROT_OK},
             {LG_CS_PREV_CRT, v->prev.state == LG_CERTROT_OK}};
  char *out = strdup(""), *grown;

  for (size_t i = 0; out && i < sizeof cas / sizeof *cas; i++) {
    char *pem = cas[i].ok ? lg_certinfo_normalize(s->pem[cas[i].key]) : NULL;
    size_t have = strlen(out);
    if (pem && !strstr(out, pem) && (grown = realloc(out, have + strlen(pem) + 1))) {
      out = grown;
      memcpy(out + have, pem, strlen(pem) + 1);
    } else if (pem && !strstr(out, pem)) {
      free(out);
      out = NULL;
    }
    free(pem);
  }
  return out;
}
