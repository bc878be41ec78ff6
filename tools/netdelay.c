// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * netdelay - a user-space network delay line between two network namespaces.
 *
 * This kernel has no netem, so real delay between two test hosts is made here: netdelay
 * creates one TUN device in each of two network namespaces, reads every IP packet that one
 * namespace routes into its device and writes it into the other namespace's device once its
 * delay has passed. Each direction gets the same one-way delay, optionally with uniform
 * jitter and random loss. By default packets of a direction are never reordered (a packet is
 * released no earlier than the one before it), so jitter delays packets but keeps TCP's view
 * in order.
 *
 * --reorder PCT makes reordering on purpose: with that probability a packet is held back by
 * another --reorder-ms MS (default: a quarter of the one-way delay, at least 1 ms) in a second
 * queue of its direction, and the packets behind it in the in-order queue may overtake it
 * (those due before it are released first). Held packets keep their order among themselves,
 * and a packet is never released before its own delay has passed. The final statistics count
 * the held packets (held=) and the packets that a later one did overtake (reordered=: the
 * held ones that had a packet behind them within MS, and, when jitter exceeds MS, in-order
 * packets that a held one overtook), which is what the receiver sees out of order.
 *
 * The devices are not persistent: they disappear when netdelay exits, whatever the reason.
 * Addresses and routes are the caller's business (tools/netns_pair.sh sets them up).
 * netdelay runs as SCHED_FIFO priority 10 (when allowed) with 1 ns timer slack so that a
 * packet leaves on time even while the peers keep both CPUs busy; one thread relays both
 * directions with ppoll(). Each direction queues at most --queue packets (default 8192) in
 * each of its two queues; beyond that packets are dropped and counted.
 *
 * A packet's delay counts from when its namespace sent it, not from when netdelay got round to
 * reading it: a packet socket on each device (outgoing packets only) gives the kernel's time
 * of every packet as it entered the device, so a netdelay that was itself held up (a busy or
 * paused CPU) still releases the packet on time when it can (packets without that time are
 * counted as untimed=). What it cannot make up - a packet written after its due time - is
 * counted per direction (late=, late_max_us=), and --trace FILE writes one line per relayed
 * packet: "DIR SENT_NS WRITTEN_NS DONE_NS LEN" (DIR a->b or b->a; times CLOCK_REALTIME in ns:
 * when the packet entered its device, when netdelay began and ended its write to the other
 * one, the receiving stack having taken it in between), so that a test can tell the delay a
 * packet really had from the one imposed.
 *
 *   netdelay --ns-a NS --ns-b NS [--dev NAME] [--delay-ms MS] [--jitter-ms MS] [--loss PCT]
 *            [--reorder PCT] [--reorder-ms MS] [--seed N] [--queue N] [--trace FILE]
 *
 * NS is a name under /run/netns (ip netns add) or a path to a netns file. netdelay prints
 * "ready" on stdout once both devices exist, relays until SIGINT/SIGTERM, then prints one
 * stats line per direction on stdout and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 2048 /* a TUN device with the default 1500-byte MTU never gives more */
#define READ_BYTES 65536

struct pkt {
	uint64_t due_ns;
	uint64_t sent_real_ns; /* CLOCK_REALTIME: when it entered the device it was read from */
	uint64_t nr; /* arrival number in its direction */
	uint16_t len;
	unsigned char data[SLOT_BYTES];
};

/* A FIFO ring of packets whose due times never decrease. */
struct queue {
	struct pkt *ring;
	uint32_t cap;
	uint32_t head; /* next packet to send */
	uint32_t count;
	uint64_t last_due_ns;
};

/* One direction: packets read from in_fd wait in the in-order queue (or, when picked for
 * reordering, in the held-back queue), then go to out_fd in order of due time. */
struct line {
	const char *name;
	int in_fd;
	int out_fd;
	int tap_fd; /* packet socket: the kernel's time of each packet sent into in_fd's device */
	struct queue q[2]; /* [0] in order, [1] held back by --reorder */
	uint64_t arrived;  /* packets queued so far: the next pkt.nr */
	uint64_t max_sent_nr; /* highest nr written so far, +1 (0: none yet) */
	uint64_t relayed, lost, full, oversize, write_err, held, reordered;
	uint64_t untimed;     /* no kernel time found: the delay counted from the read */
	uint64_t late;        /* written more than LATE_NS after its due time */
	uint64_t late_max_ns; /* the latest write past its due time */
};

#define LATE_NS 1000000ull

static FILE *trace; /* --trace */

/* What a direction does to each packet. */
struct shape {
	uint64_t delay_ns, jitter_ns, reorder_ns;
	double loss, reorder;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: enough randomness for loss and jitter, reproducible with --seed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double rng_unit(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end || *out < lo || *out > hi) ? -1 : 0;
}

