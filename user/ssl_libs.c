// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ssl_libs.c - find libssl/libcrypto and statically linked OpenSSL for the uprobes.
 *
 * Each file is looked at once: stat() gives its (dev, ino), and a file already in the `seen`
 * hash (with or without OpenSSL) is skipped before it is opened. A new file is read with
 * libelf (ELF_C_READ: headers and the sections asked for, no mmap, so a file truncated under
 * us gives a read error, not SIGBUS): its .dynsym and .symtab for the two functions and for
 * Go's runtime.*, its section names for .go.buildinfo, its .rodata for the version string.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ssl_libs.h"

/* uthash must not exit() when out of memory: a failed add marks the element instead. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) ((elt)->hash_oom = true)
#include <uthash.h>

#define SYM_HANDSHAKE "SSL_do_handshake"
#define SYM_VERIFY "X509_verify_cert"
#define RODATA_MAX (256u << 20) /* larger .rodata sections are not searched for a version */
#define DELETED_SUFFIX " (deleted)"

extern char **environ;

struct file_id {
	dev_t dev;
	ino_t ino;
};

/* A file inspected once: a library (err == 0, lib set) or a file without OpenSSL. */
struct seen {
	struct file_id id;
	int err; /* 0 or -ENOEXEC */
	struct ssl_lib *lib;
	bool hash_oom;
	UT_hash_handle hh;
};

/* Files found to hold no OpenSSL are remembered so that later scans skip them; past this many
 * (a host that keeps building or unpacking new executables), they are forgotten and looked at
 * again when next seen: memory stays bounded (~100 bytes each). */
#define SEEN_NEGATIVE_MAX 16384

struct ssl_libs {
	struct seen *seen;
	size_t n_negative; /* entries of seen without a library */
	struct ssl_lib **libs; /* in the order found */
	size_t n, cap;
	bool self_known; /* self_mnt/self_root are valid */
	struct file_id self_mnt, self_root;
};

static struct file_id file_id_of(const struct stat *st)
{
	struct file_id id;

	memset(&id, 0, sizeof(id)); /* the key is hashed as bytes */
	id.dev = st->st_dev;
	id.ino = st->st_ino;
	return id;
}

static struct seen *seen_find(const struct ssl_libs *s, const struct file_id *id)
{
	struct seen *e;

	HASH_FIND(hh, s->seen, id, sizeof(*id), e);
	return e;
}

struct ssl_libs *ssl_libs_new(void)
{
	struct ssl_libs *s = calloc(1, sizeof(*s));
	struct stat mnt, root;

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	elf_version(EV_CURRENT);
	if (stat("/proc/self/ns/mnt", &mnt) == 0 && stat("/", &root) == 0) {
		s->self_mnt = file_id_of(&mnt);
		s->self_root = file_id_of(&root);
		s->self_known = true;
	}
	return s;
}

void ssl_libs_free(struct ssl_libs *s)
{
	struct seen *e, *tmp;

	if (!s)
		return;
	HASH_ITER(hh, s->seen, e, tmp) {
		HASH_DEL(s->seen, e);
		free(e);
	}
	for (size_t i = 0; i < s->n; i++)
		free(s->libs[i]);
	free(s->libs);
	free(s);
}

size_t ssl_libs_count(const struct ssl_libs *s)
{
	return s ? s->n : 0;
}

size_t ssl_libs_remembered(const struct ssl_libs *s)
{
	return s ? HASH_COUNT(s->seen) : 0;
}

const struct ssl_lib *ssl_libs_get(const struct ssl_libs *s, size_t i)
{
	return s && i < s->n ? s->libs[i] : NULL;
}

/* ---- ELF inspection ---- */

/* Copies "OpenSSL 3.0.19" from "OpenSSL 3.0.19 30 Sep 2025" when `p` (inside buf[0..len))
 * starts such a string: at a string start, name, space, a digit, then [0-9A-Za-z.-]. */
