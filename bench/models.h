/* models.h -- lg-bench serve-model: the webhook behind libmicrohttpd in a chosen threading model. */
#ifndef LG_BENCH_MODELS_H
#define LG_BENCH_MODELS_H

/* Runs `lg-bench serve-model --model epoll|select|per-connection [--threads N] --port P
 * --cert FILE --key FILE [--turbo on]` (argv[0] is "serve-model") until SIGTERM or SIGINT.
 * Returns the exit status. */
int lg_bench_serve_model(int argc, char **argv);

#endif
