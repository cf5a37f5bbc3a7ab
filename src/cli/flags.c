/* flags.c -- the command-line parser every subcommand shares, driven by its flag table. */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a template's placeholders stand for. */
typedef struct {
  const lg_flag *f;
  const char *value, *arg;
} subst;

/* Appends s to out (size len, *pos used), cutting at the end. */
static void put(char *out, size_t len, size_t *pos, const char *s) {
  size_t n = strlen(s);
  if (*pos + 1 >= len)
    return;
  if (n > len - 1 - *pos)
    n = len - 1 - *pos;
  memcpy(out + *pos, s, n);
  *pos += n;
  out[*pos] = '\0';
}

/* The allowed values of an ENUM row as "a, b or c". */
static void put_values(char *out, size_t len, size_t *pos, const char *const *values) {
  for (size_t i = 0; values && values[i]; i++) {
    if (i)
      put(out, len, pos, values[i + 1] ? ", " : " or ");
    put(out, len, pos, values[i]);
  }
}

/* Writes template tpl into out with its placeholders replaced (see flags.h). */
static void render(char *out, size_t len, const char *tpl, const subst *s) {
  size_t pos = 0;
  char num[32];
  if (!len)
    return;
  out[0] = '\0';
  for (const char *p = tpl; *p;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    size_t n = close ? (size_t)(close - p + 1) : 0;
    char one[2] = {*p, '\0'};
    if (n == 6 && !strncmp(p, "{flag}", n) && s->f)
      put(out, len, &pos, s->f->name);
    else if (n == 7 && !strncmp(p, "{value}", n) && s->value)
      put(out, len, &pos, s->value);
    else if (n == 5 && !strncmp(p, "{arg}", n) && s->arg)
      put(out, len, &pos, s->arg);
    else if (n == 6 && !strncmp(p, "{what}", n) && s->arg)
      put(out, len, &pos, s->arg[0] == '-' ? "flag" : "argument");
    else if (n == 8 && !strncmp(p, "{values}", n) && s->f)
      put_values(out, len, &pos, s->f->values);
    else if (n == 5 && (!strncmp(p, "{min}", n) || !strncmp(p, "{max}", n)) && s->f) {
      snprintf(num, sizeof num, "%lld", p[2] == 'i' ? s->f->min : s->f->max);
      put(out, len, &pos, num);
    } else {
      put(out, len, &pos, one);
      n = 1;
    }
    p += n;
  }
}

int64_t lg_flags_duration(const char *s) {
  static const struct {
    const char *unit;
    double usec;
  } units[] = {{"ns", 1e-3}, {"us", 1},  {"\xc2\xb5s", 1}, {"ms", 1e3},
               {"s", 1e6},   {"m", 6e7}, {"h", 3.6e9}};
  const size_t n_units = sizeof units / sizeof units[0];
  double total = 0;
  if (!s || !*s)
    return -1;
  if (strcmp(s, "0") == 0)
    return 0;
  while (*s) {
    char *end;
    double v;
    size_t best = 0, k = n_units;
    if (!isdigit((unsigned char)*s) && *s != '.')
      return -1;
    v = strtod(s, &end);
    if (end == s)
      return -1;
    s = end;
    for (size_t i = 0; i < n_units; i++) {
      size_t n = strlen(units[i].unit);
      if (strncmp(s, units[i].unit, n) == 0 && n > best) {
        best = n;
        k = i;
      }
    }
    if (k == n_units)
      return -1;
    total += v * units[k].usec;
    s += best;
  }
  return total > 9e18 ? -1 : (int64_t)(total + 0.5);
}