static bool version_at(const char *buf, size_t len, const char *p, size_t name_len, char *out,
		       size_t out_len)
{
	const char *end = buf + len, *q = p + name_len + 1;

	if (p > buf && p[-1] != '\0')
		return false;
	if (q >= end || *q < '0' || *q > '9')
		return false;
	while (q < end && (*q == '.' || *q == '-' || (*q >= '0' && *q <= '9') ||
			   (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
		q++;
	if (q < end && *q != ' ' && *q != '\0')
		return false;
	if ((size_t)(q - p) >= out_len)
		return false;
	memcpy(out, p, q - p);
	out[q - p] = '\0';
	return true;
}

/* Searches one section's bytes for the first OpenSSL/LibreSSL version string. */
static bool version_in(const char *buf, size_t len, char *out, size_t out_len)
{
	static const char *const names[] = { "OpenSSL", "LibreSSL" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char pat[16];
		size_t plen = (size_t)snprintf(pat, sizeof(pat), "%s ", names[i]);
		const char *p = buf, *end = buf + len;

		while (p < end && (p = memmem(p, end - p, pat, plen))) {
			if (version_at(buf, len, p, plen - 1, out, out_len))
				return true;
			p += plen;
		}
	}
	return false;
}

static void version_from_scn(Elf_Scn *scn, const GElf_Shdr *sh, char *out, size_t out_len)
{
	Elf_Data *d;

	if (sh->sh_type != SHT_PROGBITS || sh->sh_size == 0 || sh->sh_size > RODATA_MAX)
		return;
	d = elf_getdata(scn, NULL);
	if (d && d->d_buf && d->d_size)
		version_in(d->d_buf, d->d_size, out, out_len);
}

/* Looks at the symbols of one .dynsym/.symtab section. */
static void scan_symbols(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct ssl_lib *lib)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT), n;

	if (!d || !entsize || d->d_type != ELF_T_SYM)
		return;
	n = d->d_size / entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int type;

		if (!gelf_getsym(d, (int)i, &sym))
			break;
		if (sym.st_shndx == SHN_UNDEF || sym.st_name == 0)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name)
			continue;
		if (!strcmp(name, SYM_HANDSHAKE))
			lib->has_handshake = true;
		else if (!strcmp(name, SYM_VERIFY))
			lib->has_verify = true;
		else if (!strncmp(name, "runtime.", 8))
			lib->is_go = true;
	}
}

/* The first DT_NEEDED entry naming libcrypto (a plain file name), into out. */
static void needed_libcrypto(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, char *out,
			     size_t out_len)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t entsize = gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT), n;

	if (!d || !entsize || d->d_type != ELF_T_DYN)
		return;
	n = d->d_size / entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Dyn dyn;
		const char *name;

		if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_NEEDED)
			continue;
		name = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);
		if (name && !strncmp(name, "libcrypto", 9) && !strchr(name, '/') &&
		    strlen(name) < out_len) {
			strcpy(out, name);
			return;
		}
	}
}

/* Fills lib's symbol flags, is_go, kind and version from the ELF file open on fd, and the
 * libcrypto it needs (or "") into needed. Returns 0 when it defines at least one of the two
 * functions, -ENOEXEC otherwise (not ELF, not an executable or shared object, damaged). */
static int elf_inspect(int fd, struct ssl_lib *lib, char *needed, size_t needed_len)
{
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	Elf_Scn *scn = NULL, *rodata = NULL;
	GElf_Shdr rodata_sh = { 0 };
	GElf_Ehdr eh;
	size_t shstrndx;
	bool names;
	int err = -ENOEXEC;

	needed[0] = '\0';
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
		goto out;
	names = elf_getshdrstrndx(elf, &shstrndx) == 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM || sh.sh_type == SHT_SYMTAB)
			scan_symbols(elf, scn, &sh, lib);
		else if (sh.sh_type == SHT_DYNAMIC)
			needed_libcrypto(elf, scn, &sh, needed, needed_len);
		name = names ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (!name)
			continue;
		if (!strcmp(name, ".go.buildinfo"))
			lib->is_go = true;
		else if (!strcmp(name, ".rodata") && !rodata) {
			rodata = scn;
			rodata_sh = sh;
		}
	}
	if (!lib->has_handshake && !lib->has_verify)
		goto out;
	lib->kind = lib->has_handshake && lib->has_verify ? SSL_LIB_STATIC
		    : lib->has_handshake			 ? SSL_LIB_LIBSSL
								 : SSL_LIB_LIBCRYPTO;
	if (rodata)
		version_from_scn(rodata, &rodata_sh, lib->version, sizeof(lib->version));
	err = 0;
