/*
 * The configuration reference in Markdown, generated from the tables
 * (schema.h) and from every registered sink type's table (sink_types.h):
 * what `kfleet config reference` prints and the README's Configuration
 * reference holds (a unit test keeps the two equal).
 */
#ifndef KF_CONFIG_REFERENCE_H
#define KF_CONFIG_REFERENCE_H

#include <stdio.h>

/* Writes the reference to out. Returns 0, or -1 when writing failed. */
int kf_config_reference(FILE *out);

#endif /* KF_CONFIG_REFERENCE_H */
