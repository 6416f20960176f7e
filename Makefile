# chald: a challenge daemon for CTFs. See README.md.
#
#   make              build ./chald (installs missing Debian packages first)
#   make run          serve the example challenge on 127.0.0.1:1337
#   make check        every test; SAN=1 builds and tests under ASan+UBSan
#   make bench        the benchmark (bench/README.md)

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
LDLIBS	:= $(shell pkg-config --libs inih libseccomp 2>/dev/null || \
	     echo -linih -lseccomp) -lm

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
	   reload.c loop.c http.c metrics.c admin.c health.c \
	   child.c sandbox.c jailfs.c jailspec.c cgroup.c seccomp.c initbin.c
OBJS	:= $(SRCS:%.c=$(BUILD)/%.o)
PURE	:= $(BUILD)/config.o $(BUILD)/sessions.o $(BUILD)/log.o \
	   $(BUILD)/listen.o $(BUILD)/child.o $(BUILD)/seccomp.o \
	   $(BUILD)/jailspec.o $(BUILD)/http.o $(BUILD)/metrics.o
UNIT	:= test_config test_sessions test_log test_jailspec test_http \
	   test_metrics
PROGS	:= $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c))

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

$(BUILD)/%.o: src/%.c src/chald.h $(BUILD)/.deps
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
INIT_SRCS := src/jail.c src/jailfs.c src/child.c src/jailspec.c
INIT_FLAGS := -O2 -std=gnu11 $(WARN) -D_GNU_SOURCE -fstack-protector-strong \
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

# The jail needs root; anyone else gets the example unjailed, and is told.
RUN_SANDBOX := $(if $(filter 0,$(shell id -u)),,--sandbox off)

run: chald examples
	@[ -z "$(RUN_SANDBOX)" ] || echo "make run: not root, so the jail is off (--sandbox off)" >&2
	./chald -f -b 127.0.0.1 -p 1337 $(RUN_SANDBOX) -- examples/guess/guess

$(BUILD)/unit/%: tests/unit/%.c tests/unit/t.h $(PURE)
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(PURE) $(LDLIBS)

$(BUILD)/progs/%: tests/progs/%.c $(BUILD)/.deps
	$(CC) -O2 -Wall -Wextra -o $@ $<

unit: $(UNIT:%=$(BUILD)/unit/%)

check: $(BUILD)/chald examples unit $(PROGS) $(BUILD)/.deps-test
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

-include bench/Makefile.inc

# fuzz: the libFuzzer harnesses tests/fuzz/NAME.c, each built with clang
# against the pure modules it reads, and run for FUZZ_SECS seconds from its
# seed corpus tests/fuzz/corpus/NAME (new inputs go to build-fuzz/corpus).
# A crash leaves its input in build-fuzz/ and fails the target.
FUZZERS	:= fuzz_http
FUZZ_SECS ?= 30
FUZZ_CC	?= clang
FUZZ_FLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc \
	   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_PURE_fuzz_http := src/http.c

.PHONY: fuzz
build-fuzz/%: tests/fuzz/%.c src/chald.h $(BUILD)/.deps
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_PURE_$*)

fuzz: $(FUZZERS:%=build-fuzz/%)
	@for f in $(FUZZERS); do \
	    mkdir -p build-fuzz/corpus/$$f && \
	    echo "== $$f ($(FUZZ_SECS) s)" && \
	    ./build-fuzz/$$f -max_total_time=$(FUZZ_SECS) \
	        -artifact_prefix=build-fuzz/$$f- \
	        build-fuzz/corpus/$$f tests/fuzz/corpus/$$f || exit 1; \
	done

# check-v2: chald's hostile-program checks against cgroup v2, in a qemu VM
# booted from Debian's kernel and a busybox initramfs (tests/vm/README.md).
# Needs root; about a minute here without KVM.
.PHONY: check-v2
check-v2:
	@sh tests/vm/run-v2.sh
