"""Every public class and function is in the API reference (``docs/api``), with its arguments documented (issue 24).

Public, here: every class or function bound to a name without a leading underscore in one of ``MODULES`` (the
modules the API pages cover) and defined in that module or below it (``__module__``), so helpers a module imports
from elsewhere (``keras_kd.validation``, ``keras_kd.api``, keras) do not count as its own. A module with
``__all__`` is public by that list instead. Module-level constants are not checked.

* In the reference: the site is built once (``mkdocs build --strict``) and each object's anchor
  (``id="keras_kd.losses.kd_loss"``, what mkdocstrings renders for ``::: keras_kd.losses`` and its ``members``)
  must be in the HTML of ``site/api``. An object re-exported under several public names (``kd.Distiller`` is
  ``keras_kd.distillers.Distiller``) needs one of them.
* Arguments: a function's parameters, a class's ``__init__`` parameters (``self`` aside) each have an entry in an
  ``Args:`` section of the docstring (for a class, that of the class or of ``__init__``, which the site merges).
  Excluded: a class's ``**kwargs``, forwarded to its Keras base class (``name``, ``dtype``...) or to its base
  term, whose ``Args`` name them; the parameters of an ``__init__`` inherited unchanged from a Keras class
  (``keras_kd.layers.BatchNormalization`` is ``keras.layers.BatchNormalization`` fused on torch); and the
  entries of ``EXCLUDED``, each with its reason.
"""

import glob
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = [
    "keras_kd", "keras_kd.layers", "keras_kd.models", "keras_kd.losses", "keras_kd.distillers", "keras_kd.data",
    "keras_kd.tuning", "keras_kd.files", "keras_kd.launch", "keras_kd.launch.worker", "keras_kd.nas",
    "keras_kd.optimizers", "keras_kd.schedules", "keras_kd.recipes", "keras_kd.references", "keras_kd.config",
    "keras_kd.losses.registry",
]
# Modules no API page covers: the registration and argument-check helpers, the backend-specific code.
INTERNAL = {"keras_kd.api", "keras_kd.validation", "keras_kd.backend"}
EXCLUDED = {
    # ``*args`` only catches positional networks, to refuse them with a message naming the keywords
    # (``check_networks_by_keyword``): the networks are keyword-only.
    ("keras_kd.distillers.Distiller", "args"): "refuses positional networks",
    ("keras_kd.distillers.MultiTeacherDistiller", "args"): "refuses positional networks",
    ("keras_kd.distillers.ResidualDistiller", "args"): "refuses positional networks",
}
# An ``Args:`` line, then its body: the lines indented deeper than it, and blank lines.
SECTION = re.compile(r"^(?P<indent>[ \t]*)Args:[ \t]*\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n)*)", re.M)


def public_objects():
    """``{id: (object, [public dotted names])}`` of the classes and functions of ``MODULES``."""
    objects = {}
    for name in MODULES:
        if name == "keras_kd.tuning" and importlib.util.find_spec("keras_tuner") is None:
            continue
        module = importlib.import_module(name)
        names = getattr(module, "__all__", None)
        for attr in (names if names is not None else sorted(vars(module))):
            value = getattr(module, attr)
            if attr.startswith("_") or isinstance(value, types.ModuleType):
                continue
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            origin = getattr(value, "__module__", "") or ""
            if names is None and origin != name and not origin.startswith(name + "."):
                continue
            objects.setdefault(id(value), (value, []))[1].append(f"{name}.{attr}")
    return objects


OBJECTS = public_objects()


def canonical(obj, paths):
    """The public name nearest the object's own module (``keras_kd.distillers.Distiller``, not
    ``keras_kd.Distiller``)."""
    return max(paths, key=lambda path: (len(os.path.commonprefix([path.rsplit(".", 1)[0], obj.__module__])), path))


CANONICAL = sorted(canonical(obj, paths) for obj, paths in OBJECTS.values())


