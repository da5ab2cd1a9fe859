"""Times nothing is known: Home Assistant not running, and clock jumps.

Pure helpers (the recorder is read in `backfill.py`):
- `ClockWatch` notices a jump of the wall clock (NTP fixing a Raspberry Pi's
  clock after boot): the wall clock moved further than the monotonic clock
  (ahead: the jumped-over time never happened here), or less (set back: the
  times since then come again).
- `downtimes` turns the recorder's runs into the gaps between them.
- `merge` keeps a sorted, non-overlapping list of gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
import time
from typing import Final

# A gap: (start, end), seconds since the epoch
type Gap = tuple[float, float]

# Jumps below this are scheduling noise, not a clock being set.
JUMP_MIN: Final = 2.0

monotonic = time.monotonic  # a seam for tests: the clock that never jumps


class ClockWatch:
    """Notices jumps of the wall clock between two looks."""

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        """Start watching now."""
        self._offset = time.time() - monotonic()

    def jump(self) -> Gap | None:
        """`(was, now)` if the clock jumped since the last look, else None.

        `was` is where the wall clock would be without the jump: before `now`
        when it jumped ahead (the time jumped over), after it when it was set
        back.
        """
        now = time.time()
        offset = now - monotonic()
        jumped = offset - self._offset
        self._offset = offset
        if abs(jumped) < JUMP_MIN:
            return None
        return (now - jumped, now)


def downtimes(runs: Sequence[tuple[float, float | None]]) -> list[Gap]:
    """The gaps between recorder runs `(start, end or None)`, sorted by start.

    A run's end is when Home Assistant stopped (for a run closed as incorrect:
    its last recorded state, which the caller works out); the next run's start
    is when it ran again.
    """
    gaps: list[Gap] = []
    ordered = sorted(runs, key=lambda run: run[0])
    for (_, end), (next_start, _) in pairwise(ordered):
        if end is not None and next_start > end:
            gaps.append((end, next_start))
    return merge(gaps)


def merge(gaps: Iterable[Gap]) -> list[Gap]:
    """Gaps sorted by start, overlapping ones joined, empty ones left out."""
    merged: list[Gap] = []
    for start, end in sorted(gap for gap in gaps if gap[1] > gap[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
