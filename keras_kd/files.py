"""Writing results: atomic files (complete or absent, never partial) and markdown tables."""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary name beside ``path``, renamed to ``path`` on success.

    If the block raises (or the process dies), ``path`` keeps its previous
    content and the temporary file is removed (when the process survives).

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
    """Writes ``text`` to ``path`` atomically."""
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)


def write_json(path, payload):
    """Writes ``payload`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(payload, indent=1, default=str) + "\n")


def markdown_table(header, rows):
    """A markdown table of ``rows`` (sequences of cells) under ``header``."""
    lines = ["| " + " | ".join(str(cell) for cell in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save_model(model, path):
    """``model.save(path)`` atomically (``path`` ends in ``.keras``)."""
    with atomic_path(path) as temporary:
        model.save(temporary)
