"""The compiled clustering kernels are cached on disk: a second process compiles nothing.

Each test runs fresh interpreters (numba's in-process state would hide the disk cache) on an
empty cache folder of its own, so the result does not depend on what earlier runs left behind.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from reid.cluster.kernels import NUMBA_AVAILABLE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS_PY = os.path.join(ROOT, "reid", "cluster", "kernels.py")
COMMON_KERNELS_PY = os.path.join(ROOT, "common", "numba_kernels.py")

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")

# The first pseudo-labelling as the trainer runs it (CPU kNN + Jaccard + eps + DBSCAN).
FIRST_CLUSTERING = textwrap.dedent("""
    import json
    from reid.cluster import PseudoLabeler
    from reid.cluster.kernels import kernel_cache_dir, kernel_cache_stats
    from benchmarks.synthetic import make_clustered_features

    x, _ = make_clustered_features(160, 64, 12, spread=0.8, seed=0)
    result = PseudoLabeler(k1=12, k2=4, rho=0.05, use_gpu=False)(x)
    print(json.dumps({"stats": kernel_cache_stats(), "dir": kernel_cache_dir(),
                      "labels": result.labels.tolist(), "eps": result.eps}))
""")

# One kernel of a standalone copy of kernels.py (it imports only numpy, numba and
# common.numba_kernels, copied beside it as a package ``common`` of that one module), imported
# as the top-level module ``kernels`` from the folder given.
COPY_PAIR_DOTS = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import kernels
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    rows = np.array([0, 1, 2], dtype=np.int64)
    dots = kernels.pair_dots(x, rows, rows[::-1].copy())
    print(json.dumps({"stats": kernels.kernel_cache_stats(), "dir": kernels.kernel_cache_dir(),
                      "dots": dots.tolist()}))
""")


def _run(code, env, *args):
    """Run ``code`` in a fresh interpreter; returns its JSON line."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join([ROOT, full_env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _used(stats):
    return {name: s for name, s in stats.items() if s["signatures"] > 0}


def test_second_process_loads_every_kernel_from_numba_cache_dir(tmp_path):
    cache = tmp_path / "numba-cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    first = _run(FIRST_CLUSTERING, env)
    assert first["dir"].startswith(str(cache))
    used = _used(first["stats"])
    # The CPU path uses at least these; all of them were compiled (the folder was empty).
    assert {"_pair_dots_kernel", "_topk_rows_kernel", "_histogram_kernel",
            "_pairs_kernel"} <= set(used)
    assert all(s["misses"] == s["signatures"] and s["hits"] == 0 for s in used.values()), used
    assert any(name.endswith(".nbi") for name in os.listdir(first["dir"]))

    second = _run(FIRST_CLUSTERING, env)
    # Same kernels, same signatures, every one loaded from the cache and none compiled.
    assert _used(second["stats"]).keys() == used.keys()
    for name, s in _used(second["stats"]).items():
        assert s["signatures"] == used[name]["signatures"], (name, s)
        assert s["hits"] == s["signatures"] and s["misses"] == 0, (name, s)
    assert second["labels"] == first["labels"] and second["eps"] == first["eps"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and paths")
def test_unwritable_locations_fall_back_to_private_temp_cache(tmp_path):
    # A copy of kernels.py whose __pycache__ cannot be made (a file is in the way), with no
    # usable user cache folder (HOME and XDG_CACHE_HOME are a file) and no NUMBA_CACHE_DIR:
    # numba alone raises "no locator available" at import.
    pkg = tmp_path / "site-packages"
    pkg.mkdir()
    shutil.copy(KERNELS_PY, pkg / "kernels.py")
    (pkg / "common").mkdir()
    (pkg / "common" / "__init__.py").write_text("")
    shutil.copy(COMMON_KERNELS_PY, pkg / "common" / "numba_kernels.py")
    (pkg / "__pycache__").write_text("not a folder")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"HOME": str(not_a_dir), "XDG_CACHE_HOME": str(not_a_dir), "TMPDIR": str(tmp)}
    first = _run(COPY_PAIR_DOTS, env, str(pkg))
    fallback = tmp / f"gcl-reid-numba-cache-{os.getuid()}"
    assert first["dir"].startswith(str(fallback))
    assert os.stat(fallback).st_mode & 0o777 == 0o700
    assert first["stats"]["_pair_dots_kernel"] == {"signatures": 1, "hits": 0, "misses": 1}
    assert first["dots"] == [23.0, 50.0, 23.0]

    second = _run(COPY_PAIR_DOTS, env, str(pkg))
    assert second["dir"] == first["dir"]
    assert second["stats"]["_pair_dots_kernel"] == {"signatures": 1, "hits": 1, "misses": 0}
    assert second["dots"] == first["dots"]
