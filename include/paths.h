/* paths — checks on the files of a job before it starts. */
#ifndef OTTU_PATHS_H
#define OTTU_PATHS_H

#include <stddef.h>

#include "cli.h"

/* Every file the job writes must be its own (an output naming the input would destroy
 * it), and --summary-json must be writable. Returns 0, or -1 with err. */
int paths_check(const config *cfg, char *err, size_t errlen);

#endif
