"""Registry-driven checks of every model of the zoo (tiny inputs)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.layers import GroupConv2D, SeparableConvBlock
from keras_kd.models import (
    DenseNet,
    InceptionV3,
    MobileNetV1,
    MobileNetV2,
    ResidualNetwork,
    ShuffleNetV1,
    ShuffleNetV2,
    VGG,
    Xception,
    cifar_resnet,
    get_model,
    imagenet_resnet,
    list_models,
    mobilenet_v2,
    mobilenet_v1,
    mobilenet_v2_half,
    preact_resnet,
    resnet18,
    vgg,
    vgg_li2021,
)
from keras_kd.layers.inception import conv
from keras_kd.models.densenet import densenet
from tests.helpers import OTHER_BACKENDS, assert_trains_and_updates, predictions_under

TINY = (16, 16, 3)


def numpy(x):
    return ops.convert_to_numpy(x)


def redundant_biases(model):
    """Conv biases right before a BatchNorm get no gradient in training."""
    if not isinstance(model, (MobileNetV2, VGG, ShuffleNetV2, Xception)):
        return set()
    return {w.path for w in model.trainable_weights
            if w.path.endswith("bias") and "logits" not in w.path and "/fc" not in w.path}


def scale_invariant(model):
    """Weights whose gradient is zero up to BatchNorm's epsilon: the gamma of a ShuffleNet unit's first BN (a
    depthwise conv and a BN follow its ReLU, normalizing the scale away; tests/test_zoo_units.py)."""
    if not isinstance(model, (ShuffleNetV1, ShuffleNetV2)):
        return set()
    return {w.path for w in model.trainable_weights if w.path.endswith("/conv1_bn/gamma")}


# Listed networks whose tiny-input step takes over ~5 s on some backend (over ~10 M weights, over 50 blocks, or
# DenseNet-40's 36 layers of distinct widths: ~40 s of eager compiles on JAX) run once (heavy); SHALLOW holds a
# shallower member of each family with no other listed one, run on every backend.
SHALLOW = ["preact-resnet-20", "densenet-10-4"]
LARGE = {"preact-resnet-164", "densenet-40-12", "resnet-110", "resnet110", "resnet-18", "resnet-34", "resnet-50",
         "resnet-101", "resnet-152", "cifar-resnet-18", "cifar-resnet-34",
         "cifar-resnet-50", "vgg16", "vgg19", "xception", "inception-v3", "vgg11-li2021", "vgg19-li2021",
         "shufflenet-v2-li2021", "mobilenet-v3-small", "mobilenet-v3-large"}


# Networks whose classifier needs the CIFAR size (li2021's VGGs pool 32 px down to 1 x 1 before it).
CIFAR_ONLY = {"vgg11-li2021": (32, 32, 3), "vgg19-li2021": (32, 32, 3)}


def assert_trains_without_nan_and_updates_every_weight(model, rng):
    assert_trains_and_updates(model, rng, frozen=redundant_biases(model), unchecked=scale_invariant(model))


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.heavy) if name in LARGE else name for name in list_models() + SHALLOW],
)
def test_every_registered_model_trains_without_nan_and_updates_every_weight(rng, name):
    shape = CIFAR_ONLY.get(name, TINY)
    assert_trains_without_nan_and_updates_every_weight(get_model(name, num_classes=5, input_shape=shape), rng)


def test_the_imagenet_stem_trains_on_every_backend(rng):
    """The registry's ImageNet ResNets train on TF only (heavy); a narrow net with their stem runs everywhere."""
    model = ResidualNetwork((8, 16), (1, 1), 5, stem_filters=8, stem="imagenet", preactivation=False,
                            block="B(4)", input_shape=TINY)
    assert_trains_without_nan_and_updates_every_weight(model, rng)


@pytest.mark.heavy
def test_registry_names_build_the_papers_models():
    assert get_model("WRN-40-2", 10, block="G(4)").get_config()["block"] == "G(4)"
    assert get_model("resnet-110", 10).stage_sizes == [18, 18, 18]
    assert get_model("cifar-resnet-18", 100).stage_widths == [64, 128, 256, 512]
    assert isinstance(get_model("mobilenet-v2", 100, block="g2"), MobileNetV2)
    assert {"wrn-40-2", "resnet-110", "cifar-resnet-18", "resnet8x4", "mobilenet-v2"} <= set(list_models())


