# repfix - see README.md. `make demo` and `make test` are all a new machine needs.
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
ABI_VERSION = 0

DEPS = libutf8proc libpcre2-8 libcjson
# Debian packages that provide the dependencies, the tests' tools and pkg-config.
DEB_PKGS = pkg-config libutf8proc-dev libpcre2-dev libcjson-dev cmark-gfm

WARN = -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wformat=2
OPT ?= -O2 -g
CFLAGS ?=
ALL_CFLAGS = $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -fPIC -Iinclude -Isrc $(DEP_CFLAGS) $(CFLAGS)
# Backticks: evaluated when a recipe runs, after `deps` installed pkg-config.
DEP_CFLAGS = `pkg-config --cflags $(DEPS)`
DEP_LIBS = `pkg-config --libs $(DEPS)`

LIB_SRC = $(wildcard src/*.c)
CLI_SRC = $(wildcard src/cli/*.c)
LIB_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
CLI_OBJ = $(CLI_SRC:src/cli/%.c=$(BUILD)/obj/cli/%.o)

.PHONY: all deps test check demo bench fuzz fuzz-deps install uninstall clean
all: deps $(BUILD)/librepfix.a $(BUILD)/librepfix.so $(BUILD)/repfix $(BUILD)/repfix.pc

# Installs missing Debian packages when root; otherwise names them and stops.
deps:
	@sh tools/deps.sh $(DEB_PKGS)

$(BUILD)/obj/%.o: src/%.c include/repfix.h src/internal.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/cli/%.o: src/cli/%.c src/cli/cli.h include/repfix.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/librepfix.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/librepfix.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,librepfix.so.$(ABI_VERSION) -o $@ $^ $(DEP_LIBS) $(LDFLAGS)

$(BUILD)/repfix: $(CLI_OBJ) $(BUILD)/librepfix.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/librepfix.a $(DEP_LIBS) -lpthread $(LDFLAGS)

$(BUILD)/repfix.pc: repfix.pc.in
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define REPFIX_VERSION_STRING "\(.*\)"/\1/p' include/repfix.h)|g' $< > $@

# ---- tests ------------------------------------------------------------
TEST_PROGS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/*.c))
$(BUILD)/tests/%: tests/%.c $(BUILD)/librepfix.a $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/librepfix.a $(DEP_LIBS) -lpthread

# The fuzz oracles replay saved inputs; alloc fails each allocation in turn.
$(BUILD)/tests/fuzz_replay: fuzz/oracle.h
$(BUILD)/tests/alloc: tests/alloc.c $(BUILD)/librepfix.a $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/librepfix.a $(DEP_LIBS) -lpthread \
	    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

test: all $(TEST_PROGS)
	@sh tests/run.sh $(BUILD)

# ASan + UBSan, no recovery: the whole suite in a separate build directory,
# with clang when it is installed (its UBSan also checks pointer arithmetic
# that wraps, which gcc 12's missed in repeat.c); then valgrind (memcheck,
# leaks) on the plain build's unit, alloc and CLI.
SAN_CC ?= $(shell command -v clang >/dev/null 2>&1 && echo clang || echo $(CC))
check: all $(TEST_PROGS)
	$(MAKE) BUILD=build/san CC=$(SAN_CC) OPT="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" LDFLAGS="-fsanitize=address,undefined" test
	@sh tests/valgrind.sh $(BUILD)

# libFuzzer targets (clang): each runs FUZZ_TIME seconds; new inputs are
# merged into fuzz/corpus/TARGET/, crashes land in $(BUILD)/fuzz/crash-*.
FUZZ_TIME ?= 60
FUZZ_CC ?= clang
FUZZ_SAN = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJ = $(LIB_SRC:src/%.c=$(BUILD)/fuzz/o/%.o)
FUZZ_BIN = $(BUILD)/fuzz/fuzz_text $(BUILD)/fuzz/fuzz_json $(BUILD)/fuzz/fuzz_jsonl
FUZZ_PKGS ?= clang libclang-rt-14-dev
fuzz-deps:
	@sh tools/deps.sh $(FUZZ_PKGS)
.PRECIOUS: $(BUILD)/fuzz/o/%.o
$(BUILD)/fuzz/o/%.o: src/%.c include/repfix.h src/internal.h | deps fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(WARN) -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(DEP_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/fuzz_%: fuzz/target.c fuzz/oracle.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(WARN) -Iinclude -DFZ_TARGET='"$*"' -o $@ $< $(FUZZ_OBJ) $(DEP_LIBS)
fuzz: all $(BUILD)/tests/fuzz_replay $(FUZZ_BIN)
	@sh fuzz/run.sh $(BUILD) $(FUZZ_TIME)

demo: all
	@sh tools/demo.sh $(BUILD)/repfix

BENCH_MB ?= 256
bench: all
	bash bench/run.sh $(BENCH_MB)

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/repfix.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/librepfix.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/librepfix.so $(DESTDIR)$(PREFIX)/lib/librepfix.so.$(ABI_VERSION)
	ln -sf librepfix.so.$(ABI_VERSION) $(DESTDIR)$(PREFIX)/lib/librepfix.so
	install -m 644 $(BUILD)/repfix.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/repfix $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/repfix.h $(DESTDIR)$(PREFIX)/lib/librepfix.a \
	      $(DESTDIR)$(PREFIX)/lib/librepfix.so $(DESTDIR)$(PREFIX)/lib/librepfix.so.$(ABI_VERSION) \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/repfix.pc $(DESTDIR)$(PREFIX)/bin/repfix

clean:
	rm -rf build
