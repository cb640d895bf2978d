"""Market-scale dry run of the trainer on the CPU: every stage for a few iterations on a
synthetic set of Market-1501's training size, with the time of each phase and the peak memory of
the process and its data-loader workers (``tools/bench_scale.py``).

The run is the trainer's own (:class:`reid.engine.trainer.GCLTrainer` with each stage cut to
one epoch of ``iterations`` batches); its phases are timed from outside, by thin subclasses of
the stages and wrappers of the context's feature pass and pseudo-labeller, the trainer's
evaluation and its checkpoint writer:

* ``memory_init``: the joint stage's instance memory filled with E_id features of every
  training image (one feature pass over N images);
* ``clustering``: the pseudo-labeller inside the trainer at N (kNN, Jaccard, eps, DBSCAN);
* ``joint_iteration``: one batch step of the joint stage (E_id, E_str, G twice + cycle, D,
  the memory loss), data loading excluded;
* ``evaluation``: the trainer's evaluation over the test split (query + gallery features,
  distances, metrics);
* ``loader``: images/s of the generative stages' loader (image + two structure maps per
  sample) with ``DATALOADER.NUM_WORKERS`` workers, measured on its own after the run;

and per stage the feature pass and clustering of its epoch plan, its steps, the time its loop
waited for batches, and the checkpoint writes. Memory: the resident set of this process, of the
whole process tree (its loader workers included, shared pages counted in each process: an upper
bound) and the proportional set size of the tree (shared pages split among their processes), as
peaks over the run and per phase (:class:`ProcessTreeMemory`); the generation of a missing set
(``generate``) is timed and its peak reported apart.

On a 2-core CPU the Market-size run is long: each feature pass over the 12,936 training images
(the baseline's epoch plan, the memory initialisation) is a ResNet-50 forward pass per image,
and the baseline's batch of 256 is a forward and backward pass over 256 images.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from typing import Callable, Iterable, Optional, Sequence

import torch

from common.profiling import process_peak_rss_bytes

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(HERE, "configs", "synthetic_market_scale.yaml")
GB = 2 ** 30
#: Targets of the dry run on a CPU machine.
PEAK_RSS_TARGET_GB = 12.0
LOADER_TARGET_IMAGES_PER_S = 100.0
#: ``--tiny``: a small set and small networks, for the test of the plumbing (seconds, not hours).
TINY_OVERRIDES = (
    "DATASETS.SYNTHETIC.TRAIN_IDS", "6", "DATASETS.SYNTHETIC.TEST_IDS", "3",
    "DATASETS.SYNTHETIC.TRAIN_IMAGES", "36", "DATASETS.SYNTHETIC.CAMERAS", "3",
    "INPUT.SIZE", "(64, 48)", "INPUT.PADDING", "2",
    "MODEL.BACKBONE", "resnet18", "MODEL.STRUCTURE_DIM", "16", "MODEL.DISC_BASE_CHANNELS", "8",
    "SOLVER.BASELINE.BATCH_SIZE", "8", "SOLVER.BASELINE.NUM_INSTANCES", "2",
    "SOLVER.GAN_WARMUP.BATCH_SIZE", "4", "SOLVER.JOINT.BATCH_SIZE", "4",
    "CLUSTER.K1", "6", "CLUSTER.K2", "2", "CLUSTER.MIN_SAMPLES", "2", "CLUSTER.EPS", "0.6",
    "GCL.NUM_NEGATIVES", "16", "TEST.BATCH_SIZE", "32", "TEST.VIEW_METRICS.IMAGES", "0",
)
STAGE_SECTIONS = {"source": "SOURCE", "baseline": "BASELINE", "gan_warmup": "GAN_WARMUP",
                  "joint": "JOINT"}


# ---------------------------------------------------------------------------- memory
def _read_statm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "r", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _read_pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (``/proc/PID/smaps_rollup``)."""
    with open(f"/proc/{pid}/smaps_rollup", "r", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _child_pids(pid: int) -> list[int]:
    """Direct children of ``pid``: ``/proc/PID/task/*/children``, else a scan of ``/proc``."""
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", "r", encoding="ascii") as handle:
                children.extend(int(c) for c in handle.read().split())
        return children
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "r", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def process_tree(pid: Optional[int] = None) -> list[int]:
    """``pid`` (default: this process) and all its descendants."""
    pids, queue = [], [os.getpid() if pid is None else pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_child_pids(current))
    return pids


def tree_memory(pid: Optional[int] = None, pss: bool = True) -> dict:
    """``{"rss_main", "rss_tree", "pss_tree", "processes"}`` in bytes now (``pss_tree`` 0 when
    ``pss`` is False); processes that end while being read are left out."""
    root = os.getpid() if pid is None else pid
    out = {"rss_main": 0, "rss_tree": 0, "pss_tree": 0, "processes": 0}
    for current in process_tree(root):
        try:
            rss = _read_statm_rss(current)
            share = _read_pss(current) if pss else 0
        except (OSError, ValueError, IndexError):
            continue
        out["rss_tree"] += rss
        out["pss_tree"] += share
        out["processes"] += 1
        if current == root:
            out["rss_main"] = rss
    return out


class ProcessTreeMemory:
    """Peak memory of this process and its descendants (data-loader workers), sampled by a
    thread, overall and per labelled phase (Linux: ``/proc``).

    Every ``interval_s`` the resident set of each process of the tree is read; every
    ``pss_every``-th sample also its proportional set size (dearer to read). A sample counts for
    every phase open at that moment (:meth:`phase` blocks may nest). The process's own peak
    also takes the kernel's high-water mark (``getrusage``) when it rose during the run, so a
    spike between two samples is not lost.
    """

    KEYS = ("rss_main", "rss_tree", "pss_tree")

    def __init__(self, interval_s: float = 0.1, pss_every: int = 5) -> None:
        if not os.path.isdir("/proc/self"):
            raise RuntimeError("ProcessTreeMemory needs /proc (Linux)")
        self.interval_s = float(interval_s)
        self.pss_every = max(1, int(pss_every))
        self.peaks: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            self.KEYS + ("processes",), 0))
        self._open: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._count = 0
        self._lifetime_at_start = 0

    def sample(self) -> None:
        reading = tree_memory(pss=self._count % self.pss_every == 0)
        self._count += 1
        with self._lock:
            for name in ["run"] + self._open:
                peak = self.peaks[name]
                for key in self.KEYS + ("processes",):
                    peak[key] = max(peak[key], reading[key])

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    @contextlib.contextmanager
    def phase(self, name: str):
        """Label the samples of the block with ``name`` (one sample at its start and end)."""
        with self._lock:
            self._open.append(name)
        self.sample()
        try:
            yield
        finally:
            self.sample()
            with self._lock:
                self._open.remove(name)

    def __enter__(self) -> "ProcessTreeMemory":
        self._lifetime_at_start = process_peak_rss_bytes()
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="tree-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        lifetime = process_peak_rss_bytes()
        if lifetime > self._lifetime_at_start:  # the kernel saw a higher peak than the samples
            run = self.peaks["run"]
            extra = max(0, lifetime - run["rss_main"])
            run["rss_main"] += extra
            run["rss_tree"] += extra

    def summary(self, name: str = "run") -> dict:
        """The peaks of ``name`` in GB (``processes``: the most processes seen at once)."""
        peak = self.peaks[name]
        out = {f"peak_{key}_gb": round(peak[key] / GB, 3) for key in self.KEYS}
        out["processes"] = peak["processes"]
        return out


