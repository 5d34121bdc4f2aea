"""The documentation site builds with `mkdocs build --strict`, and its build-time helpers work.

The strict build fails on any warning: a broken link or image, a nav entry without a page, a
docstring mkdocstrings cannot read. The browser check (`scripts/check_docs_site.py`, headless
Chromium) is not run here; its helper functions are.
"""

import html
import importlib.util
import io
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
QUICK_START = (
    'pip install -e . && keras-seq train translator',
    'pip install -e ".[test]" && python -m pytest -q -n 2 --dist loadfile',
)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    site_dir = tmp_path_factory.mktemp("docs") / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(site_dir)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "WARNING" in line or "Error" in line]
    assert proc.returncode == 0, "\n".join(warnings[:20]) or proc.stderr[-3000:]
    return site_dir


def _text(path):
    page = path.read_text(encoding="utf-8")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def _nav_api_modules():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s*- (api/(keras_seq(?:\.\w+)+)\.md)\s*$", text, flags=re.MULTILINE)


def test_main_pages_have_content(site):
    index = _text(site / "index.html")
    assert QUICK_START[0] in index and "Where to go next" in index
    python_page = _text(site / "python" / "index.html")
    assert "GPTLanguageModel" in python_page and "load_model" in python_page
    for page in ("getting-started", "layers", "runs", "scaling-out", "development"):
        assert len(_text(site / page / "index.html")) > 3000, page


def test_application_pages_list_the_parser_options(site):
    translator = _text(site / "applications" / "translator" / "index.html")
    # rows come from the application's argparse parser, with its help text
    assert "--bidirectional-encoder" in translator and "--deep-output-dim" in translator
    assert "keras-seq:options" not in translator
    for app in ("imdb", "char-lm", "captioner", "gpt-lm", "bert-mlm", "elmo-lm", "tagger",
                "forecaster"):
        page = _text(site / "applications" / app / "index.html")
        assert "--seed" in page and "measured" in page, app
    getting_started = _text(site / "getting-started" / "index.html")
    assert "--run-dir" in getting_started and "--epochs" in getting_started


def test_tutorial_figures_are_served_from_tutorials_figures(site):
    page = (site / "tutorials" / "attention-and-translation" / "index.html").read_text("utf-8")
    sources = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert "../figures/attention_scores.png" in sources, sources
    served = site / "tutorials" / "figures" / "attention_scores.png"
    assert served.read_bytes() == (ROOT / "tutorials/figures/attention_scores.png").read_bytes()
    assert len(list((site / "tutorials" / "figures").glob("*.png"))) == \
        len(list((ROOT / "tutorials" / "figures").glob("*.png")))


def test_every_api_module_in_the_nav_is_documented(site):
    modules = _nav_api_modules()
    assert len(modules) >= 10
    for _, module in modules:
        page = (site / "api" / module / "index.html").read_text("utf-8")
        headings = re.findall(r'class="doc doc-heading"', page)
        assert len(headings) >= 1, module
    layers = (site / "api" / "keras_seq.layers" / "index.html").read_text("utf-8")
    assert 'id="keras_seq.layers.BahdanauAttention"' in layers
    assert "Call arguments" in layers and 'class="gp">&gt;&gt;&gt; ' in layers  # doctest block
    data = (site / "api" / "keras_seq.data" / "index.html").read_text("utf-8")
    assert re.search(r'id="keras_seq\.data\.(char_tokenizer\.)?CharTokenizer"', data)


def test_results_page_is_benchmarks_results(site):
    first_heading = next(line for line in (ROOT / "benchmarks/RESULTS.md").read_text(
        encoding="utf-8").splitlines() if line.startswith("# "))
    assert first_heading[2:].strip() in _text(site / "results" / "index.html")


def test_readme_is_a_short_guide_with_the_quick_start():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) <= 300, len(lines)
    for command in QUICK_START:
        assert command in lines, command


# ---- the build-time hook and the griffe extension ---------------------------------------------

@pytest.fixture(scope="module")
def hook():
    pytest.importorskip("mkdocs")
    return _load("keras_seq_docs_hook", "docs/hooks/keras_seq_docs.py")


def test_hook_exported_names_and_api_page(hook):
    assert hook.exported_names("keras_seq.losses") == ["LabelSmoothedSparseCrossentropy"]
    layers = hook.exported_names("keras_seq.layers")
    assert "BahdanauAttention" in layers and "masked_softmax" in layers
    page = hook.api_page("keras_seq.export")  # exports nothing: one block per submodule
    assert "::: keras_seq.export.imdb_module" in page


