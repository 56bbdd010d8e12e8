"""Residual-guided KD (li2021): res-students and the deployable ensemble.

``ResidualDistiller`` trains one res-student ``R_i`` on the gap
``T_i = T - S_{i-1}`` left by the frozen teacher and earlier members
(li2021 §III-B, eq. 3). ``ResidualEnsemble`` is the student
``S_n = S_0 + R_1 + ... + R_n`` (eq. 5).

``ResidualEnsemble.call`` returns the full sum (for ``fit``/``evaluate``/
export). ``predict_adaptive`` is Algorithm 2, sample-adaptive inference:
each example stops adding res-students once its energy exceeds the
threshold, and the remaining res-students run only on the rows still
active, gathered into a smaller batch, so skipped examples cost nothing.
A member whose predict function is XLA-compiled (``member.jit_compile``:
JAX, TensorFlow on GPU) recompiles for every new batch size, so its rows
are padded up to a multiple of an eighth of the batch (at most eight
shapes, at most an eighth of a batch wasted); TensorFlow's CPU graph
(``reduce_retracing``) and torch take any size unpadded.

Energy (eq. 8): ``||softmax(logits)||_2^2`` per example, in [1/C, 1] (uniform to one-hot).
Two readings of Algorithm 2's per-example energy ``E_i``:

* ``"running"`` (default): ``E_i = Energy(S_i)``, the energy of the running
  sum. The threshold (eq. 10, ``TH = Energy(S_n, D_v)``, times 0.9 in the
  paper's experiments) is an energy of summed logits, so this compares like with like and stays in [1/C, 1].
* ``"members"``: Algorithm 2 as printed, ``E_i = E_{i-1} + Energy(R_i)``,
  a sum of the members' own energies (not bounded by 1, and a residual's
  softmax is not a class posterior); offered for fidelity to the box.
"""

import math
import os

import keras
import numpy as np
from keras import ops

from keras_kd.api import register
from keras_kd.backend.processes import process_count
from keras_kd.data.batching import batch_examples
from keras_kd.distillers.base import Trainer
from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.taps import check_networks_by_keyword, logits_shape
from keras_kd.files import load_model, save_model, write_json
from keras_kd.losses.kd import check_temperature, check_unit_interval, kl_divergence
from keras_kd.losses.softmax_l2 import SoftmaxL2, softmax_l2
from keras_kd.losses.supervised import weighted_mean
from keras_kd.models.deploy import image_shape, takes_raw_images, with_preprocessing
from keras_kd.models.probe import InferenceProbe
from keras_kd.nas.search import ResStudentSearch, describe
from keras_kd.validation import check_choice, check_non_negative

ENERGY_MODES = ("running", "members")
DIVERGENCES = ("l2", "kl")
HARD_LABEL_TARGETS = ("sum", "member")

# li2021 §IV-B2: "We set tau = 0.9/0.5/0.5/0.1 for S_0 on CIFAR-10 / CIFAR-100
# / Tiny-ImageNet / ImageNet, tau = 0.1 for R_1 on all datasets and t = 20 in
# all situations." Eq. 3's L_{T-S} is L2 (§IV-A) for both stages.
RESKD_STAGE_SETTINGS = {
    "cifar10": {"temperature": 20.0, "student_tau": 0.9, "res_student_tau": 0.1},
    "cifar100": {"temperature": 20.0, "student_tau": 0.5, "res_student_tau": 0.1},
    "tiny_imagenet": {"temperature": 20.0, "student_tau": 0.5, "res_student_tau": 0.1},
    "imagenet": {"temperature": 20.0, "student_tau": 0.1, "res_student_tau": 0.1},
}


