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

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.ui._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle = dict(bundle)
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle
