// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_ssl_libs.c - finding libssl/libcrypto and static OpenSSL on this machine.
 *
 * Uses the real system libraries (from `ldconfig -p`), copies of them in a temporary folder,
 * a child process that dlopen()s a copy, and files made with objcopy (binutils; those tests are
 * skipped without it). No root needed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ssl_libs.h"

#define VERSION_PREFIX "OpenSSL 3.0." /* Debian 12 */

static char tmpdir[] = "/tmp/test_ssl_libs.XXXXXX";
static char sys_libssl[PATH_MAX], sys_libcrypto[PATH_MAX];

/* What the callback saw. */
struct found {
	int calls;
	const struct ssl_lib *last;
};

static void on_found(const struct ssl_lib *lib, void *ctx)
{
	struct found *f = ctx;

	f->calls++;
	f->last = lib;
}

/* tmpdir/name into buf. */
static const char *tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* Copies the first `limit` bytes of src (all when limit is SIZE_MAX) to dst (replaced). */
static void copy_file(const char *src, const char *dst, size_t limit)
{
	char buf[65536];
	int in = open(src, O_RDONLY), out;
	size_t done = 0;

	assert_true(in >= 0);
	unlink(dst);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	assert_true(out >= 0);
	while (done < limit) {
		size_t want = limit - done < sizeof(buf) ? limit - done : sizeof(buf);
		ssize_t n = read(in, buf, want);

		assert_true(n >= 0);
		if (n == 0)
			break;
		assert_int_equal(write(out, buf, n), n);
		done += n;
	}
	close(in);
	close(out);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static ino_t file_ino(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static const struct ssl_lib *find_ino(const struct ssl_libs *s, ino_t ino)
{
	for (size_t i = 0; i < ssl_libs_count(s); i++)
		if (ssl_libs_get(s, i)->ino == ino)
			return ssl_libs_get(s, i);
	return NULL;
}

/* Runs a command (argv[0] searched in PATH) with stdout/stderr to /dev/null; returns its exit
 * status, or -1 when it cannot run. */
static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}

static bool have_objcopy(void)
{
	char *argv[] = { "objcopy", "--version", NULL };

	return run(argv) == 0;
}

/* ---- group setup: the temporary folder, the system's libraries ---- */

static int setup(void **state)
{
	struct ssl_libs *s = ssl_libs_new();

	(void)state;
	if (!s || !mkdtemp(tmpdir))
		return -1;
	ssl_libs_scan_system(s, NULL, NULL);
	for (size_t i = 0; i < ssl_libs_count(s); i++) {
		const struct ssl_lib *lib = ssl_libs_get(s, i);

		if (lib->kind == SSL_LIB_LIBSSL && !sys_libssl[0])
			snprintf(sys_libssl, sizeof(sys_libssl), "%s", lib->path);
		if (lib->kind == SSL_LIB_LIBCRYPTO && !sys_libcrypto[0])
			snprintf(sys_libcrypto, sizeof(sys_libcrypto), "%s", lib->path);
	}
	ssl_libs_free(s);
	if (!sys_libssl[0] || !sys_libcrypto[0]) {
		fprintf(stderr, "# no system libssl/libcrypto found through ldconfig -p\n");
		return -1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- tests ---- */

static void test_system_libraries(void **state)
{
	struct ssl_libs *s = ssl_libs_new();
	struct found f = { 0 };
	const struct ssl_lib *libssl = NULL, *libcrypto = NULL;
	int n;

	(void)state;
	assert_non_null(s);
	n = ssl_libs_scan_system(s, on_found, &f);
	assert_true(n >= 2);
	assert_int_equal(f.calls, n);
	assert_int_equal(ssl_libs_count(s), (size_t)n);
	for (size_t i = 0; i < ssl_libs_count(s); i++) {
		const struct ssl_lib *lib = ssl_libs_get(s, i);

		if (lib->kind == SSL_LIB_LIBSSL)
			libssl = lib;
		else if (lib->kind == SSL_LIB_LIBCRYPTO)
			libcrypto = lib;
	}
	assert_null(ssl_libs_get(s, ssl_libs_count(s)));
	assert_non_null(libssl);
	assert_true(libssl->has_handshake);
	assert_false(libssl->has_verify);
	assert_false(libssl->is_go);
	assert_true(!strncmp(libssl->version, VERSION_PREFIX, strlen(VERSION_PREFIX)));
	assert_non_null(strstr(libssl->display, "libssl.so"));
	assert_non_null(libcrypto);
	assert_true(libcrypto->has_verify);
	assert_false(libcrypto->has_handshake);
	assert_string_equal(libcrypto->version, libssl->version);
	assert_int_equal(libcrypto->ino, file_ino(libcrypto->path));

	/* nothing new the second time */
	assert_int_equal(ssl_libs_scan_system(s, on_found, &f), 0);
	assert_int_equal(f.calls, n);
	ssl_libs_free(s);
}

static void test_same_file_two_paths(void **state)
{
	struct ssl_libs *s = ssl_libs_new();
	struct found f = { 0 };
	char via_proc[PATH_MAX + 32], a[PATH_MAX], b[PATH_MAX];
	int n;

	(void)state;
	assert_int_equal(ssl_libs_add_path(s, sys_libssl, on_found, &f), 0);
	assert_int_equal(f.calls, 1);
	assert_string_equal(f.last->path, sys_libssl);
	assert_string_equal(f.last->display, sys_libssl);

	snprintf(via_proc, sizeof(via_proc), "/proc/self/root%s", sys_libssl);
	assert_int_equal(ssl_libs_add_path(s, via_proc, on_found, &f), 0);
	assert_int_equal(f.calls, 1);
	assert_int_equal(ssl_libs_count(s), 1);

	/* a copy is another library; a hard link to the copy is the copy */
	copy_file(sys_libssl, tmp_path(a, sizeof(a), "copy.so"), SIZE_MAX);
	unlink(tmp_path(b, sizeof(b), "hardlink.so"));
	assert_int_equal(link(a, b), 0);
	assert_int_equal(ssl_libs_add_path(s, a, on_found, &f), 0);
	assert_int_equal(f.calls, 2);
	assert_int_equal(f.last->ino, file_ino(a));
	assert_int_equal(f.last->kind, SSL_LIB_LIBSSL);
	assert_int_equal(ssl_libs_add_path(s, b, on_found, &f), 0);
	assert_int_equal(f.calls, 2);
	assert_int_equal(ssl_libs_count(s), 2);

	/* the system scan adds libcrypto (and any other version installed), not libssl again */
	n = ssl_libs_scan_system(s, on_found, &f);
	assert_true(n >= 1);
	assert_int_equal(f.calls, 2 + n);
	assert_int_equal(ssl_libs_count(s), 2 + (size_t)n);
	assert_non_null(find_ino(s, file_ino(sys_libcrypto)));
	ssl_libs_free(s);
}

/* A child that dlopen()s each of `libs` (NULL-terminated) and waits to be killed. With
 * bind_src, it first moves to a mount namespace of its own where bind_src is bind-mounted on
 * bind_dst (root only). Returns its pid once the libraries are mapped. */
static pid_t start_child_ns(const char *const *libs, const char *bind_src, const char *bind_dst)
{
	int p[2];
	char c;
	pid_t pid, parent;

	assert_int_equal(pipe(p), 0);
	parent = getpid();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		/* dies with the test, should a failed assertion skip stop_child() */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		if (bind_src && (unshare(CLONE_NEWNS) < 0 ||
				 mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
				 mount(bind_src, bind_dst, "none", MS_BIND, NULL) < 0))
			_exit(1);
		for (; *libs; libs++)
			if (!dlopen(*libs, RTLD_NOW | RTLD_LOCAL))
				_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1); /* 0: the child failed */
	close(p[0]);
	return pid;
}

static pid_t start_child(const char *const *libs)
{
	return start_child_ns(libs, NULL, NULL);
}

/* Whether /proc/PID/maps names `path`. */
static bool maps_contain(pid_t pid, const char *path)
{
	char maps[64], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "r");
	assert_non_null(f);
	while (!found && getline(&line, &cap, f) > 0)
		found = strstr(line, path) != NULL;
	free(line);
	fclose(f);
	return found;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_scan_pid_finds_copy(void **state)
{
	struct ssl_libs *s = ssl_libs_new();
	struct found f = { 0 };
	char sub[PATH_MAX], copy[PATH_MAX], nss[PATH_MAX];
	const char *libs[3] = { copy, nss, NULL };
	const struct ssl_lib *lib;
	size_t before, copies = 0;
	pid_t child;
	int n;

	(void)state;
	/* copy/libssl.so.3, and the same bytes under NSS's name libssl3.so (not OpenSSL's name) */
	tmp_path(sub, sizeof(sub), "copy");
	mkdir(sub, 0755);
	copy_file(sys_libssl, tmp_path(copy, sizeof(copy), "copy/libssl.so.3"), SIZE_MAX);
	copy_file(sys_libssl, tmp_path(nss, sizeof(nss), "copy/libssl3.so"), SIZE_MAX);
	child = start_child(libs);
	assert_true(maps_contain(child, copy));
	assert_true(maps_contain(child, nss));

	assert_int_equal(ssl_libs_add_path(s, sys_libssl, NULL, NULL), 0);
	n = ssl_libs_scan_pid(s, child, on_found, &f);
	/* the copy; the system libcrypto the copy needs; not libssl3.so; not the test binary */
	assert_int_equal(n, 2);
	assert_int_equal(f.calls, 2);
	lib = find_ino(s, file_ino(copy));
	assert_non_null(lib);
	assert_int_equal(lib->kind, SSL_LIB_LIBSSL);
	assert_string_equal(lib->display, copy);
	assert_string_equal(lib->path, copy); /* same mount namespace: the plain path */
	/* no libcrypto next to the copy: the version of the libcrypto the child uses */
	assert_true(!strncmp(lib->version, VERSION_PREFIX, strlen(VERSION_PREFIX)));
	lib = find_ino(s, file_ino(sys_libcrypto));
	assert_non_null(lib);
	assert_int_equal(lib->kind, SSL_LIB_LIBCRYPTO);
	assert_null(find_ino(s, file_ino(nss)));
	assert_int_equal(ssl_libs_scan_pid(s, child, on_found, &f), 0);
	ssl_libs_free(s);

	/* the whole host, in a new set, finds the child's copy too */
	s = ssl_libs_new();
	n = ssl_libs_scan_all(s, NULL, NULL);
	assert_true(n >= 2);
	assert_int_equal(ssl_libs_count(s), (size_t)n);
	assert_non_null(find_ino(s, file_ino(copy)));
	/* again: what was seen is not reported twice (other processes may have started since) */
	before = ssl_libs_count(s);
	n = ssl_libs_scan_all(s, NULL, NULL);
	assert_true(n >= 0);
	assert_int_equal(ssl_libs_count(s), before + (size_t)n);
	for (size_t i = 0; i < ssl_libs_count(s); i++)
		copies += ssl_libs_get(s, i)->ino == file_ino(copy);
	assert_int_equal(copies, 1);
	ssl_libs_free(s);
	stop_child(child);
}

/* A process in another mount namespace: its library is reached through /proc/PID/root. */
static void test_scan_pid_other_mount_ns(void **state)
{
	struct ssl_libs *s;
	struct found f = { 0 };
	char staging[PATH_MAX], lib_staged[PATH_MAX], seen_dir[PATH_MAX], lib_seen[PATH_MAX];
	char want_path[PATH_MAX + 64];
	const char *libs[2] = { lib_seen, NULL };
	pid_t child;

	(void)state;
	if (geteuid() != 0)
		skip(); /* unshare(CLONE_NEWNS) and mount() */
	mkdir(tmp_path(staging, sizeof(staging), "staging"), 0755);
	mkdir(tmp_path(seen_dir, sizeof(seen_dir), "ns"), 0755);
	copy_file(sys_libssl, tmp_path(lib_staged, sizeof(lib_staged), "staging/libssl.so.3"),
		  SIZE_MAX);
	tmp_path(lib_seen, sizeof(lib_seen), "ns/libssl.so.3"); /* only inside the child's ns */
	child = start_child_ns(libs, staging, seen_dir);
	assert_int_equal(access(lib_seen, F_OK), -1);

	s = ssl_libs_new();
	assert_int_equal(ssl_libs_add_path(s, sys_libcrypto, NULL, NULL), 0);
	assert_int_equal(ssl_libs_scan_pid(s, child, on_found, &f), 1);
	assert_int_equal(f.last->ino, file_ino(lib_staged));
	assert_string_equal(f.last->display, lib_seen);
	snprintf(want_path, sizeof(want_path), "/proc/%d/root%s", (int)child, lib_seen);
	assert_string_equal(f.last->path, want_path);
	assert_true(!strncmp(f.last->version, VERSION_PREFIX, strlen(VERSION_PREFIX)));
	/* the same file by the path we see it at */
	assert_int_equal(ssl_libs_add_path(s, lib_staged, on_found, &f), 0);
	assert_int_equal(f.calls, 1);
	ssl_libs_free(s);
	stop_child(child);
}

/* A library deleted while mapped (an upgrade): reached through /proc/PID/map_files. */
static void test_scan_pid_deleted_library(void **state)
{
	struct ssl_libs *s;
	struct found f = { 0 };
	char dir[PATH_MAX], lib[PATH_MAX], want_prefix[64];
	const char *libs[2] = { lib, NULL };
	pid_t child;
	ino_t ino;

	(void)state;
	if (geteuid() != 0)
		skip(); /* /proc/PID/map_files needs CAP_SYS_ADMIN */
	mkdir(tmp_path(dir, sizeof(dir), "deleted"), 0755);
	copy_file(sys_libssl, tmp_path(lib, sizeof(lib), "deleted/libssl.so.3"), SIZE_MAX);
	ino = file_ino(lib);
	child = start_child(libs);
	assert_int_equal(unlink(lib), 0);

	s = ssl_libs_new();
	assert_int_equal(ssl_libs_add_path(s, sys_libcrypto, NULL, NULL), 0);
	assert_int_equal(ssl_libs_scan_pid(s, child, on_found, &f), 1);
	assert_int_equal(f.last->ino, ino);
	assert_string_equal(f.last->display, lib);
	snprintf(want_prefix, sizeof(want_prefix), "/proc/%d/map_files/", (int)child);
	assert_true(!strncmp(f.last->path, want_prefix, strlen(want_prefix)));
	ssl_libs_free(s);
	stop_child(child);
}

static void test_scan_pid_gone(void **state)
{
	struct ssl_libs *s;
	pid_t child = fork();

	(void)state;
	assert_true(child >= 0);
	if (child == 0) /* killed, not exiting: valgrind checks no leaks in a killed child */
		for (;;)
			pause();
	stop_child(child);
	s = ssl_libs_new();
	assert_int_equal(ssl_libs_scan_pid(s, child, NULL, NULL), -ESRCH);
	assert_int_equal(ssl_libs_scan_pid(s, -1, NULL, NULL), -ESRCH);
	assert_int_equal(ssl_libs_scan_pid(s, 0, NULL, NULL), -ESRCH);
	assert_int_equal(ssl_libs_scan_pid(s, INT_MAX, NULL, NULL), -ESRCH);
	/* a process with no OpenSSL mapped whose executable has none: sleep(1) (not this test,
	 * which links libcrypto through the library code) */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) { /* until the exec is done */
		char exe[PATH_MAX] = "";
		char link[64];

		snprintf(link, sizeof(link), "/proc/%d/exe", (int)child);
		if (readlink(link, exe, sizeof(exe) - 1) > 0 && strstr(exe, "sleep"))
			break;
		usleep(1000);
	}
	assert_int_equal(ssl_libs_scan_pid(s, child, NULL, NULL), 0);
	stop_child(child);
	assert_int_equal(ssl_libs_count(s), 0);
	ssl_libs_free(s);
	ssl_libs_free(NULL);
	assert_int_equal(ssl_libs_count(NULL), 0);
}

static void test_rejects_files_without_openssl(void **state)
{
	struct ssl_libs *s = ssl_libs_new();
	struct found f = { 0 };
	char text[PATH_MAX], empty[PATH_MAX];
	static const char hello[] = "#!/bin/sh\necho SSL_do_handshake\n";

	(void)state;
	assert_int_equal(ssl_libs_add_path(s, "/bin/true", on_found, &f), -ENOEXEC);
	assert_int_equal(ssl_libs_add_path(s, "/bin/true", on_found, &f), -ENOEXEC); /* cached */
	/* imports SSL_do_handshake from libssl: not static OpenSSL */
	if (access("/usr/bin/openssl", R_OK) == 0)
		assert_int_equal(ssl_libs_add_path(s, "/usr/bin/openssl", on_found, &f), -ENOEXEC);
	assert_int_equal(ssl_libs_add_path(s, "/nonexistent/libssl.so.3", on_found, &f), -ENOENT);
	assert_int_equal(ssl_libs_add_path(s, tmpdir, on_found, &f), -EINVAL);
	assert_int_equal(ssl_libs_add_path(s, "/dev/null", on_found, &f), -EINVAL);
	write_file(tmp_path(text, sizeof(text), "script.sh"), hello, sizeof(hello) - 1);
	assert_int_equal(ssl_libs_add_path(s, text, on_found, &f), -ENOEXEC);
	write_file(tmp_path(empty, sizeof(empty), "empty"), "", 0);
	assert_int_equal(ssl_libs_add_path(s, empty, on_found, &f), -ENOEXEC);
	assert_int_equal(f.calls, 0);
	assert_int_equal(ssl_libs_count(s), 0);
	ssl_libs_free(s);
}

/* Files without OpenSSL are remembered (later scans skip them) up to a bound: past 16,384 they
 * are forgotten and examined again when seen, so memory stays bounded on a host that keeps
 * making new executables; a library found is never forgotten. */
static void test_remembered_bounded(void **state)
{
	struct ssl_libs *s = ssl_libs_new();
	char path[PATH_MAX], name[32];
	int i;

	(void)state;
	for (i = 0; i < 16384 + 10; i++) { /* a new file (inode) each, as a build would make */
		snprintf(name, sizeof(name), "f%d", i);
		write_file(tmp_path(path, sizeof(path), name), "x", 1);
		assert_int_equal(ssl_libs_add_path(s, path, NULL, NULL), -ENOEXEC);
	}
	assert_true(ssl_libs_remembered(s) <= 16384);
	assert_true(ssl_libs_remembered(s) >= 10);
	for (i = 0; i < 16384 + 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		unlink(tmp_path(path, sizeof(path), name));
	}
	ssl_libs_free(s);
}

/* A result for a damaged file: found (it may still hold the symbols) or -ENOEXEC. */
static void check_damaged(const char *path)
{
	struct ssl_libs *s = ssl_libs_new(); /* a new set: the file may reuse an inode */
	int r = ssl_libs_add_path(s, path, NULL, NULL);

	assert_true(r == 0 || r == -ENOEXEC);
	if (r == 0) {
		const struct ssl_lib *lib = ssl_libs_get(s, 0);

		assert_true(lib->has_handshake || lib->has_verify);
		assert_non_null(memchr(lib->version, '\0', sizeof(lib->version)));
	}
	ssl_libs_free(s);
}

static void test_hostile_files(void **state)
{
	static const size_t cuts[] = { 1, 4, 5, 16, 52, 63, 64, 65, 128, 1000, 4096, 65536 };
	char path[PATH_MAX];
	off_t size = file_size(sys_libssl);
	uint8_t *buf = malloc(size);
	int fd;

	(void)state;
	assert_non_null(buf);
	tmp_path(path, sizeof(path), "damaged.so");

	/* truncated copies */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		copy_file(sys_libssl, path, cuts[i]);
		check_damaged(path);
	}
	copy_file(sys_libssl, path, size / 2);
	check_damaged(path);
	copy_file(sys_libssl, path, size - 1);
	check_damaged(path);

	/* random bytes, with and without the ELF magic in front */
	srand(1234);
	for (int i = 0; i < 20; i++) {
		size_t len = 64 + (size_t)rand() % 8192;

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand();
		if (i % 2)
			memcpy(buf, "\177ELF\2\1\1", 7);
		write_file(path, buf, len);
		check_damaged(path);
	}

	/* the real file with random bytes overwritten: headers, section headers, anywhere */
	fd = open(sys_libssl, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, size), size);
	close(fd);
	for (int i = 0; i < 60; i++) {
		uint8_t *copy = malloc(size);
		/* where: the ELF header, the section header table at the end, or anywhere */
		size_t zone = i % 3 == 0 ? 64 : i % 3 == 1 ? 4096 : (size_t)size;
		size_t base = i % 3 == 1 ? (size_t)size - zone : 0;

		assert_non_null(copy);
		memcpy(copy, buf, size);
		for (int k = 0; k < 16; k++)
			copy[base + (size_t)rand() % zone] = (uint8_t)rand();
		write_file(path, copy, size);
		free(copy);
		check_damaged(path);
	}
	free(buf);
}

