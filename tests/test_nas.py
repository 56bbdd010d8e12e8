"""The DARTS / STACNAS search space (``kd.nas``, issue 25): candidate operations and the mixed edge
against numpy, genotype derivation against a numpy reading, DARTS' published network counts, and the
discrete network's round trip and cross-backend equality."""

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.nas import genotype as genotypes
from tests.helpers import (
    OTHER_BACKENDS, np_batch_norm_inference, np_conv2d, predictions_under, randomize_weights, softmax, to_np,
)

C = 4


def batch(rng, size=8, channels=C, n=2):
    return rng.standard_normal((n, size, size, channels)).astype("float32")


def built(layer, x, rng):
    """``layer`` built on ``x`` with random weights (BatchNorm statistics positive)."""
    layer(x)
    randomize_weights([layer], rng)
    return layer


def weights_of(layer):
    """``{path below the layer: float64 array}``."""
    return {w.path.split(f"{layer.name}/", 1)[-1]: to_np(w).astype("float64") for w in layer.weights}


def np_relu(x):
    return np.maximum(x, 0.0)


def np_norm(x, weights, prefix, affine):
    gamma = weights[f"{prefix}/gamma"] if affine else 1.0
    beta = weights[f"{prefix}/beta"] if affine else 0.0
    return np_batch_norm_inference(x, gamma, beta, weights[f"{prefix}/moving_mean"],
                                   weights[f"{prefix}/moving_variance"])


