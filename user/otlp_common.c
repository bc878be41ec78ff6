// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_common.c - what the OTLP trace and metric requests share (see otlp_int.h): the arena
 * their protobuf-c structures live in, attribute (KeyValue) builders, the resource and scope,
 * packing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_int.h"
#include "present.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;

/* The generated names, shorter. */
#define VALUE_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define VALUE_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define VALUE_BOOL OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
#define VALUE_ARRAY OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE

#define SCOPE_NAME "hstrace"
#define SCOPE_VERSION "0.1"
#define SERVICE_NAME "hstrace"

/* ---- arena ---- */

struct otlp_arena_block {
	struct otlp_arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK (64 * 1024)

void *otlp_arena_alloc(struct otlp_arena *a, size_t n)
{
	struct otlp_arena_block *b = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (a->failed)
		return NULL;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b) {
			a->failed = true;
			return NULL;
		}
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

void otlp_arena_free(struct otlp_arena *a)
{
	while (a->head) {
		struct otlp_arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

/* ---- strings ---- */

/* A copy of the first bytes of s (up to its NUL, at most max) in the arena, every byte that is
 * not valid UTF-8 replaced by U+FFFD: protobuf strings must be UTF-8, and comm, SNI and ALPN
 * come from processes and peers. */
static char *utf8_dup(struct otlp_arena *a, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strnlen(str, max), i = 0, o = 0;
	char *out = otlp_arena_alloc(a, n * 3 + 1);

	if (!out)
		return NULL;
	while (i < n) {
		size_t len = present_utf8_seq_len(s + i, n - i);

		if (len) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- attributes ---- */

static AnyValue *attr_slot(struct otlp_attrs *at, const char *key)
{
	KeyValue *kv;
	AnyValue *v;

	if (at->n >= OTLP_ATTRS_MAX) {
		at->dropped++;
		return NULL;
	}
	kv = otlp_arena_alloc(at->a, sizeof(*kv));
	v = otlp_arena_alloc(at->a, sizeof(*v));
	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key; /* keys are string literals or phase names: never freed */
	kv->value = v;
	at->kv[at->n++] = kv;
	return v;
}

void otlp_attr_str_max(struct otlp_attrs *at, const char *key, const char *val, size_t max)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_STRING;
	v->string_value = utf8_dup(at->a, val, max);
	if (!v->string_value)
		v->string_value = (char *)"";
}

void otlp_attr_str(struct otlp_attrs *at, const char *key, const char *val)
{
	otlp_attr_str_max(at, key, val, 4096);
}

void otlp_attr_int(struct otlp_attrs *at, const char *key, int64_t val)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_INT;
	v->int_value = val;
}

void otlp_attr_bool(struct otlp_attrs *at, const char *key, bool val)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_BOOL;
	v->bool_value = val;
}

void otlp_attr_str_array(struct otlp_attrs *at, const char *key, const char *const *vals,
			 size_t n, size_t max)
{
	AnyValue *v = attr_slot(at, key), **items;
	ArrayValue *arr;
	size_t i;

	if (!v)
		return;
	arr = otlp_arena_alloc(at->a, sizeof(*arr));
	items = otlp_arena_alloc(at->a, (n ? n : 1) * sizeof(*items));
	if (!arr || !items)
		return;
	opentelemetry__proto__common__v1__array_value__init(arr);
	for (i = 0; i < n; i++) {
		items[i] = otlp_arena_alloc(at->a, sizeof(**items));
		if (!items[i])
			return;
		opentelemetry__proto__common__v1__any_value__init(items[i]);
		items[i]->value_case = VALUE_STRING;
		items[i]->string_value = utf8_dup(at->a, vals[i], max);
		if (!items[i]->string_value)
			return;
	}
	arr->n_values = n;
	arr->values = items;
	v->value_case = VALUE_ARRAY;
	v->array_value = arr;
}

void otlp_attrs_finish(struct otlp_attrs *at, size_t *n, KeyValue ***kv)
{
	KeyValue **arr = otlp_arena_alloc(at->a, (at->n ? at->n : 1) * sizeof(*arr));

	*n = 0;
	*kv = NULL;
	if (!arr || !at->n)
		return;
	memcpy(arr, at->kv, at->n * sizeof(*arr));
	*n = at->n;
	*kv = arr;
}

/* ---- resource, scope, packing ---- */

Resource *otlp_make_resource(struct otlp_arena *a, const struct otlp_resource *res)
{
	Resource *r = otlp_arena_alloc(a, sizeof(*r));
	struct otlp_attrs at = { .a = a };

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	otlp_attr_str(&at, "service.name", SERVICE_NAME);
	otlp_attr_str(&at, "service.version", SCOPE_VERSION);
	if (res && res->host_name && res->host_name[0]) {
		otlp_attr_str(&at, "host.name", res->host_name);
		/* one hstrace per host: the OTel -> Prometheus translation makes it the `instance`
		 * label (service.name makes `job`), so each host's series stay apart and the
		 * dashboard's instance variable has values, as with a scrape */
		otlp_attr_str(&at, "service.instance.id", res->host_name);
	}
	otlp_attrs_finish(&at, &r->n_attributes, &r->attributes);
	return r;
}

Scope *otlp_make_scope(struct otlp_arena *a)
{
	Scope *s = otlp_arena_alloc(a, sizeof(*s));

	if (!s)
		return NULL;
	opentelemetry__proto__common__v1__instrumentation_scope__init(s);
	s->name = (char *)SCOPE_NAME;
	s->version = (char *)SCOPE_VERSION;
	return s;
}

int otlp_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	*out_len = protobuf_c_message_pack(msg, buf);
	*out = buf;
	return 0;
}
