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

import sys

from benchmarks import common

PARAMS = {
    "batch": (64, "Batch size."),
    "repeats": (5, "Timed repeats per configuration."),
}
NAMES = ("student", "teacher_inference", "kd", "kd_at", "keras_distillation")


def wrn(depth):
    import keras_kd as kd

    return kd.models.wide_resnet(depth, 2, 10)


def keras_distiller(teacher):
    """``keras.distillation.Distiller`` with a correct KL loss (Keras >= 3.12)."""
    import keras

    return keras.distillation.Distiller(
        teacher=teacher,
        student=wrn(16),
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=4.0, loss=keras.losses.KLDivergence()
        ),
        student_loss_weight=0.1,
    )


def measure_backend(batch, repeats):
    import keras

    import keras_kd as kd

    x, y = common.random_batch(batch)
    teacher = wrn(40)
    at = [kd.losses.KD(), kd.losses.AttentionTransfer()]
    steps = {
        "student": common.classifier_step_fn(wrn(16), x, y),
        "teacher_inference": lambda: teacher.predict_on_batch(x),
        "kd": common.classifier_step_fn(kd.Distiller(student=wrn(16), teacher=teacher), x, y),
        "kd_at": common.classifier_step_fn(kd.Distiller(student=wrn(16), teacher=teacher, losses=at), x, y),
    }
    if hasattr(keras, "distillation"):
        steps["keras_distillation"] = common.classifier_step_fn(keras_distiller(teacher), x, y)
    return common.interleaved_ms(steps, repeats)


def report(results, params):
    rows = []
    for backend, t in results.items():
        m = common.medians(t)
        keras_ratio = f"{m['kd'] / m['keras_distillation']:.2f}" if "keras_distillation" in m else ""
        rows.append([
            backend,
            *(common.ms_cell(t[name]) if name in t else "" for name in NAMES),
            f"{m['kd'] / (m['student'] + m['teacher_inference']):.2f}",
            f"{m['kd_at'] / m['kd']:.2f}",
            keras_ratio,
        ])
    header = ["backend", *NAMES, "kd/(student+teacher) (≤1.10)", "kd_at/kd (≤1.05)",
              "kd/keras (≤1.00)"]
    caption = (f"WRN-40-2 -> WRN-16-2, batch {params['batch']}, train-step ms "
               "(median, ±half range)")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
