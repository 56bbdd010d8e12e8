"""KD training throughput per backend and jit setting, against plain PyTorch.

Per backend, in one process, interleaved: img/s of a ``keras_kd.Distiller``
step (WRN-40-2 teacher -> WRN-16-2 student, Hinton KD, SGD momentum) with
``jit_compile`` on and off, and of plain WRN-16-2 training; in the torch
process also the hand-written PyTorch loop of ``benchmarks.torch_kd_loop``
on the same batch (KD and plain). The loop runs there only: torch loaded
into the TensorFlow or JAX process ran 50x slower (thread pools fighting),
so the ratios to it of the other backends are across processes.
jit on means XLA on TensorFlow and JAX (off: a tf.function graph, eager
JAX) and ``torch.compile`` on torch (off by default: its first step took
167 s here). Random data, 32x32.

Target (issue "Performance"): the best keras_kd configuration >= 1.1x the
PyTorch KD loop.

    python -m benchmarks.backends [--batches 64,128] [--repeats 3]
"""

import sys

from benchmarks import common

PARAMS = {
    "batches": ([64, 128], "Batch sizes."),
    "repeats": (3, "Timed repeats per configuration."),
    "torch_jit": (False, "Also time torch with jit_compile=True (torch.compile)."),
}
KERAS_RUNS = ("kd_jit", "kd_nojit", "student_jit", "student_nojit")


def keras_steps(teacher, x, y, jit):
    """``{kd_<jit>, student_<jit>}`` train steps compiled with ``jit_compile=jit``."""
    import keras_kd as kd

    tag = "jit" if jit else "nojit"
    distiller = kd.Distiller(student=kd.models.wide_resnet(16, 2, 10), teacher=teacher)
    student = kd.models.wide_resnet(16, 2, 10)
    return {f"kd_{tag}": common.classifier_step_fn(distiller, x, y, jit),
            f"student_{tag}": common.classifier_step_fn(student, x, y, jit)}


def measure_backend(batches, repeats, torch_jit):
    import keras

    import keras_kd as kd

    on_torch = keras.backend.backend() == "torch"
    jits = (False, True) if torch_jit or not on_torch else (False,)
    if on_torch:
        from benchmarks import torch_kd_loop

        torch_teacher = torch_kd_loop.WideResNet(40, 2, 10)
    teacher = kd.models.wide_resnet(40, 2, 10)
    rows = []
    for batch in common.int_list(batches):
        x, y = common.random_batch(batch)
        steps = {}
        for jit in jits:
            steps.update(keras_steps(teacher, x, y, jit))
        if on_torch:
            steps.update(torch_kd_loop.reference_steps(torch_teacher, x, y))
        rows.append({"batch": batch, "ms": common.interleaved_ms(steps, repeats)})
    counts = {"keras": [kd.models.profile(kd.models.wide_resnet(d, 2, 10))["trainable_params"]
                        for d in (40, 16)]}
    if on_torch:
        counts["torch_loop"] = [torch_kd_loop.trainable_params(torch_teacher),
                                torch_kd_loop.trainable_params(torch_kd_loop.WideResNet(16, 2, 10))]
    return {"rows": rows, "trainable_params": counts}


def reference_ms(results):
    """``{batch: torch loop KD step ms}`` from the torch process, if it ran."""
    rows = results.get("torch", {}).get("rows", [])
    return {row["batch"]: row["ms"]["torch_loop_kd"]["median"] for row in rows}


def report(results, params):
    names = [*KERAS_RUNS, "torch_loop_kd", "torch_loop_student"]
    reference, rows, best = reference_ms(results), [], {}
    for backend, result in results.items():
        for row in result["rows"]:
            t, batch = row["ms"], row["batch"]
            fastest = min((n for n in ("kd_jit", "kd_nojit") if n in t), key=lambda n: t[n]["median"])
            ratio = reference[batch] / t[fastest]["median"] if batch in reference else None
            if ratio and ratio > best.get(batch, (0,))[0]:
                best[batch] = (ratio, f"{backend} {fastest}")
            rows.append([backend, batch,
                         *(common.img_s_cell(t[n], batch) if n in t else "-" for n in names),
                         f"{ratio:.2f} ({fastest})" if ratio else "no torch run"])
    header = ["backend", "batch", *(f"{n} img/s" for n in names), "best kd / torch loop kd"]
    counts = "; ".join(f"{b}: {r['trainable_params']}" for b, r in results.items())
    summary = "; ".join(f"batch {b}: best {where}, {ratio:.2f}x the PyTorch loop (target ≥1.10)"
                        for b, (ratio, where) in sorted(best.items()))
    caption = ("WRN-40-2 -> WRN-16-2 KD and plain WRN-16-2 training, img/s (median, ±half "
               "range); the PyTorch loop runs in the torch process")
    return "\n\n".join([caption, common.markdown_table(header, rows), summary,
                         f"Trainable params [WRN-40-2, WRN-16-2]: {counts}"])


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
