/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tracefs.h - make sure tracefs is reachable for classic tracepoints.
 *
 * libbpf resolves a classic tracepoint's id through tracefs (/sys/kernel/tracing, or
 * /sys/kernel/debug/tracing when debugfs is mounted). A fresh boot may have neither mounted.
 */
#ifndef HSTRACE_TRACEFS_H
#define HSTRACE_TRACEFS_H

#include <stdbool.h>

/* Mounts tracefs on /sys/kernel/tracing unless a tracing directory is already usable.
 * Sets *mounted to true when this call mounted it. Returns 0 or a negative errno.
 * The mount is left in place at exit: another hstrace (or perf, bpftrace) may be attaching
 * classic tracepoints through it at that moment, and unmounting would make that fail. */
int tracefs_ensure(bool *mounted);

#endif /* HSTRACE_TRACEFS_H */
