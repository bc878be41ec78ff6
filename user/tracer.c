// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tracer.c - open -> configure -> load -> attach the BPF skeleton; poll its ring buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "hstrace.skel.h"
#include "tracer.h"

#define KERNEL_BTF "/sys/kernel/btf/vmlinux"
#define CAP_NET_ADMIN 12
#define CAP_SYS_ADMIN 21
#define CAP_PERFMON 38
#define CAP_BPF 39

struct tracer {
	struct hstrace_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *cgroup_links[4]; /* packet and getpeername programs on the cgroup root */
	bool socket_calls;		  /* sock_send_length/sock_recv_length programs attached */
	struct bpf_link **uprobes;	  /* attached by tracer_attach_ssl() */
	size_t n_uprobes;
	size_t cap_uprobes;
};

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	if (!libbpf_verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Returns the effective capability mask of this process (0 when unreadable). */
static unsigned long long effective_caps(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps;
}

/* Returns NULL when this process may load and attach every program, else the name of a
 * capability it lacks. Tracing programs need CAP_BPF and CAP_PERFMON, the cgroup (packet and
 * socket-address) programs CAP_NET_ADMIN too; CAP_SYS_ADMIN covers all of them. */
static const char *missing_capability(void)
{
	unsigned long long caps = effective_caps();

	if (caps & (1ULL << CAP_SYS_ADMIN))
		return NULL;
	if (!(caps & (1ULL << CAP_BPF)))
		return "CAP_BPF";
	if (!(caps & (1ULL << CAP_PERFMON)))
		return "CAP_PERFMON";
	if (!(caps & (1ULL << CAP_NET_ADMIN)))
		return "CAP_NET_ADMIN";
	return NULL;
}

/* Does the running kernel (or the BTF file given) have tracepoint `name`? */
static bool kernel_has_tracepoint(const char *btf_path, const char *name)
{
	char type[128];
	struct btf *btf;
	bool found;

	btf = btf_path ? btf__parse(btf_path, NULL) : btf__load_vmlinux_btf();
	if (!btf)
		return false;
	snprintf(type, sizeof(type), "btf_trace_%s", name);
	found = btf__find_by_name_kind(btf, type, BTF_KIND_TYPEDEF) >= 0;
	btf__free(btf);
	return found;
}

/*
 * Opens the root of the cgroup v2 hierarchy: where /proc/self/mountinfo shows cgroup2
 * mounted (/sys/fs/cgroup on most systems, /sys/fs/cgroup/unified in hybrid mode). Without
 * such a mount it is mounted on a private temporary folder just long enough to open it.
 * Returns an O_RDONLY fd or a negative errno.
 */
static int cgroup2_root_open(void)
{
	char line[4096], dir[] = "/tmp/hstrace-cgroup2.XXXXXX";
	char *sep, *mp = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int fd = -ENOENT;

	while (f && fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		/* fields: id parent major:minor root mount-point ... */
		if (strtok(line, " ") && strtok(NULL, " ") && strtok(NULL, " ") && strtok(NULL, " "))
			mp = strtok(NULL, " ");
		if (mp) {
			fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				break;
			fd = -errno;
		}
	}
	if (f)
		fclose(f);
	if (fd >= 0)
		return fd;
	if (!mkdtemp(dir))
		return -errno;
	if (mount("none", dir, "cgroup2", 0, NULL) == 0) {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		umount2(dir, MNT_DETACH);
	} else {
		fd = -errno;
	}
	rmdir(dir);
	return fd;
}

/* Attaches the cgroup programs (packets, getpeername) to the cgroup v2 root, as bpf_links:
 * they go away with hstrace, even when it is killed. */
static int attach_cgroup_programs(struct tracer *t)
{
	struct bpf_program *progs[] = {
		t->skel->progs.handle_egress,
		t->skel->progs.handle_ingress,
		t->skel->progs.handle_getpeername4,
		t->skel->progs.handle_getpeername6,
	};
	int fd, err = 0;
	size_t i;

	fd = cgroup2_root_open();
	if (fd < 0) {
		fprintf(stderr, "hstrace: cannot open the cgroup v2 root (to see packets): %s\n",
			strerror(-fd));
		return fd;
	}
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		t->cgroup_links[i] = bpf_program__attach_cgroup(progs[i], fd);
		if (!t->cgroup_links[i]) {
			err = -errno;
			fprintf(stderr, "hstrace: cannot attach %s to the cgroup v2 root: %s\n",
				bpf_program__name(progs[i]), strerror(-err));
			break;
		}
	}
	close(fd);
	return err;
}

