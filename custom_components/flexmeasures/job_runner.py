"""Running a plan coordinator's jobs: one at a time, each in a task of the entry's.

A job is a coroutine that asks FlexMeasures for a plan (jobs.py, site_job.py).
The runner holds a lock so that jobs never overlap, lets a periodic update
that waited behind a manual trigger keep that fresher plan instead of asking
again, knows whether what jobs are made of changed since the last plan, and
cancels the jobs in flight at unloading. Failures are ScheduleRequestError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from .exceptions import ErrorKind, ScheduleRequestError

type Spawn[T] = Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]]


class JobRunner[T]:
    """Runs one sub-entry's jobs one at a time."""

    def __init__(
        self,
        spawn: Spawn[T],
        inputs_version: Callable[[], int],
        stopped: Callable[[], bool],
        title: str,
    ) -> None:
        """`spawn` makes a job's task; `stopped` says the entry is unloading."""
        self._spawn = spawn
        self._inputs_version = inputs_version
        self._stopped = stopped
        self._title = title
        self._lock = asyncio.Lock()
        # counts the plans that arrived; the inputs version the last plan was
        # made with; the job tasks running now
        self.generation = 0
        self._data_inputs = -1
        self.tasks: set[asyncio.Task[T]] = set()

    @property
    def inputs_changed(self) -> bool:
        """Whether the inputs changed since the last plan (a job asks anew).

        Such a job forces a new one at FlexMeasures: its job cache hands back an
        earlier job for a request it has seen, and reads that job's schedule as
        the sensor's latest beliefs, which are those of whatever job ran last
        (a target set back to an earlier value would follow the one between).
        """
        return self._inputs_version() != max(self._data_inputs, 0)

    def _cancelled(self) -> ScheduleRequestError:
        return ScheduleRequestError(
            ErrorKind.CANCELLED, "schedule_cancelled", {"device": self._title}
        )

    async def async_run(
        self,
        job: Coroutine[Any, Any, T],
        *,
        unless_newer_than: int | None = None,
    ) -> T | None:
        """Run a job, one at a time; failures are ScheduleRequestError.

        With `unless_newer_than` (a generation), None when a plan made from
        the same inputs arrived while this call waited for the lock. The job
        runs in its own task, which `async_cancel` cancels.
        """
        async with self._lock:
            if self._stopped():
                job.close()  # unloaded while this call waited: start nothing
                raise self._cancelled()
            if (
                unless_newer_than is not None
                and unless_newer_than != self.generation
                and self._data_inputs == self._inputs_version()
            ):
                job.close()
                return None  # a job with the same inputs just finished
            inputs = self._inputs_version()
            task = self._spawn(job)
            self.tasks.add(task)
            try:
                result = await task
            except asyncio.CancelledError as err:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the caller itself is cancelled
                raise self._cancelled() from err
            finally:
                self.tasks.discard(task)
            self.generation += 1
            self._data_inputs = inputs
            return result

    async def async_cancel(self) -> None:
        """Cancel the jobs in flight and wait for them to end."""
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
