# SPDX-License-Identifier: GPL-2.0
#
# kame-ipsec.  The two commands a newcomer needs:
#   make run     install what is missing, build, boot the test kernel, demo
#   make check   host tests, then the VM selftest suite
#   make bench   PF_KEY figures, kame_ipsec against af_key in one VM boot
#
# KERNEL=normal|debug picks the test kernel flavour (debug: KASAN, lockdep,
# PROVE_RCU, kmemleak, DEBUG_NET).  The module is built out of tree with the
# kernel's Kbuild (see Kbuild); `make CLIPPY=1 W=1` lints it.

KERNEL ?= normal
KAME_CACHE ?= /var/lib/kame-ipsec
# KDIR, BUILD and BINDGEN may be given on the command line (dkms.conf does).
KDIR ?= $(shell scripts/kernel-dir $(KERNEL))
KVER := 7.3.4
BINDGEN ?= $(KAME_CACHE)/tools/bin/bindgen
# Each flavour builds into its own directory, so both can be used at once.
BUILD ?= $(CURDIR)/build/$(KERNEL)
TOOLS := rust/tools/target/release
PREFIX ?= /usr/local
# The LLVM version suffix (-22) is the one the kernel is built with, read
# from scripts/lib/common.sh. CC and LD are what LLVM=-22 picks, named again
# because DKMS appends CC=clang LD=ld.lld (unversioned names Debian's LLVM
# 22 does not install).
LLVM_SUFFIX := $(shell sed -n 's/^KAME_LLVM=//p' scripts/lib/common.sh)
KMAKE_TOOLS = $(MAKE) -C $(KDIR) LLVM=$(LLVM_SUFFIX) CC=clang$(LLVM_SUFFIX) \
	LD=ld.lld$(LLVM_SUFFIX) \
	RUSTC=/usr/bin/rustc \
	CLIPPY_DRIVER=/usr/bin/clippy-driver \
	HOSTRUSTC=/usr/bin/rustc BINDGEN=$(BINDGEN)
KMAKE_BASE = $(KMAKE_TOOLS) M=$(CURDIR)
KMAKE = $(KMAKE_BASE) MO=$(BUILD)
# Test-only modules the VM selftests load (selftests/modules/NAME, built
# into $(BUILD)/NAME; never installed, not part of DKMS's `kbuild`).
TEST_MODULES := kame_failcrypto

.PHONY: all module setup kernel run check host-check vm-check install clean \
	lint fmt tools fuzz bench bench-icount bench-dp bench-dp-icount kbuild test-modules dkms-check doc-check

all: module tools

setup:
	scripts/setup-packages

kernel: setup
	scripts/build-kernel $(KERNEL) >/dev/null

module: kernel
	$(MAKE) kbuild test-modules

# The module alone, against KDIR as it is: no packages, no kernel build.
# DKMS builds through this target (dkms.conf).
kbuild:
	@mkdir -p $(BUILD)
	$(KMAKE) modules

test-modules:
	@for m in $(TEST_MODULES); do \
		mkdir -p $(BUILD)/$$m && \
		$(KMAKE_TOOLS) M=$(CURDIR)/selftests/modules/$$m MO=$(BUILD)/$$m modules || exit 1; \
	done

# The module must build clean with clippy and W=1 (warnings are errors here).
lint: kernel
	@rm -rf $(BUILD)-lint && mkdir -p $(BUILD)-lint
	$(KMAKE_BASE) MO=$(BUILD)-lint CLIPPY=1 W=1 KRUSTFLAGS=-Dwarnings modules \
		2>&1 | tee $(BUILD)-lint/lint.log
	@! grep -E '(^|: )(warning|error)(\[|:)' $(BUILD)-lint/lint.log

fmt:
	rustfmt --edition 2021 rust/kame_ipsec.rs
	cd rust/core && cargo fmt
	cd rust/tools && cargo fmt

tools:
	cd rust/tools && cargo build --release --locked --quiet

run: module
	scripts/demo

check:
	KERNEL=$(KERNEL) scripts/check

# The core's cargo-fuzz target, FUZZ_SECONDS (default 600) on one job.
fuzz:
	scripts/fuzz

