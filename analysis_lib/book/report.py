"""Presentation helpers for the book: numbered tables, glued numbers and text, the
parameters actually used, and the data-provenance notice.

Tables are emitted as MyST ``{table}`` directives inside a Markdown output, so Sphinx numbers
them and ``{numref}`` can cite them. Numbers reach the narrative through myst-nb's ``glue``:
numeric values for ``{glue:text}`` (and for other pages), formatted phrases as Markdown for
``{glue:md}`` on the same page.
"""


from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from IPython.display import Markdown, display

from ..core.paths import ROOT
from ..data.validation import ValidationReport


def md_escape(text: Any, limit: int | None = 200) -> str:
    """``text`` as Markdown that renders as exactly that text: at most ``limit`` characters,
    control and invisible characters and line breaks shown escaped
    (:func:`analysis_lib.data.io.printable`), and every ASCII punctuation character
    backslash-escaped (CommonMark allows it for all of them), so that no emphasis, code,
    link, HTML tag, MyST role or directive, math or table syntax in user-supplied strings
    (folder names, file and column names, codes, metadata) becomes markup."""
    from ..data.io import printable

    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", printable(text, limit))


def md_code(text: Any, limit: int | None = 200) -> str:
    """``text`` as an inline code span that cannot be broken out of (the fence is longer
    than any run of backticks in it; control characters shown escaped)."""
    from ..data.io import printable

    s = printable(text, limit)
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{'`' * (run + 1)}{pad}{s}{pad}{'`' * (run + 1)}"


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name escaped for Markdown
    (:func:`md_escape`): for tables of user-supplied strings such as a validation report."""
    out = frame.astype(object).map(lambda v: md_escape(v) if isinstance(v, str) else v)
    out.columns = [md_escape(c) for c in frame.columns]
    return out


def _cell(v: Any) -> str:
    from ..core import formatting

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (float, int)) and not isinstance(v, bool):
        # numbers in a table go through the book's one formatter (never 29.0 or 1.2e+06)
        return formatting.count(v) if float(v).is_integer() else formatting.number(v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_pipe_table(frame: pd.DataFrame) -> str:
    """A plain Markdown pipe table (unnumbered)."""
    cols = [str(c) for c in frame.columns]
    head = "| " + " | ".join(_cell(c) for c in cols) + " |"
    rule = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def md_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    """A MyST ``{table}`` directive (numbered, captioned, referable as ``{numref}`label```)."""
    return "\n".join([f":::{{table}} {caption}", f":name: {label}", ":align: left", "",
                      md_pipe_table(frame), ":::"])


#: What a caption adds when some of its table's cells were computed under a parameter other
#: than the paper's (their dots, :func:`beside`, are lilac; the chapter's note names the
#: parameter, :func:`changed_chapter_note`).
CHANGED_CAPTION = ("Lilac dots: computed under an analysis parameter other than the paper's "
                   "(see the note at the top of the chapter; hover over a dot for which), so "
                   "not compared with the paper's value.")


def show_table(frame: pd.DataFrame, caption: str, label: str) -> None:
    """Display ``frame`` as a numbered, captioned table in the book (small counts suppressed
    when :func:`analysis_lib.core.suppression.set_min_cell_count` is on); when a cell shows
    the status "computed under another parameter" (:func:`beside`), the caption says what
    its dot means (:data:`CHANGED_CAPTION`)."""
    from ..core.suppression import suppress_table
    from ..paper.scorecard import BADGES, CHANGED

    mark = f'class="sc-dot sc-{BADGES[CHANGED]}"'
    if any(isinstance(v, str) and mark in v for v in frame.to_numpy().ravel()):
        caption = f"{caption} {CHANGED_CAPTION}"
    display(Markdown(md_table(suppress_table(frame), caption, label)))


#: Largest listing of individual patients shown whole on a page (issue 16): a longer one
#: shows its first rows, says how many of how many, and points to its CSV download, which
#: holds every row; a page of a 50,000-patient build then weighs what a 50-patient one does.
LISTING_MAX_ROWS: int = 100


def listing_note(n_rows: int, what: str = "patients") -> str:
    """The sentence a caption adds when a listing is cut (:data:`LISTING_MAX_ROWS`), or ""."""
    from ..core import formatting

    if n_rows <= LISTING_MAX_ROWS:
        return ""
    return (f" The first {formatting.count(LISTING_MAX_ROWS)} of {formatting.count(n_rows)} "
            f"{what} are listed here; the CSV download holds all of them.")


def show_listing(frame: pd.DataFrame, caption: str, label: str, what: str = "patients"
                 ) -> None:
    """:func:`show_table` for a listing of individual patients (one row each): at most
    :data:`LISTING_MAX_ROWS` rows on the page, the caption saying so (:func:`listing_note`)
    when there are more."""
    show_table(frame.head(LISTING_MAX_ROWS), caption + listing_note(len(frame), what), label)


def glue_number(key: str, value: float | int | str) -> None:
    """Glue a number (or a plain string, read back by :func:`glued_values`) for
    ``{glue:text}`key:fmt``` (this page or ``path.ipynb::key`` elsewhere)."""
    from myst_nb import glue

    glue(key, value, display=False)


def glue_text(key: str, text: str) -> None:
    """Glue a formatted phrase for ``{glue:md}`key``` on the same page."""
    from myst_nb import glue

    glue(key, Markdown(text), display=False)


def glue_estimates(prefix: str, estimates: pd.DataFrame, estimate: str = "hr") -> None:
    """Glue each row of an estimates frame (columns ``slug``, ``estimate``, ``p``,
    ``not_estimable``) as ``{prefix}_{estimate}__{slug}`` and ``{prefix}_p__{slug}``; when the
    estimate is not estimable, its reason goes under both keys with the suffix
    ``__not_estimable``, which the scorecard reads (:mod:`analysis_lib.paper.scorecard`)."""
    for r in estimates.itertuples():
        keys = (f"{prefix}_{estimate}__{r.slug}", f"{prefix}_p__{r.slug}")
        glue_number(keys[0], float(r.estimate))
        glue_number(keys[1], float(r.p))
        if r.not_estimable:
            for k in keys:  # plain text (escaped wherever it is shown)
                glue_number(k + "__not_estimable", str(r.not_estimable))


def glue_all(values: Mapping[str, Any]) -> None:
    """Glue every value of a chapter's results: numbers (and ``None``/NaN) with
    :func:`glue_number`, strings as Markdown phrases with :func:`glue_text`."""
    for key, v in values.items():
        if isinstance(v, str):
            glue_text(key, v)
        else:
            glue_number(key, v)


def glue_figure(key: str, fig: Any) -> None:
    """Glue a matplotlib figure for a ``{glue:figure}`` directive (numbered caption), after
    checking it (:func:`analysis_lib.book.figures.style.problems`: no overlapping text, no
    text below the minimum size); a figure that fails stops the build with the problems."""
    from myst_nb import glue

    from .figures.style import problems

    found = problems(fig)
    if found:
        raise ValueError(f"figure {key!r} is not fit to publish: " + "; ".join(found[:10]))
    rasterize_dense(fig)
    glue(key, fig, display=True)


#: In an axes of a glued figure whose lines and collections draw more points than this in all
#: (markers, or vertices of lines and bands), those with at least
#: :data:`RASTERIZE_ARTIST_MIN_POINTS` points each are rasterised inside the figure's SVG
#: (issue 16): the page then carries an image whose size depends on the figure's area, not on
#: the number of patients (a Kaplan–Meier curve of 50,000 patients has tens of thousands of
#: steps and censor marks; a strip of every patient's value, one collection per group);
#: text, axes and small artists stay vector. No axes of a 50-patient book comes near it.
RASTERIZE_MIN_POINTS: int = 2000
RASTERIZE_ARTIST_MIN_POINTS: int = 100


def _n_points(artist: Any) -> int:
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    if isinstance(artist, Line2D):
        return len(artist.get_xydata())
    if isinstance(artist, Collection):
        offsets = artist.get_offsets()
        vertices = sum(len(p.vertices) for p in artist.get_paths())
        return max(len(offsets) if offsets is not None else 0, vertices)
    return 0


def rasterize_dense(fig: Any, min_points: int | None = None) -> int:
    """Rasterise (in vector output) the lines and collections of at least
    :data:`RASTERIZE_ARTIST_MIN_POINTS` points in every axes of ``fig`` that draws more than
    ``min_points`` (default :data:`RASTERIZE_MIN_POINTS`) points in all; returns how many."""
    limit = RASTERIZE_MIN_POINTS if min_points is None else min_points
    done = 0
    for ax in fig.axes:
        counts = [(a, _n_points(a)) for a in [*ax.lines, *ax.collections]]
        if sum(n for _, n in counts) <= limit:
            continue
        for artist, n in counts:
            if n >= RASTERIZE_ARTIST_MIN_POINTS:
                artist.set_rasterized(True)
                done += 1
    return done


def beside(reproduced: str, published: str = "", status: str = "", reason: str = "") -> str:
    """A table cell with the reproduced value, the paper's value under it in small type and
    the scorecard status as a coloured dot with its definition on hover (HTML, escaped);
    ``published`` empty: the reproduced value alone. ``reason``: why the status applies to
    this number (for *computed under another parameter*, the parameter, as the scorecard
    page gives it), added to the hover text."""
    import html as _html

    cell = _html.escape(str(reproduced), quote=False)
    if published:
        dot = ""
        if status:
            from ..paper.scorecard import BADGES, DEFINITIONS

            title = status + ": " + DEFINITIONS[status] + (f" Here: {reason}." if reason else "")
            dot = (f' <span class="sc-dot sc-{BADGES[status]}" title="'
                   f'{_html.escape(title, quote=True)}"></span>')
        cell += (f'<br><span class="sc-pub">paper {_html.escape(str(published), quote=False)}'
                 f"</span>{dot}")
    return cell


def dataset_fingerprint(files: Mapping[str, Path]) -> str:
    """First 12 hex digits of a SHA-256 over the data files' names and bytes: identifies the
    exact input of a build without revealing where it lives."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + Path(files[name]).read_bytes())
    return h.hexdigest()[:12]


