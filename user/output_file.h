/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * output_file.h - the `-o FILE` output: created private, never through a symlink, reopened for
 * log rotation.
 *
 * Output holds addresses and server names, so a file hstrace creates gets OUTPUT_FILE_MODE
 * (0600) unless the caller asks for another mode, exactly (the umask does not apply). The last
 * path component is opened with O_NOFOLLOW: a symlink planted at the path (in a shared
 * directory) is refused, and the file it points to is neither created nor truncated. An
 * existing regular file keeps its owner and mode. Writes always append (O_APPEND), so a file
 * truncated behind hstrace's back (logrotate copytruncate) gets no hole.
 *
 * Not thread-safe; one owner (the main loop).
 */
#ifndef HSTRACE_OUTPUT_FILE_H
#define HSTRACE_OUTPUT_FILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define OUTPUT_FILE_MODE 0600

/*
 * The streams write in blocks of this size (with a flush between, e.g. once per pass of the
 * main loop): stdio's default is the file system's block size, 4 KiB on ext4, and a write()
 * per 4 KiB costs the kernel more than twice as much per byte (2.8 KB NDJSON lines into
 * ext4's page cache, flushed every 100 lines: ~3.2 ms of system time per 1,000 lines in
 * 4 KiB writes, ~1.2 ms in 64 KiB ones).
 */
#define OUTPUT_FILE_BUF_SIZE (64 * 1024)

/*
 * Opens path for writing and returns 0 with a stdio stream in *out (buffered in blocks of
 * OUTPUT_FILE_BUF_SIZE; the caller closes it with output_file_close()), or a negative errno
 * with *out NULL: -ELOOP when path is a symlink, -EAGAIN when it kept appearing and
 * vanishing, else open()'s error. A missing file is created with exactly `mode` (permission
 * bits only); an existing one is emptied when `truncate` is set (hstrace's start) and kept as
 * it is otherwise (output_file_reopen()). Nothing is created or truncated on error.
 */
int output_file_open(const char *path, mode_t mode, bool truncate, FILE **out);

/*
 * After log rotation (the file was renamed away, or not): flushes *stream, opens path again
 * without truncating it (as output_file_open() does, creating it when missing) and, on
 * success, closes the old stream and stores the new one in *stream. Call it between two
 * records, so that none is split across files. Returns 0; or a negative errno when the new
 * file cannot be opened or the old stream could not be written (*stream is then unchanged
 * and stays usable).
 */
int output_file_reopen(const char *path, mode_t mode, FILE **stream);

/* Closes a stream that output_file_open() or output_file_reopen() gave, as fclose() does
 * (returns 0, or EOF with errno set), and frees its buffer. */
int output_file_close(FILE *stream);

/* Parses an octal permission mode ("600", "0640": 0 to 0777, no set-id or sticky bits) into
 * *mode. Returns 0, or -EINVAL. */
int output_file_parse_mode(const char *s, mode_t *mode);

#endif /* HSTRACE_OUTPUT_FILE_H */
