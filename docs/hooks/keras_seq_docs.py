"""MkDocs hook of the keras-seq site: pages and files made at build time, nothing copied in git.

- Tutorial figures: every `tutorials/figures/*.png` of the repository is served as
  `tutorials/figures/NAME.png`, so a page under `docs/tutorials/` embeds `figures/NAME.png`.
- `<!-- keras-seq:figures PREFIX -->` in a page becomes one embed per figure whose name starts
  with PREFIX (for tutorials whose figure names are not fixed in the page).
- `<!-- keras-seq:options APP [GROUP ...] -->` becomes tables of the options of
  `keras-seq train APP` (from its argparse parser, so the page follows `--help`); without
  groups, all groups except the shared `distribution` and `outputs` ones.
- `results.md` is `benchmarks/RESULTS.md`, read at build time.
- API reference: every nav entry `api/keras_seq.X.md` that has no file under `docs/` is
  generated: the module's docstring, then one mkdocstrings block per public name the package
  exports (`__all__`, else the names its `__init__.py` imports from keras_seq), or, for a
  package that exports nothing, one block per submodule. Adding a module is one nav line.
"""

import ast
import html
import json
import pathlib
import re
import subprocess
import sys

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIGURES = ROOT / "tutorials" / "figures"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
API_ENTRY = re.compile(r"^api/(keras_seq(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\.md$")
MARKER = re.compile(r"<!--\s*keras-seq:(figures|options)\s+([^>]*?)\s*-->")
SHARED_GROUPS = ("distribution", "outputs")

# Runs in a child process whose working directory is the repository root, so the repository's
# own keras_seq and applications are the ones imported (without editing sys.path here).
_DUMP_OPTIONS = r"""
import argparse, importlib.util, json, pathlib, sys
# This checkout's applications/ as keras_seq.applications (not another install's).
folder = pathlib.Path("applications").resolve()
if (folder / "__init__.py").is_file():
    spec = importlib.util.spec_from_file_location(
        "keras_seq.applications", folder / "__init__.py",
        submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["keras_seq.applications"] = package
    spec.loader.exec_module(package)
from keras_seq.cli import APPLICATIONS, app_parser
out = {}
for app in sys.argv[1:] or APPLICATIONS:
    _, parser = app_parser(app)
    formatter = parser._get_formatter()
    groups = []
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            default = action.default
            if action.nargs == 0:
                default = "on" if default is True else ""
            elif default is None or default == argparse.SUPPRESS:
                default = ""
            elif isinstance(default, (list, tuple)):
                default = " ".join(str(v) for v in default)
            value = ""
            if action.nargs != 0:
                if action.choices:
                    value = "{" + ",".join(str(c) for c in action.choices) + "}"
                else:
                    value = action.metavar or action.dest.upper()
            rows.append({"flags": list(action.option_strings), "value": value,
                         "default": str(default),
                         "help": formatter._expand_help(action) if action.help else ""})
        if rows:
            groups.append({"title": group.title, "description": group.description or "",
                           "rows": rows})
    out[app] = groups
print(json.dumps(out))
"""

_options_cache = {}


