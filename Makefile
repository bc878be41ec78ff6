# hstrace - kernel-observed TCP + TLS handshake tracer.
#
#   make            build build/hstrace
#   make run        install missing packages, build, trace the whole host until Ctrl-C (root)
#   make test       install missing packages, build, run every test (root)
#   make unit       unit tests only (no root)
#   make deps       install missing Debian packages with apt-get
#   make install    PREFIX=/usr/local DESTDIR=
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
LDLIBS   := -lbpf -lelf -lz -ljson-c
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
	/usr/include/cmocka.h:libcmocka-dev
DEPS_TEST  := openssl:openssl curl:curl /usr/bin/python3:python3 ip:iproute2 \
	setpriv:util-linux

# Library code shared by hstrace and the unit tests (no BPF in here).
LIB_SRCS := user/collector.c user/collector_tls.c user/tls_parse.c user/timeline.c \
	user/render_text.c user/render_json.c user/filter.c
TOOL_SRCS := user/main.c user/cli.c user/tracer.c user/tracefs.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/%,$(wildcard tests/unit/test_*.c))

LIB_OBJS  := $(patsubst user/%.c,$(OUT)/%.o,$(LIB_SRCS))
TOOL_OBJS := $(patsubst user/%.c,$(OUT)/%.o,$(TOOL_SRCS))

.PHONY: all deps run test unit integration install clean FORCE
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

run: deps
	$(MAKE) all
	$(OUT)/hstrace $(ARGS)

unit: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do $$t || exit 1; done

test: deps
	$(MAKE) all $(UNIT_TESTS)
	$(PYTHON) tests/run.py $(TESTS)

install: $(OUT)/hstrace
	install -D -m 0755 $(OUT)/hstrace $(DESTDIR)$(PREFIX)/sbin/hstrace

clean:
	rm -rf $(OUT)

FORCE:

.SECONDARY:

-include $(wildcard $(OUT)/*.d)
