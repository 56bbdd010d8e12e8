"""The benchmark harness: parameters, tables and RESULTS.md, without timing."""

import json

import pytest

from benchmarks import common, kd_overhead, machine, run


def timing(median):
    return {"median": median, "min": median * 0.9, "max": median * 1.1, "first": median * 5}


def kd_results():
    names = ("student", "teacher_inference", "kd", "kd_at", "keras_distillation")
    return {"torch": {name: timing(ms) for name, ms in zip(names, (100, 200, 310, 320, 400))}}


def test_suite_params_apply_run_defaults_repeats_and_overrides():
    params = run.suite_params("kd_overhead", kd_overhead, repeats=2,
                              overrides=["kd_overhead.batch=128", "backends.batches=[8]"])
    assert params == {"batch": 128, "repeats": 2}
    with pytest.raises(ValueError, match="no param 'size'"):
        run.suite_params("kd_overhead", kd_overhead, overrides=["kd_overhead.size=8"])


def test_report_gives_ratios_and_spread():
    text = kd_overhead.report(kd_results(), {"batch": 64, "repeats": 5})
    assert "| torch | 100 (±10%) | 200 (±10%) | 310 (±10%)" in text
    assert "| 1.03 | 1.03 | 0.78 |" in text


def test_results_md_is_written_atomically_from_the_record(tmp_path):
    entry = {"date": "2026-01-01T00:00:00", "seconds": 3.0, "load_average": [0.1, 0.2],
             "params": {"batch": 64, "repeats": 5}, "results": kd_results()}
    record = {"machine": machine.describe(), "suites": {"kd_overhead": entry}}
    path = tmp_path / "RESULTS.md"
    run.write_atomic(str(path), run.render(record))
    text = path.read_text()
    assert "cores" in text and "keras" in text
    assert ("python -m benchmarks.run --suite kd_overhead --backends torch "
            "--param kd_overhead.batch=64") in text
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]
    json.dumps(record)


def test_captioned_table():
    assert common.captioned_table("c", ["a", "b"], [[1, 2]]) == "c\n\n| a | b |\n|---|---|\n| 1 | 2 |"
