"""MkDocs hooks (``hooks:`` in mkdocs.yml): the parts of the site that have a source of truth in the repository are
generated from it at build time, never copied by hand.

* A line ``<!-- generated: NAME -->`` in a page is replaced by ``NAME``'s markdown (``GENERATORS``):
  ``references`` from ``keras_kd/references.py``, ``models`` from the registry ``keras_kd/models/registry.py``,
  ``benchmarks`` from ``benchmarks/RESULTS.md``.
* Paper keys (``crowley2018``) in every rendered page -- guides and the API pages' docstrings -- link to their entry
  on the references page.
* Plots are drawn with matplotlib (Agg, no display) from the ratio columns of ``benchmarks/RESULTS.md``, one chart
  per section, and added to the site as generated files under ``generated/``, with the figure each example script
  drew beside its results (``examples/results/<name>/``, ``RESULT_FIGURES``).

The library is read without importing it (importing ``keras_kd`` imports Keras and a backend: about 3 s on the
TensorFlow backend, more than the rest of the build, and a backend the docs extra does not install). Like the API
pages, which griffe reads statically, the site builds with the docs extra alone. ``keras_kd/references.py`` imports
only ``dataclasses`` and is loaded from its file; the registry imports the model builders (Keras), so it is executed
with those imports replaced by stubs and the constants it imports evaluated from their modules' sources.

The generator functions (``references_markdown``, ``models_markdown``, ``benchmarks_markdown``, ``link_paper_keys``)
need neither MkDocs nor matplotlib: the tests call them.
"""

import ast
import html
import importlib.util
import io
import pathlib
import posixpath
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[2]
REFERENCES_SOURCE = ROOT / "keras_kd" / "references.py"
REGISTRY_SOURCE = ROOT / "keras_kd" / "models" / "registry.py"
RESULTS_SOURCE = ROOT / "benchmarks" / "RESULTS.md"
EXAMPLE_RESULTS = ROOT / "examples" / "results"
GENERATED_DIR = "generated"  # site folder of the generated plots
REFERENCES_PAGE = "references.md"

PLACEHOLDER = re.compile(r"^<!-- generated: ([a-z-]+) -->[ \t]*$", re.MULTILINE)
# tests/test_references.py's pattern of a paper key; a key next to a hyphen is part of a name (``vgg11-li2021``).
KEY_PATTERN = re.compile(r"(?<![\w-])[a-z]+(?:19|20)\d\d[a-z]?(?![\w-])")


# ----------------------------------------------------------------------------------------------------- references

