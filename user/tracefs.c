// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tracefs.h"

#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

int tracefs_ensure(bool *mounted)
{
	*mounted = false;
	/* libbpf prefers debugfs' tracing dir when it exists, else TRACEFS. */
	if (access(DEBUGFS_TRACING "/events", F_OK) == 0 || access(TRACEFS "/events", F_OK) == 0)
		return 0;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) < 0)
		return -errno;
	*mounted = true;
	return 0;
}
