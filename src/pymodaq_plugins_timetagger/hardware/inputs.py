"""Input-channel settings of a tagger (trigger level, delay, dead time, test signal), set and read back.

Works on the vendor's taggers and the simulator alike. Every setter returns what the device applied
(trigger levels are DAC-rounded, dead times rounded to the clock), so callers show the real value.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import TaggerError, VendorError
from .vendor import VENDOR_EXCEPTIONS, vendor_errors

logger = logging.getLogger(__name__)

#: a read-back trigger level further than this from the request was clamped, not DAC-rounded (V)
TRIGGER_CLAMP_TOL_V = 0.01


@dataclass(frozen=True)
class InputState:
    """What one input is set to, as read back from the device."""

    channel: int
    trigger_level_v: float
    input_delay_ps: int
    deadtime_ps: int
    test_signal: bool


def input_channels(tagger) -> list[int]:
    """The rising-edge input numbers of ``tagger`` (1..N; Network Time Taggers may offset them)."""
    with vendor_errors("the list of inputs"):
        return sorted(c for c in tagger.getChannelList() if c > 0)


def check_channel(tagger, channel, what: str = "channel") -> int:
    """Return ``channel`` as int if the tagger has it (rising or falling edge), else raise TaggerError."""
    try:
        c = int(channel)
    except (TypeError, ValueError):
        raise TaggerError(f"{what} {channel!r} is not a channel number") from None
    available = input_channels(tagger)
    if abs(c) not in available:
        raise TaggerError(f"{what} {c} does not exist on this {tagger.getModel()} "
                          f"(inputs {available[0]}..{available[-1]}, negative for falling edges)")
    return c


def trigger_was_clamped(requested_v, state: InputState) -> bool:
    """True if the device kept another trigger level than ``requested_v`` (None: none requested)."""
    return requested_v is not None and abs(state.trigger_level_v - float(requested_v)) > TRIGGER_CLAMP_TOL_V


def read_input(tagger, channel: int) -> InputState:
    c = abs(int(channel))
    with vendor_errors(f"input {c}"):
        return InputState(c, float(tagger.getTriggerLevel(c)), int(tagger.getInputDelay(c)),
                          int(tagger.getDeadtime(c)), bool(tagger.getTestSignal(c)))


def configure_input(tagger, channel: int, *, trigger_level_v: float | None = None,
                    input_delay_ps: int | None = None, deadtime_ps: int | None = None,
                    test_signal: bool | None = None) -> InputState:
    """Apply the given settings (None: leave as is) and return the state read back.

    Raises :class:`TaggerError` naming the channel and the setting when the device refuses a value.
    """
    c = check_channel(tagger, channel, "input")
    c = abs(c)
    steps = [("trigger level", trigger_level_v, lambda v: tagger.setTriggerLevel(c, float(v))),
             ("input delay", input_delay_ps, lambda v: tagger.setInputDelay(c, int(v))),
             ("dead time", deadtime_ps, lambda v: tagger.setDeadtime(c, int(v))),
             ("test signal", test_signal, lambda v: tagger.setTestSignal(c, bool(v)))]
    for name, value, setter in steps:
        if value is None:
            continue
        try:
            setter(value)
        except (TaggerError, *VENDOR_EXCEPTIONS) as e:
            raise VendorError(f"input {c}: the {name} {value!r} was refused: {e}") from e
    state = read_input(tagger, c)
    if trigger_was_clamped(trigger_level_v, state):
        # the vendor clamps an out-of-range level with a warning of its own (conventions.py)
        logger.warning("input %d: trigger level %g V is out of the device's range: it is %g V",
                       c, float(trigger_level_v), state.trigger_level_v)
    return state
