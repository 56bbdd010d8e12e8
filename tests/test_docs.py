"""The documentation site (``mkdocs.yml``, ``docs/``) builds in strict mode:
any warning -- a broken link or anchor, a page missing from ``nav``, a
docstring mkdocstrings cannot parse -- fails it. Its generated parts (``docs/hooks/generated.py``) come from
the repository's sources: the references, the model registry, ``benchmarks/RESULTS.md``."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def docs_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks_generated", os.path.join(REPO, "docs", "hooks", "generated.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_keys_are_linked_in_text_only():
    hooks = docs_hooks()
    keys = {"hinton2015": "Hinton (2015). Distilling.", "li2021": "Li (2021). ResKD."}
    content = ('<p>KD (hinton2015 eq. 2), li2021, smith2019, <code>hinton2015</code>, <code>vgg11-li2021</code>, '
               'vgg11-li2021</p><pre><code>hinton2015</code></pre><h2 id="hinton2015">hinton2015</h2>'
               '<a href="x">hinton2015</a><img alt="hinton2015">')
    linked = hooks.link_paper_keys(content, keys, lambda key: f"../references/#{key}")
    assert linked.count('href="../references/#hinton2015"') == 2  # the prose and the inline code
    assert linked.count('href="../references/#li2021"') == 1  # not the model name vgg11-li2021
    assert "smith2019" in linked and "#smith2019" not in linked  # not a reference key
    assert linked.endswith('<pre><code>hinton2015</code></pre><h2 id="hinton2015">hinton2015</h2>'
                           '<a href="x">hinton2015</a><img alt="hinton2015">')
    assert 'title="Hinton (2015). Distilling."' in linked


def test_generated_tables_follow_their_sources():
    hooks = docs_hooks()
    registry = hooks.load_registry()
    models = hooks.models_markdown()
    for family in registry["FAMILIES"]:
        assert f"| `{family.pattern}` | " in models, family.pattern
    for name in registry["LISTED"]:
        assert f"`{name}`" in models
    results = open(os.path.join(REPO, "benchmarks", "RESULTS.md"), encoding="utf-8").read()
    page = hooks.benchmarks_markdown()
    for line in results.splitlines()[1:]:  # all but the title; sections one level down
        assert (line.replace("## ", "### ", 1) if line.startswith("## ") else line) in page, line
    ratios = hooks.benchmark_ratios()
    assert "reskd_adaptive" not in ratios  # its "full / adaptive" columns are pairs of numbers, not ratios
    for section in ratios:
        assert f"(generated/benchmarks-{section}.png)" in page


def test_benchmark_ratio_columns_are_parsed_from_the_tables():
    text = """# Benchmark results

intro

## suite_a

| backend | batch | kd img/s | plain ms | kd/plain (≤1.10) | best / loop | full / adaptive | MMACs/img | 2 proc / 1 dev |
|---|---|---|---|---|---|---|---|---|
| tensorflow | 64 | 189 (±1%) | 20 (±2%) | 0.93 | 1.00 (kd_nojit) | 66.9 / 52.9 | 328 | 624 (±11%) |
| torch | 64 | - | 21 (±3%) | 1.02 | - | 66.9 / 50.1 | 328 | 625 (±1%) |

## suite_b

| backend | a | b |
|---|---|---|
| jax | 1 | 2 |
"""
    ratios = docs_hooks().benchmark_ratios(text)
    assert ratios == {"suite_a": [
        ("kd/plain (≤1.10)", [("tensorflow batch=64", 0.93, "0.93"), ("torch batch=64", 1.02, "1.02")]),
        ("best / loop", [("tensorflow batch=64", 1.0, "1.00")]),
    ]}


@pytest.mark.heavy  # the API pages are read statically: backend-independent
def test_the_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    assert (site / "api" / "distillers" / "index.html").exists()
    # Paper keys in the rendered docstrings and guides link to their anchors on the references page.
    assert 'href="../../references/#hinton2015"' in (site / "api" / "losses" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../references/#' in (site / "guides" / "kd" / "index.html").read_text(encoding="utf-8")
    references = (site / "references" / "index.html").read_text(encoding="utf-8")
    from keras_kd.references import REFERENCES

    missing = [key for key in REFERENCES if f'id="{key}"' not in references]
    assert not missing, f"references/index.html lacks anchors: {missing}"
    for page in site.rglob("*.html"):  # every generated link resolves to an anchor there
        for href in re.findall(r'<a class="paper-key" href="([^"#]*)#([^"]+)"', page.read_text(encoding="utf-8")):
            assert (page.parent / href[0] / "index.html").resolve() == (site / "references" / "index.html").resolve()
            assert f'id="{href[1]}"' in references, (page, href)
    # The plots are drawn at build time and shown.
    assert (site / "generated" / "benchmarks-kd_overhead.png").read_bytes().startswith(b"\x89PNG")
    assert 'src="../generated/benchmarks-kd_overhead.png"' in (site / "benchmarks" / "index.html").read_text(
        encoding="utf-8")
    assert 'src="../generated/results-mutual.png"' in (site / "results" / "index.html").read_text(encoding="utf-8")