def parameters_table(params: Mapping[str, Any], fingerprint: str | None = None,
                     patients: pd.DataFrame | None = None) -> pd.DataFrame:
    """The parameters a notebook ran with: Parameter, Value, Default.

    ``data_dir`` is shown as the data's label (``cartbook build --label``, default: the data
    folder's own name: :func:`analysis_lib.data.validation.data_label`) and other directories by
    their last component only: a path of the build machine is never published. Options of the
    registry (:mod:`analysis_lib.analyses.options`) are shown as a user writes them with
    ``-p NAME=VALUE``, with their default; a value other than the default is marked
    **changed**, and a cohort-relative value shows the number it resolved to from
    ``patients`` (``median (= 3.61)``). Every value is escaped (a folder named like an HTML
    tag shows as text); the data fingerprint identifies the input exactly.
    """
    from ..analyses import options
    from ..data.validation import data_label

    rows = []
    for k, v in params.items():
        default = ""
        if k == "data_dir":
            value = md_escape(data_label(v), 80)
        elif k.endswith("_dir"):
            value = md_code(Path(str(v)).name, 80)
        elif k in options.OPTIONS:
            resolved = options.resolve(k, v, patients) if patients is not None else v
            value = md_code(options.shown_value(k, v, resolved))
            default = md_code(options.literal(options.OPTIONS[k].default))
            if not options.is_default(k, v):
                value += " **changed**"
        else:  # the value as a user would write it (-p NAME=VALUE), in code font
            value = md_code(v if isinstance(v, str) else repr(v))
        rows.append({"Parameter": md_code(k), "Value": value, "Default": default})
    if fingerprint is not None:
        rows.append({"Parameter": "data fingerprint (SHA-256)", "Value": f"`{fingerprint}`",
                     "Default": ""})
    return pd.DataFrame(rows, columns=["Parameter", "Value", "Default"])


