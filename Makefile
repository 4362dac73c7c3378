# SPDX-License-Identifier: MIT
# l7top build. Outputs go to build/; the binary is ./l7top.
#   make            build l7top
#   make deps       install every Debian package the build, tests and demo need
#   make test       Prometheus rules (promtool), unit tests (plain and ASan+UBSan),
#                   then integration tests (root)
#   make prom-rules promtool check config/rules and test rules on packaging/prometheus/
#   make demo       throw-away NGINX + traffic + l7top attached
#   make l7top-asan build/asan/l7top under ASan+UBSan (the hostile-files test runs it)
#   make install    binary, man page l7top(8), example systemd unit
#                   (PREFIX=/usr/local, DESTDIR= for staging); make uninstall
#   V=1             show full commands

OUT        := build
CC         ?= cc
CLANG      ?= clang
BPFTOOL    ?= bpftool
LLVM_STRIP ?= llvm-strip
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
INSTALL    ?= install

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wformat=2 -Werror
CFLAGS ?= -g -O2
INCS   := -I$(OUT) -I. -I$(LLHTTP_INC)
ALL_CFLAGS = $(CFLAGS) $(WARN) $(INCS) -D_GNU_SOURCE -pthread -MMD -MP
LIBS   := -lbpf -lelf -lz -lpcap -lsqlite3 -ljansson -lcsv -lncursesw -ltinfo \
          -lcrypto -lnghttp2 -lpthread -lm -ldl