# ---------------------------------------------------------------------------- timing
class PhaseTimes:
    """Wall-clock and process CPU seconds of named phases (each may run several times), with
    the memory sampler's labels set for the same blocks."""

    def __init__(self, memory: Optional[ProcessTreeMemory] = None) -> None:
        self.memory = memory
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.cpu_seconds: dict[str, list[float]] = defaultdict(list)
        self.info: dict[str, dict] = {}
        self.stage: str = ""

    @contextlib.contextmanager
    def measure(self, name: str):
        label = self.memory.phase(name) if self.memory is not None else contextlib.nullcontext()
        with label:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                yield
            finally:
                self.seconds[name].append(time.perf_counter() - wall)
                self.cpu_seconds[name].append(time.process_time() - cpu)

    def wrap(self, fn: Callable, name_of: Callable[..., str]) -> Callable:
        """``fn`` timed under the phase ``name_of(*args, **kwargs)``."""
        def timed(*args, **kwargs):
            with self.measure(name_of(*args, **kwargs)):
                return fn(*args, **kwargs)
        return timed

    def total(self, name: str) -> float:
        return sum(self.seconds.get(name, ()))


def _timed_stage(cls, times: PhaseTimes):
    """A subclass of the stage ``cls`` whose lifecycle calls are timed as ``<stage>.<call>``."""

    class Timed(cls):
        def _timed(self, call: str):
            times.stage = self.name
            return times.measure(f"{self.name}.{call}")

        def setup(self):
            with self._timed("setup"):
                return super().setup()

        def begin(self):
            with self._timed("begin"):
                return super().begin()

        def plan_epoch(self, epoch):
            with self._timed("plan_epoch"):
                return super().plan_epoch(epoch)

        def train_step(self, batch):
            with self._timed("step"):
                return super().train_step(batch)

        def after_batches(self, epoch, result):
            with self._timed("after_batches"):
                return super().after_batches(epoch, result)

        def train_epoch(self, epoch):
            with self._timed("epoch"):
                return super().train_epoch(epoch)

    Timed.__name__ = Timed.__qualname__ = cls.__name__
    return Timed


