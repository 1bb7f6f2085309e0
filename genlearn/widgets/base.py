"""The pattern every genlearn widget follows: controls, and a picture that redraws.

A :class:`FigureWidget` owns some ipywidgets controls and an ``ipywidgets.Image`` holding a
PNG of a matplotlib figure; changing a control redraws the figure into the image. Keeping
the picture as PNG bytes in a widget makes three things easy:

* tests can change a control and assert that the displayed bytes (and the data behind
  them, kept in ``self.state``) really changed;
* the display bundle carries the same PNG as ``image/png`` beside the live widget, so an
  executed notebook, nbconvert's HTML and GitHub show a static figure without a kernel;
* redraws are cheap enough for sliders (``Figure`` objects, no pyplot state).
"""

from __future__ import annotations

import base64
import io

import ipywidgets as W
from matplotlib.figure import Figure

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class FigureWidget:
    """Base class: subclasses build ``controls``, implement :meth:`draw`, and call ``super().__init__``."""

    dpi = 90

    def __init__(self, controls: list[W.Widget], *, title: str | None = None, auto_refresh: bool = True):
        self.controls = list(controls)
        self.image = W.Image(format="png")
        self.status = W.HTML()
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        self.ui = W.VBox(header + [W.HBox(self.controls, layout=W.Layout(flex_flow="row wrap")),
                                   self.image, self.status])
        self.state: dict = {}  # what the current picture shows, for tests and for curious students
        self.figure: Figure | None = None
        self._handle = None    # set by show(): the display whose static picture finish() replaces
        if auto_refresh:
            for control in self.controls:
                if hasattr(control, "value"):
                    control.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    def draw(self) -> Figure:
        """Draw the current state into a new Figure (and record it in ``self.state``)."""
        raise NotImplementedError

    def refresh(self) -> None:
        self.figure = self.draw()
        self.image.value = figure_png(self.figure, self.dpi)

    def show(self):
        """Display the widget with a display id and return it, so that :meth:`finish` (and
        widgets that change while code runs, like a training monitor) can replace the static
        picture saved in the notebook: a downloaded notebook or the course site then shows the
        final state, not the one the widget started in."""
        from IPython.display import display

        self._handle = display(self, display_id=True)
        return self

    def finish(self):
        """Redraw, and replace the displayed static picture (if shown with :meth:`show`) with it."""
        self.refresh()
        self.update_display()
        return self

    def update_display(self) -> None:
        if self._handle is not None:
            self._handle.update(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The live view and its PNG as a static fallback. Built here rather than taken from
        ``self.ui._repr_mimebundle_``, which ipywidgets 7.7 (Google Colab's) does not have;
        the view's format is the same in ipywidgets 7 and 8."""
        bundle = {"text/plain": repr(self.ui),
                  WIDGET_VIEW_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.ui.model_id}}
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle


def describe_figure(fig: Figure) -> str:
    """A one-paragraph text alternative of a figure, read from what the figure itself says:
    its title, and per panel the title, axis labels, legend entries, and how many images,
    lines, point sets or colour maps it draws. Screen readers read it in place of the picture
    (the course site's ``alt`` text)."""
    parts = []
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    if title:
        parts.append(f"Figure: {title}.")
    parts.append(f"{len(panels)} panel{'s' if len(panels) != 1 else ''}.")
    for i, ax in enumerate(panels[:12], 1):
        bits = []
        if ax.get_title():
            bits.append(f"'{ax.get_title()}'")
        if ax.images:
            bits.append("an image" if len(ax.images) == 1 else f"{len(ax.images)} images")
        if ax.lines:
            bits.append(f"{len(ax.lines)} line{'s' if len(ax.lines) != 1 else ''}")
        if ax.collections:
            bits.append(f"{len(ax.collections)} point set{'s' if len(ax.collections) != 1 else ''} or areas")
        xl, yl = ax.get_xlabel(), ax.get_ylabel()
        if xl or yl:
            bits.append(f"x: {xl or 'unlabelled'}, y: {yl or 'unlabelled'}")
        legend = ax.get_legend()
        if legend is not None:
            labels = [t.get_text() for t in legend.get_texts()]
            bits.append("legend: " + ", ".join(labels[:10]))
        parts.append(f"Panel {i}: " + ("; ".join(bits) if bits else "no labels") + ".")
    if len(panels) > 12:
        parts.append(f"And {len(panels) - 12} more panels.")
    return " ".join(parts)
