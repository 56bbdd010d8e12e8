"""Multi-process data-parallel training (keras_kd.launch, keras.distribution on JAX) and the full batches it
needs from keras_kd.data.load.

The runs of several processes start JAX subprocesses whatever the backend of the test run, so they are
heavy (run once, on the TensorFlow run); every subprocess has a timeout and is stopped on failure.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd import launch
from tests.helpers import fake_images

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "multi_process_fit.py")
RUN_SECONDS = 300
JAX = {**os.environ, "KERAS_BACKEND": "jax"}


@pytest.mark.parametrize("trainer", ["distiller", "mutual"])
def test_padded_evaluation_of_trainers_equals_that_of_the_real_examples(rng, trainer):
    """``remainder="pad"``: the loss, every logged part and the weighted accuracy of ``evaluate`` are those of
    the real examples (batches of 4, 4, 2 against 4, 4, 4 with two zero-weight repeats)."""
    source = {split: (fake_images(rng, 10), np.arange(10) % 5) for split in ("train", "test")}
    keras.utils.set_random_seed(0)
    networks = [kd.models.wide_resnet(10, 1, 5, input_shape=(8, 8, 3), name=f"n{k}") for k in range(2)]
    if trainer == "mutual":
        model = kd.MutualDistiller(networks)
    else:
        model = kd.Distiller(student=networks[0], teacher=networks[1],
                             losses=[kd.losses.KD(), kd.losses.AttentionTransfer(1e3)])
    model.compile(keras.optimizers.SGD(0.1), weighted_metrics=["accuracy"])
    kept = model.evaluate(kd.data.load(source, "test", batch_size=4), verbose=0, return_dict=True)
    padded = model.evaluate(kd.data.load(source, "test", batch_size=4, remainder="pad"), verbose=0,
                            return_dict=True)
    assert padded == pytest.approx(kept, rel=1e-5)


def test_part_logs_are_means_over_examples(rng):
    """A smaller last batch weighs by its size in the logged parts, as in Keras' loss."""
    x, y = fake_images(rng, 6).astype("float32"), np.arange(6) % 5
    keras.utils.set_random_seed(0)
    peers = [kd.models.wide_resnet(10, 1, 5, input_shape=(8, 8, 3), name=f"p{k}") for k in range(2)]
    model = kd.MutualDistiller(peers)
    model.compile(keras.optimizers.SGD(0.1))
    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    batches = [model.evaluate(x[i:j], y[i:j], batch_size=4, verbose=0, return_dict=True) for i, j in ((0, 4), (4, 6))]
    for part in ("peer0_ce", "peer1_kl", "loss"):
        assert logs[part] == pytest.approx((4 * batches[0][part] + 2 * batches[1][part]) / 6, rel=1e-5)


def test_workers_get_the_distribution_variables_and_jax():
    environments = launch.worker_environments(3, 4567, seed=7, environ={"PATH": "/bin"})
    assert [env["KERAS_DISTRIBUTION_PROCESS_ID"] for env in environments] == ["0", "1", "2"]
    for env in environments:
        assert env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] == "127.0.0.1:4567"
        assert (env["KERAS_DISTRIBUTION_NUM_PROCESSES"], env["KERAS_BACKEND"], env[launch.SEED_VARIABLE],
                env["PATH"]) == ("3", "jax", "7", "/bin")
    assert launch.SEED_VARIABLE not in launch.worker_environments(2, 4567, environ={})[0]


