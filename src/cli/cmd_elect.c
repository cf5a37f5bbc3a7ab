/* cmd_elect.c -- `leaseguard elect`: a client-go-compatible leader elector (sidecar), with
 * leadership reported over HTTP and an optional command run only while leading. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "elector.h"
#include "electrun.h"
#include "httpd.h"
#include "kube.h"
#include "leaselock.h"
#include "log.h"

#define CHILD_GRACE_SECONDS 5

static const char usage[] =
    "Usage: leaseguard elect [--lock-namespace=NS] --lock-name=NAME [--identity=ID] [flags]\n"
    "                        [--run -- COMMAND [ARGS...]]\n"
    "\n"
    "Takes part in leader election on a Lease exactly as client-go's leaderelection does.\n"
    "NS must be a namespace name (DNS-1123 label) and NAME a lease name (DNS-1123 subdomain).\n"
    "\n"
    "  --lock-namespace=NS                  the Lease's namespace (default: the kubeconfig\n"
    "                                       context's, in-cluster the pod's; else required)\n"
    "  --lock-name=NAME                     the Lease's name (required)\n"
    "  --identity=ID                        default: <hostname>_<uuid>, as kube components\n"
    "  --leader-elect-lease-duration=15s    how long a candidate waits on an unrenewed lease\n"
    "  --leader-elect-renew-deadline=10s    the leader steps down if it cannot renew by then\n"
    "  --leader-elect-retry-period=2s       time between attempts\n"
    "  --release-on-cancel                  on SIGTERM, give the lease up (holder \"\")\n"
    "  --http=ADDR:PORT                     plain HTTP: GET / -> {\"name\":LEADER} (and\n"
    "                                       \"fencingToken\" while leading), /metrics\n"
    "  --misbehave=steal|skip-transition|backdate-renew|huge-duration|future-renew\n"
    "                                       write what leaseguard must stop (self-tests only)\n"
    "  --run -- COMMAND...                  run COMMAND only while leader; SIGTERM, then\n"
    "                                       SIGKILL after 5 s, when leadership is lost\n"
    "                                       (LEASEGUARD_FENCING_TOKEN in its environment: the\n"
    "                                       term's <ns>/<lease>/<identity>/<transitions>, for\n"
    "                                       writes fenced by serve --fencing)\n"
    "\n" LG_CLI_API_HELP "\n"
    "Logs (JSON lines on stderr): \"became leader\", \"lost leadership\", \"new leader is X\".\n"
    "Exit: 0 after SIGTERM/SIGINT, the command's status if it exits, 1 on errors, 2 on usage.\n";

/* What the HTTP endpoint reports, shared with libmicrohttpd's thread. */
typedef struct {
  pthread_mutex_t lock;
  char leader[256];
  char token[1400]; /* the fencing token while leading, "" otherwise */
  bool leading;
  const char *lock_name;
} status;

/* GET / -> {"name":"<leader>"}; GET /metrics -> client-go's leadership gauge. */
static void answer(void *ctx, const char *url, lg_httpd_answer *out) {
  status *st = ctx;
  char body[512];
  pthread_mutex_lock(&st->lock);
  if (strcmp(url, "/") == 0) {
    json_t *o = json_pack("{s:s}", "name", st->leader);
    if (o && st->token[0])
      json_object_set_new(o, "fencingToken", json_string(st->token));
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    snprintf(body, sizeof body, "%s\n", js ? js : "{}");
    free(js);
    json_decref(o);
    out->ctype = "application/json";
    out->body = strdup(body);
  } else if (strcmp(url, "/metrics") == 0) {
    snprintf(body, sizeof body,
             "# HELP leader_election_master_status Gauge of if the reporting system is master of "
             "the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string "
             "used to identify the lease.\n"
             "# TYPE leader_election_master_status gauge\n"
             "leader_election_master_status{name=\"%s\"} %d\n",
             st->lock_name, st->leading ? 1 : 0);
    out->ctype = "text/plain; version=0.0.4";
    out->body = strdup(body);
  } else if (strcmp(url, "/healthz") == 0) {
    out->body = strdup("ok\n");
  }
  pthread_mutex_unlock(&st->lock);
}

/* Starts argv as a child with the default signal mask and LEASEGUARD_FENCING_TOKEN set to
 * token (the epoch it leads in); returns its pid or -1. */
