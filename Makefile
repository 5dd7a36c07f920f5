# The README's two commands: `make run` (install deps, build, train the reference MLP on
# Fashion-MNIST, evaluate, predict) and `make test` (install deps, build, run every test).
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test check clean bench

all: build

deps:
	./scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Train with the C API example (10 epochs); then with the CLI and the JSON description,
# saving the model, and evaluate and predict with the saved file.
run: build
	./$(BUILD)/fashion_mlp 10
	./$(BUILD)/kiln train models/mlp.json --data fashion-mnist --epochs 10 --out $(BUILD)/run
	./$(BUILD)/kiln eval $(BUILD)/run/model.kiln --data fashion-mnist --out $(BUILD)/run
	./$(BUILD)/kiln predict $(BUILD)/run/model.kiln /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --top 3 | head -n 10

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Sanitizer build and run of the tests (slower; CI runs it after make test).
check: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -LE slow

bench: build
	./bench/mlp_vs_torch.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan
