"""A prepared check of the CUDA paths, in one short run (``tools/gpu_check.py``).

Phases, each guarded (a failure is recorded with its message and the next phase runs):

* ``joint_fp32`` / ``joint_bf16`` / ``joint_fp16``: one GCL joint iteration of the config's
  networks (E_id, E_str, G twice + cycle, D, the instance-memory loss against
  ``GCL.NUM_NEGATIVES`` negatives of a Market-size memory) at batch 16, 256x128, with
  ``SOLVER.PRECISION`` set through the config: iterations/s and the allocator's peak memory
  (goal below 12 GB). A precision the config (or the device) refuses is recorded as an error;
  fp16 is CUDA only and reported as skipped on the CPU;
* ``pseudo_labeller``: the pseudo-labeller at N = 12,936 on clustered features, with every kNN
  backend the machine offers (faiss-gpu when installed, torch on CUDA);
* ``evaluation``: distances, metrics and k-reciprocal re-ranking at Market's size (3,368 queries
  x 15,913 gallery, generated features) on the device;
* ``renderer``: the built-in rasteriser on the device (structure maps and vertex colours, images
  /s, PyTorch3D when installed) and its silhouettes against the CPU's;
* ``export``: the encoder exported (state dict, TorchScript, ONNX when onnxruntime is there),
  each file loaded on the device and compared with the PyTorch model on the CPU;
* ``pytest_cuda``: the tests that skip without CUDA, selected by their skip reason, run by pytest
  in a subprocess: counts of passed / failed / skipped.

``tiny=True`` runs every phase at small sizes (for the test of the plumbing on a CPU).
"""
from __future__ import annotations

import glob
import inspect
import os
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from common.profiling import PeakMemory

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(HERE, "configs", "market.yaml")
GB = 2 ** 30
GPU_MEMORY_GOAL_GB = 12.0
PRECISIONS = ("fp32", "bf16", "fp16")
PHASES = tuple(f"joint_{p}" for p in PRECISIONS) + ("pseudo_labeller", "evaluation", "renderer",
                                                    "export", "pytest_cuda")
#: Full (CUDA) and tiny (plumbing) sizes of every phase.
SIZES = {
    False: {"batch": 16, "image_size": (256, 128), "memory": 12936, "warmup": 2, "iters": 5,
            "cluster_n": 12936, "cluster_dim": 2048, "num_query": 3368, "num_gallery": 15913,
            "eval_dim": 512, "render_batch": 16, "render_repeats": 3, "export_batch": 4},
    True: {"batch": 2, "image_size": (64, 40), "memory": 64, "warmup": 0, "iters": 1,
           "cluster_n": 200, "cluster_dim": 32, "num_query": 40, "num_gallery": 200,
           "eval_dim": 16, "render_batch": 2, "render_repeats": 1, "export_batch": 2},
}
#: ``tiny``: small networks of the same families (the joint step and the export).
TINY_MODEL = ("MODEL.BACKBONE", "resnet18", "MODEL.STRUCTURE_DIM", "16",
              "MODEL.DISC_BASE_CHANNELS", "8", "GCL.NUM_NEGATIVES", "16")


class Skipped(Exception):
    """A phase that does not apply here (recorded as skipped, with the reason)."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device: torch.device) -> PeakMemory:
    """The allocator's peak on CUDA, the process's resident set on the CPU."""
    return PeakMemory(device if device.type == "cuda" else None)


# ---------------------------------------------------------------------------- joint step
def _joint_config(config: str, precision: str, size: Sequence[int], tiny: bool,
                  overrides: Sequence[str]):
    from reid.config import load_config

    opts = list(TINY_MODEL) if tiny else []
    opts += ["SOLVER.PRECISION", precision, "INPUT.SIZE", f"({size[0]}, {size[1]})"]
    return load_config(config, opts + list(overrides))


def _scalers(cfg, device: torch.device) -> dict:
    """The step's gradient scalers for ``SOLVER.PRECISION`` when this version has them."""
    from common import precision as precision_module
    from reid.engine.gcl_step import GCLTrainStep

    make = getattr(precision_module, "grad_scaler", None)
    accepted = inspect.signature(GCLTrainStep.__init__).parameters
    if make is None or "scaler" not in accepted:
        return {}
    return {"scaler": make(cfg.SOLVER.PRECISION, device),
            "dis_scaler": make(cfg.SOLVER.PRECISION, device)}