@contextlib.contextmanager
def timed_stages(times: PhaseTimes):
    """The trainer's stage types replaced by timed subclasses for the block (restored after)."""
    from reid.engine.stages import STAGE_TYPES

    originals = dict(STAGE_TYPES)
    STAGE_TYPES.update({name: _timed_stage(cls, times) for name, cls in originals.items()})
    try:
        yield
    finally:
        STAGE_TYPES.clear()
        STAGE_TYPES.update(originals)


def instrument_trainer(trainer, times: PhaseTimes) -> None:
    """Time the trainer's feature passes, pseudo-labelling, evaluations and checkpoint writes
    (wrappers on the instances; the pseudo-labeller's own step timings are kept)."""
    ctx = trainer.ctx
    extract, cluster = ctx.extract_train_features, ctx.compute_pseudo_labels

    def features(items=None, foreground=False):
        name = f"{times.stage or 'trainer'}.features"
        count = len(ctx.train_items if items is None else items)
        times.info[name] = {"images": count, "foreground": bool(foreground)}
        with times.measure(name):
            return extract(items, foreground=foreground)

    def pseudo_labels(features, stage, epoch, labeler=None):
        name = f"{stage}.clustering"
        with times.measure(name):
            result = cluster(features, stage, epoch, labeler=labeler)
        times.info[name] = {"n": int(features.shape[0]), "dim": int(features.shape[1]),
                            "clusters": int(result.num_clusters),
                            "outliers": int(result.num_outliers), "eps": float(result.eps),
                            "steps_s": {k: round(float(v), 3) for k, v in result.timings.items()}}
        return result

    ctx.extract_train_features = features
    ctx.compute_pseudo_labels = pseudo_labels
    trainer.evaluate = times.wrap(trainer.evaluate, lambda tag: f"evaluation.{tag}")
    trainer.checkpoints.save = times.wrap(trainer.checkpoints.save, lambda *a, **k: "checkpoint")