static void test_static_openssl(void **state)
{
	struct ssl_libs *s;
	struct found f = { 0 };
	char both[PATH_MAX], object[PATH_MAX];
	char *add_funcs[] = { "objcopy", "--add-symbol", "SSL_do_handshake=.text:0,function,global",
			      "--add-symbol", "X509_verify_cert=.text:0x10,function,global",
			      "/bin/true", both, NULL };
	char *add_object[] = { "objcopy", "--add-symbol", "SSL_do_handshake=.text:0,object,global",
			       "/bin/true", object, NULL };

	(void)state;
	if (!have_objcopy())
		skip();
	tmp_path(both, sizeof(both), "static_exe");
	tmp_path(object, sizeof(object), "object_exe");
	assert_int_equal(run(add_funcs), 0);
	assert_int_equal(run(add_object), 0);

	s = ssl_libs_new();
	assert_int_equal(ssl_libs_add_path(s, both, on_found, &f), 0);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.last->kind, SSL_LIB_STATIC);
	assert_true(f.last->has_handshake);
	assert_true(f.last->has_verify);
	assert_false(f.last->is_go);
	assert_string_equal(f.last->version, ""); /* /bin/true has no OpenSSL version string */
	/* a data symbol by that name is not a function */
	assert_int_equal(ssl_libs_add_path(s, object, on_found, &f), -ENOEXEC);
	ssl_libs_free(s);
}

