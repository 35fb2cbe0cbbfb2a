"""The input delay range an actuator may set on a tagger, ps (vendor or simulator alike)."""
from __future__ import annotations

from .errors import TaggerError
from .simulator.models import HARDWARE_DELAY_RANGE_PS, model_by_name

#: where a model has no hardware delay (Time Tagger 20: ``setInputDelay`` "calls setDelaySoftware() if you use a
#: Time Tagger 20", wheel), the range offered: chosen as the Ultra's ±2 us (the software delay "has the best
#: performance when less than 100 events arrive within the time of the largest delay set", wheel)
SOFTWARE_DELAY_RANGE_PS = (-2_000_000, 2_000_000)


def input_delay_range_ps(tagger, channel: int) -> tuple[int, int]:
    """[min, max] input delay of ``channel``: the hardware range the device reports, else the software one.

    Raises TaggerError if ``channel`` is not one of the device's inputs.
    """
    try:
        n_inputs = len(tagger.getChannelList(1))   # ChannelEdge.Rising
    except Exception as e:  # the vendor's exceptions: the message is what the user needs
        raise TaggerError(f"cannot read the inputs of the Time Tagger: {e}") from e
    if not 1 <= int(channel) <= n_inputs:
        raise TaggerError(f"input {channel} does not exist (inputs 1..{n_inputs})")
    getter = getattr(tagger, "getDelayHardwareRange", None)
    if getter is not None:
        try:
            lo, hi = getter(int(channel))
            return int(lo), int(hi)
        except Exception:   # Time Tagger 20: not available
            pass
    spec = model_by_name(tagger.getModel())
    if spec is not None and HARDWARE_DELAY_RANGE_PS.get(spec.key):
        return HARDWARE_DELAY_RANGE_PS[spec.key]
    return SOFTWARE_DELAY_RANGE_PS
