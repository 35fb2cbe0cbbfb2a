"""Per-model constants of the simulated Time Taggers.

Figures come from the vendor's data sheets and API documentation (see the project's
``shared/TIMETAGGER_API.md``); where the vendor documents no figure the value is marked
``# chosen`` and is a plausible constant of our own, used consistently and documented in the README.
All times are integer picoseconds, voltages volts.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """What distinguishes one simulated Time Tagger model from another."""

    key: str                 #: short name used in addresses, ``sim:<key>``
    model: str               #: exact string returned by ``getModel()``
    serial: str              #: serial number of the simulated unit
    n_inputs: int            #: rising-edge input channels 1..n_inputs
    jitter_rms_ps: float     #: RMS timing jitter of one input (Gaussian)
    min_deadtime_ps: int     #: smallest dead time ``setDeadtime`` accepts
    deadtime_step_ps: float  #: dead times are rounded to multiples of this (internal clock period)
    max_deadtime_ps: int     #: ``setDeadtime`` above this raises
    test_signal_period_ps: int   #: period of the built-in test signal
    test_signal_jitter_ps: float  #: RMS jitter of the test-signal edges seen on one input
    max_tag_rate_hz: float   #: sustained transfer rate; above it tags are lost and overflows counted
    trigger_range_v: tuple[float, float]  #: allowed trigger levels
    trigger_step_v: float    #: DAC step of the trigger level


MODELS: dict[str, ModelSpec] = {
    "ultra": ModelSpec(
        key="ultra", model="Time Tagger Ultra", serial="SIM-ULTRA-0001", n_inputs=8,
        jitter_rms_ps=8.0, min_deadtime_ps=2000,
        deadtime_step_ps=1e6 / 500.0,  # chosen: 2 ns steps (vendor: "multiple of the clock period")
        max_deadtime_ps=2_147_000_000,  # vendor: 2147 us
        # 403.2 MHz / 504 = 800 kHz -> 1 250 000 ps (vendor)
        test_signal_period_ps=1_250_000, test_signal_jitter_ps=9.0,
        max_tag_rate_hz=65e6, trigger_range_v=(-2.5, 2.5), trigger_step_v=5.0 / 4096,  # step chosen
    ),
    "tt20": ModelSpec(
        key="tt20", model="Time Tagger 20", serial="SIM-TT20-0001", n_inputs=8,
        jitter_rms_ps=34.0, min_deadtime_ps=6000,
        deadtime_step_ps=6000.0,  # vendor: multiples of 6 ns
        max_deadtime_ps=393_000_000,  # vendor: 393 us
        # 62.5 MHz / 74 = 844.6 kHz -> 1 184 000 ps (vendor)
        test_signal_period_ps=1_184_000, test_signal_jitter_ps=34.0,
        max_tag_rate_hz=8.5e6, trigger_range_v=(0.0, 2.5), trigger_step_v=2.5 / 4096,  # step chosen
    ),
    "x": ModelSpec(
        key="x", model="Time Tagger X", serial="SIM-X-0001", n_inputs=8,  # [open] 8 or more inputs
        jitter_rms_ps=2.0, min_deadtime_ps=1333,
        deadtime_step_ps=4000.0 / 3.0,  # chosen: 1.333 ns steps
        max_deadtime_ps=716_000_000,  # vendor: 716 us
        test_signal_period_ps=1_250_000, test_signal_jitter_ps=2.0,
        max_tag_rate_hz=90e6, trigger_range_v=(-2.5, 2.5), trigger_step_v=5.0 / 4096,  # step chosen
    ),
}

DEFAULT_MODEL = "ultra"

#: default trigger level applied at start-up, volts (vendor default for positive pulses)
DEFAULT_TRIGGER_LEVEL_V = 0.5


def model_by_key(key: str) -> ModelSpec:
    """Return the model for ``key`` (``ultra``, ``tt20``, ``x``), case-insensitive."""
    spec = MODELS.get(key.strip().lower())
    if spec is None:
        raise ValueError(f"unknown simulated model {key!r}; known: {', '.join(MODELS)}")
    return spec


def model_by_serial(serial: str) -> ModelSpec:
    """Return the model whose simulated serial is ``serial``."""
    for spec in MODELS.values():
        if spec.serial.lower() == serial.strip().lower():
            return spec
    raise RuntimeError(f"No simulated Time Tagger with serial {serial!r}; "
                       f"available: {', '.join(s.serial for s in MODELS.values())}")
