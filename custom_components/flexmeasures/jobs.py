"""Running one FlexMeasures scheduling job: trigger, wait, answer in kW.

`DeviceJob` knows one device's power sensor (read once, then kept), builds the
request with `requests.py`, triggers it, polls until the schedule is there,
and converts the answer to kW. Every failure is a ScheduleRequestError
(`exceptions.py`). It keeps no schedule: the coordinator does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from .api import FlexMeasuresClient, FlexMeasuresError, Schedule, Sensor
from .const import LOGGER
from .controls import due_on_the_grid, horizon_for
from .exceptions import ScheduleRequestError, schedule_error
from .requests import ScheduleSettings, SocTarget, device_flex_model, price_flex_context
from .schedule import align_down
from .units import positive_power_kw, power_factor_to_kw

# How long one job may take at FlexMeasures before the update gives up.
MAX_WAIT: Final = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOptions:
    """What one job asks beyond the settings (action overrides)."""

    soc_at_start: str | None = None  # a quantity string ("40 kWh")
    soc_targets: Sequence[SocTarget] = ()
    # the dashboard's standing target: sent too, the horizon extended to it
    standing_target: SocTarget | None = None
    duration: timedelta | None = None
    flex_model: Mapping[str, Any] | None = None
    flex_context: Mapping[str, Any] | None = None
    force_new_job: bool = False


class Job[S]:
    """What a job runner of a device or a site keeps: settings, last job id."""

    def __init__(
        self, client: Callable[[], FlexMeasuresClient], settings: S, title: str
    ) -> None:
        """Nothing is sent yet; `client` gives the account's current client."""
        self._client = client
        self.settings = settings
        self.title = title
        self.job_id: str | None = None

    async def _async_wait(
        self,
        client: FlexMeasuresClient,
        job_id: str,
        sensor: Sensor,
        horizon: timedelta,
    ) -> Schedule:
        """Wait for the job's schedule of `sensor`; it in kW."""
        schedule = await client.wait_for_schedule(
            sensor.id,
            job_id,
            resolution=sensor.event_resolution,
            duration=horizon,
            max_wait=MAX_WAIT,
        )
        return schedule_in_kw(schedule, self.title)

    def _error(
        self, err: FlexMeasuresError, url: str, sensor_id: int
    ) -> ScheduleRequestError:
        """A failure of this job, for the user (see exceptions.py)."""
        return schedule_error(
            err, url=url, device=self.title, sensor_id=sensor_id, max_wait=MAX_WAIT
        )


class DeviceJob(Job[ScheduleSettings]):
    """Schedules one device (power sensor) at FlexMeasures."""

    # the power sensor, read at the first job (then kept)
    sensor: Sensor | None = None
    # the asset flex-model's power capacity (kW), read with the sensor (then
    # kept with it, for a start without the server)
    asset_power_capacity: float | None = None

    @property
    def charging_power(self) -> float | None:
        """The device's charging power (kW): the form's, else the asset's."""
        if self.settings.power_capacity is not None:
            return self.settings.power_capacity
        return self.asset_power_capacity

    async def async_sensor(self) -> Sensor:
        """The power sensor (read once, then kept)."""
        if self.sensor is None:
            client = self._client()
            sensor = await client.get_sensor(self.settings.power_sensor_id)
            if self.settings.power_capacity is None and sensor.asset_id is not None:
                asset = await client.get_asset(sensor.asset_id)
                self.asset_power_capacity = positive_power_kw(
                    asset.flex_model.get("power-capacity")
                )
            self.sensor = sensor
        return self.sensor

    async def async_run(self, options: JobOptions, now: datetime) -> Schedule:
        """Trigger a job from the step holding `now`, wait for it, return it in kW."""
        client = self._client()
        try:
            sensor = await self.async_sensor()
            start = align_down(now, sensor.event_resolution)
            standing = options.standing_target
            if standing is not None:
                standing = due_on_the_grid(standing, start, sensor.event_resolution)
            horizon = horizon_for(
                start,
                options.duration or self.settings.duration,
                standing,
                sensor.event_resolution,
            )
            model = job_flex_model(self.settings, options, standing, start, horizon)
            context = price_flex_context(self.settings)
            context.update(options.flex_context or {})
            self.job_id = await client.trigger_schedule(
                sensor.id,
                start=start,
                duration=horizon,
                flex_model=model,
                flex_context=context or None,
                asset_id=sensor.asset_id,
                force_new_job=options.force_new_job,
            )
            LOGGER.debug(
                "Triggered schedule %s for sensor %s from %s for %s",
                self.job_id,
                sensor.id,
                start,
                horizon,
            )
            return await self._async_wait(client, self.job_id, sensor, horizon)
        except FlexMeasuresError as err:
            raise self._error(err, client.url, self.settings.power_sensor_id) from err


def job_flex_model(
    settings: ScheduleSettings,
    options: JobOptions,
    standing: SocTarget | None,
    start: datetime,
    horizon: timedelta,
) -> dict[str, Any]:
    """A device's flex-model for one job (of its own, or its site's).

    Its targets (the standing one due on the grid), its state of charge at
    start, and the action's flex-model over it all.
    """
    targets = [*options.soc_targets]
    if standing is not None:
        targets.append(standing)
    model = device_flex_model(
        settings,
        soc_at_start=options.soc_at_start,
        soc_targets=sorted(targets, key=lambda target: target.when),
        start=start,
        end=start + horizon,
    )
    model.update(options.flex_model or {})
    return model


def schedule_in_kw(schedule: Schedule, title: str) -> Schedule:
    """The schedule in kW (FlexMeasures answers in the sensor's unit)."""
    factor = power_factor_to_kw(schedule.unit)
    if factor is None:
        LOGGER.warning(
            "Schedule for %s has unit %r, not a power unit; values are used as is",
            title,
            schedule.unit,
        )
        return schedule
    values = (
        schedule.values
        if factor == 1.0
        else tuple(value * factor for value in schedule.values)
    )
    return replace(schedule, unit="kW", values=values)
