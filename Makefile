# Every target bootstraps the project's own virtual environment from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# One BLAS thread: faster and steadier for the small matrices minitl uses on a shared machine.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: venv test test-double test-slow test-gpu gpu-check demo demos demo-parity demo-animals demo-layers \
        demo-layers-real tune results results-layers quickstart \
        data-preview docs lint seeded-bugs bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,real,cluster]'
	touch $(STAMP)

# Every test; then every test that takes `device` again on the device double (a strict CuPy
# stand-in backed by NumPy, tests/device_double: the GPU path's host/device discipline
# checked without a GPU); then the op and layer tests again with every fast path off
# (minitl/fast/: the plain ops must pass on their own); then lint and the size of the
# teaching path.
FAST_OFF_TESTS := tests/test_autograd.py tests/test_ops_grad.py tests/test_errors.py \
                  tests/test_fast_paths.py tests/test_float32_and_frozen.py tests/nn tests/optim \
                  tests/reliability/test_rel_conv_fuzz.py tests/reliability/test_rel_layers_fuzz.py

test: $(STAMP)
	$(PY) -m pytest -q
	MINITL_TEST_BACKEND=double $(PY) -m pytest -q -p no:cacheprovider
	MINITL_FAST=0 $(PY) -m pytest -q -p no:cacheprovider $(FAST_OFF_TESTS)
	$(VENV)/bin/ruff check minitl tests demos scripts bench
	$(PY) scripts/line_counts.py

# The device leg alone: the tests that take `device`, on the device double.
test-double: $(STAMP)
	MINITL_TEST_BACKEND=double $(PY) -m pytest -q -p no:cacheprovider

# Every test, slow ones included, with many more hypothesis examples per property.
test-slow: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q -m 'slow or not slow'

# The GPU machine has no package index: use its own python3, force the CuPy backend.
test-gpu:
	MINITL_TEST_BACKEND=cupy python3 -m pytest -q -p no:cacheprovider

# On a GPU machine, in one call: the GPU benchmark, make test-gpu, and the whole make demo
# on the GPU with its verdicts compared to a CPU run's (scripts/gpu_check.sh; logs in
# $(OUT)/gpu_check). Uses the machine's own python3, like test-gpu.
gpu-check:
	scripts/gpu_check.sh $(OUT)/gpu_check

# The main job: both transfer experiments on the pre-registered evaluation seeds
# (demos/claims.toml), then the claims table. DEMO_ARGS passes options to both, e.g.
# `make demo DEMO_ARGS="--seed-offset 3000" OUT=out/offset3000`.
OUT ?= out
DEMO_ARGS ?=
demo: $(STAMP)
	$(PY) -m demos.parity --out $(OUT)/parity $(DEMO_ARGS)
	$(PY) -m demos.animals_digits --out $(OUT)/animals_digits $(DEMO_ARGS)
	$(PY) -m demos.layers --digits glyph --out $(OUT)/layers_glyph \
		--figure-with $(OUT)/layers_real $(DEMO_ARGS)
	$(PY) -m demos.summary $(OUT)/parity $(OUT)/animals_digits $(OUT)/layers_glyph

# The experiments on scikit-learn's real handwritten digits (--digits real): the same
# pre-registered claims, thresholds and tuned hyperparameters, into $(OUT)/real/ (and the
# layer-transfer experiment's real run into $(OUT)/layers_real, as demo-layers-real).
.PHONY: demo-real
demo-real: $(STAMP)
	$(PY) -m demos.parity --digits real --out $(OUT)/real/parity $(DEMO_ARGS)
	$(PY) -m demos.animals_digits --digits real --out $(OUT)/real/animals_digits $(DEMO_ARGS)
	$(PY) -m demos.layers --digits real --out $(OUT)/layers_real \
		--figure-with $(OUT)/layers_glyph $(DEMO_ARGS)
	$(PY) -m demos.summary $(OUT)/real/parity $(OUT)/real/animals_digits $(OUT)/layers_real

