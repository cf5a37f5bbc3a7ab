/* aslog.h -- one JSON line per request and per webhook call, on stdout. */
#ifndef AS_ASLOG_H
#define AS_ASLOG_H

#include <jansson.h>

/* Adds "time" to line (stolen), writes it compactly as one line and flushes. Thread-safe. */
void as_log(json_t *line);

#endif