@pytest.mark.heavy
def test_imagenet_names_build_imagenet_networks():
    resnet50 = get_model("resnet-50", 1000)
    config = resnet50.get_config()
    assert (config["stem"], config["block"], config["stage_sizes"]) == ("imagenet", "B(4)", [3, 4, 6, 3])
    assert resnet50.stage_widths == [256, 512, 1024, 2048] and resnet50.input_shape_arg == (224, 224, 3)
    taps = resnet50.tap_shapes
    assert [taps[f"stage{i}"][1:] for i in (1, 2, 3, 4)] == [(56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048)]
    cifar = get_model("cifar-resnet-50", 100)
    assert cifar.get_config()["stem"] == "cifar" and cifar.tap_shapes["stage4"][1:] == (4, 4, 2048)


def test_benchmark_names_build_the_benchmarks_networks():
    option_a, option_b = get_model("resnet-8", 10), get_model("resnet8", 10)
    assert (option_a.get_config()["shortcut"], option_b.get_config()["shortcut"]) == ("pad", "conv")
    wide = get_model("resnet8x4", 100)
    assert (wide.stem_filters, wide.stage_widths, wide.name) == (32, [64, 128, 256], "resnet8x4")


@pytest.mark.parametrize("name, reason", [("resnet-164", "pre-activation bottleneck"),
                                          ("RESNET-1001", "pre-activation bottleneck"),
                                          ("resnet-8x4", "Did you mean 'resnet8x4'"),
                                          ("wrn_40_2", "Did you mean 'wrn-40-2'"),
                                          ("ResNet50", "'cifar-resnet-50' \\(3x3 stem"),
                                          ("resnet152", "'resnet-152' \\(ImageNet")])
def test_names_that_mean_another_network_are_refused_with_the_fix(name, reason):
    with pytest.raises(ValueError, match=reason) as error:
        get_model(name, 10)
    assert f"name={name!r}" in str(error.value)


def test_list_models_names_each_networks_source():
    sources = list_models(sources=True)
    assert list(sources) == list_models()
    assert "option-A" in sources["resnet-20"] and "RepDistiller" in sources["resnet20"]
    assert "torchvision" in sources["resnet-50"] and "jha2020" in sources["cifar-resnet-18"]


