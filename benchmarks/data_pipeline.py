"""Does the augmented CIFAR pipeline keep up with KD training?

Measures, in one process per backend: images/s that ``keras_kd.data.load``
delivers (augmented train split, batch 128, chunks of batches drawn
without a model) and images/s of a WRN-16-2 student's KD step from a
WRN-40-2 teacher on its batches, interleaved; reports pipeline /
consumption (target >= 3).

    python -m benchmarks.data_pipeline [--source path/to/cifar10-jpg.tar.gz]

Without ``--source`` the pipeline reads 50,000 random 32x32 images held in
memory (the decode of a real source happens once, before the first epoch).
"""

import itertools
import sys

from benchmarks import common

PARAMS = {
    "source": (None, "Dataset source for keras_kd.data.load (default: random arrays)."),
    "batch": (128, "Batch size."),
    "chunk_batches": (40, "Pipeline batches per timed chunk."),
    "repeats": (5, "Timed repeats (pipeline chunks and KD steps)."),
}


def random_source():
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 50000))


def measure_backend(source, batch, chunk_batches, repeats):
    return measure(source or random_source(), batch, chunk_batches, repeats, "wrn-40-2", "wrn-16-2", 10)


def measure(source, batch, chunk_batches, repeats, teacher, student, classes, image_size=None, fresh=False):
    """Pipeline ms per batch and KD step ms (``teacher`` -> ``student``, registry names), interleaved.

    ``fresh=False`` draws each chunk from one running iterator, whose prefetch works during the KD steps
    (how fast batches are there when training asks); ``fresh=True`` from a new iterator each time (the
    pipeline's own throughput, startup included)."""
    import keras

    import keras_kd as kd

    dataset = kd.data.load(source, "train", batch_size=batch, image_size=image_size)
    pipeline = iter(dataset.repeat())
    shape = tuple(dataset.element_spec[0].shape[1:])
    distiller = kd.Distiller(student=kd.models.get_model(student, classes, input_shape=shape),
                             teacher=kd.models.get_model(teacher, classes, input_shape=shape))
    distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    batches = itertools.cycle(list(dataset.take(2).as_numpy_iterator()))

    def chunk():
        batches_of = iter(dataset.repeat()) if fresh else pipeline
        for _ in range(chunk_batches):
            next(batches_of)

    timings = common.interleaved_ms(
        {"pipeline": chunk, "kd_step": lambda: distiller.train_on_batch(*next(batches))}, repeats
    )
    return {"pipeline_ms_per_batch": {k: v / chunk_batches for k, v in timings["pipeline"].items()},
            "kd_step_ms": timings["kd_step"]}


def report(results, params, step="WRN-40-2 -> WRN-16-2 KD step img/s", source=None):
    rows = []
    for backend, r in results.items():
        pipeline, kd_step = r["pipeline_ms_per_batch"], r["kd_step_ms"]
        rows.append([backend, common.img_s_cell(pipeline, params["batch"]),
                     common.img_s_cell(kd_step, params["batch"]),
                     f"{kd_step['median'] / pipeline['median']:.1f}"])
    caption = (f"Source: {source or params['source'] or 'random arrays'}, batch {params['batch']}, "
               "img/s (median, ±half range)")
    return common.captioned_table(caption, ["backend", "pipeline img/s", step, "pipeline/KD (≥3)"], rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
