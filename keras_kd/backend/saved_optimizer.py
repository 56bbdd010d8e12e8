"""Optimizers in ``.keras`` files saved on another backend.

Keras (3.15) records a built-in optimizer by the module of its backend class:
a trainer compiled on torch saves ``SGD`` from
``keras.src.backend.torch.optimizers.torch_sgd``. Loaded on TensorFlow or JAX,
that torch class is rebuilt and the first training step fails (a plain
``keras.Model`` too). ``portable`` points such entries at ``keras.optimizers``,
whose class of that name is the current backend's, so a file saved on any
backend resumes training on the others with its optimizer variables.
"""

import keras

BACKEND_MODULES = "keras.src.backend."


def portable(config):
    """``config`` (a serialized object, nested) with every built-in optimizer of a
    backend module re-pointed at ``keras.optimizers``."""
    if isinstance(config, dict):
        config = {key: portable(value) for key, value in config.items()}
        module, name = config.get("module"), config.get("class_name")
        if (isinstance(module, str) and module.startswith(BACKEND_MODULES) and ".optimizers" in module
                and isinstance(getattr(keras.optimizers, str(name), None), type)):
            config = {**config, "module": "keras.optimizers", "registered_name": None}
        return config
    if isinstance(config, list):
        return [portable(value) for value in config]
    return config
