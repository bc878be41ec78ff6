// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * process_usage.c - hstrace's own CPU time and resident memory (see process_usage.h).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "process_usage.h"

int process_usage_read(double *cpu_seconds, double *rss_bytes)
{
	unsigned long size, resident;
	struct rusage ru;
	long page;
	FILE *f;
	int n;

	if (getrusage(RUSAGE_SELF, &ru))
		return -errno;
	page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		return -EINVAL;
	f = fopen("/proc/self/statm", "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return -EIO;
	*cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	*rss_bytes = (double)resident * (double)page;
	return 0;
}
