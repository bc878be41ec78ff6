// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * probe_cost - what one call of a probed OpenSSL function costs the process that makes it.
 *
 * Calls X509_verify_cert(NULL) N times in a loop and prints the mean time per call in ns.
 * With a NULL context OpenSSL only raises an error and returns -1 (the error queue is
 * cleared after each call), so the call itself is cheap: run it once untraced and once while
 * hstrace runs (it probes X509_verify_cert's entry and return in every process), and the
 * difference is the cost of one probed call: the two uprobe traps, hstrace's two programs and
 * what they send. tools/bench_tls.py (uprobes) does that.
 *
 *   build/probe_cost [N]     (default 200000)
 *
 * Output, one line: calls=N ns_per_call=X
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000, i, sum = 0;
	struct timespec a, b;
	double ns;

	if (n <= 0 || argc > 2) {
		fprintf(stderr, "usage: probe_cost [N]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		sum += X509_verify_cert(NULL);
		ERR_clear_error();
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("calls=%ld ns_per_call=%.0f\n", n, ns / n);
	return sum == -n ? 0 : 1; /* every call must have failed as expected */
}
