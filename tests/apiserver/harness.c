/* harness.c -- bounded waits on files and children, free ports, libcurl requests for tests. */
#include "harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
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

long lgt_elapsed_ms(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

void lgt_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

char *lgt_slurp(const char *path) {
  FILE *f = fopen(path, "r"), *m;
  char *buf = NULL;
  size_t len = 0;
  int c;
  m = open_memstream(&buf, &len);
  assert_non_null(m);
  while (f && (c = fgetc(f)) != EOF)
    fputc(c, m);
  fclose(m);
  if (f)
    fclose(f);
  return buf;
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
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    if (lgt_count_text(path, needle) > 0)
      return true;
    lgt_sleep_ms(20);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return false;
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

pid_t lgt_spawn(char *const argv[], const char *out, const char *err) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

int lgt_wait_exit(pid_t pid, long timeout_ms) {
  struct timespec t0;
  int status;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return status;
    lgt_sleep_ms(10);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return -1;
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
  return len;
}

CURL *lgt_request(const char *ca, const char *method, int port, const char *token,
                  const char *path, const char *body, struct curl_slist **hdrs, lgt_reply *out) {
  CURL *c = curl_easy_init();
  char url[2 * LGT_PATH_LEN], auth[256];
  assert_non_null(c);
  memset(out, 0, sizeof *out);
  snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
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
