"""Schedule coordinator (placeholder: being built)."""

from __future__ import annotations


class ScheduleCoordinator:
    """Keeps one schedule subentry's schedule fresh."""
