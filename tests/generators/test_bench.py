"""The benchmark runs end to end on tiny widths and reports every figure."""
import pytest

from benchmarks.video_gan import run_benchmark


@pytest.mark.slow  # a few training iterations of both models
def test_run_benchmark_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_benchmark(base_channels=2, batch_size=2, iterations=1, device="cpu")
    for name in ("imaginator", "g3an"):
        assert result[name]["seconds_per_iteration"] > 0
        assert result[name]["peak_memory_mb"] > 0
    table = result["table_3_12"]
    assert table["time_ratio_3d_over_1plus2d"] > 0
    # thesis table 3.12 compares the two at equal parameter counts
    assert abs(table["parameter_ratio_3d_over_1plus2d"] - 1) < 0.03
    assert table["transposed_3d"]["base_channels"] != table["transposed_1plus2d"]["base_channels"]


@pytest.mark.slow  # spawns a process per model
def test_style_models_benchmark_synthetic_widths():
    result = run_benchmark(batch_size=2, iterations=1, device="cpu",
                           models=("inmodegan", "mostganv"), style_size="synthetic")
    for name in ("inmodegan", "mostganv"):
        r = result[name]
        assert r["seconds_per_iteration"] > 0 and r["peak_memory_mb"] > 0
        assert r["seconds_with_r1"] > 0 and r["widths"] == "synthetic"
