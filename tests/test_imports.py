"""Every module of the packages and tools imports; a missing optional package names its extra."""
import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest

from common.optional import EXTRA_OF_MODULE, MissingExtraError, require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("common", "reid", "mesh", "generators", "benchmarks")


def package_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
    return sorted(names)


def tool_modules() -> list[str]:
    folder = os.path.join(ROOT, "tools")
    return sorted("tools." + name[:-3] for name in os.listdir(folder)
                  if name.endswith(".py") and name != "__init__.py")


@pytest.mark.parametrize("name", package_modules() + tool_modules())
def test_module_imports(name):
    importlib.import_module(name)


def test_setup_extras_cover_the_optional_modules():
    """Each optional module's extra exists in setup.py and lists the module's pip package."""
    namespace: dict = {}
    source = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    exec(compile(source.split("setup(\n")[0], "setup.py", "exec"), namespace)  # no setup() call
    extras = namespace["EXTRAS"]
    for module, (package, extra) in EXTRA_OF_MODULE.items():
        if module == "warp":  # comes with anny
            continue
        assert any(req.startswith(package) for req in extras[extra]), (module, extra)
    assert not any(req.startswith("faiss") for req in namespace["INSTALL_REQUIRES"])
    assert set(extras["all"]) >= set(extras["video"]) | set(extras["export"])
    assert not any(req.startswith("faiss-gpu") for req in extras["all"])


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    with pytest.raises(MissingExtraError) as info:
        require("av", purpose="writing mp4 clips")
    message = str(info.value)
    assert "'video' extra" in message and "pip install -e '.[video]'" in message
    assert "writing mp4 clips" in message and isinstance(info.value, ImportError)


def test_mp4_writing_without_pyav_names_the_extra(monkeypatch, tmp_path):
    import numpy as np

    from generators.video_io import write_video

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingExtraError, match=r"\[video\]"):
        write_video(str(tmp_path / "clip.mp4"), np.zeros((2, 8, 8, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_slim_core_imports_or_names_the_extra():
    """With every optional package hidden, each module imports or raises MissingExtraError."""
    hidden = sorted(set(EXTRA_OF_MODULE))
    script = textwrap.dedent(f"""
        import importlib, sys
        for name in {hidden!r}:
            sys.modules[name] = None
        from common.optional import MissingExtraError
        failures, needs_extra = [], []
        for name in {package_modules()!r}:
            try:
                importlib.import_module(name)
            except MissingExtraError as exc:
                needs_extra.append(name)
            except Exception as exc:
                failures.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
        print("NEEDS_EXTRA", needs_extra)
        if failures:
            sys.exit("\\n".join(failures))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NEEDS_EXTRA" in result.stdout


def test_missing_anny_names_the_synthetic_extra(monkeypatch):
    from mesh.body.anny_model import _import_anny

    monkeypatch.setitem(sys.modules, "anny", None)
    with pytest.raises(ImportError, match=r"'synthetic' extra: pip install -e '\.\[synthetic\]'"):
        _import_anny()
