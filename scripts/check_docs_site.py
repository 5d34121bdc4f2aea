"""Build the documentation site, serve it locally, and check three pages in headless Chromium.

    python scripts/check_docs_site.py                  # build, serve, check, screenshot
    python scripts/check_docs_site.py --out /tmp/shots --page "" --page python/

For each page it checks that the HTML answers 200, that the main article has text, that every
<img> on the page answers 200 and decodes as an image, and that a Chromium screenshot of the
page (1280x2000) is not blank (one colour below the header). It prints one line per page and
exits 0, or prints one line saying what failed and exits 1.

Chromium: `apt-get update && apt-get install -y chromium` (Debian), or --chromium PATH.
"""

import argparse
import contextlib
import functools
import html.parser
import http.server
import io
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from xml.etree import ElementTree

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_PAGES = ("", "tutorials/attention-and-translation/", "api/keras_seq.layers/")
HEADER_PX = 120  # Material's header and tabs: coloured, so left out of the blank test


class CheckFailed(Exception):
    """One check failed; the message is the one-line reason."""


class _PageParser(html.parser.HTMLParser):
    """Collects the text inside <article> elements and the src of every <img>."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.article_parts = []
        self.images = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self.depth += 1
        elif tag == "img":
            self.images.append(attrs.get("src") or "")

    def handle_endtag(self, tag):
        if tag == "article" and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.article_parts.append(data)


def _parse(page_html):
    parser = _PageParser()
    parser.feed(page_html)
    parser.close()
    return parser


def article_text(page_html):
    """The text of the page's <article> elements, whitespace collapsed ("" when none)."""
    return " ".join(" ".join(_parse(page_html).article_parts).split())


def image_sources(page_html):
    """The src attribute of every <img> of the page, in order ("" for a missing src)."""
    return _parse(page_html).images


def is_blank_image(image, min_fraction=0.01, skip_top=0):
    """True when fewer than `min_fraction` of the pixels (below `skip_top` rows) differ from
    the most common colour: a page that rendered nothing but its background.

    Args:
        image: a PIL image, or a path / bytes of an image file.
        min_fraction: share of pixels that must differ from the dominant colour.
        skip_top: rows at the top left out (a coloured page header).
    """
    from PIL import Image

    if isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
    elif not isinstance(image, Image.Image):
        image = Image.open(image)
    image = image.convert("RGB")
    if skip_top:
        if skip_top >= image.height:
            raise ValueError(f"skip_top={skip_top} leaves nothing of an image "
                             f"{image.height} pixels high")
        image = image.crop((0, skip_top, image.width, image.height))
    total = image.width * image.height
    colors = image.getcolors(maxcolors=total)
    dominant = max(count for count, _ in colors)
    return (total - dominant) < min_fraction * total


def _fetch(url, timeout=30):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, "", b""
    except (urllib.error.URLError, OSError) as error:
        return None, "", str(error).encode()


def check_image_urls(page_url, sources, fetch=_fetch):
    """Problems with the images of a page: each src that does not answer 200 or does not
    decode as an image (PNG/JPEG/GIF/... through Pillow, or SVG as XML). Returns a list of
    one-line messages, empty when every image is fine."""
    from PIL import Image

    problems = []
    for src in sources:
        if not src:
            problems.append("an <img> without src")
            continue
        url = urllib.parse.urljoin(page_url, src)
        status, content_type, body = fetch(url)
        if status != 200:
            problems.append(f"image {src} answered {status}")
            continue
        if content_type == "image/svg+xml" or src.lower().endswith(".svg"):
            try:
                root = ElementTree.fromstring(body)
            except ElementTree.ParseError as error:
                problems.append(f"image {src} is not valid SVG ({error})")
                continue
            if not root.tag.endswith("svg"):
                problems.append(f"image {src} is not SVG (root <{root.tag}>)")
            continue
        try:
            with Image.open(io.BytesIO(body)) as image:
                image.load()
        except (OSError, SyntaxError, ValueError) as error:  # what Pillow raises
            problems.append(f"image {src} does not decode ({type(error).__name__}: {error})")
    return problems


