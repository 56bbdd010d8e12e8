"""Every ```python block of the documentation site (``docs/**/*.md``) runs (issue 24).

One test per block, named ``page:line`` (the line of its opening fence). A block runs as a script: ``exec`` in a
fresh namespace, in a temporary working directory (files it saves stay out of the repository); a traceback
names the page and its line.

A block is shown but not run only when the line just above its fence is one of these visible markers; the test
skips it with the marker's reason:

* ``<!-- snippet: long-training -->``: a full training job (a paper's recipe, a search): minutes to days.
* ``<!-- snippet: needs-data -->``: it reads a dataset from a placeholder path or downloads one.
* ``<!-- snippet: fragment -->``: it continues the prose around it (names such as ``teacher`` come from there).

A block that imports ``keras_tuner`` is skipped when keras-tuner (the ``tuning`` extra) is not installed. Shell
commands belong in ```bash or ```console blocks, other text in ```text ones: they are not collected, and every
fenced block must name its language, so no Python block goes unrun for want of a tag.

The snippets build small networks and fit a few steps: they are backend-independent in what they show (that the
calls work and log what the prose says), so they run once, on TensorFlow (``heavy``).
"""

import glob
import importlib.util
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<kind>[\w-]+)\s*-->\s*$")
MARKERS = {
    "long-training": "long training: shown, not run",
    "needs-data": "reads a dataset from a placeholder path or a download: shown, not run",
    "fragment": "a fragment of the surrounding prose (its names are defined there): shown, not run",
}
PYTHON = {"python", "py", "python3"}


def fenced_blocks(path):
    """``(line, language, marker, code)`` of every fenced block of the Markdown file ``path`` (1-based line of the
    opening fence; ``language`` as written, ``""`` when untagged)."""
    lines = open(path, encoding="utf-8").read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        above = MARKER.match(lines[i - 1]) if i > 0 else None
        code = "\n".join(line[indent:] for line in lines[i + 1:end])
        blocks.append((i + 1, opening["lang"].lower(), above["kind"] if above else None, code))
        i = end + 1
    return blocks


def pages():
    return {os.path.relpath(path, DOCS).replace(os.sep, "/"): path
            for path in sorted(glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))}


def collect():
    return [pytest.param(page, line, marker, code, id=f"{page}:{line}")
            for page, path in pages().items()
            for line, language, marker, code in fenced_blocks(path) if language in PYTHON]


BLOCKS = collect()


def test_the_docs_have_python_blocks_and_only_known_markers():
    assert len(BLOCKS) >= 10, "the collector finds no ```python blocks: has the fence syntax changed?"
    unknown = {p.id: p.values[2] for p in BLOCKS if p.values[2] is not None and p.values[2] not in MARKERS}
    assert not unknown, f"unknown snippet markers (known: {sorted(MARKERS)}): {unknown}"
    shell = [p.id for p in BLOCKS if re.match(r"\s*(\$ |pip |python |mkdocs |pytest )", p.values[3])]
    assert not shell, f"shell commands in ```python blocks (use ```bash or ```console): {shell}"


def test_every_fenced_block_names_its_language():
    """An untagged block would escape the collector: Python is ```python, commands ```bash, other text ```text."""
    untagged = [f"{page}:{line}" for page, path in pages().items()
                for line, language, _, _ in fenced_blocks(path) if not language]
    assert not untagged, f"fenced blocks without a language: {untagged}"


@pytest.mark.heavy  # a few fit steps of small networks: what a snippet shows does not depend on the backend
@pytest.mark.parametrize("page, line, marker, code", BLOCKS)
def test_snippet_runs(page, line, marker, code, tmp_path, monkeypatch):
    if marker is not None:
        pytest.skip(MARKERS[marker])
    if re.search(r"^\s*(import|from)\s+keras_tuner\b", code, re.M) and importlib.util.find_spec("keras_tuner") is None:
        pytest.skip("needs keras-tuner, which is not installed")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__snippet__"}
    source = "\n" * line + code  # line numbers of a traceback are the page's
    exec(compile(source, f"docs/{page}", "exec"), namespace)  # noqa: S102 -- the docs' own code
