# hstrace - kernel-observed TCP + TLS handshake tracer.
#
#   make            build build/hstrace
#   make run        install missing packages, build, trace the whole host until Ctrl-C (root)
#   make test       install missing packages, build, run every test (root)
#   make unit       unit tests only (no root)
#   make demo       a few local TLS 1.2/1.3 connections traced and shown (root)
#   make bench      benchmarks, results in docs/benchmarks.md (root; BENCH_QUICK=1: shorter)
#   make soak       hstrace on for SOAK_MINUTES (30) at 500 handshakes/s, good and failing
#   make fuzz       libFuzzer: TLS parsers, collector, NDJSON reader (FUZZ_SECONDS each, default 60)
#   make golden     regenerate the report golden files in tests/golden/
#   make deps       install missing Debian packages with apt-get
#   make install    PREFIX=/usr/local DESTDIR=  (binary, systemd unit, logrotate, man page)
#   V=1             show full commands

OUT      := build
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/')
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
PYTHON   ?= /usr/bin/python3
PREFIX   ?= /usr/local
DESTDIR  ?=
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -std=gnu11 -I$(OUT) -Ibpf -Iuser -MMD -MP
LDLIBS   := -lbpf -lelf -lz -ljson-c -lcrypto -lmicrohttpd
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -I$(OUT) -Ibpf

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian packages needed to build, run and test (command or header -> package).
DEPS_BUILD := clang:clang llvm-strip:llvm bpftool:bpftool pkg-config:pkg-config \
	/usr/include/bpf/libbpf.h:libbpf-dev /usr/include/gelf.h:libelf-dev \
	/usr/include/zlib.h:zlib1g-dev /usr/include/openssl/ssl.h:libssl-dev \
	/usr/include/json-c/json.h:libjson-c-dev /usr/include/uthash.h:uthash-dev \
	/usr/include/cmocka.h:libcmocka-dev /usr/include/microhttpd.h:libmicrohttpd-dev \
	protoc-c:protobuf-c-compiler /usr/include/protobuf-c/protobuf-c.h:libprotobuf-c-dev \
	curl-config:libcurl4-openssl-dev protoc:protobuf-compiler npm:npm
DEPS_TEST  := openssl:openssl curl:curl /usr/bin/python3:python3 ip:iproute2 \
	setpriv:util-linux /usr/bin/gnutls-cli:gnutls-bin /usr/sbin/nginx:nginx \
	objcopy:binutils tshark:tshark bpftrace:bpftrace wrk:wrk nft:nftables perf:linux-perf \
	logrotate:logrotate systemd-analyze:systemd groff:groff-base man:man-db \
	/usr/lib/python3/dist-packages/yaml/__init__.py:python3-yaml \
	promtool:prometheus \
	/usr/lib/python3/dist-packages/google/protobuf/__init__.py:python3-protobuf \
	chromium:chromium go:golang-go

# Library code shared by hstrace and the unit tests (no BPF in here).
LIB_SRCS := user/json_build.c user/cookie_table.c user/collector.c user/collector_tls.c user/collector_ssl.c user/tls_parse.c user/timeline.c user/present.c user/conn_id.c \
	user/render_text.c user/render_json.c user/filter.c user/report.c user/report_text.c \
	user/report_json.c user/report_cmd.c user/report_join.c user/report_html.c user/ndjson_read.c user/render_timeline.c user/color.c \
	user/report_html_keep.c user/report_html_waterfall.c user/ssl_libs.c user/metrics_registry.c \
	user/metrics.c
TOOL_SRCS := user/main.c user/cli.c user/tracer.c user/ssl_probes.c user/metrics_http.c \
	user/output_file.c user/process_usage.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/%,$(wildcard tests/unit/test_*.c))

LIB_OBJS  := $(patsubst user/%.c,$(OUT)/%.o,$(LIB_SRCS))
TOOL_OBJS := $(patsubst user/%.c,$(OUT)/%.o,$(TOOL_SRCS))

.PHONY: all deps run test unit integration bench install clean FORCE
all: $(OUT)/hstrace

$(OUT):
	$(Q)mkdir -p $@

# vmlinux.h from the running kernel's BTF, replaced only when it changed.
$(OUT)/vmlinux.h: FORCE | $(OUT)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; echo "  GEN      $@"; fi

$(OUT)/%.tmp.bpf.o: bpf/%.bpf.c $(OUT)/vmlinux.h | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MT $@ -c $< -o $@

