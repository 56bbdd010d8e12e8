"""ImageNet-style pipelines: images decoded per step from files, at a chosen size.

For sources too large to hold decoded in memory (ImageNet's class folders, a tar archive of
Imagenette's JPEGs), ``keras_kd.data.load(source, split, image_size=224)`` lists the examples once
(``keras_kd.data.sources.list_examples``: file paths, or encoded bytes for a tar archive) and decodes
and transforms them in the pipeline, with the standard transforms of the ImageNet training code
(torchvision's reference scripts, which the ImageNet rows of he2016, tang2024, li2021 and yao2020 follow):

* train: RandomResizedCrop(image_size), a box of 8% to 100% of the image's area and aspect ratio 3/4 to
  4/3, resized to image_size x image_size, then a horizontal flip with probability 1/2;
* eval (``"validation"``, ``"test"``): the shorter side resized to ``int(image_size / 0.875)`` (256 for
  224), then the center image_size x image_size crop;

bilinear resizing with antialiasing, as torchvision's on PIL images; normalized with ImageNet's channel
statistics (torchvision's), not the dataset's. The box is ``tf.image``'s
``sample_distorted_bounding_box`` with 10 attempts, as torchvision's loop; where no attempt fits,
torchvision center-crops the largest box of a clamped ratio and this pipeline takes the whole image.
JPEGs decode only the crop window. Crops and flips are seeded per example and re-drawn every epoch.
"""

from keras_kd.data.batching import batch_examples
from keras_kd.data.seeded import seeded_map

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875  # 224 / 256: the eval resize before the center crop
AREA_RANGE = (0.08, 1.0)
RATIO_RANGE = (3 / 4, 4 / 3)


def random_resized_crop(data, size, seed):
    """RandomResizedCrop of the encoded image ``data`` to ``size`` x ``size`` (float32, 0..255)."""
    import tensorflow as tf

    def window(shape):
        begin, box, _ = tf.image.stateless_sample_distorted_bounding_box(
            shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed, min_object_covered=0.0,
            aspect_ratio_range=RATIO_RANGE, area_range=AREA_RANGE, max_attempts=10,
            use_image_if_no_bounding_boxes=True,
        )
        return begin, box

    def jpeg():
        begin, box = window(tf.io.extract_jpeg_shape(data))
        return tf.io.decode_and_crop_jpeg(data, tf.stack([begin[0], begin[1], box[0], box[1]]), channels=3)

    def other():
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        begin, box = window(tf.shape(image))
        return tf.slice(image, begin, box)

    crop = tf.cond(tf.io.is_jpeg(data), jpeg, other)
    return tf.image.resize(tf.cast(crop, tf.float32), (size, size), method="bilinear", antialias=True)


def resize_and_center_crop(data, size):
    """The eval transform of the encoded image ``data``: shorter side to ``int(size / 0.875)``, center crop."""
    import tensorflow as tf

    image = tf.cast(tf.io.decode_image(data, channels=3, expand_animations=False), tf.float32)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    shorter = float(int(size / CROP_FRACTION))
    resized = tf.cast(tf.floor(shape * shorter / tf.reduce_min(shape)), tf.int32)
    resized = tf.where(shape == tf.reduce_min(shape), tf.cast(shorter, tf.int32), resized)  # torchvision's int()
    image = tf.image.resize(image, resized, method="bilinear", antialias=True)
    top, left = (tf.cast(tf.round(tf.cast(resized[i] - size, tf.float32) / 2), tf.int32) for i in (0, 1))
    return tf.slice(image, [top, left, 0], [size, size, 3])


def pipeline(items, labels, batch_size, image_size, augment, shuffle, seed, with_index, remainder):
    """A batched ``tf.data.Dataset`` of ``items`` (file paths or encoded images) and ``labels``, decoded and
    transformed per example (see the module docstring)."""
    import tensorflow as tf

    from_files = isinstance(items[0], str)
    mean, std = (tf.constant(v, tf.float32) * 255.0 for v in (IMAGENET_MEAN, IMAGENET_STD))

    def prepare(item, label, index, element_seed):
        data = tf.io.read_file(item) if from_files else item
        if augment:
            seeds = tf.random.experimental.stateless_split(element_seed, 2)
            image = tf.image.stateless_random_flip_left_right(random_resized_crop(data, image_size, seeds[0]),
                                                              seed=seeds[1])
        else:
            image = resize_and_center_crop(data, image_size)
        image = tf.ensure_shape((image - mean) / std, (image_size, image_size, 3))
        return ((image, index) if with_index else image), label

    dataset = seeded_map(list(items), labels, prepare, shuffle, seed)
    return batch_examples(dataset, batch_size, remainder, len(labels)).prefetch(tf.data.AUTOTUNE)
