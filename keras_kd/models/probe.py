"""A network measured through ``evaluate``: ``InferenceProbe``.

Keras' ``predict`` cannot fetch outputs that span other processes' devices, so in a multi-process job
(``keras_kd.launch``) a quantity over a dataset is read through ``evaluate`` instead: a weighted metric on
the network's outputs in inference mode, the zero-weight repeats of a padded last batch
(``keras_kd.data.batching``) weighing nothing. ResKD's dataset energy (li2021 eq. 9) and the examples' test
accuracy are measured this way.
"""

import keras
from keras import ops

from keras_kd.api import register


@register
class InferenceProbe(keras.Model):
    """``network`` called in inference mode, compiled with ``metric`` as a weighted metric (``network``'s own
    compile state untouched).

    Args:
        network: the model measured.
        metric: a Keras metric on ``(labels, network outputs)``; its ``name`` is the key ``evaluate`` returns.
        loss: the loss ``evaluate`` reports too, or ``None`` (a metric only: the loss is 0).

    Example:

    >>> probe = InferenceProbe(kd.models.cifar_resnet(8, 10, input_shape=(8, 8, 3)),
    ...                        keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
    >>> x, y = np.zeros((4, 8, 8, 3), "float32"), np.zeros(4, "int64")
    >>> sorted(probe.evaluate(x, y, verbose=0, return_dict=True))
    ['accuracy', 'loss']
    """

    def __init__(self, network, metric, loss=None, **kwargs):
        super().__init__(name=kwargs.pop("name", "inference_probe"), **kwargs)
        self.network = network
        self.compile(loss=loss, weighted_metrics=[metric])

    def call(self, images):
        return self.network(images, training=False)

    def compute_loss(self, *args, **kwargs):
        if self._compile_loss is None:
            return ops.zeros(())
        return super().compute_loss(*args, **kwargs)