out:
	elf_end(elf);
	return err;
}

/* The version string in the .rodata of the file at path, into out (unchanged if none). */
static void version_of_file(const char *path, char *out, size_t out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(elf, shstrndx, sh.sh_name);
			if (name && !strcmp(name, ".rodata")) {
				version_from_scn(scn, &sh, out, out_len);
				break;
			}
		}
	}
	elf_end(elf);
	close(fd);
}

/* ---- the set ---- */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Forgets every file remembered as holding no OpenSSL. */
static void forget_negatives(struct ssl_libs *s)
{
	struct seen *e, *tmp;

	HASH_ITER(hh, s->seen, e, tmp) {
		if (e->lib)
			continue;
		HASH_DEL(s->seen, e);
		free(e);
	}
	s->n_negative = 0;
}

static int remember(struct ssl_libs *s, const struct file_id *id, int err, struct ssl_lib *lib)
{
	struct seen *e;

	if (!lib && s->n_negative >= SEEN_NEGATIVE_MAX)
		forget_negatives(s);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (lib && s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct ssl_lib **libs = realloc(s->libs, cap * sizeof(*libs));

		if (!libs) {
			free(e);
			return -ENOMEM;
		}
		s->libs = libs;
		s->cap = cap;
	}
	e->id = *id;
	e->err = err;
	e->lib = lib;
	HASH_ADD(hh, s->seen, id, sizeof(e->id), e);
	if (e->hash_oom) {
		free(e);
		return -ENOMEM;
	}
	if (lib)
		s->libs[s->n++] = lib;
	else
		s->n_negative++;
	return 0;
}

/* Where a file was found, and what helps describe it. */
struct where {
	const char *path;	    /* to open */
	const struct stat *st;	    /* stat() of path, or NULL */
	const char *display;	    /* for people */
	const char *sibling_dir;    /* where a libssl's libcrypto may be (NULL: path's folder) */
	const char *crypto_version; /* of the libcrypto mapped next to a libssl, or NULL */
};

/* A libssl carries no version string: take the one of the libcrypto it is used with, else the
 * one of the libcrypto it needs, in its own folder. */
static void libssl_version(struct ssl_lib *lib, const struct where *w, const char *needed)
{
	char dir[4096], sib[4096 + 256];
	const char *slash, *sibling_dir = w->sibling_dir;

	if (w->crypto_version && w->crypto_version[0]) {
		copy_str(lib->version, sizeof(lib->version), w->crypto_version);
		return;
	}
	if (!needed[0])
		return;
	if (!sibling_dir) {
		slash = strrchr(w->path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - w->path) : 1,
			 slash ? w->path : ".");
		sibling_dir = dir;
	}
	snprintf(sib, sizeof(sib), "%s/%s", sibling_dir, needed);
	version_of_file(sib, lib->version, sizeof(lib->version));
}

/*
 * Inspects the file w->path unless its (dev, ino) was seen, and calls cb when it is a new
 * library. *libp (when libp is non-NULL) gets the library, new or known, or NULL. Returns 1
 * for a new library, 0 for a known one, -ENOEXEC when the file holds no OpenSSL (remembered),
 * another negative errno when it cannot be read (not remembered: a later scan tries again).
 */
