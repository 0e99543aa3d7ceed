/* The Markdown configuration reference (docs/config.md), generated from the option table. */
#ifndef AG_CONF_REFERENCE_H
#define AG_CONF_REFERENCE_H

#include <stdio.h>

/** Writes the whole reference document. */
void ag_config_reference_print(FILE *out);

#endif
