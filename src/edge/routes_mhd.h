/* routes_mhd.h -- private to the .c files of src/edge: libmicrohttpd's access handler and completion
 * callback for serve's HTTPS port (routes.c), given to it by server.c. Public headers never
 * include this one (tests/edgeheaders checks). */
#ifndef LG_ROUTES_MHD_H
#define LG_ROUTES_MHD_H

#include <stddef.h>

#include <microhttpd.h>

#include "routes.h"

/* libmicrohttpd's access handler and completion callback (cls: the lg_routes). */
enum MHD_Result lg_routes_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **con_cls);
void lg_routes_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                            enum MHD_RequestTerminationCode toe);

#endif
