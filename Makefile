# SPDX-License-Identifier: MIT
# The front door: `make run` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PYTHON     := /usr/bin/python3
PYTEST     := $(PYTHON) -m pytest
DEPS       := packaging/debian-deps.txt
FUZZ_SECONDS ?= 30
S3RVER     := tests/.s3rver/node_modules/.bin/s3rver
SOURCES     = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')

.PHONY: all deps test-deps build run test unit fuzz-replay integration asan fuzz format \
        format-check lint bench clean

all: build

deps:
	@scripts/install-deps.sh $(DEPS)

# Peers of the integration tests that Debian does not package: s3rver (an S3 server, in Node),
# installed once into the git-ignored tests/.s3rver. An npm already on PATH (e.g. NodeSource's
# Node) is used as is; otherwise Debian's npm (which brings nodejs) is installed.
test-deps: deps $(S3RVER)

$(S3RVER):
	@command -v npm >/dev/null 2>&1 || echo npm | scripts/install-deps.sh /dev/stdin
	npm install --no-audit --no-fund --prefix tests/.s3rver s3rver@3.7.1

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	exec $(BUILD)/imgd --config none --state-dir .imgd --run-dir .imgd/run

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

fuzz-replay: build
	meson test -C $(BUILD) --suite fuzz --print-errorlogs

integration: build $(S3RVER)
	IMGD_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider tests/integration

test: build unit fuzz-replay integration

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dbuildtype=debug

asan: deps $(S3RVER) $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(ASAN_BUILD) --suite unit --suite fuzz --print-errorlogs
	IMGD_BUILD=$(abspath $(ASAN_BUILD)) IMGD_SANITIZED=1 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(PYTEST) -q -p no:cacheprovider tests/integration

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_lundef=false -Dbuildtype=debug

# Run each libFuzzer target for FUZZ_SECONDS on its corpus (new inputs stay in the build dir).
fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	for t in $(FUZZ_BUILD)/tests/fuzz/fuzz-*; do \
	    [ -f $$t ] && [ -x $$t ] || continue; \
	    name=$$(basename $$t); mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	    $$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/$$name tests/fuzz/corpus/$$name \
	        || exit 1; \
	done

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

# Neither tool models __attribute__((cleanup)): their leak checks are off (see .clang-tidy);
# LeakSanitizer in `make asan` checks leaks on the real code paths.
lint: build
	clang-tidy -p $(BUILD) --quiet $(filter src/%.c,$(SOURCES))
	cppcheck --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	    --suppress=missingIncludeSystem --suppress=memleak -I src -I $(BUILD) --std=c11 \
	    --include=/usr/include/jansson.h --quiet src

bench: build
	bench/http/run.sh
	bench/pull/run.sh
	bench/inventory/run.sh
	bench/containers/run.sh
	bench/deploy/run.sh
	bench/ims/run.sh
	bench/ims/artifacts.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
