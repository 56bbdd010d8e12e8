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
    import keras

    import keras_kd as kd

    dataset = kd.data.load(source or random_source(), "train", batch_size=batch)
    pipeline = iter(dataset.repeat())
    teacher = kd.models.wide_resnet(40, 2, 10)
    distiller = kd.Distiller(student=kd.models.wide_resnet(16, 2, 10), teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    batches = itertools.cycle(list(dataset.take(4).as_numpy_iterator()))

    def chunk():
        for _ in range(chunk_batches):
            next(pipeline)

    timings = common.interleaved_ms(
        {"pipeline": chunk, "kd_step": lambda: distiller.train_on_batch(*next(batches))}, repeats
    )
    return {"pipeline_ms_per_batch": {k: v / chunk_batches for k, v in timings["pipeline"].items()},
            "kd_step_ms": timings["kd_step"]}


def report(results, params):
    rows = []
    for backend, r in results.items():
        pipeline, step = r["pipeline_ms_per_batch"], r["kd_step_ms"]
        rows.append([backend, common.img_s_cell(pipeline, params["batch"]),
                     common.img_s_cell(step, params["batch"]),
                     f"{step['median'] / pipeline['median']:.1f}"])
    caption = (f"Source: {params['source'] or 'random arrays'}, batch {params['batch']}, "
               "img/s (median, ±half range)")
    header = ["backend", "pipeline img/s", "WRN-40-2 -> WRN-16-2 KD step img/s",
              "pipeline/KD (≥3)"]
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
