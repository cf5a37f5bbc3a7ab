/* yamlemit.h -- JSON values (jansson) written as block YAML, for manifests people read. */
#ifndef LG_YAMLEMIT_H
#define LG_YAMLEMIT_H

#include <jansson.h>

/* Renders v as block YAML: mappings and sequences indented by two, strings plain only where
 * YAML 1.1 and 1.2 both read them back as the same string, else double-quoted with escapes.
 * Returns a new string (free it), NULL when out of memory. */
char *lg_yaml_dump(const json_t *v);

#endif
