/* test_flags.c -- the flag table parser of the subcommands: each kind in both spellings, bad
 * values, unknown flags, missing values, repeated flags, positional arguments, --help. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flags.h"

#define S INT64_C(1000000)

/* Every kind of row, filled by one parse. */
typedef struct {
  bool on, port_given;
  const char *str, *ne, *off, *mode, *level, *pos;
  long long port;
  int64_t wait;
  lg_flags_list dns;
  char **rest;
  char *argv[16]; /* parse()'s argv: rest points into it, so it lives as long as v */
} values;

static const char *const modes[] = {"enforce", "warn", "audit", NULL};
static const char *const levels[] = {"debug", "info", NULL};

static lg_flags_result parse(values *v, bool positional, const char *const *args, char *err,
                             size_t errlen) {
  const lg_flag flags[] = {
      {.name = "--on", .kind = LG_FLAG_BOOL, .dst = &v->on},
      {.name = "--str", .kind = LG_FLAG_STRING, .dst = &v->str},
      {.name = "--ne", .kind = LG_FLAG_STRING, .dst = &v->ne, .opts = LG_FLAG_NONEMPTY},
      {.name = "--off",
       .kind = LG_FLAG_STRING,
       .dst = &v->off,
       .def = "on",
       .opts = LG_FLAG_EMPTY_OFF},
      {.name = "--port",
       .kind = LG_FLAG_INT,
       .dst = &v->port,
       .def = "8443",
       .min = 1,
       .max = 65535,
       .given = &v->port_given},
      {.name = "--wait",
       .kind = LG_FLAG_DURATION,
       .dst = &v->wait,
       .def = "15s",
       .min = 1,
       .max = 3600 * S},
      {.name = "--mode", .kind = LG_FLAG_ENUM, .dst = &v->mode, .values = modes},
      {.name = "--level",
       .kind = LG_FLAG_ENUM,
       .dst = &v->level,
       .values = levels,
       .def = "info",
       .bad = "{flag} must be {values}, got \"{value}\""},
      {.name = "--dns", .kind = LG_FLAG_LIST, .dst = &v->dns},
      {.name = "--run", .kind = LG_FLAG_REST, .dst = &v->rest},
  };
  const lg_flags_spec with = {flags, sizeof flags / sizeof *flags, "unknown flag {arg}", &v->pos,
                              "give one input file"};
  const lg_flags_spec without = {flags, sizeof flags / sizeof *flags, NULL, NULL, NULL};
  char **argv = v->argv;
  int argc = 1;
  argv[0] = "cmd";
  while (*args && argc < 15)
    argv[argc++] = (char *)*args++;
  argv[argc] = NULL;
  return lg_flags_parse(positional ? &with : &without, argc, argv, err, errlen);
}

static const char *str(const char *s) { return s ? s : "(null)"; }