# Figures, not a test: selftests/bench_pfkey.sh in the VM, with those of
# its settings that are set here passed in, as for bench-dp. BENCH_N and
# BENCH_REPS, the names this target took first, still set KAME_BENCH_N
# and KAME_BENCH_REPS.
# pass-vars NAMES: NAME='value' for each of NAMES that is set, for `env`
# in the VM (which has none of the host's environment).
pass-vars = $(foreach v,$(1),$(if $($(v)),$(v)='$($(v))'))
BENCH_VARS := KAME_BENCH_N KAME_BENCH_REPS KAME_BENCH_UNIQUE_N KAME_BENCH_GETSPI_N \
	KAME_BENCH_WINDOW KAME_BENCH_TIMEOUT
BENCH_RUN = scripts/vm-run env $(if $(BENCH_N),KAME_BENCH_N='$(BENCH_N)') \
	$(if $(BENCH_REPS),KAME_BENCH_REPS='$(BENCH_REPS)') \
	$(call pass-vars,$(BENCH_VARS)) \
	selftests/bench_pfkey.sh
bench: module tools
	KERNEL=$(KERNEL) $(BENCH_RUN)

# The same, counted in instructions, as bench-dp-icount below: one vCPU, so
# a dump is built by the reader's own recvmsg() (af_key's way), and each
# figure is instructions per request whatever the host's load.
bench-icount: module tools
	KERNEL=$(KERNEL) VM_CPUS=1 VM_QEMU_OPTS="-icount shift=0" $(BENCH_RUN)

# Figures, not a test: selftests/bench_dataplane.sh in the VM (iperf3
# through ESP, kame_ipsec against XFRM), with those of its settings that
# are set here passed in (the VM has none of the host's environment).
BENCH_DP_VARS := KAME_BENCH_N KAME_BENCH_REPS KAME_BENCH_SECS KAME_BENCH_WARMUP_SECS \
	KAME_BENCH_CASES KAME_BENCH_IMPLS
BENCH_DP_RUN = scripts/vm-run env $(call pass-vars,$(BENCH_DP_VARS)) \
	selftests/bench_dataplane.sh
bench-dp: module tools
	KERNEL=$(KERNEL) $(BENCH_DP_RUN)

# The same, counted in instructions: one vCPU under QEMU's -icount, whose
# guest clock advances a nanosecond per instruction, so a figure is
# instructions per byte whatever the host's load (Documentation/testing.rst).
bench-dp-icount: module tools
	KERNEL=$(KERNEL) VM_CPUS=1 VM_QEMU_OPTS="-icount shift=0" $(BENCH_DP_RUN)

# Installs what `make` built (building it first if there is nothing): the
# module under /lib/modules/7.3.4/extra, the modprobe configuration, setkey
# and ipsecstat in $(PREFIX)/sbin and their man pages.
install:
	@test -f $(BUILD)/kame_ipsec.ko || $(MAKE) module
	@test -x $(TOOLS)/setkey -a -x $(TOOLS)/ipsecstat || $(MAKE) tools
	$(KMAKE) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra modules_install
	install -D -m 0644 scripts/modprobe.d/kame-ipsec.conf \
		$(DESTDIR)/etc/modprobe.d/kame-ipsec.conf
	install -D -m 0755 -t $(DESTDIR)$(PREFIX)/sbin $(TOOLS)/setkey $(TOOLS)/ipsecstat
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man4 Documentation/man/kame_ipsec.4
	install -D -m 0644 -t $(DESTDIR)$(PREFIX)/share/man/man8 \
		Documentation/man/setkey.8 Documentation/man/ipsecstat.8

# The man pages format without a warning; the quick start is valid
# reStructuredText (scripts/doc-check).
doc-check:
	scripts/doc-check

# dkms.conf tested: dkms add, build, install for the test kernel, modprobe
# in the VM, dkms remove (scripts/dkms-check; root, one VM boot).
dkms-check: module tools
	scripts/dkms-check

clean:
	rm -rf build
	cd rust/core && cargo clean
	cd rust/tools && cargo clean
