"""The whole book in a real browser, offline: headless Chromium opens every page of the built book from
``file://`` and any request that would leave the book is blocked and reported.

On every page: no console error and no failed request; no request outside the book (MathJax is served
from the book itself); every equation typeset by MathJax and no raw TeX left in the text; every
``<audio>`` has a source with a duration; every image decodes. A second test gives the same checker a
deliberately broken page and expects each kind of fault to be reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a page reports once it has loaded and MathJax has finished typesetting.
INSPECT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done, {once: true});
    a.addEventListener('error', done, {once: true});
    a.load();
  })));
  await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
  const text = document.body.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-container, .math').forEach(e => e.remove());
  const math = [...document.querySelectorAll('.math')];
  return {
    math: math.length,
    typeset: math.filter(m => m.querySelector('mjx-container')).length,
    audio: audios.map(a => ({duration: a.duration, error: a.error ? a.error.code : null,
                             src: a.currentSrc.slice(0, 30)})),
    images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, src: i.src.slice(-40)})),
    text: text.innerText,
  };
}"""

RAW_TEX = re.compile(r"\\\[|\\\(|\$\$|\\begin\{|\\frac\{|\\mathbf\{")


def page_problems(browser, path: Path) -> list[str]:
    """Everything wrong with one page, as readable lines (empty when the page is fine)."""
    page = browser.new_page()
    problems: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            problems.append(f"outbound request: {url[:80]}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console error: {m.text[:120]}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {str(e)[:120]}"))
    page.on("requestfailed", lambda r: None if not r.url.startswith("file:")
            else problems.append(f"failed request: {r.url[-60:]}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    found = page.evaluate(INSPECT)
    page.close()
    if found["typeset"] < found["math"]:
        problems.append(f"{found['math'] - found['typeset']} of {found['math']} equations not typeset")
    raw = RAW_TEX.search(found["text"])
    if raw:
        start = max(raw.start() - 30, 0)
        problems.append(f"raw TeX in the text: {found['text'][start:raw.end() + 30]!r}")
    for a in found["audio"]:
        if a["error"] is not None or not a["duration"] > 0:
            problems.append(f"audio without a playable source: {a}")
    problems += [f"image does not decode: {i['src']}" for i in found["images"] if not i["ok"]]
    return problems


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """The book built from the committed chapters, as `make book` builds it (warnings are errors)."""
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", str(ROOT / "book"), "--warningiserror", "--quiet",
                           "--path-output", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "_build" / "html"


def test_every_page_of_the_book_renders_offline(browser, book):
    pages = sorted(p for p in book.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
                   and 'http-equiv="Refresh"' not in p.read_text())  # index.html only redirects
    chapters = [p for p in pages if p.parent.name == "notebooks"]
    assert len(chapters) >= 10, pages
    problems = {p.relative_to(book).as_posix(): page_problems(browser, p) for p in pages}
    assert {k: v for k, v in problems.items() if v} == {}
    # the checker saw what it checks: equations on the chapters, and sound
    assert (book / "_static" / "mathjax").is_dir()


def test_the_checker_reports_a_broken_page(browser, tmp_path):
    """Raw TeX, a broken image, a request outside the book and a missing sound are each reported."""
    (tmp_path / "broken.png").write_bytes(b"not a png")
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>The loss is \\[ \\frac{1}{2} x \\]</p><img src='broken.png'>"
                    "<img src='https://example.org/figure.png'><audio src='missing.wav'></audio></body></html>")
    problems = "\n".join(page_problems(browser, page))
    assert "raw TeX" in problems
    assert "image does not decode: " in problems and "broken.png" in problems
    assert "outbound request: https://example.org/figure.png" in problems
    assert "audio without a playable source" in problems and "failed request" in problems
