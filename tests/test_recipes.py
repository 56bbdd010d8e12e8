"""keras_kd.recipes against the papers' text, and every example's resolved recipe."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_kd as kd

# One row per paper and model family, written from the seed papers (``keras_kd.references``):
# epochs, batch, lr of every epoch that starts at a new rate, momentum, nesterov, weight decay, padding.
PAPERS = {
    # crowley2018 §4.1 (+ its code's weight decay 5e-4): x0.2 at the start of epochs 60, 120, 160.
    "crowley2018/wrn": (200, 128, {0: 0.1, 59: 0.1, 60: 0.02, 120: 0.004, 160: 0.0008, 199: 0.0008},
                        0.9, False, 5e-4, "constant"),
    # jha2020 §5: x0.2 (WRN) / x0.1 (ResNet18) after epochs 30, 60, 90; 120 epochs; wd 4e-4; reflection padding.
    "jha2020/wrn": (120, 128, {0: 0.1, 29: 0.1, 30: 0.02, 60: 0.004, 90: 0.0008}, 0.9, False, 4e-4, "reflect"),
    "jha2020/resnet18": (120, 128, {0: 0.1, 30: 0.01, 60: 0.001, 90: 0.0001}, 0.9, False, 4e-4, "reflect"),
    # jha2020 §5: MobileNetV2 students 300 epochs, lr x0.98 after every epoch.
    "jha2020/mobilenetv2": (300, 128, {0: 0.1, 1: 0.098, 10: 0.1 * 0.98**10, 299: 0.1 * 0.98**299},
                            0.9, False, 4e-4, "reflect"),
    # li2021 §IV-A1: /10 at 150 and 200, 250 epochs, wd 1e-4, batch 128.
    "li2021/resnet": (250, 128, {0: 0.1, 149: 0.1, 150: 0.01, 200: 0.001, 249: 0.001}, 0.9, False, 1e-4, "constant"),
    # tang2024 A1: WRN 200 epochs, batch 128, lr 0.1 cosine, wd 5e-4 (zagoruyko2016: Nesterov 0.9).
    "tang2024/wrn": (200, 128, {0: 0.1, 100: 0.05, 150: 0.1 * (1 + np.cos(np.pi * 0.75)) / 2},
                     0.9, True, 5e-4, "constant"),
    # tang2024 A1: ResNet / MobileNetV3 500 epochs, batch 64, lr 0.05 cosine, wd 3e-4.
    "tang2024/resnet": (500, 64, {0: 0.05, 250: 0.025, 499: 0.05 * (1 + np.cos(np.pi * 499 / 500)) / 2},
                        0.9, False, 3e-4, "constant"),
    # tian2020's code (RepDistiller train_student.py): batch 64, 240 epochs, lr 0.05 (0.01 for MobileNetV2 and
    # ShuffleNets), /10 after epochs 150, 180, 210 (its epoch e > 150 counted from 1), wd 5e-4.
    "tian2020/resnet": (240, 64, {0: 0.05, 149: 0.05, 150: 0.005, 180: 0.0005, 210: 0.00005, 239: 0.00005},
                        0.9, False, 5e-4, "constant"),
    "tian2020/mobilenetv2": (240, 64, {0: 0.01, 149: 0.01, 150: 0.001, 180: 0.0001, 210: 0.00001}, 0.9, False, 5e-4,
                             "constant"),
    # yao2020 supp. §1.1: ResNet-110/164, MobileNet: batch 64, wd 1e-4, 200 epochs, /10 every 60 epochs.
    "yao2020/resnet": (200, 64, {0: 0.1, 59: 0.1, 60: 0.01, 120: 0.001, 180: 0.0001}, 0.9, False, 1e-4, "constant"),
    "yao2020/mobilenet": (200, 64, {0: 0.1, 60: 0.01, 120: 0.001, 180: 0.0001}, 0.9, False, 1e-4, "constant"),
    # yao2020 supp. §1.1: DenseNet-40-12: Nesterov, batch 64, wd 1e-4, 300 epochs, /10 at 50% and 75%.
    "yao2020/densenet": (300, 64, {0: 0.1, 149: 0.1, 150: 0.01, 225: 0.001, 299: 0.001}, 0.9, True, 1e-4,
                         "constant"),
    "yao2020/mobilenetv2": (200, 64, {0: 0.1, 60: 0.01, 120: 0.001, 180: 0.0001}, 0.9, False, 1e-4, "constant"),
    # yao2020 supp. §1.1: WRN-28-10/4: batch 128, wd 5e-4, 200 epochs, /5 at 60, 120, 160.
    "yao2020/wrn": (200, 128, {0: 0.1, 60: 0.02, 120: 0.004, 160: 0.0008}, 0.9, False, 5e-4, "constant"),
}
# tang2024 A1: "utilize random scale transformation (Yang, Zhu, and Chen 2020)": GradAug's CIFAR
# resolutions 32, 28 and 24 pixels of 32, as fractions (the scales tang2024 does not give).
RANDOM_SCALE = {"tang2024/wrn": (1.0, 0.875, 0.75), "tang2024/resnet": (1.0, 0.875, 0.75)}
STEPS_PER_EPOCH = 7


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_recipe_equals_the_paper(key):
    epochs, batch, rates, momentum, nesterov, weight_decay, pad_mode = PAPERS[key]
    recipe = kd.recipes.RECIPES[key]
    assert (recipe.epochs, recipe.batch_size, recipe.pad_mode) == (epochs, batch, pad_mode)
    assert recipe.data_kwargs() == {"pad": 4, "pad_mode": pad_mode, "random_scale": RANDOM_SCALE.get(key)}
    optimizer = recipe.optimizer(STEPS_PER_EPOCH)
    assert type(optimizer) is kd.optimizers.SGD
    assert (optimizer.momentum, optimizer.nesterov, optimizer.weight_decay) == (momentum, nesterov, weight_decay)
    schedule = recipe.learning_rate_schedule(STEPS_PER_EPOCH)
    for epoch, rate in rates.items():
        for step in (epoch * STEPS_PER_EPOCH, (epoch + 1) * STEPS_PER_EPOCH - 1):  # constant within the epoch
            assert float(schedule(step)) == pytest.approx(rate, rel=1e-5, abs=1e-8), (epoch, step)


def test_every_recipe_is_tested_and_quotes_its_paper():
    assert sorted(kd.recipes.RECIPES) == sorted(PAPERS)
    for key, recipe in kd.recipes.RECIPES.items():
        assert recipe.source.startswith(recipe.paper), key


def test_tang2024_scales_cifar_batches_to_gradaugs_resolutions():
    for key in RANDOM_SCALE:
        sizes = kd.data.pipeline.scaled_sizes(32, 32, kd.recipes.RECIPES[key].random_scale)
        assert sizes == [(32, 32), (28, 28), (24, 24)], key


@pytest.mark.parametrize(
    "paper, model, key",
    [
        ("crowley2018", "wrn-40-2", "crowley2018/wrn"),
        ("jha2020", "cifar-resnet-18", "jha2020/resnet18"),
        ("jha2020", "mobilenet-v2", "jha2020/mobilenetv2"),
        ("li2021", "resnet-110", "li2021/resnet"),
        ("li2021", "wrn-16-2", "li2021/resnet"),
        ("tang2024", "resnet-32", "tang2024/resnet"),
        ("tang2024", "wrn-28-10", "tang2024/wrn"),
        ("yao2020", "resnet-110", "yao2020/resnet"),
        ("tian2020", "resnet8x4", "tian2020/resnet"),
        ("tian2020", "wrn-40-1", "tian2020/resnet"),
        ("tian2020", "vgg8", "tian2020/resnet"),
        ("tian2020", "shufflenet-v1", "tian2020/mobilenetv2"),
        ("tian2020", "mobilenet-v2", "tian2020/mobilenetv2"),
        ("yao2020", "preact-resnet-164", "yao2020/resnet"),
        ("yao2020", "densenet-40-12", "yao2020/densenet"),
        ("yao2020", "mobilenet-v1", "yao2020/mobilenet"),
    ],
)
def test_get_recipe_by_model_name(paper, model, key):
    assert kd.recipes.get_recipe(paper, model).key == key


def test_unknown_recipes_are_named():
    with pytest.raises(ValueError, match="No recipe 'crowley2018/resnet'"):
        kd.recipes.get_recipe("crowley2018", "resnet-20")
    with pytest.raises(ValueError, match="Unknown model name.*name='vgg-16'"):
        kd.recipes.get_recipe("li2021", "vgg-16")
    with pytest.raises(ValueError, match="No recipe 'tang2024/imagenet-resnet'"):  # the CIFAR recipes only
        kd.recipes.get_recipe("tang2024", "resnet-50")


def test_scaled_recipe_keeps_the_fractions_and_the_total_decay():
    short = kd.recipes.RECIPES["crowley2018/wrn"].scaled(10)
    assert (short.epochs, short.milestones, short.factor) == (10, (3, 6, 8), 0.2)
    exponential = kd.recipes.RECIPES["jha2020/mobilenetv2"].scaled(3)
    assert exponential.factor**3 == pytest.approx(0.98**300)
    assert kd.recipes.RECIPES["li2021/resnet"].scaled(2).milestones == (1,)  # 150/250, 200/250 of 2 epochs


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
# (script, extra flags): the recipe key under --preset=small and --preset=paper.
SCRIPT_RECIPES = [
    ("train_teacher", [], "crowley2018/wrn", "crowley2018/wrn"),
    ("benchmark", [], "tian2020/resnet", "tian2020/resnet"),
    ("benchmark", ["--pairs", "resnet32x4:shufflenet-v1"], "tian2020/mobilenetv2", "tian2020/mobilenetv2"),
    ("distill", [], "crowley2018/wrn", "crowley2018/wrn"),
    ("moonshine", [], "crowley2018/wrn", "crowley2018/wrn"),
    ("residual_kd", [], "jha2020/wrn", "jha2020/wrn"),
    ("residual_kd", ["--network", "cifar-resnet-18"], "jha2020/resnet18", "jha2020/resnet18"),
    ("gkt", [], "tang2024/resnet", "tang2024/resnet"),
    ("gkt", ["--model", "wrn-28-10"], "tang2024/wrn", "tang2024/wrn"),
    ("reskd", [], "li2021/resnet", "li2021/resnet"),
    ("mutual", [], "yao2020/wrn", "yao2020/wrn"),
    ("mutual", ["--models", "resnet-20,resnet-20"], "yao2020/resnet", "yao2020/resnet"),
    ("mutual", ["--models", "wrn-16-1,resnet-20"], "yao2020/wrn", "yao2020/wrn"),
]


def resolved_recipe(script, flags):
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, f"{script}.py"), "--print_recipe", *flags],
        check=True, capture_output=True, text=True, cwd=EXAMPLES,
    ).stdout
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines()[1:])
    return out.splitlines()[0].removeprefix("recipe "), lines


@pytest.mark.heavy(backend="torch")  # the examples' recipe resolution does not depend on the backend
@pytest.mark.parametrize("script, flags, small_key, paper_key", SCRIPT_RECIPES,
                         ids=[f"{s}{'-' + f[1] if f else ''}" for s, f, *_ in SCRIPT_RECIPES])
def test_every_example_resolves_its_paper_recipe(script, flags, small_key, paper_key):
    key, small = resolved_recipe(script, flags)
    paper = kd.recipes.RECIPES[paper_key]
    assert key == small_key
    assert int(small["epochs"]) < paper.epochs  # CPU-sized, same recipe scaled
    assert (small["momentum"], small["nesterov"], small["weight_decay"]) == (
        str(paper.momentum), str(paper.nesterov), str(paper.weight_decay))
    key, resolved = resolved_recipe(script, flags + ["--preset=paper"])
    assert key == paper_key
    written = {name: str(value) for name, value in vars(paper).items() if name not in ("source",)}
    assert {name: resolved[name] for name in written} == written


@pytest.mark.heavy(backend="torch")  # the examples' recipe resolution does not depend on the backend
def test_example_flags_override_the_recipe():
    _, resolved = resolved_recipe("gkt", ["--preset=paper", "--batch_size", "32", "--epochs", "50"])
    assert (resolved["batch_size"], resolved["epochs"], resolved["learning_rate"]) == ("32", "50", "0.05")
    _, resolved = resolved_recipe("moonshine", ["--preset=paper", "--epochs", "100"])
    assert resolved["milestones"] == "(30, 60, 80)"
