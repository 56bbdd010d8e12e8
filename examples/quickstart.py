"""Quick KD run on real offline data: teacher, scratch student, KD student.

Trains a WRN teacher on Fashion-MNIST (Debian package
``dataset-fashion-mnist``), then the same cheap-block student twice with the
same budget -- from labels alone and with Hinton KD from the teacher
(crowley2018 eq. 1, T=4, alpha=0.9) -- and prints the three test accuracies.

    python examples/quickstart.py [--train_size 10000] [--epochs 3]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
import keras_kd as kd  # noqa: E402

flags.DEFINE_string("data_dir", kd.data.FASHION_MNIST_DIR, "Directory of idx files.")
flags.DEFINE_integer("train_size", 10000, "Training examples used (first n).")
flags.DEFINE_integer("epochs", 3, "Epochs for each of the three runs.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_string("teacher_block", "S", "Teacher WRN-16-2 block.")
flags.DEFINE_string("student_block", "B(4)", "Student WRN-16-2 block (cheap conv).")
flags.DEFINE_float("temperature", 4.0, "KD temperature T.")
flags.DEFINE_float("alpha", 0.9, "Weight of the KD term.")
flags.DEFINE_integer("seed", 0, "Random seed.")
FLAGS = flags.FLAGS


def load(split, size=None):
    images, labels = kd.data.load_idx_split(FLAGS.data_dir, split)
    images, labels = images[:size], labels[:size]
    images = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)]).astype("float32") / 255.0
    return (images - 0.286) / 0.353, labels


def train(model, x, y, epochs):
    loss = None if isinstance(model, kd.Distiller) else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        loss=loss,
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=FLAGS.batch_size, epochs=epochs, verbose=2)
    return model


def accuracy(model, x, y):
    logits = model.predict(x, batch_size=512, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def wrn(block):
    return kd.models.wide_resnet(16, 2, 10, block=block, input_shape=(32, 32, 1))


def main(_):
    keras.utils.set_random_seed(FLAGS.seed)
    x_train, y_train = load("train", FLAGS.train_size)
    x_test, y_test = load("test")
    teacher = train(wrn(FLAGS.teacher_block), x_train, y_train, FLAGS.epochs)
    scratch = train(wrn(FLAGS.student_block), x_train, y_train, FLAGS.epochs)
    keras.utils.set_random_seed(FLAGS.seed)
    distiller = kd.Distiller(
        wrn(FLAGS.student_block),
        teacher,
        losses=[kd.losses.KD(temperature=FLAGS.temperature, alpha=FLAGS.alpha)],
    )
    train(distiller, x_train, y_train, FLAGS.epochs)
    results = {
        f"teacher  WRN-16-2 {FLAGS.teacher_block}": accuracy(teacher, x_test, y_test),
        f"scratch  WRN-16-2 {FLAGS.student_block}": accuracy(scratch, x_test, y_test),
        f"KD       WRN-16-2 {FLAGS.student_block}": accuracy(distiller.student, x_test, y_test),
    }
    print(f"\nFashion-MNIST test accuracy ({FLAGS.train_size} train images, "
          f"{FLAGS.epochs} epochs each, backend {keras.backend.backend()}):")
    for name, value in results.items():
        params = kd.models.profile(teacher if "teacher" in name else scratch)["params"]
        print(f"  {name:28s} {value:.4f}   params {params:,}")


if __name__ == "__main__":
    app.run(main)
