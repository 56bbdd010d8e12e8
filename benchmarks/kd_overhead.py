"""Cost of a Distiller step against its parts and against keras.distillation.

Per backend, in one process, interleaved (WRN-40-2 teacher -> WRN-16-2
student, batch 64, 32x32, random data), train-step ms of:

* ``student``: the student alone, cross-entropy;
* ``teacher_inference``: one teacher forward pass (``predict_on_batch``);
* ``kd``: ``keras_kd.Distiller`` with Hinton KD;
* ``kd_at``: the same plus attention transfer;
* ``keras_distillation``: ``keras.distillation.Distiller`` with
  ``LogitsDistillation(loss=KLDivergence())`` (its correct configuration).

Targets (issue "Performance"): kd <= 1.10 x (student + teacher_inference);
kd_at <= 1.05 x kd; kd <= keras_distillation.

    python -m benchmarks.kd_overhead [--backends ...] [--batch 64]
"""

import json

from absl import app, flags

from benchmarks import common

flags.DEFINE_list("backends", list(common.BACKENDS), "Backends to measure.")
flags.DEFINE_bool("worker", False, "Internal: measure the current backend.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per configuration.")
FLAGS = flags.FLAGS


def measure_backend():
    import keras
    import numpy as np

    import keras_kd as kd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((FLAGS.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, FLAGS.batch)

    def wrn(depth, width):
        return kd.models.wide_resnet(depth, width, 10)

    def sgd():
        return keras.optimizers.SGD(0.1, momentum=0.9)

    student = wrn(16, 2)
    student.compile(sgd(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher = wrn(40, 2)
    kd_only = kd.Distiller(wrn(16, 2), teacher)
    kd_at = kd.Distiller(wrn(16, 2), teacher, losses=[kd.losses.KD(), kd.losses.AttentionTransfer()])
    for distiller in (kd_only, kd_at):
        distiller.compile(sgd())
    steps = {
        "student": lambda: student.train_on_batch(x, y),
        "teacher_inference": lambda: teacher.predict_on_batch(x),
        "kd": lambda: kd_only.train_on_batch(x, y),
        "kd_at": lambda: kd_at.train_on_batch(x, y),
    }
    if hasattr(keras, "distillation"):
        reference = keras.distillation.Distiller(
            teacher=teacher,
            student=wrn(16, 2),
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=4.0, loss=keras.losses.KLDivergence()
            ),
            student_loss_weight=0.1,
        )
        reference.compile(sgd(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        steps["keras_distillation"] = lambda: reference.train_on_batch(x, y)
    return {name: t[0] for name, t in common.interleaved_ms(steps, FLAGS.repeats).items()}


def report(results):
    lines = [f"WRN-40-2 -> WRN-16-2, batch {FLAGS.batch}, train-step ms (median)"]
    for backend, t in results.items():
        parts = t["student"] + t["teacher_inference"]
        line = (
            f"{backend:10s} student={t['student']:.0f} teacher_inf={t['teacher_inference']:.0f} "
            f"kd={t['kd']:.0f} kd_at={t['kd_at']:.0f}  kd/(student+teacher)={t['kd'] / parts:.2f} "
            f"kd_at/kd={t['kd_at'] / t['kd']:.2f}"
        )
        if "keras_distillation" in t:
            line += f" keras.distillation={t['keras_distillation']:.0f} kd/keras={t['kd'] / t['keras_distillation']:.2f}"
        lines.append(line)
    return "\n".join(lines)


def main(_):
    if FLAGS.worker:
        print(json.dumps(measure_backend()))
        return
    extra = common.forwarded_flags(FLAGS, ("batch", "repeats"))
    print(report(common.run_per_backend("benchmarks.kd_overhead", FLAGS.backends, extra)))


if __name__ == "__main__":
    app.run(main)
