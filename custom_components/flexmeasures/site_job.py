"""Running one FlexMeasures job for a site: several devices behind one connection.

One trigger on the site's asset with a flex-model per device and the site's
flex-context (its prices and power capacity), then each device's part read
with the same job id. Every failure is a ScheduleRequestError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .api import FlexMeasuresClient, FlexMeasuresError, Schedule
from .const import LOGGER
from .controls import due_on_the_grid, horizon_for
from .jobs import DeviceJob, Job, JobOptions, job_flex_model
from .requests import SiteSettings, asset_flex_models, site_flex_context
from .schedule import align_down, sum_schedules
from .units import positive_power_kw


@dataclass(frozen=True, slots=True)
class SitePlan:
    """A site job's answer: each device's part (kW) and the sum."""

    job_id: str
    parts: dict[int, Schedule]  # by power sensor id
    total: Schedule
    scheduler_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberRequest:
    """One device of the site and what its flex-model asks for this job."""

    job: DeviceJob
    options: JobOptions


class SiteJob(Job[SiteSettings]):
    """Schedules a site's devices together at FlexMeasures."""

    # the asset's stored site-power-capacity (kW), read once when the site
    # sets none of its own (None: none, or not read yet)
    asset_capacity: float | None = None
    _asset_read = False

    @property
    def capacity(self) -> float | None:
        """The site's power capacity (kW): its own, else the asset's stored one."""
        if self.settings.site_power_capacity is not None:
            return self.settings.site_power_capacity
        return self.asset_capacity

    async def _async_read_asset_capacity(self, client: FlexMeasuresClient) -> None:
        """What the asset's flex-context stores, when the site sets no capacity."""
        if self._asset_read or self.settings.site_power_capacity is not None:
            return
        asset = await client.get_asset(self.settings.asset_id)
        self.asset_capacity = positive_power_kw(
            asset.flex_context.get("site-power-capacity")
        )
        self._asset_read = True

    async def async_run(
        self,
        members: Sequence[MemberRequest],
        now: datetime,
        *,
        force_new_job: bool,
        duration: timedelta | None = None,
        flex_context: Mapping[str, Any] | None = None,
    ) -> SitePlan:
        """Trigger one job for all devices from the step holding `now`, wait, split."""
        client = self._client()
        # the sensor an error is about: the device being read or waited for
        current = members[0].job.settings.power_sensor_id if members else 0
        try:
            await self._async_read_asset_capacity(client)
            sensors = []
            for member in members:
                current = member.job.settings.power_sensor_id
                sensors.append(await member.job.async_sensor())
            current = sensors[0].id if sensors else current
            step = max(sensor.event_resolution for sensor in sensors)
            start = align_down(now, step)
            horizon = duration or self.settings.duration
            # each standing target due at the last step boundary by its time
            standing = [
                None
                if member.options.standing_target is None
                else due_on_the_grid(member.options.standing_target, start, step)
                for member in members
            ]
            for target in standing:
                horizon = horizon_for(start, horizon, target, step)
            models: dict[int, dict[str, Any]] = {}
            for member, sensor, target in zip(members, sensors, standing, strict=True):
                models[sensor.id] = job_flex_model(
                    member.job.settings, member.options, target, start, horizon
                )
            context = site_flex_context(self.settings)
            context.update(flex_context or {})
            self.job_id = await client.trigger_asset_schedule(
                self.settings.asset_id,
                start=start,
                duration=horizon,
                flex_models=asset_flex_models(models),
                flex_context=context or None,
                force_new_job=force_new_job,
            )
            LOGGER.debug(
                "Triggered site schedule %s for asset %s (sensors %s) from %s for %s",
                self.job_id,
                self.settings.asset_id,
                list(models),
                start,
                horizon,
            )
            parts: dict[int, Schedule] = {}
            for sensor in sensors:
                current = sensor.id
                # the first wait lasts until the job is done; the rest are there
                parts[sensor.id] = await self._async_wait(
                    client, self.job_id, sensor, horizon
                )
        except FlexMeasuresError as err:
            raise self._error(err, client.url, current) from err
        total = sum_schedules(list(parts.values()), job_id=self.job_id)
        if total is None:  # pragma: no cover - a site has devices
            total = Schedule(0, self.job_id, start, step, "kW", ())
        return SitePlan(
            job_id=self.job_id,
            parts=parts,
            total=total,
            scheduler_info=dict(total.scheduler_info),
        )
