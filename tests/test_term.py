"""The term API (keras_kd.losses.term, .registry): named parts, example index, state, names."""

import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from keras_kd.backend.replica_state import add_to_rows

CLASSES = 4


class TeacherBank(kd.losses.DistillationTerm):
    """A term with state by example (as CRD's memory bank): it pulls the student
    towards the teacher logits it stored for the example last epoch, then stores
    this epoch's; two parts."""

    default_name = "bank"
    part_names = ("pull", "seen")
    needs_index = True

    def __init__(self, num_examples, **kwargs):
        super().__init__(**kwargs)
        self.num_examples = num_examples
        self.bank = self.add_weight(shape=(num_examples, CLASSES), initializer="zeros", trainable=False,
                                    name="bank", aggregation="sum")

    def parts(self, step):
        rows = ops.cast(step.index, "int32")
        stored = ops.take(self.bank, rows, axis=0)
        add_to_rows(self.bank, rows, ops.cast(step.teacher_logits, "float32") - stored)
        pull = ops.mean(ops.square(ops.cast(step.student_logits, "float32") - stored), axis=-1)
        return {"pull": pull, "seen": ops.zeros_like(pull)}


def test_a_term_that_reads_the_index_must_say_how_many_examples(rng):
    term = TeacherBank(12)
    del term.num_examples
    with pytest.raises(ValueError, match=re.escape("needs_index=True but no integer num_examples")):
        kd.Distiller(student=dense_net(rng, "s"), teacher=dense_net(rng, "t"), losses=[term])


def dense_net(rng, name):
    inputs = keras.Input((6,))
    layer = keras.layers.Dense(CLASSES, name="out")
    model = keras.Model(inputs, layer(inputs), name=name)
    layer.set_weights([rng.standard_normal((6, CLASSES)).astype("float32"), np.zeros(CLASSES, "float32")])
    return model


def test_a_term_gets_the_example_index_keeps_state_by_row_and_logs_its_parts(rng):
    x, y = rng.standard_normal((12, 6)).astype("float32"), rng.integers(0, CLASSES, 12)
    teacher = dense_net(rng, "t")
    distiller = kd.Distiller(student=dense_net(rng, "s"), teacher=teacher, losses=[TeacherBank(12)])
    assert distiller.takes_index
    distiller.compile(optimizer="sgd")
    index = np.arange(12)
    history = distiller.fit((x, index), y, batch_size=4, epochs=1, shuffle=True, verbose=0).history
    assert {"bank_pull", "bank_seen", "student_loss"} <= set(history)
    assert history["bank_seen"] == [0.0]
    bank = ops.convert_to_numpy(distiller.terms[0].bank)
    np.testing.assert_allclose(bank, ops.convert_to_numpy(teacher(x)), rtol=1e-5, atol=1e-6)
    assert ops.convert_to_numpy(distiller.predict(x, verbose=0)).shape == (12, CLASSES)


def test_a_term_without_parts_or_per_example_says_so():
    class Empty(kd.losses.DistillationTerm):
        default_name = "empty"

    with pytest.raises(NotImplementedError, match="Empty implements neither per_example nor parts"):
        Empty().parts(kd.losses.Step(None, None, (None, {}), (None, {})))


def test_a_term_returning_undeclared_parts_is_refused(rng):
    class Undeclared(kd.losses.DistillationTerm):
        default_name = "undeclared"

        def parts(self, step):
            return {"other": ops.zeros_like(step.student_logits[:, 0])}

    x, y = rng.standard_normal((4, 6)).astype("float32"), rng.integers(0, CLASSES, 4)
    distiller = kd.Distiller(student=dense_net(rng, "s"), teacher=dense_net(rng, "t"), losses=[Undeclared()])
    distiller.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=re.escape("declares part_names=('loss',) but its parts() returned ('other',)")):
        distiller.fit(x, y, verbose=0)


def test_terms_are_found_by_name_or_class_name():
    assert {"kd", "at", "hint", "softmax_l2", "l2", "kl", "dkd"} <= set(kd.losses.names())
    term = kd.losses.get("kd", temperature=2.0)
    assert isinstance(term, kd.losses.KD) and term.temperature == 2.0 and term.name == "kd"
    assert isinstance(kd.losses.get("AttentionTransfer"), kd.losses.AttentionTransfer)
    assert kd.losses.get(term) is term
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert restored.get_config() == term.get_config()
    distiller = kd.Distiller(student=dense_net(np.random.default_rng(0), "s"),
                             teacher=dense_net(np.random.default_rng(1), "t"), losses=["kd", "l2"])
    assert [type(t) for t in distiller.terms] == [kd.losses.KD, kd.losses.LogitL2]


@pytest.mark.parametrize("identifier, kwargs, message", [
    ("dkdd", {}, "identifier='dkdd'. Registered names: ["),
    (3, {}, "identifier=3. Registered names: ["),
    ("kd", {"no_such_argument": 1}, "no_such_argument"),
])
def test_unknown_terms_and_arguments_are_named(identifier, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.losses.get(identifier, **kwargs)


def test_the_registry_refuses_a_second_term_of_the_same_name():
    class AnotherKD(kd.losses.DistillationTerm):
        default_name = "kd"

    with pytest.raises(ValueError, match="Two terms share the name 'kd'"):
        kd.losses.registry.term(AnotherKD)
    with pytest.raises(TypeError, match="@term needs a DistillationTerm subclass"):
        kd.losses.registry.term(dict)
