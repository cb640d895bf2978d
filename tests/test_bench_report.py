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
