/* httpd_mhd.h -- private to the .c files of src/edge: the part of httpd.h that speaks
 * libmicrohttpd, shared by the status listener and the HTTPS routes. Public headers never
 * include this one (tests/edgeheaders checks). */
#ifndef LG_HTTPD_MHD_H
#define LG_HTTPD_MHD_H

#include <stddef.h>

#include <microhttpd.h>

#include "httpd.h"

/* Checks the framing headers of c's request (lg_framing_check): 0, or the status to answer
 * (400, 501) with the reason in msg. */
unsigned lg_httpd_framing(struct MHD_Connection *c, char *msg, size_t len);

#endif
