"""The shared numba-kernel machinery: the private fallback cache folder and its use by a kernel
module that numba alone could not cache (fresh interpreters, so that the disk cache shows)."""
import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

from common import numba_kernels
from common.numba_kernels import CACHE_FALLBACK_PREFIX, NUMBA_AVAILABLE, private_cache_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
posix = pytest.mark.skipif(os.name != "posix" or not hasattr(os, "getuid"),
                           reason="POSIX permissions and user ids")

# A kernel module of its own, written into a folder whose __pycache__ cannot be made.
TINY_KERNELS = textwrap.dedent('''
    from common.numba_kernels import numba_kernel

    @numba_kernel(nogil=True)
    def triple(x):
        return 3 * x
''')

RUN_TINY = textwrap.dedent("""
    import json, logging, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.path.insert(0, sys.argv[1])
    import tiny_kernels
    from common.numba_kernels import cache_dir, cache_stats
    value = tiny_kernels.triple(14)
    print(json.dumps({"value": value, "dir": cache_dir(tiny_kernels.triple),
                      "stats": cache_stats({"triple": tiny_kernels.triple})}))
""")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """tempfile's folder pointed at a fresh folder of this test."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@posix
def test_private_cache_dir_is_made_mode_0700_and_found_again(private_tmp):
    first = private_cache_dir()
    assert first == str(private_tmp / f"{CACHE_FALLBACK_PREFIX}{os.getuid()}")
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700
    assert private_cache_dir() == first


@posix
def test_a_folder_others_may_write_is_never_used(private_tmp):
    shared = private_tmp / f"{CACHE_FALLBACK_PREFIX}{os.getuid()}"
    shared.mkdir()
    os.chmod(shared, 0o777)
    chosen = private_cache_dir()
    assert chosen is not None and chosen != str(shared)
    assert os.path.dirname(chosen) == str(private_tmp)
    assert os.path.basename(chosen).startswith(CACHE_FALLBACK_PREFIX)
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o700


@posix
def test_a_file_in_place_of_the_folder_is_not_used(private_tmp):
    (private_tmp / f"{CACHE_FALLBACK_PREFIX}{os.getuid()}").write_text("not a folder")
    chosen = private_cache_dir()
    assert chosen is not None and os.path.isdir(chosen)
    assert os.path.basename(chosen) != f"{CACHE_FALLBACK_PREFIX}{os.getuid()}"


def test_without_numba_stats_and_dir_are_empty_and_kernels_refused(monkeypatch):
    monkeypatch.setattr(numba_kernels, "NUMBA_AVAILABLE", False)
    assert numba_kernels.cache_stats({"k": object()}) == {}
    assert numba_kernels.cache_dir(object()) is None

    def twice(x):
        return 2 * x

    with pytest.raises(RuntimeError, match="numba is not installed: cannot compile kernel 'twice'"):
        numba_kernels.numba_kernel(nogil=True)(twice)


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")
@posix
def test_kernel_module_without_cache_location_uses_the_private_folder(tmp_path):
    pkg = tmp_path / "site-packages"
    pkg.mkdir()
    (pkg / "tiny_kernels.py").write_text(TINY_KERNELS)
    (pkg / "__pycache__").write_text("not a folder")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update({"HOME": str(not_a_dir), "XDG_CACHE_HOME": str(not_a_dir), "TMPDIR": str(tmp),
                "PYTHONPATH": os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])})

    def run():
        proc = subprocess.run([sys.executable, "-c", RUN_TINY, str(pkg)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr

    first, log = run()
    fallback = tmp / f"{CACHE_FALLBACK_PREFIX}{os.getuid()}"
    assert first["value"] == 42
    assert first["dir"].startswith(str(fallback))
    assert first["stats"]["triple"] == {"signatures": 1, "hits": 0, "misses": 1}
    # The message goes to the kernel module's own logger.
    assert f"tiny_kernels:numba kernels: source folder and user cache not writable, caching " \
           f"in {fallback}" in log
    second, _ = run()
    assert second["dir"] == first["dir"]
    assert second["stats"]["triple"] == {"signatures": 1, "hits": 1, "misses": 0}
