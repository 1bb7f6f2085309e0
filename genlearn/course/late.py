"""Late-submission penalties for nbgrader: a share of the score per started day late.

nbgrader compares each submission's timestamp with the assignment's due date (set with
``genlearn-course setup --due``) and asks the configured plugin for a penalty, in points,
which it subtracts from the score (never below zero). ``genlearn-course setup --late-penalty``
writes this into the course's ``nbgrader_config.py``::

    c.AssignLatePenalties.plugin_class = "genlearn.course.late.PerDayPenalty"
    c.PerDayPenalty.percent_per_day = 10
    c.PerDayPenalty.max_percent = 50
    c.PerDayPenalty.grace_minutes = 15

With ``t`` the seconds late, ``g`` the grace, ``p`` the percent per day and ``m`` the cap::

    days    = ceil((t - g) / 86400)          if t > g, else 0   (a started day counts whole)
    penalty = score * min(p * days, m) / 100
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, TraitError, validate

DAY = 86400.0


class PerDayPenalty(LateSubmissionPlugin):
    """``percent_per_day`` of the notebook's score per started day late, at most ``max_percent``."""

    percent_per_day = Float(10.0, help="Percent of the score taken off per started day late.").tag(config=True)
    max_percent = Float(100.0, help="The most a late submission loses, in percent of its score.").tag(config=True)
    grace_minutes = Float(0.0, help="Minutes after the due date that still count as on time.").tag(config=True)

    @validate("percent_per_day", "max_percent")
    def _percent(self, proposal):
        value = proposal["value"]
        if not 0 <= value <= 100:
            raise TraitError(f"{proposal['trait'].name} must be between 0 and 100, got {value}")
        return value

    @validate("grace_minutes")
    def _grace(self, proposal):
        if proposal["value"] < 0:
            raise TraitError(f"grace_minutes must be >= 0, got {proposal['value']}")
        return proposal["value"]

    def days_late(self, total_seconds_late: float) -> int:
        late = total_seconds_late - 60.0 * self.grace_minutes
        return math.ceil(late / DAY) if late > 0 else 0

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = self.days_late(total_seconds_late)
        percent = min(self.percent_per_day * days, self.max_percent)
        self.log.info("%s is %d day(s) late: %.1f%% off a score of %s", student_id, days, percent, score)
        return (score or 0.0) * percent / 100.0
