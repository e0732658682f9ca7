# bbb-cluster-proxy: top-level entry points. Each target installs missing packages first.
#   make build   Release build, binary at build/bbb-cluster-proxy
#   make demo    the proxy in front of two simulated BBB nodes (Ctrl-C to stop)
#   make test    Debug + ASan/UBSan build, every ctest suite (unit, integration, browser)
#   make deb     Release build, then the Debian package build/bbb-cluster-proxy_<version>-1_<arch>.deb
#   make test-tsan  ThreadSanitizer build (build-tsan) of the integration suites, 4 proxy workers
#   make fuzz    libFuzzer targets (clang, build-fuzz), FUZZ_SECONDS each (docs/security.md)
JOBS ?= $(shell nproc)
DEMO_PORT ?= 8080
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: deps build demo test test-release test-tsan fuzz clean format bench deb

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBCP_TESTS=OFF >/dev/null
	@cmake --build build -j $(JOBS)

# cpack packages the tree just built (it never builds; see packaging/CMakeLists.txt).
deb: build
	cd build && cpack -G DEB

demo: build
	./build/bbb-cluster-proxy demo --port $(DEMO_PORT)

test: deps
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBCP_SANITIZE=address,undefined >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer over the integration suites that run the proxy's threads in the test process
# or in the binary they start (4 proxy workers), and the cache unit tests (the compressor's
# threads); builds just those test binaries and the CLI they start. The hardening suite
# (timing-bound abuse and soak figures) and the packaging tests stay with `make test`.
# Suppressions: tests/tsan.supp (each one explained).
TSAN_TESTS = proxy_integration_test cache_integration_test cli_integration_test \
             reload_integration_test admin_integration_test encoding_integration_test \
             early_hints_integration_test post_integration_test discovery_integration_test \
             h2_integration_test dictionary_integration_test \
             cache_test
test-tsan: deps
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBCP_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	cd build-tsan && BCP_TEST_WORKERS=4 \
	    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    ctest --output-on-failure -j $(JOBS) -E '_NOT_BUILT|^e2e_browser$$|^package_'

# libFuzzer targets (fuzz/): clang + ASan/UBSan in build-fuzz, then each target for FUZZ_SECONDS.
fuzz:
	@scripts/install-deps --no-browser --fuzz
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBCP_SANITIZE=address,undefined -DBCP_FUZZ=ON \
	    -DBCP_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	fuzz/run build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-release: deps
	@cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS)

bench: build
	@cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DBCP_BENCH=ON -DBCP_TESTS=OFF >/dev/null
	@cmake --build build-bench --target bcp_micro -j $(JOBS)
	bench/run

format:
	@find src tests bench fuzz -name '*.[ch]pp' 2>/dev/null | xargs clang-format -i

clean:
	rm -rf build build-asan build-test build-tsan build-fuzz