@pytest.mark.parametrize("call, message", [
    (lambda: launch.worker_environments(2, 1, environ={"KERAS_BACKEND": "torch"}), "KERAS_BACKEND='torch'"),
    (lambda: launch.worker_environments(0, 1, environ={}), "num_processes=0"),
    (lambda: launch.worker_environments(2, 1, seed=-1, environ={}), "seed=-1"),
    (lambda: launch.launch("no/such/script.py"), "script='no/such/script.py'"),
])
def test_bad_launches_name_the_value(call, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        call()


def test_the_command_line_reports_bad_arguments(capsys):
    from keras_kd.launch.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--num_processes", "2", "no_such_script.py"])
    assert exit_info.value.code == 2 and "script='no_such_script.py'" in capsys.readouterr().err


def write_script(tmp_path, body):
    path = tmp_path / "job.py"
    path.write_text("import os, sys, time\nrank = int(os.environ['KERAS_DISTRIBUTION_PROCESS_ID'])\n"
                    + textwrap.dedent(body))
    return str(path)


@pytest.mark.heavy  # JAX subprocesses whatever the backend
def test_a_failing_worker_ends_the_job_with_its_exit_code(tmp_path):
    """Process 1 fails after the job started; process 0, which would run for 10 minutes, is stopped."""
    script = write_script(tmp_path, "time.sleep(600) if rank == 0 else sys.exit(3)\n")
    assert launch.launch(script, num_processes=2, timeout=RUN_SECONDS, environ=JAX) == 3


@pytest.mark.heavy  # JAX subprocesses whatever the backend
def test_the_timeout_stops_every_worker(tmp_path):
    script = write_script(tmp_path, "open(sys.argv[1] + str(rank), 'w').write(str(os.getpid()))\ntime.sleep(600)\n")
    marker = str(tmp_path / "pid")
    assert launch.launch(script, [marker], num_processes=2, timeout=20, environ=JAX) == launch.TIMEOUT_EXIT
    for rank in (0, 1):  # both started, and both are gone
        assert not os.path.exists(f"/proc/{int(open(marker + str(rank)).read())}")


def run_alone(trainer, out):
    """The script in one process over two CPU devices."""
    env = {**JAX, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env.pop("KERAS_DISTRIBUTION_NUM_PROCESSES", None)
    subprocess.run([sys.executable, SCRIPT, trainer, out], env=env, check=True, timeout=RUN_SECONDS,
                   capture_output=True)


@pytest.mark.heavy  # JAX subprocesses whatever the backend
@pytest.mark.parametrize("trainer", ["distiller", "mutual", "gkt", "reskd"])
def test_two_processes_train_as_one_process_on_two_devices(tmp_path, trainer):
    """76 training and 20 test examples at global batch 16: the processes end with the same weights,
    history (GKT's knowledge table and exists marks, ResKD's stage energies), equal to one process on two
    devices."""
    assert launch.launch(SCRIPT, [trainer, str(tmp_path / "two")], num_processes=2, timeout=RUN_SECONDS,
                         seed=0, environ=JAX) == 0
    run_alone(trainer, str(tmp_path / "one"))
    first, second, alone = (np.load(tmp_path / d / f"process{i}.npz") for d, i in (("two", 0), ("two", 1),
                                                                                    ("one", 0)))
    assert sorted(first.files) == sorted(alone.files)
    if trainer == "gkt":
        assert first["exists"].sum() > 0
    if trainer == "reskd":  # both stages trained and saved once per file, by every process
        assert len(first["energies"]) == 2
        assert sorted(os.listdir(tmp_path / "two" / "stages")) == ["reskd.json", "stage_0.keras", "stage_1.keras"]
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
        np.testing.assert_allclose(first[name], alone[name], atol=1e-5, err_msg=name)


@pytest.mark.heavy  # TensorFlow subprocesses
def test_tensorflow_multi_worker_training_is_refused_with_a_clear_message():
    """Two workers under MultiWorkerMirroredStrategy: fit raises naming what works instead (Keras 3's fit
    fails there deep in TensorFlow)."""
    ports = [launch.free_port() for _ in range(2)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    script = os.path.join(os.path.dirname(SCRIPT), "multi_worker_fit.py")
    workers = [subprocess.Popen(
        [sys.executable, script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow",
             "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    try:
        outputs = [worker.communicate(timeout=RUN_SECONDS)[0] for worker in workers]
    finally:
        launch.stop(workers)
    for output in outputs:
        assert "RuntimeError: Distiller was built under tf.distribute.MultiWorkerMirroredStrategy with 2 " \
               "workers" in output and "keras_kd.launch" in output


@pytest.mark.heavy  # JAX subprocesses whatever the backend
def test_a_job_killed_in_one_process_resumes_to_the_uninterrupted_weights(tmp_path):
    """Process 1 dies in the second epoch (the launcher stops process 0); re-running the job resumes both from
    their last epoch-end backup and ends with the uninterrupted job's weights, bitwise."""
    def job(directory, exit_at):
        return launch.launch(SCRIPT, ["distiller", str(tmp_path / directory), str(exit_at)], num_processes=2,
                             timeout=RUN_SECONDS, seed=0, environ=JAX)

    assert job("whole", 0) == 0
    # 4 batches per epoch: in the second epoch. The job's exit code is that of the first failure the launcher
    # sees: process 1's 17, or process 0's own error when the lost connection fails it as fast.
    assert job("resumed", 6) in (17, 1)
    assert (tmp_path / "resumed" / "killed").read_text() == "6"
    assert not (tmp_path / "resumed" / "process0.npz").exists()
    assert job("resumed", 0) == 0
    for process in (0, 1):
        expected, got = (np.load(tmp_path / d / f"process{process}.npz") for d in ("whole", "resumed"))
        assert sorted(got.files) == sorted(expected.files)
        for name in expected.files:
            np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert not any(p.name.startswith("backup") for p in (tmp_path / "resumed").iterdir())  # removed at the end


def test_resKD_energy_in_a_multi_process_job_equals_the_one_process_energy(monkeypatch, rng):
    """train_reskd's energy rule reads eq. 9 through evaluate when Keras' predict cannot gather: the same mean
    (float32 on the devices against float64 numpy), the zero-weight padding of the last batch left out."""
    from keras_kd.distillers import reskd

    keras.utils.set_random_seed(0)
    model = kd.models.cifar_resnet(8, 5, input_shape=(8, 8, 3))
    x = fake_images(rng, 7).astype("float32")
    one_process = reskd.dataset_energy(model, x, batch_size=4)
    monkeypatch.setattr(reskd, "process_count", lambda: 2)
    assert reskd.dataset_energy(model, x, batch_size=4) == pytest.approx(one_process, rel=1e-5)


@pytest.mark.heavy  # JAX subprocesses whatever the backend
def test_model_parallel_layouts_train_as_one_device(tmp_path):
    """A user's ModelParallel layout (kernels split over a 'model' mesh axis) trains a Distiller to the
    weights of one device (up to float reassociation)."""
    script = os.path.join(os.path.dirname(SCRIPT), "model_parallel_fit.py")
    env = {**JAX, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    for kind in ("model_parallel", "one_device"):
        subprocess.run([sys.executable, script, kind, str(tmp_path / f"{kind}.npz")], env=env, check=True,
                       timeout=RUN_SECONDS, capture_output=True)
    sharded, single = (np.load(tmp_path / f"{kind}.npz") for kind in ("model_parallel", "one_device"))
    for name in single.files:
        np.testing.assert_allclose(sharded[name], single[name], atol=1e-4, err_msg=name)
