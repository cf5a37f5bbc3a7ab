/* aslog.c -- JSON lines on stdout under a mutex, so concurrent requests never interleave. */
#include "aslog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "times.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void as_log(json_t *line) {
  char now[LG_TIME_BUFLEN];
  char *text;

  if (!line)
    return;
  json_object_set_new(line, "time", json_string(lg_time_format(lg_time_now(), now)));
  text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(line);
  if (!text)
    return;
  pthread_mutex_lock(&log_mu);
  fputs(text, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&log_mu);
  free(text);
}