# Every .c in the module folders is part of the program; main.c is kept out
# of the library so unit tests can link everything else.
SRC_DIRS := collector probes storage tui export format src
LIB_SRCS := $(filter-out src/main.c,$(wildcard $(addsuffix /*.c,$(SRC_DIRS))))
LIB_SRCS := $(filter-out %.bpf.c,$(LIB_SRCS))
LIB_OBJS := $(patsubst %.c,$(OUT)/%.o,$(LIB_SRCS))
LLHTTP_OBJS := $(patsubst $(LLHTTP_DIR)/%.c,$(OUT)/llhttp/%.o,$(wildcard $(LLHTTP_DIR)/*.c))

BPF_SRCS := $(wildcard probes/*.bpf.c)
BPF_OBJS := $(patsubst probes/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst probes/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
ASAN_BINS := $(patsubst tests/unit/%.c,$(OUT)/asan/tests/%,$(UNIT_SRCS))

.DELETE_ON_ERROR:
# Skeletons and BPF objects are intermediates make would otherwise delete.
.SECONDARY:
.PHONY: all deps test unit unit-asan integration prom-rules demo clean install uninstall bench fuzz l7top-asan

all: l7top

# The object lists above come from installed files (llhttp's sources), read
# when make starts. So a build without the packages stops here with one line,
# and targets that install packages first (test, demo) build in a second make
# that reads the installed files.
.PHONY: build-deps
build-deps:
	@bash scripts/deps.sh --check-build

l7top: $(OUT)/src/main.o $(LIB_OBJS) $(LLHTTP_OBJS) | build-deps
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(OUT)/vmlinux.h: | build-deps
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(OUT)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUT)/%.bpf.o: probes/%.bpf.c probes/%.h $(OUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(OUT) -I. -c $< -o $@
	@# The skeleton embeds the object in l7top; its DWARF (1.3 of 1.5 MB)
	@# serves no one there, BTF (kept) carries the types and line info.
	$(Q)$(LLVM_STRIP) -g $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# User objects may include any skeleton; generating them first keeps the
# dependency simple and the build correct from a fresh clone.
$(OUT)/%.o: %.c $(SKELS) | build-deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# llhttp is Debian's node-llhttp sources, compiled here, never copied.
$(OUT)/llhttp/%.o: $(LLHTTP_DIR)/%.c | build-deps
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -I$(LLHTTP_INC) -w -c $< -o $@

# -MMD makes the headers a test includes prerequisites of its binary too:
# only sources and objects go to the compiler.
$(OUT)/tests/%: tests/unit/%.c $(LIB_OBJS) $(LLHTTP_OBJS)
	$(call msg,TEST-CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka

# The same unit tests under AddressSanitizer + UBSan, built from scratch in
# their own folder so the flags never mix with the release objects.
ASAN_FLAGS := -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
$(OUT)/asan/%.o: %.c $(SKELS)
	$(call msg,ASAN-CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ASAN_FLAGS) $(WARN) $(INCS) -D_GNU_SOURCE -pthread -MMD -MP -c $< -o $@

$(OUT)/asan/llhttp/%.o: $(LLHTTP_DIR)/%.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ASAN_FLAGS) -I$(LLHTTP_INC) -w -c $< -o $@

$(OUT)/asan/tests/%: tests/unit/%.c $(patsubst %.c,$(OUT)/asan/%.o,$(LIB_SRCS)) \
		$(patsubst $(LLHTTP_DIR)/%.c,$(OUT)/asan/llhttp/%.o,$(wildcard $(LLHTTP_DIR)/*.c))
	$(call msg,ASAN-LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ASAN_FLAGS) $(WARN) $(INCS) -D_GNU_SOURCE -pthread -o $@ $(filter %.c %.o,$^) $(LIBS) -lcmocka

# l7top itself under ASan+UBSan, for the hostile-input integration test.
ASAN_L7TOP := $(OUT)/asan/l7top
$(ASAN_L7TOP): $(OUT)/asan/src/main.o $(patsubst %.c,$(OUT)/asan/%.o,$(LIB_SRCS)) \
		$(patsubst $(LLHTTP_DIR)/%.c,$(OUT)/asan/llhttp/%.o,$(wildcard $(LLHTTP_DIR)/*.c))
	$(call msg,ASAN-LD,$@)
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

l7top-asan: $(ASAN_L7TOP)

deps:
	bash scripts/deps.sh

unit: $(UNIT_BINS)
	@bash tests/run_unit.sh $(UNIT_BINS)

unit-asan: $(ASAN_BINS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 bash tests/run_unit.sh $(ASAN_BINS)

integration: l7top $(ASAN_L7TOP)
	@bash tests/integration/run.sh

prom-rules:
	@bash tests/prom_rules.sh

test: deps-check
	$(MAKE) l7top
	$(MAKE) prom-rules
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) integration

# Installs missing packages only when something is absent, so a second
# `make test` does not touch apt.
.PHONY: deps-check
deps-check:
	@bash scripts/deps.sh --if-missing

demo: deps-check
	$(MAKE) l7top
	bash scripts/demo.sh

# libFuzzer over reassembly + HTTP parsing, and over the pcap reader (clang;
# bounded run time: FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(filter collector/%,$(LIB_SRCS))
$(OUT)/fuzz/fuzz_collector: tests/fuzz/fuzz_collector.c $(FUZZ_SRCS) $(wildcard $(LLHTTP_DIR)/*.c)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LLHTTP_INC) -D_GNU_SOURCE \
		-w -o $@ $^ -lcrypto -lnghttp2 -lm

# The --read path: pcap header and record checks (probes/pcap_file.c) feeding
# the collector; seeded with a plaintext capture and the TLS fixtures.
$(OUT)/fuzz/fuzz_pcap: tests/fuzz/fuzz_pcap.c probes/pcap_file.c $(FUZZ_SRCS) $(wildcard $(LLHTTP_DIR)/*.c)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(LLHTTP_INC) -D_GNU_SOURCE \
		-w -o $@ $^ -lcrypto -lnghttp2 -lm

fuzz: $(OUT)/fuzz/fuzz_collector $(OUT)/fuzz/fuzz_pcap
	@mkdir -p $(OUT)/fuzz/corpus $(OUT)/fuzz/corpus_pcap
	$(OUT)/fuzz/fuzz_collector -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-print_final_stats=1 $(OUT)/fuzz/corpus tests/fuzz/corpus
	$(OUT)/fuzz/fuzz_pcap -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-print_final_stats=1 $(OUT)/fuzz/corpus_pcap tests/fuzz/corpus_pcap tests/fixtures/tls

$(OUT)/bench/pcapgen: bench/pcapgen.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -o $@ $<

$(OUT)/bench/tap_in: bench/tap_in.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Wextra -o $@ $<

# The live view's heap over 5 minutes of 10,000 endpoints, without a terminal.
$(OUT)/bench/view_heap: bench/view_heap.c $(LIB_OBJS) $(LLHTTP_OBJS)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS)

bench: l7top $(OUT)/bench/pcapgen $(OUT)/bench/tap_in $(OUT)/bench/view_heap
	bash bench/run.sh

# The unit is installed, not enabled: it is an example to adapt. Its
# ExecStart names the binary where this install puts it.
install: l7top
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 l7top $(DESTDIR)$(SBINDIR)/l7top
	$(INSTALL) -m 0644 packaging/l7top.8 $(DESTDIR)$(MANDIR)/man8/l7top.8
	sed 's|/usr/local/sbin/l7top|$(SBINDIR)/l7top|g' packaging/l7top.service > $(OUT)/l7top.service
	$(INSTALL) -m 0644 $(OUT)/l7top.service $(DESTDIR)$(UNITDIR)/l7top.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/l7top $(DESTDIR)$(MANDIR)/man8/l7top.8 \
		$(DESTDIR)$(UNITDIR)/l7top.service

clean:
	rm -rf $(OUT) l7top

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
