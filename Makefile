# The README's two commands: `make run` (install deps, build, train the reference MLP on
# Fashion-MNIST, evaluate, predict) and `make test` (install deps, build, run every test).
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-emu test-emu-full test-emu-race check clean bench

all: build

deps:
	./scripts/deps.sh

# Ninja where it is installed (deps.sh installs it): on 2 cores it builds the library and the
# tests in about half the time make's recursive makefiles take. A build folder first made
# with make keeps it (cmake refuses to switch a folder's generator).
gen = $$(if command -v ninja >/dev/null 2>&1 && ! grep -qs '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles' $(1)/CMakeCache.txt; \
	then echo -G Ninja; fi)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(call gen,$(BUILD)) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

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
	$(MAKE) test-emu
	$(MAKE) test-emu-race RACE_LABEL=race_quick

# The CUDA backend's tests on the CPU, through the emulator in tests/cuda_emu (the kernels'
# own source; needs the CUDA toolkit's headers, not a GPU or nvcc): skipped with a message
# where the toolkit is missing. Built with UndefinedBehaviorSanitizer (overflows and bad
# shifts in the kernels' index arithmetic abort the test).
EMU_UBSAN = -fsanitize=undefined -fno-sanitize-recover=undefined
test-emu: deps
	@if [ -f /usr/local/cuda/include/cuda_runtime_api.h ] || command -v nvcc >/dev/null 2>&1; then \
	  cmake -S . -B $(BUILD)-emu $(call gen,$(BUILD)-emu) -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA_EMU=ON -DCMAKE_C_FLAGS="$(EMU_UBSAN)" \
	    -DCMAKE_CXX_FLAGS="$(EMU_UBSAN)" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=undefined \
	    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=undefined $(CMAKE_FLAGS) >/dev/null && \
	  cmake --build $(BUILD)-emu -j $(JOBS) --target kiln_cli test_cuda_ops test_golden test_rnn test_resident test_device test_nccl test_cublaslt_emu test_emu_grid \
	    test_embedding test_attention test_masks test_rnn_dropout test_time_distributed test_prelu test_noise test_depthwise test_separable test_grouped_conv test_broadcast_merge test_permute test_group_norm test_activation_layers test_dot_attention test_masking test_unit_norm test_repeat_vector test_label_smoothing \
	    test_resize test_conv_transpose test_volume && \
	  cd $(BUILD)-emu && ctest --output-on-failure -j $(JOBS) -L cuda $(EMU_EXCLUDE); \
	else echo "test-emu: skipped (no CUDA toolkit headers at /usr/local/cuda/include)"; fi

# make test runs test-emu without the resident variants labelled cuda_knobs (switches that
# must change nothing; tests/CMakeLists.txt); test-emu-full runs them too.
EMU_EXCLUDE = -LE cuda_knobs
test-emu-full:
	$(MAKE) test-emu EMU_EXCLUDE=

# The emulator's kernels again under ThreadSanitizer (tests/cuda_emu/README.md, "Data
# races"): a race between warps or blocks of a kernel, around grid barriers and between
# launches is reported with both places, as compute-sanitizer's racecheck would on a GPU;
# and the CPU backend's threads (the worker pool, sessions, the loader) in the same build.
# make test runs the quick part (label race_quick: every op, the cooperative step kernels,
# the emulator's own race checks); RACE_LABEL=race runs all of it.
RACE_LABEL ?= race
EMU_TSAN = -fsanitize=thread
test-emu-race: deps
	@if [ -f /usr/local/cuda/include/cuda_runtime_api.h ] || command -v nvcc >/dev/null 2>&1; then \
	  cmake -S . -B $(BUILD)-emu-race $(call gen,$(BUILD)-emu-race) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_CUDA_EMU=ON -DKILN_EMU_TSAN=ON \
	    -DCMAKE_C_FLAGS="$(EMU_TSAN)" -DCMAKE_CXX_FLAGS="$(EMU_TSAN)" -DCMAKE_EXE_LINKER_FLAGS="$(EMU_TSAN)" \
	    -DCMAKE_SHARED_LINKER_FLAGS="$(EMU_TSAN)" $(CMAKE_FLAGS) >/dev/null && \
	  cmake --build $(BUILD)-emu-race -j $(JOBS) --target test_cuda_ops test_golden test_resident test_emu_grid \
	    test_sessions test_loader test_conv_gemm test_dropout test_sgemm test_cnn_model test_layernorm test_embedding \
	    test_depthwise test_resize test_random_layers && \
	  cd $(BUILD)-emu-race && { RUN=; \
	    if tests/cuda_emu/test_emu_grid capacity 2 2 2>&1 | grep -q "FATAL: ThreadSanitizer"; then \
	      echo "test-emu-race: ThreadSanitizer cannot map its memory here; running without address randomization"; \
	      RUN="setarch $$(uname -m) -R"; fi; \
	    $$RUN ctest --output-on-failure -j $(JOBS) -L '^$(RACE_LABEL)$$'; }; \
	else echo "test-emu-race: skipped (no CUDA toolkit headers at /usr/local/cuda/include)"; fi

# Sanitizer build and run of the tests (slower; CI runs it after make test).
check: deps
	cmake -S . -B $(BUILD)-asan $(call gen,$(BUILD)-asan) -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -LE slow

bench: build
	./bench/mlp_vs_torch.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-emu $(BUILD)-emu-race
