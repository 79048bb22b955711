"""Keeps every page of the book self-contained, so it reads the same with no network.

Jupyter Book always loads sphinx-thebe, whose scripts would fetch a live kernel's client from a CDN
when activated (and declare its settings twice on a page, a console error). This book runs its
chapters in Jupyter or Colab instead (the launch buttons), so those scripts and styles are dropped from
every page. MathJax comes from the book's own ``_static`` (the sphinx-mathjax-offline extension).
"""


def _is_thebe(asset) -> bool:
    name = getattr(asset, "filename", None) or str(asset)
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "thebe" in name or "THEBE" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def setup(app):
    app.connect("html-page-context", drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
