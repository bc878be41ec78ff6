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
 * Opens path for writing and returns 0 with a stdio stream in *out (the caller fcloses it), or
 * a negative errno with *out NULL: -ELOOP when path is a symlink, -EAGAIN when it kept
 * appearing and vanishing, else open()'s error. A missing file is created with exactly `mode`
 * (permission bits only); an existing one is emptied when `truncate` is set (hstrace's start)
 * and kept as it is otherwise (output_file_reopen()). Nothing is created or truncated on error.
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

/* Parses an octal permission mode ("600", "0640": 0 to 0777, no set-id or sticky bits) into
 * *mode. Returns 0, or -EINVAL. */
int output_file_parse_mode(const char *s, mode_t *mode);

#endif /* HSTRACE_OUTPUT_FILE_H */
