/* execcred.c -- exec credential plugins: posix_spawn without a shell, stdout and stderr
 * read through pipes within a time and size bound, the ExecCredential cached until it
 * expires (as client-go's plugin/pkg/client/auth/exec). */
#define _GNU_SOURCE /* pipe2, environ */
#include "execcred.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "utf8.h"

extern char **environ;

#define EXEC_INFO    "KUBERNETES_EXEC_INFO"
#define STDERR_KEPT  4096 /* bytes of the plugin's stderr kept for the message */
#define STDERR_SHOWN 300  /* bytes of it shown in the message */

struct lg_execcred {
  atomic_long refs;
  pthread_mutex_t lock;                            /* the cache, and one run at a time */
  char *name, *api_version, *install_hint, *shown; /* shown: the command's base name */
  char **argv;                                     /* command, args..., NULL */
  char **env;   /* plugin env "NAME=value", then KUBERNETES_EXEC_INFO, NULL */
  size_t n_env; /* entries of env */
  long timeout_ms;
  size_t max_output;
  lg_execcred_cred cached; /* valid when cached.generation != 0 */
  unsigned long runs;
};

/* ---- strings ---- */

static void secret_free(char *s) {
  if (s)
    OPENSSL_cleanse(s, strlen(s));
  free(s);
}

void lg_execcred_cred_free(lg_execcred_cred *c) {
  if (!c)
    return;
  secret_free(c->token);
  secret_free(c->cert_pem);
  secret_free(c->key_pem);
  memset(c, 0, sizeof *c);
}

/* A copy of src (NULL stays NULL); false when out of memory. */
static bool dup_str(const char *src, char **dst) {
  *dst = src ? strdup(src) : NULL;
  return !src || *dst;
}

static bool copy_cred(const lg_execcred_cred *src, lg_execcred_cred *dst) {
  *dst = *src;
  dst->token = dst->cert_pem = dst->key_pem = NULL;
  if (dup_str(src->token, &dst->token) && dup_str(src->cert_pem, &dst->cert_pem) &&
      dup_str(src->key_pem, &dst->key_pem))
    return true;
  lg_execcred_cred_free(dst);
  return false;
}

