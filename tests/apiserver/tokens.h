/* tokens.h -- kube-apiserver's static token file (--token-auth-file), with a pod-name column. */
#ifndef AS_TOKENS_H
#define AS_TOKENS_H

#include <stddef.h>

/* An authenticated user. Groups always end with system:authenticated, as
 * kube-apiserver adds it to every authenticated request. */
typedef struct {
  char *token, *name, *uid;
  char *pod; /* 5th column (extension): extra["authentication.kubernetes.io/pod-name"], or NULL */
  char **groups;
  size_t n_groups;
} as_user;

typedef struct as_tokens as_tokens;

/* Reads the CSV file: token,user,uid[,"group1,group2"[,pod]]. Returns 0, or -1 with
 * detail in err. *out is new (as_tokens_free). */
int as_tokens_load(const char *path, as_tokens **out, char *err, size_t errlen);

/* The user of an "Authorization: Bearer TOKEN" header value, or NULL. Borrowed. */
const as_user *as_tokens_authenticate(const as_tokens *t, const char *authorization);

/* Frees t; NULL is a no-op. */
void as_tokens_free(as_tokens *t);

#endif
