"""End-to-end evaluation of an identity encoder on a dataset's query / gallery split.

For reporting only: nothing here feeds back into training or model selection (test labels are
never used to pick a model).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from torch import nn

from reid.config import save_config
from common import atomic_write_json, resolve_device, setup_logger
from common.logging import progress_mode

from .distance import compute_distance_matrix
from .features import extract_features
from .metrics import evaluate
from .rerank import re_ranking
from .visualize import save_ranked_lists

RANKS = (1, 5, 10, 20)


def _build_model(cfg, weights: str | None, device, logger: logging.Logger) -> nn.Module:
    """E_id from ``weights`` (or ``MODEL.WEIGHTS``): weights that leave tensors of the encoder
    unloaded are an error listing them unless ``MODEL.PARTIAL_LOAD``; no weights at all is a
    warning."""
    from reid.models import build_identity_encoder, check_complete_load, load_identity_encoder

    key = "--weights" if weights else "MODEL.WEIGHTS"
    weights = weights or cfg.MODEL.WEIGHTS
    if weights:
        model, report = load_identity_encoder(weights, cfg, device=device)
        check_complete_load(report, key, bool(cfg.MODEL.PARTIAL_LOAD), logger)
        return model
    logger.warning("no weights given (--weights or MODEL.WEIGHTS): evaluating the encoder as "
                   "built from the config (%s)",
                   "ImageNet backbone" if cfg.MODEL.PRETRAINED_PATH or
                   cfg.MODEL.PRETRAINED_FROM_TIMM else "random initialisation")
    return build_identity_encoder(cfg).to(device).eval()


def results_in_percent(metrics: dict) -> dict[str, float]:
    """mAP, rank-k and mINP from :func:`evaluate` (fractions) as percentages."""
    cmc = metrics["cmc"]
    out = {"mAP": 100.0 * metrics["mAP"]}
    for k in RANKS:
        out[f"rank{k}"] = 100.0 * float(cmc[min(k, len(cmc)) - 1])
    out["mINP"] = 100.0 * metrics["mINP"]
    return {key: round(value, 4) for key, value in out.items()}


def format_results_table(results: dict[str, Any]) -> str:
    """A small text table of the scores (percent) and the evaluation setting."""
    keys = ["mAP"] + [f"rank{k}" for k in RANKS] + ["mINP"]
    header = " | ".join(f"{k:>7}" for k in keys)
    values = " | ".join(f"{results[k]:7.2f}" for k in keys)
    rule = "-" * len(header)
    setting = (f"{results['dataset']}: {results['num_query']} queries "
               f"({results['skipped_queries']} without a match skipped), "
               f"{results['num_gallery']} gallery, metric {results['metric']}, "
               f"re-ranking {'on' if results['rerank'] else 'off'}")
    return "\n".join([setting, rule, header, rule, values, rule])


def run_evaluation(cfg, model: nn.Module | None = None, weights: str | None = None,
                   output_dir: str | None = None, rerank: bool | None = None,
                   visualize: int = 0) -> dict[str, Any]:
    """Evaluate on ``cfg.DATASETS.NAME`` below ``cfg.DATASETS.ROOT`` and write the report.

    Only the dataset's query and gallery are read (``bounding_box_train`` / MSMT17's training
    folder need not exist).

    Args:
        model: an encoder mapping [-1, 1] images to embeddings; built from ``cfg.MODEL`` (and
            ``weights`` or ``cfg.MODEL.WEIGHTS``) when None.
        output_dir: where ``results.json``, ``config.yaml`` and the ranked lists go
            (default ``cfg.OUTPUT_DIR/test``).
        rerank: k-reciprocal re-ranking on or off (default ``cfg.TEST.RERANK``).
        visualize: number of queries to draw as ranked-list PNGs (0 = none).

    Returns:
        The ``results.json`` content: ``mAP``, ``rank1/5/10/20`` and ``mINP`` in percent, plus
        the dataset, sizes, skipped queries, weights path and re-ranking flag.
    """
    from reid.data import build_dataset_from_cfg, build_test_loader_from_cfg
    from reid.models import check_finite_weights

    output_dir = output_dir or os.path.join(cfg.OUTPUT_DIR, "test")
    os.makedirs(output_dir, exist_ok=True)
    logger = setup_logger("reid", output_dir)
    rerank = bool(cfg.TEST.RERANK if rerank is None else rerank)
    device = resolve_device(cfg.MODEL.DEVICE)

    # Only query and gallery are read: the training folder may be absent (a missing query or
    # gallery folder is an error naming it).
    dataset = build_dataset_from_cfg(cfg, test_only=True)
    if not dataset.query or not dataset.gallery:
        raise ValueError(f"dataset {cfg.DATASETS.NAME} at {cfg.DATASETS.ROOT} has "
                         f"{len(dataset.query)} query and {len(dataset.gallery)} gallery images; "
                         "evaluation needs both")
    weights_path = weights or cfg.MODEL.WEIGHTS or ""
    if model is None:
        model = _build_model(cfg, weights, device, logger)
        checked = weights_path or "the encoder built from the config"
    else:
        checked = "the given encoder"
    check_finite_weights(model, f"evaluation of {checked}")  # before any feature extraction
    model = model.to(device)

    bar = progress_mode(cfg.SOLVER.PROGRESS) == "bar"
    qf, q_pids, q_camids = extract_features(
        model, build_test_loader_from_cfg(cfg, dataset.query), device, flip=cfg.TEST.FLIP,
        desc="query features", progress=bar)
    gf, g_pids, g_camids = extract_features(
        model, build_test_loader_from_cfg(cfg, dataset.gallery), device, flip=cfg.TEST.FLIP,
        desc="gallery features", progress=bar)
    if rerank:
        distmat = re_ranking(qf, gf, cfg.TEST.RERANK_K1, cfg.TEST.RERANK_K2,
                             cfg.TEST.RERANK_LAMBDA)
    else:
        distmat = compute_distance_matrix(qf.to(device), gf.to(device), cfg.TEST.METRIC)
    metrics = evaluate(distmat, q_pids, g_pids, q_camids, g_camids)

    results: dict[str, Any] = results_in_percent(metrics)
    results.update({
        "dataset": cfg.DATASETS.NAME,
        "num_query": int(len(q_pids)),
        "num_gallery": int(len(g_pids)),
        "num_valid_queries": metrics["num_valid_queries"],
        "skipped_queries": metrics["num_skipped_queries"],
        "weights": weights_path,
        "rerank": rerank,
        "metric": "k-reciprocal re-ranking" if rerank else cfg.TEST.METRIC,
        "flip": bool(cfg.TEST.FLIP),
    })
    logger.info("results\n%s", format_results_table(results))
    atomic_write_json(os.path.join(output_dir, "results.json"), results)
    save_config(cfg, os.path.join(output_dir, "config.yaml"))
    if visualize:
        folder = os.path.join(output_dir, "ranked_lists")
        written = save_ranked_lists(distmat, dataset.query, dataset.gallery, folder,
                                    num_queries=int(visualize), q_pids=q_pids, g_pids=g_pids,
                                    q_camids=q_camids, g_camids=g_camids)
        logger.info("wrote %d ranked lists to %s", len(written), folder)
    logger.info("wrote %s", os.path.join(output_dir, "results.json"))
    return results


__all__ = ["format_results_table", "results_in_percent", "run_evaluation"]
