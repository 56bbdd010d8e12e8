"""Files: atomic writes (complete or absent, never partial), markdown tables,
and ``.keras`` loading with clear errors."""

import contextlib
import json
import os
import zipfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary name beside ``path``, renamed to ``path`` on success.

    If the block raises (or the process dies), ``path`` keeps its previous
    content and the temporary file is removed (when the process survives).

    Args:
        path: the file to write.

    Example:

    >>> with atomic_path("student.keras") as temporary:  # doctest: +SKIP
    ...     model.save(temporary)
    """
    root, extension = os.path.splitext(os.fspath(path))
    temporary = f"{root}.partial-{os.getpid()}{extension}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text):
    """Writes ``text`` to ``path`` atomically.

    Args:
        path: the file to write.
        text: its content.
    """
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)


def write_json(path, payload):
    """Writes ``payload`` as indented JSON to ``path`` atomically.

    Args:
        path: the file to write.
        payload: a JSON-serializable value (other values are written with ``str``).
    """
    write_text(path, json.dumps(payload, indent=1, default=str) + "\n")


def read_json(path):
    """The JSON value in the file at ``path``.

    Args:
        path: a JSON file (UTF-8).
    """
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def markdown_table(header, rows):
    """A markdown table of ``rows`` (sequences of cells) under ``header``.

    Args:
        header: the column titles.
        rows: sequences of cells, one per row (each cell written with ``str``).
    """
    lines = ["| " + " | ".join(str(cell) for cell in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save_model(model, path):
    """``model.save(path)`` atomically (``path`` ends in ``.keras``).

    Args:
        model: a Keras model.
        path: the ``.keras`` file to write.
    """
    with atomic_path(path) as temporary:
        model.save(temporary)


def load_model(path, safe_mode=True, custom_objects=None):
    """``keras.saving.load_model`` (safe mode by default) with clear errors.

    Keras reports a truncated or corrupted archive as "File not found" and
    an unregistered class as a deserialization ``TypeError``; here a missing
    file raises ``FileNotFoundError``, a damaged one ``ValueError`` saying
    so, and one holding classes nobody registered a ``ValueError`` listing
    them. All name ``path``. Unsafe content (a Python lambda) keeps Keras'
    own error under ``safe_mode=True``.

    Args:
        path: a ``.keras`` file.
        safe_mode: as in ``keras.saving.load_model`` (refuses Python lambdas when true).
        custom_objects: as in ``keras.saving.load_model``: classes by name, beside the registered ones.
    """
    import keras

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` must be an existing .keras file. Received: path={path!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            damaged = damaged and f"bad checksum of {damaged}"
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        damaged = f"{type(error).__name__}: {error}"
    if damaged:
        raise ValueError(
            f"`path` is not a readable .keras archive (truncated or corrupted: {damaged}). "
            f"Received: path={path!r}"
        )
    unknown = sorted(set(_unregistered_classes(config, custom_objects or {})))
    if unknown:
        raise ValueError(
            f"`path` holds classes that are not registered: {unknown}. Import the module that "
            "defines them (keras_kd's classes register on `import keras_kd`) or pass "
            f"`custom_objects`. Received: path={path!r}"
        )
    return keras.saving.load_model(path, safe_mode=safe_mode, custom_objects=custom_objects)


def _unregistered_classes(config, custom_objects):
    """Registered names of the non-Keras classes in a model config that cannot be found."""
    import keras

    if isinstance(config, list):
        for item in config:
            yield from _unregistered_classes(item, custom_objects)
        return
    if not isinstance(config, dict):
        return
    module, name = config.get("module") or "", config.get("registered_name")
    builtin = module == "keras" or module.startswith("keras.")
    if "class_name" in config and isinstance(name, str) and not builtin:
        if keras.saving.get_registered_object(name, custom_objects) is None:
            yield name
    for value in config.values():
        yield from _unregistered_classes(value, custom_objects)