@pytest.mark.parametrize("name", ["vgg-16", "wrn-40", "resnet", "", None])
def test_unknown_model_name_names_the_value(name):
    with pytest.raises(ValueError, match="name="):
        get_model(name, 10)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: cifar_resnet(21, 10), "depth=21"),
        (lambda: cifar_resnet(20, 10, shortcut="zero"), "shortcut='zero'"),
        (lambda: mobilenet_v2(10, block="B(2)"), "block='B(2)'"),
        (lambda: mobilenet_v2(10, block="g3"), "groups=3"),
        (lambda: MobileNetV2(activation="gelu"), "activation='gelu'"),
        (lambda: MobileNetV2(stem_kind="7x7"), "stem_kind='7x7'"),
        (lambda: resnet18(0), "num_classes=0"),
        (lambda: imagenet_resnet(20, 10), "depth=20"),
        (lambda: imagenet_resnet(18, 10, stem="tiny"), "stem='tiny'"),
        (lambda: cifar_resnet(20, 10, widths=(16, 32, 64)), "widths=[16, 32, 64]"),
        (lambda: ResidualNetwork(stem="imagenet"), "preactivation=True"),
        (lambda: vgg(10, 10), "depth=10"),
        (lambda: get_model("vgg8", 10, block="G(4)"), "block='G(4)'"),
        (lambda: VGG(((8,),) * 4), "stage_filters=((8,), (8,), (8,), (8,))"),
        (lambda: preact_resnet(164 + 1, 10), "depth=165"),
        (lambda: densenet(41, 12, 10), "depth=41"),
        (lambda: get_model("densenet-40-12", 10, block="B(2)"), "block='B(2)'"),
        (lambda: DenseNet((2, 2), (4,)), "growth_rates=(4,)"),
        (lambda: mobilenet_v1(10, stem="tiny"), "stem='tiny'"),
        (lambda: get_model("mobilenet-v1", 10, residual=True), "residual=True"),
        (lambda: SeparableConvBlock(8, block="B(2)"), "block='B(2)'"),
        (lambda: get_model("shufflenet-v2", 10, residual=True), "residual=True"),
        (lambda: ShuffleNetV2(10, stem="5x5"), "stem='5x5'"),
        (lambda: ShuffleNetV2(10, down_branch_width="full"), "down_branch_width='full'"),
        (lambda: get_model("shufflenet-v1", 10, block="B(2)"), "block='B(2)'"),
        (lambda: vgg_li2021(12, 10), "depth=12"),
    ],
)
def test_bad_builder_arguments_name_argument_and_value(build, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        build()


BUILDERS = {
    "cifar_resnet": lambda **kw: cifar_resnet(8, 5, input_shape=TINY, **kw),
    "resnet18": lambda **kw: resnet18(5, input_shape=TINY, **kw),
    "imagenet_resnet": lambda **kw: ResidualNetwork((8, 16), (1, 1), 5, stem_filters=8, stem="imagenet",
                                                    preactivation=False, input_shape=TINY, **kw),
    "mobilenet_v2": lambda **kw: mobilenet_v2(5, input_shape=TINY, **kw),
    "mobilenet_v2_half": lambda **kw: mobilenet_v2_half(5, input_shape=TINY, **kw),
    "shufflenet_v1": lambda **kw: ShuffleNetV1(5, input_shape=TINY, stages=((48, 1), (96, 2)), **kw),
    "xception": lambda **kw: Xception(5, input_shape=TINY, middle_blocks=1, **kw),
}


@pytest.mark.parametrize("builder", list(BUILDERS))
@pytest.mark.parametrize("block", ["G(N)", "g2"])
@pytest.mark.parametrize("residual", [True, False])
def test_keras_round_trip_with_safe_mode(rng, tmp_path, builder, block, residual):
    model = BUILDERS[builder](block=block, residual=residual)
    x = rng.standard_normal((2,) + TINY).astype("float32")
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(numpy(restored(x)), numpy(model(x)))


def zero_identity_block_convs(model):
    for block in model.blocks:
        if not block.can_skip:
            continue
        for layer in block._flatten_layers(include_self=False):
            if isinstance(layer, (GroupConv2D, keras.layers.Conv2D)):
                for weight in layer.weights:
                    weight.assign(ops.zeros(weight.shape))


@pytest.mark.parametrize("builder", list(BUILDERS) + ["wide_resnet"])
def test_non_residual_models_have_no_shortcut_add_anywhere(rng, builder):
    """With the convs of identity-shortcut blocks zeroed, the output of a
    stage ending in such a block is non-zero only through the add."""
    build = BUILDERS.get(builder) or (
        lambda **kw: get_model("wrn-16-2", 5, input_shape=TINY, **kw)
    )
    x = rng.standard_normal((2,) + TINY).astype("float32")
    for residual in (False, True):
        model = build(residual=residual)
        zero_identity_block_convs(model)
        _, taps = model.call_with_features(x)
        ends_in_identity = [stage[-1].can_skip for stage in model.stages]
        assert any(ends_in_identity)
        silent = all(
            np.all(numpy(tap) == 0)
            for tap, checked in zip(taps.values(), ends_in_identity)
            if checked
        )
        assert silent is not residual, (builder, residual)


def test_stage_structure_is_exposed_for_subnet_sampling():
    model = cifar_resnet(20, 10)
    assert isinstance(model, ResidualNetwork)
    assert [len(s) for s in model.stages] == [3, 3, 3]
    assert model.skippable == [True, True, True, False, True, True, False, True, True]
    mobile = mobilenet_v2(10)
    assert [len(s) for s in mobile.stages] == [1, 2, 3, 4, 3, 3, 1]
    assert sum(mobile.skippable) == 10


def test_vgg_pools_before_its_last_stage_for_64_px_inputs_only():
    """RepDistiller's VGG pools before block4 only "if h == 64": 32-px images reach stage 5 at 4x4, as stage 4."""
    sizes = {size: [get_model("vgg8", 10, input_shape=(size, size, 3)).tap_shapes[f"stage{i}"][1] for i in range(1, 6)]
             for size in (32, 64)}
    assert sizes == {32: [32, 16, 8, 4, 4], 64: [64, 32, 16, 8, 4]}


def test_vgg_round_trips_and_its_blocks_cannot_be_skipped(rng, tmp_path):
    model = VGG(((4,), (8, 8), (8,), (8,), (8,)), 5, input_shape=TINY, name="tiny_vgg")
    assert not any(model.skippable)
    x = rng.standard_normal((2,) + TINY).astype("float32")
    model.save(tmp_path / "vgg.keras")
    restored = keras.saving.load_model(tmp_path / "vgg.keras", safe_mode=True)
    assert type(restored) is VGG and restored.get_config() == model.get_config()
    np.testing.assert_array_equal(numpy(restored(x)), numpy(model(x)))
    with pytest.raises(ValueError, match="cannot be skipped"):
        model(x, block_gates=[False] + [None] * 5)


@pytest.mark.parametrize("build", [
    lambda: DenseNet((2, 1, 2), (4, 4, 4), 5, stem_filters=8, dropout=0.2, input_shape=TINY, name="tiny_densenet"),
    lambda: MobileNetV1(5, "g2", input_shape=TINY, stages=((8, 1, 1), (16, 2, 2)), name="tiny_mobilenet_v1"),
])
def test_networks_without_shortcuts_round_trip_and_cannot_be_skipped(rng, tmp_path, build):
    model = build()
    assert not any(model.skippable)
    x = rng.standard_normal((2,) + TINY).astype("float32")
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(restored) is type(model) and restored.get_config() == model.get_config()
    np.testing.assert_array_equal(numpy(restored(x)), numpy(model(x)))
    with pytest.raises(ValueError, match="cannot be skipped"):
        model(x, block_gates=[False] + [None] * (len(model.blocks) - 1))


@pytest.mark.heavy
def test_densenet_taps_are_the_dense_block_outputs():
    """DenseNet-40-12's dense blocks end at 160, 304, 448 channels; transitions halve the resolution and keep
    the channels."""
    model = get_model("densenet-40-12", 10)
    assert [model.tap_shapes[f"stage{i}"][1:] for i in (1, 2, 3)] == [(32, 32, 160), (16, 16, 304), (8, 8, 448)]
    assert model.stage_sizes == [12, 13, 13] and model.tap_shapes["embedding"] == (None, 448)


@pytest.mark.heavy
def test_mobilenet_v1_stages_end_where_the_resolution_halves():
    model = get_model("mobilenet-v1", 10)
    assert model.stage_sizes == [1, 2, 2, 6, 2]
    assert [model.tap_shapes[f"stage{i}"][1:] for i in range(1, 6)] == [
        (32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (2, 2, 1024)]


# Every kind of Inception step: padded, asymmetric and strided convs, both pools, a fork.
TINY_INCEPTION = (
    ([[conv(4)], [["avg", 3, 1, 1], conv(4, 3)]],),
    ([[conv(4, (1, 3)), conv(4, 3, 2, 0)], [["max", 3, 2]], [["avg", 3, 2, 0]]],
     [[conv(4)], [conv(4), ["fork", [conv(2, (1, 3))], [conv(2, (3, 1))]]]]),
)


# One tiny network of each zoo class and stem (the WRN's: tests/test_wide_resnet.py).
EVERY_CLASS = {
    "preact_resnet": lambda: preact_resnet(11, 5, input_shape=TINY),
    "cifar_resnet_option_a": lambda: cifar_resnet(8, 5, input_shape=TINY),
    "imagenet_stem": lambda: BUILDERS["imagenet_resnet"](block="B(4)"),
    "mobilenet_v2_half": lambda: BUILDERS["mobilenet_v2_half"](),
    "mobilenet_v1": lambda: MobileNetV1(5, input_shape=TINY, stages=((8, 1, 1), (16, 2, 2))),
    "vgg": lambda: VGG(((4,), (8,), (8,), (8,), (8,)), 5, input_shape=TINY),
    "densenet": lambda: DenseNet((2, 1, 2), (4, 4, 4), 5, stem_filters=8, input_shape=TINY),
    "shufflenet_v1": lambda: BUILDERS["shufflenet_v1"](),
    "shufflenet_v2": lambda: ShuffleNetV2(5, input_shape=TINY, stages=((16, 2), (32, 1)), head_filters=32, stem="3x3",
                                          use_bias=True, down_branch_width="input"),
    "xception": lambda: BUILDERS["xception"](),
    "inception": lambda: InceptionV3(5, input_shape=TINY, stages=TINY_INCEPTION),
    "vgg_li2021": lambda: VGG(((4,), (8,), (8,), (8,), (8,)), 5, False, TINY, classifier=(16,)),
}


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_every_zoo_class_saved_here_predicts_identically_under_another_backend(rng, tmp_path, backend):
    x = rng.standard_normal((2,) + TINY).astype("float32")
    ours = {}
    for name, build in EVERY_CLASS.items():
        model = build()
        model.save(tmp_path / f"{name}.keras")
        ours[str(tmp_path / f"{name}.keras")] = numpy(model(x))
    theirs = predictions_under(backend, x, list(ours), tmp_path)
    for path, logits in ours.items():
        # float32 sums of a deep net at initialization reach hundreds (Xception): the tolerance scales with them
        np.testing.assert_allclose(theirs[path], logits, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(logits).max()),
                                   err_msg=path)