def test_hook_options_table_and_missing_figures(hook):
    groups = [{"title": "model", "description": "",
               "rows": [{"flags": ["--rnn"], "value": "{gru,lstm}", "default": "gru",
                         "help": "a | b <c>"}]},
              {"title": "outputs", "description": "", "rows": [
                  {"flags": ["--run-dir"], "value": "RUN_DIR", "default": "", "help": "x"}]}]
    table = hook.options_markdown(groups)
    assert "`--rnn` `{gru,lstm}` | `gru` | a \\| b &lt;c&gt; |" in table
    assert "--run-dir" not in table  # the shared groups are left to their own page
    assert "--run-dir" in hook.options_markdown(groups, {"outputs"})
    assert "No figure named `no_such_prefix*.png`" in hook.figures_markdown(
        "no_such_prefix", "tutorials/x.md")
    assert "](../tutorials/figures/attention_scores.png)" in hook.figures_markdown(
        "attention_scores", "tutorials/x.md")


def test_griffe_extension_rewrites_the_house_style():
    pytest.importorskip("griffe")
    ext = _load("griffe_keras_seq", "docs/hooks/griffe_keras_seq.py")
    doc = ("Summary.\n\n    y = f(x)\n\nArgs:\n    units: int.\n\nCall arguments:\n"
           "    inputs: `(B, T)`.\n    mask: a mask,\n        continued.\n\nReturns:\n"
           "    The output, and when asked,\n    the scores.\n\nExample:\n\n>>> 1 + 1\n2")
    out = ext.rewrite(doc)
    assert "Summary.\n\n    y = f(x)\n\nArgs:\n    units: int." in out
    assert "    - `inputs`: `(B, T)`.\n    - `mask`: a mask,\n      continued." in out
    assert "Returns:\n    The output, and when asked,\n        the scores." in out
    assert out.endswith("Examples:\n    >>> 1 + 1\n    2")


# ---- scripts/check_docs_site.py helpers --------------------------------------------------------

@pytest.fixture(scope="module")
def checker():
    return _load("check_docs_site", "scripts/check_docs_site.py")


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_blank_image_detection(checker):
    from PIL import Image, ImageDraw

    white = Image.new("RGB", (200, 300), "white")
    assert checker.is_blank_image(white)
    assert checker.is_blank_image(_png(white))
    header = white.copy()
    ImageDraw.Draw(header).rectangle((0, 0, 199, 40), fill=(63, 81, 181))
    assert not checker.is_blank_image(header)            # the header alone is 14% of the page
    assert checker.is_blank_image(header, skip_top=41)   # ... but nothing below it
    page = header.copy()
    draw = ImageDraw.Draw(page)
    for y in range(60, 280, 12):
        draw.text((10, y), "keras-seq documentation text", fill="black")
    assert not checker.is_blank_image(page, skip_top=41)
    with pytest.raises(ValueError, match="skip_top"):
        checker.is_blank_image(white, skip_top=300)


def test_article_text_and_image_sources(checker):
    page = ("<html><body><nav>menu</nav><article class='md-content'><h1>Title</h1>"
            "<p>Some <b>text</b>.</p><img src='figures/a.png'></article>"
            "<img src='logo.svg'><img></body></html>")
    assert checker.article_text(page) == "Title Some text ."
    assert checker.image_sources(page) == ["figures/a.png", "logo.svg", ""]
    assert checker.article_text("<html><body><p>no article</p></body></html>") == ""


def test_check_image_urls(checker):
    from PIL import Image

    png = _png(Image.new("RGB", (4, 4), "red"))
    answers = {
        "http://x/docs/figures/ok.png": (200, "image/png", png),
        "http://x/docs/figures/missing.png": (404, "", b""),
        "http://x/docs/figures/broken.png": (200, "image/png", png[:20]),
        "http://x/logo.svg": (200, "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    }
    fetch = answers.__getitem__
    assert checker.check_image_urls("http://x/docs/", ["figures/ok.png", "../logo.svg"],
                                    fetch=fetch) == []
    problems = checker.check_image_urls(
        "http://x/docs/", ["figures/missing.png", "figures/broken.png", ""], fetch=fetch)
    assert problems[0] == "image figures/missing.png answered 404"
    assert problems[1].startswith("image figures/broken.png does not decode")
    assert problems[2] == "an <img> without src"