/* Checks that path holds a kernel's BTF (raw, or an ELF file's .BTF section) before libbpf
 * relies on it (its own error for a wrong file is "Unknown error 4001"). Returns 0, or -EINVAL
 * after printing one line. */
static int btf_file_check(const char *path)
{
	struct btf *btf = btf__parse(path, NULL);
	bool kernel;

	if (!btf) {
		fprintf(stderr, "hstrace: --btf %s: not a BTF file (neither raw BTF nor an ELF file "
				"with a .BTF section)\n", path);
		return -EINVAL;
	}
	kernel = btf__find_by_name_kind(btf, "sock", BTF_KIND_STRUCT) > 0 &&
		 btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT) > 0;
	btf__free(btf);
	if (!kernel) {
		fprintf(stderr, "hstrace: --btf %s: BTF, but not a kernel's (no struct sock or "
				"task_struct): pass the kernel's vmlinux BTF\n", path);
		return -EINVAL;
	}
	return 0;
}

int tracer_open(struct tracer **out, const struct tracer_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct tracer *t;
	int err;

	*out = NULL;
	libbpf_verbose = opts->verbose;
	libbpf_set_print(libbpf_print);

	if (missing_capability()) {
		fprintf(stderr, "hstrace: permission denied: %s is missing; run as root (hstrace "
				"needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or CAP_SYS_ADMIN)\n",
			missing_capability());
		return -EPERM;
	}
	if (opts->btf_path) {
		if (access(opts->btf_path, R_OK) < 0) {
			err = -errno;
			fprintf(stderr, "hstrace: cannot read BTF file %s: %s\n", opts->btf_path,
				strerror(-err));
			return err;
		}
		err = btf_file_check(opts->btf_path);
		if (err)
			return err;
		open_opts.btf_custom_path = opts->btf_path;
	} else if (access(KERNEL_BTF, R_OK) < 0) {
		fprintf(stderr, "hstrace: this kernel has no BTF (%s is missing): it needs "
				"CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE\n", KERNEL_BTF);
		return -ENOENT;
	}

	t = calloc(1, sizeof(*t));
	if (!t) {
		fprintf(stderr, "hstrace: out of memory\n");
		return -ENOMEM;
	}

	t->skel = hstrace_bpf__open_opts(&open_opts);
	if (!t->skel) {
		err = -errno;
		fprintf(stderr, "hstrace: cannot open the BPF object: %s\n", strerror(-err));
		goto fail;
	}
	if (opts->ringbuf_bytes) {
		err = bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_bytes);
		if (err) {
			fprintf(stderr, "hstrace: bad ring buffer size %zu: %s\n",
				opts->ringbuf_bytes, strerror(-err));
			goto fail;
		}
	}
	/* The socket-call tracepoints came with Linux 6.3; without them hstrace does without
	 * what they add (socket_calls.bpf.h). */
	t->socket_calls = !opts->no_socket_calls &&
			  kernel_has_tracepoint(opts->btf_path, "sock_send_length") &&
			  kernel_has_tracepoint(opts->btf_path, "sock_recv_length");
	bpf_program__set_autoload(t->skel->progs.handle_sock_send, t->socket_calls);
	bpf_program__set_autoload(t->skel->progs.handle_sock_recv, t->socket_calls);
	/* When an outgoing segment reached the device (tls_capture.bpf.h, struct xmit_watch):
	 * without the tracepoint, out records keep the time their packet left TCP. */
	bpf_program__set_autoload(t->skel->progs.handle_xmit,
				  kernel_has_tracepoint(opts->btf_path, "net_dev_start_xmit"));
	t->skel->rodata->ssl_calls = opts->ssl_calls;

	err = hstrace_bpf__load(t->skel);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			fprintf(stderr, "hstrace: the kernel refused to load the BPF programs (%s): "
					"run as root%s\n", strerror(-err),
				opts->verbose ? "" : " (-v shows the verifier log)");
		else
			fprintf(stderr, "hstrace: failed to load the BPF programs: %s%s\n",
				strerror(-err), opts->verbose ? "" : " (-v shows details)");
		goto fail;
	}
	err = hstrace_bpf__attach(t->skel);
	if (err) {
		fprintf(stderr, "hstrace: failed to attach the BPF programs: %s%s\n",
			strerror(-err), opts->verbose ? "" : " (-v shows which)");
		goto fail;
	}
	err = attach_cgroup_programs(t);
	if (err)
		goto fail;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events),
				 (ring_buffer_sample_fn)opts->on_record, opts->ctx, NULL);
	if (!t->rb) {
		err = -errno;
		fprintf(stderr, "hstrace: cannot open the ring buffer: %s\n", strerror(-err));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	tracer_close(t);
	return err;
}

