/* inprocess.c -- lg-bench: the decode -> decide -> encode path timed in one thread, plus the
 * body tools bench/run.sh needs (shift timestamps, pad managedFields). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "decision.h"
#include "jarena.h"
#include "log.h"
#include "logq.h"
#include "metrics.h"
#include "models.h"
#include "policy.h"
#include "times.h"
#include "webhook.h"
#include "witness.h"

/* Every body in bench/bodies/ is written so that this is the instant it is judged at. */
#define BENCH_T0   "2026-11-25T10:01:00Z"
#define MAX_BODIES 64
#define MAX_RUNS   15

static const char usage[] =
    "usage: lg-bench COMMAND [options] FILE...\n"
    "\n"
    "  time  [--runs N] [--seconds S] [--now T]  decode->decide->encode over the bodies\n"
    "        round-robin (one thread): reviews/s and ns/review (thread CPU time) per run and\n"
    "        the median of N runs of S s; then each body alone and json_loadb alone (S/10 s)\n"
    "  loop  --count N [--now T] [--serve-extras]  N reviews round-robin (for callgrind); with\n"
    "                                            --serve-extras also the metrics and the audit\n"
    "                                            lines (stdout) that serve adds to each review\n"
    "  log [--runs N] [--seconds S] [--queue]   lg_log_decision of the bodies' judged reviews\n"
    "        (those with findings) round-robin, one thread: ns of this thread's CPU and of\n"
    "        wall time per audit line, median of N runs; --queue queues the lines for a\n"
    "        writer thread as serve does (else each is written at once); lines to stdout\n"
    "  check [--now T]                           each body's status, decision and rules\n"
    "  rebase [--from F] --to T|now --out DIR    shift every timestamp by T - F (F defaults\n"
    "                                            to " BENCH_T0 "); write compact into DIR\n"
    "  pad --bytes N --out FILE                  grow (or strip) metadata.managedFields of\n"
    "                                            object and oldObject to about N bytes\n"
    "  serve-model --model epoll|select|per-connection [--threads N] [--turbo on]\n"
    "        [--answer review|fixed|parse-jansson|parse-cjson] --port P --cert F --key F:\n"
    "        the same review (or nginx's fixed answer, after parsing the body with jansson\n"
    "        or cJSON) behind libmicrohttpd in a threading model, on 127.0.0.1, until SIGTERM\n"
#ifdef LG_BENCH_CJSON
    "        (this build has cJSON: parse-cjson is available)\n"
#endif

    "\n"
    "T is RFC 3339; the default --now is " BENCH_T0
    ", the instant bench/bodies/ are written for.\n";

typedef struct {
  const char *path;
  char *data;
  size_t len;
} body;

typedef struct {
  int runs;
  double seconds;
  long count;
  lg_time now;
  const char *out, *to, *from;
  long bytes;
  bool extras, queue;
  body bodies[MAX_BODIES];
  size_t n;
} options;

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, body *b) {
  FILE *f = fopen(path, "rb");
  long n;
  int rc = -1;

  b->path = path;
  b->data = NULL;
  if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
    goto out;
  b->data = malloc((size_t)n + 1);
  if (!b->data || fread(b->data, 1, (size_t)n, f) != (size_t)n)
    goto out;
  b->data[n] = '\0';
  b->len = (size_t)n;
  rc = 0;
out:
  if (rc)
    fprintf(stderr, "lg-bench: cannot read %s: %s\n", path, strerror(errno));
  if (f)
    fclose(f);
  return rc;
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->runs = 5;
  o->seconds = 1.0;
  if (lg_time_parse(BENCH_T0, &o->now))
    return -1;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--serve-extras") || !strcmp(a, "--queue")) {
      *(a[2] == 's' ? &o->extras : &o->queue) = true;
      continue;
    }
    if (a[0] == '-' && a[1] == '-' && !v) {
      fprintf(stderr, "lg-bench: %s needs a value\n", a);
      return -1;
    }
    if (!strcmp(a, "--runs"))
      o->runs = atoi(v);
    else if (!strcmp(a, "--seconds"))
      o->seconds = atof(v);
    else if (!strcmp(a, "--count"))
      o->count = atol(v);
    else if (!strcmp(a, "--bytes"))
      o->bytes = atol(v);
    else if (!strcmp(a, "--out"))
      o->out = v;
    else if (!strcmp(a, "--to"))
      o->to = v;
    else if (!strcmp(a, "--from"))
      o->from = v;
    else if (!strcmp(a, "--now")) {
      if (lg_time_parse(v, &o->now)) {
        fprintf(stderr, "lg-bench: --now %s is not RFC 3339\n", v);
        return -1;
      }
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "lg-bench: unknown option %s\n", a);
      return -1;
    } else {
      if (o->n == MAX_BODIES || read_file(a, &o->bodies[o->n]))
        return -1;
      o->n++;
      continue;
    }
    i++;
  }
  if (o->runs < 1 || o->runs > MAX_RUNS || o->seconds <= 0 || !o->n) {
    fprintf(stderr, "lg-bench: --runs 1..%d, --seconds > 0 and at least one body\n", MAX_RUNS);
    return -1;
  }
  return 0;
}

