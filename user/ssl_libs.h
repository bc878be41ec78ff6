/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ssl_libs.h - find the OpenSSL code on the host that uprobes can attach to.
 *
 * Three places hold it: the system's libssl/libcrypto (from the dynamic linker's cache), the
 * libraries each process has mapped (reached through /proc/PID/root, so containers and other
 * mount namespaces work), and executables with OpenSSL linked in statically. A file counts
 * when it defines SSL_do_handshake or X509_verify_cert as a function in .dynsym or .symtab
 * (an undefined import does not count). Files are told apart by (st_dev, st_ino): the same
 * file reached through several paths is one library, reported once. Every file inspected is
 * remembered, with or without OpenSSL, so a scan repeated over thousands of processes opens
 * each executable and library once.
 *
 * Plain C with libelf; no BPF. Not thread-safe: one struct ssl_libs per thread.
 */
#ifndef HSTRACE_SSL_LIBS_H
#define HSTRACE_SSL_LIBS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum ssl_lib_kind {
	SSL_LIB_LIBSSL = 1,    /* defines SSL_do_handshake only */
	SSL_LIB_LIBCRYPTO = 2, /* defines X509_verify_cert only */
	SSL_LIB_STATIC = 3,    /* defines both: OpenSSL linked into one executable or library */
};

struct ssl_lib {
	char path[4096];   /* to open/attach from hstrace's mount namespace: the plain path when
			    * the process shares our mount namespace and root, else
			    * /proc/PID/root/..., or /proc/PID/map_files/... for a mapped file
			    * that was deleted, or /proc/PID/exe. /proc paths are valid only
			    * while that process lives: attach from the callback. */
	char display[256]; /* the path as the process sees it (or as given), for messages/JSON;
			    * truncated when longer */
	char version[64];  /* "OpenSSL 3.0.19" (or "LibreSSL x.y.z") from the file's .rodata; for
			    * a libssl without one, from the libcrypto it needs in the same
			    * folder; "" when not found */
	dev_t dev;	   /* identity: st_dev, st_ino of the file */
	ino_t ino;
	enum ssl_lib_kind kind;
	bool has_handshake; /* defines SSL_do_handshake */
	bool has_verify;    /* defines X509_verify_cert */
	bool is_go;	    /* a Go binary (.go.buildinfo section or runtime.* symbols): Go moves
			     * goroutine stacks, so never attach return probes to it */
};

/* The libraries seen so far, deduplicated by (dev, ino). */
struct ssl_libs;

/* Called once for each library found for the first time. `lib` is owned by the set and stays
 * valid until ssl_libs_free(). */
typedef void (*ssl_lib_found_fn)(const struct ssl_lib *lib, void *ctx);

/* Returns an empty set, or NULL with errno = ENOMEM. */
struct ssl_libs *ssl_libs_new(void);

/* Frees the set and every struct ssl_lib it handed out. Accepts NULL. */
void ssl_libs_free(struct ssl_libs *s);

/* Inspects one file given by the user (--ssl-lib PATH): a library or an executable. Calls cb
 * (may be NULL) when it is a library not seen before. Returns 0 when the file holds OpenSSL
 * (new or already seen), -ENOENT (or another open()/stat() errno) when it cannot be read,
 * -ENOEXEC when it is not an ELF file or defines neither SSL_do_handshake nor
 * X509_verify_cert, -EINVAL when it is not a regular file, -ENOMEM. */
int ssl_libs_add_path(struct ssl_libs *s, const char *path, ssl_lib_found_fn cb, void *ctx);

/* Adds the system's libssl.so* / libcrypto.so* as listed by `ldconfig -p` (the dynamic
 * linker's cache, every ABI). Returns the number of libraries found for the first time,
 * -ENOENT when ldconfig cannot be run, -ENOMEM. */
int ssl_libs_scan_system(struct ssl_libs *s, ssl_lib_found_fn cb, void *ctx);

/* Adds what process `pid` has: every mapped file named libssl.so* / libcrypto.so* (also
 * auditwheel's libssl-HASH.so*), and its executable when that has OpenSSL linked in. Returns
 * the number of libraries found for the first time, -ESRCH when the process does not exist
 * (any more), -EACCES when its maps cannot be read, -ENOMEM. Files that vanish or cannot be
 * opened are skipped. */
int ssl_libs_scan_pid(struct ssl_libs *s, int pid, ssl_lib_found_fn cb, void *ctx);

/* ssl_libs_scan_pid() for every process in /proc. Processes that exit during the scan, or
 * whose maps cannot be read, are skipped. Returns the number of libraries found for the first
 * time, or a negative errno when /proc cannot be read or memory runs out. */
int ssl_libs_scan_all(struct ssl_libs *s, ssl_lib_found_fn cb, void *ctx);

/* Number of libraries in the set. */
size_t ssl_libs_count(const struct ssl_libs *s);

/* Files remembered as examined (OpenSSL or not): bounded, see SEEN_NEGATIVE_MAX. */
size_t ssl_libs_remembered(const struct ssl_libs *s);

/* The i-th library found (in the order found), or NULL when i >= ssl_libs_count(). */
const struct ssl_lib *ssl_libs_get(const struct ssl_libs *s, size_t i);

#endif /* HSTRACE_SSL_LIBS_H */
