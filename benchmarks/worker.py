"""Internal: ``python -m benchmarks.worker <suite module> '<json params>'``.

Runs the suite's ``measure_backend(**params)`` on ``KERAS_BACKEND`` and
prints its result as the last line of JSON.
"""

import importlib
import json
import sys

if __name__ == "__main__":
    suite = importlib.import_module(sys.argv[1])
    print(json.dumps(suite.measure_backend(**json.loads(sys.argv[2]))))
