"""Measurement forwarder (placeholder: being built)."""

from __future__ import annotations


class MeasurementForwarder:
    """Sends Home Assistant states to FlexMeasures."""
