import pytest

from keras_kd.layers import BlockSpec, parse_block


@pytest.mark.parametrize(
    "notation, spec",
    [
        ("S", BlockSpec("S")),
        ("S-2x2", BlockSpec("S-2x2")),
        ("G(4)", BlockSpec("G", groups=4)),
        ("G(N/8)", BlockSpec("G", group_size=8)),
        ("G(N)", BlockSpec("G", group_size=1)),
        ("B(2)", BlockSpec("B", bottleneck=2)),
        ("BG(2,4)", BlockSpec("BG", groups=4, bottleneck=2)),
        ("BG(2,M/8)", BlockSpec("BG", group_size=8, bottleneck=2)),
        ("BG(4,M)", BlockSpec("BG", group_size=1, bottleneck=4)),
    ],
)
def test_paper_notation_parses_and_prints_back(notation, spec):
    assert parse_block(notation) == spec
    assert str(spec) == notation
    assert parse_block(spec) is spec


@pytest.mark.parametrize(
    "jha, moonshine", [("g2", "G(2)"), ("g16", "G(16)"), ("G1", "G(N)"), ("G16", "G(N/16)")]
)
def test_jha_constant_g_and_constant_group_size_names(jha, moonshine):
    assert parse_block(jha) == parse_block(moonshine)


@pytest.mark.parametrize(
    "block", ["X", "G(0)", "G()", "G(M/2)", "BG(2,N/2)", "B(0)", "BG(2)", "s", "", 4, None]
)
def test_unknown_or_invalid_notation_names_the_value(block):
    with pytest.raises(ValueError, match="block=|groups=0|bottleneck=0"):
        parse_block(block)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "Q"}, "kind='Q'"),
        ({"kind": "G"}, "groups=None, group_size=None"),
        ({"kind": "G", "groups": 2, "group_size": 2}, "groups=2, group_size=2"),
        ({"kind": "S", "groups": 2}, "groups=2"),
        ({"kind": "B"}, "bottleneck=None"),
        ({"kind": "G", "groups": -1}, "groups=-1"),
    ],
)
def test_spec_validation_names_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        BlockSpec(**kwargs)
