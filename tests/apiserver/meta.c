/* meta.c -- metadata accessors, random ids, list wrapping and body decoding. */
#include "meta.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *as_meta_str(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(json_object_get(obj, "metadata"), key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

void as_meta_set(json_t *obj, const char *key, const char *value) {
  json_t *meta = json_object_get(obj, "metadata");
  if (!json_is_object(meta)) {
    meta = json_object();
    if (json_object_set_new(obj, "metadata", meta) != 0)
      return;
  }
  if (value)
    json_object_set_new(meta, key, json_string(value));
  else
    json_object_del(meta, key);
}

/* Fills buf from /dev/urandom, or from rand() if it cannot be read. */
static void random_bytes(unsigned char *buf, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;
  if (fd >= 0)
    close(fd);
  for (size_t i = got > 0 ? (size_t)got : 0; i < n; i++)
    buf[i] = (unsigned char)rand();
}

void as_new_uid(char out[AS_UID_LEN]) {
  unsigned char b[16];
  random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, AS_UID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
}

void as_timestamp_now(char *out, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void as_generate_name(const char *prefix, char *out, size_t len) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char b[5];
  char suffix[6];
  random_bytes(b, sizeof b);
  for (size_t i = 0; i < sizeof b; i++)
    suffix[i] = alphabet[b[i] % (sizeof alphabet - 1)];
  suffix[5] = '\0';
  /* Like the real generator, the prefix is cut so the name stays within 63 characters. */
  snprintf(out, len, "%.58s%s", prefix, suffix);
}

int as_parse_bool(const char *s, bool *out) {
  static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; i < 6; i++) {
    if (!strcmp(s, yes[i]))
      return *out = true, 0;
    if (!strcmp(s, no[i]))
      return *out = false, 0;
  }
  return -1;
}

json_t *as_list(const as_resource *r, json_t *items, uint64_t rv) {
  char buf[24];
  size_t i;
  json_t *it;

  if (!items)
    return NULL;
  json_array_foreach(items, i, it) {
    json_object_del(it, "kind");
    json_object_del(it, "apiVersion");
  }
  snprintf(buf, sizeof buf, "%" PRIu64, rv);
  return json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", r->list_kind, "apiVersion", r->api_version,
                   "metadata", "resourceVersion", buf, "items", items);
}

json_t *as_decode_body(const as_resource *r, const char *body, size_t len, json_t **status) {
  json_error_t je;
  json_t *obj = json_loadb(body, len, 0, &je), *typed;
  const char *kind, *api;
  char msg[512];

  *status = NULL;
  if (!json_is_object(obj)) {
    snprintf(msg, sizeof msg,
             "the object provided is unrecognized (must be of type %s): "
             "couldn't get version/kind; json parse error: %s",
             r->kind, obj ? "not a JSON object" : je.text);
    goto bad;
  }
  kind = json_string_value(json_object_get(obj, "kind"));
  api = json_string_value(json_object_get(obj, "apiVersion"));
  if ((kind && kind[0] && strcmp(kind, r->kind) != 0) ||
      (api && api[0] && strcmp(api, r->api_version) != 0)) {
    snprintf(msg, sizeof msg,
             "%s in version \"%s\" cannot be handled as a %s: the body is not "
             "a %s/%s %s",
             kind && kind[0] ? kind : r->kind, api ? api : "", r->kind,
             r->group[0] ? r->group : "core", r->version, r->kind);
    goto bad;
  }
  /* kind and apiVersion lead, as in Go's struct order. */
  typed = json_pack("{s:s, s:s}", "kind", r->kind, "apiVersion", r->api_version);
  if (!typed || json_object_update_missing(typed, obj) != 0) {
    json_decref(typed);
    snprintf(msg, sizeof msg, "out of memory");
    goto bad;
  }
  json_decref(obj);
  return typed;
bad:
  json_decref(obj);
  *status = as_status_bad_request(msg);
  return NULL;
}