/* A packet socket on device ifindex (of the current network namespace) that receives the
 * packets the namespace sends into it, each with its kernel time (SO_TIMESTAMPNS). Returns
 * its fd or -1. */
static int tap_open(int ifindex)
{
	struct sock_filter code[] = {
		/* keep outgoing packets only: those netdelay writes in are PACKET_HOST */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	int one = 1, rcvbuf = 4 << 20;
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

/* Opens a new TUN device called dev inside the network namespace ns, and in *tap a packet
 * socket on it (tap_open(), -1 if that failed: the delays then count from netdelay's reads).
 * Returns the device's fd or -1. */
static int tun_in_netns(const char *ns, const char *dev, int *tap)
{
	char path[4096];
	struct ifreq ifr;
	int self = -1, target = -1, fd = -1, ret = -1;

	if (strchr(ns, '/'))
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0) {
		fprintf(stderr, "netdelay: open %s: %s\n", self < 0 ? "/proc/self/ns/net" : path,
			strerror(errno));
		goto out;
	}
	if (setns(target, CLONE_NEWNET)) {
		fprintf(stderr, "netdelay: setns %s: %s\n", path, strerror(errno));
		goto out;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "netdelay: open /dev/net/tun: %s\n", strerror(errno));
	} else {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
		if (ioctl(fd, TUNSETIFF, &ifr)) {
			fprintf(stderr, "netdelay: TUNSETIFF %s in %s: %s\n", dev, ns,
				strerror(errno));
			close(fd);
			fd = -1;
		} else {
			*tap = tap_open((int)if_nametoindex(dev));
			if (*tap < 0)
				fprintf(stderr, "netdelay: packet socket on %s in %s: %s (delays "
					"count from netdelay's reads)\n", dev, ns, strerror(errno));
		}
	}
	if (setns(self, CLONE_NEWNET)) {
		fprintf(stderr, "netdelay: setns back: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	ret = fd;
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return ret;
}

/* The CLOCK_REALTIME time at which the packet pkt (len bytes, just read from l->in_fd) entered
 * its device, from l->tap_fd, or 0 if it cannot be found. The tap holds the same packets in
 * the same order as the device (its copy is taken on the way in), plus any that the device
 * dropped: entries that do not match are skipped, at most a few per packet. */
static uint64_t tap_time(struct line *l, const unsigned char *pkt, size_t len)
{
	static unsigned char copy[SLOT_BYTES];

	if (l->tap_fd < 0)
		return 0;
	for (int tries = 0; tries < 8; tries++) {
		char ctl[CMSG_SPACE(sizeof(struct timespec))];
		struct iovec iov = { .iov_base = copy, .iov_len = sizeof(copy) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(l->tap_fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		struct cmsghdr *c;

		if (n < 0)
			return 0;
		if ((size_t)n != len || memcmp(copy, pkt, len))
			continue;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;

				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
				return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			}
		}
		return 0;
	}
	return 0;
}

/* Reads every packet waiting on l->in_fd into one of its queues (or drops it). */
static void line_read(struct line *l, const struct shape *sh, unsigned char *buf)
{
	for (int i = 0; i < 256; i++) {
		ssize_t n = read(l->in_fd, buf, READ_BYTES);
		uint64_t due, mono, real, sent;
		struct queue *q;
		struct pkt *p;
		int hold;

		if (n <= 0)
			return;
		/* Due delay_ns after the packet entered the device (a kernel time), not after
		 * this read, which may come late. Taken for every packet, dropped ones too, so
		 * that the tap stays in step with the device. A kernel time more than a second
		 * away from now is not one this code understands: then the read time. */
		mono = now_ns();
		real = real_ns();
		sent = tap_time(l, buf, (size_t)n);
		if (!sent || sent > real || real - sent > 1000000000ull) {
			l->untimed++;
			sent = real;
		}
		if (sh->loss > 0 && rng_unit() * 100.0 < sh->loss) {
			l->lost++;
			continue;
		}
		if (n > SLOT_BYTES) {
			l->oversize++;
			continue;
		}
		hold = sh->reorder > 0 && rng_unit() * 100.0 < sh->reorder;
		q = &l->q[hold];
		if (q->count == q->cap) {
			l->full++;
			continue;
		}
		due = mono - (real - sent) + sh->delay_ns;
		if (sh->jitter_ns) {
			int64_t j = (int64_t)((rng_unit() * 2.0 - 1.0) * (double)sh->jitter_ns);

			due = (j < 0 && (uint64_t)-j > due) ? 0 : due + (uint64_t)j;
		}
		if (hold) {
			due += sh->reorder_ns;
			l->held++;
		}
		if (due < q->last_due_ns)
			due = q->last_due_ns; /* FIFO within a queue: never overtake the one before */
		q->last_due_ns = due;
		p = &q->ring[(q->head + q->count) % q->cap];
		p->due_ns = due;
		p->sent_real_ns = sent;
		p->nr = l->arrived++;
		p->len = (uint16_t)n;
		memcpy(p->data, buf, (size_t)n);
		q->count++;
	}
}

/* Writes the packets whose time has come, earliest due first (the in-order queue first on a
 * tie); returns the due time of the next one, or 0. */
static uint64_t line_flush(struct line *l)
{
	uint64_t now = now_ns();

	for (;;) {
		struct queue *q = NULL;
		struct pkt *p;

		for (int k = 0; k < 2; k++) {
			struct queue *c = &l->q[k];

			if (c->count && (!q || c->ring[c->head].due_ns < q->ring[q->head].due_ns))
				q = c;
		}
		if (!q)
			return 0;
		p = &q->ring[q->head];
		if (p->due_ns > now)
			return p->due_ns;
		uint64_t written = real_ns(), done;

		/* The receiving namespace's stack takes the packet inside this write() (the
		 * TUN device hands it to the CPU's backlog, which is processed as the write
		 * enables softirqs again): written..done brackets when it did. */
		if (write(l->out_fd, p->data, p->len) != p->len) {
			l->write_err++;
		} else {
			l->relayed++;
			done = real_ns();
			if (trace)
				fprintf(trace, "%s %llu %llu %llu %u\n", l->name,
					(unsigned long long)p->sent_real_ns,
					(unsigned long long)written, (unsigned long long)done,
					p->len);
		}
		if (now - p->due_ns > l->late_max_ns)
			l->late_max_ns = now - p->due_ns;
		if (now - p->due_ns > LATE_NS)
			l->late++;
		/* Overtaken: a packet that arrived after this one has gone out before it. */
		if (p->nr + 1 < l->max_sent_nr)
			l->reordered++;
		if (p->nr + 1 > l->max_sent_nr)
			l->max_sent_nr = p->nr + 1;
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: netdelay --ns-a NS --ns-b NS [--dev NAME] [--delay-ms MS] "
		   "[--jitter-ms MS] [--loss PCT]\n"
		   "                [--reorder PCT] [--reorder-ms MS] [--seed N] [--queue N]\n"
		   "                [--trace FILE]\n"
		   "Relays IP packets between a TUN device NAME (default hsdelay0) in each of two\n"
		   "network namespaces, each way after MS milliseconds (default 20), +- jitter,\n"
		   "dropping --loss percent at random. Packets stay in order, except that with\n"
		   "--reorder PCT that percentage is held back --reorder-ms longer (default: a\n"
		   "quarter of the delay, at least 1 ms) and later packets may overtake them.\n"
		   "Delays count from when a packet entered its device (kernel time). --trace\n"
		   "writes \"DIR SENT_NS WRITTEN_NS DONE_NS LEN\" per relayed packet (CLOCK_REALTIME).\n"
		   "Prints \"ready\", runs until SIGINT/SIGTERM, then one statistics line per\n"
		   "direction.\n");
}

int main(int argc, char **argv)
{
	const char *ns_a = NULL, *ns_b = NULL, *dev = "hsdelay0";
	double delay_ms = 20, jitter_ms = 0, loss = 0, reorder = 0, reorder_ms = -1, queue = 8192;
	double seed = 1;
	const char *trace_path = NULL;
	int tap_a = -1, tap_b = -1;
	struct shape shape;
	struct line lines[2];
	unsigned char *buf;
	struct sigaction sa;
	int fd_a, fd_b;

	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(o, "--ns-a"))
			ns_a = v;
		else if (!strcmp(o, "--ns-b"))
			ns_b = v;
		else if (!strcmp(o, "--dev"))
			dev = v;
		else if (!strcmp(o, "--delay-ms"))
			bad = parse_double(v, 0, 60000, &delay_ms);
		else if (!strcmp(o, "--jitter-ms"))
			bad = parse_double(v, 0, 60000, &jitter_ms);
		else if (!strcmp(o, "--loss"))
			bad = parse_double(v, 0, 100, &loss);
		else if (!strcmp(o, "--reorder"))
			bad = parse_double(v, 0, 100, &reorder);
		else if (!strcmp(o, "--reorder-ms"))
			bad = parse_double(v, 0, 60000, &reorder_ms);
		else if (!strcmp(o, "--seed"))
			bad = parse_double(v, 1, 1e15, &seed);
		else if (!strcmp(o, "--queue"))
			bad = parse_double(v, 1, 1 << 20, &queue);
		else if (!strcmp(o, "--trace"))
			trace_path = v;
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "netdelay: bad option or value: %s %s\n", o, v);
			usage(stderr);
			return 2;
		}
	}
	if (!ns_a || !ns_b || strlen(dev) >= IFNAMSIZ) {
		usage(stderr);
		return 2;
	}
	rng_state ^= (uint64_t)seed * 0x100000001b3ull;
	/* Wake up on time: the default 50 us timer slack would add to every delay, and on a
	 * busy 2-CPU machine the peers' own work (key generation, certificate checks) would
	 * otherwise hold a packet back by a millisecond or more. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct sched_param sp = { .sched_priority = 10 };

	if (sched_setscheduler(0, SCHED_FIFO, &sp))
		fprintf(stderr, "netdelay: SCHED_FIFO: %s (delays may run late under load)\n",
			strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* The signals are taken only inside ppoll(), so none is missed between the check of
	 * stop and the wait. */
	sigset_t block, none;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&none);

	if (trace_path) {
		trace = fopen(trace_path, "we");
		if (!trace) {
			fprintf(stderr, "netdelay: %s: %s\n", trace_path, strerror(errno));
			return 1;
		}
	}
	fd_a = tun_in_netns(ns_a, dev, &tap_a);
	fd_b = fd_a < 0 ? -1 : tun_in_netns(ns_b, dev, &tap_b);
	buf = malloc(READ_BYTES);
	memset(lines, 0, sizeof(lines));
	lines[0] = (struct line){ .name = "a->b", .in_fd = fd_a, .out_fd = fd_b, .tap_fd = tap_a };
	lines[1] = (struct line){ .name = "b->a", .in_fd = fd_b, .out_fd = fd_a, .tap_fd = tap_b };
	int nomem = 0;

	for (int d = 0; d < 2; d++) {
		for (int k = 0; k < 2; k++) {
			struct queue *q = &lines[d].q[k];

			q->cap = (uint32_t)queue;
			/* The held-back queue is allocated only when something can be held back. */
			if (fd_b >= 0 && (k == 0 || reorder > 0)) {
				q->ring = calloc(q->cap, sizeof(struct pkt));
				nomem |= !q->ring;
			}
		}
	}
	if (fd_b < 0 || !buf || nomem) {
		if (fd_b >= 0)
			fprintf(stderr, "netdelay: out of memory\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	if (reorder_ms < 0) /* default: a quarter of the one-way delay, at least 1 ms */
		reorder_ms = delay_ms / 4 < 1 ? 1 : delay_ms / 4;
	shape = (struct shape){ .delay_ns = (uint64_t)(delay_ms * 1e6),
				.jitter_ns = (uint64_t)(jitter_ms * 1e6),
				.reorder_ns = (uint64_t)(reorder_ms * 1e6),
				.loss = loss,
				.reorder = reorder };

	while (!stop) {
		struct pollfd pfd[2] = { { .fd = fd_a, .events = POLLIN },
					 { .fd = fd_b, .events = POLLIN } };
		uint64_t next = 0, now;
		struct timespec ts, *tsp = NULL;

		for (int d = 0; d < 2; d++) {
			uint64_t due = line_flush(&lines[d]);

			if (due && (!next || due < next))
				next = due;
		}
		if (next) {
			now = now_ns();
			uint64_t wait = next > now ? next - now : 0;

			ts.tv_sec = (time_t)(wait / 1000000000ull);
			ts.tv_nsec = (long)(wait % 1000000000ull);
			tsp = &ts;
		}
		if (ppoll(pfd, 2, tsp, &none) < 0) {
			if (errno == EINTR)
				continue;
			perror("netdelay: ppoll");
			break;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP) || pfd[1].revents & (POLLERR | POLLHUP)) {
			fprintf(stderr, "netdelay: a TUN device went away\n");
			break;
		}
		if (pfd[0].revents & POLLIN)
			line_read(&lines[0], &shape, buf);
		if (pfd[1].revents & POLLIN)
			line_read(&lines[1], &shape, buf);
	}
	for (int d = 0; d < 2; d++) {
		struct line *l = &lines[d];

		printf("%s relayed=%llu lost=%llu held=%llu reordered=%llu queue_full=%llu "
		       "oversize=%llu write_errors=%llu pending=%u untimed=%llu late=%llu "
		       "late_max_us=%llu\n",
		       l->name, (unsigned long long)l->relayed, (unsigned long long)l->lost,
		       (unsigned long long)l->held, (unsigned long long)l->reordered,
		       (unsigned long long)l->full, (unsigned long long)l->oversize,
		       (unsigned long long)l->write_err, l->q[0].count + l->q[1].count,
		       (unsigned long long)l->untimed, (unsigned long long)l->late,
		       (unsigned long long)(l->late_max_ns / 1000));
		free(l->q[0].ring);
		free(l->q[1].ring);
	}
	free(buf);
	close(fd_a);
	close(fd_b);
	if (tap_a >= 0)
		close(tap_a);
	if (tap_b >= 0)
		close(tap_b);
	if (trace && fclose(trace)) {
		perror("netdelay: --trace");
		return 1;
	}
	return 0;
}
