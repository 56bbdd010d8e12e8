"""Plain helpers shared by several test files: numpy references, tiny networks and data, files on disk.

Test files import these from here, never from one another; fixtures live in tests/conftest.py.
"""

import gzip
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
from keras import ops

import keras_kd as kd

CLASSES = 5
SHAPE = (8, 8, 3)
BACKENDS = ("tensorflow", "jax", "torch")
# Where a file saved on this backend is loaded: the next one of BACKENDS. Over a three-backend run every
# backend saves once and loads once (TF -> JAX -> torch -> TF), at half the subprocesses of all six pairs.
OTHER_BACKENDS = [BACKENDS[(BACKENDS.index(keras.backend.backend()) + 1) % len(BACKENDS)]]
LOAD_AND_PREDICT = """
import json, sys
import keras, numpy as np
import keras_kd
x = np.load(sys.argv[1])
print(json.dumps({path: keras.ops.convert_to_numpy(keras.saving.load_model(path, safe_mode=True)(x)).tolist()
                  for path in sys.argv[2:]}))
"""


def predictions_under(backend, x, model_paths, directory):
    """``{path: logits}`` of the ``.keras`` files at ``model_paths`` loaded and run on ``x`` by a fresh
    process under ``backend`` (one process for all files)."""
    x_path = os.path.join(directory, "x.npy")
    np.save(x_path, x)
    out = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, x_path, *map(str, model_paths)],
                         env=dict(os.environ, KERAS_BACKEND=backend), check=True, capture_output=True,
                         text=True).stdout
    return {path: np.array(logits, dtype="float32") for path, logits in json.loads(out.strip().splitlines()[-1]).items()}


# jha2020 Tables 8 and 9: columns g2..g16 (constant groups) and G1..G16 (constant group size).
JHA_COLUMNS = ("g2", "g4", "g8", "g16", "G1", "G2", "G4", "G8", "G16")


def to_np(x):
    return ops.convert_to_numpy(x)


# numpy references


def assert_trains_and_updates(model, rng, frozen=(), unchecked=()):
    """One training step of a zoo model on 4 random images: finite logits and loss, and every trainable weight
    changed, but those of ``frozen`` (no gradient by construction: unchanged) and ``unchecked``."""
    x = rng.standard_normal((4,) + model.input_shape_arg).astype("float32")
    y = rng.integers(0, model.num_classes, 4)
    # Training mode: at initialization a deep pre-activation net's residual stream doubles per block with BN's
    # initial moving statistics (preact-resnet-1001 overflows float32 in inference mode, as in torch).
    logits = to_np(model(x, training=True))
    assert logits.shape == (4, model.num_classes) and np.isfinite(logits).all()
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = {w.path: to_np(w) for w in model.trainable_weights}
    assert np.isfinite(model.train_on_batch(x, y))
    for weight in model.trainable_weights:
        if weight.path in unchecked:
            continue
        if weight.path in frozen:
            np.testing.assert_allclose(to_np(weight), before[weight.path], atol=1e-5)
        else:
            assert not np.array_equal(to_np(weight), before[weight.path]), weight.path


def resnet8_distiller(rng, term, examples=4, learning_rate=0.1, **kwargs):
    """``(distiller, x, y)``: a Distiller of two CIFAR ResNet-8s on 8-px images with ``term``, compiled (SGD),
    and ``examples`` random images with labels."""
    student, teacher = (kd.models.get_model("resnet8", CLASSES, input_shape=(8, 8, 3)) for _ in range(2))
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[term], **kwargs)
    distiller.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return distiller, rng.standard_normal((examples, 8, 8, 3)).astype("float32"), rng.integers(0, CLASSES, examples)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_kl(target, logits, temperature):
    """KL(softmax(target / T) || softmax(logits / T)) per example, in float64."""
    p, q = softmax(target.astype("float64") / temperature), softmax(logits.astype("float64") / temperature)
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def np_attention(feature):
    """Zagoruyko and Komodakis's attention map: channel mean of squares, flattened, L2-normalized."""
    a = np.mean(feature.astype("float64") ** 2, axis=-1).reshape(len(feature), -1)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def np_ce(y, logits):
    """Cross-entropy of integer labels ``y`` per example, in float64."""
    return -np.log(softmax(logits.astype("float64"))[np.arange(len(y)), y])


def np_subnet_loss(y, logits, target, have, beta, temperature):
    """Mean CE plus ``beta`` T^2 KL(target || softmax(logits / T)) on the rows where ``have``
    (GKT's loss; stimulative training's with ``beta`` 0)."""
    ce = np_ce(y, logits)
    log_q = np.log(softmax(logits.astype("float64") / temperature))
    kl = np.sum(np.where(target > 0, target * (np.log(np.maximum(target, 1e-300)) - log_q), 0.0), -1)
    return np.mean(ce + beta * temperature**2 * np.where(have, kl, 0.0))


