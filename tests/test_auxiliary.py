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
