// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_ids.c - the trace and span ids of a connection's OTLP spans (see otlp.h, docs/otlp.md):
 * from its conn_id when it has one, so both ends agree without talking, else random.
 */
#include <errno.h>
#include <string.h>

#include <sys/random.h>

#include "conn_id.h"
#include "otlp.h"

int otlp_span_ids_for(const struct timeline *tl, struct otlp_span_ids *ids)
{
	uint8_t buf[24];
	size_t got = 0;
	ssize_t n;

	memset(ids->parent_span_id, 0, sizeof(ids->parent_span_id));
	/* Both ends of a connection, on any host: one trace, the server's connection span a
	 * child of the client's (conn_id.h), with nothing passed between the hosts. */
	if (tl->conn_id && (tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER)) {
		conn_id_trace_id(tl->conn_id, ids->trace_id);
		conn_id_span_id(tl->conn_id, tl->role, ids->span_id);
		if (tl->role == ROLE_SERVER)
			conn_id_span_id(tl->conn_id, ROLE_CLIENT, ids->parent_span_id);
		return 0;
	}
	while (got < sizeof(buf)) {
		n = getrandom(buf + got, sizeof(buf) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	memcpy(ids->trace_id, buf, 16);
	memcpy(ids->span_id, buf + 16, 8);
	/* All-zero ids are invalid (W3C trace context). */
	ids->trace_id[15] |= ids->trace_id[0] ? 0 : 1;
	ids->span_id[7] |= ids->span_id[0] ? 0 : 1;
	return 0;
}

/* splitmix64's finaliser: a bijection on 64-bit values. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void otlp_phase_span_id(const uint8_t root_span_id[8], size_t index, uint8_t out[8])
{
	uint64_t root = 0, id;
	int i;

	for (i = 0; i < 8; i++)
		root = root << 8 | root_span_id[i];
	/* Distinct indexes give distinct inputs, so distinct outputs (mix64 is a bijection). */
	id = mix64(root + 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1));
	if (!id)
		id = 1;
	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)id;
		id >>= 8;
	}
}
