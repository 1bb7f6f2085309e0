"""What every Jupyter process pays at start, kept small by the course's pins.

A class starting on the hub pays a Jupyter server's start once per student, at the same moment
(benchmarks/hub_start.py); grading and CI pay an nbformat import in every nbgrader command.
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_jupyter_imports_do_not_build_iri_parsers():
    """jsonschema 4.25+ imports rfc3987-syntax, which compiles Earley parsers (lark) at import:
    0.9 CPU-seconds and 15 MB per process, for a format no Jupyter schema uses. pyproject.toml
    caps jsonschema below 4.25 for it; this fails if the cap goes, or a new dependency brings
    the parsers back another way."""
    probe = ("import sys, json, nbformat, jupyter_events.logger, jupyter_server.serverapp\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('rfc3987_syntax', 'lark'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], (f"importing nbformat and jupyter_server loads {loaded}: the IRI parsers are back "
                          "(see the jsonschema cap in pyproject.toml's course extra)")
