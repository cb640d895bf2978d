# Two commands on a fresh clone:
#   make demo   installs the project and runs the main job on the embedded synthetic dataset
#   make test   installs the project and runs the whole test suite (fast tests, then slow ones)
# PYTHON selects the interpreter (e.g. a virtual environment's: make test PYTHON=.venv/bin/python).
# `make setup` installs the core and every CPU extra (setup.py: synthetic, export, video, smpl,
# faiss, test); a ReID-only install is `pip install -e .`.
PYTHON ?= python
# The torch build to install; override on machines with other wheels, e.g. TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-fast bench

setup:
	$(PYTHON) -m pip install --quiet $(TORCH_SPEC)
	$(PYTHON) -m pip install --quiet -e ".[all]"

demo: setup
	$(PYTHON) tools/train_gcl.py

test: setup
	$(PYTHON) -m pytest -q
	$(PYTHON) -m pytest -q -m slow || test $$? -eq 5

test-fast:
	$(PYTHON) -m pytest -q

# Every benchmark at its full size: thin command lines in tools/, the code in benchmarks/.
bench:
	$(PYTHON) tools/bench_eval.py
	$(PYTHON) tools/bench_cluster.py
	$(PYTHON) tools/bench_render.py
	$(PYTHON) tools/bench_train.py
