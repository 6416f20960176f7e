# chald: a challenge daemon for CTFs. See README.md.
#
#   make              build ./chald (installs missing Debian packages first)
#   make run          serve the example challenge on 127.0.0.1:1337 (and
#                     install nc to play it with)
#   make check        every test; SAN=1 builds and tests under ASan+UBSan
#   make bench        the benchmark (bench/README.md)
#   make image        the OCI image, a drop-in for pwn.red/jail (docs/deploy.md)
#   make check-image  the image end to end under podman (heavy, not in check)
#   make check-docker the image under docker (heavy, not in check)
#   make check-k8s    render deploy/k8s and validate it (not in check)
#   make fuzz         each libFuzzer harness for FUZZ_SECS s (tests/fuzz/README.md)

CC	?= cc
PYTHON	:= /usr/bin/python3
PREFIX	?= /usr/local

WARN	:= -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral \
	   -Wvla -Wcast-qual -Wundef -Wno-format-truncation
ifeq ($(WERROR),1)
WARN	+= -Werror
endif
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 $(WARN) -D_GNU_SOURCE -fstack-protector-strong
LDLIBS	:= $(shell pkg-config --libs inih libseccomp gmp 2>/dev/null || \
	     echo -linih -lseccomp -lgmp) -lm -pthread

ifeq ($(SAN),1)
BUILD	:= build-san
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
else
BUILD	:= build
endif

SRCS	:= main.c config.c sessions.c log.c daemon.c listen.c spawn.c \
	   clock.c confload.c watch.c listener.c pool.c session.c reap.c \
	   reload.c loop.c gate.c notify.c \
	   child.c sandbox.c jailfs.c jailid.c jailspec.c cgroup.c cgspare.c \
	   seccomp.c \
	   audit.c peerlock.c initbin.c proxy.c pow.c jailenv.c image.c \
	   preflight.c \
	   peer.c jailview.c netpool.c forker.c fdpass.c netsnap.c netlo.c strikes.c \
	   http.c metrics.c admin.c health.c
OBJS	:= $(SRCS:%.c=$(BUILD)/%.o)
PURE	:= $(BUILD)/config.o $(BUILD)/sessions.o $(BUILD)/log.o \
	   $(BUILD)/jailview.o $(BUILD)/jailfs.o \
	   $(BUILD)/listen.o $(BUILD)/child.o $(BUILD)/seccomp.o \
	   $(BUILD)/jailspec.o $(BUILD)/proxy.o $(BUILD)/pow.o \
	   $(BUILD)/jailenv.o $(BUILD)/notify.o $(BUILD)/audit.o \
	   $(BUILD)/peerlock.o $(BUILD)/http.o $(BUILD)/metrics.o \
	   $(BUILD)/netsnap.o $(BUILD)/strikes.o $(BUILD)/cgspare.o
UNIT	:= test_config test_sessions test_log test_jailspec test_proxy test_pow \
	   test_jailenv test_notify test_seccomp test_seccomp_parts test_jailview \
	   test_http test_metrics test_netsnap test_strikes test_cgspare
PROGS	:= $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c)) \
	   $(BUILD)/progs/jailprobe32

.PHONY: all run check unit integration clean deps deps-test install examples

all: chald examples

chald: $(BUILD)/chald
ifneq ($(SAN),1)
	cp $(BUILD)/chald chald
endif

$(BUILD)/.deps:
	@sh scripts/deps.sh build
	@mkdir -p $(BUILD)/progs $(BUILD)/unit && touch $@

$(BUILD)/.deps-test: $(BUILD)/.deps
	@sh scripts/deps.sh test
	@touch $@