def load_references():
    """``keras_kd.references`` loaded from its file alone (it imports only ``dataclasses``; the package would import
    Keras): ``{key: Reference}`` in the module's order, with ``Reference.citation()`` as ``cite`` formats it."""
    spec = importlib.util.spec_from_file_location("_keras_kd_references_for_docs", REFERENCES_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.REFERENCES


def reference_groups():
    """``[(heading, [key, ...]), ...]``: the entries of ``_ENTRIES`` under the comment line above them (the file's
    ``# The five seed papers the library implements.``, ...), in the file's order."""
    source = REFERENCES_SOURCE.read_text(encoding="utf-8")
    entries = next(node.value for node in ast.parse(source).body
                   if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_ENTRIES" for t in node.targets))
    comments = [(token.start[0], token.string.lstrip("#").strip().rstrip("."))
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT and entries.lineno <= token.start[0] <= entries.end_lineno]
    groups = []
    for call in entries.elts:
        heading = [text for line, text in comments if line < call.lineno]
        heading = heading[-1] if heading else "Papers"
        key = call.args[0].value if call.args else next(k.value.value for k in call.keywords if k.arg == "key")
        if not groups or groups[-1][0] != heading:
            groups.append((heading, []))
        groups[-1][1].append(key)
    return groups


def _cell(text):
    return str(text).replace("|", "\\|")


def references_markdown():
    """The references page's tables: one per group of ``reference_groups()`` under its heading, one row per entry
    with an anchor ``<a id="KEY"></a>`` (link ``references.md#KEY``) and the fields ``kd.references.cite(KEY)``
    formats."""
    references = load_references()
    groups = reference_groups()
    grouped = [key for _, keys in groups for key in keys]
    assert sorted(grouped) == sorted(references), "reference_groups() disagrees with REFERENCES"
    lines = []
    for heading, keys in groups:
        lines += [f"## {heading}", "", "| key | authors | title | venue | year | arXiv |", "|---|---|---|---|---|---|"]
        for key in keys:
            reference = references[key]
            arxiv = "—" if reference.arxiv is None else f"[{reference.arxiv}](https://arxiv.org/abs/{reference.arxiv})"
            lines.append(f'| <a id="{key}"></a>`{key}` | {_cell(", ".join(reference.authors))} | '
                         f"{_cell(reference.title)} | {_cell(reference.venue)} | {reference.year} | {arxiv} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- models

def _imported_value(module, name):
    """The value of ``module``'s top-level constant ``name``, evaluated from its source (no imports run), or a
    stub for a function or class (the registry's builders are only called to build a model)."""
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return eval(compile(ast.Expression(node.value), str(path), "eval"), {"__builtins__": {}})

    def stub(*args, **kwargs):
        raise RuntimeError(f"{module}.{name} is not importable while the docs build (the registry is read statically)")

    stub.__name__ = name
    return stub


def load_registry():
    """``keras_kd/models/registry.py`` executed with its ``keras_kd`` imports replaced (``_imported_value``): its
    ``FAMILIES``, ``LISTED``, ``list_models`` and ``_family`` as the library has them, without Keras."""
    tree = ast.parse(REGISTRY_SOURCE.read_text(encoding="utf-8"))
    namespace = {"__name__": "_keras_kd_registry_for_docs"}
    body = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_kd"):
            for alias in node.names:
                namespace[alias.asname or alias.name] = _imported_value(node.module, alias.name)
        else:
            body.append(node)
    tree.body = body
    exec(compile(tree, str(REGISTRY_SOURCE), "exec"), namespace)
    return namespace


def models_markdown():
    """The zoo's table: one row per registry family (``FAMILIES``) with its name pattern, its source (what
    ``list_models(sources=True)`` says) and the names ``list_models()`` lists of it."""
    registry = load_registry()
    listed = {}
    for name in registry["list_models"]():
        listed.setdefault(registry["_family"](name)[0].pattern, []).append(name)
    lines = ["| names | network and source (`list_models(sources=True)`) | listed by `list_models()` |",
             "|---|---|---|"]
    for family in registry["FAMILIES"]:
        names = ", ".join(f"`{name}`" for name in listed.get(family.pattern, [])) or "—"
        lines.append(f"| `{family.pattern}` | {_cell(family.source)} | {names} |")  # a code span keeps its pipes
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------ benchmarks

def benchmark_sections(text=None):
    """The text before the ``## `` sections of ``text`` (``benchmarks/RESULTS.md``) and ``[(name, text), ...]``."""
    text = RESULTS_SOURCE.read_text(encoding="utf-8") if text is None else text
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return parts[0], [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts), 2)]


def parse_tables(text):
    """The markdown tables of ``text``: ``[(header, rows), ...]``, every row a list of cell strings."""
    tables, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            if len(block) > 2:
                tables.append((block[0], block[2:]))
            block = []
    return tables


RATIO_CELL = re.compile(r"(\d+(?:\.\d+)?)(?: \((?!±)[^)]*\))?")  # "0.93", "1.00 (kd_nojit)"; not "184 (±5%)"
TARGET = re.compile(r"\(([≤≥])\s*(\d+(?:\.\d+)?)\)$")  # a header's target: "kd/keras (≤1.00)"


def ratio_columns(header, rows):
    """Indices of the measured-ratio columns: a "/" or " vs " in the header (not a rate such as img/s or ms/epoch)
    and a single number in every filled cell (``-`` or empty where not measured)."""
    columns = []
    for index, title in enumerate(header):
        if not ("/" in title or " vs " in title) or re.search(r"img/s|/img|ms/|/example|/epoch", title):
            continue
        cells = [row[index] for row in rows if index < len(row) and row[index] not in ("", "-")]
        if cells and all(RATIO_CELL.fullmatch(cell) for cell in cells):
            columns.append(index)
    return columns


def benchmark_ratios(text=None):
    """``{section: [(column title, [(row label, ratio, its text), ...]), ...]}`` for the sections with ratio columns. A row's
    label is its backend and the cells before the first measured column (``batch=64``, ``block=G(4)``)."""
    _, sections = benchmark_sections(text)
    ratios = {}
    for name, text in sections:
        for header, rows in parse_tables(text):
            columns = ratio_columns(header, rows)
            if not columns:
                continue
            first_measured = min([i for i, _ in enumerate(header)
                                  if i in columns or any(i < len(row) and "±" in row[i] for row in rows)] + columns)
            series = []
            for index in columns:
                points = []
                for row in rows:
                    if index < len(row) and RATIO_CELL.fullmatch(row[index]):
                        label = " ".join([row[0]] + [f"{header[i]}={row[i]}" for i in range(1, first_measured)])
                        number = RATIO_CELL.fullmatch(row[index])[1]
                        points.append((label, float(number), number))
                series.append((header[index], points))
            ratios.setdefault(name, []).extend(series)
    return ratios


def benchmark_plot_name(section):
    return f"benchmarks-{section}.png"


def benchmarks_markdown(generated_prefix=GENERATED_DIR):
    """``benchmarks/RESULTS.md`` without its title, its sections one level down, and under each section with ratio
    columns the chart of them (``generated_prefix``: the plots' folder relative to the page)."""
    intro, sections = benchmark_sections()
    intro = "\n".join(intro.splitlines()[1:]) if intro.startswith("# ") else intro
    plotted = benchmark_ratios()
    parts = [intro.strip() + "\n"]
    for name, text in sections:
        parts.append(f"### {name}\n{text.rstrip()}\n")
        if name in plotted:
            parts.append(f"![{name}: the measured ratios of the table above]"
                         f"({generated_prefix}/{benchmark_plot_name(name)})\n")
    return "\n".join(parts)


GENERATORS = {"references": references_markdown, "models": models_markdown, "benchmarks": benchmarks_markdown}


# ------------------------------------------------------------------------------------------------------------ plots

BACKEND_COLORS = {"tensorflow": "tab:orange", "jax": "tab:green", "torch": "tab:red"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    return plt


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def benchmark_plot(section, series):
    """One section's ratios as horizontal bars, a panel per column, colored by backend, with the column's target
    (``(≤1.10)`` ending its header) dashed and 1.0 dotted."""
    plt = _pyplot()
    rows = max(len(points) for _, points in series)
    figure, axes = plt.subplots(1, len(series), figsize=(2.9 * len(series) + 1.9, 0.3 * rows + 1.5), squeeze=False)
    for axis, (title, points) in zip(axes[0], series):
        labels = [label for label, _, _ in points]
        values = [value for _, value, _ in points]
        positions = range(len(points))[::-1]
        axis.barh(list(positions), values, color=[BACKEND_COLORS.get(label.split()[0], "tab:blue") for label in labels])
        axis.set_yticks(list(positions), labels, fontsize=9)
        for position, (_, value, text) in zip(positions, points):
            axis.text(value, position, f" {text}", va="center", fontsize=8,
                      bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
        target = TARGET.search(title)
        if target:
            axis.axvline(float(target[2]), color="black", linestyle="--", linewidth=1)
        if max(values) < 10:
            axis.axvline(1.0, color="gray", linestyle=":", linewidth=1)
        axis.set_xlim(0, max(values + ([float(target[2])] if target else [])) * 1.25)
        axis.set_title(title, fontsize=9)
        axis.tick_params(axis="x", labelsize=8)
        if axis is not axes[0][0]:
            axis.set_yticklabels([])
    figure.suptitle(f"{section} (benchmarks/RESULTS.md)", fontsize=10)
    figure.tight_layout()
    return _png(figure)


# examples/results/<name>/<figure>: the figure each example script draws with its results (committed beside them)
RESULT_FIGURES = {"mutual": "accuracy.png", "reskd": "figure4.png", "reskd_search": "figure4.png",
                  "gkt": "accuracy_vs_time.png", "moonshine": "figure3.png", "residual_kd": "drop_and_gain.png"}


def result_plot_name(name):
    return f"results-{name}.png"


def plots():
    """``{file name: PNG bytes}`` of every generated plot and every example's figure."""
    generated = {benchmark_plot_name(section): benchmark_plot(section, series)
                 for section, series in benchmark_ratios().items()}
    for name, figure in RESULT_FIGURES.items():
        path = EXAMPLE_RESULTS / name / figure
        if path.exists():
            generated[result_plot_name(name)] = path.read_bytes()
    return generated


# ------------------------------------------------------------------------------------------------------ paper keys

SKIPPED_ELEMENTS = {"a", "pre", "code", "script", "style", "textarea", "h1", "h2", "h3", "h4", "h5", "h6"}
HTML_TOKEN = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)")


def link_paper_keys(content, keys, href):
    """``content`` (rendered HTML) with every paper key of ``keys`` (``{key: citation}``, the citation the link's
    tooltip) in its text linked to ``href(key)``; also an inline ``<code>KEY</code>``. Text inside links, code
    blocks, inline code of more than a key, headings, scripts and attributes is left alone."""

    def link(key, text):
        return f'<a class="paper-key" href="{href(key)}" title="{html.escape(keys[key])}">{text}</a>'

    tokens = HTML_TOKEN.split(content)
    depth = {}  # open skipped elements by name
    out = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.startswith("<"):
            match = TAG_NAME.match(token)
            if match and match[2].lower() in SKIPPED_ELEMENTS and not token.endswith("/>"):
                name = match[2].lower()
                if not match[1] and name == "code" and not any(depth.values()) and index + 1 < len(tokens) \
                        and html.unescape(tokens[index]) in keys and tokens[index + 1].lower() == "</code>":
                    key = html.unescape(tokens[index])
                    out.append(link(key, f"{token}{tokens[index]}</code>"))
                    index += 2
                    continue
                depth[name] = max(0, depth.get(name, 0) + (-1 if match[1] else 1))
            out.append(token)
        elif any(depth.values()):
            out.append(token)
        else:
            out.append(KEY_PATTERN.sub(lambda m: link(m[0], m[0]) if m[0] in keys else m[0], token))
    return "".join(out)


# ----------------------------------------------------------------------------------------------------------- hooks

_cache = {}


def on_config(config):
    _cache.clear()  # a rebuild (mkdocs serve) reads the sources again
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for name, content in plots().items():
        files.append(File.generated(config, f"{GENERATED_DIR}/{name}", content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    def replace(match):
        name = match[1]
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_uri}: unknown generated block {name!r}; known: {sorted(GENERATORS)}")
        if name == "benchmarks":
            base = posixpath.dirname(page.file.src_uri)
            return benchmarks_markdown(posixpath.relpath(GENERATED_DIR, base or "."))
        return GENERATORS[name]()

    return PLACEHOLDER.sub(replace, markdown)


def on_page_content(content, page, config, files):
    if page.file.src_uri == REFERENCES_PAGE:
        return content
    from mkdocs.utils import get_relative_url

    if "keys" not in _cache:
        _cache["keys"] = {key: reference.citation() for key, reference in load_references().items()}
    references_url = files.get_file_from_path(REFERENCES_PAGE).url
    target = get_relative_url(references_url, page.url)
    return link_paper_keys(content, _cache["keys"], lambda key: f"{target}#{key}")
