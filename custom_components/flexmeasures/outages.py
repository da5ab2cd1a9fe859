"""Outages of the server: logged once, retried with a growing delay.

Home Assistant's rule for a service that goes away: log once when it starts
failing and once when it is back, not on every try. `OutageLog` does that (a
failure that goes on is logged at debug level); `Backoff` doubles the delay
between tries up to a ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .const import LOGGER


@dataclass(slots=True)
class OutageLog:
    """Whether something fails, and with what problem it failed last."""

    problem: str | None = None

    def failed(self, problem: str, message: str, *args: object) -> None:
        """Log `message` at info when this starts an outage, else at debug."""
        log = LOGGER.info if self.problem is None else LOGGER.debug
        log(message, *args)
        self.problem = problem

    def recovered(self, message: str, *args: object) -> None:
        """Log `message` at info when this ends an outage."""
        if self.problem is not None:
            self.problem = None
            LOGGER.info(message, *args)


@dataclass(slots=True)
class Backoff:
    """The delay before the next try: `first`, doubled each try up to `most`."""

    first: float
    most: float
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        """The first try waits `first`."""
        self.delay = self.first

    def next(self) -> float:
        """The delay of this try; the next one waits twice as long."""
        delay = self.delay
        self.delay = min(delay * 2, self.most)
        return delay

    def reset(self) -> None:
        """A try worked: the next failure starts again at `first`."""
        self.delay = self.first
