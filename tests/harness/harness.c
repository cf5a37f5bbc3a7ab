/* harness.c -- temp dirs, child processes, bounded waits, free ports, libcurl calls for tests. */
#include "harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void lgt_sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

long lgt_slow(long ms) {
  const char *f = getenv("LG_TEST_SLOW");
  long k = f ? atol(f) : 1;
  return k > 1 ? ms * k : ms;
}

long lgt_elapsed_ms(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

void lgt_path(char *buf, const char *dir, const char *name) {
  int n = snprintf(buf, LGT_PATH_LEN, "%s/%s", dir, name);
  assert_true(n > 0 && n < LGT_PATH_LEN);
}

int lgt_temp_dir(char *buf, const char *prefix) {
  int n;
  if (mkdir(LG_TEST_TMPDIR, 0700) != 0 && errno != EEXIST)
    return -1;
  n = snprintf(buf, LGT_PATH_LEN, "%s/%s-XXXXXX", LG_TEST_TMPDIR, prefix);
  if (n < 0 || n >= LGT_PATH_LEN || !mkdtemp(buf))
    return -1;
  return 0;
}

void lgt_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

char *lgt_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb"), *m;
  char *buf = NULL, chunk[4096];
  size_t n, size = 0;
  if (!f || !(m = open_memstream(&buf, &size)))
    goto out;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    fwrite(chunk, 1, n, m);
  if (fclose(m) != 0 || ferror(f)) {
    free(buf);
    buf = NULL;
  }
out:
  if (f)
    fclose(f);
  if (buf && len)
    *len = size;
  return buf;
}

char *lgt_slurp(const char *path) {
  char *text = lgt_read_file(path, NULL);
  if (!text)
    text = strdup("");
  assert_non_null(text);
  return text;
}

int lgt_count_text(const char *path, const char *needle) {
  char *text = lgt_slurp(path), *p = text;
  int n = 0;
  while ((p = strstr(p, needle)) != NULL) {
    n++;
    p += strlen(needle);
  }
  free(text);
  return n;
}

bool lgt_wait_for_text(const char *path, const char *needle, long timeout_ms) {
  struct timespec t0;
  timeout_ms = lgt_slow(timeout_ms);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    if (lgt_count_text(path, needle) > 0)
      return true;
    lgt_sleep_ms(20);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return false;
}

int lgt_wait_port_file(const char *path, long timeout_ms) {
  struct timespec t0;
  timeout_ms = lgt_slow(timeout_ms);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    char *text = lgt_slurp(path);
    int port = atoi(text);
    free(text);
    if (port > 0)
      return port;
    lgt_sleep_ms(20);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return 0;
}

void lgt_rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[2 * LGT_PATH_LEN];
  struct stat st;
  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      lgt_rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* argv with the words of LG_TEST_WRAPPER (kept in words) in front, in wrapped (n slots);
 * NULL when there is no wrapper or it does not fit. */
static char **wrap(char *const argv[], char *words, char **wrapped, size_t n) {
  const char *w = getenv("LG_TEST_WRAPPER");
  size_t i = 0;
  char *tok, *save;

  if (!w || !*w || strcmp(argv[0], LEASEGUARD_BIN) != 0 || strlen(w) >= 1024)
    return NULL;
  strcpy(words, w);
  for (tok = strtok_r(words, " \t", &save); tok && i + 1 < n; tok = strtok_r(NULL, " \t", &save))
    wrapped[i++] = tok;
  for (size_t a = 0; argv[a] && i + 1 < n; a++)
    wrapped[i++] = argv[a];
  if (i + 1 >= n)
    return NULL;
  wrapped[i] = NULL;
  return wrapped;
}

pid_t lgt_spawn(char *const argv[], const char *out, const char *err) {
  char words[1024], *slots[128];
  char **wrapped = wrap(argv, words, slots, sizeof slots / sizeof slots[0]);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) : 1, e = 2;
    if (err)
      e = out && !strcmp(out, err) ? o : open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    if (wrapped)
      execvp(wrapped[0], wrapped);
    else
      execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

int lgt_wait_exit(pid_t pid, long timeout_ms) {
  struct timespec t0;
  int status;
  timeout_ms = lgt_slow(timeout_ms);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return status;
    lgt_sleep_ms(10);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return -1;
}

int lgt_stop(pid_t pid, int sig, long timeout_ms) {
  int status;
  if (pid <= 0)
    return -1;
  if (kill(pid, sig) == 0 && (status = lgt_wait_exit(pid, timeout_ms)) >= 0)
    return status;
  if (kill(pid, SIGKILL) == 0)
    waitpid(pid, NULL, 0);
  return -1;
}