/* ---- timing ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* serve's lease memory at its default size: every review consults it and records in it. */
static lg_witness *witness;

/* One review end to end, as serve does it (less the HTTP and the log lines). */
static void review(const body *b, const lg_policy *p, lg_time now) {
  lg_webhook_result res;
  lg_webhook_handle(b->data, b->len,
                    &(lg_webhook_env){p, LG_MODE_INHERIT, now, lg_time_mono(), witness}, &res);
  lg_webhook_result_free(&res);
}

/* json_loadb as the decoder calls it: its flags, the tree in an arena dropped whole. */
static void parse_only(const body *b) {
  json_error_t jerr;
  lg_jarena *a = lg_jarena_new();
  json_t *doc;
  lg_jarena_enter(a);
  doc = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
  lg_jarena_leave(a);
  if (a)
    lg_jarena_free(a);
  else
    json_decref(doc);
}

/* ns per review over bodies[0..n) round-robin for about `seconds` of wall time; parse
 * selects json_loadb alone. The figure is this thread's CPU time, which the other work on
 * a shared machine disturbs much less than the wall clock. At most 50 million reviews. */
static double time_once(const body *bodies, size_t n, const lg_policy *p, lg_time now,
                        double seconds, bool parse) {
  long done = 0;
  double start = clock_s(CLOCK_MONOTONIC), cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);

  do {
    for (int k = 0; k < 64; k++)
      for (size_t i = 0; i < n; i++, done++)
        if (parse)
          parse_only(&bodies[i]);
        else
          review(&bodies[i], p, now);
  } while (clock_s(CLOCK_MONOTONIC) - start < seconds && done < 50000000L);
  return (clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu) * 1e9 / (double)done;
}

static double time_median(const options *o, const body *bodies, size_t n, const lg_policy *p,
                          double seconds, bool parse, double *runs_out) {
  double v[MAX_RUNS];
  for (int r = 0; r < o->runs; r++)
    v[r] = runs_out[r] = time_once(bodies, n, p, o->now, seconds, parse);
  return median(v, o->runs);
}