def energy(logits):
    """Per-example ``||softmax(logits)||_2^2`` (li2021 eq. 8) of numpy logits, in float64.

    Args:
        logits: numpy-convertible logits, shape (batch, classes).
    """
    logits = np.asarray(logits, np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.sum(p * p, axis=-1)


def energy_of_tensor(logits):
    """``energy`` of backend logits, in float32 on the device (the metric of ``energy_across_processes``)."""
    return ops.sum(ops.square(ops.softmax(ops.cast(logits, "float32"))), axis=-1)


def dataset_energy(model, x, batch_size=256):
    """``Energy(model, D)`` (eq. 9): mean example energy of ``model`` on ``x``.

    Algorithm 1 stops adding res-students once ``dataset_energy(S_i, D_v)``
    exceeds 90% of the teacher's; ``TH_energy = dataset_energy(S_n, D_v)``.

    Args:
        model: a Keras model producing logits.
        x: the examples (what ``model.predict`` takes).
        batch_size: batch size of the prediction.
    """
    if process_count() > 1:
        return energy_across_processes(model, x, batch_size)
    return float(np.mean(energy(model.predict(x, batch_size=batch_size, verbose=0))))


def energy_across_processes(model, x, batch_size):
    """``dataset_energy`` in a multi-process job, where Keras' ``predict`` cannot fetch outputs that span
    other processes' devices: the mean of eq. 8 over ``x`` through ``evaluate`` (float32, on the devices),
    every global batch full (the last padded with zero-weight repeats, ``keras_kd.data.batching``)."""
    import tensorflow as tf

    processes = process_count()
    batch = -(-min(batch_size, len(x)) // processes) * processes  # divisible by the processes
    examples = tf.data.Dataset.from_tensor_slices((np.asarray(x), np.zeros(len(x), "int32")))
    data = batch_examples(examples, batch, "pad", len(x))
    probe = InferenceProbe(model, keras.metrics.MeanMetricWrapper(lambda _, logits: energy_of_tensor(logits),
                                                                  name="energy"), name="energy_probe")
    return float(probe.evaluate(data, verbose=0, return_dict=True)["energy"])


def summed_logits(models, inputs, training):
    """``models[0](x) + models[1](x) + ...`` in that order (li2021 eq. 5)."""
    total = models[0](inputs, training=training)
    for model in models[1:]:
        total = total + model(inputs, training=training)
    return total


BUCKETS = 8


def _bucket(count, cap):
    """The padded size of ``count`` gathered rows: the next multiple of ``cap / BUCKETS``."""
    step = max(1, math.ceil(cap / BUCKETS))
    return min(cap, step * math.ceil(count / step))


@register
class ResidualEnsemble(Trainer):
    """A ResKD student ``S_0 + sum R_i`` with sample-adaptive inference.

    Args:
        members: ``[S_0, R_1, ..., R_n]``, built models with equal outputs.
        threshold: ``TH_energy`` for ``predict_adaptive`` (a number >= 0), or
            ``None`` (always the full sum).
        energy_mode: ``"running"`` (default) or ``"members"``; see the module.

    Example:

    >>> ensemble = ResidualEnsemble([s0, r1], threshold=0.9)  # doctest: +SKIP
    >>> logits, used = ensemble.predict_adaptive(x_test)  # doctest: +SKIP
    """

    networks = {"members": "trained"}

    def __init__(self, members, threshold=None, energy_mode="running", **kwargs):
        kwargs.setdefault("name", "residual_ensemble")
        super().__init__(**kwargs)
        members = list(members) if isinstance(members, (list, tuple)) else members
        if not isinstance(members, list) or not members:
            raise ValueError(f"`members` must be a non-empty list of models. Received: members={members!r}")
        self.declare_networks(members=members)
        if threshold is not None:
            threshold = check_non_negative(threshold, "threshold")
        check_choice(energy_mode, "energy_mode", ENERGY_MODES)
        self.threshold = None if threshold is None else float(threshold)
        self.energy_mode = energy_mode
        self.built = True

    def deployable(self):
        return self

    def inference_logits(self, images, training=None):
        return summed_logits(self.members, images, training)

    def train_outputs(self, images, index):
        return summed_logits(self.members, images, True)

    def loss_parts(self, x, y, y_pred, sample_weight):
        """The supervised loss of the sum (fine-tuning every member), logged as ``loss`` alone."""
        return {"supervised": (self.supervised_loss(y, y_pred, sample_weight), 1.0)}

    def with_preprocessing(self, mean, std):
        """This ensemble with every member behind ``kd.models.with_preprocessing``:
        it takes raw 0-255 images (uint8 or float), in ``predict_adaptive`` too."""
        members = [with_preprocessing(member, mean, std) for member in self.members]
        return ResidualEnsemble(members, self.threshold, self.energy_mode, name=f"{self.name}_raw")

    def predict_adaptive(self, x, batch_size=256):
        """Algorithm 2 on numpy inputs: images normalized as in training, or raw
        0-255 images for an ensemble from ``with_preprocessing``.

        Returns:
            ``(logits, used)``: numpy logits of each example's ``S_L`` and the
            number of members each example used (1 = ``S_0`` alone).
        """
        if self.threshold is None:
            raise ValueError("predict_adaptive needs a threshold. Received: threshold=None")
        x = self._numpy_images(x)
        outputs, counts = [], []
        for start in range(0, len(x), batch_size):
            logits, used = self._adaptive_batch(x[start : start + batch_size])
            outputs.append(logits)
            counts.append(used)
        return np.concatenate(outputs), np.concatenate(counts)

    def _numpy_images(self, x):
        """``x`` as float32 numpy; integer (raw) images only for members that normalize them."""
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer) and not takes_raw_images(self.members[0]):
            raise ValueError(
                "`x` holds integer (raw) images, but the members take images normalized as in training. "
                "Use ensemble.with_preprocessing(mean, std) with the statistics of kd.data.statistics(...), "
                f"or normalize x. Received: x with dtype {x.dtype}"
            )
        return x.astype("float32", copy=False)

    def _adaptive_batch(self, x):
        def residual_of(member, active):
            size = _bucket(len(active), len(x)) if member.jit_compile else len(active)
            rows = np.concatenate([active, np.repeat(active[:1], size - len(active))])
            return np.asarray(member.predict_on_batch(x[rows]), np.float32)[: len(active)]

        first = np.asarray(self.members[0].predict_on_batch(x), np.float32)
        return self._algorithm2(first, self.members[1:], residual_of, self.threshold)

    def _algorithm2(self, first, members, residual_of, threshold):
        """Algorithm 2 from ``S_0``'s logits: each next member's ``residual_of(member, active rows)`` is
        added where the energy so far is at most ``threshold``. Returns ``(logits, used)``."""
        logits, current = first.copy(), energy(first)
        used = np.ones(len(first), np.int64)
        for member in members:
            active = np.nonzero(current <= threshold)[0]
            if not len(active):
                break
            residual = residual_of(member, active)
            logits[active] = logits[active] + residual
            if self.energy_mode == "running":
                current[active] = energy(logits[active])
            else:
                current[active] = current[active] + energy(residual)
            used[active] += 1
        return logits, used

    def predict_sweep(self, x, thresholds, batch_size=256):
        """``predict_adaptive`` at each of ``thresholds`` (li2021 Fig. 4's curve), every member run once
        on all of ``x``: the exits are chosen from the stored logits.

        Args:
            x: numpy images, as for ``predict_adaptive``.
            thresholds: the ``TH_energy`` values.
            batch_size: images per ``predict`` batch.

        Returns:
            a list of ``(logits, used)``, one per threshold.
        """
        thresholds = [check_non_negative(t, "thresholds") for t in thresholds]
        x = self._numpy_images(x)
        outputs = [np.asarray(m.predict(x, batch_size=batch_size, verbose=0), np.float32) for m in self.members]
        return [self._algorithm2(outputs[0], outputs[1:], lambda residuals, active: residuals[active], t)
                for t in thresholds]

    def skipped_fraction(self, used):
        """Share of res-student evaluations skipped, given ``used`` per example."""
        res_students = len(self.members) - 1
        if not res_students:
            return 0.0
        return 1.0 - float(np.sum(np.asarray(used) - 1)) / (len(used) * res_students)

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold, "energy_mode": self.energy_mode})
        return config


