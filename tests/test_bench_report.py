"""Benchmark records (benchmarks/record.py) and their markdown table (benchmarks/report.py,
tools/bench_report.py)."""
import json
import os

import pytest

from benchmarks import record, report
from tools import bench_report


def _write(folder, benchmark, figures):
    return record.write_record(benchmark, figures, str(folder), argv=["tools/bench_x.py", "--y"])


def test_record_holds_figures_machine_and_command(tmp_path):
    path = _write(tmp_path, "eval", {"metrics_s": 0.25})
    assert path == os.path.join(str(tmp_path), "eval.json")
    saved = json.loads(open(path, encoding="utf-8").read())
    assert saved["benchmark"] == "eval" and saved["figures"] == {"metrics_s": 0.25}
    assert saved["command"] == "bench_x.py --y"
    assert saved["machine"]["cpu_isa"] in ("amx", "avx512_bf16", "avx512", "avx2", "other")
    assert saved["machine"]["torch_threads"] >= 1
    assert saved["finished_utc"].endswith("Z")
    assert not [name for name in os.listdir(tmp_path) if name != "eval.json"]  # no temporaries


def test_record_without_folder_writes_nothing_and_bad_names_are_refused(tmp_path):
    assert record.write_record("eval", {}, None) is None
    with pytest.raises(ValueError, match="plain word"):
        record.write_record("../eval", {}, str(tmp_path))


def test_table_lists_machines_and_generic_rows(tmp_path):
    _write(tmp_path, "zzz", {"a_s": 1.23456, "name": "x", "flag": True, "nested": {"b": 1}})
    _write(tmp_path, "aaa", {"n": 3})
    records = report.load_records(str(tmp_path))
    assert [r["benchmark"] for r in records] == ["aaa", "zzz"]
    table = report.markdown_table(records)
    lines = table.splitlines()
    assert lines[0].startswith("Machines")
    assert sum(line.startswith("- `") for line in lines) == 2
    body = [line for line in lines if line.startswith("| `")]
    assert body[0].startswith("| `aaa` | figures | n 3 |")
    assert "a_s 1.235, name x" in body[1] and "flag" not in body[1] and "nested" not in body[1]


def test_registered_summariser_rows_and_ratio_text(tmp_path, monkeypatch):
    monkeypatch.setitem(report.SUMMARISERS, "demo", lambda figures: [
        report.row("work", f"{figures['ours']} s", "peer 10 s", ratio=10 / figures["ours"],
                   target=">= 10x", met=10 / figures["ours"] >= 10)])
    _write(tmp_path, "demo", {"ours": 2.0})
    table = report.markdown_table(report.load_records(str(tmp_path)))
    assert "| `demo` | work | 2.0 s | peer 10 s | x5.00 | >= 10x | **no** |" in table
    assert report.ratio_text(12.34) == "x12.3" and report.met_text(True) == "yes"


