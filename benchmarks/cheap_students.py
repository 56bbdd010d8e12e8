"""Do cheap blocks pay off? Train-step img/s of WRN-40-2 per block type.

Per backend, in one process, interleaved: one SGD cross-entropy train step
of WRN-40-2 built with each block of crowley2018 Table 1, next to its
multiply-accumulates (``keras_kd.models.profile``). Random data, 32x32.

Target (issue "Performance"): G(4) trains >= 1.5x faster than S (its FLOPs
are ~0.37x).

    python -m benchmarks.cheap_students [--blocks "S;G(4)"] [--batch 64]
"""

import sys

from benchmarks import common

PARAMS = {
    "blocks": ("S;G(4);G(N/4);B(2);BG(2,4);S-2x2", "Block notations, ';'-separated."),
    "batch": (64, "Batch size."),
    "repeats": (3, "Timed repeats per block type."),
}


def measure_backend(blocks, batch, repeats):
    import keras_kd as kd

    x, y = common.random_batch(batch)
    steps, counts = {}, {}
    for block in blocks.split(";"):
        model = kd.models.wide_resnet(40, 2, 10, block=block)
        counts[block] = kd.models.profile(model)
        steps[block] = common.classifier_step_fn(model, x, y)
    return {"ms": common.interleaved_ms(steps, repeats), "profile": counts}


def report(results, params):
    rows = []
    for backend, result in results.items():
        t, counts = result["ms"], result["profile"]
        base = t["S"]["median"] if "S" in t else None
        for block, timing in t.items():
            speedup = f"{base / timing['median']:.2f}" if base else ""
            flops = counts[block]["flops"]
            flops_ratio = f"{flops / counts['S']['flops']:.2f}" if "S" in counts else ""
            rows.append([backend, block, common.img_s_cell(timing, params["batch"]), speedup,
                         f"{flops / 1e6:.0f}", flops_ratio, counts[block]["params"]])
    header = ["backend", "block", "img/s", "speed vs S (G(4) ≥1.5)", "MMACs/img",
              "FLOPs vs S", "params"]
    caption = (f"WRN-40-2 train step, batch {params['batch']}, img/s (median, ±half range); "
               "MACs of conv and dense layers per image")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