static int consider(struct ssl_libs *s, const struct where *w, ssl_lib_found_fn cb, void *ctx,
		    const struct ssl_lib **libp)
{
	const struct stat *st = w->st;
	struct stat st_path, st_fd;
	struct file_id id;
	struct seen *e;
	struct ssl_lib *lib;
	char needed[256];
	int fd, err;

	if (libp)
		*libp = NULL;
	if (!st) {
		if (stat(w->path, &st_path) < 0)
			return -errno;
		st = &st_path;
	}
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	id = file_id_of(st);
	e = seen_find(s, &id);
	if (!e) {
		/* O_NONBLOCK: should the path have become a FIFO since stat() */
		fd = open(w->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return -errno;
		err = fstat(fd, &st_fd) < 0 ? -errno : !S_ISREG(st_fd.st_mode) ? -EINVAL : 0;
		if (err) {
			close(fd);
			return err;
		}
		id = file_id_of(&st_fd); /* the file actually opened, in case the path changed */
		e = seen_find(s, &id);
		if (e)
			close(fd);
	}
	if (e) {
		if (libp)
			*libp = e->lib;
		return e->err;
	}

	lib = calloc(1, sizeof(*lib));
	if (!lib) {
		close(fd);
		return -ENOMEM;
	}
	err = elf_inspect(fd, lib, needed, sizeof(needed));
	close(fd);
	if (err) {
		free(lib);
		return remember(s, &id, err, NULL) ?: err;
	}
	copy_str(lib->path, sizeof(lib->path), w->path);
	copy_str(lib->display, sizeof(lib->display), w->display);
	lib->dev = id.dev;
	lib->ino = id.ino;
	if (lib->kind == SSL_LIB_LIBSSL && !lib->version[0])
		libssl_version(lib, w, needed);
	err = remember(s, &id, 0, lib);
	if (err) {
		free(lib);
		return err;
	}
	if (libp)
		*libp = lib;
	if (cb)
		cb(lib, ctx);
	return 1;
}

int ssl_libs_add_path(struct ssl_libs *s, const char *path, ssl_lib_found_fn cb, void *ctx)
{
	struct where w = { .path = path, .display = path };
	int r = consider(s, &w, cb, ctx, NULL);

	return r < 0 ? r : 0;
}

/* libssl.so, libssl.so.3, libcrypto.so.1.1, libssl-1a2b3c4d.so.3 (auditwheel); not NSS's
 * libssl3.so. */
static bool lib_name_matches(const char *path)
{
	static const char *const prefixes[] = { "libssl", "libcrypto" };
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		const char *rest = base + n;

		if (strncmp(base, prefixes[i], n))
			continue;
		if (!strncmp(rest, ".so", 3) && (rest[3] == '\0' || rest[3] == '.'))
			return true;
		if (rest[0] == '-' && strstr(rest, ".so"))
			return true;
	}
	return false;
}

/* Runs `ldconfig -p` with its output on a pipe. Returns the read end, or -ENOENT. */
static int ldconfig_spawn(pid_t *child)
{
	static const char *const paths[] = { "/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig" };
	posix_spawn_file_actions_t fa;
	int p[2], err = ENOENT;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (posix_spawn_file_actions_init(&fa)) {
		close(p[0]);
		close(p[1]);
		return -ENOMEM;
	}
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *argv[] = { (char *)paths[i], (char *)"-p", NULL };

		if (paths[i][0] == '/' && access(paths[i], X_OK) < 0)
			continue;
		err = paths[i][0] == '/' ? posix_spawn(child, paths[i], &fa, NULL, argv, environ)
					 : posix_spawnp(child, paths[i], &fa, NULL, argv, environ);
		if (!err)
			break;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err) {
		close(p[0]);
		return -ENOENT;
	}
	return p[0];
}

