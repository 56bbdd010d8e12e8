"""Distillation terms by name: ``kd.losses.get("kd")``, ``kd.losses.names()``.

``@term`` registers a ``DistillationTerm`` subclass under its
``default_name`` and for Keras serialization; adding a method is its file,
its test and the import that runs its ``@term``.
"""

import keras

from keras_kd.api import register
from keras_kd.losses.term import DistillationTerm

TERMS = {}


def term(cls):
    """Class decorator: registers a term class by its ``default_name``.

    Args:
        cls: a ``DistillationTerm`` subclass with a ``default_name`` no other term has.
    """
    if not (isinstance(cls, type) and issubclass(cls, DistillationTerm)) or not cls.default_name:
        raise TypeError(f"@term needs a DistillationTerm subclass with a default_name. Received: {cls!r}")
    if TERMS.get(cls.default_name, cls) is not cls:
        raise ValueError(f"Two terms share the name {cls.default_name!r}: {TERMS[cls.default_name]!r} and {cls!r}")
    TERMS[cls.default_name] = register(cls)
    return cls


def names():
    """Names of the registered terms, sorted."""
    return sorted(TERMS)


def get(identifier, **kwargs):
    """A term from a name (``"kd"``, or its class name ``"KD"``), with ``kwargs``
    as its arguments; a serialized term (dict); or a term itself.

    Args:
        identifier: a term name (``kd.losses.names()``) or class name, a serialized term (dict), or a
            term.
        **kwargs: the term's arguments, with a name only.
    """
    if isinstance(identifier, DistillationTerm) and not kwargs:
        return identifier
    if isinstance(identifier, dict) and not kwargs:
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        by_class = {cls.__name__: cls for cls in TERMS.values()}
        cls = TERMS.get(identifier) or by_class.get(identifier)
        if cls is not None:
            return cls(**kwargs)
    raise ValueError(
        f"Unknown distillation term: identifier={identifier!r}"
        + (f" with kwargs={kwargs}" if kwargs else "")
        + f". Registered names: {names()} (or their class names), a serialized term, or a term instance"
    )
