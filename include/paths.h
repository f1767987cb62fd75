/* paths — checks on the files of a job before it starts. */
#ifndef OTTU_PATHS_H
#define OTTU_PATHS_H

#include <stddef.h>
#include <sys/types.h>

#include "cli.h"

/* Every file the job writes must be its own (an output naming the input would destroy
 * it), and --summary-json must be writable. Returns 0, or -1 with err. */
int paths_check(const config *cfg, char *err, size_t errlen);
/* A new temporary file beside path (path.tmp.XXXXXX), created with O_EXCL so never through
 * a link planted there, with mode (the umask applies); renamed over path once written, it
 * replaces a link at path rather than writing into its target. Returns the descriptor and
 * *tmp (free it), or -1 with errno. */
int paths_temp_beside(const char *path, mode_t mode, char **tmp);
/* Checks that paths_temp_beside works for path now (before the first request), the
 * temporary removed again. opt names the option in err. Returns 0, or -1 with err. */
int paths_check_beside(const char *opt, const char *path, char *err, size_t errlen);

#endif