@dataclass
class ChapterData(ValidationReport):
    """What :func:`open_chapter` returns: the loaded dataset
    (:class:`~analysis_lib.data.validation.ValidationReport`) and what the chapter's
    parameters change. ``changed``: registry or claim key -> why the chapter's value of that
    published number was computed under a parameter other than the paper's (empty with the
    paper's parameters), for the chapter's ``analyse(..., changed=...)``; ``parameters``: the
    options that differ (:class:`analysis_lib.analyses.options.Changed`)."""
    changed: dict[str, str] = field(default_factory=dict)
    parameters: list[Any] = field(default_factory=list)


def open_chapter(chapter: str, data_dir: str | Path, min_cell_count: int,
                 params: Mapping[str, Any]) -> ChapterData:
    """Open a chapter that shows data: load ``data_dir`` (validated, patient codes
    pseudonymised unless synthetic: :func:`analysis_lib.data.validation.load_dataset`), set
    small-cell suppression to ``min_cell_count`` (:mod:`analysis_lib.data.privacy`), and show the
    page's header: the data notice, the parameters of this run (``params``, e.g.
    :func:`analysis_lib.analyses.options.chapter_values` of the notebook, plus
    ``min_cell_count``; :func:`show_parameters`) with the data fingerprint, the source
    links and, when a parameter differs from the paper's, which published numbers that
    changes (:func:`changed_chapter_note`); figures from here on use the book's style, as SVG
    (:mod:`analysis_lib.book.figures.style`). Returns the loaded dataset with the published
    numbers the chapter computes under a changed parameter (:class:`ChapterData`, by
    :func:`parameter_effects` of ``{chapter: params}``: for the chapter's scorecard rows the
    same keys and reasons as the scorecard page, plus the duplicates of the registry that
    depend on a changed parameter)."""
    from ..core.suppression import set_min_cell_count
    from ..data.validation import load_dataset
    from .figures import style

    style.theme()
    style.use_svg()
    data = load_dataset(data_dir)
    set_min_cell_count(min_cell_count)
    patients = data.tables.get("patients")
    display(data_notice(data.synthetic))
    show_parameters({**params, "min_cell_count": min_cell_count}, dataset_fingerprint(data.files),
                    patients)
    display(source_links(chapter))
    changed, scored = parameter_effects({chapter: params}, patients)
    note = changed_chapter_note(changed, len(scored))
    if note is not None:
        display(note)
    shown = parameter_effects({chapter: params}, patients, published_keys(duplicates=True))[1]
    return ChapterData(**{f.name: getattr(data, f.name) for f in fields(data)},
                       changed=shown, parameters=changed)


