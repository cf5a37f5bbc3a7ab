/* tokens.c -- the static token CSV: quoted fields, at least three columns, groups split on ','. */
#include "tokens.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FIELDS 8

struct as_tokens {
  as_user *users;
  size_t n;
};

static void user_clear(as_user *u) {
  free(u->token);
  free(u->name);
  free(u->uid);
  free(u->pod);
  for (size_t i = 0; i < u->n_groups; i++)
    free(u->groups[i]);
  free(u->groups);
  memset(u, 0, sizeof *u);
}

void as_tokens_free(as_tokens *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++)
    user_clear(&t->users[i]);
  free(t->users);
  free(t);
}

/* Splits one CSV record (RFC 4180 quoting, "" inside quotes is a quote) in place.
 * Returns the number of fields, or -1 on an unterminated quote. */
static int split_record(char *line, char *fields[MAX_FIELDS]) {
  int n = 0;
  char *r = line, *w = line;

  for (;;) {
    char *start = w;
    if (*r == '"') {
      r++;
      for (;;) {
        if (*r == '\0')
          return -1;
        if (*r == '"' && r[1] == '"') {
          *w++ = '"';
          r += 2;
        } else if (*r == '"') {
          r++;
          break;
        } else {
          *w++ = *r++;
        }
      }
    }
    while (*r && *r != ',')
      *w++ = *r++;
    if (n < MAX_FIELDS)
      fields[n++] = start;
    if (*r == '\0') {
      *w = '\0';
      return n;
    }
    r++;
    *w++ = '\0';
  }
}

static int add_groups(as_user *u, const char *csv) {
  char *copy = strdup(csv), *save = NULL, *g;
  int rc = -1;

  if (!copy)
    return -1;
  for (g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
    char **grown = realloc(u->groups, (u->n_groups + 1) * sizeof *grown);
    if (!grown)
      goto out;
    u->groups = grown;
    if (!(u->groups[u->n_groups] = strdup(g)))
      goto out;
    u->n_groups++;
  }
  rc = 0;
out:
  free(copy);
  return rc;
}

static bool has_group(const as_user *u, const char *g) {
  for (size_t i = 0; i < u->n_groups; i++)
    if (!strcmp(u->groups[i], g))
      return true;
  return false;
}

static int parse_user(char **f, int n, as_user *u) {
  memset(u, 0, sizeof *u);
  if (!(u->token = strdup(f[0])) || !(u->name = strdup(f[1])) || !(u->uid = strdup(f[2])))
    return -1;
  if (n >= 4 && add_groups(u, f[3]))
    return -1;
  if (n >= 5 && f[4][0] && !(u->pod = strdup(f[4])))
    return -1;
  if (!has_group(u, "system:authenticated"))
    return add_groups(u, "system:authenticated");
  return 0;
}

int as_tokens_load(const char *path, as_tokens **out, char *err, size_t errlen) {
  FILE *f = NULL;
  as_tokens *t = NULL;
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int rc = -1, lineno = 0;

  *out = NULL;
  if (!(f = fopen(path, "r"))) {
    snprintf(err, errlen, "cannot read token file %s: %s", path, strerror(errno));
    goto out;
  }
  if (!(t = calloc(1, sizeof *t)))
    goto nomem;
  while ((got = getline(&line, &cap, f)) >= 0) {
    char *fields[MAX_FIELDS];
    as_user *grown;
    int n;
    lineno++;
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
      line[--got] = '\0';
    if (got == 0)
      continue;
    n = split_record(line, fields);
    if (n < 3) {
      snprintf(err, errlen,
               "token file %s line %d: must have at least 3 columns (token, user "
               "name, user uid)",
               path, lineno);
      goto out;
    }
    if (!fields[0][0])
      continue; /* kube-apiserver skips empty tokens with a warning */
    if (!(grown = realloc(t->users, (t->n + 1) * sizeof *grown)))
      goto nomem;
    t->users = grown;
    if (parse_user(fields, n, &t->users[t->n])) {
      user_clear(&t->users[t->n]);
      goto nomem;
    }
    t->n++;
  }
  *out = t;
  t = NULL;
  rc = 0;
  goto out;
nomem:
  snprintf(err, errlen, "out of memory reading %s", path);
out:
  free(line);
  if (f)
    fclose(f);
  as_tokens_free(t);
  return rc;
}

const as_user *as_tokens_authenticate(const as_tokens *t, const char *authorization) {
  const char *tok;
  const as_user *found = NULL;

  if (!t || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
    return NULL;
  tok = authorization + 7;
  while (*tok == ' ')
    tok++;
  /* The last line wins for a duplicated token, as in kube-apiserver's map. */
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->users[i].token, tok))
      found = &t->users[i];
  return found;
}