static void test_go_binaries(void **state)
{
	struct ssl_libs *s;
	struct found f = { 0 };
	char payload[PATH_MAX], section[PATH_MAX], symbol[PATH_MAX], arg[PATH_MAX + 32];
	char *add_section[] = { "objcopy", "--add-section", arg, sys_libssl, section, NULL };
	char *add_symbol[] = { "objcopy", "--add-symbol", "runtime.main=.text:0x10,function,global",
			       sys_libssl, symbol, NULL };

	(void)state;
	if (!have_objcopy())
		skip();
	write_file(tmp_path(payload, sizeof(payload), "buildinfo"), "\xff Go buildinf:", 14);
	snprintf(arg, sizeof(arg), ".go.buildinfo=%s", payload);
	tmp_path(section, sizeof(section), "go_section.so");
	tmp_path(symbol, sizeof(symbol), "go_symbol.so");
	assert_int_equal(run(add_section), 0);
	assert_int_equal(run(add_symbol), 0);

	s = ssl_libs_new();
	assert_int_equal(ssl_libs_add_path(s, section, on_found, &f), 0);
	assert_int_equal(f.calls, 1);
	assert_true(f.last->is_go);
	assert_true(f.last->has_handshake);
	assert_int_equal(ssl_libs_add_path(s, symbol, on_found, &f), 0); /* runtime.* in .symtab */
	assert_int_equal(f.calls, 2);
	assert_true(f.last->is_go);
	assert_int_equal(ssl_libs_add_path(s, sys_libssl, on_found, &f), 0);
	assert_int_equal(f.calls, 3);
	assert_false(f.last->is_go);
	ssl_libs_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_libraries),
		cmocka_unit_test(test_same_file_two_paths),
		cmocka_unit_test(test_scan_pid_finds_copy),
		cmocka_unit_test(test_scan_pid_other_mount_ns),
		cmocka_unit_test(test_scan_pid_deleted_library),
		cmocka_unit_test(test_scan_pid_gone),
		cmocka_unit_test(test_rejects_files_without_openssl),
		cmocka_unit_test(test_remembered_bounded),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_static_openssl),
		cmocka_unit_test(test_go_binaries),
	};

	return cmocka_run_group_tests_name("ssl_libs", tests, setup, teardown);
}