demo-parity: $(STAMP)
	$(PY) -m demos.parity --out $(OUT)/parity $(DEMO_ARGS)

demo-animals: $(STAMP)
	$(PY) -m demos.animals_digits --out $(OUT)/animals_digits $(DEMO_ARGS)

# Which layers transfer (Yosinski et al., 2014): the glyph version (part of `make demo`) and
# the real-digit one (for `make demo-real`). Each draws its figure beside the other's run
# when that exists in $(OUT).
demo-layers: $(STAMP)
	$(PY) -m demos.layers --digits glyph --out $(OUT)/layers_glyph \
		--figure-with $(OUT)/layers_real $(DEMO_ARGS)

demo-layers-real: $(STAMP)
	$(PY) -m demos.layers --digits real --out $(OUT)/layers_real \
		--figure-with $(OUT)/layers_glyph $(DEMO_ARGS)

demos: demo

# The hyperparameter search (seeds >= 10000 only), the same grid for every arm; writes
# demos/tuning/*.json, which the experiments read. TUNE_ARGS passes options, e.g.
# `make tune TUNE_ARGS="--scheduler tcp://HOST:8786"` (docs/CLUSTER.md).
TUNE_ARGS ?=
tune: $(STAMP)
	$(PY) -m demos.tune $(TUNE_ARGS)

# The README's results section and figures, from the run `make demo` wrote; with
# REPLICATION=out/offset3000 (a second block) its verdicts stand beside the first.
results: $(STAMP)
	$(PY) scripts/readme_results.py --parity $(OUT)/parity --animals $(OUT)/animals_digits \
		$(if $(REPLICATION),--replication $(REPLICATION))

# The normal baseline: a small MLP trained from scratch on two spirals.
# QUICKSTART_ARGS passes options, e.g. `make quickstart QUICKSTART_ARGS="--device cuda"`.
QUICKSTART_ARGS ?=
quickstart: $(STAMP)
	$(PY) -m demos.quickstart $(QUICKSTART_ARGS)

# The README's layer-transfer section, from `make demo-layers demo-layers-real`; with
# REPLICATION=out/offset3000 the second block's verdicts stand beside the first.
results-layers: $(STAMP)
	$(PY) scripts/readme_layers.py --out $(OUT) $(if $(REPLICATION),--replication $(REPLICATION))

# Sample grids of every dataset (procedural, and the real digits), shown in the README.
data-preview: $(STAMP)
	$(PY) demos/data_preview.py --out docs/figures

# HTML API reference from the docstrings; any pdoc warning fails the build.
docs: $(STAMP)
	$(PY) -m pip install -q 'pdoc>=14'
	$(PY) -W error -m pdoc -o out/docs minitl
	@echo "API reference: out/docs/index.html"

# Plant one bug at a time in an op's backward; every one must make the tests fail.
seeded-bugs: $(STAMP)
	$(PY) scripts/seeded_bugs.py

# Speed and memory as ratios against hand-written NumPy (and PyTorch CPU if the `bench`
# extra is installed: pip install -e '.[bench]'), and what one experiment seed costs against
# the commit SEED_BASE (default HEAD~, checked out with git worktree) in SEED_BLOCKS
# interleaved blocks; writes bench/results.json, then the README performance section. Needs
# only threadpoolctl (to pin BLAS threads); about 5 minutes with 3 blocks.
SEED_BASE ?= HEAD~
SEED_BLOCKS ?= 3
bench: $(STAMP)
	$(PY) -c "import threadpoolctl" 2>/dev/null || $(PY) -m pip install -q threadpoolctl
	SEED_BASE=$(SEED_BASE) SEED_BLOCKS=$(SEED_BLOCKS) $(PY) bench/run_all.py
	$(PY) bench/readme_section.py

lint: $(STAMP)
	$(VENV)/bin/ruff check minitl tests demos scripts bench
	$(PY) scripts/line_counts.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
