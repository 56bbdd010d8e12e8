"""Why keras_kd's KD default is correct, in numbers.

On one fixed 8x100 pair of logits (seed 0, N(0, 4^2)), prints the true
``T^2 * KL(softmax(t/T) || softmax(s/T))`` (numpy, float64), keras_kd's
``kd_loss`` and Keras 3's ``keras.distillation.LogitsDistillation`` with its
default loss (the string "kl_divergence" resolves to a function, not the
``KLDivergence`` class, so KL is applied to raw temperature-scaled logits)
and with an explicit ``keras.losses.KLDivergence()``.

    python examples/why_defaults.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import keras_kd as kd  # noqa: E402

flags.DEFINE_float("temperature", 4.0, "Temperature T.")
flags.DEFINE_string("output_dir", None, "If given, writes results.json and results.md there.")
FLAGS = flags.FLAGS


def numpy_kd(teacher, student, temperature):
    def log_softmax(z):
        z = z / temperature
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p, log_q = log_softmax(teacher), log_softmax(student)
    return temperature**2 * np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))


def main(_):
    rng = np.random.default_rng(0)
    teacher = rng.normal(0, 4, (8, 100))
    student = rng.normal(0, 4, (8, 100))
    t32, s32 = teacher.astype("float32"), student.astype("float32")
    temperature = FLAGS.temperature
    rows = {
        "true T^2 KL (numpy, float64)": numpy_kd(teacher, student, temperature),
        "keras_kd.losses.kd_loss": float(kd.losses.kd_loss(t32, s32, temperature)),
    }
    distillation = getattr(keras, "distillation", None)
    if distillation is not None:
        default = distillation.LogitsDistillation(temperature=temperature)
        explicit = distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence()
        )
        rows["keras.distillation default"] = float(default.compute_loss(t32, s32))
        rows["keras.distillation + KLDivergence()"] = float(explicit.compute_loss(t32, s32))
    title = f"Keras {keras.__version__}, backend {keras.backend.backend()}, T={temperature}"
    print(title)
    for name, value in rows.items():
        print(f"  {name:38s} {value:10.4f}")
    if FLAGS.output_dir:
        os.makedirs(FLAGS.output_dir, exist_ok=True)
        table = kd.files.markdown_table(["", "value"], [(name, f"{value:.4f}") for name, value in rows.items()])
        kd.files.write_text(os.path.join(FLAGS.output_dir, "results.md"), f"{title}\n\n{table}\n")
        kd.files.write_json(os.path.join(FLAGS.output_dir, "results.json"), {"title": title, "values": rows})


if __name__ == "__main__":
    app.run(main)
