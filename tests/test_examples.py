"""The example scripts' command lines: shared flags in --help, a tiny main job end to end."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import write_imagenet_tree, write_tiny_imagenet

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SCRIPTS = ["benchmark", "distill", "gkt", "moonshine", "mutual", "residual_kd", "reskd", "train_teacher"]
CIFAR10 = os.path.join(os.path.dirname(EXAMPLES), "..", "shared", "data", "cifar10-jpg.tar.gz")


def run(script, *flags):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, f"{script}.py"), *flags],
                          capture_output=True, text=True, cwd=EXAMPLES)


@pytest.mark.heavy(backend="torch")  # the scripts' command lines do not depend on the backend
@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_the_shared_flags(script):
    out = run(script, "--help").stdout
    for name in ("epochs", "train_size", "test_size", "output_dir", "preset", "print_recipe"):
        assert re.search(rf"--(\[no\])?{name}:", out), (script, name)


@pytest.mark.heavy(backend="torch")  # the scripts' command lines do not depend on the backend
def test_why_defaults_writes_its_table(tmp_path):
    assert run("why_defaults", "--output_dir", str(tmp_path)).returncode == 0
    values = json.loads((tmp_path / "results.json").read_text())["values"]
    assert values["keras_kd.losses.kd_loss"] == pytest.approx(values["true T^2 KL (numpy, float64)"], rel=1e-5)


@pytest.mark.heavy(backend="torch")  # the command lines do not depend on the backend; 21 s on torch, 88 s on TF
@pytest.mark.skipif(not os.path.exists(CIFAR10), reason="needs the CIFAR-10 JPEGs in ../shared/data")
def test_the_main_job_writes_results_and_a_plot(tmp_path):
    result = run("distill", "--source", os.path.abspath(CIFAR10), "--train_size", "128", "--test_size", "64",
                 "--epochs", "1", "--teacher_epochs", "1", "--output_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["accuracy.png", "results.json", "results.md"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["run"] for r in saved["results"]] == ["teacher", "scratch student", "kd student"]
    assert saved["flags"]["test_size"] == 64


# The command lines do not depend on the backend (every term trains on each: test_every_term); on torch (eager)
# the run takes 50 s, on TensorFlow 333 s.
@pytest.mark.heavy(backend="torch")
@pytest.mark.skipif(not os.path.exists(CIFAR10), reason="needs the CIFAR-10 JPEGs in ../shared/data")
def test_the_benchmark_smoke_preset_runs_every_method(tmp_path):
    result = run("benchmark", "--preset=smoke", "--source", os.path.abspath(CIFAR10), "--output_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "results.json").read_text())
    runs = saved["runs"]["resnet56:resnet20"]
    assert sorted(runs) == sorted(saved["flags"]["methods"]) and "crd" in runs and "dkd" in runs
    assert all(len(seeds) == 1 and len(seeds[0]) == 1 and 0 <= seeds[0][0] <= 1 for seeds in runs.values())
    table = (tmp_path / "results.md").read_text()
    assert "| crd | " in table and "(71.16) |" in table  # ours beside tian2020's published ResNet-56 -> ResNet-20
    refused = run("distill", "--preset=smoke", "--print_recipe")
    assert refused.returncode != 0 and "benchmark.py's" in refused.stderr + refused.stdout


TINY_JOB = ("--teacher", "resnet8", "--student", "resnet8", "--student_block", "S", "--recipe", "li2021/resnet",
            "--epochs", "1", "--teacher_epochs", "1", "--seeds", "0")


@pytest.mark.heavy(backend="torch")  # the scripts' command lines do not depend on the backend
@pytest.mark.parametrize("layout, size", [("tiny-imagenet", 64), ("imagenet", 224)])
def test_the_main_job_runs_beyond_32_px(tmp_path, layout, size):
    """Tiny-ImageNet's layout at its own 64 px (in memory), and ImageNet's class folders decoded per step at
    --image_size 224 (RandomResizedCrop / center crop of 40-56 px images)."""
    rng = np.random.default_rng(0)
    root = tmp_path / layout
    if layout == "tiny-imagenet":
        write_tiny_imagenet(root, rng, per_class=4, size=size)
        flags = ()
    else:
        write_imagenet_tree(root, rng, shapes=((40, 56), (48, 48)), classes=("n01", "n02", "n03"), jpeg=True)
        flags = ("--image_size", str(size))
    result = run("distill", "--source", str(root), *flags, *TINY_JOB, "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["run"] for r in saved["results"]] == ["teacher", "scratch student", "kd student"]
    assert saved["flags"]["image_size"] == (None if layout == "tiny-imagenet" else size)
