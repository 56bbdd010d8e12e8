"""Every paper key the sources cite resolves in ``keras_kd.references``, and the README lists them all."""

import importlib.util
import pathlib
import re

import pytest

from keras_kd.references import REFERENCES, cite

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("keras_kd", "examples", "tuning", "benchmarks")
KEY_PATTERN = re.compile(r"\b[a-z]+(?:19|20)\d\d[a-z]?\b")
# Built from parts so that this file does not itself mention the design notes it checks for.
OUTSIDE_POINTER = "DESIGN" + ".md"


def python_files(*directories):
    return sorted(path for directory in directories for path in (ROOT / directory).rglob("*.py"))


def cited_keys():
    """``{key-like token: [files it appears in]}`` over the library, examples, tuning and benchmarks."""
    found = {}
    for path in python_files(*SOURCE_DIRS):
        for token in set(KEY_PATTERN.findall(path.read_text(encoding="utf-8"))):
            found.setdefault(token, []).append(str(path.relative_to(ROOT)))
    return found


def docs_hooks():
    """The docs site's hook module (``docs/hooks/generated.py``): its generators need neither MkDocs nor a build."""
    spec = importlib.util.spec_from_file_location("docs_hooks_generated", ROOT / "docs" / "hooks" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_references():
    """The lines of the README's ``## References`` section (up to the next ``## `` heading)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("## References")
    section = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        section.append(line)
    return section


def test_every_cited_key_resolves():
    unknown = {token: files for token, files in cited_keys().items() if token not in REFERENCES}
    assert not unknown, f"Paper keys without a keras_kd.references entry: {unknown}"


def test_every_reference_is_cited():
    uncited = sorted(set(REFERENCES) - set(cited_keys()))
    assert not uncited, f"References no source file cites: {uncited}"


def test_entries_are_well_formed():
    for key, reference in REFERENCES.items():
        assert reference.key == key
        assert re.fullmatch(r"[a-z]+" + str(reference.year) + r"[a-z]?", key), key
        assert reference.arxiv is None or re.fullmatch(r"\d{4}\.\d{4,5}", reference.arxiv), (key, reference.arxiv)
        assert reference.authors and all(reference.authors), key


def test_readme_lists_every_reference_as_cite_formats_it():
    section = readme_references()
    for key in REFERENCES:
        assert f"- `{key}`: {cite(key)}" in section, f"README References lacks {key!r} as cite() gives it"
    listed = [re.match(r"- `([^`]+)`: ", line).group(1) for line in section if line.startswith("- `")]
    assert sorted(listed) == sorted(REFERENCES)


def test_no_python_file_points_to_the_design_notes():
    offenders = [str(path.relative_to(ROOT)) for path in python_files(*SOURCE_DIRS, "tests")
                 if OUTSIDE_POINTER in path.read_text(encoding="utf-8")]
    assert not offenders, f"{OUTSIDE_POINTER} is not in the repository; state the fact instead: {offenders}"


def test_cite_formats_authors_year_title_venue_arxiv():
    assert cite("hinton2015") == (
        "Geoffrey Hinton, Oriol Vinyals, Jeff Dean (2015). Distilling the Knowledge in a Neural Network. "
        "NIPS 2014 Deep Learning and Representation Learning Workshop. arXiv:1503.02531"
    )
    assert cite("ba2014").startswith("Lei Jimmy Ba, Rich Caruana (2014). Do Deep Nets Really Need to be Deep? NIPS")


@pytest.mark.parametrize("key", ["smith2019", "Hinton2015", "", None, 2015])
def test_cite_unknown_key_raises_naming_it(key):
    with pytest.raises(ValueError, match=re.escape(f"Received: key={key!r}")) as error:
        cite(key)
    assert "crowley2018" in str(error.value)  # the known keys are listed


def test_every_cited_key_is_an_anchor_of_the_generated_references_page():
    page = docs_hooks().references_markdown()
    anchors = re.findall(r'<a id="([^"]+)"></a>', page)
    assert len(anchors) == len(set(anchors)), "a key is anchored twice"
    missing = sorted(key for key in cited_keys() if f'<a id="{key}"></a>' not in page)
    assert not missing, f"Cited keys without an anchor on the references page: {missing}"
    assert sorted(anchors) == sorted(REFERENCES)
    for key, reference in REFERENCES.items():  # the row carries the fields cite() formats
        row = next(line for line in page.splitlines() if f'<a id="{key}"></a>' in line)
        assert reference.title.replace("|", "\\|") in row and str(reference.year) in row, key
