// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * output_file.c - the `-o FILE` output: private mode, O_NOFOLLOW, reopen on SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output_file.h"

/* The buffer of an open stream, freed by output_file_close() (stdio does not free a buffer
 * given with setvbuf()); hstrace has one such stream open, two during output_file_reopen(). */
struct stream_buf {
	struct stream_buf *next;
	FILE *stream;
	char data[OUTPUT_FILE_BUF_SIZE];
};

static struct stream_buf *stream_bufs;

/* Gives a stream just opened its OUTPUT_FILE_BUF_SIZE buffer; without memory it keeps
 * stdio's (smaller) one. */
static void stream_buf_give(FILE *stream)
{
	struct stream_buf *b = malloc(sizeof(*b));

	if (!b)
		return;
	if (setvbuf(stream, b->data, _IOFBF, sizeof(b->data))) {
		free(b);
		return;
	}
	b->stream = stream;
	b->next = stream_bufs;
	stream_bufs = b;
}

int output_file_close(FILE *stream)
{
	struct stream_buf **p, *b;
	int ret = fclose(stream), err = errno;

	for (p = &stream_bufs; (b = *p); p = &b->next) {
		if (b->stream == stream) {
			*p = b->next;
			free(b);
			break;
		}
	}
	errno = err;
	return ret;
}

int output_file_open(const char *path, mode_t mode, bool truncate, FILE **out)
{
	const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC;
	int fd = -1, err, tries;
	FILE *f;

	*out = NULL;
	mode &= 0777;
	/* Create it (O_EXCL: never through a symlink, never someone else's file), or open the
	 * existing one; retry when it appears or goes away in between. */
	for (tries = 0; fd < 0 && tries < 8; tries++) {
		fd = open(path, flags | O_CREAT | O_EXCL, mode);
		if (fd >= 0) {
			/* Exactly the mode asked for, whatever the umask; a file system without
			 * modes (vfat) keeps what open() gave, which is no wider. */
			(void)fchmod(fd, mode);
			break;
		}
		if (errno != EEXIST)
			return -errno;
		fd = open(path, flags | (truncate ? O_TRUNC : 0));
		if (fd < 0 && errno != ENOENT)
			return -errno;
	}
	if (fd < 0)
		return -EAGAIN;
	f = fdopen(fd, "a");
	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	stream_buf_give(f);
	*out = f;
	return 0;
}

int output_file_reopen(const char *path, mode_t mode, FILE **stream)
{
	FILE *f;
	int err;

	if (fflush(*stream))
		return -errno;
	err = output_file_open(path, mode, false, &f);
	if (err)
		return err;
	output_file_close(*stream); /* flushed above: nothing left to write */
	*stream = f;
	return 0;
}

int output_file_parse_mode(const char *s, mode_t *mode)
{
	unsigned int v = 0;
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > 4)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -EINVAL;
		v = v * 8 + (unsigned int)(s[i] - '0');
	}
	if (v > 0777)
		return -EINVAL;
	*mode = v;
	return 0;
}
