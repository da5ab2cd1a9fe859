"""What a real meter could have told: shared by the independent meter models.

Written from the meter's side (what a device counting no faster than
MAX_POWER_KW can read), not from MeterAccumulator's state.
"""

from __future__ import annotations

from custom_components.flexmeasures.meters import MAX_POWER_KW


def most_counted(since: float, until: float) -> float:
    """The most a meter counts (kWh) between two instants (s)."""
    return MAX_POWER_KW * (until - since) / 3600


def a_reset_tells(
    before: tuple[float, float], shown: tuple[float, float], back: tuple[float, float]
) -> bool:
    """Whether a real reset tells the readings a glitch tells: (value, when) each.

    `before` is the last real reading before the glitch (when it was last
    told), `shown` the glitch, `back` the reading that takes it back. A drop:
    the meter reset after `before` and counted from 0 to `shown`, then on to
    `back`. A jump up: it counted from `before` up to `shown`, then reset and
    counted from 0 to `back`. Then the readings cannot tell a glitch from a
    reset: the step they are in is not known (nothing is invented).
    """
    (was, was_at), (jump, jump_at), (then, then_at) = before, shown, back
    if jump < was:
        return jump <= most_counted(was_at, jump_at) and then - jump <= most_counted(
            jump_at, then_at
        )
    return jump - was <= most_counted(was_at, jump_at) and then <= most_counted(
        jump_at, then_at
    )