static const char *base(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int cmd_time(const options *o, const lg_policy *p) {
  double runs[MAX_RUNS], each = o->seconds / 10 > 0.05 ? o->seconds / 10 : 0.05;
  double mix = time_median(o, o->bodies, o->n, p, o->seconds, false, runs);
  size_t bytes = 0;

  for (size_t i = 0; i < o->n; i++)
    bytes += o->bodies[i].len;
  printf("mix of %zu bodies (mean %zu bytes), %d runs of %.2f s, one thread, ns of thread CPU "
         "time:\n",
         o->n, bytes / o->n, o->runs, o->seconds);
  printf("  runs ns/review:");
  for (int r = 0; r < o->runs; r++)
    printf(" %.0f", runs[r]);
  printf("\nRESULT mix_ns_per_review %.0f\nRESULT mix_reviews_per_s %.0f\n", mix, 1e9 / mix);
  printf("%-34s %7s %12s %12s %7s\n", "body", "bytes", "ns/review", "json_loadb", "parse%");
  for (size_t i = 0; i < o->n; i++) {
    double ns = time_median(o, &o->bodies[i], 1, p, each, false, runs);
    double parse = time_median(o, &o->bodies[i], 1, p, each, true, runs);
    printf("%-34s %7zu %12.0f %12.0f %6.0f%%\n", base(o->bodies[i].path), o->bodies[i].len, ns,
           parse, 100 * parse / ns);
    printf("RESULT body %s %zu %.0f %.0f\n", base(o->bodies[i].path), o->bodies[i].len, ns, parse);
  }
  return 0;
}

/* What serve does around lg_webhook_handle, less HTTP and TLS: count the request in the
 * metrics and write the audit lines. */
static void review_with_extras(const body *b, const lg_policy *p, lg_time now, lg_metrics *m) {
  lg_webhook_result res;
  lg_webhook_handle(b->data, b->len,
                    &(lg_webhook_env){p, LG_MODE_INHERIT, now, lg_time_mono(), witness}, &res);
  lg_decision d;
  lg_decision_from_webhook(&res, LG_DECISION_SERVE, now, &d);
  d.latency = 0.0001;
  lg_metrics_decision(m, &d);
  lg_log_decision(&d);
  lg_webhook_result_free(&res);
}

static int cmd_loop(const options *o, const lg_policy *p) {
  lg_metrics *m = o->extras ? lg_metrics_new(false) : NULL;
  if (o->extras && !m)
    return 1;
  for (long i = 0; i < o->count; i++) {
    if (o->extras)
      review_with_extras(&o->bodies[(size_t)i % o->n], p, o->now, m);
    else
      review(&o->bodies[(size_t)i % o->n], p, o->now);
  }
  lg_metrics_free(m);
  return 0;
}

/* What an audit line costs the thread that answers: the decision record and lg_log_decision
 * over the judged reviews with findings, for about `seconds`; ns of thread CPU and of wall
 * time per line. */
static long log_once(const lg_webhook_result *res, size_t n, lg_time now, double seconds,
                     double *cpu_ns, double *wall_ns) {
  long lines = 0;
  double start = clock_s(CLOCK_MONOTONIC), cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
  do {
    for (int k = 0; k < 16; k++)
      for (size_t i = 0; i < n; i++) {
        lg_decision d;
        lg_decision_from_webhook(&res[i], LG_DECISION_SERVE, now, &d);
        lg_log_decision(&d);
        lines += (long)res[i].verdict.n;
      }
  } while (clock_s(CLOCK_MONOTONIC) - start < seconds && lines < 50000000L);
  *cpu_ns = (clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu) * 1e9 / (double)lines;
  *wall_ns = (clock_s(CLOCK_MONOTONIC) - start) * 1e9 / (double)lines;
  return lines;
}

static int cmd_log(const options *o, const lg_policy *p) {
  lg_webhook_result res[MAX_BODIES];
  double cpu[MAX_RUNS], wall[MAX_RUNS];
  size_t n = 0;
  uint64_t dropped;
  long lines = 0;
  char err[256];

  for (size_t i = 0; i < o->n; i++) {
    lg_webhook_handle(o->bodies[i].data, o->bodies[i].len,
                      &(lg_webhook_env){p, LG_MODE_INHERIT, o->now, 0, NULL}, &res[n]);
    if (res[n].rc == LG_OK && res[n].verdict.n)
      n++;
    else
      lg_webhook_result_free(&res[n]);
  }
  if (!n)
    return fprintf(stderr, "lg-bench log: no body has a finding\n"), 1;
  if (o->queue && lg_log_start_queue(0, err, sizeof err))
    return fprintf(stderr, "lg-bench log: %s\n", err), 1;
  dropped = lg_logq_dropped(LG_LOGQ_STDOUT);
  for (int r = 0; r < o->runs; r++)
    lines += log_once(res, n, o->now, o->seconds, &cpu[r], &wall[r]);
  /* A stalled reader: what is still queued after a second is given up (and counted). */
  if (o->queue)
    lg_log_stop_queue(1000);
  dropped = lg_logq_dropped(LG_LOGQ_STDOUT) - dropped;
  for (size_t i = 0; i < n; i++)
    lg_webhook_result_free(&res[i]);
  fprintf(stderr,
          "RESULT log_%s cpu_ns_per_line %.0f wall_ns_per_line %.0f lines %ld dropped %llu\n",
          o->queue ? "queued" : "at_once", median(cpu, o->runs), median(wall, o->runs), lines,
          (unsigned long long)dropped);
  return 0;
}

static int cmd_check(const options *o, const lg_policy *p) {
  for (size_t i = 0; i < o->n; i++) {
    lg_webhook_result res;
    lg_webhook_handle(o->bodies[i].data, o->bodies[i].len,
                      &(lg_webhook_env){p, LG_MODE_INHERIT, o->now, 0, NULL}, &res);
    printf("%-34s %6zu %d %s", base(o->bodies[i].path), o->bodies[i].len, res.http_status,
           res.verdict.allowed ? "allow" : "deny");
    for (size_t k = 0; k < res.verdict.n; k++)
      printf("%s%s", k ? "," : " ", lg_rules_id(res.verdict.findings[k].rule));
    printf("\n");
    lg_webhook_result_free(&res);
  }
  return 0;
}

/* ---- body tools ---- */

/* Shifts every string that is an RFC 3339 date-time by delta; whole-second times stay
 * whole seconds (metadata timestamps), MicroTimes keep 6 digits. */
static void shift_times(json_t *j, lg_time delta) {
  const char *key;
  json_t *v;
  size_t i;
  lg_time t;
  char buf[LG_TIME_BUFLEN];

  if (json_is_object(j)) {
    json_object_foreach(j, key, v) shift_times(v, delta);
  } else if (json_is_array(j)) {
    json_array_foreach(j, i, v) shift_times(v, delta);
  } else if (json_is_string(j) && lg_time_parse(json_string_value(j), &t) == LG_OK) {
    if (strchr(json_string_value(j), '.'))
      json_string_set(j, lg_time_format(t + delta, buf));
    else
      json_string_set(j, lg_time_format_short(t + delta - delta % LG_USEC_PER_SEC, buf));
  }
}

static int write_json(const json_t *doc, const char *path) {
  FILE *f = fopen(path, "wb");
  int rc = -1;
  if (!f || json_dumpf(doc, f, JSON_COMPACT) || fputc('\n', f) == EOF)
    fprintf(stderr, "lg-bench: cannot write %s\n", path);
  else
    rc = 0;
  if (f && fclose(f))
    rc = -1;
  return rc;
}

static json_t *load(const body *b) {
  json_error_t jerr;
  json_t *doc = json_loadb(b->data, b->len, 0, &jerr);
  if (!doc)
    fprintf(stderr, "lg-bench: %s: %s\n", b->path, jerr.text);
  return doc;
}

static int cmd_rebase(const options *o) {
  lg_time t0, to;
  char path[4096];

  if (!o->out || !o->to)
    return fprintf(stderr, "lg-bench rebase: --to and --out are required\n"), 2;
  if (lg_time_parse(o->from ? o->from : BENCH_T0, &t0))
    return fprintf(stderr, "lg-bench rebase: --from %s is not RFC 3339\n", o->from), 2;
  if (!strcmp(o->to, "now"))
    to = lg_time_now();
  else if (lg_time_parse(o->to, &to))
    return fprintf(stderr, "lg-bench rebase: --to %s is not RFC 3339\n", o->to), 2;
  for (size_t i = 0; i < o->n; i++) {
    json_t *doc = load(&o->bodies[i]);
    int rc;
    if (!doc)
      return 1;
    shift_times(doc, to - t0);
    snprintf(path, sizeof path, "%s/%s", o->out, base(o->bodies[i].path));
    rc = write_json(doc, path);
    json_decref(doc);
    if (rc)
      return 1;
  }
  return 0;
}

/* A managedFields entry as a second field manager (say, a label-setting controller)
 * would leave: about 300 bytes. */
static json_t *pad_entry(int k) {
  char label[64];
  snprintf(label, sizeof label, "f:example.com/owner-team-%04d", k);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:{s:{s:{}, s:{}}, s:{s:{}}}}}", "manager",
                   "lease-labeller", "operation", "Update", "apiVersion", "coordination.k8s.io/v1",
                   "time", "2026-11-25T09:59:58Z", "fieldsType", "FieldsV1", "fieldsV1",
                   "f:metadata", "f:labels", ".", label, "f:annotations",
                   "f:example.com/last-audit");
}

