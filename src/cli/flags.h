/* flags.h -- one declarative flag table per command and the parser that fills it. */
#ifndef LG_FLAGS_H
#define LG_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a flag takes, and the type its dst points to. */
typedef enum {
  LG_FLAG_BOOL,     /* bool: --name alone sets true; --name=VALUE is not a match */
  LG_FLAG_STRING,   /* const char *: borrowed from argv (or def) */
  LG_FLAG_INT,      /* long long: a whole decimal number in min..max */
  LG_FLAG_DURATION, /* int64_t: a Go duration ("15s", "1m30s"), microseconds in min..max */
  LG_FLAG_ENUM,     /* const char *: one of values (the table's string) */
  LG_FLAG_LIST,     /* lg_flags_list: every value of a repeatable flag, in order */
  LG_FLAG_REST      /* char **: --name [--] COMMAND...: the rest of argv, parsing ends */
} lg_flag_kind;

#define LG_FLAG_NONEMPTY  1u /* STRING: an empty value is a usage error */
#define LG_FLAG_EMPTY_OFF 2u /* STRING: an empty value leaves dst NULL */

/* A repeatable flag's values, borrowed from argv; the array is new (lg_flags_list_free). */
typedef struct {
  const char **v;
  size_t n;
} lg_flags_list;

/* One row of a command's table. Messages are templates: {flag} the name, {value} the value
 * given, {min} and {max} the bounds (INT), {values} "a, b or c" (ENUM). */
typedef struct {
  const char *name; /* "--secure-port" */
  lg_flag_kind kind;
  void *dst;
  const char *def;    /* the default, stored into dst before argv (not for LIST); NULL: dst is
                     left alone */
  long long min, max; /* INT: the range; DURATION: in microseconds, max 0 = none */
  const char *const *values; /* ENUM: NULL-terminated */
  unsigned opts;             /* LG_FLAG_NONEMPTY, LG_FLAG_EMPTY_OFF */
  const char *bad;           /* the message for a bad value (NULL: the kind's) */
  bool *given;               /* set true when the flag is on the command line (optional) */
} lg_flag;

/* A command's flags and what it does with other arguments. */
typedef struct {
  const lg_flag *flags;
  size_t n;
  /* The message for an argument no row matches: {arg} it, {what} "flag" or "argument".
   * NULL: "unknown argument \"{arg}\"". */
  const char *unknown;
  /* When set: one positional argument (anything not starting with '-', or "-") goes here;
   * a second one gets the message extra. */
  const char **positional;
  const char *extra;
} lg_flags_spec;

typedef enum { LG_FLAGS_OK, LG_FLAGS_HELP, LG_FLAGS_USAGE } lg_flags_result;

/* Applies the defaults, then argv[1..argc-1]: --name=VALUE and --name VALUE, --help and -h
 * (LG_FLAGS_HELP, the arguments after it not read). LG_FLAGS_USAGE: an unknown argument, a
 * missing or bad value, the message in err. The LIST fields are filled even then: free them
 * with lg_flags_list_free either way. */
lg_flags_result lg_flags_parse(const lg_flags_spec *spec, int argc, char **argv, char *err,
                               size_t errlen);

/* Frees the array of l (not the strings, which are argv's) and empties it; NULL is a no-op. */
void lg_flags_list_free(lg_flags_list *l);

/* A Go duration ("15s", "1m30s", "500ms", "1.5h", "0") in microseconds; -1 when malformed or
 * negative. */
int64_t lg_flags_duration(const char *s);

#endif