def test_bad_folders_and_files_name_themselves(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        report.load_records(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no benchmark records"):
        report.load_records(str(tmp_path))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        report.load_records(str(tmp_path))
    (tmp_path / "broken.json").write_text('{"x": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json is not a benchmark record"):
        report.load_records(str(tmp_path))


def test_readme_block_is_replaced_between_markers_only(tmp_path):
    text = f"intro\n{report.README_START}\nold table\n{report.README_END}\noutro\n"
    new = report.replace_marked_block(text, "| new |\n")
    assert new == f"intro\n{report.README_START}\n| new |\n{report.README_END}\noutro\n"
    assert report.replace_marked_block(new, "| new |\n") == new  # idempotent
    with pytest.raises(ValueError, match="NOTES.md: expected the markers"):
        report.replace_marked_block("no markers", "x", "NOTES.md")


def test_tool_writes_table_and_readme_and_refuses_before_writing(tmp_path, capsys):
    bench = tmp_path / "bench"
    _write(bench, "eval", {"metrics_s": 0.25})
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        bench_report.main(["--json-dir", str(bench), "--readme", str(readme)])
    assert exit_info.value.code == 2
    assert "expected the markers" in capsys.readouterr().err
    assert not (bench / "README.md").exists()  # nothing written when the README is refused
    readme.write_text(f"a\n{report.README_START}\n{report.README_END}\nb\n", encoding="utf-8")
    table = bench_report.main(["--json-dir", str(bench), "--readme", str(readme)])
    assert (bench / "README.md").read_text(encoding="utf-8") == table
    assert table in readme.read_text(encoding="utf-8")


def _rows_of(tmp_path, benchmark, figures):
    _write(tmp_path, benchmark, figures)
    table = report.markdown_table(report.load_records(str(tmp_path)))
    return [line for line in table.splitlines() if line.startswith(f"| `{benchmark}` |")]


def test_eval_rows_give_the_peer_ratios_and_targets(tmp_path):
    rows = _rows_of(tmp_path, "eval", {
        "num_query": 10, "num_gallery": 50, "metrics_s": 0.1, "fastreid_cython_s": 2.0,
        "fastreid_cython_diff_mAP": 1e-8, "fastreid_cython_diff_mINP": 0.0,
        "fastreid_cython_diff_cmc": 2e-8, "rerank_s": 1.0, "rerank_peak_gb": 0.5,
        "fastreid_rerank_s": 12.0, "fastreid_rerank_peak_gb": 6.0,
        "fastreid_rerank_max_abs_diff": 1e-6, "fastreid_rerank_entries_over_1e-5": 0,
        "rerank_float64_max_abs_diff": 2e-7, "fastreid_rerank_float64_max_abs_diff": 1e-6})
    assert "(max \\|diff\\| 1.0e-06 in 0 entries; to float64 ours 2.0e-07, fast-reid 1.0e-06)" \
        in rows[1]
    assert rows[0] == ("| `eval` | mAP / CMC / mINP, 10 x 50 | 0.100 s (\\|diff\\| 2.0e-08) | "
                       "fast-reid Cython 2.00 s | x20.0 | >= 10x, same results | yes |")
    assert "| x12.0 | >= 15x, <= 1/8 memory, distances to 1e-5 | **no** |" in rows[1]


def test_cluster_render_and_train_rows(tmp_path):
    cluster = _rows_of(tmp_path, "cluster", {
        "rows": [{"n": 100, "dim": 512, "fast": {"knn": 0.1}, "fast_total": 0.5,
                  "reference_total": 20.0, "ari_vs_reference": 1.0}],
        "knn_rows": [{"dim": 512, "k": 30, "cpu_isa": "avx2", "knn_path": "blas-rows",
                      "fastest": "blas-upper", "paths": {
                          "blas-rows": {"seconds": 2.0}, "blas-upper": {"seconds": 1.5},
                          "faiss-IndexFlatIP": {"seconds": 3.0}}}]})
    assert "| 0.50 s, ARI 1.0 | project reference 20.0 s | x40.0 | >= 35x, ARI 1.0 | yes |" \
        in cluster[0]
    assert cluster[1].endswith("| x1.50 | the fastest exact path chosen | **no** |")
    render = _rows_of(tmp_path, "render", {"batch": 16, "image_size": [256, 128], "threads": 2,
                                           "images_per_s_2_threads": 160.0,
                                           "silhouette_iou_vs_reference": 1.0,
                                           "reference_images_per_s": 2.0})
    assert render[0].endswith("| 160 images/s (IoU 1.0) | project reference 2.0 images/s | "
                              "x80.0 | >= 150 images/s, IoU 1.0 | yes |")
    train = _rows_of(tmp_path, "train", {"batch_size": 16, "gcl": {
        "precision": "fp32", "channels_last": False, "seconds_per_iter": 11.0,
        "peak_rss_gb": 8.0, "profile": {"passes": {"G": {"total_s": 5.0},
                                                   "D": {"total_s": 3.0}}}}})
    assert "joint GCL step, batch 16, fp32, contiguous | 11.00 s/iter, 8.00 GB (largest " \
           "passes: G 5.0 s, D 3.0 s)" in train[0]
    assert train[0].endswith("| x2.04 | >= 2x, <= half memory | yes |")


def test_machine_lines_hide_where_the_records_were_written(tmp_path):
    record.write_record("demo", {"n": 1}, str(tmp_path),
                        argv=["tools/bench_x.py", "--json-dir", "/somewhere/bench", "--y"])
    table = report.markdown_table(report.load_records(str(tmp_path)))
    assert "`bench_x.py --json-dir DIR --y`" in table and "/somewhere" not in table