/* A whole decimal number in [min, max] (no sign, no spaces); -1 otherwise. */
static int parse_int(const char *s, long long min, long long max, long long *out) {
  char *end;
  long long v;
  if (!isdigit((unsigned char)s[0]))
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* The message of a bad value when the row gives none. */
static const char *default_bad(const lg_flag *f) {
  switch (f->kind) {
  case LG_FLAG_STRING:
    return "{flag} must not be empty";
  case LG_FLAG_INT:
    return "{flag} must be a whole number in {min}..{max}, not \"{value}\"";
  case LG_FLAG_DURATION:
    return "{flag} must be a duration such as 15s, 500ms or 1m, not \"{value}\"";
  case LG_FLAG_ENUM:
    return "{flag} must be {values}, not \"{value}\"";
  case LG_FLAG_REST:
    return "{flag} needs a command";
  default:
    return "{flag}: bad value \"{value}\"";
  }
}

/* Stores value v of row f; -1 with the message in err when it is not one f takes. */
static int store(const lg_flag *f, const char *v, int argc, char *err, size_t errlen) {
  lg_flags_list *l;
  const char **grown;
  long long n;
  int64_t us;
  bool ok = true;

  switch (f->kind) {
  case LG_FLAG_STRING:
    if (!*v && (f->opts & LG_FLAG_NONEMPTY))
      ok = false;
    else
      *(const char **)f->dst = *v || !(f->opts & LG_FLAG_EMPTY_OFF) ? v : NULL;
    break;
  case LG_FLAG_INT:
    if ((ok = parse_int(v, f->min, f->max, &n) == 0))
      *(long long *)f->dst = n;
    break;
  case LG_FLAG_DURATION:
    us = lg_flags_duration(v);
    ok = us >= 0 && us >= f->min && (f->max == 0 || us <= f->max);
    if (ok)
      *(int64_t *)f->dst = us;
    break;
  case LG_FLAG_ENUM:
    ok = false;
    for (size_t k = 0; f->values && f->values[k] && !ok; k++)
      if (strcmp(v, f->values[k]) == 0) {
        *(const char **)f->dst = f->values[k];
        ok = true;
      }
    break;
  case LG_FLAG_LIST:
    l = f->dst;
    if (!l->v) {
      /* No more values than arguments: one array, allocated once. */
      if (!(grown = calloc(argc > 0 ? (size_t)argc : 1, sizeof *grown))) {
        snprintf(err, errlen, "out of memory");
        return -1;
      }
      l->v = grown;
      l->n = 0;
    }
    l->v[l->n++] = v;
    break;
  default:
    ok = false;
    break;
  }
  if (!ok)
    render(err, errlen, f->bad ? f->bad : default_bad(f), &(subst){f, v, NULL});
  return ok ? 0 : -1;
}

/* The row arg names, *value set to the text after its '=' (else NULL); NULL for none. */
static const lg_flag *match(const lg_flags_spec *spec, const char *arg, const char **value) {
  for (size_t k = 0; k < spec->n; k++) {
    const lg_flag *f = &spec->flags[k];
    size_t n = strlen(f->name);
    bool takes = f->kind != LG_FLAG_BOOL && f->kind != LG_FLAG_REST;
    if (strncmp(arg, f->name, n) != 0 || (arg[n] != '\0' && (arg[n] != '=' || !takes)))
      continue;
    *value = arg[n] == '=' ? arg + n + 1 : NULL;
    return f;
  }
  return NULL;
}

lg_flags_result lg_flags_parse(const lg_flags_spec *spec, int argc, char **argv, char *err,
                               size_t errlen) {
  if (errlen)
    err[0] = '\0';
  for (size_t k = 0; k < spec->n; k++) {
    const lg_flag *f = &spec->flags[k];
    if (f->given)
      *f->given = false;
    if (f->def && store(f, f->def, argc, err, errlen) != 0) {
      render(err, errlen, "the default of {flag} is not valid: {value}", &(subst){f, f->def, 0});
      return LG_FLAGS_USAGE;
    }
  }
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *v = NULL;
    const lg_flag *f;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
      return LG_FLAGS_HELP;
    if (!(f = match(spec, arg, &v))) {
      if (spec->positional && (arg[0] != '-' || strcmp(arg, "-") == 0)) {
        if (*spec->positional) {
          snprintf(err, errlen, "%s", spec->extra ? spec->extra : "give one argument");
          return LG_FLAGS_USAGE;
        }
        *spec->positional = arg;
        continue;
      }
      render(err, errlen, spec->unknown ? spec->unknown : "unknown argument \"{arg}\"",
             &(subst){NULL, NULL, arg});
      return LG_FLAGS_USAGE;
    }
    if (f->given)
      *f->given = true;
    if (f->kind == LG_FLAG_BOOL) {
      *(bool *)f->dst = true;
      continue;
    }
    if (f->kind == LG_FLAG_REST) {
      i += i + 1 < argc && strcmp(argv[i + 1], "--") == 0;
      if (i + 1 >= argc) {
        render(err, errlen, f->bad ? f->bad : default_bad(f), &(subst){f, NULL, NULL});
        return LG_FLAGS_USAGE;
      }
      *(char ***)f->dst = argv + i + 1;
      return LG_FLAGS_OK;
    }
    if (!v && i + 1 >= argc) {
      render(err, errlen, "flag {flag} needs a value", &(subst){f, NULL, NULL});
      return LG_FLAGS_USAGE;
    }
    if (!v)
      v = argv[++i];
    if (store(f, v, argc, err, errlen) != 0)
      return LG_FLAGS_USAGE;
  }
  return LG_FLAGS_OK;
}

void lg_flags_list_free(lg_flags_list *l) {
  if (!l)
    return;
  free(l->v);
  l->v = NULL;
  l->n = 0;
}