static pid_t start_child(char **argv, const char *token) {
  sigset_t none;
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL); /* ignored by leaseguard itself (main.c), not by what it runs */
  if (setenv("LEASEGUARD_FENCING_TOKEN", token, 1) != 0)
    _exit(127);
  execvp(argv[0], argv);
  fprintf(stderr, "leaseguard elect: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* SIGTERM, then SIGKILL after the grace period; returns the wait status. */
static int stop_child(pid_t pid) {
  int st = 0;
  kill(pid, SIGTERM);
  for (int i = 0; i < CHILD_GRACE_SECONDS * 10; i++) {
    if (waitpid(pid, &st, WNOHANG) == pid)
      return st;
    usleep(100000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return st;
}

/* client-go's kube components use "<hostname>_<uuid>". */
static void default_identity(char *buf, size_t len) {
  char host[128] = "leaseguard", uuid[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");
  gethostname(host, sizeof host - 1);
  if (f) {
    if (!fgets(uuid, sizeof uuid, f))
      uuid[0] = '\0';
    fclose(f);
  }
  uuid[strcspn(uuid, "\n")] = '\0';
  snprintf(buf, len, "%s_%s", host, uuid[0] ? uuid : "0");
}

/* Logs what a step saw: failed reads and writes, a new leader. */
static void log_events(const lg_elector *e, unsigned ev, const char *lockname) {
  /* As client-go's "error retrieving resource lock": bad credentials, RBAC, a plugin
   * that fails, an API server away. */
  if (ev & LG_ELECT_GET_FAILED)
    lg_log_json(LG_LOG_WARNING, "error retrieving resource lock", "{s:s, s:I, s:s}", "lock",
                lockname, "status", (json_int_t)lg_elector_last_status(e), "error",
                lg_elector_last_error(e));
  if (ev & LG_ELECT_WRITE_FAILED)
    lg_log_json(LG_LOG_WARNING, "lease write failed", "{s:s, s:I, s:s}", "lock", lockname, "status",
                (json_int_t)lg_elector_last_status(e), "error", lg_elector_last_error(e));
  if (ev & LG_ELECT_NEW_LEADER) {
    char msg[300];
    snprintf(msg, sizeof msg, "new leader is %s", lg_elector_leader(e));
    lg_log(LG_LOG_INFO, msg, "lock", lockname, "leader", lg_elector_leader(e), NULL);
  }
}

typedef struct {
  const char *ns, *name, *identity, *http;
  lg_kube_flags api;
  int64_t lease, renew, retry;
  bool release;
  lg_misbehave misbehave;
  const char *misbehave_name;
  char **run;
} options;

/* Returns 0 to go on, 1 after --help, 2 on a usage error (reported). */
static int parse(int argc, char **argv, options *o) {
  const char *mis = NULL;
  int r;
  /* One message for every duration, as before the table. */
  static const char bad_duration[] = "durations must be like 15s, 500ms or 1m";
  const lg_flag flags[] = {
      {.name = "--lock-namespace", .kind = LG_FLAG_STRING, .dst = &o->ns},
      {.name = "--lock-name", .kind = LG_FLAG_STRING, .dst = &o->name},
      {.name = "--identity", .kind = LG_FLAG_STRING, .dst = &o->identity},
      {.name = "--http", .kind = LG_FLAG_STRING, .dst = &o->http},
      {.name = "--leader-elect-lease-duration",
       .kind = LG_FLAG_DURATION,
       .dst = &o->lease,
       .def = "15s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--leader-elect-renew-deadline",
       .kind = LG_FLAG_DURATION,
       .dst = &o->renew,
       .def = "10s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--leader-elect-retry-period",
       .kind = LG_FLAG_DURATION,
       .dst = &o->retry,
       .def = "2s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--misbehave", .kind = LG_FLAG_STRING, .dst = &mis},
      {.name = "--release-on-cancel", .kind = LG_FLAG_BOOL, .dst = &o->release},
      {.name = "--run", .kind = LG_FLAG_REST, .dst = &o->run},
      LG_CLI_API_FLAGS(&o->api),
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, "unknown argument {arg}", NULL,
                              NULL};

  if ((r = lg_cli_parse("elect", &spec, argc, argv, usage)) != 0)
    return r;
  o->misbehave = mis ? lg_elector_parse_misbehave(mis) : LG_MISBEHAVE_NONE;
  o->misbehave_name = mis ? mis : "none";
  if (o->misbehave == LG_MISBEHAVE_COUNT)
    return lg_cli_usage_error("elect", "unknown --misbehave \"%s\"", mis);
  if (!o->name || !*o->name)
    return lg_cli_usage_error("elect", "--lock-name is required");
  if (o->ns && !*o->ns)
    return lg_cli_usage_error("elect", "--lock-namespace must not be empty");
  return 0;
}

/* What the run loop shares with its callbacks. */
typedef struct {
  const options *o;
  status *st;
  const char *lockname;
  const sigset_t *set;
  pid_t child;
  int exit_code;
} loop_state;

/* After each step: the status endpoint, the logs, and the command run only while leading. */
static void on_step(void *ud, lg_elector *e, unsigned ev) {
  loop_state *l = ud;
  pthread_mutex_lock(&l->st->lock);
  snprintf(l->st->leader, sizeof l->st->leader, "%s", lg_elector_leader(e));
  lg_elector_fencing_token(e, l->st->token, sizeof l->st->token);
  l->st->leading = lg_elector_is_leader(e);
  pthread_mutex_unlock(&l->st->lock);
  log_events(e, ev, l->lockname);
  if (ev & LG_ELECT_LOST_LEADERSHIP) {
    lg_log(LG_LOG_WARNING, "lost leadership", "lock", l->lockname, "identity", l->o->identity,
           NULL);
    if (l->child > 0)
      stop_child(l->child);
    l->child = -1;
  }
  if (ev & LG_ELECT_BECAME_LEADER) {
    lg_log(LG_LOG_INFO, "became leader", "lock", l->lockname, "identity", l->o->identity, NULL);
    if (l->o->run && (l->child = start_child(l->o->run, l->st->token)) < 0)
      lg_log(LG_LOG_ERROR, "cannot start the command", "error", strerror(errno), NULL);
  }
}

/* Waits for the next step, SIGTERM/SIGINT (stop) or the command's exit (stop with its
 * status). */
static bool wait_until(void *ud, int64_t deadline) {
  loop_state *l = ud;
  int64_t now = lg_time_mono(), d = deadline > now ? deadline - now : 0;
  struct timespec ts = {(time_t)(d / LG_USEC_PER_SEC), (long)(d % LG_USEC_PER_SEC) * 1000};
  siginfo_t info;
  int sig = sigtimedwait(l->set, &info, &ts), ws;
  if (sig == SIGTERM || sig == SIGINT)
    return true;
  if (sig == SIGCHLD && l->child > 0 && waitpid(l->child, &ws, WNOHANG) == l->child) {
    l->exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    lg_log(LG_LOG_WARNING, "the command exited; stopping", "lock", l->lockname, NULL);
    l->child = -1;
    return true;
  }
  return false;
}

int lg_cmd_elect(int argc, char **argv) {
  options o = {0};
  char err[512], identity[256], lockname[384];
  lg_kube_config kc = {0};
  lg_kube *kube = NULL;
  lg_elector *e = NULL;
  lg_leaselock lock;
  lg_httpd *http = NULL;
  status st = {.lock = PTHREAD_MUTEX_INITIALIZER};
  sigset_t set, old;
  loop_state ls = {.child = -1};
  int exit_code = 1, r;

  if ((r = parse(argc, argv, &o)))
    return r == 1 ? 0 : 2;
  /* Blocked before any thread starts (HTTP server, curl's resolver), so that every thread
   * inherits the mask and the signals reach only sigtimedwait below. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  if (!o.identity) {
    default_identity(identity, sizeof identity);
    o.identity = identity;
  }
  /* The flags first (the namespace may come from the API access: checked with it, by
   * lg_elector_new; a valid stand-in until then). */
  lg_elector_config ec = {
      o.ns ? o.ns : "default", o.name, o.identity, o.lease, o.renew, o.retry, o.misbehave};
  if (lg_elector_validate(&ec, err, sizeof err)) {
    exit_code = lg_cli_usage_error("elect", "%s", err);
    goto out;
  }
  if (lg_cli_api_config("elect", &o.api, true, &kc, err, sizeof err)) {
    exit_code = lg_cli_start_error("elect", err);
    goto out;
  }
  /* As controller-runtime: the lock's namespace defaults to the context's (or the pod's). */
  if (!o.ns && !(o.ns = kc.namespace)) {
    exit_code = lg_cli_usage_error("elect", "--lock-namespace is required: %s sets no namespace",
                                   kc.source ? kc.source : "the API access");
    goto out;
  }
  ec.namespace = o.ns;
  snprintf(lockname, sizeof lockname, "%s/%s", o.ns, o.name);
  st.lock_name = o.name;
  if (lg_kube_new(&kc, &kube, err, sizeof err)) {
    exit_code = lg_cli_start_error("elect", err);
    goto out;
  }
  lg_lease_api api = lg_leaselock_init(&lock, kube, o.ns, o.name, (long)(o.renew / 2000));
  if (lg_elector_new(&ec, &api, &e, err, sizeof err) ||
      (o.http && lg_httpd_start(o.http, answer, &st, &http, err, sizeof err))) {
    exit_code = lg_cli_start_error("elect", err);
    goto out;
  }
  /* A stalled stderr reader must cost log lines, never a renewal. */
  if (lg_log_start_queue(0, err, sizeof err)) {
    exit_code = lg_cli_start_error("elect", err);
    goto out;
  }
  lg_log(LG_LOG_INFO, "candidate started", "lock", lockname, "identity", o.identity, "misbehave",
         o.misbehave_name, NULL);
  ls = (loop_state){&o, &st, lockname, &set, -1, 0};
  lg_electrun loop = {e, &ls, on_step, wait_until, (unsigned)(lg_time_mono() ^ getpid())};
  lg_electrun_loop(&loop);
  exit_code = ls.exit_code;
  if (ls.child > 0)
    stop_child(ls.child);
  if (o.release && lg_elector_is_leader(e)) {
    if (lg_elector_release(e, lg_time_mono(), lg_time_now()) == LG_OK)
      lg_log(LG_LOG_INFO, "released the lease", "lock", lockname, NULL);
    else
      lg_log(LG_LOG_ERROR, "cannot release the lease", "lock", lockname, "error",
             lg_elector_last_error(e), NULL);
  }
  lg_log(LG_LOG_INFO, "stopped", "lock", lockname, NULL);
out:
  lg_log_stop_queue(2000);
  lg_httpd_stop(http);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  lg_elector_free(e);
  lg_kube_free(kube);
  lg_kube_config_free(&kc);
  return exit_code;
}