def np_depthwise(x, kernel, stride, dilation):
    """Depthwise conv, torch's padding ``dilation * (k - 1) / 2``: a dense kernel zero off the diagonal,
    dilated by inserting zeros."""
    k, channels = kernel.shape[0], x.shape[-1]
    size = dilation * (k - 1) + 1
    dense = np.zeros((size, size, channels, channels))
    for c in range(channels):
        dense[::dilation, ::dilation, c, c] = kernel[:, :, c, 0] if kernel.ndim == 4 else kernel[:, :, c]
    return np_conv2d(x, dense, stride=stride, pad=(size - 1) // 2)


def depthwise_kernel(weights, prefix):
    kernel = weights[f"{prefix}/kernel"]
    return kernel.reshape(kernel.shape[0], kernel.shape[1], -1)


def np_sep_conv(x, w, stride, affine):
    x = np_depthwise(np_relu(x), depthwise_kernel(w, "depthwise1"), stride, 1)
    x = np_norm(np_conv2d(x, w["pointwise1/kernel"]), w, "bn1", affine)
    x = np_depthwise(np_relu(x), depthwise_kernel(w, "depthwise2"), 1, 1)
    return np_norm(np_conv2d(x, w["pointwise2/kernel"]), w, "bn2", affine)


def np_dil_conv(x, w, stride, affine):
    x = np_depthwise(np_relu(x), depthwise_kernel(w, "depthwise"), stride, 2)
    return np_norm(np_conv2d(x, w["pointwise/kernel"]), w, "bn", affine)


def np_factorized_reduce(x, w, affine):
    x = np_relu(x)
    halves = [np_conv2d(x, w["conv1/kernel"], stride=2), np_conv2d(x[:, 1:, 1:], w["conv2/kernel"], stride=2)]
    return np_norm(np.concatenate(halves, axis=-1), w, "bn", affine)


def np_pool3x3(x, kind, stride):
    """torch's 3x3 pools padded 1: max over the window, or the mean of the window's pixels in the image."""
    n, h, w, c = x.shape
    out_h, out_w = (h - 1) // stride + 1, (w - 1) // stride + 1
    out = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(max(i * stride - 1, 0), min(i * stride + 2, h))
            cols = slice(max(j * stride - 1, 0), min(j * stride + 2, w))
            window = x[:, rows, cols, :].astype("float64")
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


def np_operation(primitive, x, layer, stride, affine=True, pool_norm=False):
    """A candidate operation computed in numpy from ``layer``'s weights."""
    w = weights_of(layer)
    if primitive == "none":
        return np.zeros_like(x[:, ::stride, ::stride])
    if primitive == "skip_connect":
        return x.astype("float64") if stride == 1 else np_factorized_reduce(x, w, affine)
    if primitive.startswith("sep"):
        return np_sep_conv(x, w, stride, affine)
    if primitive.startswith("dil"):
        return np_dil_conv(x, w, stride, affine)
    pooled = np_pool3x3(x, primitive[:3], stride)
    return np_norm(pooled, w, "bn", affine) if pool_norm else pooled


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("primitive", kd.nas.PRIMITIVES)
def test_every_candidate_operation_equals_numpy(primitive, stride):
    rng = np.random.default_rng(0)
    # an odd size checks the stride-2 padding; FactorizedReduce (the strided skip) halves even maps only
    x = batch(rng, size=7 if stride == 2 and primitive != "skip_connect" else 6)
    for affine, pool_norm in ((True, False), (False, True)):
        layer = built(kd.nas.operations.operation(primitive, C, stride, affine, pool_norm, name="op"), x, rng)
        np.testing.assert_allclose(to_np(layer(x, training=False)),
                                   np_operation(primitive, x, layer, stride, affine, pool_norm), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_the_mixed_edge_is_the_weighted_sum_of_its_candidates(stride):
    """li2021 eq. 7's inner sum: each candidate in numpy, weighted by the softmax of fixed alphas."""
    rng = np.random.default_rng(1)
    x = batch(rng, size=8)
    edge = kd.nas.MixedEdge(kd.nas.PRIMITIVES, C, stride)
    alpha = rng.standard_normal(len(kd.nas.PRIMITIVES))
    edge(x, keras.ops.convert_to_tensor(softmax(alpha).astype("float32")))
    randomize_weights([edge], rng)
    expected = sum(w * np_operation(name, x, candidate, stride, affine=False, pool_norm=True)
                   for w, name, candidate in zip(softmax(alpha), kd.nas.PRIMITIVES, edge.candidates))
    actual = edge(x, keras.ops.convert_to_tensor(softmax(alpha).astype("float32")), training=False)
    np.testing.assert_allclose(to_np(actual), expected, rtol=1e-4, atol=1e-4)


def np_read_cell(weights, primitives, nodes):
    """The DARTS reading, written out: per node, per input edge, the largest weight off ``none`` and its
    primitive; the two edges with the largest such weights, strongest first."""
    pairs, start = [], 0
    for node in range(nodes):
        scored = []
        for state in range(node + 2):
            w, names = weights[start + state], primitives[start + state]
            allowed = [i for i, name in enumerate(names) if name != "none"]
            best = allowed[int(np.argmax(w[allowed]))]
            scored.append((w[best], state, names[best]))
        order = np.argsort([-score for score, _, _ in scored], kind="stable")[:2]
        pairs += [(scored[i][2], scored[i][1]) for i in order]
        start += node + 2
    return tuple(pairs)


@pytest.fixture(scope="module")
def darts_supernet():
    """The DARTS space's search network, small: 3 cells of 4 nodes (14 edges of 8 candidates)."""
    return kd.nas.SuperNet(5, channels=2, num_cells=3, input_shape=(8, 8, 3))


@pytest.mark.parametrize("seed", range(4))
def test_genotype_derivation_equals_a_numpy_reading(seed, darts_supernet):
    rng = np.random.default_rng(seed)
    net = darts_supernet
    for alpha in net.architecture_weights:  # 'none' is often the largest: it must never be chosen
        alpha.assign(rng.standard_normal(alpha.shape).astype("float32"))
    genotype = net.genotype()
    for kind in ("normal", "reduce"):
        weights = [softmax(to_np(a).astype("float64")) for a in net.alphas[kind]]
        pairs, concat = genotype.cell(kind == "reduce")
        assert pairs == np_read_cell(weights, [kd.nas.PRIMITIVES] * 14, 4)
        assert concat == (2, 3, 4, 5)


def test_derivation_breaks_ties_toward_the_lower_input_and_the_first_primitive():
    primitives = [("sep_conv_3x3", "max_pool_3x3", "none")] * 5
    weights = [np.array([0.3, 0.3, 0.4])] * 5
    assert genotypes.derive_cell(weights, primitives, nodes=2) == (
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1))


def test_stacnas_second_stage_candidates_equal_a_numpy_reading():
    """li2019's two stages: each edge keeps the category of its best representative (``none`` aside)."""
    rng = np.random.default_rng(5)
    net = kd.nas.SuperNet(5, channels=2, num_cells=3, primitives=kd.nas.STACNAS_STAGE1, input_shape=(8, 8, 3))
    for alpha in net.architecture_weights:
        alpha.assign(rng.standard_normal(alpha.shape).astype("float32"))
    second = net.category_primitives()
    for kind in ("normal", "reduce"):
        expected = []
        for alpha in net.alphas[kind]:
            w = softmax(to_np(alpha).astype("float64"))
            representative = kd.nas.STACNAS_STAGE1[int(np.argmax(w[:-1]))]  # 'none' is the last
            expected.append(kd.nas.STACNAS_CATEGORIES[representative])
        assert second[kind] == expected
    stage2 = kd.nas.SuperNet(5, channels=2, num_cells=3, primitives=second, input_shape=(8, 8, 3))
    assert [tuple(a.shape) for a in stage2.alphas["normal"]] == [(len(names),) for names in second["normal"]]
    assert stage2.genotype().nodes == 4


@pytest.mark.heavy  # full-size networks: counts do not depend on the backend
def test_darts_v2_has_the_reference_codes_parameter_count():
    """liu2019 Table 1: DARTS (second order) on CIFAR-10, "3.3" M parameters. The exact count is the
    reference code's (quark0/darts ``cnn/model.py``, ``NetworkCIFAR(36, 10, 20, auxiliary, DARTS_V2)``
    with ``utils.count_parameters_in_MB``, which leaves the auxiliary head out): 3,349,342; at 100
    classes 3,401,272. The search network (``model_search.Network(16, 10, 8)``, affine-free BatchNorms):
    1,930,618 weights and 2 x 14 x 8 = 224 architecture weights."""
    def trainable(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    assert trainable(kd.nas.darts_network(kd.nas.DARTS_V2, 10, channels=36, num_cells=20)) == 3_349_342
    assert trainable(kd.nas.darts_network(kd.nas.DARTS_V2, 100, channels=36, num_cells=20)) == 3_401_272
    net = kd.nas.SuperNet(10, channels=16, num_cells=8)
    assert sum(int(np.prod(w.shape)) for w in net.network_weights) == 1_930_618
    assert sum(int(np.prod(w.shape)) for w in net.architecture_weights) == 224


def test_a_small_darts_network_counts_as_the_reference_code():
    """The reference code's ``NetworkCIFAR(16, 10, 8, False, DARTS_V2)``: 246,106 weights."""
    model = kd.nas.darts_network(kd.nas.DARTS_V2, 10, channels=16, num_cells=8)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 246_106
    taps = {name: tuple(model.get_layer(name).output.shape) for name in ("stage1", "stage2", "stage3")}
    assert taps == {"stage1": (None, 32, 32, 64), "stage2": (None, 16, 16, 128), "stage3": (None, 8, 8, 256)}


def tiny_darts(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return kd.nas.darts_network(kd.nas.DARTS_V2, 5, channels=4, num_cells=3, input_shape=(8, 8, 3), **kwargs)


def test_a_genotype_network_round_trips_and_predicts_alike_on_every_backend(tmp_path):
    rng = np.random.default_rng(2)
    model = tiny_darts(pool_norm=True)
    randomize_weights([model], rng)
    x = rng.standard_normal((3, 8, 8, 3)).astype("float32")
    expected = to_np(model(x, training=False))
    path = str(tmp_path / "darts.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_np(reloaded(x, training=False)), expected)
    assert [w.path for w in reloaded.weights] == [w.path for w in model.weights]
    for backend in OTHER_BACKENDS:
        np.testing.assert_allclose(predictions_under(backend, x, [path], str(tmp_path))[path], expected,
                                   rtol=1e-4, atol=1e-5, err_msg=backend)


def test_genotype_config_round_trip_and_bad_genotypes():
    assert kd.nas.Genotype.from_config(kd.nas.DARTS_V2.get_config()) == kd.nas.DARTS_V2
    config = kd.nas.DARTS_V2.get_config()
    with pytest.raises(ValueError, match=r"normal\[0\] primitive.*'conv_9x9'"):
        kd.nas.Genotype(**{**config, "normal": [["conv_9x9", 0]] + config["normal"][1:]})
    with pytest.raises(ValueError, match=r"Node 0 .* states 0..1.*reduce\[1\]"):
        kd.nas.Genotype(**{**config, "reduce": [config["reduce"][0], ["max_pool_3x3", 2]] + config["reduce"][2:]})
    with pytest.raises(ValueError, match="two .* pairs per node"):
        kd.nas.Genotype(**{**config, "normal": config["normal"][:3]})
    with pytest.raises(ValueError, match=r"normal_concat.*\(2, 9\)"):
        kd.nas.Genotype(**{**config, "normal_concat": [2, 9]})
    with pytest.raises(ValueError, match="primitive"):  # 'none' is not an operation of a discrete cell
        kd.nas.Genotype(**{**config, "normal": [["none", 0]] + config["normal"][1:]})


def test_bad_search_space_arguments_name_themselves():
    with pytest.raises(ValueError, match="primitive.*'conv_9x9'"):
        kd.nas.SuperNet(5, channels=2, num_cells=3, primitives=("sep_conv_3x3", "conv_9x9"), input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="14 edges. Received 3 primitive lists for the normal"):
        kd.nas.SuperNet(5, channels=2, num_cells=3, input_shape=(8, 8, 3),
                        primitives={"normal": [("skip_connect",)] * 3, "reduce": [("skip_connect",)] * 14})
    with pytest.raises(ValueError, match="keys"):
        kd.nas.SuperNet(5, primitives={"normal": []})
    with pytest.raises(ValueError, match="num_cells"):
        kd.nas.SuperNet(5, num_cells=2)
    with pytest.raises(ValueError, match="only 'none'"):
        genotypes.derive_cell([np.ones(1)] * 5, [("none",)] * 5, nodes=2)
    with pytest.raises(ValueError, match="3 primitives .* 2 weights"):
        genotypes.derive_cell([np.ones(2)] * 5, [("none", "skip_connect", "max_pool_3x3")] * 5, nodes=2)
    with pytest.raises(ValueError, match="represents no category"):
        genotypes.category_primitives([np.ones(1)] * 5, [("avg_pool_3x3",)] * 5, nodes=2)
    with pytest.raises(ValueError, match="even `filters`"):
        kd.nas.FactorizedReduce(3)
    with pytest.raises(ValueError, match=r"even maps only.*\(2, 7, 7, 4\)"):
        kd.nas.FactorizedReduce(4)(np.zeros((2, 7, 7, 4), "float32"))
    with pytest.raises(ValueError, match="drop_path"):
        kd.nas.Cell([("skip_connect", 0), ("skip_connect", 1)], [2], 4, drop_path=1.0)


def test_drop_path_zeroes_whole_examples_and_rescales_the_rest():
    """The reference's ``drop_path``: per example, 0 or ``x / keep``; the schedule raises the rate per epoch."""
    model = tiny_darts(drop_path=0.3)
    cells = kd.nas.drop_path.cells_with_drop_path(model)
    assert len(cells) == 3
    schedule = kd.nas.DropPathSchedule(epochs=4)
    schedule.set_model(model)
    schedule.on_epoch_begin(2)
    assert all(np.isclose(float(to_np(cell.drop_rate)), 0.15) for cell in cells)
    cell = cells[0]
    x = np.ones((64, 2, 2, 1), "float32")
    kept = to_np(cell._dropped(keras.ops.convert_to_tensor(x), cell.operations[0], training=True))
    dropped, kept_scaled = np.isclose(kept, 0.0), np.isclose(kept, 1 / 0.85)
    assert np.all(dropped | kept_scaled) and dropped.any() and kept_scaled.any()
    assert np.all(dropped.all(axis=(1, 2, 3)) | kept_scaled.all(axis=(1, 2, 3)))  # whole examples
    np.testing.assert_array_equal(to_np(cell._dropped(x, cell.operations[0], training=False)), x)