static void test_parse(void **state) {
  static const struct {
    const char *name;
    bool positional;
    const char *args[8];
    lg_flags_result want;
    const char *err; /* USAGE: the whole message */
    values v;        /* OK and HELP: every field but dns and rest */
    const char *dns; /* the list joined by ',' */
    const char *rest0;
  } cases[] = {
      {.name = "defaults",
       .args = {NULL},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "bool",
       .args = {"--on"},
       .want = LG_FLAGS_OK,
       .v = {.on = true, .off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "bool takes no value",
       .args = {"--on=true"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown argument \"--on=true\""},
      {.name = "string with =",
       .args = {"--str=a b"},
       .want = LG_FLAGS_OK,
       .v = {.str = "a b", .off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "string as the next argument",
       .args = {"--str", "--on"},
       .want = LG_FLAGS_OK,
       .v = {.str = "--on", .off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "string may be empty",
       .args = {"--str="},
       .want = LG_FLAGS_OK,
       .v = {.str = "", .off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "string must not be empty",
       .args = {"--ne="},
       .want = LG_FLAGS_USAGE,
       .err = "--ne must not be empty"},
      {.name = "empty string is off",
       .args = {"--off="},
       .want = LG_FLAGS_OK,
       .v = {.port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "repeated flag: the last wins",
       .args = {"--str=a", "--str", "b", "--port=1"},
       .want = LG_FLAGS_OK,
       .v = {.str = "b",
             .off = "on",
             .port = 1,
             .port_given = true,
             .wait = 15 * S,
             .level = "info"}},
      {.name = "int with =",
       .args = {"--port=65535"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 65535, .port_given = true, .wait = 15 * S, .level = "info"}},
      {.name = "int as the next argument",
       .args = {"--port", "80"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 80, .port_given = true, .wait = 15 * S, .level = "info"}},
      {.name = "int below range",
       .args = {"--port=0"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"0\""},
      {.name = "int above range",
       .args = {"--port", "65536"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"65536\""},
      {.name = "int not a number",
       .args = {"--port=http"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"http\""},
      {.name = "int with a sign",
       .args = {"--port=+80"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"+80\""},
      {.name = "int with a tail",
       .args = {"--port=80x"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"80x\""},
      {.name = "int overflow",
       .args = {"--port=99999999999999999999"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"99999999999999999999\""},
      {.name = "int empty",
       .args = {"--port="},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"\""},
      {.name = "duration with =",
       .args = {"--wait=1m30s"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 90 * S, .level = "info"}},
      {.name = "duration as the next argument",
       .args = {"--wait", "500ms"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = S / 2, .level = "info"}},
      {.name = "duration malformed",
       .args = {"--wait=soon"},
       .want = LG_FLAGS_USAGE,
       .err = "--wait must be a duration such as 15s, 500ms or 1m, not \"soon\""},
      {.name = "duration below range",
       .args = {"--wait=0s"},
       .want = LG_FLAGS_USAGE,
       .err = "--wait must be a duration such as 15s, 500ms or 1m, not \"0s\""},
      {.name = "duration above range",
       .args = {"--wait=61m"},
       .want = LG_FLAGS_USAGE,
       .err = "--wait must be a duration such as 15s, 500ms or 1m, not \"61m\""},
      {.name = "enum with =",
       .args = {"--mode=audit"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .mode = "audit", .level = "info"}},
      {.name = "enum as the next argument",
       .args = {"--level", "debug"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "debug"}},
      {.name = "enum not allowed",
       .args = {"--mode=off"},
       .want = LG_FLAGS_USAGE,
       .err = "--mode must be enforce, warn or audit, not \"off\""},
      {.name = "enum is case-sensitive",
       .args = {"--mode=Audit"},
       .want = LG_FLAGS_USAGE,
       .err = "--mode must be enforce, warn or audit, not \"Audit\""},
      {.name = "enum with its own message",
       .args = {"--level=loud"},
       .want = LG_FLAGS_USAGE,
       .err = "--level must be debug or info, got \"loud\""},
      {.name = "list, both spellings, in order",
       .args = {"--dns=a", "--dns", "b", "--dns=a"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "info"},
       .dns = "a,b,a"},
      {.name = "rest after --",
       .args = {"--on", "--run", "--", "echo", "--help"},
       .want = LG_FLAGS_OK,
       .v = {.on = true, .off = "on", .port = 8443, .wait = 15 * S, .level = "info"},
       .dns = "",
       .rest0 = "echo"},
      {.name = "rest without --",
       .args = {"--run", "sh", "-c"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "info"},
       .dns = "",
       .rest0 = "sh"},
      {.name = "rest without a command",
       .args = {"--run", "--"},
       .want = LG_FLAGS_USAGE,
       .err = "--run needs a command"},
      {.name = "unknown flag",
       .args = {"--on", "--bogus"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown argument \"--bogus\""},
      {.name = "a longer name is not a prefix match",
       .args = {"--portal=1"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown argument \"--portal=1\""},
      {.name = "a positional argument is unknown without a slot",
       .args = {"in.json"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown argument \"in.json\""},
      {.name = "missing value",
       .args = {"--str"},
       .want = LG_FLAGS_USAGE,
       .err = "flag --str needs a value"},
      {.name = "missing value of a list",
       .args = {"--dns=a", "--dns"},
       .want = LG_FLAGS_USAGE,
       .err = "flag --dns needs a value"},
      {.name = "--help stops before what follows",
       .args = {"--port=80", "--help", "--bogus"},
       .want = LG_FLAGS_HELP,
       .v = {.off = "on", .port = 80, .port_given = true, .wait = 15 * S, .level = "info"}},
      {.name = "-h",
       .args = {"-h"},
       .want = LG_FLAGS_HELP,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "info"}},
      {.name = "a bad value before --help",
       .args = {"--port=x", "--help"},
       .want = LG_FLAGS_USAGE,
       .err = "--port must be a whole number in 1..65535, not \"x\""},
      {.name = "positional kept",
       .positional = true,
       .args = {"--on", "in.json", "--port=2"},
       .want = LG_FLAGS_OK,
       .v = {.on = true,
             .off = "on",
             .port = 2,
             .port_given = true,
             .wait = 15 * S,
             .level = "info",
             .pos = "in.json"}},
      {.name = "positional -",
       .positional = true,
       .args = {"-"},
       .want = LG_FLAGS_OK,
       .v = {.off = "on", .port = 8443, .wait = 15 * S, .level = "info", .pos = "-"}},
      {.name = "a second positional",
       .positional = true,
       .args = {"a", "b"},
       .want = LG_FLAGS_USAGE,
       .err = "give one input file"},
      {.name = "unknown flag with a positional slot",
       .positional = true,
       .args = {"--bogus"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown flag --bogus"},
      {.name = "-- is a flag, not a positional",
       .positional = true,
       .args = {"--"},
       .want = LG_FLAGS_USAGE,
       .err = "unknown flag --"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    values v = {0};
    char err[256] = "x", dns[128] = "";
    lg_flags_result r = parse(&v, cases[i].positional, cases[i].args, err, sizeof err);
    const values *w = &cases[i].v;
    for (size_t k = 0; k < v.dns.n; k++)
      snprintf(dns + strlen(dns), sizeof dns - strlen(dns), "%s%s", k ? "," : "", v.dns.v[k]);
    lg_flags_list_free(&v.dns);
    if (r != cases[i].want)
      fail_msg("%s: result %d, want %d (err \"%s\")", cases[i].name, r, cases[i].want, err);
    if (r == LG_FLAGS_USAGE) {
      if (strcmp(err, cases[i].err) != 0)
        fail_msg("%s: err \"%s\", want \"%s\"", cases[i].name, err, cases[i].err);
      continue;
    }
    if (err[0])
      fail_msg("%s: err \"%s\" on success", cases[i].name, err);
    if (v.on != w->on || v.port_given != w->port_given || v.port != w->port || v.wait != w->wait ||
        strcmp(str(v.str), str(w->str)) || strcmp(str(v.ne), str(w->ne)) ||
        strcmp(str(v.off), str(w->off)) || strcmp(str(v.mode), str(w->mode)) ||
        strcmp(str(v.level), str(w->level)) || strcmp(str(v.pos), str(w->pos)))
      fail_msg("%s: got on=%d port=%lld(%d) wait=%lld str=%s ne=%s off=%s mode=%s level=%s "
               "pos=%s",
               cases[i].name, v.on, v.port, v.port_given, (long long)v.wait, str(v.str), str(v.ne),
               str(v.off), str(v.mode), str(v.level), str(v.pos));
    if (strcmp(dns, cases[i].dns ? cases[i].dns : ""))
      fail_msg("%s: dns \"%s\", want \"%s\"", cases[i].name, dns, str(cases[i].dns));
    if (strcmp(v.rest ? v.rest[0] : "(null)", str(cases[i].rest0)))
      fail_msg("%s: rest \"%s\", want \"%s\"", cases[i].name, v.rest ? v.rest[0] : "(null)",
               str(cases[i].rest0));
  }
}

/* An ENUM stores the table's own string, so that a command may compare pointers. */
static void test_enum_stores_table_string(void **state) {
  char arg[] = "--mode=warn", *argv[] = {"cmd", arg, NULL};
  const char *mode = NULL;
  const lg_flag flags[] = {{.name = "--mode", .kind = LG_FLAG_ENUM, .dst = &mode, .values = modes}};
  const lg_flags_spec spec = {flags, 1, NULL, NULL, NULL};
  char err[64];
  (void)state;
  assert_int_equal(lg_flags_parse(&spec, 2, argv, err, sizeof err), LG_FLAGS_OK);
  assert_ptr_equal(mode, modes[1]);
}

/* A default the row itself refuses is reported, not stored. */
static void test_bad_default(void **state) {
  char *argv[] = {"cmd", NULL};
  long long n = 7;
  const lg_flag flags[] = {
      {.name = "--n", .kind = LG_FLAG_INT, .dst = &n, .def = "100", .min = 1, .max = 10}};
  const lg_flags_spec spec = {flags, 1, NULL, NULL, NULL};
  char err[128];
  (void)state;
  assert_int_equal(lg_flags_parse(&spec, 1, argv, err, sizeof err), LG_FLAGS_USAGE);
  assert_string_equal(err, "the default of --n is not valid: 100");
  assert_int_equal(n, 7);
}

/* A message longer than the caller's buffer is cut, never overrun. */
static void test_message_cut(void **state) {
  char arg[] = "--a-very-long-flag-name-that-nobody-knows", *argv[] = {"cmd", arg, NULL};
  const lg_flags_spec spec = {NULL, 0, NULL, NULL, NULL};
  char err[16 + 1];
  (void)state;
  memset(err, 'z', sizeof err);
  assert_int_equal(lg_flags_parse(&spec, 2, argv, err, sizeof err - 1), LG_FLAGS_USAGE);
  assert_string_equal(err, "unknown argumen");
  assert_int_equal(err[16], 'z');
}

static void test_duration(void **state) {
  static const struct {
    const char *in;
    int64_t want;
  } cases[] = {
      {"15s", 15 * S},  {"1m30s", 90 * S},
      {"500ms", S / 2}, {"1.5h", 5400 * S},
      {"0", 0},         {"0s", 0},
      {"2us", 2},       {"2\xc2\xb5s", 2},
      {"1500ns", 2},    {"8760h", 8760 * 3600 * S},
      {".5s", S / 2},   {"", -1},
      {"5", -1},        {"-1s", -1},
      {"1x", -1},       {"1s2", -1},
      {"s", -1},        {" 1s", -1},
      {"1s ", -1},      {"9999999999999h", -1},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int64_t got = lg_flags_duration(cases[i].in);
    if (got != cases[i].want)
      fail_msg("\"%s\": %lld, want %lld", cases[i].in, (long long)got, (long long)cases[i].want);
  }
  assert_int_equal(lg_flags_duration(NULL), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),       cmocka_unit_test(test_enum_stores_table_string),
      cmocka_unit_test(test_bad_default), cmocka_unit_test(test_message_cut),
      cmocka_unit_test(test_duration),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