def significant_digits_match(actual, printed, digits, slack=0.5):
    """``actual`` agrees with ``printed`` to ``digits`` significant digits."""
    unit = 10 ** (math.floor(math.log10(abs(printed))) - digits + 1)
    return abs(actual - printed) <= slack * unit * (1 + 1e-9)


def li2021_mflops(depths, num_classes, convention):
    """``profile``'s "flops" in millions, summed over CIFAR ResNets of ``depths`` (li2021's S_i rows)."""
    return sum(
        kd.models.profile(kd.models.cifar_resnet(d, num_classes), convention=convention)["flops"] for d in depths
    ) / 1e6


# tiny networks and data


def dense_net(rng, features=6, name=None):
    """A functional logits model whose output numpy can recompute."""
    inputs = keras.Input((features,))
    layer = keras.layers.Dense(CLASSES, name="out")
    model = keras.Model(inputs, layer(inputs), name=name)
    layer.set_weights([rng.standard_normal((features, CLASSES)).astype("float32"),
                       rng.standard_normal(CLASSES).astype("float32")])
    return model


def logits_of(model, x):
    """``dense_net``'s logits in numpy."""
    w, b = model.get_layer("out").get_weights()
    return x @ w + b


def tiny_wrn(depth, width, seed):
    keras.utils.set_random_seed(seed)
    return kd.models.wide_resnet(depth, width, CLASSES, input_shape=SHAPE)


def small_resnet(depth=20, seed=0):
    """CIFAR ResNet-(6n+2) at 8 px: stages of n blocks, the first of stages 2 and 3 fixed."""
    keras.utils.set_random_seed(seed)
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE)


def image_batch(rng, n=16):
    """``n`` random float32 images of ``SHAPE`` and integer labels below ``CLASSES``."""
    return rng.standard_normal((n,) + SHAPE).astype("float32"), rng.integers(0, CLASSES, n)


def eq7(parent, q):
    """tang2024 Eq. 5-7 in numpy: row d is P(k_d = 1..l_d)."""
    depth = len(parent)
    rows = []
    for d, size in enumerate(parent, start=1):
        u = q ** (depth - d + 1)
        v = np.array([u ** (size - k + 1) for k in range(1, size + 1)])
        rows.append(v / v.sum())
    return rows


# files on disk


def write_idx(path, array, compress):
    """``array`` as an idx file of unsigned bytes (gzipped if ``compress``)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def png_bytes(image):
    import tensorflow as tf

    return tf.io.encode_png(image).numpy()


def fake_images(rng, n, size=8):
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def write_folder(root, rng, classes=("cat", "airplane", "dog"), per_class=4):
    """A train/test image-folder tree of PNGs; returns the images per split."""
    written = {}
    for split in ("train", "test"):
        images, labels = [], []
        for label, name in enumerate(sorted(classes)):
            os.makedirs(root / split / name, exist_ok=True)
            for i in range(per_class):
                image = fake_images(rng, 1)[0]
                (root / split / name / f"{i:04d}.png").write_bytes(png_bytes(image))
                images.append(image)
                labels.append(label)
        written[split] = (np.stack(images), np.array(labels))
    return written


class TrainableFeatures(keras.Model):
    """Student and teacher features as trainable weights; the loss is ``loss_fn(student, teacher)``."""

    def __init__(self, loss_fn, student, teacher):
        super().__init__()
        self.loss_fn = loss_fn
        self.student = self.add_weight(shape=student.shape, initializer=keras.initializers.Constant(student))
        self.teacher = self.add_weight(shape=teacher.shape, initializer=keras.initializers.Constant(teacher))

    def call(self, inputs):
        return inputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.loss_fn(self.student, self.teacher)

    def step(self):
        """One SGD step of rate 1; the student and teacher weights after it, in numpy."""
        self.compile(optimizer=keras.optimizers.SGD(1.0))
        self.train_on_batch(np.zeros((1, 1), "float32"), np.zeros(1, "float32"))
        return to_np(self.student), to_np(self.teacher)


def write_tiny_imagenet(root, rng, wnids=("n09", "n01", "n04"), per_class=3, size=8):
    """Tiny-ImageNet's layout as distributed (tiny-imagenet-200/): unsorted wnids.txt, train/<wnid>/images and a
    boxes file, val/images labelled by val_annotations.txt, unlabelled test/images. Returns the val images and
    their labels by sorted wnid."""
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("".join(f"{wnid}\n" for wnid in wnids))
    for wnid in wnids:
        (root / "train" / wnid / "images").mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for i in range(per_class):
            (root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG").write_bytes(png_bytes(fake_images(rng, 1, size)[0]))
    (root / "val" / "images").mkdir(parents=True)
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "images" / "test_0.JPEG").write_bytes(png_bytes(fake_images(rng, 1, size)[0]))
    val = fake_images(rng, 4, size)
    val_wnids = ["n04", "n01", "n09", "n04"]
    rows = []
    for i, (image, wnid) in enumerate(zip(val, val_wnids)):
        (root / "val" / "images" / f"val_{i}.JPEG").write_bytes(png_bytes(image))
        rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t{size - 1}\t{size - 1}\n")
    (root / "val" / "val_annotations.txt").write_text("".join(reversed(rows)))
    return val, np.array([sorted(wnids).index(wnid) for wnid in val_wnids])


def write_imagenet_tree(root, rng, shapes=((16, 16), (16, 24), (20, 16)), classes=("n02", "n01"), jpeg=False):
    """ImageNet's layout, <root>/{train,val}/<wnid>/<image>, with images of several sizes; returns the val
    images (sorted class, then file name)."""
    import tensorflow as tf

    val = []
    for split in ("train", "val"):
        for wnid in sorted(classes):
            (root / split / wnid).mkdir(parents=True)
            for i, (height, width) in enumerate(shapes):
                image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                encoded = tf.io.encode_jpeg(image).numpy() if jpeg else png_bytes(image)
                (root / split / wnid / f"{i}.{'JPEG' if jpeg else 'png'}").write_bytes(encoded)
                if split == "val":
                    val.append(image)
    return val


def prepare_tfds_without_test_split(data_dir, rng, per_split=4, shape=(12, 10, 3)):
    """Prepares ``tiny_validation_only`` in ``data_dir``: a tfds dataset of PNGs with ``train`` and ``validation``
    splits and no ``test`` (Imagenette's layout), three classes. Returns ``{split: (images, labels)}``."""
    import tensorflow_datasets as tfds

    written = {split: (rng.integers(0, 256, (per_split,) + shape, dtype=np.uint8), np.arange(per_split) % 3)
               for split in ("train", "validation")}
    builder_class = _tfds_builder_class()
    builder_class.written = written
    builder_class(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return written


def _tfds_builder_class():
    """One ``GeneratorBasedBuilder`` class per process (tfds registers builders by class name)."""
    import tensorflow_datasets as tfds

    if "tiny_validation_only" in tfds.list_builders():
        return tfds.builder_cls("tiny_validation_only")

    class TinyValidationOnly(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")
        written = {}

        def _info(self):
            features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(None, None, 3)),
                                                    "label": tfds.features.ClassLabel(num_classes=3)})
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            return {split: self._generate_examples(split) for split in self.written}

        def _generate_examples(self, split):
            images, labels = self.written[split]
            for i, (image, label) in enumerate(zip(images, labels)):
                yield i, {"image": image, "label": int(label)}

    return TinyValidationOnly


