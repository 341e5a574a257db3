# The README's commands. `make run` sets everything up and runs the main job; `make test` runs the tests.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# The tested pins: served from this machine's disk by pip; a user with their own CUDA torch may skip them.
# The flower extra (flwr[simulation], Ray) is optional for users; development installs it, so its tests run.
TORCH   ?= torch==2.14.1 torchvision==0.29.1
# pip at the tested version, and every other package at the versions CI last passed with (constraints.txt),
# so a clean clone gets the tested environment.
PIP     ?= pip==26.3

.PHONY: setup run test data clean-runs

$(BIN)/mosaic-nb: settings.ini setup.py constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q '$(PIP)'
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,flower]'
	@touch $@

setup: $(BIN)/mosaic-nb data

# Fashion-MNIST from Debian's package where apt exists (offline default); skipped cleanly elsewhere.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) || echo "note: could not install dataset-fashion-mnist; runs will try a download or --root"; \
	else echo "note: no apt-get here; Fashion-MNIST will be downloaded by torchvision or read from --root"; fi

# The main job: Mosaic against FedAvg and FedProx on Fashion-MNIST, 10 clients, Dirichlet 0.1, quick preset (CPU),
# all three with the same partition, model, seed and 15 FL rounds.
run: setup
	$(BIN)/mosaic-nb compare --algos fedavg,fedprox,mosaic --dataset fmnist --clients 10 --alpha 0.1 --preset quick --out runs/main

# nbdev_test runs two notebooks at once, and pytest two tests at once (pytest-xdist), then the Flower tests alone, so
# that one Ray runs at a time. One torch/OpenMP thread each keeps the two cores from being oversubscribed (two 2-thread
# kernels on 2 cores made k-means and training several times slower). The notebooks start from an empty
# cache of local models and Mosaic uploads (.test-cache), so that no test passes on work cached by an older version.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MOSAIC_NB_QUIET=1
test: setup
	rm -rf .test-cache
	$(ONE_THREAD) MOSAIC_NB_CACHE=$(CURDIR)/.test-cache $(BIN)/nbdev_test --n_workers 2 --timing
	rm -rf .test-cache
	$(ONE_THREAD) $(BIN)/python -m pytest -q -n 2 --durations 10 --ignore tests/test_flower.py tests
	$(ONE_THREAD) MOSAIC_NB_TEST_DEVICE=cpu $(BIN)/python -m pytest -q -n 2 tests/test_cuda.py   # the GPU tests' own logic, on the CPU
	$(ONE_THREAD) $(BIN)/python -m pytest -q --durations 5 tests/test_flower.py

clean-runs:
	rm -rf runs
