"""keras_kd.models.auxiliary: DCM's auxiliary classifiers (dcm_heads) follow yao2020's supplementary tables
(MobileNetV2's heads, trained in DCM: tests/test_mutual.py)."""

import pytest

import keras_kd as kd


@pytest.mark.heavy
def test_dcm_auxiliary_classifiers_follow_the_supplementary_tables():
    wrn_heads = kd.models.dcm_heads(kd.models.wide_resnet(28, 10, 100))
    assert (wrn_heads["stage1"].stage_widths, wrn_heads["stage1"].stage_sizes) == ([320, 640], [4, 2])
    assert (wrn_heads["stage2"].stage_widths, wrn_heads["stage2"].stage_sizes) == ([1280], [4])
    resnet_heads = kd.models.dcm_heads(kd.models.cifar_resnet(110, 100))
    assert (resnet_heads["stage1"].stage_widths, resnet_heads["stage1"].stage_sizes) == ([32, 64], [9, 9])
    assert (resnet_heads["stage2"].stage_widths, resnet_heads["stage2"].stage_sizes) == ([128], [18])
    for heads in (wrn_heads, resnet_heads):
        assert tuple(heads["stage1"].output_shape_) == (None, 100)
        assert tuple(heads["stage2"].tap_shapes["stage1"][1:3]) == (8, 8)  # same down-sampling as C1


def last_spatial(model):
    return model.tap_shapes[model.stage_names[-1]][1:3]


@pytest.mark.heavy
def test_preact_resnet_164_heads_follow_table_1():
    """Table 1, ResNet-164: C3 128 x 9, 256 x 9; C2 512 x 18, bottleneck blocks (outputs as the caption says)."""
    backbone = kd.models.get_model("preact-resnet-164", 100)
    heads = kd.models.dcm_heads(backbone)
    assert (heads["stage1"].stage_widths, heads["stage1"].stage_sizes) == ([128, 256], [9, 9])
    assert (heads["stage2"].stage_widths, heads["stage2"].stage_sizes) == ([512], [18])
    assert {head.get_config()["block"] for head in heads.values()} == {"B(4)"}
    assert all(last_spatial(head) == last_spatial(backbone) == (8, 8) for head in heads.values())


@pytest.mark.heavy
def test_densenet_heads_follow_table_2():
    """Table 2, DenseNet-40-12: C3 [3x3, 12] x 12 then x 6; C2 [3x3, 36] x 12; every stage starts with a
    transition, so every classifier reads 8x8 maps."""
    backbone = kd.models.get_model("densenet-40-12", 100)
    heads = kd.models.dcm_heads(backbone)
    c3, c2 = heads["stage1"], heads["stage2"]
    assert (c3.stage_layers, c3.growth_rates, c3.first_transition) == ([12, 6], [12, 12], True)
    assert (c2.stage_layers, c2.growth_rates) == ([12], [36])
    assert c3.tap_shapes["stage1"][-1] == 160 + 12 * 12  # C3's transition keeps the 160 channels of stage1
    assert all(last_spatial(head) == last_spatial(backbone) == (8, 8) for head in heads.values())
    assert tuple(c2.output_shape_) == (None, 100)


@pytest.mark.heavy
def test_mobilenet_v1_heads_follow_table_4():
    """Table 4: C3 after conv5 has its own conv6 (s2, 512), conv7-11 (512), conv12 (s2, 1024), conv13 (1024);
    C2 after conv11 its own conv12 (s2, 2048) and conv13 (2048)."""
    backbone = kd.models.get_model("mobilenet-v1", 100)
    heads = kd.models.dcm_heads(backbone)
    assert heads["stage3"].stages_arg == [(512, 6, 2), (1024, 2, 2)]
    assert heads["stage4"].stages_arg == [(2048, 2, 2)]
    assert all(last_spatial(head) == last_spatial(backbone) == (2, 2) for head in heads.values())


@pytest.mark.heavy
@pytest.mark.parametrize("depth, c3, c2", [(18, ([256, 512], [1, 2]), ([1024], [2])),
                                           (50, ([1024, 2048], [3, 2]), ([4096], [3]))])
def test_imagenet_resnet_heads_follow_table_5(depth, c3, c2):
    """Table 5: ResNet-18 C3 [3x3, 256] x 1, [3x3, 512] x 2, C2 [3x3, 1024] x 2; ResNet-50 C3 [.., 1024] x 3,
    [.., 2048] x 2, C2 [1x1, 1024; 3x3, 1024; 1x1, 4096] x 3."""
    backbone = kd.models.get_model(f"resnet-{depth}", 1000, input_shape=(64, 64, 3))
    heads = kd.models.dcm_heads(backbone)
    assert (heads["stage2"].stage_widths, heads["stage2"].stage_sizes) == c3
    assert (heads["stage3"].stage_widths, heads["stage3"].stage_sizes) == c2
    assert all(last_spatial(head) == last_spatial(backbone) for head in heads.values())


@pytest.mark.parametrize("build", [
    lambda: kd.models.ResidualNetwork((8, 16, 32, 64), (3, 4, 6, 3), preactivation=False, name="narrow-resnet-34"),
    lambda: kd.models.get_model("vgg8", 10),
    lambda: kd.models.get_model("mobilenet-v2-half", 10),
])
def test_backbones_without_a_table_are_refused(build):
    model = build()
    with pytest.raises(ValueError, match=f"Table 5.*model='{model.name}'"):
        kd.models.dcm_heads(model)
