# SPDX-License-Identifier: GPL-2.0
#
# sluice: one Makefile for the BPF objects, their skeletons, the `sluice`
# binary, the unit tests (plain and sanitized), the fuzzers and the suites.
#
#   make            build build/sluice
#   make deps       install every Debian package the build, tests and VM need
#   make test       deps, build, then every suite; last line "N passed, N failed, N skipped"
#   make run        deps, build, then the main job
#   make V=1        show full commands
#   make install    binary, man pages, completion, units, policies (DESTDIR=, PREFIX=)
#   make deb        the Debian package, in build/deb/
#
# New code only adds files: every bpf/*.bpf.c becomes a skeleton, every .c
# below userspace/ and loader/ (sub-folders included) is linked into sluice,
# every tests/unit/test_*.c becomes a unit test program, every
# tests/fuzz/fuzz_*.c a fuzzer.

OUTPUT		?= build
CLANG		?= clang
CC		?= gcc
BPFTOOL		?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
VMLINUX_BTF	?= /sys/kernel/btf/vmlinux
ARCH		:= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION		:= $(shell cat VERSION)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(patsubst $(abspath $(OUTPUT))/%,%,$(2))";
MAKEFLAGS += --no-print-directory
endif

# clang for the BPF target does not know the host's multiarch include dirs;
# hand them over after its own so <asm/types.h> and friends resolve.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

BPF_CFLAGS	:= -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		   -I$(OUTPUT) -Ibpf -I. $(CLANG_BPF_SYS_INCLUDES)

PKGS		:= libbpf liburing libelf zlib yaml-0.1 libmicrohttpd libssl libcrypto libcryptsetup json-c
PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
		     echo -lbpf -luring -lelf -lz -lyaml -lmicrohttpd -lssl -lcrypto -lcryptsetup -ljson-c)

CFLAGS		?= -g -O2
CFLAGS		+= -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
		   -Wno-missing-field-initializers -D_GNU_SOURCE \
		   -DSLUICE_VERSION='"$(VERSION)"' \
		   -I$(OUTPUT) -I. -Ibpf -Iuserspace $(PKG_CFLAGS)
LDLIBS		+= $(PKG_LIBS) -lpthread -lm

SAN_FLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS	:= $(sort $(wildcard bpf/*.bpf.c))
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
BPF_HDRS	:= $(wildcard bpf/*.h) vmlinux.h

# Recursive: a data service may keep a sub-folder of its own.
LIB_SRCS	:= $(sort $(filter-out userspace/cmd/main.c,\
		     $(shell find userspace loader -name '*.c')))
USER_HDRS	:= $(shell find userspace loader -name '*.h') bpf/sluice.h
LIB_OBJS	:= $(patsubst %.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
SAN_OBJS	:= $(patsubst %.c,$(OUTPUT)/san/%.o,$(LIB_SRCS))

UNIT_SRCS	:= $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit/%,$(UNIT_SRCS))
UNIT_SAN_BINS	:= $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit-san/%,$(UNIT_SRCS))
UNIT_HDRS	:= $(wildcard tests/unit/*.h)

FUZZ_SRCS	:= $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS	:= $(patsubst tests/fuzz/%.c,$(OUTPUT)/tests/fuzz/%,$(FUZZ_SRCS))
FUZZ_FLAGS	:= -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps run test test-unit test-host test-vm test-vm-7 test-vm-6.1 test-fuzz \
	unit fuzz bench vmlinux clean install uninstall man units deb help FORCE

all: $(OUTPUT)/sluice

help:
	@sed -n 's/^#   //p' Makefile

deps:
	$(Q)scripts/deps install

# --- BPF: clang -> bpftool gen object (link, strip DWARF) -> skeleton ---------
$(OUTPUT)/bpf/%.tmp.o: bpf/%.bpf.c $(BPF_HDRS) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/bpf/%.bpf.o: $(OUTPUT)/bpf/%.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# --- user space -------------------------------------------------------------
# Every user object depends on every skeleton: skeletons are small to
# regenerate and the loader includes them, so this keeps rebuilds honest.
$(OUTPUT)/obj/%.o: %.c $(USER_HDRS) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# the version is compiled into main.o only
$(OUTPUT)/obj/userspace/cmd/main.o: VERSION

$(OUTPUT)/san/%.o: %.c $(USER_HDRS) $(SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(OUTPUT)/libsluice.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/libsluice-san.a: $(SAN_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/sluice: $(OUTPUT)/obj/userspace/cmd/main.o $(OUTPUT)/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# --- unit tests (cmocka), plain and with ASan/UBSan --------------------------
$(OUTPUT)/tests/unit/%: tests/unit/%.c $(OUTPUT)/libsluice.a $(USER_HDRS) $(UNIT_HDRS)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/libsluice.a $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/tests/unit-san/%: tests/unit/%.c $(OUTPUT)/libsluice-san.a $(USER_HDRS) $(UNIT_HDRS)
	$(call msg,TEST-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $< $(OUTPUT)/libsluice-san.a $(LDLIBS) -lcmocka -o $@

unit: $(UNIT_BINS) $(UNIT_SAN_BINS)

# --- fuzzers (libFuzzer, clang 14); the harness links the sources it needs --
$(OUTPUT)/tests/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(USER_HDRS) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(filter-out -O2 -g,$(CFLAGS)) $(FUZZ_FLAGS) \
		$< $(LIB_SRCS) $(LDLIBS) -o $@

fuzz: $(FUZZ_BINS)

$(OUTPUT)/bpf:
	$(Q)mkdir -p $@

# --- suites -----------------------------------------------------------------
# Each suite writes TAP to $(OUTPUT)/test-results/<suite>.tap; tests/summary
# adds them up. A failing suite does not stop the others.
test: deps
	$(Q)$(MAKE) all unit fuzz
	$(Q)tests/run-all

test-unit: unit
	$(Q)tests/run-all unit unit-san

test-host: all
	$(Q)tests/run-all host

test-vm: all
	$(Q)tests/run-all vm

test-vm-7: all
	$(Q)tests/run-all vm-7

test-vm-6.1: all
	$(Q)tests/run-all vm-6.1

test-fuzz: fuzz
	$(Q)tests/run-all fuzz

# Checks of behaviour that are not yet reliable under qemu TCG on a loaded
# host (see docs/throttle.md); run on a quiet machine, not part of `make test`.
run: deps
	$(Q)$(MAKE) all
	$(Q)$(OUTPUT)/sluice top

bench: deps
	$(Q)$(MAKE) all
	$(Q)bench/run-all

vmlinux:
	$(call msg,GEN,vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > vmlinux.h

# --- install: make install [DESTDIR=D] [PREFIX=/usr]; make uninstall ----------
# The binary is all there is to run: bpftool's skeletons embed the BPF
# objects. Man pages come from docs/cmd/*.md (scripts/mkman, lowdown) and
# 'sluice --help', the units from systemd/*.in with this PREFIX's paths; a
# new page or command needs no change here. uninstall removes that list.
PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
LIBEXECDIR	?= $(PREFIX)/libexec/sluice
MANDIR		?= $(PREFIX)/share/man
DATADIR		?= $(PREFIX)/share/sluice
BASHCOMPDIR	?= $(PREFIX)/share/bash-completion/completions
UNITDIR		?= $(PREFIX)/lib/systemd/system
MODLOADDIR	?= $(PREFIX)/lib/modules-load.d
UNIT_INS	:= $(sort $(wildcard systemd/*.service.in))
UNITS		:= $(patsubst systemd/%.in,$(OUTPUT)/systemd/%,$(UNIT_INS))
POLICY_FILES	:= $(sort $(wildcard policies/*.yaml))
INSTALLED	= $(SBINDIR)/sluice $(LIBEXECDIR)/sluice-disk \
		  $(BASHCOMPDIR)/sluice $(MODLOADDIR)/sluice.conf \
		  $(patsubst policies/%,$(DATADIR)/policies/%,$(POLICY_FILES)) \
		  $(patsubst $(OUTPUT)/systemd/%,$(UNITDIR)/%,$(UNITS)) \
		  $(patsubst $(OUTPUT)/man/%,$(MANDIR)/%,$(wildcard $(OUTPUT)/man/man*/*))