def np_conv2d(x, kernel, bias=None, stride=1, pad=0):
    """NHWC convolution (cross-correlation, as Keras and torch) in float64: ``kernel`` (kh, kw, in, out),
    ``pad`` zeros on each side, then a valid conv with ``stride``."""
    x = np.pad(x.astype("float64"), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    height, width = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], height, width, kernel.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (height - 1) + 1:stride, j:j + stride * (width - 1) + 1:stride, :]
            out += patch @ kernel[i, j].astype("float64")
    return out + (0 if bias is None else bias)


def np_conv_transpose2d(x, kernel, bias=None, stride=1, crop=0):
    """NHWC transposed convolution in float64 by its definition: each input pixel ``(h, w)`` adds
    ``x[h, w] @ kernel[i, j].T`` at ``(h stride + i, w stride + j)``; ``kernel`` (kh, kw, out, in) as
    Keras' ``Conv2DTranspose``; then ``crop`` pixels off each side (torch's ``padding``)."""
    kh, kw = kernel.shape[:2]
    batch, height, width, _ = x.shape
    out = np.zeros((batch, (height - 1) * stride + kh, (width - 1) * stride + kw, kernel.shape[2]))
    for i in range(kh):
        for j in range(kw):
            out[:, i:i + stride * (height - 1) + 1:stride, j:j + stride * (width - 1) + 1:stride, :] += (
                x.astype("float64") @ kernel[i, j].T.astype("float64"))
    out = out[:, crop:out.shape[1] - crop, crop:out.shape[2] - crop, :]
    return out + (0 if bias is None else bias)


def np_batch_norm_training(x, gamma, beta, eps=1e-5):
    """Batch norm in training mode: the batch's mean and biased variance per channel."""
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def np_batch_norm_inference(x, gamma, beta, mean, var, eps=1e-5):
    """Batch norm in inference mode: the moving mean and variance."""
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def np_pool(x, height, width=None):
    """torch's ``adaptive_avg_pool2d`` of NHWC ``x`` to ``height`` x ``width`` (``width`` defaults to
    ``height``) where the sizes divide the map's."""
    width = height if width is None else width
    n, h, w, c = x.shape
    return x.reshape(n, height, h // height, width, w // width, c).mean(axis=(2, 4))


def randomize_weights(layers_, rng, scale=0.3):
    """Assigns every weight of ``layers_`` standard normal values times ``scale`` (batch norm's
    variance: their absolute values); returns ``{weight path: array}``."""
    values = {}
    for layer in layers_:
        for weight in layer.weights:
            value = rng.standard_normal(weight.shape).astype("float32") * scale
            value = np.abs(value) + 0.5 if "variance" in weight.path else value
            weight.assign(value)
            values[weight.path] = value
    return values