def find_chromium(explicit=None):
    """The Chromium executable: `explicit`, else chromium / chromium-browser / google-chrome."""
    if explicit:
        if shutil.which(explicit) is None and not pathlib.Path(explicit).is_file():
            raise CheckFailed(f"--chromium {explicit!r}: no such executable")
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise CheckFailed("no Chromium found (install it: apt-get update && apt-get install -y "
                      "chromium, or pass --chromium PATH)")


def screenshot(chromium, url, path, width=1280, height=2000, timeout=180):
    """Writes a headless-Chromium screenshot of `url` to `path`."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-dev-shm-usage", "--virtual-time-budget=10000",
               f"--screenshot={path}", f"--window-size={width},{height}", url]
    proc = subprocess.run(command, check=False, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0 or not pathlib.Path(path).is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"Chromium could not screenshot {url} (exit {proc.returncode}: "
                          f"{last})")


def build_site(site_dir):
    """`mkdocs build --strict` into `site_dir`."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(site_dir)],
                          check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        lines = [line for line in (proc.stdout + proc.stderr).splitlines()
                 if "WARNING" in line or "Error" in line] or ["no message"]
        raise CheckFailed(f"mkdocs build --strict failed: {lines[0].strip()}")


@contextlib.contextmanager
def serve(site_dir):
    """Serves `site_dir` on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def check_page(base_url, page, chromium, out_dir, min_chars=200):
    """Runs every check on one page; returns a one-line summary or raises CheckFailed."""
    url = urllib.parse.urljoin(base_url, page)
    name = page.strip("/").replace("/", "_") or "index"
    status, _, body = _fetch(url)
    if status != 200:
        raise CheckFailed(f"{url} answered {status}")
    page_html = body.decode("utf-8", errors="replace")
    text = article_text(page_html)
    if len(text) < min_chars:
        raise CheckFailed(f"{url}: the article has {len(text)} characters of text "
                          f"(expected >= {min_chars})")
    sources = image_sources(page_html)
    problems = check_image_urls(url, sources)
    if problems:
        raise CheckFailed(f"{url}: {problems[0]}"
                          + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    shot = pathlib.Path(out_dir) / f"{name}.png"
    screenshot(chromium, url, shot)
    if is_blank_image(shot, skip_top=HEADER_PX):
        raise CheckFailed(f"{url}: the screenshot {shot} is blank below the header")
    return (f"ok  /{page:<40} {len(text):>7} characters, {len(sources)} images, "
            f"screenshot {shot}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", action="append", dest="pages", default=None,
                        help="page path under the site root, e.g. python/ (repeatable; "
                             "default: " + ", ".join(repr(p) for p in DEFAULT_PAGES) + ")")
    parser.add_argument("--out", default=None,
                        help="folder for the screenshots (default: a new temporary folder)")
    parser.add_argument("--site-dir", default=None,
                        help="build into this folder (default: a temporary folder)")
    parser.add_argument("--no-build", action="store_true",
                        help="serve --site-dir as it is, without building")
    parser.add_argument("--chromium", default=None, help="the Chromium executable")
    parser.add_argument("--min-chars", type=int, default=200,
                        help="least text a page's article must have (default 200)")
    args = parser.parse_args(argv)
    if args.no_build and not args.site_dir:
        parser.error("--no-build needs --site-dir")
    pages = args.pages if args.pages is not None else list(DEFAULT_PAGES)
    try:
        chromium = find_chromium(args.chromium)
        with tempfile.TemporaryDirectory(prefix="keras_seq_site_") as tmp:
            site_dir = pathlib.Path(args.site_dir or pathlib.Path(tmp) / "site")
            out_dir = pathlib.Path(args.out or tempfile.mkdtemp(prefix="keras_seq_shots_"))
            out_dir.mkdir(parents=True, exist_ok=True)
            if not args.no_build:
                build_site(site_dir)
            elif not (site_dir / "index.html").is_file():
                raise CheckFailed(f"--site-dir {site_dir} has no index.html")
            with serve(site_dir) as base_url:
                for page in pages:
                    print(check_page(base_url, page, chromium, out_dir, args.min_chars))
    except CheckFailed as error:
        print(f"check_docs_site: FAILED: {error}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as error:
        print(f"check_docs_site: FAILED: timed out: {' '.join(map(str, error.cmd))[:200]}",
              file=sys.stderr)
        return 1
    print(f"check_docs_site: {len(pages)} pages ok; screenshots in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