# one rule for every page: which pages exist (and their sections) is only
# known from the docs' titles
$(OUTPUT)/man/.stamp: $(wildcard docs/cmd/*.md) scripts/mkman $(OUTPUT)/sluice
	$(call msg,MAN,$(OUTPUT)/man)
	$(Q)rm -rf $(@D) && mkdir -p $(@D)/man1 $(@D)/man7
	$(Q)scripts/mkman main $(OUTPUT)/sluice $(@D)/man1/sluice.1
	$(Q)for md in docs/cmd/*.md; do \
		n=$$(basename $$md .md); s=1; head -n1 $$md | grep -q '^# sluice ' || s=7; \
		scripts/mkman page $(OUTPUT)/sluice $$md $(@D)/man$$s/sluice-$$n.$$s || exit 1; \
	done
	$(Q)touch $@

# always: the paths come from this run's PREFIX
$(OUTPUT)/systemd/%: systemd/%.in FORCE
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g; s|@LIBEXECDIR@|$(LIBEXECDIR)|g' $< > $@

man: $(OUTPUT)/man/.stamp
units: $(UNITS)
FORCE:

install: all man units
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUTPUT)/sluice $(DESTDIR)$(SBINDIR)/sluice
	$(Q)install -D -m 0755 systemd/sluice-disk $(DESTDIR)$(LIBEXECDIR)/sluice-disk
	$(Q)install -D -m 0644 completion/sluice.bash $(DESTDIR)$(BASHCOMPDIR)/sluice
	$(Q)install -D -m 0644 systemd/modules-load.conf $(DESTDIR)$(MODLOADDIR)/sluice.conf
	$(Q)install -d $(DESTDIR)$(DATADIR)/policies $(DESTDIR)$(UNITDIR)
	$(Q)install -m 0644 $(POLICY_FILES) $(DESTDIR)$(DATADIR)/policies/
	$(Q)install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	$(Q)for p in $(OUTPUT)/man/man*/*; do \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/$${p#$(OUTPUT)/man/} || exit 1; \
	done

# the Debian package, built once per source change (scripts/mkdeb)
deb:
	$(Q)scripts/mkdeb $(OUTPUT)/deb

uninstall: man
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	$(Q)rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DATADIR)/policies \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBEXECDIR) 2>/dev/null || true

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)
