"""Contrastive representation distillation (Tian et al. 2020, "Contrastive Representation Distillation",
ICLR 2020, arXiv:1910.10699; tian2020), as the authors' code (RepDistiller ``crd/``, also mdistiller's).

Both sides' pooled features are embedded (a linear layer each, then L2-normalized) to ``feat_dim``. Two
memory banks of N rows (one per side, rows uniform in ``±1/sqrt(feat_dim/3)``) hold a slowly moving
embedding of every training example. Each example is contrasted with K+1 memory rows of the *other* side:
its positive (row 0) and K negatives; ``P = exp(<row, embedding> / T) / Z`` with ``Z`` set once, from the
first batch, to ``mean(exp(...)) * N``. The NCE loss (the code's ``ContrastLoss``, eq. 18) of one side is
``-log(P_0 / (P_0 + K/N + eps)) - sum_k log((K/N) / (P_k + K/N + eps))``; the term adds both sides
(student anchored on the teacher's memory and the reverse). After the loss, the batch's rows of each memory
move: ``row <- normalize(momentum * row + (1 - momentum) * embedding)``.

Which rows (``mode``), as the code's dataset (``CIFAR100InstanceSample``) and memory:

* ``"exact"`` (the code's default, its published numbers): the positive is the example itself, the K
  negatives are drawn without replacement among the examples of other classes, independently per example
  (``np.random.choice(cls_negative[target], k, replace=False)``); needs the training labels.
* ``"relax"``: the positive is a random example of the same class; negatives as ``"exact"``.
* ``"uniform"``: the memory's own draw when no indices are given: K+1 rows uniform over all N examples with
  replacement, row 0 set to the example itself. No labels; O(batch x K) per step where the class-aware
  draws are O(batch x N) (a top-K of batch x N random keys: on this CPU, 0.03 s (torch) to 0.31 s (JAX) for
  batch 64, N = 50,000, K = 16,384).

The draws use a seeded ``keras.random.SeedGenerator`` whose state is saved with the term, so a resumed
run draws what an uninterrupted one would; under ``tf.distribute`` each replica draws its own. Defaults: RepDistiller's ``train_student.py`` (feat_dim 128,
K 16384, T 0.07, momentum 0.5) and ``scripts/run_cifar_distill.sh`` (weight 0.8 beside cross-entropy 1).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_kd.backend.replica_state import add_to_rows, replica_uniform
from keras_kd.losses.registry import term
from keras_kd.losses.relations import TapTerm, flatten_pair
from keras_kd.validation import check_choice, check_int, check_non_negative, check_number

MODES = ("exact", "relax", "uniform")
SEED_KEY = "crd_seed_generator_state"
EPS = 1e-7  # the code's ``eps`` in ContrastLoss
DENSE_RATIO = 16  # scores from all N memory rows up to N = 16 (K+1) (``contrast_scores``)


def l2_normalize(x):
    """Rows of ``x`` divided by their L2 norm (floored at 1e-12, as torch's ``F.normalize``)."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)


def contrast_scores(memory, rows, embeddings, temperature):
    """``exp(<memory[rows[b, k]], embeddings[b]> / T)``: (B, K+1) from the memory (N, D), rows (B, K+1) and
    embeddings (B, D); no gradient into the memory.

    Where N <= 16 (K+1) (CIFAR: 50,000 against 16,385) the products with all N rows are one matmul, then
    picked: 2.6x (TensorFlow) to 13x (torch) faster, forward and backward, on this CPU at batch 64 than gathering
    the B (K+1) rows of D values (137 MB per memory); beyond (ImageNet's N), the rows are gathered. Equal up
    to float rounding.

    Args:
        memory: the memory bank (N, D).
        rows: the memory rows scored per example (B, K+1), the positive first.
        embeddings: the examples' embeddings (B, D).
        temperature: the temperature T.
    """
    memory = ops.stop_gradient(memory)
    if memory.shape[0] <= DENSE_RATIO * rows.shape[1]:
        if keras.backend.backend() == "torch":  # backward reads it after the in-place row update of the step
            memory = ops.copy(memory)
        products = ops.take_along_axis(ops.matmul(embeddings, ops.transpose(memory)), rows, axis=1)
    else:
        products = ops.einsum("bkd,bd->bk", ops.take(memory, rows, axis=0), embeddings)
    return ops.exp(products / temperature)


def nce_loss(probabilities, num_examples):
    """The code's ``ContrastLoss`` per example: ``P`` is (B, K+1), the positive in column 0, N examples.

    Args:
        probabilities: the contrast probabilities (B, K+1), the positive in column 0.
        num_examples: N, the size of the training set.
    """
    noise = (probabilities.shape[1] - 1) / num_examples  # K * Pn
    positive = ops.log(probabilities[:, 0] / (probabilities[:, 0] + noise + EPS))
    negatives = ops.sum(ops.log(noise / (probabilities[:, 1:] + noise + EPS)), axis=-1)
    return -(positive + negatives)


def moved_rows(rows, embeddings, momentum):
    """``normalize(momentum * rows + (1 - momentum) * embeddings)``, the memory update of the code.

    Args:
        rows: the memory rows (B, D).
        embeddings: the examples' new embeddings (B, D).
        momentum: the share of the old rows.
    """
    return l2_normalize(momentum * rows + (1.0 - momentum) * embeddings)


@term
class CRD(TapTerm):
    """Contrastive representation distillation (tian2020) as the authors' code: ``weight * (NCE of the
    student's embedding against the teacher's memory + NCE of the teacher's against the student's)``.

    Batches are ``((images, index), labels)`` with each example's position in the training set
    (``keras_kd.data.load(..., with_index=True)``, or ``fit(x=(images, np.arange(n)), y=labels)``).

    Args:
        labels: the training set's N integer labels, by index (modes ``"exact"`` and ``"relax"``).
        num_examples: N, without ``labels`` (mode ``"uniform"``).
        weight: weight of the term (>= 0); RepDistiller's 0.8.
        feat_dim: width of the embeddings and memory rows (128).
        num_negatives: K (16384); at most the smallest number of examples outside a class.
        temperature: T of the scores (0.07).
        momentum: of the memory update (0.5).
        mode: ``"exact"``, ``"relax"`` or ``"uniform"`` (module docstring).
        seed: int seed of the memory's initial rows and the draws (``None``: random).
        tap: the tap of both networks (zoo models' pooled ``"embedding"``, the code's ``feat[-1]``).
    """

    default_name = "crd"
    needs_index = True

    def __init__(self, labels=None, num_examples=None, weight=0.8, feat_dim=128, num_negatives=16384,
                 temperature=0.07, momentum=0.5, mode="exact", seed=None, tap="embedding", **kwargs):
        super().__init__(tap=tap, **kwargs)
        self.mode = check_choice(mode, "mode", MODES)
        labels = self._check_labels(labels, num_examples)
        self.num_examples = len(labels) if labels is not None else check_int(num_examples, "num_examples", low=2)
        self.weight = check_non_negative(weight, "weight")
        self.feat_dim = check_int(feat_dim, "feat_dim")
        self.num_negatives = check_int(num_negatives, "num_negatives")
        self.temperature = check_number(temperature, "temperature", 0, math.inf, low_open=True)
        self.momentum = check_number(momentum, "momentum", 0, 1, high_open=True)
        self.seed = None if seed is None else check_int(seed, "seed", low=None)
        self._check_negatives(labels)
        self.embed_student = keras.layers.Dense(self.feat_dim, dtype="float32", name="embed_student")
        self.embed_teacher = keras.layers.Dense(self.feat_dim, dtype="float32", name="embed_teacher")
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="crd_seed")
        bound = 1.0 / math.sqrt(self.feat_dim / 3)
        state = dict(trainable=False, dtype="float32", autocast=False)
        self.memory_student, self.memory_teacher = (
            self.add_weight(shape=(self.num_examples, self.feat_dim), aggregation="sum", name=f"memory_{side}",
                            initializer=keras.initializers.RandomUniform(-bound, bound, seed=self.seed_generator),
                            **state)
            for side in ("student", "teacher"))
        # Z of the student's and the teacher's scores; -1 until the first batch sets them
        self.normalizers = self.add_weight(shape=(2,), initializer=keras.initializers.Constant(-1.0),
                                           aggregation="mean", name="normalizers", **state)
        self.labels, self.labels_pending = None, False
        if self.mode != "uniform":
            self.labels = self.add_weight(shape=(self.num_examples,), dtype="int32", trainable=False,
                                          initializer="zeros", aggregation="only_first_replica", name="labels")
            self.labels.assign(labels)

    def _check_labels(self, labels, num_examples):
        if self.mode == "uniform":
            if labels is not None:
                raise ValueError(f"mode='uniform' draws without labels; pass num_examples. Received: labels={labels!r}")
            return None
        if labels is None:
            raise ValueError(
                f"mode={self.mode!r} draws negatives from other classes: pass the training labels by index "
                "(labels=...), or mode='uniform' with num_examples. Received: labels=None")
        array = np.asarray(labels)
        if array.ndim != 1 or array.dtype.kind not in "iu" or len(array) < 2 or array.min() < 0:
            raise ValueError(
                "`labels` must be the 1-D non-negative integer labels of the N >= 2 training examples, by index. "
                f"Received: labels with shape {array.shape} and dtype {array.dtype}")
        if num_examples is not None and num_examples != len(array):
            raise ValueError(f"`num_examples` must equal len(labels)={len(array)}. Received: num_examples={num_examples!r}")
        return array.astype("int32")

    def _check_negatives(self, labels):
        outside = self.num_examples if labels is None else self.num_examples - np.bincount(labels).max()
        if self.mode != "uniform" and self.num_negatives > outside:
            raise ValueError(
                f"`num_negatives` must be at most {outside}, the fewest examples outside one class (drawn without "
                f"replacement, as the code for CIFAR). Received: num_negatives={self.num_negatives}")

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        for layer, (_, taps) in ((self.embed_student, student_shapes), (self.embed_teacher, teacher_shapes)):
            if not layer.built:
                layer.build((None, math.prod(taps[self.tap][1:])))

    def contrast_rows(self, index):
        """(B, K+1) memory rows: the positive in column 0, then K negatives (``mode``)."""
        index = ops.cast(index, "int32")
        batch, k = ops.shape(index)[0], self.num_negatives
        if self.mode == "uniform":
            draws = replica_uniform((batch, k), self.seed_generator, "int32", maxval=self.num_examples)
            return ops.concatenate([index[:, None], draws], axis=1)
        if self.labels_pending:
            raise ValueError("This CRD was built from a config without its weights: its labels are placeholders. "
                             "Load the saved trainer (keras.saving.load_model) or build CRD(labels=...).")
        classes = ops.take(self.labels.value, index)
        same = ops.equal(self.labels.value[None, :], classes[:, None])
        keys = replica_uniform((batch, self.num_examples), self.seed_generator)
        negatives = ops.top_k(ops.where(same, -1.0, keys), k, sorted=False)[1]
        positive = index[:, None]
        if self.mode == "relax":
            keys = replica_uniform((batch, self.num_examples), self.seed_generator)
            positive = ops.argmax(ops.where(same, keys, -1.0), axis=1)[:, None]
        return ops.concatenate([ops.cast(positive, "int32"), ops.cast(negatives, "int32")], axis=1)

    def embeddings(self, student, teacher):
        s, t = flatten_pair(*self.features(student, teacher), "CRD")
        return l2_normalize(self.embed_student(s)), l2_normalize(self.embed_teacher(t))

    def contrast(self, student_embeddings, teacher_embeddings, rows):
        """Per-example NCE of both sides on the memory ``rows`` (B, K+1); sets Z on the first call."""
        scores_student = contrast_scores(self.memory_teacher.value, rows, student_embeddings, self.temperature)
        scores_teacher = contrast_scores(self.memory_student.value, rows, teacher_embeddings, self.temperature)
        first = ops.stack([ops.mean(scores_student), ops.mean(scores_teacher)]) * self.num_examples
        self.normalizers.assign(ops.where(self.normalizers.value < 0, ops.stop_gradient(first), self.normalizers.value))
        z = self.normalizers.value
        return (nce_loss(scores_student / z[0], self.num_examples)
                + nce_loss(scores_teacher / z[1], self.num_examples))

    def update_memory(self, index, student_embeddings, teacher_embeddings):
        """Moves the batch's rows of both memories towards the embeddings (no gradient)."""
        index = ops.cast(index, "int32")
        for memory, embeddings in ((self.memory_student, student_embeddings),
                                   (self.memory_teacher, teacher_embeddings)):
            old = ops.take(memory.value, index, axis=0)
            add_to_rows(memory, index, moved_rows(old, ops.stop_gradient(embeddings), self.momentum) - old)

    def parts(self, step):
        if step.index is None:
            raise ValueError("CRD reads each example's index: batches must be ((images, index), labels). "
                             f"Received images only: x={step.inputs!r}")
        student_embeddings, teacher_embeddings = self.embeddings(step.student, step.teacher)
        loss = self.contrast(student_embeddings, teacher_embeddings, self.contrast_rows(step.index))
        self.update_memory(step.index, student_embeddings, teacher_embeddings)
        return {"loss": self.weight * loss}

    def save_own_variables(self, store):
        """Also saves the draws' RNG state (Keras saves no SeedGenerator state)."""
        super().save_own_variables(store)
        store[SEED_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        self.labels_pending = False
        self.seed_generator.state.assign(store[SEED_KEY])
        super().load_own_variables({key: store[key] for key in store.keys() if key != SEED_KEY})

    def get_config(self):
        return {**super().get_config(), "num_examples": self.num_examples, "weight": self.weight,
                "feat_dim": self.feat_dim, "num_negatives": self.num_negatives, "temperature": self.temperature,
                "momentum": self.momentum, "mode": self.mode, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        """The labels are state: placeholders of the saved size until the saved weights load (drawing before
        raises)."""
        config = dict(config)
        if config.get("mode", "exact") == "uniform":
            return cls(**config)
        term = cls(labels=np.arange(config.pop("num_examples")), **config)
        term.labels_pending = True
        return term
