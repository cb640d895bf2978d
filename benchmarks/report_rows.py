"""The headline rows of each benchmark record in the ``make bench`` table, with the targets of
the performance work: a ratio against the reference timed in the same run where there is one,
and whether the target is met. Registered with :func:`benchmarks.rows.summariser`; imported by
:mod:`benchmarks.report`, so every table has them.
"""
from __future__ import annotations

from typing import Any

from .rows import Row, row, summariser

# The authors' joint step (fp32, 256 x 128) measured on a quiet 2-core AMD EPYC of the kind these
# benchmarks run on: seconds per iteration and peak memory in GB, by batch size. It cannot be
# timed in our run (their code is not a dependency), so it is the one reference not from the
# same process.
AUTHORS_JOINT_STEP = {16: (22.4, 17.95), 4: (4.94, 5.69)}


def _get(figures: dict, *keys, default=None):
    value: Any = figures
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


@summariser("eval")
def eval_rows(f: dict[str, Any]) -> list[Row]:
    size = f"{f.get('num_query')} x {f.get('num_gallery')}"
    rows = []
    ours = f.get("metrics_s")
    if f.get("fastreid_cython_s") is not None and ours:
        ratio = f["fastreid_cython_s"] / ours
        diff = max(abs(f.get(f"fastreid_cython_diff_{k}", 0.0)) for k in ("mAP", "mINP", "cmc"))
        rows.append(row(f"mAP / CMC / mINP, {size}", f"{ours:.3f} s (|diff| {diff:.1e})",
                        f"fast-reid Cython {f['fastreid_cython_s']:.2f} s", ratio,
                        ">= 10x, same results", ratio >= 10 and diff < 1e-6))
    elif ours and f.get("reference_s"):
        rows.append(row(f"mAP / CMC / mINP, {size}", f"{ours:.3f} s",
                        f"project reference {f['reference_s']:.2f} s",
                        f["reference_s"] / ours))
    if f.get("fastreid_rerank_s") is not None and f.get("rerank_s"):
        ratio = f["fastreid_rerank_s"] / f["rerank_s"]
        memory = f["rerank_peak_gb"] / max(f["fastreid_rerank_peak_gb"], 1e-9)
        diff = f.get("fastreid_rerank_max_abs_diff", float("nan"))
        ours_text = f"{f['rerank_s']:.2f} s, {f['rerank_peak_gb']:.2f} GB (max |diff| {diff:.1e}"
        if f.get("fastreid_rerank_entries_over_1e-5") is not None:
            ours_text += f" in {f['fastreid_rerank_entries_over_1e-5']} entries"
        exact = f.get("rerank_float64_max_abs_diff")
        if exact is not None:  # which side the differences come from
            ours_text += (f"; to float64 ours {exact:.1e}, fast-reid "
                          f"{f.get('fastreid_rerank_float64_max_abs_diff', float('nan')):.1e}")
        rows.append(row("k-reciprocal re-ranking (20, 6, 0.3)", ours_text + ")",
                        f"fast-reid {f['fastreid_rerank_s']:.1f} s, "
                        f"{f['fastreid_rerank_peak_gb']:.2f} GB", ratio,
                        ">= 15x, <= 1/8 memory, distances to 1e-5",
                        ratio >= 15 and memory <= 1 / 8 and diff <= 1e-5))
    return rows


@summariser("cluster")
def cluster_rows(f: dict[str, Any]) -> list[Row]:
    rows = []
    targets = {512: 35.0, 2048: 25.0}
    for item in f.get("rows", []):
        dim = int(item.get("dim", 0))
        ours, ref = item.get("fast_total"), item.get("reference_total")
        if not ours or not ref:
            continue
        ratio, ari = ref / ours, item.get("ari_vs_reference")
        target = targets.get(dim)
        work = f"pseudo-labels N {item.get('n')}, {dim}-d (kNN {item['fast']['knn']:.2f} s)"
        rows.append(row(work, f"{ours:.2f} s, ARI {ari}", f"project reference {ref:.1f} s", ratio,
                        f">= {target:g}x, ARI 1.0" if target else "ARI 1.0",
                        (ratio >= target if target else True) and ari == 1.0))
    for item in f.get("knn_rows", []):
        paths = item.get("paths", {})
        chosen, fastest = item.get("knn_path"), item.get("fastest")
        if chosen not in paths or fastest not in paths:
            continue
        faiss = paths.get("faiss-IndexFlatIP", {}).get("seconds")
        work = f"exact kNN, {item.get('dim')}-d, k {item.get('k')} ({item.get('cpu_isa')})"
        rows.append(row(work, f"{chosen} {paths[chosen]['seconds']:.2f} s",
                        f"faiss IndexFlatIP {faiss:.2f} s" if faiss else "",
                        faiss / paths[chosen]["seconds"] if faiss else None,
                        "the fastest exact path chosen", chosen == fastest))
    return rows


@summariser("render")
def render_rows(f: dict[str, Any]) -> list[Row]:
    speed = f.get("images_per_s_2_threads") or f.get("images_per_s")
    if speed is None:
        return []
    iou = f.get("silhouette_iou_vs_reference")
    ref = f.get("reference_images_per_s")
    return [row(f"structure maps, {f.get('batch')} bodies at "
                f"{'x'.join(map(str, f.get('image_size', [])))}, {f.get('threads')} threads",
                f"{speed:.0f} images/s (IoU {iou})",
                f"project reference {ref:.1f} images/s" if ref else "",
                speed / ref if ref else None, ">= 150 images/s, IoU 1.0",
                speed >= 150 and iou == 1.0)]


@summariser("train_fp16")
@summariser("train_bf16")
@summariser("train_fp32")
@summariser("train")
def train_rows(f: dict[str, Any]) -> list[Row]:
    step = f.get("gcl") or {}
    seconds, peak = step.get("seconds_per_iter"), step.get("peak_rss_gb")
    batch = f.get("batch_size")
    if seconds is None:
        return []
    precision = step.get("precision", "?")
    layout = "channels-last" if step.get("channels_last") else "contiguous"
    authors = AUTHORS_JOINT_STEP.get(batch)
    reference = ratio = met = None
    target = ""
    if authors:
        reference = (f"authors' fp32 step {authors[0]:g} s, {authors[1]:g} GB (measured apart, "
                     "quiet EPYC)")
        ratio = authors[0] / seconds
        need = 3.0 if precision == "bf16" else 2.0
        target = f">= {need:g}x, <= half memory"
        met = ratio >= need and peak is not None and peak <= authors[1] / 2
    profile = _get(step, "profile", "passes", default={})
    heavy = sorted(profile.items(), key=lambda kv: -kv[1].get("total_s", 0.0))[:3]
    breakdown = ", ".join(f"{name} {v['total_s']:.1f} s" for name, v in heavy)
    result = f"{seconds:.2f} s/iter, {peak:.2f} GB" if peak is not None else f"{seconds:.2f} s"
    if breakdown:
        result += f" (largest passes: {breakdown})"
    return [row(f"joint GCL step, batch {batch}, {precision}, {layout}", result,
                reference or "", ratio, target, met)]