int lgt_make_certs(const char *out_dir, const char *extra) {
  char arg[LGT_PATH_LEN + 16];
  char *argv[] = {(char *)LEASEGUARD_BIN, "certs", arg, (char *)extra, NULL};
  pid_t pid;
  int status;
  snprintf(arg, sizeof arg, "--out-dir=%s", out_dir);
  pid = lgt_spawn(argv, "/dev/null", NULL);
  status = lgt_wait_exit(pid, 30000);
  if (status < 0)
    lgt_stop(pid, SIGKILL, 1000);
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int lgt_tls_setup(lgt_tls *t, const char *prefix) {
  if (lgt_temp_dir(t->dir, prefix) != 0 || lgt_make_certs(t->dir, NULL) != 0)
    return -1;
  lgt_path(t->ca, t->dir, "ca.crt");
  lgt_path(t->cert, t->dir, "tls.crt");
  lgt_path(t->key, t->dir, "tls.key");
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void lgt_tls_teardown(lgt_tls *t) {
  curl_global_cleanup();
  if (!getenv("LG_KEEP_TMP"))
    lgt_rm_tree(t->dir);
}

int lgt_free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  lgt_reply *r = ud;
  char *grown = realloc(r->body, r->len + size * n + 1);
  if (!grown)
    return 0;
  memcpy(grown + r->len, p, size * n);
  r->body = grown;
  r->len += size * n;
  r->body[r->len] = '\0';
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  lgt_reply *r = ud;
  size_t len = size * n, used = strlen(r->warnings);
  if (len > 8 && !strncasecmp(p, "Warning:", 8) && used + len < sizeof r->warnings)
    memcpy(r->warnings + used, p + 8, len - 8);
  if (len > 6 && !strncasecmp(p, "Allow:", 6)) {
    size_t v = len - 6 < sizeof r->allow ? len - 6 : sizeof r->allow - 1;
    memcpy(r->allow, p + 6, v);
    r->allow[v] = '\0';
  }
  return len;
}

void lgt_collect(CURL *c, lgt_reply *out) {
  memset(out, 0, sizeof *out);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
}

CURL *lgt_request(const char *ca, const char *method, int port, const char *token, const char *path,
                  const char *body, struct curl_slist **hdrs, lgt_reply *out) {
  CURL *c = curl_easy_init();
  char url[2 * LGT_PATH_LEN], auth[256];
  assert_non_null(c);
  lgt_collect(c, out);
  snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(10000L));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  *hdrs = curl_slist_append(NULL, "Accept: application/json");
  if (token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    *hdrs = curl_slist_append(*hdrs, auth);
  }
  if (body) {
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  return c;
}

void lgt_http(const char *ca, const char *method, int port, const char *token, const char *path,
              const char *body, lgt_reply *out) {
  struct curl_slist *hdrs = NULL;
  CURL *c = lgt_request(ca, method, port, token, path, body, &hdrs, out);
  out->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
}

/* lgt_get with timeout_ms as it is. */
static void get(const char *url, const char *ca, long timeout_ms, lgt_reply *out) {
  CURL *c = curl_easy_init();
  assert_non_null(c);
  lgt_collect(c, out);
  curl_easy_setopt(c, CURLOPT_URL, url);
  if (ca)
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  out->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_cleanup(c);
}

void lgt_get(const char *url, const char *ca, long timeout_ms, lgt_reply *out) {
  get(url, ca, lgt_slow(timeout_ms), out);
}

void lgt_wait_healthy(const char *ca, int port, pid_t *pid, const char *err, const char *what,
                      long timeout_ms) {
  char url[64];
  struct timespec t0;
  long left;
  snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", port);
  timeout_ms = lgt_slow(timeout_ms);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while ((left = timeout_ms - lgt_elapsed_ms(&t0)) > 0) {
    lgt_reply r;
    int status;
    if (pid && *pid > 0 && waitpid(*pid, &status, WNOHANG) == *pid) {
      char *text = lgt_slurp(err);
      *pid = -1;
      fail_msg("%s exited during start-up (status %d): %s", what, status, text);
    }
    get(url, ca, left < lgt_slow(5000) ? left : lgt_slow(5000), &r);
    free(r.body);
    if (r.rc == CURLE_OK && r.status == 200)
      return;
    lgt_sleep_ms(20);
  }
  fail_msg("%s did not answer /healthz within %ld s", what, timeout_ms / 1000);
}

/* argv[*n] = arg, asserting that a slot for the final NULL is left among max. */
static void push(char **argv, int *n, int max, const char *arg) {
  assert_true(*n + 1 < max);
  argv[(*n)++] = (char *)arg;
}

int lgt_apiserver_start(const lgt_apiserver *s, pid_t *pid) {
  char sp[32], pf[LGT_PATH_LEN + 16], cert[LGT_PATH_LEN + 32], key[LGT_PATH_LEN + 32],
      tok[LGT_PATH_LEN + 32], *argv[32];
  int n = 0, port;
  unlink(s->port_file);
  snprintf(sp, sizeof sp, "--secure-port=%d", s->port);
  snprintf(pf, sizeof pf, "--port-file=%s", s->port_file);
  snprintf(cert, sizeof cert, "--tls-cert-file=%s", s->cert);
  snprintf(key, sizeof key, "--tls-private-key-file=%s", s->key);
  snprintf(tok, sizeof tok, "--token-auth-file=%s", s->tokens);
  push(argv, &n, 32, LG_TEST_APISERVER_BIN);
  push(argv, &n, 32, sp);
  push(argv, &n, 32, pf);
  push(argv, &n, 32, cert);
  push(argv, &n, 32, key);
  push(argv, &n, 32, tok);
  for (size_t i = 0; s->extra && s->extra[i]; i++)
    push(argv, &n, 32, s->extra[i]);
  argv[n] = NULL;
  *pid = lgt_spawn(argv, s->out, s->err);
  port = lgt_wait_port_file(s->port_file, 10000);
  if (port <= 0)
    fail_msg("lg-test-apiserver wrote no port into %s within 10 s; see %s", s->port_file,
             s->err   ? s->err
             : s->out ? s->out
                      : "its stderr");
  lgt_wait_healthy(s->ca, port, pid, s->err ? s->err : s->out, "lg-test-apiserver", 10000);
  return port;
}

pid_t lgt_elect_spawn(const lgt_elect *s) {
  char server[64], token[LGT_PATH_LEN + 32], caf[LGT_PATH_LEN + 32], ns[96], name[96], ident[96],
      lease[64], renew[64], retry[64], http[64], mis[64], *argv[48];
  int n = 0;
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", s->api_port);
  snprintf(token, sizeof token, "--token-file=%s", s->token_file);
  snprintf(caf, sizeof caf, "--certificate-authority=%s", s->ca_file);
  snprintf(ns, sizeof ns, "--lock-namespace=%s", s->ns);
  snprintf(name, sizeof name, "--lock-name=%s", s->lock);
  snprintf(ident, sizeof ident, "--identity=%s", s->identity);
  snprintf(lease, sizeof lease, "--leader-elect-lease-duration=%ds", s->lease_s);
  snprintf(renew, sizeof renew, "--leader-elect-renew-deadline=%ds", s->renew_s);
  snprintf(retry, sizeof retry, "--leader-elect-retry-period=%ds", s->retry_s);
  snprintf(http, sizeof http, "--http=127.0.0.1:%d", s->http_port);
  snprintf(mis, sizeof mis, "--misbehave=%s", s->misbehave ? s->misbehave : "");
  push(argv, &n, 48, LEASEGUARD_BIN);
  push(argv, &n, 48, "elect");
  push(argv, &n, 48, ns);
  push(argv, &n, 48, name);
  push(argv, &n, 48, ident);
  push(argv, &n, 48, server);
  push(argv, &n, 48, token);
  push(argv, &n, 48, caf);
  push(argv, &n, 48, lease);
  push(argv, &n, 48, renew);
  push(argv, &n, 48, retry);
  if (s->release_on_cancel)
    push(argv, &n, 48, "--release-on-cancel");
  push(argv, &n, 48, http);
  if (s->misbehave)
    push(argv, &n, 48, mis);
  if (s->run) {
    push(argv, &n, 48, "--run");
    push(argv, &n, 48, "--");
    for (size_t i = 0; s->run[i]; i++)
      push(argv, &n, 48, s->run[i]);
  }
  argv[n] = NULL;
  return lgt_spawn(argv, s->log, s->log);
}

int lgt_elect_leads(int http_port) {
  char url[64];
  lgt_reply r;
  int lead = -1;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
  lgt_get(url, NULL, 2000, &r);
  if (r.rc == CURLE_OK && r.status == 200)
    lead = r.body && strstr(r.body, "} 1") != NULL;
  free(r.body);
  return lead;
}

void lgt_serve_launch(const lgt_serve_opts *s, pid_t *pid) {
  char port[32], cert[LGT_PATH_LEN + 32], key[LGT_PATH_LEN + 32], *argv[48];
  int n = 0;
  snprintf(port, sizeof port, "--secure-port=%d", s->port);
  snprintf(cert, sizeof cert, "--tls-cert-file=%s", s->cert);
  snprintf(key, sizeof key, "--tls-private-key-file=%s", s->key);
  push(argv, &n, 48, LEASEGUARD_BIN);
  push(argv, &n, 48, "serve");
  push(argv, &n, 48, "--bind-address=127.0.0.1");
  push(argv, &n, 48, port);
  push(argv, &n, 48, cert);
  push(argv, &n, 48, key);
  for (size_t i = 0; s->flags && s->flags[i]; i++)
    push(argv, &n, 48, s->flags[i]);
  for (size_t i = 0; s->extra && s->extra[i]; i++)
    push(argv, &n, 48, s->extra[i]);
  argv[n] = NULL;
  *pid = lgt_spawn(argv, s->out, s->err);
  lgt_wait_healthy(s->ca, s->port, pid, s->err_log ? s->err_log : s->err, "leaseguard serve",
                   10000);
}
