"""Where a KD step's time goes on torch: Keras layers vs the plain PyTorch loop.

Profiles (``torch.profiler``, self CPU time per aten op) ``steps`` KD train
steps of the ``backends`` suite's pair -- a ``keras_kd.Distiller``
WRN-40-2 -> WRN-16-2 on the torch backend, and the hand-written loop of
``benchmarks.torch_kd_loop`` -- and groups the ops: convolutions (forward
and backward), batch norm, layout copies (``copy_`` / ``contiguous`` /
``clone``: Keras' own conv on torch copies its channels-last input twice,
which ``GroupConv2D`` avoids -- ``keras_kd.backend.torch_conv`` -- so what
remains comes from the Keras ``Conv2D`` stem and shortcut convs), and the
rest (Keras' batch norm on torch is composed of elementwise ops: mul, sum,
sub, rsqrt, where torch's loop runs one fused ``native_batch_norm``). Also profiles plain train steps of WRN-40-2 with each of ``blocks``
(the ``cheap_students`` suite's question: why a G(4) student with 0.36x the
FLOPs is not faster). Runs on torch only (other backends report nothing).

    python -m benchmarks.torch_profile [--steps 5]
"""

import sys

from benchmarks import common

PARAMS = {
    "batch": (64, "Batch size."),
    "steps": (5, "Profiled steps per run (after 2 warm-up steps)."),
    "blocks": (["S", "G(4)"], "Blocks of the profiled WRN-40-2 train steps."),
}
GROUPS = ("convolution", "batch_norm", "layout_copies", "other")


def group_of(op):
    """The ``GROUPS`` entry of an aten op name."""
    if "conv" in op:
        return "convolution"
    if "batch_norm" in op:
        return "batch_norm"
    if op in ("aten::copy_", "aten::contiguous", "aten::clone", "aten::permute", "aten::transpose"):
        return "layout_copies"
    return "other"


def profile_ms(step, steps):
    """``{group: ms per step}`` of self CPU time, plus ``total`` and the top ops."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    times = {group: 0.0 for group in GROUPS}
    ops = []
    for event in prof.key_averages():
        ms = event.self_cpu_time_total / 1e3 / steps
        times[group_of(event.key)] += ms
        ops.append((ms, event.key))
    times["total"] = sum(times[group] for group in GROUPS)
    times["top_ops"] = [[key, round(ms, 1)] for ms, key in sorted(ops, reverse=True)[:6]]
    return times


def measure_backend(batch, steps, blocks):
    import keras

    if keras.backend.backend() != "torch":
        return {}
    import keras_kd as kd
    from benchmarks import torch_kd_loop

    x, y = common.random_batch(batch)
    teacher = kd.models.wide_resnet(40, 2, 10)
    distiller = kd.Distiller(student=kd.models.wide_resnet(16, 2, 10), teacher=teacher)
    torch_teacher = torch_kd_loop.WideResNet(40, 2, 10)
    runs = {
        "KD keras_kd": profile_ms(common.classifier_step_fn(distiller, x, y, False), steps),
        "KD torch_loop": profile_ms(torch_kd_loop.train_step_fn(torch_kd_loop.WideResNet(16, 2, 10), x, y,
                                                                teacher=torch_teacher), steps),
    }
    for block in blocks:
        model = kd.models.wide_resnet(40, 2, 10, block=block)
        runs[f"WRN-40-2 {block} train"] = profile_ms(common.classifier_step_fn(model, x, y, False), steps)
    return runs


def report(results, params):
    rows = []
    for backend, result in results.items():
        for run, t in result.items():
            rows.append([backend, run, *(f"{t[g]:.0f} ({100 * t[g] / t['total']:.0f}%)" for g in GROUPS),
                         f"{t['total']:.0f}", ", ".join(f"{op} {ms}" for op, ms in t["top_ops"])])
    header = ["backend", "run", *(f"{g} ms" for g in GROUPS), "total ms", "top ops (ms)"]
    caption = (f"WRN-40-2 -> WRN-16-2 KD steps and WRN-40-2 train steps, batch {params['batch']}, self CPU ms "
               "per step by op group "
               f"(torch.profiler over {params['steps']} steps; profiling adds overhead to both runs)")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