def show_parameters(params: Mapping[str, Any], fingerprint: str | None = None,
                    patients: pd.DataFrame | None = None) -> None:
    """Show the parameters actually used (:func:`parameters_table`), in a collapsible block
    (not a numbered table); the title says how many differ from the defaults."""
    from ..analyses import options

    n = sum(1 for k, v in params.items()
            if k in options.OPTIONS and not options.is_default(k, v))
    title = "Parameters of this run" + (f" ({n} changed from the defaults)" if n else "")
    table = md_pipe_table(parameters_table(params, fingerprint, patients))
    display(Markdown(f":::{{dropdown}} {title}\n" + table + "\n:::"))


def write_output(frame: pd.DataFrame, output_dir: str | Path, name: str, synthetic: bool) -> Path:
    """Write a result table for download: ``<name>.csv``, plain CSV that ``pandas.read_csv``
    reads with no options (header row, comma, UTF-8, numbers in shortest round-trip form),
    and ``<name>.csv.json`` beside it with the metadata (synthetic or not, description, the
    table's name and its columns). Small counts are suppressed as in the book's tables when
    suppression is on. Both files are written atomically."""
    import json

    from ..core.suppression import suppress_table
    from ..data.io import atomic_write_bytes, csv_bytes

    frame = suppress_table(frame)
    meta = {"synthetic": bool(synthetic),
            "description": ("SYNTHETIC data: derived from a synthetic cohort, not patients"
                            if synthetic else "derived from the supplied cohort"),
            "table": name, "columns": [str(c) for c in frame.columns],
            "source": "Wang et al. 2025 re-analysis (cartbook)"}
    path = Path(output_dir) / f"{name}.csv"
    atomic_write_bytes(path.with_name(path.name + ".json"),
                       (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    atomic_write_bytes(path, csv_bytes(frame))
    return path


def read_output_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata sidecar (``<name>.csv.json``) of a table written by :func:`write_output`."""
    import json

    path = Path(path)
    return json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))


SYNTHETIC_NOTICE = (
    "Every number, table and figure on this page is computed from a "
    "*synthetic* cohort generated to resemble the published aggregates of Wang et al. (2025). "
    "It is not patient data and must not be cited as a clinical result."
)


def data_notice(synthetic: bool, description: str = "") -> Markdown:
    """The notice shown at the top of every page that shows data; with small-cell
    suppression on it says so, and what it does not cover (a hidden count can still follow
    from a total minus the other cells, or from a per-patient listing or figure)."""
    from ..core.suppression import min_cell_count

    k = min_cell_count()
    small = (f" Counts from 1 to {k - 1} are shown as <{k}, with what would give them away "
             "(their percentages and intervals); other cells of a table are not hidden to "
             "protect them, so a hidden count can still follow from a total or from a "
             "per-patient listing." if k > 1 else "")
    if synthetic:
        extra = f" {md_escape(description, None)}" if description else ""
        return Markdown(f":::{{admonition}} Synthetic data\n:class: warning\n"
                        f"{SYNTHETIC_NOTICE}{extra}{small}\n:::")
    return Markdown(":::{admonition} Data of this build\n:class: note\nComputed from the "
                    "cohort supplied for this build (not marked synthetic). Patient codes are "
                    f"replaced by pseudonyms (P001, P002, …).{small}\n:::")


def notebook_modules(source: str | Path, root: str | Path | None = None) -> list[str]:
    """The ``analysis_lib`` modules that the text notebook ``source`` imports, as dotted paths
    below the package (``analyses.kinetics``, ``book.report``): ``from analysis_lib.pkg import
    a, b``, ``from analysis_lib.pkg.a import f``, ``import analysis_lib.pkg.a``; sorted, and
    only names that are module files of ``root/analysis_lib``."""
    import ast

    lib = (Path(root) if root is not None else ROOT) / "analysis_lib"
    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(source).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "analysis_lib" or node.module.startswith("analysis_lib.")):
            sub = node.module.removeprefix("analysis_lib").lstrip(".")
            found.add(sub)
            found.update(f"{sub}.{a.name}".lstrip(".") for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("analysis_lib.") for a in node.names
                         if a.name.startswith("analysis_lib."))
    return sorted(m for m in found if m and (lib / (m.replace(".", "/") + ".py")).is_file())


def source_links(chapter: str, modules: Any = None, *, root: str | Path | None = None) -> Markdown:
    """The *Source* line of a chapter: its text notebook ``notebooks/<chapter>.py`` and the
    library modules it uses, in the repository, and the executed notebook to download.

    ``modules`` are module objects or names (``cohort`` or ``analysis_lib.analyses.cohort``); by default
    those the notebook imports (:func:`notebook_modules`). Repository links use the
    ``{repo}`` role of :mod:`analysis_lib.book.sphinxext`, which the book build resolves from
    ``_config.yml`` (``repository.url``, ``repository.branch``) or the environment
    (``CARTBOOK_REPOSITORY_URL``, ``CARTBOOK_REPOSITORY_REF``): the output is the same
    wherever the book is published.
    """
    import re

    from .sphinxext import ROLE

    if not re.fullmatch(r"[A-Za-z_]\w*", chapter):
        raise ValueError(f"not a chapter name: {chapter!r}")
    base = Path(root) if root is not None else ROOT
    if modules is None:
        source = base / "notebooks" / f"{chapter}.py"
        names = notebook_modules(source, base) if source.is_file() else []
    else:
        names = []
        for m in modules:
            name = str(getattr(m, "__name__", m)).removeprefix("analysis_lib.")
            if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
                raise ValueError(f"not an analysis_lib module: {m!r}")
            names.append(name)
        names = sorted(set(names))
    parts = [f"text notebook {{{ROLE}}}`notebooks/{chapter}.py`",
             f"executed notebook {{download}}`{chapter}.ipynb`"]
    if names:
        parts.append("library " + ", ".join(f"{{{ROLE}}}`analysis_lib/{n.replace('.', '/')}.py`"
                                            for n in names))
    return Markdown("**Source:** " + " · ".join(parts))


GLUE_PREFIX = "application/papermill.record/"


def glued_values(notebook: str | Path) -> dict[str, Any]:
    """Every value glued in an executed notebook, by key.

    Numbers come back as ``int``/``float`` (from their ``text/plain`` form), Markdown phrases
    as their text, figures as the string ``"<figure>"``. This is how tests and the scorecard
    read what a chapter shows, so they can never drift from it.
    """
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = {k.removeprefix(GLUE_PREFIX): v for k, v in o.get("data", {}).items()}
            if "text/markdown" in data:
                out[meta["name"]] = data["text/markdown"]
            elif "image/png" in data:
                out[meta["name"]] = "<figure>"
            else:
                text = data.get("text/plain", "")
                try:
                    out[meta["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    # float('inf') and float('nan') print as 'inf' and 'nan'
                    out[meta["name"]] = float(text) if text in ("inf", "-inf", "nan") else text
    return out


def collect_parameters(notebooks_dir: Path | str, chapters: list[str]) -> dict[str, dict]:
    """The parameters each executed chapter notebook ran with (its
    ``metadata.papermill.parameters``: the values as given, ``"median"`` unresolved)."""
    import json

    out = {}
    for ch in chapters:
        path = Path(notebooks_dir) / ch / f"{ch}.ipynb"
        if path.is_file():
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
            out[ch] = dict(meta.get("papermill", {}).get("parameters", {}))
    return out


def published_keys(duplicates: bool = False) -> dict[str, list[str]]:
    """The registry and claim keys each chapter computes: its rows of the reproduction map
    and of the claims registry (:mod:`analysis_lib.paper.scorecard`). ``duplicates``: every
    chapter also gets the registry's duplicates (numbers the paper prints twice, which are no
    rows of the scorecard but which a chapter can show beside its own value of the number
    they repeat, e.g. the cohort chapter's count of MRD-negative remissions)."""
    from ..paper import scorecard as sc
    from ..paper.registry import load_registry

    keys: dict[str, list[str]] = {}
    for frame in (sc.load_map(), sc.load_claims()):
        for key, ch in zip(frame["key"], frame["chapter"]):
            if ch:
                keys.setdefault(ch, []).append(key)
    if duplicates:
        reg = load_registry()
        dups = reg.loc[reg["duplicate_of"].fillna("") != "", "key"].tolist()
        keys = {ch: ks + dups for ch, ks in keys.items()}
    return keys


def parameter_effects(run: Mapping[str, Mapping[str, Any]], patients: pd.DataFrame | None,
                      keys: Mapping[str, list[str]] | None = None
                      ) -> tuple[list[Any], dict[str, str]]:
    """The analysis options that ``run`` (chapter -> the parameters it ran with) sets other
    than the paper's (:func:`analysis_lib.analyses.options.changed_parameters`, cohort-relative
    values resolved from ``patients``) and the published numbers and claims that each
    chapter computes under them (``keys``, by chapter; default :func:`published_keys`):
    registry or claim key -> reason, for :func:`analysis_lib.paper.scorecard.scorecard`'s
    ``changed``."""
    from ..analyses import options

    changed = options.changed_parameters(run, patients)
    return changed, options.affected_keys(changed, published_keys() if keys is None else keys)


def parameter_changes(notebooks_dir: Path | str, chapters: list[str],
                      patients: pd.DataFrame) -> tuple[list[Any], dict[str, str]]:
    """:func:`parameter_effects` of the parameters the executed ``chapters`` ran with
    (:func:`collect_parameters`): what the scorecard and landing pages mark."""
    return parameter_effects(collect_parameters(notebooks_dir, chapters), patients)


def changed_note(changed: list[Any], n_keys: int) -> Markdown | None:
    """A note for the scorecard: which parameters differ from the paper's and how many
    published numbers and claims were therefore not compared (``None`` when none differ)."""
    if not changed:
        return None
    items = "\n".join(f"- {c.chapter}: {md_escape(c.text())}" for c in changed)
    return Markdown(":::{note}\nThis build used analysis parameters that differ from the "
                    "paper's, so the published numbers and claims computed under them "
                    f"({n_keys}) are marked *computed under another parameter* and not "
                    f"compared:\n\n{items}\n:::")


def changed_chapter_note(changed: list[Any], n_keys: int) -> Markdown | None:
    """A note at the top of a chapter run with parameters other than the paper's: which, and
    that the ``n_keys`` published numbers and claims it computes under them carry the
    status *computed under another parameter* (its dot, as in the tables) instead of a
    comparison, unless the audit impugns the printed value (the scorecard's rule 0;
    ``None`` when no published number depends on a changed parameter)."""
    import html as _html

    from ..paper.scorecard import BADGES, CHANGED, DEFINITIONS

    if not changed or not n_keys:
        return None
    dot = (f'<span class="sc-dot sc-{BADGES[CHANGED]}" title="'
           f'{_html.escape(CHANGED + ": " + DEFINITIONS[CHANGED], quote=True)}"></span>')
    items = "\n".join(f"- {md_escape(c.text())}" for c in changed)
    what = "number or claim" if n_keys == 1 else "numbers and claims"
    return Markdown(":::{note}\nThis chapter ran with analysis parameters that differ from the "
                    f"paper's:\n\n{items}\n\nThe {n_keys} published {what} it computes under "
                    "them are not compared with the paper's values: as on the scorecard, they "
                    f"are shown with the status {dot} *{CHANGED}* (hover over a dot for the "
                    "parameter), unless the audit shows the printed value itself "
                    "inconsistent.\n:::")


def collect_glued(notebooks_dir: Path | str, chapters: list[str]) -> dict[str, dict]:
    """Glued values of each executed chapter notebook (``<dir>/<chapter>/<chapter>.ipynb``)."""
    out = {}
    for ch in chapters:
        path = Path(notebooks_dir) / ch / f"{ch}.ipynb"
        out[ch] = glued_values(path) if path.is_file() else {}
    return out