static size_t dumped_size(const json_t *doc) {
  char *s = json_dumps(doc, JSON_COMPACT);
  size_t n = s ? strlen(s) + 1 : 0;
  free(s);
  return n;
}

static int cmd_pad(const options *o) {
  json_t *doc, *req;
  const char *objs[] = {"object", "oldObject"};
  int k = 0, rc = 1;

  if (!o->out || o->bytes <= 0)
    return fprintf(stderr, "lg-bench pad: --bytes and --out are required\n"), 2;
  if (!(doc = load(&o->bodies[0])))
    return 1;
  req = json_object_get(doc, "request");
  /* Start from no managedFields at all; then add entries, to both objects, until big enough. */
  for (int i = 0; i < 2; i++)
    json_object_del(json_object_get(json_object_get(req, objs[i]), "metadata"), "managedFields");
  while (dumped_size(doc) < (size_t)o->bytes && k < 100000) {
    for (int i = 0; i < 2; i++) {
      json_t *md = json_object_get(json_object_get(req, objs[i]), "metadata"), *mf;
      if (!json_is_object(md))
        goto out;
      if (!(mf = json_object_get(md, "managedFields")))
        json_object_set_new(md, "managedFields", mf = json_array());
      json_array_append_new(mf, pad_entry(k));
    }
    k++;
  }
  rc = write_json(doc, o->out);
out:
  json_decref(doc);
  return rc;
}

