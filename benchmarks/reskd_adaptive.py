"""ResKD sample-adaptive inference (li2021 Algorithm 2) against the full S_n.

Loads the ``ResidualEnsemble`` that ``examples/reskd.py`` saves (trained
members and the threshold its Algorithm 1 picked) and, per backend, on the
CIFAR-10 JPEG test split: test accuracy of the full sum and of Algorithm 2,
MFLOPs executed per example, and wall time per example -- the full sum as
one compiled ``predict_on_batch`` per batch, Algorithm 2 as
``predict_adaptive`` (S_0 on the batch, later res-students on the gathered
rows still below the threshold), timed interleaved on the same images.

    python examples/reskd.py --output_dir examples/results/reskd
    python -m benchmarks.reskd_adaptive [--backends ...]
"""

import os
import sys

from benchmarks import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS = {
    "ensemble": ("examples/results/reskd/ensemble.keras",
                 "ResidualEnsemble written by examples/reskd.py (relative to the repository)."),
    "source": ("auto", "Test images: a CIFAR-10 source (see examples/common.py --source)."),
    "batch": (256, "Inference batch size."),
    "timed_examples": (2048, "Test images in each timed pass."),
    "repeats": (5, "Timed repeats per configuration."),
}
CONFIGS = ("full", "adaptive")


def test_arrays(source, results_json):
    """The test images and labels exactly as ``examples/reskd.py`` normalized
    them (its training subset's statistics, from the flags in its
    ``results.json``)."""
    import json

    import numpy as np

    sys.path.insert(0, os.path.join(REPO, "examples"))
    import common as examples_common

    with open(results_json) as f:
        run_flags = json.load(f)["flags"]
    examples_common.FLAGS(["reskd_adaptive", f"--batch_size={run_flags['batch_size']}"])
    _, test, _ = examples_common.datasets(
        examples_common.find_source(source), int(run_flags["seeds"][0]), train_size=run_flags["train_size"],
        validation_size=run_flags["validation_size"])
    images, labels = zip(*((np.asarray(x), np.asarray(y)) for x, y in test))
    return np.concatenate(images), np.concatenate(labels)


def measure_backend(ensemble, source, batch, timed_examples, repeats):
    import numpy as np

    import keras_kd as kd

    path = os.path.join(REPO, ensemble)
    if not os.path.exists(path):
        return {"missing": ensemble}
    model = kd.files.load_model(path)
    x, y = test_arrays(source, os.path.join(os.path.dirname(path), "results.json"))
    member_mflops = np.array([kd.models.profile(m)["flops"] / 1e6 for m in model.members])

    def full(images):
        return np.concatenate([np.asarray(model.predict_on_batch(images[i : i + batch]))
                               for i in range(0, len(images), batch)])

    adaptive_logits, used = model.predict_adaptive(x, batch_size=batch)
    timed = x[:timed_examples]
    timings = common.interleaved_ms(
        {"full": lambda: full(timed), "adaptive": lambda: model.predict_adaptive(timed, batch_size=batch)},
        repeats,
    )
    return {
        "threshold": model.threshold,
        "members": [m.name for m in model.members],
        "accuracy": {"full": float(np.mean(full(x).argmax(-1) == y)),
                     "adaptive": float(np.mean(adaptive_logits.argmax(-1) == y))},
        "mflops": {"full": float(member_mflops.sum()),
                   "adaptive": float(np.cumsum(member_mflops)[used - 1].mean())},
        "skipped": model.skipped_fraction(used),
        "ms_per_example": {name: {k: v / len(timed) for k, v in t.items()} for name, t in timings.items()},
    }


def report(results, params):
    rows = []
    for backend, r in results.items():
        if "missing" in r:
            rows.append([backend, f"no {r['missing']}: run examples/reskd.py first", *[""] * 7])
            continue
        full, adaptive = r["ms_per_example"]["full"], r["ms_per_example"]["adaptive"]
        rows.append([
            backend, f"{r['threshold']:.3f}",
            f"{100 * r['accuracy']['full']:.2f} / {100 * r['accuracy']['adaptive']:.2f}",
            f"{100 * (r['accuracy']['full'] - r['accuracy']['adaptive']):+.2f}",
            f"{r['mflops']['full']:.1f} / {r['mflops']['adaptive']:.1f}", f"{100 * r['skipped']:.0f}%",
            f"{common.ms_cell(full)} / {common.ms_cell(adaptive)}",
            f"{100 * (1 - adaptive['median'] / full['median']):.0f}%",
            "yes" if adaptive["median"] <= 0.8 * full["median"]
            and r["accuracy"]["full"] - r["accuracy"]["adaptive"] <= 0.003 else "no",
        ])
    header = ["backend", "TH_energy", "test acc. full / adaptive (%)", "acc. loss (pt)",
              "MFLOPs/example full / adaptive", "res-student work skipped", "ms/example full / adaptive",
              "wall-time saving", "goal (>= 20% at <= 0.3 pt)"]
    caption = (f"`{params['ensemble']}`, batch {params['batch']}; accuracy on the whole test split, "
               f"time over its first {params['timed_examples']} images (median, ±half range)")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