def documented_parameters(docstring):
    """Names given entries in the ``Args:`` sections of ``docstring`` (``*args`` and ``**kwargs`` without stars)."""
    names = set()
    for section in SECTION.finditer(inspect.cleandoc(docstring or "") + "\n"):
        body = section["body"]
        lines = [line for line in body.splitlines() if line.strip()]
        if not lines:
            continue
        entry_indent = min(len(line) - len(line.lstrip()) for line in lines)
        for line in lines:
            if len(line) - len(line.lstrip()) == entry_indent:
                match = re.match(r"\s*\**(\w+)\s*(\([^)]*\))?\s*:", line)
                if match:
                    names.add(match[1])
    return names


def parameters(obj):
    """The parameters an ``Args`` section must name: a function's, or a class's ``__init__`` ones."""
    if inspect.isclass(obj) and not (getattr(obj.__init__, "__module__", None) or "").startswith("keras_kd"):
        return []  # ``__init__`` inherited from a Keras class (BatchNormalization, StagedNet): Keras documents it
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature
        return []
    found = []
    for parameter in signature.parameters.values():
        if parameter.name == "self":
            continue
        if inspect.isclass(obj) and parameter.kind is parameter.VAR_KEYWORD:
            continue  # forwarded to the Keras base class or base term (see the module)
        found.append(parameter.name)
    return found


def test_the_covered_modules_are_every_public_module():
    """A new public module of ``keras_kd`` needs an API page (and a line in ``MODULES``) or to be internal."""
    package = os.path.join(REPO, "keras_kd")
    on_disk = {f"keras_kd.{os.path.splitext(entry)[0]}" for entry in os.listdir(package) if not entry.startswith("_")
               and (entry.endswith(".py") or os.path.isfile(os.path.join(package, entry, "__init__.py")))}
    assert on_disk - INTERNAL <= set(MODULES), sorted(on_disk - INTERNAL - set(MODULES))


def test_the_public_names_are_found():
    """The enumeration itself works: it sees the trainers, a layer, a loss function, a constant-free module."""
    for name in ("keras_kd.distillers.Distiller", "keras_kd.layers.GroupConv2D", "keras_kd.losses.kd_loss",
                 "keras_kd.files.load_model", "keras_kd.launch.launch"):
        assert name in CANONICAL
    assert "keras_kd.launch.check_int" not in CANONICAL  # imported from keras_kd.validation: not launch's own
    assert len(CANONICAL) > 150


@pytest.fixture(scope="module")
def anchors(tmp_path_factory):
    """Every ``id="..."`` of the built site's API pages."""
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(site)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    found = set()
    for page in glob.glob(os.path.join(site, "api", "**", "*.html"), recursive=True):
        found.update(re.findall(r'\bid="(keras_kd[\w.]*)"', open(page, encoding="utf-8").read()))
    return found


@pytest.mark.heavy  # the API pages are read statically: backend-independent
def test_every_public_object_is_in_the_api_reference(anchors):
    missing = sorted(canonical(obj, paths) for obj, paths in OBJECTS.values()
                     if not anchors.intersection([*paths, f"{obj.__module__}.{obj.__qualname__}"]))
    assert not missing, f"not in docs/api (add them to a page's `members`): {missing}"


@pytest.mark.parametrize("name", CANONICAL)
def test_every_parameter_has_an_args_entry(name):
    obj = next(value for value, paths in OBJECTS.values() if canonical(value, paths) == name)
    expected = parameters(obj)
    if not expected:
        return
    documented = documented_parameters(inspect.getdoc(obj))
    if inspect.isclass(obj) and "__init__" in vars(obj):
        documented |= documented_parameters(obj.__init__.__doc__)
    missing = [p for p in expected if p not in documented and (name, p) not in EXCLUDED]
    assert not missing, f"{name}: no `Args:` entry for {missing} (documented: {sorted(documented)})"