@register
class ResidualDistiller(Trainer):
    """Trains res-student ``R_i`` on ``T_i = T - S_{i-1}`` (li2021 eq. 3-5).

    Loss per example (eq. 3 with ``S = R_i`` and teacher ``T_i``):
    ``tau * t^2 * L(softmax(R_i / t), softmax(T_i / t)) + (1 - tau) * CE``,
    ``L`` the squared L2 distance (``"l2"``, the paper's default) or
    ``KL(softmax(T_i/t) || softmax(R_i/t))`` (``"kl"``). Softmax is
    shift-invariant, so matching ``softmax(T_i / t)`` makes ``S_{i-1} + R_i``
    match the teacher up to a per-example constant. The paper does not say
    which logits the hard-label CE sees; ``hard_labels="sum"`` (default)
    applies it to ``S_i = S_{i-1} + R_i`` -- with the paper's ``tau = 0.1``
    the res-student must then correct ``S_{i-1}``'s errors rather than
    become a classifier of its own; ``"member"`` applies it to ``R_i``.

    The networks are keyword-only, as ``Distiller``'s.

    Args:
        res_student: the model to train (``R_i``).
        teacher: the trained teacher ``T`` (frozen here).
        previous: ``[S_0, R_1, ..., R_{i-1}]`` (frozen here).
        temperature: t; li2021 §IV-B2: "t = 20 in all situations".
        tau: KD weight; li2021 §IV-B2: "tau = 0.1 for R_1 on all datasets".
        divergence: ``"l2"`` or ``"kl"``.
        hard_labels: ``"sum"`` or ``"member"``.

    ``call`` returns the logits of ``S_i = S_{i-1} + R_i``, so compiled
    metrics, ``evaluate`` and ``predict`` describe the new student.
    """

    networks = {"res_student": "trained", "teacher": "frozen", "previous": "frozen"}

    def __init__(
        self,
        *args,
        res_student=None,
        teacher=None,
        previous=None,
        temperature=20.0,
        tau=0.1,
        divergence="l2",
        hard_labels="sum",
        **kwargs,
    ):
        check_networks_by_keyword("ResidualDistiller", args, res_student=res_student, teacher=teacher,
                                  previous=previous)
        kwargs.setdefault("name", "residual_distiller")
        super().__init__(**kwargs)
        previous = list(previous) if isinstance(previous, (list, tuple)) else previous
        if not isinstance(previous, list) or not previous:
            raise ValueError(f"`previous` must list S_0 and any earlier res-students. Received: previous={previous!r}")
        self.declare_networks(res_student=res_student, teacher=teacher, previous=previous)
        temperature, tau = check_temperature(temperature), check_unit_interval(tau, "tau")
        check_choice(divergence, "divergence", DIVERGENCES)
        check_choice(hard_labels, "hard_labels", HARD_LABEL_TARGETS)
        shapes = {m.name: logits_shape(m)[-1] for m in [res_student, teacher, *self.previous]}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                "`res_student`, `teacher` and `previous` must predict the same classes. "
                f"Received class counts: {shapes}"
            )
        self.temperature, self.tau = temperature, tau
        self.divergence, self.hard_labels = divergence, hard_labels
        self.track_parts(["residual_kd_loss", "student_loss"], labelled=["student_loss"])
        self.built = True

    def deployable(self):
        """``S_i = S_{i-1} + R_i``, the student this stage makes."""
        return ResidualEnsemble(self.previous + [self.res_student])

    def previous_logits(self, inputs):
        """``S_{i-1}(x)``: the sum of the frozen earlier members."""
        return summed_logits(self.previous, inputs, training=False)

    def residual_target(self, inputs):
        """``T_i(x) = T(x) - S_{i-1}(x)``, the res-student's teacher."""
        return self.teacher(inputs, training=False) - self.previous_logits(inputs)

    def inference_logits(self, images, training=None):
        """``S_{i-1} + R_i``."""
        return self.previous_logits(images) + self.res_student(images, training=training)

    def train_outputs(self, images, index):
        """A dict of ``previous``, ``residual`` and the ``teacher`` logits, the frozen
        networks run first (on torch CPU a frozen pass after the trained one
        page-faults, see ``Distiller.train_outputs``)."""
        previous = self.previous_logits(images)
        teacher = self.teacher(images, training=False)
        residual = self.res_student(images, training=True)
        return {"previous": previous, "residual": residual, "teacher": teacher}

    def loss_parts(self, x, y, y_pred, sample_weight):
        """``residual_kd_loss`` (eq. 3's KD part, tau included) and ``student_loss``
        (the hard-label CE, weighted ``1 - tau``)."""
        previous, residual = y_pred["previous"], y_pred["residual"]
        target = ops.stop_gradient(y_pred["teacher"] - previous)
        t = self.temperature
        divergence = softmax_l2 if self.divergence == "l2" else kl_divergence
        kd = weighted_mean(self.tau * t**2 * divergence(target, residual, t), sample_weight)
        logits = previous + residual if self.hard_labels == "sum" else residual
        return {"residual_kd_loss": (kd, 1.0),
                "student_loss": (self.supervised_loss(y, logits, sample_weight), 1.0 - self.tau)}

    def metric_logits(self, y_pred):
        """``S_{i-1} + R_i``, so compiled metrics describe the new student."""
        if isinstance(y_pred, dict):
            return y_pred["previous"] + y_pred["residual"]
        return y_pred

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "tau": self.tau,
                "divergence": self.divergence,
                "hard_labels": self.hard_labels,
            }
        )
        return config