static int uprobe_keep(struct tracer *t, struct bpf_link *link)
{
	struct bpf_link **n;

	if (t->n_uprobes == t->cap_uprobes) {
		n = realloc(t->uprobes, (t->cap_uprobes * 2 + 8) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->uprobes = n;
		t->cap_uprobes = t->cap_uprobes * 2 + 8;
	}
	t->uprobes[t->n_uprobes++] = link;
	return 0;
}

/* Attaches prog to func in path; returns 0 or a negative errno. */
static int uprobe_attach(struct tracer *t, struct bpf_program *prog, const char *path,
			 const char *func, bool retprobe, uint32_t lib_id)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func, .retprobe = retprobe,
		    .bpf_cookie = lib_id);
	struct bpf_link *link;
	int err;

	link = bpf_program__attach_uprobe_opts(prog, -1, path, 0, &o);
	if (!link)
		return -errno;
	err = uprobe_keep(t, link);
	if (err)
		bpf_link__destroy(link);
	return err;
}

int tracer_attach_ssl(struct tracer *t, const char *path, uint32_t lib_id, bool handshake,
		      bool verify)
{
	struct hstrace_bpf *sk = t->skel;
	size_t before = t->n_uprobes;
	int err = -ENOENT;

	/* Return probes first: an entry without its return would leave a call open. */
	if (handshake) {
		err = uprobe_attach(t, sk->progs.handle_ssl_handshake_exit, path,
				    "SSL_do_handshake", true, lib_id);
		if (!err)
			err = uprobe_attach(t, sk->progs.handle_ssl_handshake_enter, path,
					    "SSL_do_handshake", false, lib_id);
	}
	if (verify && (!handshake || !err)) {
		err = uprobe_attach(t, sk->progs.handle_verify_exit, path, "X509_verify_cert",
				    true, lib_id);
		if (!err)
			err = uprobe_attach(t, sk->progs.handle_verify_enter, path,
					    "X509_verify_cert", false, lib_id);
	}
	if (err) {
		while (t->n_uprobes > before)
			bpf_link__destroy(t->uprobes[--t->n_uprobes]);
	}
	return err;
}

bool tracer_socket_calls(const struct tracer *t)
{
	return t->socket_calls;
}

int tracer_poll(struct tracer *t, int timeout_ms)
{
	int n, more;

	/* BPF wakes us only past RB_WAKEUP_BYTES (hstrace.bpf.c): after a poll that timed out,
	 * take what is waiting anyway. */
	n = ring_buffer__poll(t->rb, timeout_ms);
	if (n < 0)
		return n;
	more = ring_buffer__consume(t->rb);
	return more < 0 ? more : n + more;
}

int tracer_drain(struct tracer *t)
{
	return ring_buffer__consume(t->rb);
}

uint64_t tracer_lost(const struct tracer *t)
{
	return __atomic_load_n(&t->skel->bss->lost_records, __ATOMIC_RELAXED);
}

int tracer_take_lost_closes(struct tracer *t, void (*fn)(uint64_t cookie, uint64_t ts_ns,
							  void *ctx), void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.lost_closes), n = 0;
	uint64_t key, next, ts;
	uint64_t *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ts))
			continue;
		if (bpf_map_delete_elem(fd, &key))
			continue; /* taken by a concurrent reader: it is theirs */
		fn(key, ts, ctx);
		n++;
	}
	return errno == ENOENT ? n : -errno;
}

void tracer_close(struct tracer *t)
{
	size_t i;

	if (!t)
		return;
	while (t->n_uprobes)
		bpf_link__destroy(t->uprobes[--t->n_uprobes]);
	for (i = 0; i < sizeof(t->cgroup_links) / sizeof(t->cgroup_links[0]); i++)
		bpf_link__destroy(t->cgroup_links[i]);
	free(t->uprobes);
	ring_buffer__free(t->rb);
	hstrace_bpf__destroy(t->skel);
	free(t);
}