# ---------------------------------------------------------------------------- the loader
def measure_view_loader(cfg, ctx, batches: int, times: Optional[PhaseTimes] = None,
                        seed: int = 0) -> dict:
    """Images/s of the generative stages' loader (each sample: image, its structure map and a
    rotated one) at ``DATALOADER.NUM_WORKERS``, batch ``SOLVER.JOINT.BATCH_SIZE``, over
    ``batches`` batches after the first (which waits for the workers to start)."""
    from reid.views.mesh_data import build_view_loader
    from reid.views.structure_maps import structure_cache_for

    if batches < 1:
        raise ValueError(f"measure_view_loader: batches must be >= 1, got {batches}")
    augment = bool(cfg.INPUT.GENERATIVE_AUGMENT)
    batch_size = int(cfg.SOLVER.JOINT.BATCH_SIZE)
    loader = build_view_loader(
        ctx.train_items, structure_cache_for(cfg, ctx.dataset), batch_size=batch_size,
        size=tuple(cfg.INPUT.SIZE), num_workers=int(cfg.DATALOADER.NUM_WORKERS), seed=seed,
        flip_prob=cfg.INPUT.FLIP_PROB if augment else 0.0,
        padding=cfg.INPUT.PADDING if augment else 0,
        skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
    available = len(loader)
    if available < 2:
        raise ValueError(f"measure_view_loader: the loader has {available} batch(es) of "
                         f"{batch_size}; at least 2 are needed (one to start the workers)")
    batches = min(batches, available - 1)
    label = times.measure("loader") if times is not None else contextlib.nullcontext()
    with label:
        start = time.perf_counter()
        iterator = iter(loader)
        first = next(iterator)
        first_s = time.perf_counter() - start
        images, start = 0, time.perf_counter()
        for _ in range(batches):
            batch = next(iterator)
            images += int(batch["img"].shape[0])
        seconds = time.perf_counter() - start
        del iterator
    shapes = {key: list(first[key].shape[1:]) for key in ("img", "s_ori", "s_new")}
    return {"images_per_s": round(images / max(seconds, 1e-9), 2), "images": images,
            "batches": batches, "batch_size": batch_size,
            "workers": int(cfg.DATALOADER.NUM_WORKERS), "first_batch_s": round(first_s, 3),
            "seconds": round(seconds, 3), "sample_shapes": shapes}


# ---------------------------------------------------------------------------- the run
def benchmark_overrides(iterations: int, output_dir: str, tiny: bool = False,
                        data_root: Optional[str] = None,
                        overrides: Sequence[str] = ()) -> list[str]:
    """The ``KEY VALUE`` list of the dry run: ``--tiny`` sizes, the data root, every stage cut
    to one epoch of ``iterations`` batches, no periodic evaluation or export, then the caller's
    ``overrides`` (last, so they win)."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if len(overrides) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got {list(overrides)}")
    opts = list(TINY_OVERRIDES) if tiny else []
    if data_root:
        opts += ["DATASETS.ROOT", data_root]
    for section in STAGE_SECTIONS.values():
        opts += [f"SOLVER.{section}.EPOCHS", "1", f"SOLVER.{section}.ITERS_PER_EPOCH",
                 str(iterations)]
    opts += ["OUTPUT_DIR", output_dir, "TEST.EVAL_PERIOD", "0", "EXPORT.ENABLED", "False"]
    return opts + [str(v) for v in overrides]


def _seconds(values: Iterable[float]) -> list[float]:
    return [round(v, 3) for v in values]


def _stage_report(times: PhaseTimes, stage: str, cfg) -> dict:
    steps = times.seconds.get(f"{stage}.step", [])
    epoch = times.total(f"{stage}.epoch")
    plan = times.total(f"{stage}.plan_epoch")
    report = {"batch_size": int(cfg.SOLVER[STAGE_SECTIONS[stage]].BATCH_SIZE),
              "iterations": len(steps), "setup_s": round(times.total(f"{stage}.setup"), 3),
              "begin_s": round(times.total(f"{stage}.begin"), 3),
              "plan_epoch_s": round(plan, 3), "epoch_s": round(epoch, 3),
              "step_s": _seconds(steps)}
    if not steps:
        report["skipped"] = True  # e.g. fewer than two clusters: the stage's policy
    else:
        report["step_mean_s"] = round(sum(steps) / len(steps), 3)
        # What the loop spent outside the steps: waiting for batches (and moving them).
        report["loader_wait_s"] = round(max(0.0, epoch - plan - sum(steps)
                                            - times.total(f"{stage}.after_batches")), 3)
    for part in ("features", "clustering"):
        name = f"{stage}.{part}"
        if name in times.seconds:
            report[f"{part}_s"] = _seconds(times.seconds[name])
            report[part] = times.info.get(name, {})
    return report


def _steady(steps: Sequence[float]) -> Optional[float]:
    """A step time without the first step's warm-up: the median of the later steps."""
    if not steps:
        return None
    return round(statistics.median(steps[1:] if len(steps) > 1 else steps), 3)


def _dataset_report(trainer, cfg) -> dict:
    dataset = trainer.ctx.dataset
    return {"root": dataset.root, "train_images": len(trainer.ctx.train_items),
            "train_ids": len({item[1] for item in trainer.ctx.train_items}),
            "query_images": len(dataset.query), "gallery_images": len(dataset.gallery),
            "test_ids": len({item[1] for item in list(dataset.query) + list(dataset.gallery)}),
            "image_size": [int(v) for v in cfg.INPUT.SIZE]}


def prepare_dataset(cfg, generate: bool, workers: int, times: PhaseTimes,
                    log: Callable[[str], None]) -> dict:
    """The synthetic set of ``cfg``: made (timed) with ``generate`` when missing, else an error
    that says how to make it."""
    from mesh.synthetic.dataset import MARKER, is_complete, synthetic_dataset_dir
    from reid.views.synthetic_dataset import ensure_synthetic_dataset, synthetic_settings

    from reid.engine.trainer import _check_stages
    from reid.engine.validation import validate_training_config

    # The run's config is checked before an hour of rendering, not after.
    validate_training_config(cfg, _check_stages(cfg.GCL.STAGES))
    if cfg.DATASETS.NAME != "synthetic":
        return {"generated": False}
    folder = synthetic_dataset_dir(cfg.DATASETS.ROOT)
    if is_complete(folder, synthetic_settings(cfg)):
        log(f"dataset: {folder} (complete, not generated again)")
        return {"generated": False, "folder": folder}
    if not generate:
        raise FileNotFoundError(
            f"no complete synthetic set with the settings of DATASETS.SYNTHETIC in {folder}; "
            f"pass --generate to make it (Market size: about an hour on a 2-core CPU), or "
            f"--data-root to point at one")
    log(f"dataset: generating {folder} with {workers} worker(s)")
    with times.measure("generation"):
        ensure_synthetic_dataset(cfg, workers=workers)
    seconds = times.total("generation")
    with open(os.path.join(folder, MARKER), "r", encoding="utf-8") as handle:
        images = int(json.load(handle)["images"])
    return {"generated": True, "folder": folder, "generation_s": round(seconds, 1),
            "generation_cpu_s_main": round(times.cpu_seconds["generation"][-1], 1),
            "generated_images": images, "generation_workers": workers,
            "generation_images_per_s": round(images / max(seconds, 1e-9), 2)}


def run_scale_benchmark(config: str = DEFAULT_CONFIG, data_root: Optional[str] = None,
                        generate: bool = False, iterations: int = 2, tiny: bool = False,
                        overrides: Sequence[str] = (), output_dir: Optional[str] = None,
                        loader_batches: int = 30, generate_workers: int = 2,
                        log: Callable[[str], None] = print) -> dict:
    """The dry run; returns the figures (see the module docstring) as a dict."""
    from reid.config import load_config
    from reid.engine.trainer import GCLTrainer

    if loader_batches < 1 or generate_workers < 1:
        raise ValueError(f"loader_batches and generate_workers must be >= 1, got "
                         f"{loader_batches} and {generate_workers}")
    started = time.perf_counter()
    temporary = None
    if output_dir is None:
        if tiny:
            temporary = tempfile.TemporaryDirectory(prefix="bench_scale_")
            output_dir = temporary.name
        else:
            output_dir = load_config(config, list(overrides)).OUTPUT_DIR
    cfg = load_config(config, benchmark_overrides(iterations, output_dir, tiny, data_root,
                                                  overrides))
    report: dict = {"benchmark": "scale", "config": os.path.relpath(config, HERE)
                    if os.path.isabs(config) else config, "tiny": tiny,
                    "iterations": iterations, "overrides": list(overrides),
                    "torch_threads": torch.get_num_threads(),
                    "num_workers": int(cfg.DATALOADER.NUM_WORKERS),
                    "backbone": cfg.MODEL.BACKBONE, "num_negatives": int(cfg.GCL.NUM_NEGATIVES),
                    "precision": cfg.SOLVER.PRECISION, "stages": list(cfg.GCL.STAGES)}
    times = PhaseTimes()
    with ProcessTreeMemory() as generation_memory:  # kept apart from the run's peaks
        report["dataset"] = prepare_dataset(cfg, generate, generate_workers, times, log)
    if report["dataset"]["generated"]:
        report["dataset"]["generation_peak"] = generation_memory.summary()
    with ProcessTreeMemory() as memory:
        times.memory = memory
        with times.measure("trainer_build"):
            trainer = GCLTrainer(cfg, overwrite=True)
        report["dataset"].update(_dataset_report(trainer, cfg))
        d = report["dataset"]
        log(f"dataset: {d['train_images']} training images of {d['train_ids']} identities, "
            f"{d['query_images']} queries, {d['gallery_images']} gallery, "
            f"{d['image_size'][0]}x{d['image_size'][1]}")
        instrument_trainer(trainer, times)
        with timed_stages(times), times.measure("training"):
            trainer.run()
        report["loader"] = measure_view_loader(cfg, trainer.ctx, loader_batches, times)
        report["device"] = str(trainer.ctx.device)
    report.update(_figures(times, memory, cfg, report))
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    if hasattr(os, "getloadavg"):  # how busy the machine was (the CPU may be shared)
        report["load_avg_1min"] = round(os.getloadavg()[0], 2)
    if temporary is not None:
        temporary.cleanup()
    return report


def _figures(times: PhaseTimes, memory: ProcessTreeMemory, cfg, report: dict) -> dict:
    """The headline figures, per-stage details, per-phase peaks and the targets."""
    stages = list(cfg.GCL.STAGES)
    out: dict = {"trainer_build_s": round(times.total("trainer_build"), 3),
                 "training_s": round(times.total("training"), 1),
                 "stage": {s: _stage_report(times, s, cfg) for s in stages}}
    if "joint" in stages:
        joint = out["stage"]["joint"]
        n = times.info.get("joint.features", {}).get("images", 0)
        out["memory_init_s"] = joint["begin_s"]
        out["memory_init_images"] = n
        out["memory_init_images_per_s"] = round(n / max(joint["begin_s"], 1e-9), 2)
        if joint.get("clustering_s"):
            out["clustering_s"] = joint["clustering_s"][0]
            out["clustering_n"] = joint["clustering"]["n"]
        steps = times.seconds.get("joint.step", [])
        out["joint_iteration_s"] = _steady(steps)
        out["joint_iteration_first_s"] = round(steps[0], 3) if steps else None
        out["joint_batch_size"] = joint["batch_size"]
    evaluations = {name.split(".", 1)[1]: _seconds(values)[0]
                   for name, values in times.seconds.items() if name.startswith("evaluation.")}
    out["evaluation"] = evaluations
    if evaluations:
        out["evaluation_s"] = list(evaluations.values())[-1]  # the final evaluation
    out["checkpoint_s"] = _seconds(times.seconds.get("checkpoint", []))
    out.update(memory.summary("run"))
    out["peak_rss_gb"] = out["peak_rss_tree_gb"]
    out["peak_by_phase"] = {name: memory.summary(name) for name in sorted(memory.peaks)
                            if name != "run"}
    loader = report.get("loader", {})
    out["targets"] = {
        "peak_rss_gb_max": PEAK_RSS_TARGET_GB,
        "peak_rss_ok": out["peak_rss_tree_gb"] < PEAK_RSS_TARGET_GB,  # shared pages counted
        "peak_pss_ok": out["peak_pss_tree_gb"] < PEAK_RSS_TARGET_GB,  # in each process, or split
        "loader_images_per_s_min": LOADER_TARGET_IMAGES_PER_S,
        "loader_ok": loader.get("images_per_s", 0.0) >= LOADER_TARGET_IMAGES_PER_S,
    }
    return out


def format_report(report: dict) -> str:
    """The figures as lines of text."""
    d = report["dataset"]
    lines = [f"set: {d.get('folder', d.get('root'))}: {d['train_images']} train images "
             f"({d['train_ids']} ids), {d['query_images']} query, {d['gallery_images']} gallery, "
             f"{d['image_size'][0]}x{d['image_size'][1]}"]
    if d.get("generated"):
        lines.append(f"generation: {d['generation_s']:.0f} s for {d['generated_images']} "
                     f"images ({d['generation_images_per_s']} images/s, "
                     f"{d['generation_workers']} worker(s))")
    lines.append(f"trainer build: {report['trainer_build_s']:.1f} s; training (all stages): "
                 f"{report['training_s']:.0f} s")
    for name, stage in report["stage"].items():
        parts = [f"{name}: batch {stage['batch_size']}, {stage['iterations']} step(s)"]
        if stage.get("features_s"):
            parts.append(f"feature pass {stage['features_s'][0]:.1f} s")
        if stage.get("clustering_s"):
            c = stage["clustering"]
            parts.append(f"clustering {stage['clustering_s'][0]:.1f} s (N={c['n']}, "
                         f"{c['clusters']} clusters, {c['outliers']} outliers)")
        if stage.get("step_mean_s") is not None:
            parts.append(f"step {stage['step_mean_s']:.2f} s mean, loader wait "
                         f"{stage['loader_wait_s']:.1f} s")
        if stage.get("skipped"):
            parts.append("no step (skipped epoch)")
        lines.append("; ".join(parts))
    if "memory_init_s" in report:
        lines.append(f"memory initialisation: {report['memory_init_s']:.1f} s over "
                     f"{report['memory_init_images']} images "
                     f"({report['memory_init_images_per_s']} images/s)")
        lines.append(f"joint iteration (batch {report['joint_batch_size']}): "
                     f"{report['joint_iteration_s']} s (first {report['joint_iteration_first_s']} s)")
    for tag, seconds in report["evaluation"].items():
        lines.append(f"evaluation [{tag}]: {seconds:.1f} s")
    loader = report["loader"]
    lines.append(f"loader with structure maps: {loader['images_per_s']} images/s "
                 f"({loader['workers']} workers, batch {loader['batch_size']}, "
                 f"{loader['batches']} batches)")
    lines.append(f"peak memory: process {report['peak_rss_main_gb']} GB, process tree RSS "
                 f"{report['peak_rss_tree_gb']} GB, PSS {report['peak_pss_tree_gb']} GB "
                 f"({report['processes']} processes at most)")
    t = report["targets"]
    lines.append(f"targets: peak RSS < {t['peak_rss_gb_max']} GB: {t['peak_rss_ok']} (tree RSS), "
                 f"{t['peak_pss_ok']} (tree PSS); loader >= {t['loader_images_per_s_min']} "
                 f"images/s: {t['loader_ok']}")
    return "\n".join(lines)
