/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * process_usage.h - hstrace's own CPU time and resident memory, as both metric paths report
 * them: the Prometheus endpoint at each scrape (metrics_http.c) and the OTLP metrics at each
 * send (otlp_export.c).
 */
#ifndef HSTRACE_PROCESS_USAGE_H
#define HSTRACE_PROCESS_USAGE_H

/* Reads this process's CPU time, user + system in seconds (getrusage()), and its resident
 * memory in bytes (/proc/self/statm). Returns 0 with both set, or a negative errno when either
 * cannot be read (then neither is changed). */
int process_usage_read(double *cpu_seconds, double *rss_bytes);

#endif /* HSTRACE_PROCESS_USAGE_H */
