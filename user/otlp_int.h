/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * otlp_int.h - what the OTLP request builders share (otlp_common.c), for otlp_spans.c and
 * otlp_metrics.c only; the public interface is otlp.h.
 *
 * A request is a tree of protobuf-c structures: every node, array and string of one request is
 * taken from an arena (a few large blocks) and freed at once after otlp_pack(). Attributes are
 * collected in a struct otlp_attrs, then moved into the arena for one message. Attribute names
 * follow the OpenTelemetry semantic conventions where one exists; the rest are hstrace.*. Every
 * name is an interface (dashboards query it, docs/otlp.md lists them): only add, never rename.
 */
#ifndef HSTRACE_OTLP_INT_H
#define HSTRACE_OTLP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opentelemetry/proto/common/v1/common.pb-c.h"
#include "opentelemetry/proto/resource/v1/resource.pb-c.h"

#include "otlp.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;

/* ---- arena ---- */

struct otlp_arena_block;

/* The memory of one request. Starts zeroed ({}); freed by otlp_arena_free(). */
struct otlp_arena {
	struct otlp_arena_block *head;
	bool failed; /* an allocation failed: the request is not built */
};

/* Returns n zeroed bytes (aligned for any type) that live until otlp_arena_free(), or NULL
 * when out of memory; then a->failed is set and every later call returns NULL too, so a
 * builder may check a->failed once at the end instead of after every allocation. */
void *otlp_arena_alloc(struct otlp_arena *a, size_t n);

/* Frees everything taken from a and leaves it empty (reusable). */
void otlp_arena_free(struct otlp_arena *a);

/* ---- attributes ---- */

/* Attributes kept for one message at most; more are counted in otlp_attrs.dropped. */
#define OTLP_ATTRS_MAX 48

/* A message's attributes as they are collected: start with { .a = arena }, add with
 * otlp_attr_*(), end with otlp_attrs_finish(). An attribute whose memory ran out is left out
 * (or left with an empty value) and the arena marked failed. */
struct otlp_attrs {
	struct otlp_arena *a;
	KeyValue *kv[OTLP_ATTRS_MAX];
	size_t n;
	uint32_t dropped; /* attributes past OTLP_ATTRS_MAX: for dropped_attributes_count */
};

/* The key is not copied: it must outlive the request (a string literal or a static name). */

/* Adds a string attribute: a copy of val up to its NUL, at most max bytes, every byte that is
 * not valid UTF-8 replaced by U+FFFD (protobuf strings must be UTF-8, and comm, SNI and ALPN
 * come from processes and peers). */
void otlp_attr_str_max(struct otlp_attrs *at, const char *key, const char *val, size_t max);

/* otlp_attr_str_max() with max 4096. */
void otlp_attr_str(struct otlp_attrs *at, const char *key, const char *val);

/* Adds an integer attribute. */
void otlp_attr_int(struct otlp_attrs *at, const char *key, int64_t val);

/* Adds a boolean attribute. */
void otlp_attr_bool(struct otlp_attrs *at, const char *key, bool val);

/* Adds a string-array attribute of the n strings vals[0..n) (n may be 0: an empty array),
 * each copied as otlp_attr_str_max() does with max. */
void otlp_attr_str_array(struct otlp_attrs *at, const char *key, const char *const *vals,
			 size_t n, size_t max);

/* Moves the collected attributes into the arena: sets *n and *kv for a message (0 and NULL
 * when there are none or memory ran out). at->dropped is left for the caller to copy. */
void otlp_attrs_finish(struct otlp_attrs *at, size_t *n, KeyValue ***kv);

/* ---- resource, scope, packing ---- */

/* Returns the Resource sent with every request (service.name, service.version; host.name and
 * service.instance.id from res's host name when set; res may be NULL), or NULL when out of
 * memory. */
Resource *otlp_make_resource(struct otlp_arena *a, const struct otlp_resource *res);

/* Returns the InstrumentationScope of every request (hstrace and its version), or NULL when
 * out of memory. */
Scope *otlp_make_scope(struct otlp_arena *a);

/* Packs msg into a malloc'ed buffer: returns 0 with *out (the caller frees it) of *out_len
 * bytes, or -ENOMEM and leaves *out and *out_len unchanged. */
int otlp_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

#endif /* HSTRACE_OTLP_INT_H */
