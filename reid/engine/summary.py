"""The baseline-versus-GCL table printed at the end of a training run."""
from __future__ import annotations


def format_summary_table(summary: dict) -> str:
    rows = []
    if summary.get("baseline"):
        rows.append(("baseline (start of GCL)", summary["baseline"]))
    if summary.get("final"):
        label = "GCL" if summary.get("final_tag") == "gcl" else summary.get("final_tag", "final")
        rows.append((label, summary["final"]))
    header = f"{'model':<26}{'mAP':>8}{'Rank-1':>9}{'Rank-5':>9}{'Rank-10':>9}{'mINP':>8}"
    lines = [header, "-" * len(header)]
    for name, m in rows:
        lines.append(f"{name:<26}{m['mAP']:>8.2f}{m['rank1']:>9.2f}{m['rank5']:>9.2f}"
                     f"{m['rank10']:>9.2f}{m['mINP']:>8.2f}")
    if len(rows) == 2:
        d_map = rows[1][1]["mAP"] - rows[0][1]["mAP"]
        d_r1 = rows[1][1]["rank1"] - rows[0][1]["rank1"]
        lines.append(f"{'change':<26}{d_map:>+8.2f}{d_r1:>+9.2f}")
    if "train_seconds" in summary:
        lines.append(f"training time: {summary['train_seconds']:.0f} s")
    return "\n".join(lines)
