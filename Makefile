# ponder — thin wrapper over CMake. `make test` and `make demo` install dependencies first.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
DESTDIR ?=
DEB_PACKAGES = build-essential cmake pkg-config libpcre2-dev libcjson-dev libopenblas-dev \
               liblapacke-dev libcmocka-dev libpng-dev clang libclang-rt-dev libomp-dev \
               libmicrohttpd-dev libcurl4-openssl-dev libopenmpi-dev openmpi-bin nodejs chromium

.PHONY: all deps build test test-asan demo demo-rl demo-policies bench fuzz fuzz-run install clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = "0" ]; then \
	  echo "deps: installing$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || exit 1; \
	else \
	  echo "deps: missing packages. Run as root:"; \
	  echo "  apt-get update && apt-get install -y$$missing"; exit 1; \
	fi
	@# npm packages of the server's client tests (openai, playwright-core), pinned by tests/serve/package-lock.json;
	@# npm comes with the machine's Node (Debian's npm package conflicts with it, so it is not in DEB_PACKAGES).
	@if [ -d tests/serve/node_modules/openai ] && [ -d tests/serve/node_modules/playwright-core ]; then \
	  echo "deps: npm packages of tests/serve present"; \
	elif ! command -v npm > /dev/null; then \
	  echo "deps: npm not found (it comes with Node.js): the tests/serve client tests will be SKIPPED"; \
	else \
	  echo "deps: npm ci in tests/serve (from package-lock.json)"; \
	  (cd tests/serve && npm ci --ignore-scripts --no-audit --no-fund) || exit 1; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

demo: deps
	$(MAKE) build
	bash scripts/demo.sh $(BUILD)/ponder

demo-rl: deps
	$(MAKE) build
	bash scripts/demo-rl.sh $(BUILD)/ponder

# train an overthinking model and measure the reasoning-control policies on it (scripts/demo-policies.sh)
demo-policies: deps
	$(MAKE) build
	bash scripts/demo-policies.sh $(BUILD)/ponder

# installs $(DESTDIR)$(PREFIX)/bin/ponder (default /usr/local/bin, on PATH); e.g. make install PREFIX=$$HOME/.local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

bench: build
	$(BUILD)/ponder bench --synthetic llama-110m --type q8_0

# Fuzzing (clang + libFuzzer; libclang-rt-dev holds the fuzzer runtime, libomp-dev clang's OpenMP):
# every pd_* library is built with coverage + ASan + UBSan. `make fuzz-run SECONDS=60` runs each
# target that long (FUZZ_TARGETS="fuzz_gguf ..." to pick some; RUNS=N also stops each after N executions);
# the grown corpus stays in FUZZ_CORPUS.
FUZZ_BUILD ?= build-fuzz
FUZZ_CORPUS ?= $(HOME)/.cache/ponder-fuzz
SECONDS ?= 60
RUNS ?=
FUZZ_TARGETS ?=
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DPD_FUZZ=ON -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) --target pd_fuzz_all -j $(JOBS)

fuzz-run: fuzz
	RUNS="$(RUNS)" bash fuzz/run.sh $(FUZZ_BUILD) $(SECONDS) $(FUZZ_CORPUS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