def res_student_trainer(res_student, teacher, previous, settings="cifar10", **stage_kwargs):
    """A ``ResidualDistiller`` training ``res_student`` as the next R_i with li2021's eq. 3 for a dataset.

    The stage ``train_reskd`` runs for every R_i, for one stage alone (a res-student trained on a kept S_0):
    ``t`` and ``tau_R`` from ``RESKD_STAGE_SETTINGS[settings]`` (li2021 §IV-B2: "tau = 0.1 for R_1 on all
    datasets and t = 20 in all situations"), overridden by ``stage_kwargs``.

    Args:
        res_student: the untrained res-student R_i.
        teacher: trained teacher (frozen).
        previous: the trained S_0, R_1, ..., R_{i-1}.
        settings: a key of ``RESKD_STAGE_SETTINGS``.
        **stage_kwargs: other ``ResidualDistiller`` arguments (``divergence``, ``hard_labels``, ...).
    """
    check_choice(settings, "settings", RESKD_STAGE_SETTINGS)
    paper = RESKD_STAGE_SETTINGS[settings]
    stage_kwargs = {"temperature": paper["temperature"], "tau": paper["res_student_tau"], **stage_kwargs}
    return ResidualDistiller(res_student=res_student, teacher=teacher, previous=previous, **stage_kwargs)