HDRS	:= $(wildcard src/*.h)

$(BUILD)/%.o: src/%.c $(HDRS) $(BUILD)/.deps
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/chald: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

# The jail's init: a small static program that chald embeds (initbin.c)
# and execs for every jail. Linked with musl when musl-gcc is there (it is
# chosen when the recipe runs, after .deps installed musl-tools): it starts
# in half the time of a static glibc program (no cpuid probing, no ifunc
# relocations, a tenth of the pages). musl has no <linux/*.h>, so the
# kernel's headers are reached through a directory of links. Never built
# with sanitizers: it runs as pid 1 of a jail, after pivot_root, where
# their runtimes find nothing they need.
INIT_SRCS := src/jail.c src/jailfs.c src/jailsuid.c src/child.c src/jailspec.c src/netlo.c \
	   src/peerlock.c src/relay.c src/jailfork.c src/fdpass.c
INIT_FLAGS := -O2 -fno-omit-frame-pointer -std=gnu11 $(WARN) -D_GNU_SOURCE -fstack-protector-strong \
	   -static
$(BUILD)/chald-init: $(INIT_SRCS) src/chald.h $(BUILD)/.deps
	@if command -v musl-gcc >/dev/null 2>&1; then \
	    inc=$(BUILD)/musl-include; \
	    arch=$$(gcc -print-multiarch 2>/dev/null); \
	    [ -n "$$arch" ] || arch=$$(uname -m)-linux-gnu; \
	    mkdir -p $$inc && \
	    ln -sfn /usr/include/linux $$inc/linux && \
	    ln -sfn /usr/include/asm-generic $$inc/asm-generic && \
	    ln -sfn /usr/include/$$arch/asm $$inc/asm && \
	    echo "musl-gcc $(INIT_FLAGS) -isystem $$inc -o $@ $(INIT_SRCS)" && \
	    musl-gcc $(INIT_FLAGS) -isystem $$inc -o $@ $(INIT_SRCS); \
	else \
	    echo "$(CC) $(INIT_FLAGS) -o $@ $(INIT_SRCS)   (no musl-gcc)"; \
	    $(CC) $(INIT_FLAGS) -o $@ $(INIT_SRCS); \
	fi

$(BUILD)/initbin.o: src/initbin.c $(BUILD)/chald-init
	$(CC) $(CFLAGS) -DCHALD_INIT='"$(BUILD)/chald-init"' -c -o $@ $<

examples: $(BUILD)/.deps
	$(MAKE) -s -C examples/guess
	$(MAKE) -s -C examples/jail-pwn

# The jail needs root; anyone else gets the example unjailed, and is told.
# scripts/run.sh installs netcat for the README's "nc 127.0.0.1 1337" and
# says how to connect.
RUN_SANDBOX := $(if $(filter 0,$(shell id -u)),,--sandbox off)
RUN_ADDR ?= 127.0.0.1
RUN_PORT ?= 1337

run: chald examples
	@[ -z "$(RUN_SANDBOX)" ] || echo "make run: not root, so the jail is off (--sandbox off)" >&2
	@sh scripts/run.sh ./chald $(RUN_ADDR) $(RUN_PORT) $(RUN_SANDBOX) -- examples/guess/guess

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(HDRS) $(PURE)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(PURE) $(LDLIBS)

$(BUILD)/progs/%: tests/progs/%.c $(BUILD)/.deps
	$(CC) -O2 -Wall -Wextra -o $@ $<

# i386 programs (gcc-multilib): NAME32.c, and jailprobe as a 32-bit program.
# Dynamically linked, like the 32-bit challenges they stand for; vuln32 is a
# pwnable, so without PIE or stack protector.
$(BUILD)/progs/%32: tests/progs/%32.c $(BUILD)/.deps-test
	$(CC) -m32 -O0 -Wall -Wextra -Wno-stringop-overflow -fno-stack-protector -no-pie -o $@ $<

$(BUILD)/progs/jailprobe32: tests/progs/jailprobe.c $(BUILD)/.deps-test
	$(CC) -m32 -O2 -Wall -Wextra -o $@ $<

unit: $(UNIT:%=$(BUILD)/unit/%)

check: $(BUILD)/chald examples unit $(PROGS) $(BUILD)/.deps-test
	@CHALD=$(CURDIR)/$(BUILD)/chald sh deploy/systemd/verify.sh
	@CHALD=$(CURDIR)/$(BUILD)/chald PROGS=$(CURDIR)/$(BUILD)/progs \
	    UNIT="$(UNIT:%=$(BUILD)/unit/%)" PYTHON=$(PYTHON) \
	    sh tests/run.sh $(TESTS)

install: chald
	install -D -m 755 chald $(DESTDIR)$(PREFIX)/sbin/chald
	install -D -m 644 man/chald.8 $(DESTDIR)$(PREFIX)/share/man/man8/chald.8
	install -D -m 644 man/chald.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/chald.conf.5

clean:
	rm -rf build build-san build-fuzz chald bench/build
	$(MAKE) -s -C examples/guess clean
	$(MAKE) -s -C examples/jail-pwn clean

# fuzz: the libFuzzer harnesses of tests/fuzz (tests/fuzz/README.md). A
# harness is tests/fuzz/NAME.c with a seed corpus in tests/fuzz/corpus/NAME/,
# and one word here; it is linked with the pure modules (PURE), built again
# by clang with coverage and ASan+UBSan in build/fuzz/obj. make fuzz runs
# each for FUZZ_SECS seconds and fails on a crash, a leak or a timeout.
FUZZERS	:= fuzz_config fuzz_log fuzz_proxy fuzz_pow fuzz_http
FUZZ_SECS ?= 60
FUZZ_CC	:= clang
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -Isrc \
	   -Itests/unit -fno-omit-frame-pointer \
	   -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS := $(patsubst $(BUILD)/%.o,build/fuzz/obj/%.o,$(PURE))

build/fuzz/.deps:
	@sh scripts/deps.sh fuzz
	@mkdir -p build/fuzz/obj && touch $@

build/fuzz/obj/%.o: src/%.c $(HDRS) build/fuzz/.deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/%: tests/fuzz/%.c $(wildcard tests/unit/*.h) $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) \
	    $(LDLIBS)

.SECONDARY: $(FUZZ_OBJS)
.PHONY: fuzz
fuzz: $(FUZZERS:%=build/fuzz/%)
	@sh tests/fuzz/run.sh $(FUZZ_SECS) build/fuzz $(FUZZERS)

-include bench/Makefile.inc

# check-sweep: the seccomp filter's two parts against the whole filter over
# every call, ABI and argument constant, for the settings that move rules
# between the parts (make check sweeps the default filter only). About two
# minutes here; CHALD_SWEEP=full ./build/unit/test_seccomp_parts takes every
# name and pair (about ten).
.PHONY: check-sweep
check-sweep: $(BUILD)/unit/test_seccomp_parts
	CHALD_SWEEP=some ./$(BUILD)/unit/test_seccomp_parts

# check-v2: chald's hostile-program checks against cgroup v2, in a qemu VM
# booted from Debian's kernel and a busybox initramfs (tests/vm/README.md).
# Needs root; about a minute here without KVM.
.PHONY: check-v2
check-v2:
	@sh tests/vm/run-v2.sh

# The image (docs/deploy.md): chald and the libraries it links, FROM
# scratch, built offline with Debian's podman under build/podman.
.PHONY: image check-image check-docker check-k8s check-systemd check-systemd-run
image: $(BUILD)/chald
	@sh scripts/deps.sh image
	@sh deploy/image/build.sh $(BUILD)/chald chald:latest

# Heavy and separate: a Debian root by debootstrap (cached in
# build/image-cache), the examples/jail-pwn challenge FROM the image, run
# with the documented privileges and exploited. Bounded: 20 minutes.
check-image: $(BUILD)/chald $(BUILD)/.deps-test
	@sh scripts/deps.sh image
	timeout 1200 $(PYTHON) tests/image/check_image.py

# The same image under Debian's docker.io, with a dockerd of its own and
# deploy/image/docker-privileges. Bounded: 15 minutes.
check-docker: $(BUILD)/chald $(BUILD)/.deps-test
	@sh scripts/deps.sh docker
	timeout 900 $(PYTHON) tests/image/check_docker.py

# deploy/k8s rendered with kubectl kustomize, every object validated
# against the Kubernetes API schema (deploy/k8s/validate). Bounded.
check-k8s:
	@sh scripts/deps.sh k8s
	timeout 600 sh deploy/k8s/validate/check.sh

# deploy/systemd/chald.service run by Debian's systemd as pid 1 of a
# podman container: the hardening as shipped serves a jailed challenge,
# and each directive it leaves out does break it. Heavy; bounded.
check-systemd-run: $(BUILD)/chald examples
	@sh scripts/deps.sh image
	timeout 1200 $(PYTHON) tests/image/check_systemd.py

# deploy/systemd/chald.service through systemd-analyze verify; part of
# make check where systemd-analyze exists.
check-systemd: $(BUILD)/chald
	@CHALD=$(CURDIR)/$(BUILD)/chald sh deploy/systemd/verify.sh