/* Length of the name part of "NAME=value". */
static size_t env_name_len(const char *entry) {
  const char *eq = strchr(entry, '=');
  return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* ---- settings ---- */

static const char *const versions[] = {"client.authentication.k8s.io/v1",
                                       "client.authentication.k8s.io/v1beta1"};

static void free_vec(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

char *lg_execcred_exec_info(const char *api_version, const json_t *cluster) {
  json_t *spec = json_pack("{s:b}", "interactive", 0);
  json_t *o = spec ? json_pack("{s:s, s:s, s:o}", "apiVersion", api_version, "kind",
                               "ExecCredential", "spec", spec)
                   : NULL;
  char *s = NULL;
  if (o && cluster && json_object_set_new(spec, "cluster", json_deep_copy(cluster)) != 0) {
    json_decref(o);
    return NULL;
  }
  s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  if (!o)
    json_decref(spec);
  json_decref(o);
  return s;
}

/* Checks what client-go checks (apiVersion, interactiveMode), refusing Always. */
static lg_rc check_opts(const lg_execcred_opts *o, char *err, size_t errlen) {
  const char *mode = o->interactive_mode;
  bool known = false;
  if (!o->command || !*o->command)
    return lg_fail(err, errlen, LG_EINVAL, "exec plugin (%s): command is missing", o->name);
  for (size_t i = 0; i < sizeof versions / sizeof *versions; i++)
    known = known || (o->api_version && !strcmp(o->api_version, versions[i]));
  if (!known)
    return lg_fail(err, errlen, LG_EINVAL,
                   "exec plugin \"%s\" (%s): apiVersion \"%s\" is not supported; use "
                   "client.authentication.k8s.io/v1 or v1beta1",
                   o->command, o->name, o->api_version ? o->api_version : "");
  if (!mode && !strcmp(o->api_version, versions[0]))
    return lg_fail(err, errlen, LG_EINVAL,
                   "exec plugin \"%s\" (%s): interactiveMode must be set with %s (Never or "
                   "IfAvailable)",
                   o->command, o->name, versions[0]);
  if (mode && !strcmp(mode, "Always"))
    return lg_fail(err, errlen, LG_EINVAL,
                   "exec plugin \"%s\" (%s): interactiveMode is Always, but leaseguard never "
                   "has a terminal for it; use a plugin or mode that runs without one "
                   "(Never or IfAvailable)",
                   o->command, o->name);
  if (mode && strcmp(mode, "Never") && strcmp(mode, "IfAvailable"))
    return lg_fail(err, errlen, LG_EINVAL,
                   "exec plugin \"%s\" (%s): interactiveMode \"%s\" is not Never, IfAvailable "
                   "or Always",
                   o->command, o->name, mode);
  for (size_t i = 0; i < o->n_env; i++)
    if (!o->env[i] || env_name_len(o->env[i]) == 0 || !strchr(o->env[i], '='))
      return lg_fail(err, errlen, LG_EINVAL, "exec plugin \"%s\" (%s): an env entry has no name",
                     o->command, o->name);
  return LG_OK;
}

lg_rc lg_execcred_new(const lg_execcred_opts *o, lg_execcred **out, char *err, size_t errlen) {
  lg_execcred *x = NULL;
  char *info = NULL;
  const char *base;
  bool ok;
  lg_rc rc;

  if (!out || !o)
    return lg_fail(err, errlen, LG_EINVAL, "no plugin settings or output");
  *out = NULL;
  if ((rc = check_opts(o, err, errlen)))
    return rc;
  if (!(x = calloc(1, sizeof *x)) || pthread_mutex_init(&x->lock, NULL) != 0) {
    free(x);
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  }
  atomic_init(&x->refs, 1);
  x->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : LG_EXECCRED_TIMEOUT_MS;
  x->max_output = o->max_output > 0 ? o->max_output : LG_EXECCRED_MAX_OUTPUT;
  base = strrchr(o->command, '/');
  ok = dup_str(o->name ? o->name : "kubeconfig", &x->name) &&
       dup_str(o->api_version, &x->api_version) && dup_str(o->install_hint, &x->install_hint) &&
       dup_str(base && base[1] ? base + 1 : o->command, &x->shown) &&
       (x->argv = calloc(o->n_args + 2, sizeof *x->argv)) != NULL &&
       (x->env = calloc(o->n_env + 2, sizeof *x->env)) != NULL &&
       (x->argv[0] = strdup(o->command)) != NULL;
  for (size_t i = 0; ok && i < o->n_args; i++)
    ok = (x->argv[i + 1] = strdup(o->args[i] ? o->args[i] : "")) != NULL;
  for (size_t i = 0; ok && i < o->n_env; i++)
    ok = (x->env[x->n_env++] = strdup(o->env[i])) != NULL;
  ok = ok && (info = lg_execcred_exec_info(o->api_version, o->cluster)) != NULL &&
       asprintf(&x->env[x->n_env], "%s=%s", EXEC_INFO, info) >= 0;
  if (ok)
    x->n_env++;
  else
    x->env[x->n_env] = NULL;
  free(info);
  if (!ok) {
    lg_execcred_unref(x);
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  }
  *out = x;
  return LG_OK;
}

lg_execcred *lg_execcred_ref(lg_execcred *x) {
  if (x)
    atomic_fetch_add(&x->refs, 1);
  return x;
}

void lg_execcred_unref(lg_execcred *x) {
  if (!x || atomic_fetch_sub(&x->refs, 1) != 1)
    return;
  lg_execcred_cred_free(&x->cached);
  pthread_mutex_destroy(&x->lock);
  free(x->name);
  free(x->api_version);
  free(x->install_hint);
  free(x->shown);
  free_vec(x->argv);
  for (size_t i = 0; x->env && i < x->n_env; i++)
    secret_free(x->env[i]); /* plugin env may carry secrets */
  free(x->env);
  free(x);
}

/* ---- the ExecCredential ---- */

/* Checks that cert and key are PEM, and that the key belongs to the certificate. */
static bool key_pair_ok(const char *cert_pem, const char *key_pem) {
  BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
  X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  bool ok = cert && key && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(kb);
  BIO_free(cb);
  return ok;
}

/* Reads an optional string field of obj into a new string; false when it is not a string. */
static bool opt_string(const json_t *obj, const char *key, char **out) {
  const json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return true;
  if (!json_is_string(v))
    return false;
  if (json_string_length(v) == 0)
    return true;
  *out = strdup(json_string_value(v));
  return *out != NULL;
}

lg_rc lg_execcred_parse(const char *api_version, const char *text, size_t len,
                        lg_execcred_cred *out, char *err, size_t errlen) {
  lg_execcred_cred c = {0};
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  const json_t *status, *exp;
  const char *kind, *version;
  lg_rc rc = LG_EINVAL;

  memset(out, 0, sizeof *out);
  if (!json_is_object(root)) {
    lg_fail(err, errlen, rc, "its output is not an ExecCredential (JSON object): %s",
            root ? "not an object" : jerr.text);
    goto out;
  }
  kind = json_string_value(json_object_get(root, "kind"));
  version = json_string_value(json_object_get(root, "apiVersion"));
  if (!kind || strcmp(kind, "ExecCredential") != 0) {
    lg_fail(err, errlen, rc, "its output has kind \"%s\", not ExecCredential", kind ? kind : "");
    goto out;
  }
  if (!version || strcmp(version, api_version) != 0) {
    lg_fail(err, errlen, rc, "it is configured to use API version %s, plugin returned version %s",
            api_version, version ? version : "(none)");
    goto out;
  }
  status = json_object_get(root, "status");
  if (!json_is_object(status)) {
    lg_fail(err, errlen, rc, "it didn't return a status field");
    goto out;
  }
  if (!opt_string(status, "token", &c.token) ||
      !opt_string(status, "clientCertificateData", &c.cert_pem) ||
      !opt_string(status, "clientKeyData", &c.key_pem)) {
    lg_fail(err, errlen, rc,
            "status.token, clientCertificateData and clientKeyData must be "
            "strings");
    goto out;
  }
  if (!c.token && !c.cert_pem && !c.key_pem) {
    lg_fail(err, errlen, rc, "it didn't return a token or cert/key pair");
    goto out;
  }
  if (!c.cert_pem != !c.key_pem) {
    lg_fail(err, errlen, rc, "it returned only certificate or key, not both");
    goto out;
  }
  if (c.cert_pem && !key_pair_ok(c.cert_pem, c.key_pem)) {
    lg_fail(err, errlen, rc,
            "its clientCertificateData and clientKeyData are not a PEM "
            "certificate and its key");
    goto out;
  }
  exp = json_object_get(status, "expirationTimestamp");
  if (exp && !json_is_null(exp)) {
    if (!json_is_string(exp) || lg_time_parse(json_string_value(exp), &c.expiry) != LG_OK) {
      lg_fail(err, errlen, rc, "status.expirationTimestamp is not an RFC 3339 time");
      goto out;
    }
    c.has_expiry = true;
  }
  rc = LG_OK;
  *out = c;
  memset(&c, 0, sizeof c);

out:
  lg_execcred_cred_free(&c);
  if (root) {
    /* The text held secrets: wipe jansson's copies before freeing them. */
    const char *key;
    json_t *v, *st = json_object_get(root, "status");
    json_object_foreach(st, key, v) if (json_is_string(v))
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
  }
  json_decref(root);
  return rc;
}

/* ---- running the plugin ---- */

/* What came back from one run. */
typedef struct {
  char *out; /* stdout, NUL-terminated */
  size_t out_len;
  char err[STDERR_KEPT + 1];
  size_t err_len;
  bool too_big, timed_out;
  int status; /* wait status */
} run_result;

/* Our environment without the names the plugin sets, then the plugin's: later wins. */
static char **plugin_environ(const lg_execcred *x) {
  size_t n = 0, k = 0;
  char **envp;
  for (char **e = environ; e && *e; e++)
    n++;
  if (!(envp = calloc(n + x->n_env + 1, sizeof *envp)))
    return NULL;
  for (char **e = environ; e && *e; e++) {
    bool replaced = false;
    for (size_t i = 0; i < x->n_env && !replaced; i++)
      replaced =
          env_name_len(*e) == env_name_len(x->env[i]) && !strncmp(*e, x->env[i], env_name_len(*e));
    if (!replaced)
      envp[k++] = *e;
  }
  for (size_t i = 0; i < x->n_env; i++)
    envp[k++] = x->env[i];
  return envp;
}

/* The executable to run (new): a command with a slash as it is, else the first executable
 * file of that name in PATH, as Go's exec.LookPath; NULL with errno set when there is none. */
static char *look_path(const char *command) {
  const char *path = getenv("PATH");
  char *copy, *save = NULL, *found = NULL;
  if (strchr(command, '/')) {
    if (access(command, X_OK) != 0)
      return NULL;
    return strdup(command);
  }
  if (!(copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin")))
    return NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
    struct stat st;
    if (asprintf(&found, "%s/%s", *dir ? dir : ".", command) < 0) {
      found = NULL;
      break;
    }
    if (stat(found, &st) != 0 || !S_ISREG(st.st_mode) || access(found, X_OK) != 0) {
      free(found);
      found = NULL;
    }
  }
  free(copy);
  if (!found)
    errno = ENOENT;
  return found;
}

/* Starts the plugin in its own process group with stdin /dev/null, the default signal
 * mask and dispositions, stdout and stderr into the pipes. Returns 0 or an errno. */
static int spawn(const lg_execcred *x, int out_w, int err_w, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  char **envp = NULL, *exe = look_path(x->argv[0]);
  int e;

  if (!exe)
    return errno ? errno : ENOENT;
  if (!(envp = plugin_environ(x))) {
    free(exe);
    return ENOMEM;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w, 2);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  e = posix_spawn(pid, exe, &fa, &attr, x->argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  free(envp);
  free(exe);
  return e;
}

/* Appends what fd has to the buffer; false at EOF or error. */
static bool drain(int fd, char *buf, size_t cap, size_t *len, bool *overflow) {
  char chunk[4096];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  if ((size_t)n > cap - *len) {
    *overflow = true;
    n = (ssize_t)(cap - *len);
  }
  memcpy(buf + *len, chunk, (size_t)n);
  *len += (size_t)n;
  buf[*len] = '\0';
  return true;
}

/* Reads stdout and stderr until both end and the plugin exits, within the deadline. */
static void collect(const lg_execcred *x, pid_t pid, int out_r, int err_r, run_result *r) {
  int64_t deadline = lg_time_mono() + (int64_t)x->timeout_ms * 1000;
  struct pollfd p[2] = {{.fd = out_r, .events = POLLIN}, {.fd = err_r, .events = POLLIN}};
  bool err_overflow = false, exited = false;

  while (!r->too_big && !r->timed_out) {
    int64_t left = deadline - lg_time_mono();
    if (p[0].fd < 0 && p[1].fd < 0) {
      /* Both pipes closed: wait for the exit, still within the deadline. */
      pid_t w = waitpid(pid, &r->status, WNOHANG);
      if (w == pid || (w < 0 && errno != EINTR)) {
        exited = true;
        break;
      }
      if (left <= 0)
        r->timed_out = true;
      else
        usleep(left < 10000 ? (useconds_t)left : 10000);
      continue;
    }
    if (left <= 0) {
      r->timed_out = true;
      break;
    }
    if (poll(p, 2, (int)(left / 1000) + 1) < 0 && errno != EINTR)
      break;
    if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
        !drain(out_r, r->out, x->max_output, &r->out_len, &r->too_big))
      p[0].fd = -1;
    if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
        !drain(err_r, r->err, STDERR_KEPT, &r->err_len, &err_overflow))
      p[1].fd = -1;
  }
  if (!exited) {
    kill(-pid, SIGKILL); /* the plugin and what it started */
    kill(pid, SIGKILL);
    while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
      ;
  }
}

/* The kept stderr as one line: whitespace runs become one space, cut to STDERR_SHOWN
 * bytes on a character boundary. */
static void stderr_line(const run_result *r, char *buf, size_t len) {
  size_t n = 0;
  bool space = false, cut = false;
  for (size_t i = 0; i < r->err_len && r->err[i]; i++) {
    unsigned char ch = (unsigned char)r->err[i];
    if (isspace(ch) || (ch < 0x20)) {
      space = n > 0;
      continue;
    }
    if (n + 2 >= len || n + 2 >= STDERR_SHOWN) {
      cut = true;
      break;
    }
    if (space)
      buf[n++] = ' ';
    space = false;
    buf[n++] = (char)ch;
  }
  buf[n] = '\0';
  lg_utf8_trim(buf);
  lg_utf8_repair(buf);
  if (cut || r->err_len >= STDERR_KEPT)
    snprintf(buf + strlen(buf), len - strlen(buf), " ...");
  if (!buf[0])
    snprintf(buf, len, "(nothing on stderr)");
}

/* Runs the plugin once; its stdout in r->out (new). */
static lg_rc run(const lg_execcred *x, run_result *r, char *err, size_t errlen) {
  int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, e;
  pid_t pid = -1;
  char line[STDERR_SHOWN + 8];
  lg_rc rc = LG_OK;

  memset(r, 0, sizeof *r);
  if (!(r->out = malloc(x->max_output + 1)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  r->out[0] = '\0';
  if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0) {
    rc = lg_fail(err, errlen, LG_EIO, "exec plugin \"%s\" (%s): pipe: %s", x->shown, x->name,
                 strerror(errno));
    goto out;
  }
  e = spawn(x, out_p[1], err_p[1], &pid);
  close(out_p[1]);
  close(err_p[1]);
  out_p[1] = err_p[1] = -1;
  if (e == ENOENT) {
    rc = lg_fail(err, errlen, LG_EIO, "exec plugin (%s): executable \"%s\" not found%s%s", x->name,
                 x->argv[0], x->install_hint ? ": " : "", x->install_hint ? x->install_hint : "");
    goto out;
  }
  if (e) {
    rc = lg_fail(err, errlen, LG_EIO, "exec plugin (%s): cannot run \"%s\": %s", x->name,
                 x->argv[0], strerror(e));
    goto out;
  }
  collect(x, pid, out_p[0], err_p[0], r);
  stderr_line(r, line, sizeof line);
  if (r->timed_out)
    rc = lg_fail(err, errlen, LG_EIO,
                 "exec plugin \"%s\" (%s) did not finish within %.3gs and "
                 "was killed; stderr: %s",
                 x->shown, x->name, (double)x->timeout_ms / 1000, line);
  else if (r->too_big)
    rc = lg_fail(err, errlen, LG_EIO,
                 "exec plugin \"%s\" (%s) wrote more than %zu bytes and "
                 "was killed",
                 x->shown, x->name, x->max_output);
  else if (WIFSIGNALED(r->status))
    rc = lg_fail(err, errlen, LG_EIO, "exec plugin \"%s\" (%s) was killed by signal %d: %s",
                 x->shown, x->name, WTERMSIG(r->status), line);
  else if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
    rc = lg_fail(err, errlen, LG_EIO, "exec plugin \"%s\" (%s) failed with exit code %d: %s",
                 x->shown, x->name, WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1, line);

out:
  for (int i = 0; i < 2; i++) {
    if (out_p[i] >= 0)
      close(out_p[i]);
    if (err_p[i] >= 0)
      close(err_p[i]);
  }
  return rc;
}

/* Runs the plugin and caches what it says; x->lock is held. */
static lg_rc refresh(lg_execcred *x, char *err, size_t errlen) {
  run_result r;
  lg_execcred_cred c;
  char why[384];
  lg_rc rc;

  x->runs++;
  rc = run(x, &r, err, errlen);
  if (!rc && (rc = lg_execcred_parse(x->api_version, r.out, r.out_len, &c, why, sizeof why)))
    lg_fail(err, errlen, rc, "exec plugin \"%s\" (%s): %s", x->shown, x->name, why);
  if (r.out) {
    OPENSSL_cleanse(r.out, r.out_len);
    free(r.out);
  }
  if (rc)
    return rc;
  c.generation = x->runs;
  lg_execcred_cred_free(&x->cached);
  x->cached = c;
  return LG_OK;
}

lg_rc lg_execcred_get(lg_execcred *x, lg_time now, lg_execcred_cred *out, char *err,
                      size_t errlen) {
  bool fresh = false;
  lg_rc rc = LG_OK;

  memset(out, 0, sizeof *out);
  if (!x)
    return lg_fail(err, errlen, LG_EINVAL, "no exec plugin");
  pthread_mutex_lock(&x->lock);
  /* Valid until its expiry, as client-go: none means until the API server refuses it. */
  if (!x->cached.generation || (x->cached.has_expiry && now > x->cached.expiry)) {
    rc = refresh(x, err, errlen);
    fresh = true;
  }
  if (!rc && !copy_cred(&x->cached, out))
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  out->fresh = !rc && fresh;
  pthread_mutex_unlock(&x->lock);
  return rc;
}

void lg_execcred_invalidate(lg_execcred *x, unsigned long generation) {
  if (!x)
    return;
  pthread_mutex_lock(&x->lock);
  if (x->cached.generation == generation)
    lg_execcred_cred_free(&x->cached);
  pthread_mutex_unlock(&x->lock);
}

unsigned long lg_execcred_runs(lg_execcred *x) {
  unsigned long n;
  pthread_mutex_lock(&x->lock);
  n = x->runs;
  pthread_mutex_unlock(&x->lock);
  return n;
}