int ssl_libs_scan_system(struct ssl_libs *s, ssl_lib_found_fn cb, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	int fd, status, found_n = 0, err = 0;
	pid_t child;
	FILE *f;

	fd = ldconfig_spawn(&child);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		err = -ENOMEM;
	}
	/* "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3" */
	while (f && getline(&line, &cap, f) > 0) {
		char *path = strstr(line, " => ");
		struct where w;
		int r;

		if (!path)
			continue;
		path += 4;
		path[strcspn(path, "\n")] = '\0';
		if (path[0] != '/' || !lib_name_matches(path))
			continue;
		w = (struct where){ .path = path, .display = path };
		r = consider(s, &w, cb, ctx, NULL);
		if (r == -ENOMEM) {
			err = r;
			break;
		}
		found_n += r == 1;
	}
	free(line);
	if (f)
		fclose(f); /* ldconfig gets EPIPE if it was still writing */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return err ?: found_n;
}

/* "" when pid sees the file system as we do (same mount namespace and root), else
 * "/proc/PID/root", the way to reach its files from here. */
static void pid_root(const struct ssl_libs *s, int pid, char *out, size_t len)
{
	char p[64];
	struct stat mnt, root;

	snprintf(out, len, "/proc/%d/root", pid);
	if (!s->self_known)
		return;
	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", pid);
	if (stat(p, &mnt) < 0)
		return;
	snprintf(p, sizeof(p), "/proc/%d/root", pid);
	if (stat(p, &root) < 0)
		return;
	if (mnt.st_dev == s->self_mnt.dev && mnt.st_ino == s->self_mnt.ino &&
	    root.st_dev == s->self_root.dev && root.st_ino == s->self_root.ino)
		out[0] = '\0';
}

/* The executable of pid, if new: static OpenSSL. Returns 1 when a library was found, 0, or
 * -ENOMEM. root is pid_root(), computed when first needed. */
