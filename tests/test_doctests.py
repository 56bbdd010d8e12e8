"""Every ``>>>`` example in a ``keras_kd`` docstring runs and shows what it prints (issues 20 and 24)."""

import doctest
import importlib
import importlib.util
import inspect
import io
import os
import pkgutil

import keras
import numpy as np
import pytest

import keras_kd as kd

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
EXAMPLE_GLOBALS = {"kd": kd, "keras": keras, "np": np}
NEEDS_KERAS_TUNER = "keras_kd.tuning"


def submodules(path, prefix):
    """Names of every module under the package directories ``path``, found on disk (nothing imported)."""
    names = []
    for module in pkgutil.iter_modules(path, prefix):
        names.append(module.name)
        if module.ispkg:
            directory = os.path.join(module.module_finder.path, module.name.rsplit(".", 1)[-1])
            names += submodules([directory], module.name + ".")
    return names


MODULES = ["keras_kd", *submodules(kd.__path__, "keras_kd.")]


def example_count_in_source(module):
    """How many ``>>>`` prompts the module's source holds: each must reach the doctest finder."""
    return sum(line.lstrip().startswith(">>>") for line in inspect.getsource(module).splitlines())


@pytest.mark.heavy  # docstring examples do not depend on the backend
@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_docstring_examples_run(name):
    if name.startswith(NEEDS_KERAS_TUNER) and importlib.util.find_spec("keras_tuner") is None:
        pytest.skip(f"{name} needs keras-tuner, which is not installed")
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name, extraglobs=EXAMPLE_GLOBALS)
    found = sum(len(test.examples) for test in tests)
    assert found == example_count_in_source(module), (
        f"{name}: the doctest finder sees {found} examples, the source has {example_count_in_source(module)} "
        "'>>>' prompts (an example in a nested function or a plain string never runs)")
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    assert not runner.failures, f"{runner.failures} of {runner.tries} examples in {name} failed:\n{report.getvalue()}"
