"""ipywidgets visualizations for the lessons, built on :mod:`genlearn.plot` and the models.

Each widget is a :class:`~genlearn.widgets.base.FigureWidget`: live controls in JupyterLab,
and a static PNG of its first picture for executed notebooks, HTML and GitHub.
"""

from .base import FigureWidget, figure_png

__all__ = ["FigureWidget", "figure_png"]
