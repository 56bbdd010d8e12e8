"""Trains a teacher network and saves it as ``.keras``.

    python examples/train_teacher.py --model wrn-40-2 --output teacher.keras \\
        [--source auto] [--epochs 5] [--train_size 10000] [--preset paper]

Trains with crowley2018's recipe (``keras_kd.recipes``, ``--print_recipe``);
``--preset=paper`` runs it as printed: all training images, 200 epochs,
batch 128, SGD momentum 0.9, lr 0.1 x0.2 at epochs 60/120/160, coupled
weight decay 5e-4, zero-padded crops and flips. The saved file
is what ``examples/distill.py --teacher_path`` and the other examples load.
"""

from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_string("model", "wrn-16-2", "Registry name of the teacher (keras_kd.models.list_models()).")
flags.DEFINE_string("block", "S", "Block notation of the teacher.")
flags.DEFINE_string("output", "teacher.keras", "Where the trained teacher is saved.")
FLAGS = flags.FLAGS
common.set_defaults(seeds=["0"])

PAPER = {"train_size": 0}


def main(_):
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("crowley2018", FLAGS.model))
    train, test, info = common.datasets(source, common.seeds()[0])
    teacher = common.network(FLAGS.model, info, FLAGS.block)
    common.train(teacher, train)
    test_accuracy = common.accuracy(teacher, test)
    print(f"{FLAGS.model} {FLAGS.block} on {common.describe(source)}: test accuracy {test_accuracy:.4f}")
    kd.files.save_model(teacher, FLAGS.output)


if __name__ == "__main__":
    app.run(main)
