"""Does the 224-px ImageNet pipeline keep up with KD training of ImageNet networks?

Measures, in one process per backend: images/s that ``keras_kd.data.load(..., image_size=224)``
delivers (train split: file read, JPEG decode of the RandomResizedCrop window, resize, flip,
normalization; batch 64) and images/s of a ResNet-18 student's KD step from a ResNet-50 teacher
(1000 classes) on its batches, interleaved; reports pipeline / consumption (target >= 3). Each
pipeline chunk comes from a new iterator, so its prefetch during the KD steps does not count.

    python -m benchmarks.imagenet_pipeline [--images 512]

The source is a class-folder tree of ``images`` random-noise JPEGs of ImageNet's typical size
(500 x 375 and 375 x 500, quality 90) written to a temporary directory: noise compresses worse than
photographs, so its decode is slower than a real image's of that size.
"""

import os
import sys
import tempfile

from benchmarks import common, data_pipeline

PARAMS = {
    "images": (512, "Synthetic JPEGs in the source tree."),
    "batch": (64, "Batch size."),
    "chunk_batches": (8, "Pipeline batches per timed chunk, each from a new iterator."),
    "repeats": (3, "Timed repeats (pipeline chunks and KD steps)."),
}
SIZES = ((375, 500), (500, 375))


def write_jpeg_tree(root, images):
    """``images`` random-noise JPEGs in 10 class folders under ``root/train``."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for i in range(images):
        folder = os.path.join(root, "train", f"n{i % 10:02d}")
        os.makedirs(folder, exist_ok=True)
        pixels = rng.integers(0, 256, SIZES[i % 2] + (3,), dtype=np.uint8)
        with open(os.path.join(folder, f"{i}.JPEG"), "wb") as file:
            file.write(tf.io.encode_jpeg(pixels, quality=90).numpy())


def measure_backend(images, batch, chunk_batches, repeats):
    with tempfile.TemporaryDirectory() as root:
        write_jpeg_tree(root, images)
        return data_pipeline.measure(root, batch, chunk_batches, repeats, "resnet-50", "resnet-18", 1000,
                                     image_size=224, fresh=True)


def report(results, params):
    source = f"{params['images']} random-noise JPEGs (500 x 375), image_size 224"
    return data_pipeline.report(results, params, "ResNet-50 -> ResNet-18 KD step img/s", source)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