$(OUT)/%.bpf.o: $(OUT)/%.tmp.bpf.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUT)/tracer.o: $(OUT)/hstrace.skel.h

$(OUT)/%.o: user/%.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/hstrace: $(TOOL_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/test_%.o: tests/unit/test_%.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/test_%: $(OUT)/test_%.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lcmocka -o $@

deps:
	@missing=""; \
	for d in $(DEPS_BUILD) $(DEPS_TEST); do \
		what=$${d%%:*}; pkg=$${d##*:}; \
		case $$what in /*) [ -e $$what ] ;; *) command -v $$what >/dev/null 2>&1 ;; esac \
			|| missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS    installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
			|| { echo "make deps: apt-get install$$missing failed" >&2; exit 1; }; \
	fi
	$(Q)$(MAKE) -s --no-print-directory otlp-proto

run: deps
	$(MAKE) all
	$(OUT)/hstrace $(ARGS)

unit: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do $$t || exit 1; done

test: deps
	$(MAKE) all $(UNIT_TESTS)
	$(PYTHON) tests/run.py $(TESTS)

# demo: trace a few TLS 1.2 and 1.3 handshakes between local test peers (openssl s_server,
# curl, openssl s_client) and print their timelines (root; tools/demo.sh).
.PHONY: demo
demo: deps
	$(MAKE) all
	PYTHON=$(PYTHON) sh tools/demo.sh

bench: deps
	$(MAKE) all
	tools/bench.sh

# soak: hstrace left on for SOAK_MINUTES under good and failing handshakes (tools/soak.py):
# RSS flat within 5 %, 0 lost; prints a section for docs/benchmarks.md. By hand, not in CI.
SOAK_MINUTES ?= 30
.PHONY: soak
soak: deps
	$(MAKE) all
	$(PYTHON) tools/soak.py --minutes $(SOAK_MINUTES)

# The binary, the systemd unit (ExecStart pointed at $(PREFIX)/sbin/hstrace), the logrotate
# snippet and the man page (docs/deploy.md). Then, on the host: systemctl daemon-reload.
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
install: $(OUT)/hstrace
	install -D -m 0755 $(OUT)/hstrace $(DESTDIR)$(PREFIX)/sbin/hstrace
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/sbin/hstrace|$(PREFIX)/sbin/hstrace|' deploy/hstrace.service \
		> $(DESTDIR)$(UNITDIR)/hstrace.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hstrace.service
	install -D -m 0644 deploy/hstrace.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/hstrace
	install -D -m 0644 docs/hstrace.8 $(DESTDIR)$(MANDIR)/man8/hstrace.8

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/hstrace $(DESTDIR)$(UNITDIR)/hstrace.service \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/hstrace $(DESTDIR)$(MANDIR)/man8/hstrace.8

clean:
	rm -rf $(OUT)

FORCE:

.SECONDARY:
.DELETE_ON_ERROR:

-include $(wildcard $(OUT)/*.d)

# ---- fuzz (begin) ---------------------------------------------------------------------------
#   make fuzz                          build every tests/fuzz/fuzz_*.c, run each FUZZ_SECONDS
#   make fuzz FUZZ_TARGETS=fuzz_tls_parse FUZZ_SECONDS=600
# Each target starts from a seed corpus made from tests/fixtures/tls/ (whole captures, and the
# same minus their 9 record + handshake header bytes) and keeps what it learns in
# build/fuzz/corpus-<target>/. A crash stops `make fuzz` with the reproducer saved as
# build/fuzz/<target>-crash-*; rerun it with build/fuzz/<target> FILE. Needs clang's libFuzzer
# runtime (Debian: libclang-rt-<clang major>-dev), installed with apt-get when missing (root).
# Seeds also come from tests/fuzz/seeds/<target>/ and the reproducers tests/fuzz/regress/
# <target>-*; fuzz_ndjson also gets tests/golden/*.ndjson, plain, gzip and gzip cut short.
# Targets, invariants and figures: docs/fuzzing.md.
FUZZ_DIR     := $(OUT)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -std=gnu11 -Ibpf -Iuser
FUZZ_HDRS    := $(wildcard bpf/*.h user/*.h)
# No allocation stacks recorded and a small quarantine: 2.5x the executions per second for
# fuzz_ndjson, which allocates a lot (json-c). A crash reproducer rerun by hand gets ASan's
# defaults back (full stacks); ASAN_OPTIONS in the environment overrides this.
FUZZ_ASAN_OPTIONS := malloc_context_size=0:quarantine_size_mb=16

# apt-get install $(1) (a shell word), as `make deps` does.
fuzz_install = echo "  DEPS     installing: $(1)"; \
	if [ "$$(id -u)" != 0 ]; then echo "make fuzz: run as root to install: $(1)" >&2; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null \
		|| { echo "make fuzz: apt-get install $(1) failed" >&2; exit 1; }

.PHONY: fuzz fuzz-build fuzz-deps

$(FUZZ_DIR):
	$(Q)mkdir -p $@

# clang, and a libFuzzer runtime it can link (probed by linking an empty target).
fuzz-deps: | $(FUZZ_DIR)
	@command -v $(CLANG) >/dev/null 2>&1 || { $(call fuzz_install,clang); }; \
	probe=$(FUZZ_DIR)/probe; \
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return !d && n; }\n' > $$probe.c; \
	if ! $(CLANG) -fsanitize=fuzzer $$probe.c -o $$probe >/dev/null 2>&1; then \
		pkg=libclang-rt-$$($(CLANG) -dumpversion | cut -d. -f1)-dev; \
		$(call fuzz_install,$$pkg); \
		$(CLANG) -fsanitize=fuzzer $$probe.c -o $$probe || { \
			echo "make fuzz: $(CLANG) cannot link libFuzzer, even with $$pkg" >&2; exit 1; }; \
	fi; \
	rm -f $$probe $$probe.c

# Library sources each target links besides its own file (header-only code needs none).
$(FUZZ_DIR)/fuzz_tls_parse: user/tls_parse.c
$(FUZZ_DIR)/fuzz_ndjson: user/ndjson_read.c user/report.c user/report_text.c user/report_json.c \
	user/report_join.c user/present.c user/conn_id.c user/timeline.c user/tls_parse.c \
	user/json_build.c
$(FUZZ_DIR)/fuzz_ndjson: FUZZ_LIBS := -ljson-c -lz -lcrypto -lpthread
$(FUZZ_DIR)/fuzz_ndjson: FUZZ_DEFS := -DNDJSON_READ_CHUNK=1024
$(FUZZ_DIR)/fuzz_collector: user/collector.c user/collector_tls.c user/collector_ssl.c \
	user/cookie_table.c user/tls_parse.c user/timeline.c user/conn_id.c user/render_text.c \
	user/render_json.c user/render_timeline.c user/json_build.c user/present.c user/color.c \
	user/report.c user/report_text.c user/report_json.c
$(FUZZ_DIR)/fuzz_collector: FUZZ_LIBS := -ljson-c -lcrypto

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) | fuzz-deps $(FUZZ_DIR)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_DEFS) $(filter %.c,$^) $(FUZZ_LIBS) -o $@

fuzz-build: $(patsubst %,$(FUZZ_DIR)/%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		seed=$(FUZZ_DIR)/seed-$$t; corpus=$(FUZZ_DIR)/corpus-$$t; \
		rm -rf $$seed; mkdir -p $$seed $$corpus; \
		for f in tests/fixtures/tls/*.bin; do \
			b=$$(basename $$f .bin); cp $$f $$seed/$$b; tail -c +10 $$f > $$seed/$$b.body; \
		done; \
		if [ -d tests/fuzz/seeds/$$t ]; then cp tests/fuzz/seeds/$$t/* $$seed/; fi; \
		for f in tests/fuzz/regress/$$t-*; do [ -f $$f ] && cp $$f $$seed/; done; \
		if [ $$t = fuzz_ndjson ]; then for f in tests/golden/*.ndjson; do \
			b=golden_$$(basename $$f); cp $$f $$seed/$$b; gzip -9nc $$f > $$seed/$$b.gz; \
			gzip -9nc $$f | head -c 200 > $$seed/$$b.cut.gz; \
		done; fi; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "  FUZZ     $$t for $(FUZZ_SECONDS)s (log: $(FUZZ_DIR)/$$t.log)"; \
		ASAN_OPTIONS=$${ASAN_OPTIONS:-$(FUZZ_ASAN_OPTIONS)} \
		$(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/$$t- $$dict $$corpus $$seed \
			> $(FUZZ_DIR)/$$t.log 2>&1 \
			|| { tail -n 40 $(FUZZ_DIR)/$$t.log; echo "make fuzz: $$t failed" >&2; exit 1; }; \
		grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' \
			$(FUZZ_DIR)/$$t.log | sed 's/^/           /'; \
	done
# ---- fuzz (end) -----------------------------------------------------------------------------

# ---- tools (begin) --------------------------------------------------------------------------
#   make tools       build/netdelay (user-space delay line between two network namespaces) and
#                    build/hs_load (TLS handshake load generator), used by the accuracy tests
#                    and by make bench; build/bench_replay (hstrace's user-space CPU per
#                    handshake on a synthetic record stream, no BPF, no root); build/probe_cost
#                    (what one call of a probed OpenSSL function costs its caller)
TOOLS := $(OUT)/netdelay $(OUT)/hs_load $(OUT)/bench_replay $(OUT)/metrics_bench \
	$(OUT)/probe_cost

.PHONY: tools
tools: $(TOOLS)
all: tools

$(OUT)/netdelay: tools/netdelay.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUT)/hs_load: tools/hs_load.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lssl -lcrypto -lm -o $@

$(OUT)/probe_cost: tools/probe_cost.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lcrypto -o $@

$(OUT)/bench_replay.o: tools/bench_replay.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/bench_replay: $(OUT)/bench_replay.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# build/metrics_bench: what --metrics costs per connection end and per scrape (no root)
$(OUT)/metrics_bench.o: tools/metrics_bench.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/metrics_bench: $(OUT)/metrics_bench.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Programs tests/integration/test_traced_programs.py runs under hstrace: an OpenSSL client
# linked with libssl.so.3, the same with OpenSSL linked in statically, one under a strict
# seccomp filter, one that loads libssl with dlopen() and unloads it.
TRACED_TOOLS := $(OUT)/traced_tls_client $(OUT)/traced_tls_static $(OUT)/seccomp_tls_client \
	$(OUT)/traced_dlopen_client
tools: $(TRACED_TOOLS)

$(OUT)/traced_tls_client: tools/traced_tls_client.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lssl -lcrypto -lpthread -o $@

$(OUT)/traced_tls_static: tools/traced_tls_client.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -l:libssl.a -l:libcrypto.a -lpthread -ldl -o $@

$(OUT)/seccomp_tls_client: tools/seccomp_tls_client.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -lssl -lcrypto -o $@

$(OUT)/traced_dlopen_client: tools/traced_dlopen_client.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -ldl -o $@
# ---- tools (end) ----------------------------------------------------------------------------

# ---- report (begin) -------------------------------------------------------------------------
#   make golden        rewrite the expected outputs of the golden report tests (tests/golden/cases
#                      and the HTML pages) with build/hstrace; review the diff before committing
#   make bench-report  `hstrace report` (text, JSON, HTML) vs jq on 1,000,000 records
#                      (tools/bench_report.sh)
.PHONY: golden bench-report
golden: $(OUT)/hstrace $(OUT)/test_report_html
	@grep -v '^#' tests/golden/cases | while read -r expected fixture args; do \
		[ -n "$$expected" ] || continue; \
		echo "  GOLDEN   $$expected"; \
		$(OUT)/hstrace report $$args $$fixture > $$expected 2>/dev/null || exit 1; \
	done
	@echo "  GOLDEN   tests/golden/*.html"; HSTRACE_GOLDEN_UPDATE=1 $(OUT)/test_report_html >/dev/null

bench-report: $(OUT)/hstrace
	tools/bench_report.sh $(BENCH_REPORT_RECORDS)
# ---- report (end) ---------------------------------------------------------------------------

# ---- otlp (begin) ---------------------------------------------------------------------------
#   make otlp-proto  (run by make deps) fetch the official opentelemetry-proto definitions
# --otlp URL (docs/otlp.md) encodes with protobuf-c. The .proto files come from a pinned npm
# package that ships them in build/protos/: `npm pack` (npm checks the registry's integrity
# value) into build/otlp-proto/, then the tarball's sha512 is compared with the pin below.
# They are never committed. Debian's protoc-c 1.4.1 rejects proto3 `optional`
# (metrics.proto: HistogramDataPoint sum, min, max): the copy in build/otlp-proto/c/ has the
# keyword dropped, which keeps the wire format but loses presence (a zero sum/min/max is not
# sent). tools/otlp_receiver.py decodes with Python classes that protoc generates from the
# unmodified files (build/otlp-py/).
OTLP_NPM_PKG    := @opentelemetry/otlp-grpc-exporter-base
OTLP_NPM_VER    := 0.38.0
OTLP_NPM_SHA512 := wwGxeJt80w+mIA0aE+K9OshkyEoYQrXuwXl1TNZBs9K7qE4AAiEuxU9cbd3VX3BTsp+xzNcDRWIb9WWkiU9+kA==
OTLP_DIR     := $(OUT)/otlp-proto
OTLP_GEN     := $(OUT)/otlp-gen
OTLP_PY      := $(OUT)/otlp-py
OTLP_PROTOS  := common/v1/common resource/v1/resource trace/v1/trace metrics/v1/metrics \
	collector/trace/v1/trace_service collector/metrics/v1/metrics_service
OTLP_PB_C    := $(patsubst %,$(OTLP_GEN)/opentelemetry/proto/%.pb-c.c,$(OTLP_PROTOS))
OTLP_PB_OBJS := $(OTLP_PB_C:.c=.o)

CFLAGS += -I$(OTLP_GEN)
LDLIBS += -lprotobuf-c -lcurl -lpthread

.PHONY: otlp-proto
otlp-proto: $(OTLP_DIR)/.stamp
all: $(OTLP_PY)/.stamp

$(OTLP_DIR)/.stamp:
	$(call msg,NPM,$(OTLP_NPM_PKG)@$(OTLP_NPM_VER))
	$(Q)rm -rf $(OTLP_DIR) && mkdir -p $(OTLP_DIR)/pack
	$(Q)npm pack --silent --ignore-scripts --pack-destination $(OTLP_DIR)/pack \
		$(OTLP_NPM_PKG)@$(OTLP_NPM_VER) >/dev/null
	$(Q)sum=$$(openssl dgst -sha512 -binary $(OTLP_DIR)/pack/*.tgz | base64 -w0); \
	if [ "$$sum" != "$(OTLP_NPM_SHA512)" ]; then \
		echo "otlp-proto: $(OTLP_NPM_PKG)@$(OTLP_NPM_VER): sha512-$$sum, expected" \
			"sha512-$(OTLP_NPM_SHA512)" >&2; exit 1; fi
	$(Q)tar xzf $(OTLP_DIR)/pack/*.tgz -C $(OTLP_DIR)/pack
	$(Q)mkdir -p $(OTLP_DIR)/src && cp -r $(OTLP_DIR)/pack/package/build/protos/opentelemetry \
		$(OTLP_DIR)/src/
	$(Q)cp -r $(OTLP_DIR)/src $(OTLP_DIR)/c
	$(Q)find $(OTLP_DIR)/c -name '*.proto' \
		-exec sed -i -E 's/^([[:space:]]*)optional[[:space:]]+/\1/' {} +
	$(Q)touch $@

$(OTLP_GEN)/.stamp: $(OTLP_DIR)/.stamp
	$(call msg,PROTOC-C,$(OTLP_GEN))
	$(Q)rm -rf $(OTLP_GEN) && mkdir -p $(OTLP_GEN)
	$(Q)protoc-c --c_out=$(OTLP_GEN) -I$(OTLP_DIR)/c \
		$(patsubst %,$(OTLP_DIR)/c/opentelemetry/proto/%.proto,$(OTLP_PROTOS))
	$(Q)touch $@

$(OTLP_PY)/.stamp: $(OTLP_DIR)/.stamp
	$(call msg,PROTOC,$(OTLP_PY))
	$(Q)rm -rf $(OTLP_PY) && mkdir -p $(OTLP_PY)
	$(Q)protoc --python_out=$(OTLP_PY) -I$(OTLP_DIR)/src \
		$(patsubst %,$(OTLP_DIR)/src/opentelemetry/proto/%.proto,$(OTLP_PROTOS))
	$(Q)touch $@

$(OTLP_PB_C): $(OTLP_GEN)/.stamp

$(OTLP_GEN)/%.pb-c.o: $(OTLP_GEN)/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The request builders (otlp.h): shared helpers (otlp_int.h), span ids, traces, metrics.
OTLP_OBJS    := $(OUT)/otlp_common.o $(OUT)/otlp_ids.o $(OUT)/otlp_spans.o $(OUT)/otlp_metrics.o

$(OTLP_OBJS) $(OUT)/otlp_export.o $(OUT)/test_otlp.o: $(OTLP_GEN)/.stamp
$(OUT)/hstrace: $(OTLP_OBJS) $(OUT)/otlp_export.o $(OTLP_PB_OBJS)
$(OUT)/test_otlp: $(OTLP_OBJS) $(OTLP_PB_OBJS)
# ---- otlp (end) -----------------------------------------------------------------------------
