"""Per-model constants of the simulated Time Taggers.

Figures come from the vendor's data sheets, hardware pages and the Swabian-TimeTagger 2.22.6 wheel's
docstrings (the source is named next to each); where the vendor documents no figure the value is marked
``# chosen`` and is a plausible constant of our own, used consistently and documented in docs/simulator.rst.
The self-check (:mod:`pymodaq_plugins_timetagger.selfcheck`) takes its expectations for a real device
from these same specs, so they are measured on hardware too. All times are integer picoseconds, voltages
volts.
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
    #: smallest dead time (smaller requests get it); wheel, setDeadtime docstring: 6 ns (TT20), 2 ns
    #: (Ultra), 1.333 ns (X)
    min_deadtime_ps: int
    #: dead times are rounded to multiples of this (TT20 only); None: any value from the minimum up
    deadtime_step_ps: float | None
    max_deadtime_ps: int     #: ``setDeadtime`` above this raises
    test_signal_period_ps: int   #: period of the built-in test signal
    test_signal_jitter_ps: float  #: RMS jitter of the test-signal edges seen on one input
    max_tag_rate_hz: float   #: sustained transfer rate; above it tags are lost and overflows counted
    trigger_range_v: tuple[float, float]  #: trigger levels; ``setTriggerLevel`` clamps to it (warns)
    trigger_step_v: float    #: DAC step of the trigger level
    #: input counts the real model comes with (vendor hardware pages: TT20 8; Ultra and X 8 or 18)
    n_inputs_options: tuple[int, ...] = (8,)

    @property
    def test_signal_hz(self) -> float:
        return 1e12 / self.test_signal_period_ps

    def applied_deadtime(self, requested_ps: int) -> int:
        """The dead time (ps) the device applies for a request (``setDeadtime``'s return value).

        Below the minimum: the minimum; rounded to ``deadtime_step_ps`` where there is one (TT20).
        Raises ValueError above the maximum (wheel, setDeadtime docstring).
        """
        applied = max(int(requested_ps), self.min_deadtime_ps)
        if self.deadtime_step_ps:
            applied = max(int(round(round(applied / self.deadtime_step_ps) * self.deadtime_step_ps)),
                          self.min_deadtime_ps)
        if applied > self.max_deadtime_ps:
            raise ValueError(f"dead time {requested_ps} ps above the maximum {self.max_deadtime_ps} ps "
                             f"of the {self.model}")
        return applied

    def clamped_trigger_level(self, volts: float) -> float:
        """The trigger level the device keeps for a request: clamped to the range (before DAC rounding)."""
        lo, hi = self.trigger_range_v
        return min(max(float(volts), lo), hi)


MODELS: dict[str, ModelSpec] = {
    "ultra": ModelSpec(
        key="ultra", model="Time Tagger Ultra", serial="SIM-ULTRA-0001", n_inputs=8,
        jitter_rms_ps=8.0, min_deadtime_ps=2000,
        # wheel, setDeadtime docstring: "The other models [than the TT20] allow for arbitrary dead
        # times greater than the respective minimum dead time"
        deadtime_step_ps=None,
        max_deadtime_ps=2_147_000_000,  # wheel, setDeadtime docstring: 2147 us
        # 403.2 MHz / 504 = 800 kHz -> 1 250 000 ps (vendor)
        test_signal_period_ps=1_250_000, test_signal_jitter_ps=9.0,
        # trigger range: vendor hardware page of the Time Tagger Ultra, "-2.5 V ... +2.5 V"
        max_tag_rate_hz=65e6, trigger_range_v=(-2.5, 2.5), trigger_step_v=5.0 / 4096,  # step chosen
        n_inputs_options=(8, 18),
    ),
    "tt20": ModelSpec(
        key="tt20", model="Time Tagger 20", serial="SIM-TT20-0001", n_inputs=8,
        jitter_rms_ps=34.0, min_deadtime_ps=6000,
        # wheel, setDeadtime docstring: "For the Time Tagger 20, the requested dead time will be
        # rounded to the nearest multiple of the 6 ns clock cycle"
        deadtime_step_ps=6000.0,
        max_deadtime_ps=393_000_000,  # wheel, setDeadtime docstring: 393 us
        # 62.5 MHz / 74 = 844.6 kHz -> 1 184 000 ps (vendor)
        test_signal_period_ps=1_184_000, test_signal_jitter_ps=34.0,
        # trigger range: vendor hardware page of the Time Tagger 20, "0 ... 2.5 V"
        max_tag_rate_hz=8.5e6, trigger_range_v=(0.0, 2.5), trigger_step_v=2.5 / 4096,  # step chosen
    ),
    "x": ModelSpec(
        key="x", model="Time Tagger X", serial="SIM-X-0001", n_inputs=8,  # [open] 8 or more inputs
        jitter_rms_ps=2.0, min_deadtime_ps=1333,
        deadtime_step_ps=None,  # wheel, setDeadtime docstring (see ultra)
        max_deadtime_ps=716_000_000,  # wheel, setDeadtime docstring: 716 us
        test_signal_period_ps=1_250_000, test_signal_jitter_ps=2.0,
        # trigger range: vendor hardware page of the Time Tagger X, "-1 V ... +1 V"
        max_tag_rate_hz=90e6, trigger_range_v=(-1.0, 1.0), trigger_step_v=2.0 / 4096,  # step chosen
        n_inputs_options=(8, 18),
    ),
}

DEFAULT_MODEL = "ultra"

#: [min, max] hardware input delay per model key, ps (wheel, getDelayHardwareRange docstring: Ultra ±2.0 us,
#: X ±2.5 us, Time Tagger 20 "not available": setInputDelay delays in software there)
HARDWARE_DELAY_RANGE_PS = {"ultra": (-2_000_000, 2_000_000), "x": (-2_500_000, 2_500_000), "tt20": None}

#: default trigger level applied at start-up, volts (vendor default for positive pulses)
DEFAULT_TRIGGER_LEVEL_V = 0.5


def model_by_name(model: str) -> ModelSpec | None:
    """The model whose ``getModel()`` string is ``model`` (None for a model this package does not know)."""
    for spec in MODELS.values():
        if spec.model == model:
            return spec
    return None


def model_by_serial(serial: str) -> ModelSpec:
    """Return the model whose simulated serial is ``serial``."""
    for spec in MODELS.values():
        if spec.serial.lower() == serial.strip().lower():
            return spec
    raise RuntimeError(f"No simulated Time Tagger with serial {serial!r}; "
                       f"available: {', '.join(s.serial for s in MODELS.values())}")
