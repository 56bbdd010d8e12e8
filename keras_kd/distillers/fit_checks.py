"""Checks of ``fit``'s and ``evaluate``'s data before any step runs.

A wrong image size, label layout or class count otherwise fails deep in a
backend's traced step (and on JAX a failed trace leaves the variables
emptied); NaN images train to NaN weights silently. Every
trainer checks ``x`` and ``y`` (and ``fit``'s ``validation_data``) against
its input network first: in-memory arrays fully (shapes, finite values,
label range), ``tf.data`` datasets by their ``element_spec`` (values are
only seen while training: use ``keras.callbacks.TerminateOnNaN`` there),
``keras.utils.PyDataset`` and torch ``DataLoader`` input fully, each batch
as it is read (``batch_checks``). Python generators are not checked.
"""

import functools
import inspect

import keras
import numpy as np

from keras_kd.distillers.batch_checks import BatchChecks, batch_has_labels
from keras_kd.distillers.taps import logits_shape
from keras_kd.models.deploy import image_shape, shapes_agree


def _shape(value):
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


def check_images(shape, expected, values=None):
    """Raises ValueError naming ``x`` for images of the wrong shape or not finite."""
    if shape is None or expected is None:
        return
    if not shape or not shapes_agree(shape[1:], expected):
        raise ValueError(
            f"`x` must be images of shape (batch, {', '.join(map(str, expected))}) for this "
            f"model. Received: x with shape {shape}"
        )
    if values is not None and np.issubdtype(values.dtype, np.floating):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise ValueError(f"`x` must be finite. Received: x with {bad} NaN or inf values")


def check_labels(shape, classes, values=None):
    """Raises ValueError naming ``y`` unless it is sparse (batch,)/(batch, 1) labels
    in ``[0, classes)`` or one-hot (batch, classes)."""
    if shape is None:
        return
    one_hot = len(shape) == 2 and shape[1] == classes and classes != 1
    sparse = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
    if not (one_hot or sparse):
        raise ValueError(
            f"`y` must be sparse labels (batch,) or one-hot labels (batch, {classes}) for "
            f"networks that predict {classes} classes. Received: y with shape {shape}"
        )
    if values is not None and sparse and np.size(values):
        low, high = np.min(values), np.max(values)
        if low < 0 or high >= classes or not np.all(np.equal(np.mod(values, 1), 0)):
            wrong = next(v for v in np.ravel(values).tolist() if v < 0 or v >= classes or v % 1)
            raise ValueError(
                f"`y` must hold class indices in [0, {classes}): the networks predict "
                f"{classes} classes. Received: y with label {wrong!r}"
            )


def check_arrays(x, y, expected, classes):
    """Checks in-memory ``x`` (images, or ``(images, index)``) and ``y``: numpy
    arrays by shape and values, anything else with a shape by shape."""
    images = x[0] if isinstance(x, (tuple, list)) and x else x
    values = images if isinstance(images, np.ndarray) else None
    check_images(_shape(images), expected, values)
    labels = np.asarray(y) if isinstance(y, (np.ndarray, list)) else y
    check_labels(_shape(labels), classes, labels if isinstance(labels, np.ndarray) else None)


def check_fit_data(x, y, model):
    """Checks ``fit``'s ``x`` (images, or ``(images, index)``) and ``y`` for ``model``."""
    classes = logits_shape(model)[-1]
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        features, labels = (spec[0], spec[1]) if isinstance(spec, tuple) and len(spec) > 1 else (spec, None)
        images = features[0] if isinstance(features, tuple) else features
        check_images(_shape(images), image_shape(model))
        check_labels(_shape(labels), classes)
        return
    check_arrays(x, y, image_shape(model), classes)


def batch_checks(model):
    """``BatchChecks`` running ``check_arrays`` for ``model`` on each batch."""
    return BatchChecks(functools.partial(check_arrays, expected=image_shape(model), classes=logits_shape(model)[-1]))


