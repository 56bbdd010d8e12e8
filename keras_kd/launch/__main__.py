"""``python -m keras_kd.launch [--num_processes N] [--port P] [--timeout S] [--seed S] script [args ...]``:
see ``keras_kd.launch``."""

import argparse
import sys

from keras_kd.launch import launch


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_kd.launch", description=__doc__)
    parser.add_argument("--num_processes", type=int, default=2, help="workers on this machine")
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the job is stopped")
    parser.add_argument("--seed", type=int, default=None,
                        help="keras.utils.set_random_seed in every worker before initialize (the same data "
                             "order and initial weights in every run; Keras draws a random shared seed "
                             "otherwise)")
    parser.add_argument("script", help="the Python script every worker runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    options = parser.parse_args(argv)
    try:
        return launch(options.script, options.args, options.num_processes, options.port, options.timeout,
                      options.seed)
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