def train_reskd(
    teacher,
    student,
    res_students,
    train_data,
    validation_x,
    optimizer_fn,
    fit_kwargs=None,
    student_losses=None,
    stage_kwargs=None,
    energy_ratio=0.9,
    threshold_ratio=0.9,
    directory=None,
    settings="cifar10",
):
    """Algorithm 1 of li2021: S_0, then res-students until the energy rule.

    Stage 0 distils ``student`` (S_0) from ``teacher`` with a ``Distiller``
    on eq. 3 with L2, ``SoftmaxL2(t, tau_S0)``: "when it is not mentioned, we
    use L_2 loss function for the L_{T-S} in Eq. (3)" (li2021 §IV-A). Then,
    as in Algorithm 1's repeat-until loop, each next model of
    ``res_students`` is trained as ``R_i`` by ``ResidualDistiller`` (eq. 3
    with L2 on ``T_i``, ``tau_R``) until
    ``Energy(S_i, D_v) > energy_ratio * Energy(T, D_v)`` or the list ends.
    ``TH_energy = threshold_ratio * Energy(S_n, D_v)`` becomes the ensemble's
    threshold: eq. 10 and Algorithm 1 print ``threshold_ratio = 1``, while
    the experiments (li2021 §IV-B2, "90% of the final student network's
    energy", TH 0.88 on CIFAR-100) use 0.9, the default here.

    ``t``, ``tau_S0`` and ``tau_R`` come from ``RESKD_STAGE_SETTINGS[settings]``
    (li2021 §IV-B2: "We set tau = 0.9/0.5/0.5/0.1 for S_0 on CIFAR-10 /
    CIFAR-100 / Tiny-ImageNet / ImageNet, tau = 0.1 for R_1 on all datasets
    and t = 20 in all situations"); the paper names tau for R_1 only, and
    its R_2 runs (Table VI, Res20-20-20) state no other, so every R_i uses it.
    Eq. 3 with KL (Table VI's "KL" rows; it is Hinton KD with T = t and
    alpha = tau): ``student_losses=[kd.losses.KD(temperature=20, alpha=0.9)]``
    and ``stage_kwargs={"divergence": "kl"}``. This function's former S_0
    default, Hinton KD at T = 4, alpha = 0.9 (crowley2018's setting), is
    ``student_losses=[kd.losses.KD()]``.

    Args:
        teacher: trained teacher (frozen).
        student: untrained S_0.
        res_students: untrained candidates R_1, R_2, ... (at most this many stages); an entry may be a
            ``kd.nas.ResStudentSearch``, whose stage first searches the res-student's architecture with the
            stage's loss (li2021 §III-B1, eq. 6 with eq. 3; searched in ``directory/stage_<i>_search``).
        train_data: a dataset of (x, y) batches, or an ``(x, y)`` tuple.
        validation_x: the validation images D_v (numpy), carved from train.
        optimizer_fn: no-argument callable returning a fresh optimizer per stage.
        fit_kwargs: extra ``fit`` arguments (``epochs``, ``callbacks``, ...).
        student_losses: S_0's ``Distiller`` terms; default
            ``[SoftmaxL2(temperature=t, tau=tau_S0)]``.
        stage_kwargs: ``ResidualDistiller`` arguments for every R_i (``res_student_trainer``), over
            the defaults ``temperature=t, tau=tau_R``.
        energy_ratio: the stop rule's share of the teacher's energy (0.9).
        threshold_ratio: ``TH_energy``'s share of ``Energy(S_n, D_v)`` (0.9).
        directory: if given, every finished stage is saved there as
            ``stage_<i>.keras`` and a later call resumes after the last one. In a multi-process job every
            process writes the same files (atomically: identical bytes), so the directory may be shared
            or per host; every process must find the same stages there when resuming.
        settings: a key of ``RESKD_STAGE_SETTINGS`` (``"cifar10"``,
            ``"cifar100"``, ``"tiny_imagenet"``, ``"imagenet"``): the
            paper's t and taus for that dataset. Default ``"cifar10"``.

    Returns:
        ``(ensemble, record)``: a ``ResidualEnsemble`` with the threshold, and
        ``{"teacher_energy", "energies" (of S_0..S_n), "threshold_ratio",
        "threshold", "searched"}``, where ``"searched"`` maps the index of each searched R_i to its
        genotype, parameters and MFLOPs (li2021's convention).
    """
    fit_kwargs = dict(fit_kwargs or {})
    energy_ratio = check_non_negative(energy_ratio, "energy_ratio")
    threshold_ratio = check_non_negative(threshold_ratio, "threshold_ratio")
    check_choice(settings, "settings", RESKD_STAGE_SETTINGS)
    paper = RESKD_STAGE_SETTINGS[settings]
    if student_losses is None:
        student_losses = [SoftmaxL2(temperature=paper["temperature"], tau=paper["student_tau"])]
    stage_kwargs = stage_kwargs or {}
    teacher_energy = dataset_energy(teacher, validation_x)

    def stage(index, build, make_trainer):
        """The trained model of stage ``index``: loaded if saved, else ``build()`` trained and saved."""
        path = os.path.join(directory, f"stage_{index}.keras") if directory else None
        if path is not None and os.path.exists(path):
            return load_model(path)
        model = build()
        trainer = make_trainer(model)
        trainer.compile(optimizer=optimizer_fn())
        data = train_data if isinstance(train_data, tuple) else (train_data,)
        trainer.fit(*data, **fit_kwargs)
        if path is not None:
            os.makedirs(directory, exist_ok=True)
            save_model(model, path)
        return model

    def searched(index, spec, make_trainer):
        """The trained res-student of a ``ResStudentSearch`` (searched with the stage's loss), and its record."""
        shape, classes = image_shape(teacher), logits_shape(teacher)[-1]
        search_kwargs = {k: v for k, v in fit_kwargs.items() if k not in ("epochs", "batch_size")}
        genotype = spec.search(make_trainer, train_data, classes, shape, search_kwargs,
                               os.path.join(directory, f"stage_{index}_search") if directory else None)
        model = stage(index, lambda: spec.build(genotype, classes, shape, name=f"searched_r{index}"), make_trainer)
        return model, describe(model, genotype)

    members = [stage(0, lambda: student, lambda s: Distiller(student=s, teacher=teacher, losses=student_losses))]
    energies, searches = [dataset_energy(members[0], validation_x)], {}
    for index, candidate in enumerate(res_students, start=1):
        previous = list(members)

        def make_trainer(r, previous=previous):
            return res_student_trainer(r, teacher, previous, settings, **stage_kwargs)

        if isinstance(candidate, ResStudentSearch):
            member, searches[index] = searched(index, candidate, make_trainer)
        else:
            member = stage(index, lambda: candidate, make_trainer)
        members.append(member)
        energies.append(dataset_energy(ResidualEnsemble(members), validation_x))
        if energies[-1] > energy_ratio * teacher_energy:
            break
    threshold = threshold_ratio * energies[-1]
    record = {"teacher_energy": teacher_energy, "energies": energies, "threshold_ratio": threshold_ratio,
              "threshold": threshold, "searched": searches}
    if directory:
        write_json(os.path.join(directory, "reskd.json"), record)
    return ResidualEnsemble(members, threshold=threshold), record
