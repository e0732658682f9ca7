# bbb-cluster-proxy: top-level entry points. Each target installs missing packages first.
#   make build   Release build, binary at build/bbb-cluster-proxy
#   make demo    the proxy in front of two simulated BBB nodes (Ctrl-C to stop)
#   make test    Debug + ASan/UBSan build, every ctest suite (unit, integration, browser)
#   make deb     Release build, then the Debian package build/bbb-cluster-proxy_<version>-1_<arch>.deb
JOBS ?= $(shell nproc)
DEMO_PORT ?= 8080

.PHONY: deps build demo test test-release clean format bench deb

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
	rm -rf build build-asan build-test