def joint_step_phase(config: str, precision: str, device: torch.device, tiny: bool,
                     overrides: Sequence[str] = (), seed: int = 0) -> dict:
    """Time the joint iteration of ``config``'s networks in ``precision`` (see the module doc)."""
    from benchmarks.gcl_step import _batch
    from common.precision import resolve_precision
    from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
    from reid.memory import InstanceMemory
    from reid.models import build_identity_encoder
    from reid.models.gcl import build_generative_module

    sizes = SIZES[tiny]
    if precision == "fp16" and device.type != "cuda":
        raise Skipped("fp16 autocast with gradient scaling is CUDA only")
    cfg = _joint_config(config, precision, sizes["image_size"], tiny, overrides)
    resolved = resolve_precision(cfg.SOLVER.PRECISION, device)  # refuses what the device cannot
    torch.manual_seed(seed)
    memory_format = torch.channels_last if cfg.SOLVER.CHANNELS_LAST else torch.contiguous_format
    encoder = build_identity_encoder(cfg, pretrained=False).to(device, memory_format=memory_format)
    generative = build_generative_module(cfg, code_dim=encoder.feature_dim).to(
        device, memory_format=memory_format)
    s, n = cfg.SOLVER.JOINT, sizes["memory"]
    memory = InstanceMemory(n, cfg.MODEL.EMBED_DIM, cfg.GCL.MEMORY_MOMENTUM).to(device)
    memory.initialize(torch.randn(n, cfg.MODEL.EMBED_DIM, device=device))
    labels = torch.randint(0, max(2, n // 17), (n,), device=device)
    memory.set_labels(labels)
    id_opt = torch.optim.SGD(encoder.parameters(), lr=s.LR, momentum=s.SGD_MOMENTUM,
                             nesterov=True, weight_decay=s.WEIGHT_DECAY)
    adam = dict(lr=s.GAN_LR, betas=tuple(s.GAN_BETAS), weight_decay=s.GAN_WEIGHT_DECAY)
    gen_opt = torch.optim.Adam(generative.generator_parameters(), **adam)
    dis_opt = torch.optim.Adam(generative.discriminator_parameters(), **adam)
    step = GCLTrainStep(encoder, generative, id_opt, gen_opt, dis_opt, memory,
                        GCLStepConfig.from_cfg(cfg), train_encoder=True, **_scalers(cfg, device))
    batch = _batch(sizes["batch"], sizes["image_size"], n, device, seed, memory_format)
    for _ in range(sizes["warmup"]):
        step(*batch)
    _sync(device)
    times, terms = [], {}
    with _peak(device) as peak:
        for _ in range(sizes["iters"]):
            start = time.perf_counter()
            terms = step(*batch)
            _sync(device)
            times.append(time.perf_counter() - start)
    finite = all(np.isfinite(v) for v in terms.values() if isinstance(v, float))
    peak_gb = peak.peak_bytes / GB
    result = {"precision": resolved, "batch_size": sizes["batch"],
              "image_size": list(sizes["image_size"]), "backbone": cfg.MODEL.BACKBONE,
              "num_negatives": int(cfg.GCL.NUM_NEGATIVES), "memory_size": n,
              "iters": len(times), "seconds_per_iter": round(sum(times) / len(times), 4),
              "iters_per_second": round(len(times) / sum(times), 3),
              "finite_losses": bool(finite), "peak_memory_gb": round(peak_gb, 3),
              "peak_memory_source": peak.source}
    if device.type == "cuda":
        result["peak_memory_goal_gb"] = GPU_MEMORY_GOAL_GB
        result["peak_memory_ok"] = peak_gb < GPU_MEMORY_GOAL_GB
    if not finite:
        raise RuntimeError(f"non-finite loss terms after {len(times)} iterations: {terms}")
    return result


# ---------------------------------------------------------------------------- clustering
def pseudo_labeller_phase(config: str, device: torch.device, tiny: bool,
                          overrides: Sequence[str] = ()) -> dict:
    """The pseudo-labeller with each kNN backend available on ``device``."""
    from benchmarks.synthetic import make_clustered_features
    from reid.cluster.kernels import warm_up_kernels
    from reid.cluster.knn import faiss_gpu_available, resolve_backend
    from reid.cluster.pseudo_labeler import PseudoLabeler
    from reid.config import load_config

    sizes = SIZES[tiny]
    c = load_config(config, list(overrides)).CLUSTER
    if tiny:
        k1, k2, min_samples = 6, 2, 2
    else:
        k1, k2, min_samples = int(c.K1), int(c.K2), int(c.MIN_SAMPLES)
    num_ids = max(2, sizes["cluster_n"] // 17)
    x, truth = make_clustered_features(sizes["cluster_n"], sizes["cluster_dim"], num_ids)
    compile_s = warm_up_kernels()
    use_gpu = device.type == "cuda"
    backends = ["torch"] + (["faiss"] if use_gpu and faiss_gpu_available() else [])
    result = {"n": sizes["cluster_n"], "dim": sizes["cluster_dim"], "k1": k1,
              "kernel_compile_s": round(compile_s, 3), "faiss_gpu": bool(faiss_gpu_available()),
              "backends": {}}
    for backend in backends:
        labeler = PseudoLabeler(k1=k1, k2=k2, min_samples=min_samples, rho=float(c.RHO),
                                use_gpu=use_gpu, search_option=backend)
        labeler(x[: min(len(x), 256)])  # warm-up (CUDA context, kernels)
        labeler.reset_eps()
        start = time.perf_counter()
        labels = labeler(x, gt_labels=truth)
        result["backends"][backend] = {
            "resolved": resolve_backend(backend, use_gpu),
            "seconds": round(time.perf_counter() - start, 3),
            "steps_s": {k: round(float(v), 3) for k, v in labels.timings.items()},
            "clusters": int(labels.num_clusters), "outliers": int(labels.num_outliers),
            "eps": round(float(labels.eps), 5),
            "purity": (None if getattr(labels, "purity", None) is None
                       else round(float(labels.purity), 4))}
    if "faiss" not in result["backends"]:
        result["faiss_note"] = ("faiss-gpu not installed: torch only" if use_gpu
                                else "CPU run: faiss-gpu not tried")
    return result


# ---------------------------------------------------------------------------- evaluation
def evaluation_phase(device: torch.device, tiny: bool) -> dict:
    """Distances, metrics and re-ranking at Market's size on ``device``."""
    from benchmarks.synthetic import make_market_like_problem
    from reid.evaluation import compute_distance_matrix, evaluate, re_ranking

    sizes = SIZES[tiny]
    problem = make_market_like_problem(sizes["num_query"], sizes["num_gallery"],
                                       sizes["eval_dim"], num_ids=min(751, sizes["num_query"]))
    qf, gf = problem.qf.to(device), problem.gf.to(device)
    labels = (problem.q_pids, problem.g_pids, problem.q_camids, problem.g_camids)
    _sync(device)
    start = time.perf_counter()
    distmat = compute_distance_matrix(qf, gf, "cosine")
    distance_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = evaluate(distmat, *labels)
    metrics_s = time.perf_counter() - start
    del distmat
    with _peak(device) as peak:
        start = time.perf_counter()
        reranked = re_ranking(qf, gf, 20, 6, 0.3)
        _sync(device)
        rerank_s = time.perf_counter() - start
    rr = evaluate(reranked, *labels)
    return {"num_query": sizes["num_query"], "num_gallery": sizes["num_gallery"],
            "dim": sizes["eval_dim"], "distance_s": round(distance_s, 3),
            "metrics_s": round(metrics_s, 3), "rerank_s": round(rerank_s, 3),
            "rerank_peak_gb": round(peak.delta_bytes / GB, 3), "mAP": round(scores["mAP"], 4),
            "rerank_mAP": round(rr["mAP"], 4)}


# ---------------------------------------------------------------------------- renderer
def renderer_phase(device: torch.device, tiny: bool) -> dict:
    """The rasteriser's speed on ``device`` and its silhouettes against the CPU's."""
    from benchmarks.render import benchmark_bodies, run_render_benchmark
    from mesh.camera import fit_camera
    from mesh.render.renderer import TorchRenderer

    sizes = SIZES[tiny]
    size = sizes["image_size"]
    result = run_render_benchmark(batch=sizes["render_batch"], image_size=size,
                                  repeats=sizes["render_repeats"], reference_images=0,
                                  device=str(device), log=lambda line: None)
    vertices, faces, body = benchmark_bodies(sizes["render_batch"], device)
    camera = fit_camera(vertices, size)
    renderer = TorchRenderer()
    on_device = renderer.render_structure_maps(vertices, faces, camera, size).cpu()
    on_cpu = renderer.render_structure_maps(vertices.cpu(), faces.cpu(), camera.cpu(), size)
    a, b = on_device < 1, on_cpu < 1
    result["silhouette_iou_vs_cpu"] = round(float((a & b).sum() / (a | b).sum().clamp_min(1)), 5)
    result["max_abs_diff_vs_cpu"] = round(float((on_device - on_cpu).abs().max()), 4)
    result["parity_ok"] = result["silhouette_iou_vs_cpu"] > 0.999
    result["body"] = body.split(" (")[0]
    if not result["parity_ok"]:
        raise RuntimeError(f"structure maps on {device} differ from the CPU's: silhouette IoU "
                           f"{result['silhouette_iou_vs_cpu']}")
    return result


# ---------------------------------------------------------------------------- export
def export_phase(config: str, device: torch.device, tiny: bool, overrides: Sequence[str] = (),
                 tolerance: float = 2e-3) -> dict:
    """Export the encoder on the CPU, load each file on ``device`` and compare its embeddings
    with the PyTorch model's on the CPU (``tolerance``: TF32 convolutions on Ampere and later
    GPUs differ from float32 in the fourth decimal)."""
    from reid.config import load_config
    from reid.export import FILE_NAMES, export_encoder, load_encoder
    from reid.models import build_identity_encoder

    sizes = SIZES[tiny]
    cfg = load_config(config, (list(TINY_MODEL) if tiny else []) + list(overrides))
    size = sizes["image_size"]
    torch.manual_seed(0)
    model = build_identity_encoder(cfg, pretrained=False).eval()
    formats = ["state_dict", "torchscript"]
    import importlib.util

    if all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime")):
        formats.append("onnx")
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (sizes["export_batch"], size[0], size[1], 3),
                           generator=generator, dtype=torch.uint8).numpy()
    result = {"formats": {}, "tolerance": tolerance,
              "tf32_convolutions": bool(torch.backends.cudnn.allow_tf32)}
    with tempfile.TemporaryDirectory(prefix="gpu_check_export_") as folder:
        start = time.perf_counter()
        summary = export_encoder(model, folder, formats=formats, input_size=size,
                                 batch=sizes["export_batch"])
        result["export_s"] = round(time.perf_counter() - start, 2)
        result["export_ok_on_cpu"] = bool(summary["ok"])
        reference = load_encoder(os.path.join(folder, FILE_NAMES["state_dict"]), device="cpu")
        expected = reference(images)
        for name in formats:
            if name == "onnx":  # onnxruntime's own check ran in export_encoder (CPU provider)
                result["formats"][name] = {"max_abs_diff_cpu": summary["formats"][name][
                    "max_abs_diff"], "on_device": "not loaded (onnxruntime session)"}
                continue
            predictor = load_encoder(os.path.join(folder, FILE_NAMES[name]), device=device)
            got = predictor(images).cpu()
            diff = float((got - expected).abs().max())
            result["formats"][name] = {"max_abs_diff_vs_cpu": diff, "ok": diff <= tolerance}
    result["ok"] = result["export_ok_on_cpu"] and all(
        f.get("ok", True) for f in result["formats"].values())
    if not result["ok"]:
        raise RuntimeError(f"export parity failed: {result['formats']}")
    return result


# ---------------------------------------------------------------------------- CUDA tests
def _skip_reasons(item) -> list[str]:
    return [str(mark.kwargs.get("reason", "")) for mark in item.iter_markers("skipif")]


def needs_cuda(item) -> bool:
    """A collected test that skips without CUDA (a ``skipif`` whose reason names CUDA)."""
    return any("cuda" in reason.lower() for reason in _skip_reasons(item))


def pytest_collection_modifyitems(config, items):
    """Pytest hook, with ``-p benchmarks.gpu_check``: keep only the tests that skip without
    CUDA (the module's other functions must not start with ``pytest_``: pytest would take them
    for hooks)."""
    keep = [item for item in items if needs_cuda(item)]
    dropped = [item for item in items if not needs_cuda(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def cuda_test_files(root: str = HERE) -> list[str]:
    """Test files that mention CUDA (the only ones that can hold such tests)."""
    files = []
    for path in sorted(glob.glob(os.path.join(root, "tests", "**", "test_*.py"), recursive=True)):
        with open(path, "r", encoding="utf-8") as handle:
            if "cuda" in handle.read().lower():
                files.append(os.path.relpath(path, root))
    return files


def cuda_tests_phase(timeout_s: float = 240.0) -> dict:
    """Run the tests that skip without CUDA (slow ones included) in a pytest subprocess."""
    files = cuda_test_files()
    if not files:
        raise Skipped("no test file mentions CUDA")
    with tempfile.TemporaryDirectory(prefix="gpu_check_pytest_") as folder:
        report = os.path.join(folder, "junit.xml")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "benchmarks.gpu_check",
                   "-p", "no:cacheprovider", "-m", "slow or not slow", f"--junitxml={report}",
                   *files]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=HERE, capture_output=True, text=True,
                              timeout=timeout_s)
        seconds = time.perf_counter() - start
        if not os.path.isfile(report):
            raise RuntimeError(f"pytest wrote no report (exit {done.returncode}): "
                               f"{(done.stdout + done.stderr)[-800:]}")
        suites = ET.parse(report).getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    shown = ["pytest"] + [("-m 'slow or not slow'" if part == "slow or not slow" else
                           "--junitxml=REPORT" if part.startswith("--junitxml") else part)
                          for part in command[3:] if part != "-m"]
    result = {"files": files, "command": " ".join(shown),
              "exit_code": done.returncode, "seconds": round(seconds, 1),
              "selected": counts["tests"],
              "passed": counts["tests"] - counts["failures"] - counts["errors"]
              - counts["skipped"], "failed": counts["failures"] + counts["errors"],
              "skipped": counts["skipped"], "failed_tests": failed,
              "summary": (done.stdout.strip().splitlines() or [""])[-1]}
    if result["failed"] or done.returncode not in (0, 5):  # 5: no test selected
        raise RuntimeError(f"{result['failed']} CUDA test(s) failed: {failed}; "
                           f"{result['summary']}")
    return result


# ---------------------------------------------------------------------------- the run
def run_phase(name: str, fn: Callable[[], dict]) -> dict:
    """``fn()`` guarded: ``{"status": "ok", "seconds", **figures}``, or ``"skipped"`` with the
    reason, or ``"error"`` with the message and the last lines of the traceback."""
    start = time.perf_counter()
    try:
        figures = fn()
        out = {"status": "ok", **figures}
    except Skipped as exc:
        out = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and the next phase runs
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc().strip().splitlines()[-6:]}
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def run_gpu_check(device: str = "cuda", tiny: bool = False, config: str = DEFAULT_CONFIG,
                  phases: Optional[Sequence[str]] = None, overrides: Sequence[str] = (),
                  log: Callable[[str], None] = print) -> dict:
    """Run the phases (default: all of :data:`PHASES`) on ``device``; returns the report."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available on this machine")
    if dev.type == "cpu" and not tiny:
        raise RuntimeError("the full-size check is for a CUDA device; on the CPU use --tiny")
    chosen = list(PHASES if phases is None else phases)
    unknown = [p for p in chosen if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phase(s) {unknown}; choose from {list(PHASES)}")
    if len(overrides) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got {list(overrides)}")
    started = time.perf_counter()
    report: dict = {"benchmark": "gpu_check", "device": str(dev), "tiny": tiny,
                    "config": os.path.relpath(config, HERE) if os.path.isabs(config) else config,
                    "torch": torch.__version__, "cuda": torch.version.cuda,
                    "torch_threads": torch.get_num_threads()}
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
        report["gpu_memory_gb"] = round(torch.cuda.get_device_properties(dev).total_memory / GB,
                                        1)
    calls = {f"joint_{p}": (lambda p=p: joint_step_phase(config, p, dev, tiny, overrides))
             for p in PRECISIONS}
    calls.update({
        "pseudo_labeller": lambda: pseudo_labeller_phase(config, dev, tiny, overrides),
        "evaluation": lambda: evaluation_phase(dev, tiny),
        "renderer": lambda: renderer_phase(dev, tiny),
        "export": lambda: export_phase(config, dev, tiny, overrides),
        "pytest_cuda": cuda_tests_phase,
    })
    report["phases"] = {}
    for name in chosen:
        result = run_phase(name, calls[name])
        report["phases"][name] = result
        detail = result.get("error") or result.get("reason") or ""
        log(f"{name}: {result['status']} ({result['seconds']} s) {detail}".rstrip())
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    statuses = [r["status"] for r in report["phases"].values()]
    report["ok"] = "error" not in statuses
    report["errors"] = [n for n, r in report["phases"].items() if r["status"] == "error"]
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    return report