def _app_options(apps):
    """The option groups of `apps`; the first call reads every application's (one child
    process: it imports keras_seq, several seconds, so once per build and not per page)."""
    if not _options_cache:
        proc = subprocess.run([sys.executable, "-c", _DUMP_OPTIONS], check=False,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PluginError("keras-seq docs hook: could not read the applications' "
                              f"options: {proc.stderr.strip()[-2000:]}")
        _options_cache.update(json.loads(proc.stdout))
    unknown = [app for app in apps if app not in _options_cache]
    if unknown:
        raise PluginError(f"keras-seq docs hook: no application named {', '.join(unknown)} "
                          f"(known: {', '.join(_options_cache)})")
    return {app: _options_cache[app] for app in apps}


def _cell(text):
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def options_markdown(groups, wanted=None):
    """Markdown tables (one per argparse group) from `_DUMP_OPTIONS`'s output for one app."""
    parts = []
    for group in groups:
        title = group["title"]
        if wanted and title not in wanted:
            continue
        if not wanted and title in SHARED_GROUPS:
            continue
        parts.append(f"**{title.capitalize()}**" + (f": {_cell(group['description'])}"
                                                      if group["description"] else ""))
        parts.append("")
        parts.append("| option | default | what it does |")
        parts.append("|---|---|---|")
        for row in group["rows"]:
            flags = ", ".join(f"`{f}`" for f in row["flags"])
            if row["value"]:
                flags += f" `{row['value']}`".replace("|", "\\|")
            default = f"`{row['default']}`" if row["default"] else ""
            parts.append(f"| {flags} | {default} | {_cell(row['help'])} |")
        parts.append("")
    if wanted and not parts:
        raise PluginError(f"keras-seq docs hook: no option group named {sorted(wanted)}")
    return "\n".join(parts)


def figure_names(prefix):
    """Figures of `tutorials/figures/` whose file name starts with `prefix`, sorted."""
    return sorted(p.name for p in FIGURES.glob(f"{prefix}*.png"))


def figures_markdown(prefix, page_src_uri):
    depth = page_src_uri.count("/")
    base = "../" * depth + "tutorials/figures/"
    names = figure_names(prefix)
    if not names:
        return (f"*No figure named `{prefix}*.png` is in `tutorials/figures/` yet: running "
                "the tutorial writes them there.*")
    return "\n\n".join(f"![{name}]({base}{name})\n\n`{name}`" for name in names)


def _nav_entries(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nav_entries(value)


def exported_names(module):
    """Public names a keras_seq package exports: `__all__`, else what `__init__` imports."""
    init = ROOT.joinpath(*module.split(".")) / "__init__.py"
    if not init.is_file():
        raise PluginError(f"keras-seq docs hook: {module} has no {init.relative_to(ROOT)}")
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return [ast.literal_eval(element) for element in node.value.elts]
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_seq"):
            names += [alias.asname or alias.name for alias in node.names]
    return [name for name in names if not name.startswith("_")]


def submodules(module):
    folder = ROOT.joinpath(*module.split("."))
    found = [p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")]
    found += [p.name for p in folder.iterdir()
              if p.is_dir() and (p / "__init__.py").is_file() and not p.name.startswith("_")]
    return sorted(found)


def api_page(module):
    """The Markdown of a generated API page for the package `module`."""
    lines = [f"# `{module}`", "", f"::: {module}", "    options:", "      members: false",
             "      show_root_heading: false", "      show_root_toc_entry: false", ""]
    names = exported_names(module)
    names = sorted(names, key=lambda n: not n[:1].isupper())  # classes first, order kept
    if names:
        for name in names:
            lines += [f"::: {module}.{name}", ""]
    else:
        for sub in submodules(module):
            lines += [f"::: {module}.{sub}", ""]
    return "\n".join(lines)


def results_page():
    """benchmarks/RESULTS.md, with links into the repository turned into code spans."""
    text = RESULTS.read_text(encoding="utf-8")

    def repo_link(match):
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            return match.group(0)
        return f"{label} (`benchmarks/{target}`)" if label != target else f"`{target}`"

    text = re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", repo_link, text)
    note = ("\n\n*This page is `benchmarks/RESULTS.md` of the repository, included when the "
            "site is built.*\n")
    first_break = text.find("\n")
    return text[:first_break] + note + text[first_break:]


def on_files(files, config):
    """Adds the tutorial figures, the results page and the generated API pages."""
    for path in sorted(FIGURES.glob("*.png")):
        files.append(File.generated(config, f"tutorials/figures/{path.name}",
                                    abs_src_path=str(path)))
    if files.get_file_from_path("results.md") is None:
        files.append(File.generated(config, "results.md", content=results_page()))
    for entry in _nav_entries(config["nav"] or []):
        match = API_ENTRY.match(entry)
        if match and files.get_file_from_path(entry) is None:
            files.append(File.generated(config, entry, content=api_page(match.group(1))))
    return files


def on_page_markdown(markdown, page, config, files):
    """Expands the `keras-seq:figures` and `keras-seq:options` markers."""
    apps = [m.group(2).split()[0] for m in MARKER.finditer(markdown) if m.group(1) == "options"]
    options = _app_options(apps) if apps else {}

    def expand(match):
        kind, args = match.group(1), match.group(2).split()
        if kind == "figures":
            return figures_markdown(args[0], page.file.src_uri)
        return options_markdown(options[args[0]], set(args[1:]) or None)

    return MARKER.sub(expand, markdown)
