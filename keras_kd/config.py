"""Runtime settings: how this process computes a model, never saved in its files.

A model file says what the network is; these say how the backend and device
at hand run it, so a file saved on one backend runs the best way on another.

* ``skip_mode`` (``keras_kd.layers.skip``): how a block skipped by a runtime
  gate is skipped: ``"auto"`` (``"mask"`` on JAX, ``"cond"`` elsewhere),
  ``"cond"`` or ``"mask"``; read each time a step is traced.
* ``group_conv_implementation`` (``keras_kd.layers.GroupConv2D``): ``"auto"``
  (the fastest measured for the backend and device,
  ``keras_kd.backend.group_conv_policy``) or ``"native"``, ``"split"``,
  ``"depthwise"``, ``"dense"``; read when a layer is built.

A layer given ``skip_mode=`` / ``implementation=`` explicitly keeps that
choice for its lifetime in this process; it is not written to its config.

Example:

>>> kd.config.set_skip_mode("mask")  # doctest: +SKIP
>>> with kd.config.settings(group_conv_implementation="split"):  # doctest: +SKIP
...     model = kd.models.get_model("wrn-16-2", 10, block="G(4)")
"""

import contextlib

from keras_kd.validation import check_choice

SKIP_MODES = ("auto", "cond", "mask")
GROUP_CONV_IMPLEMENTATIONS = ("auto", "native", "split", "depthwise", "dense")
_CHOICES = {"skip_mode": SKIP_MODES, "group_conv_implementation": GROUP_CONV_IMPLEMENTATIONS}
_settings = {"skip_mode": "auto", "group_conv_implementation": "auto"}


def skip_mode():
    """The current ``skip_mode`` setting."""
    return _settings["skip_mode"]


def group_conv_implementation():
    """The current ``group_conv_implementation`` setting."""
    return _settings["group_conv_implementation"]


def set_skip_mode(mode):
    """Sets ``skip_mode`` (``"auto"``, ``"cond"`` or ``"mask"``) for this process.

    Args:
        mode: ``"auto"``, ``"cond"`` or ``"mask"``.
    """
    _settings["skip_mode"] = check_choice(mode, "skip_mode", SKIP_MODES)


def set_group_conv_implementation(implementation):
    """Sets ``group_conv_implementation`` for the layers built from now on.

    Args:
        implementation: one of ``GROUP_CONV_IMPLEMENTATIONS`` (``"auto"``, ``"native"``, ``"split"``,
            ``"depthwise"``, ``"dense"``).
    """
    _settings["group_conv_implementation"] = check_choice(
        implementation, "group_conv_implementation", GROUP_CONV_IMPLEMENTATIONS
    )


@contextlib.contextmanager
def settings(**values):
    """Context manager: the given settings inside the block, the previous ones after.

    Args:
        **values: settings by name (``skip_mode=``, ``group_conv_implementation=``) and their values
            for the block; an unknown name or value raises ValueError.
    """
    for name, value in values.items():
        if name not in _CHOICES:
            raise ValueError(f"Unknown keras_kd setting. Received: {name}={value!r}. Settings: {sorted(_CHOICES)}")
        check_choice(value, name, _CHOICES[name])
    previous = dict(_settings)
    _settings.update(values)
    try:
        yield
    finally:
        _settings.clear()
        _settings.update(previous)
