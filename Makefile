# nhttps — the two commands of the README are `make demo` and `make test`.
CARGO      ?= cargo
CC         ?= cc
CXX        ?= c++
PYTHON     ?= python3
BUILD      := build
LIBDIR     := $(BUILD)/lib
VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR      := $(firstword $(subst ., ,$(VERSION)))
CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Werror
LDLIBS     := -L$(LIBDIR) -lnhttps -Wl,-rpath,$(CURDIR)/$(LIBDIR) -lpthread
EXAMPLES   := hello serve fetch proxy websocket_echo embed_thread
C_TESTS    := $(patsubst c-tests/%.c,%,$(wildcard c-tests/test_*.c))
SHELL_TESTS := $(patsubst c-tests/%.sh,%,$(wildcard c-tests/test_*.sh))

.PHONY: all lib speedups header examples demo bench bench-apps fuzz test test-rust test-c test-cxx test-cmake test-python test-ruby test-fuzz clean
all: lib examples

# The library, staged as a system would install it: libnhttps.so.X.Y.Z with
# its soname link libnhttps.so.X and the development link libnhttps.so.
lib:
	$(CARGO) build --release
	@mkdir -p $(LIBDIR)
	@# install replaces the file (new inode): running programs keep the old one
	install -m 0755 target/release/libnhttps.so $(LIBDIR)/libnhttps.so.$(VERSION)
	ln -sf libnhttps.so.$(VERSION) $(LIBDIR)/libnhttps.so.$(MAJOR)
	ln -sf libnhttps.so.$(MAJOR) $(LIBDIR)/libnhttps.so
	install -m 0644 target/release/libnhttps.a $(LIBDIR)/libnhttps.a

# The bindings' optional C extensions, built in place for a checkout's
# PYTHONPATH=bindings/python and -Ibindings/ruby/lib (pip install and
# build_gem.sh build their own): nhttps._speedups, Nhttps::Speedups.
speedups: lib
	cd bindings/python && $(PYTHON) setup.py -q build_ext --inplace
	bash bindings/ruby/build_speedups.sh bindings/ruby/lib/nhttps

# Regenerates include/nhttps.h from src/ffi (cbindgen runs in build.rs).
header: lib
	cp "$$(ls -t target/release/build/nhttps-*/out/nhttps.h | head -n 1)" include/nhttps.h

examples: lib $(addprefix $(BUILD)/bin/,$(EXAMPLES))

$(BUILD)/bin/%: examples-c/%.c include/nhttps.h $(LIBDIR)/libnhttps.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) $(CFLAGS) -Iinclude $< $(LDLIBS) -o $@

$(BUILD)/tests/%: c-tests/%.c c-tests/harness.h include/nhttps.h $(LIBDIR)/libnhttps.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -Iinclude -Ic-tests $< $(LDLIBS) -o $@

$(LIBDIR)/libnhttps.so: lib

# websocket_echo computes Sec-WebSocket-Accept with OpenSSL's SHA-1 and base64.
$(BUILD)/bin/websocket_echo: LDLIBS += -lcrypto

# Builds and runs the demo: serve on https://localhost:8443 with the
# development certificate and a small bundled site.
demo: examples
	@echo "Try:  curl --insecure https://localhost:8443/   (development certificate: --insecure is needed)"
	$(BUILD)/bin/serve --port 8443

# nhttps beside nginx, Node and libmicrohttpd in one run; figures and ratios
# in build/bench (see bench/RESULTS.md).
bench: examples
	bash bench/run.sh

# Web applications on nhttps (python -m nhttps.wsgi, rackup -s nhttps) beside
# gunicorn, granian and Puma; figures in build/bench-apps.
bench-apps: lib
	bash bench/apps.sh

test: test-rust test-c test-cxx test-cmake test-python test-ruby test-fuzz

# A short fuzzing run in make test: each target 20 s (about a minute in all).
test-fuzz:
	bash fuzz/run.sh 20

# The long run (fuzz/README.md): FUZZ_SECONDS per target, 30 minutes by default.
FUZZ_SECONDS ?= 1800
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

test-rust:
	$(CARGO) test --release

test-c: examples $(addprefix $(BUILD)/tests/,$(C_TESTS))
	BUILD=$(BUILD) bash c-tests/run.sh $(C_TESTS) $(SHELL_TESTS)

# The header compiles cleanly as C11 and as C++17.
test-cxx: lib
	@mkdir -p $(BUILD)
	printf '#include <nhttps.h>\nint main(void){return nhttps_version()==0;}\n' > $(BUILD)/header_check.c
	$(CC) -std=c11 $(WARN) -pedantic -Iinclude -c $(BUILD)/header_check.c -o $(BUILD)/header_check_c.o
	$(CXX) -std=c++17 $(WARN) -pedantic -Iinclude -x c++ -c $(BUILD)/header_check.c -o $(BUILD)/header_check_cxx.o
	@echo "header: C11 and C++17 clean"

# The Python binding (ctypes) against the library just built.
test-python: lib
	bash bindings/python/run_tests.sh
	bash bindings/python/install_check.sh

# The Ruby binding (ffi gem).
test-ruby: lib
	bash bindings/ruby/run_tests.sh
	bash bindings/ruby/install_check.sh

test-cmake:
	bash c-tests/cmake_check.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
	rm -f bindings/python/nhttps/_speedups*.so bindings/ruby/lib/nhttps/speedups.so