def has_labels(x, y):
    """Whether ``fit(x, y)``'s data carries labels: False for images alone (arrays,
    or a ``tf.data`` dataset or ``PyDataset`` of images), None when it cannot be
    told cheaply (generators, torch DataLoaders, dict batches)."""
    if y is not None:
        return True
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        return isinstance(spec, tuple) and len(spec) > 1
    if isinstance(x, keras.utils.PyDataset):
        return None if x.num_batches == 0 else batch_has_labels(x[0])
    arrays = x if isinstance(x, (tuple, list)) else [x]
    return False if all(isinstance(a, np.ndarray) for a in arrays) else None


def split_validation_data(data):
    """``(x, y)`` of ``fit``'s ``validation_data``: a dataset, or a tuple ``(x, y[, weights])``."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


def by_keyword(method, args, kwargs):
    """``kwargs`` with ``method``'s arguments after ``(x, y)`` given positionally in ``args``
    (``fit(x, y, 32, 2, 0, None, 0.0, (x_val, y_val))`` checks its validation data too)."""
    signature = inspect.signature(method)
    try:
        bound = signature.bind(None, None, None, *args, **kwargs)  # self, x, y
    except TypeError as error:
        message = str(error)
        raise TypeError(f"{method.__name__}() {message if message.startswith('got') else 'got ' + message}") from None
    leading = list(signature.parameters)[:3]
    return {name: value for name, value in bound.arguments.items() if name not in leading}


def check_distribution(model):
    """Raises RuntimeError for a TensorFlow multi-worker strategy of several workers, which Keras 3's
    ``fit`` does not support (it fails converting per-replica values: keras-team/keras issue 20585)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    strategy = model.distribute_strategy
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    workers = strategy.cluster_resolver.cluster_spec().as_dict().get("worker", [])
    if len(workers) > 1:
        raise RuntimeError(
            f"{type(model).__name__} was built under tf.distribute.MultiWorkerMirroredStrategy with "
            f"{len(workers)} workers, which Keras 3's fit does not support on TensorFlow (keras-team/keras "
            "issue 20585). Train over several processes with JAX: `KERAS_BACKEND=jax python -m "
            "keras_kd.launch --num_processes N script.py` (docs/scaling-out.md); on one machine, "
            "tf.distribute.MirroredStrategy works.")


class FitChecks:
    """Mixin: ``fit`` and ``evaluate`` first check their data (and ``fit`` its
    ``validation_data``) against the network named by the class's
    ``input_network_attribute`` (the first one of a list), and ``fit`` refuses
    data without labels unless ``needs_labels`` is False."""

    input_network_attribute = None
    needs_labels = True

    def _input_network(self):
        network = getattr(self, self.input_network_attribute)
        return network[0] if isinstance(network, list) else network

    def fit(self, x=None, y=None, *args, **kwargs):
        check_distribution(self)
        kwargs = by_keyword(keras.Model.fit, args, kwargs)
        network = self._input_network()
        check_fit_data(x, y, network)
        checks = batch_checks(network)
        x = checks.wrap(x)
        if self.needs_labels and has_labels(x, y) is False:
            raise ValueError(
                f"{type(self).__name__} trains on labels: pass `y`, or a dataset of (images, labels). "
                "To distil on unlabeled images, use a Distiller whose terms need no labels "
                "(e.g. losses=[kd.losses.KD(alpha=1.0)], student_loss_weight=0). Received: y=None"
            )
        if kwargs.get("validation_data") is not None:
            check_fit_data(*split_validation_data(kwargs["validation_data"]), network)
            kwargs["validation_data"] = checks.wrap(kwargs["validation_data"])
        with checks.first_failure_raised():
            return super().fit(x, y, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        check_distribution(self)
        network = self._input_network()
        check_fit_data(x, y, network)
        checks = batch_checks(network)
        with checks.first_failure_raised():
            return super().evaluate(checks.wrap(x), y, *args, **kwargs)
