#ifndef SPLITD_SPAWN_H
#define SPLITD_SPAWN_H
#include <sys/types.h>

/// Spawns `path` with `argv`/`envp` (NULL-terminated), working directory "/", stdin from
/// /dev/null, stdout and stderr appended to `output_path`, and no other inherited descriptor.
/// Returns 0 and sets *pid on success, or an errno value.
int splitd_spawn(const char *path, char *const argv[], char *const envp[], const char *output_path, pid_t *pid);

#endif
