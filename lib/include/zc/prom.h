/* prom.h - Prometheus text exposition helpers: constant labels (which mount, which node) added to
 * every sample of a rendered text, and several texts merged into one with each metric family
 * once, so the statistics of many mounts can be scraped together. Pure functions on strings,
 * thread-safe, no state; outputs are malloc'ed and freed by the caller. */
#ifndef ZC_PROM_H
#define ZC_PROM_H

#include <stddef.h>

/* Append name="value" to the label list in buf (comma separated, no braces), with the value
 * escaped as the text format wants (\\ \" \n). Returns 0, or -ENAMETOOLONG when it does not fit
 * (buf unchanged), -EINVAL for a name that is not [a-zA-Z_][a-zA-Z0-9_]*. */
int zc_prom_label_add(char *buf, size_t len, const char *name, const char *value);

/* text (a rendered exposition, len bytes) with labels (as zc_prom_label_add builds them) added
 * to every sample line, after the sample's own labels; comment lines as they are. Returns 0 or
 * -ENOMEM; -EINVAL for a sample line it cannot parse (a '{' without its '}'). */
int zc_prom_add_labels(const char *text, size_t len, const char *labels, char **out, size_t *outlen);

/* n texts merged: each metric family (a HELP or TYPE line and the samples after it) once, with
 * the HELP and TYPE of its first appearance and the samples of every text in order. Texts of
 * different mounts (different constant labels) then make one valid exposition. Returns 0 or
 * -ENOMEM. */
int zc_prom_merge(const char *const *texts, size_t n, char **out, size_t *outlen);

#endif
