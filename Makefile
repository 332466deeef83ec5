# The two commands of the README, and a few conveniences. CMake does the
# building; this file only names the steps.
#   make run    install what is missing, build (Release), serve on 127.0.0.1:8080
#   make test   install what tests need, build with ASan+UBSan, run every test

LISTEN ?= 127.0.0.1:8080
DATA   ?= ./cameo-data
JOBS   ?= $(shell nproc)

.PHONY: run build test build-asan build-clang bench format clean

run: build
	./build/cameo serve --listen $(LISTEN) --data $(DATA) --seed-demo

build:
	scripts/install-deps.sh build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCAMEO_SANITIZE=OFF -DCAMEO_TESTS=OFF
	cmake --build build -j $(JOBS)

build-asan:
	scripts/install-deps.sh test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCAMEO_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)

# The code must build warning-free with both gcc 12 and clang 14: the clang
# build runs the unit tests and libFuzzer, the gcc build (ASan+UBSan) runs everything and
# prints the summary line.
build-clang:
	scripts/install-deps.sh test
	CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug -DCAMEO_SANITIZE=ON
	cmake --build build-clang -j $(JOBS)

test: build-asan build-clang
	cd build-clang && ctest --output-on-failure -j $(JOBS) -R '^(unit|fuzz)\.'
	cd build-asan && ctest --output-on-failure -j $(JOBS)

bench: build
	scripts/install-deps.sh bench
	bench/hitratio.sh
	bench/load.sh
	bench/batch.sh
	bench/redis_l2.sh
	bench/propagation.sh
	bench/redis_outage.sh
	bench/browser.sh
	bench/presign.sh
	bench/origin_calls.sh

format:
	clang-format -i $$(find include src tests/unit tests/fuzz bench -name '*.[ch]')

clean:
	rm -rf build build-asan build-clang
