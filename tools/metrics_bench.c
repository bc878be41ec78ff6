// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * metrics_bench - what --metrics costs hstrace: the time metrics_observe_timeline() takes per
 * connection end (on the ring-buffer thread), and the time a scrape holds the registry's lock
 * to render it (user/metrics.c, user/metrics_registry.c). No BPF, no root, no network.
 *
 *   build/metrics_bench [-n CONNS] [-s NAMES] [-b sni|comm|port|none] [-r ROUNDS]
 *
 * Feeds CONNS synthetic TLS 1.3 connection ends (clients and servers alternating, 9 phases
 * each, as a client of tools/hs_load against nginx has) with NAMES distinct server names
 * (default 150: over the 100-value cap, so "other" is used) into a registry built like
 * hstrace's (--metrics-by sni by default), then renders it. Prints, per round, ns per
 * observed connection end and ms per render with the text's size; the last line gives the
 * medians. Times are CLOCK_MONOTONIC wall time of this single thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "timeline.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: metrics_bench [-n CONNS] [-s NAMES] [-b sni|comm|port|none] "
			"[-r ROUNDS]\n");
	exit(2);
}

static unsigned long arg_ulong(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || !v || v > max)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static const char *const phases[] = { "tcp_handshake", "idle_before_hello",
					      "server_hello_rtt", "tls_handshake", "ttfb",
					      "cert_verify", "total", "app_think", "peer_think" };
	struct metrics_opts o = { .by = METRICS_BY_SNI, .version = "bench" };
	unsigned long conns = 1000000, names = 150, rounds = 5, r, i;
	double *obs_ns, *render_ms;
	size_t len = 0;
	int opt;

	while ((opt = getopt(argc, argv, "n:s:b:r:")) != -1) {
		switch (opt) {
		case 'n':
			conns = arg_ulong(optarg, 100000000);
			break;
		case 's':
			names = arg_ulong(optarg, 1000000);
			break;
		case 'b':
			if (!strcmp(optarg, "none"))
				o.by = METRICS_BY_NONE;
			else if (metrics_by_parse(optarg, &o.by))
				usage();
			break;
		case 'r':
			rounds = arg_ulong(optarg, 1000);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	obs_ns = calloc(rounds, sizeof(*obs_ns));
	render_ms = calloc(rounds, sizeof(*render_ms));
	if (!obs_ns || !render_ms)
		return 1;

	for (r = 0; r < rounds; r++) {
		struct metrics *m = metrics_new(&o);
		struct timeline tl = { .result = RESULT_OK, .pid = 1, .comm = "nginx" };
		double t0, t1, t2;
		char *text;

		if (!m) {
			perror("metrics_new");
			return 1;
		}
		tl.tls.seen = true;
		tl.tls.version = 0x0304;
		for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
			tl.phases[i].name = phases[i];
			tl.phases[i].dur_ns = 20000 * (i + 1) + 7;
		}
		tl.n_phases = i;
		t0 = now_s();
		for (i = 0; i < conns; i++) {
			snprintf(tl.tls.sni, sizeof(tl.tls.sni), "host%lu.example.com", i % names);
			tl.role = i & 1 ? ROLE_SERVER : ROLE_CLIENT;
			tl.lport = tl.role == ROLE_SERVER ? 443 : 40000 + i % 20000;
			tl.rport = tl.role == ROLE_SERVER ? 40000 + i % 20000 : 443;
			tl.phases[3].dur_ns = 100000 + (i % 1000) * 1000; /* spread over buckets */
			if (metrics_observe_timeline(m, &tl)) {
				fprintf(stderr, "metrics_observe_timeline failed\n");
				return 1;
			}
		}
		t1 = now_s();
		if (metrics_render(m, &text, &len)) {
			fprintf(stderr, "metrics_render failed\n");
			return 1;
		}
		t2 = now_s();
		free(text);
		metrics_free(m);
		obs_ns[r] = (t1 - t0) / (double)conns * 1e9;
		render_ms[r] = (t2 - t1) * 1e3;
		printf("round %lu: observe %.0f ns per connection end, render %.2f ms (%zu bytes)\n",
		       r + 1, obs_ns[r], render_ms[r], len);
	}
	qsort(obs_ns, rounds, sizeof(*obs_ns), cmp_double);
	qsort(render_ms, rounds, sizeof(*render_ms), cmp_double);
	printf("median of %lu rounds (%lu connection ends, %lu names, by %s): observe %.0f ns, "
	       "render %.2f ms (%zu bytes)\n", rounds, conns, names,
	       o.by ? metrics_by_label(o.by) : "none", obs_ns[rounds / 2], render_ms[rounds / 2],
	       len);
	free(obs_ns);
	free(render_ms);
	return 0;
}
