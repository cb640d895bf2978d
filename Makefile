# Two commands on a fresh clone:
#   make demo   installs the project and runs the main job on the embedded synthetic dataset
#   make test   installs the project and runs the whole test suite (fast tests, then slow ones)
# PYTHON selects the interpreter (e.g. a virtual environment's: make test PYTHON=.venv/bin/python).
# `make setup` installs the core and every CPU extra (setup.py: synthetic, export, video, smpl,
# faiss, test); a ReID-only install is `pip install -e .`.
PYTHON ?= python
# The torch build to install; override on machines with other wheels, e.g. TORCH_SPEC="torch torchvision".
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test test-fast peers bench bench-readme

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

# Every benchmark at its full size: thin command lines in tools/, the code in benchmarks/. Each
# writes its figures with the machine they ran on to $(BENCH_DIR)/<benchmark>.json; the last step
# turns them into $(BENCH_DIR)/README.md (the README's benchmark table: `make bench-readme`).
BENCH_DIR ?= outputs/bench

# fast-reid's evaluator and re-ranking, timed beside ours by bench_eval.py --peers. fastreid pins
# torch==1.13.1, so it is installed without its dependencies (it uses numpy and Cython only).
peers: setup
	$(PYTHON) -m pip install --quiet -e ".[peers]"
	$(PYTHON) -m pip install --quiet --no-deps fastreid==1.4.0

bench: peers
	$(PYTHON) tools/bench_eval.py --peers --json-dir $(BENCH_DIR)
	$(PYTHON) tools/bench_cluster.py --json-dir $(BENCH_DIR)
	$(PYTHON) tools/bench_render.py --json-dir $(BENCH_DIR)
	$(PYTHON) tools/bench_train.py --profile --json-dir $(BENCH_DIR)
	$(PYTHON) tools/bench_train.py --precision fp32 --no-channels-last --profile --json-dir $(BENCH_DIR)
	$(PYTHON) tools/bench_report.py --json-dir $(BENCH_DIR)

bench-readme:
	$(PYTHON) tools/bench_report.py --json-dir $(BENCH_DIR) --readme README.md