int main(int argc, char **argv) {
  options o;
  lg_policy *p = NULL;
  char err[512];
  int rc = 2;

  lg_jarena_install(); /* as leaseguard's main does */
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "serve-model"))
    return lg_bench_serve_model(argc - 1, argv + 1);
  if (parse_args(argc, argv, &o))
    goto out;
  if (lg_policy_default(&p, err, sizeof err)) {
    fprintf(stderr, "lg-bench: default policy: %s\n", err);
    goto out;
  }
  if (!(witness = lg_witness_new(16384, 16384))) {
    fprintf(stderr, "lg-bench: out of memory\n");
    goto out;
  }
  if (!strcmp(argv[1], "time"))
    rc = cmd_time(&o, p);
  else if (!strcmp(argv[1], "loop"))
    rc = cmd_loop(&o, p);
  else if (!strcmp(argv[1], "log"))
    rc = cmd_log(&o, p);
  else if (!strcmp(argv[1], "check"))
    rc = cmd_check(&o, p);
  else if (!strcmp(argv[1], "rebase"))
    rc = cmd_rebase(&o);
  else if (!strcmp(argv[1], "pad"))
    rc = cmd_pad(&o);
  else
    fprintf(stderr, "lg-bench: unknown command %s\n%s", argv[1], usage);
out:
  for (size_t i = 0; i < o.n; i++)
    free(o.bodies[i].data);
  lg_policy_free(p);
  lg_witness_free(witness);
  return rc;
}