static int scan_exe(struct ssl_libs *s, int pid, char *root, size_t root_len, bool *root_done,
		    ssl_lib_found_fn cb, void *ctx)
{
	char exe[64], link[4096], path[4096 + 64];
	struct stat st, st_path;
	struct file_id id;
	struct where w;
	ssize_t n;
	int r;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (stat(exe, &st) < 0 || !S_ISREG(st.st_mode)) /* kernel thread, zombie, gone */
		return 0;
	id = file_id_of(&st);
	if (seen_find(s, &id))
		return 0;
	n = readlink(exe, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	w = (struct where){ .path = exe, .st = &st, .display = link };
	if (ends_with(link, DELETED_SUFFIX)) {
		link[n - strlen(DELETED_SUFFIX)] = '\0';
	} else if (link[0] == '/') {
		if (!*root_done) {
			pid_root(s, pid, root, root_len);
			*root_done = true;
		}
		snprintf(path, sizeof(path), "%s%s", root, link);
		/* a path that still names the same file stays usable after the process exits */
		if (stat(path, &st_path) == 0 && st_path.st_dev == st.st_dev &&
		    st_path.st_ino == st.st_ino)
			w.path = path;
	}
	r = consider(s, &w, cb, ctx, NULL);
	return r == -ENOMEM ? r : r == 1;
}

/* One mapped file of a process, kept until the process's libcrypto has been seen. */
struct mapped {
	char *name;	/* as the process sees it, " (deleted)" cut off */
	char range[40]; /* "7f..000-7f..000" as map_files names it, to reach a deleted file */
	bool deleted;
};

#define DEFERRED_MAX 8

/* Inspects one mapped file of pid. Returns 1 for a new library, 0, or a negative errno;
 * *libp as consider(). */
static int scan_mapped(struct ssl_libs *s, int pid, const char *root, const struct mapped *m,
		       const char *crypto_version, ssl_lib_found_fn cb, void *ctx,
		       const struct ssl_lib **libp)
{
	char path[4096 + 64], dir[4096 + 64];
	const char *slash = strrchr(m->name, '/');
	struct where w = { .path = path, .display = m->name, .sibling_dir = dir,
			   .crypto_version = crypto_version };

	snprintf(dir, sizeof(dir), "%s%.*s", root, (int)(slash - m->name), m->name);
	if (m->deleted) /* the path names another file now, or none: use the mapping itself */
		snprintf(path, sizeof(path), "/proc/%d/map_files/%s", pid, m->range);
	else
		snprintf(path, sizeof(path), "%s%s", root, m->name);
	return consider(s, &w, cb, ctx, libp);
}

int ssl_libs_scan_pid(struct ssl_libs *s, int pid, ssl_lib_found_fn cb, void *ctx)
{
	char maps[64], root[64], prev[4096] = "", crypto_version[64] = "";
	struct mapped deferred[DEFERRED_MAX];
	size_t n_deferred = 0, cap = 0;
	char *line = NULL;
	bool root_done = false;
	int found_n = 0, err = 0, r;
	FILE *f;

	if (pid <= 0)
		return -ESRCH;
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : errno == EPERM ? -EACCES : -errno;
	/* "7f..000-7f..000 r-xp 00022000 08:01 1234     /usr/lib/x86_64-linux-gnu/libssl.so.3".
	 * libcrypto is inspected at once, libssl after the loop, so that a new libssl can
	 * borrow the version of the libcrypto its process uses. */
	while (getline(&line, &cap, f) > 0) {
		const struct ssl_lib *lib;
		struct mapped m = { .name = line };
		unsigned long start, end;

		for (int field = 0; field < 5 && *m.name; field++) { /* to the 6th field */
			m.name += strcspn(m.name, " ");
			m.name += strspn(m.name, " ");
		}
		m.name[strcspn(m.name, "\n")] = '\0';
		if (m.name[0] != '/')
			continue;
		m.deleted = ends_with(m.name, DELETED_SUFFIX);
		if (m.deleted)
			m.name[strlen(m.name) - strlen(DELETED_SUFFIX)] = '\0';
		if (!lib_name_matches(m.name) || !strcmp(m.name, prev)) /* mapped several times */
			continue;
		copy_str(prev, sizeof(prev), m.name);
		/* maps pads addresses to 8 digits ("%08lx"), map_files does not ("%lx") */
		if (sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		snprintf(m.range, sizeof(m.range), "%lx-%lx", start, end);
		if (!root_done) {
			pid_root(s, pid, root, sizeof(root));
			root_done = true;
		}
		if (!strncmp(strrchr(m.name, '/') + 1, "libssl", 6) && n_deferred < DEFERRED_MAX) {
			m.name = strdup(m.name);
			if (!m.name) {
				err = -ENOMEM;
				break;
			}
			deferred[n_deferred++] = m;
			continue;
		}
		r = scan_mapped(s, pid, root, &m, NULL, cb, ctx, &lib);
		if (r == -ENOMEM) {
			err = r;
			break;
		}
		found_n += r == 1;
		if (lib && lib->kind == SSL_LIB_LIBCRYPTO && lib->version[0])
			copy_str(crypto_version, sizeof(crypto_version), lib->version);
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < n_deferred; i++) {
		if (!err) {
			r = scan_mapped(s, pid, root, &deferred[i], crypto_version, cb, ctx, NULL);
			if (r == -ENOMEM)
				err = r;
			found_n += r == 1;
		}
		free(deferred[i].name);
	}
	if (!err) {
		r = scan_exe(s, pid, root, sizeof(root), &root_done, cb, ctx);
		if (r < 0)
			err = r;
		else
			found_n += r;
	}
	return err ?: found_n;
}

int ssl_libs_scan_all(struct ssl_libs *s, ssl_lib_found_fn cb, void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found_n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid;
		int r;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		pid = strtol(de->d_name, &end, 10);
		if (errno || *end || pid <= 0 || pid > 0x7fffffff)
			continue;
		r = ssl_libs_scan_pid(s, (int)pid, cb, ctx);
		if (r == -ENOMEM) {
			closedir(d);
			return r;
		}
		if (r > 0)
			found_n += r;
	}
	closedir(d);
	return found_n;
}
