"""Does the augmented CIFAR pipeline keep up with KD training?

Measures, in one process per backend: images/s that ``keras_kd.data.load``
delivers (augmented train split, batch 128, iterated without a model) and
images/s of a WRN-16-2 student's KD step from a WRN-40-2 teacher on the
same batches; reports pipeline / consumption (target >= 3).

    python -m benchmarks.data_pipeline [--source path/to/cifar10-jpg.tar.gz]

Without ``--source`` the pipeline reads 50,000 random 32x32 images held in
memory (the decode of a real source happens once, before the first epoch).
"""

import json
import time

from absl import app, flags

from benchmarks import common

flags.DEFINE_list("backends", list(common.BACKENDS), "Backends to measure.")
flags.DEFINE_bool("worker", False, "Internal: measure the current backend.")
flags.DEFINE_string("source", None, "Dataset source for keras_kd.data.load.")
flags.DEFINE_integer("batch", 128, "Batch size.")
flags.DEFINE_integer("pipeline_batches", 200, "Batches timed for the pipeline.")
flags.DEFINE_integer("train_batches", 6, "Batches timed for the KD step.")
FLAGS = flags.FLAGS


def source():
    import numpy as np

    if FLAGS.source:
        return FLAGS.source
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 50000))


def images_per_second(iterator, batches, batch_size):
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def measure_backend():
    import keras

    import keras_kd as kd

    dataset = kd.data.load(source(), "train", batch_size=FLAGS.batch)
    pipeline = images_per_second(iter(dataset.repeat()), FLAGS.pipeline_batches, FLAGS.batch)
    teacher = kd.models.wide_resnet(40, 2, 10)
    distiller = kd.Distiller(kd.models.wide_resnet(16, 2, 10), teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    batches = list(dataset.take(FLAGS.train_batches + 2).as_numpy_iterator())
    steps = iter(batches)
    train = images_per_second(
        (distiller.train_on_batch(*batch) for batch in steps), FLAGS.train_batches, FLAGS.batch
    )
    return {"pipeline_img_s": pipeline, "kd_step_img_s": train}


def main(_):
    if FLAGS.worker:
        print(json.dumps(measure_backend()))
        return
    names = ["batch", "pipeline_batches", "train_batches"] + (["source"] if FLAGS.source else [])
    results = common.run_per_backend(
        "benchmarks.data_pipeline", FLAGS.backends, common.forwarded_flags(FLAGS, names)
    )
    print(f"source: {FLAGS.source or 'random arrays'}, batch {FLAGS.batch}")
    for backend, r in results.items():
        print(f"{backend:10s} pipeline {r['pipeline_img_s']:8.0f} img/s   "
              f"WRN-40-2 -> WRN-16-2 KD step {r['kd_step_img_s']:6.0f} img/s   "
              f"ratio {r['pipeline_img_s'] / r['kd_step_img_s']:.1f}x")


if __name__ == "__main__":
    app.run(main)
