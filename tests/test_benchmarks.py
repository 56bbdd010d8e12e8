"""The benchmark harness: parameters, tables and RESULTS.md, without timing."""

import json

import pytest

import keras_kd as kd
from benchmarks import common, gkt_epoch, kd_overhead, machine, method_cost, reskd_adaptive, run, torch_profile


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
    entry = {"date": "2026-01-01T00:00:00", "cpu": "Some CPU, 2 cores", "seconds": 3.0, "load_average": [0.1, 0.2],
             "params": {"batch": 64, "repeats": 5}, "results": kd_results()}
    record = {"machine": machine.describe(), "suites": {"kd_overhead": entry}}
    path = tmp_path / "RESULTS.md"
    run.write_text(str(path), run.render(record))
    text = path.read_text()
    assert "cores" in text and "keras" in text
    assert "load average 0.1 -> 0.2, on Some CPU, 2 cores." in text
    assert ("python -m benchmarks.run --suite kd_overhead --backends torch "
            "--param kd_overhead.batch=64") in text
    assert [p.name for p in tmp_path.iterdir()] == ["RESULTS.md"]
    json.dumps(record)


def test_captioned_table():
    assert common.captioned_table("c", ["a", "b"], [[1, 2]]) == "c\n\n| a | b |\n|---|---|\n| 1 | 2 |"


def test_reskd_report_gives_accuracy_loss_saving_and_goal():
    measured = {"threshold": 0.5, "members": ["s0", "r1"], "accuracy": {"full": 0.80, "adaptive": 0.798},
                "mflops": {"full": 68.0, "adaptive": 50.0}, "skipped": 0.66,
                "ms_per_example": {"full": timing(1.0), "adaptive": timing(0.75)}}
    text = reskd_adaptive.report({"jax": measured, "torch": {"missing": "e.keras"}},
                                 {k: v for k, (v, _) in reskd_adaptive.PARAMS.items()})
    assert "| jax | 0.500 | 80.00 / 79.80 | +0.20 | 68.0 / 50.0 | 66% | 1 (±10%) / 0.75 (±10%) | 25% | yes |" in text
    assert "| torch | no e.keras: run examples/reskd.py first |" in text


def test_torch_profile_groups_ops_and_reports_shares():
    assert [torch_profile.group_of(op) for op in (
        "aten::mkldnn_convolution", "aten::convolution_backward", "aten::native_batch_norm", "aten::copy_",
        "aten::mul")] == ["convolution", "convolution", "batch_norm", "layout_copies", "other"]
    profiled = {"convolution": 50.0, "batch_norm": 0.0, "layout_copies": 25.0, "other": 25.0, "total": 100.0,
           "top_ops": [["aten::copy_", 25.0]]}
    text = torch_profile.report({"torch": {"KD keras_kd": profiled}, "jax": {}}, {"batch": 64, "steps": 5})
    assert "| torch | KD keras_kd | 50 (50%) | 0 (0%) | 25 (25%) | 25 (25%) | 100 | aten::copy_ 25.0 |" in text
    assert "| jax" not in text
    assert "repeats" not in run.suite_params("torch_profile", torch_profile, repeats=3)  # it has none


def test_gkt_epoch_report_gives_ratios_and_the_work_gkt_runs():
    params = {k: v for k, (v, _) in gkt_epoch.PARAMS.items()}
    measured = {"ms": {"plain": timing(1000), "gkt": timing(960), "gkt_all": timing(1030)},
                "mechanism": "cond", "gkt_work": {"blocks": 0.9594, "macs": 0.9582}}
    text = gkt_epoch.report({"torch": measured}, params)
    assert "GKT at q = 0.2, 100 classes, knowledge table of 50,000 examples" in text
    assert "| torch | cond | 1000 (±10%) | 960 (±10%) | 1030 (±10%) | 0.96 | 1.03 | 0.959 / 0.958 |" in text
    assert "time floor" not in text


def test_gkt_time_floor_is_plain_minus_the_blocks_gkt_skips():
    work = {"blocks": 0.8, "macs": 0.8, "sizes": [4, 4, 4], "min_keep": [1, 1, 1], "kept": [4.0, 3.5, 2.5]}
    ms = {"plain": timing(1200), "gkt": timing(1100), "gkt_all": timing(1210),
          "cut-1": timing(900), "cut-2": timing(1000), "cut-3": timing(1050)}
    # one block costs 100 / 66.7 / 50 ms per stage; GKT skips 0 / 0.5 / 1.5 of them on average
    floor = gkt_epoch.time_floor(ms, work)
    assert floor == pytest.approx(1 - (0.5 * 200 / 3 + 1.5 * 50) / 1200)
    params = {**{k: v for k, (v, _) in gkt_epoch.PARAMS.items()}, "floor": True}
    text = gkt_epoch.report({"tensorflow": {"ms": ms, "mechanism": "cond", "gkt_work": work, "time_floor": floor}},
                            params)
    assert "| time floor |" in text and text.splitlines()[-1].endswith("| 0.800 / 0.800 | 0.910 |")


def test_gkt_work_fraction_follows_eq_5_to_7():
    def fraction(q, include_full):
        return gkt_epoch.gkt_work_fraction("resnet-20", q, include_full, draws=2000)

    # ResNet-20 at q = 0.2: Eq. 7 keeps a stage's blocks with P >= 0.8, decreasing per group
    with_full = fraction(0.2, True)
    assert with_full["sizes"] == [3, 3, 3] and with_full["min_keep"] == [1, 1, 1]
    assert 2.9 < with_full["kept"][0] <= 3 and 1 <= with_full["kept"][2] < with_full["kept"][0]
    assert 0.9 < with_full["macs"] < 0.97 and 0.9 < with_full["blocks"] < 0.97
    assert fraction(0.2, False)["macs"] < with_full["macs"] - 0.05  # t = 1 always skips a block
    assert fraction(0.5, True)["macs"] < with_full["macs"] - 0.05
    # the benchmark's gkt method and work fraction use the library's defaults (Eq. 7 as printed)
    assert gkt_epoch.gkt_work_fraction("resnet-20", 0.2, draws=2000) == with_full
    assert gkt_epoch.trainer("gkt", kd.models.get_model("resnet-20", 10), 8, 0.2).include_full


def test_method_cost_report_gives_each_methods_ratio_to_kd():
    results = {"jax": {name: timing(ms) for name, ms in zip(method_cost.NAMES, (200, 220, 300, 210))}}
    text = method_cost.report(results, {"batch": 64, "repeats": 5, "examples": 50000})
    assert "| jax | 200 (±10%) | 220 (±10%) | 300 (±10%) | 210 (±10%) | 1.10 | 1.50 | 1.05 |" in text
    assert "N = 50000 and K = 16384" in text


def test_multi_process_report_gives_the_ratio_of_the_setups_and_skips_other_backends():
    from benchmarks import multi_process

    results = {"tensorflow": None, "jax": {"one_process": timing(400), "two_processes": timing(460)}}
    text = multi_process.report(results, {"batch": 64, "steps": 20, "repeats": 2})
    assert "| jax | 400 (±10%) | 460 (±10%) | 1.15 |" in text and "tensorflow" not in text
    assert "global batch 64" in text and "2 alternated runs of 20 steps" in text
