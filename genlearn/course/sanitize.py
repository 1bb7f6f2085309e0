"""Student HTML, made safe to show in the instructor's formgrader and in feedback.

formgrader renders a submission with nbconvert's ``HTMLExporter`` inside the instructor's
logged-in Jupyter session, and ``nbgrader generate_feedback`` renders the feedback the same
way. Everything in a student's notebook reaches that page: the written answers (Markdown
with raw HTML), the outputs (``text/html``, ``text/markdown``, ``image/svg+xml``,
``application/javascript``, widget views) and the cell and notebook metadata that the
templates paste into attributes (nbgrader's ``grade_id``, tags). nbconvert's
``sanitize_html`` option does not help formgrader: its template renders Markdown cells
itself, unsanitized. A script that runs there can call formgrader's API (grades) and the
contents API (solutions/) with the instructor's rights.

:class:`SanitizeStudentHTML` runs as a preprocessor of ``HTMLExporter`` (the course's
``nbgrader_config.py``: ``c.HTMLExporter.preprocessors``), so it applies to formgrader and
feedback alike, before any template sees the notebook:

- Markdown and raw cells: nbconvert's :class:`~nbconvert.preprocessors.SanitizeHTML`
  (bleach, an allow-list of tags and attributes; ``<script>``, event handlers, ``<iframe>``,
  ``<object>``, ``<style>`` and ``javascript:`` links are escaped or removed);
- outputs: ``text/html`` and ``text/markdown`` cleaned the same way; JavaScript, SVG,
  widget views and any other type that can carry script are dropped (their ``text/plain``
  stays); images (PNG, JPEG) are kept;
- metadata: ids and tags that templates put into attributes must be plain names, or they
  are replaced; the notebook's widget state is removed.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors.sanitize import SanitizeHTML

SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
MARKUP = re.compile(r"[<>\"'&`]")
NOTEBOOK_KEYS = ("kernelspec", "language_info", "nbgrader")


class SanitizeStudentHTML(SanitizeHTML):
    """nbconvert's SanitizeHTML, plus the metadata formgrader's templates put into HTML."""

    def preprocess(self, nb, resources):
        nb.metadata = {k: v for k, v in nb.metadata.items() if k in NOTEBOOK_KEYS}
        for key in ("kernelspec", "language_info"):  # names only: no markup characters
            info = nb.metadata.get(key)
            if isinstance(info, dict):
                nb.metadata[key] = {k: MARKUP.sub("", v) if isinstance(v, str) else v for k, v in info.items()
                                    if isinstance(v, (str, int))}
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {})
        nbgrader = meta.get("nbgrader")
        if isinstance(nbgrader, dict):
            for key in ("grade_id", "cell_id"):
                if key in nbgrader and not (isinstance(nbgrader[key], str) and SAFE_NAME.fullmatch(nbgrader[key])):
                    nbgrader[key] = f"unsafe-id-{index}"
            if "points" in nbgrader:
                try:
                    nbgrader["points"] = float(nbgrader["points"])
                except (TypeError, ValueError):
                    nbgrader["points"] = 0.0
        if "tags" in meta:
            meta["tags"] = [t for t in meta["tags"] if isinstance(t, str) and SAFE_NAME.fullmatch(t)] \
                if isinstance(meta["tags"], list) else []
        for key in [k for k in meta if k not in ("nbgrader", "tags", "deletable", "editable", "collapsed", "trusted")]:
            del meta[key]
        if "id" in cell and not (isinstance(cell["id"], str) and SAFE_NAME.fullmatch(cell["id"])):
            cell["id"] = f"cell-{index}"
        cell.pop("attachments", None) if cell.get("cell_type") == "code" else None
        if cell.get("cell_type") == "markdown" and "attachments" in cell:
            cell["attachments"] = {name: {k: v for k, v in data.items() if k in ("image/png", "image/jpeg")}
                                   for name, data in cell["attachments"].items() if SAFE_NAME.fullmatch(name)}
        for output in cell.get("outputs", []):
            output.get("metadata", {}).clear() if isinstance(output.get("metadata"), dict) else None
        return super().preprocess_cell(cell, resources, index)
