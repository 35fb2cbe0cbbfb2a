"""The tagger's virtual channels defined from the viewers' "Virtual channels" settings (Qt-free).

One registry per open tagger handle, so the Master's Slaves share it: :func:`of` gives it. :meth:`VirtualInputs.apply`
builds the vendor's ``Combiner``, ``DelayedChannel`` and ``GatedChannel`` of a definition and sets the tagger's
conditional filter; it returns the virtual channel numbers the vendor handed out (``getChannel()``). A virtual
channel once built stays until the tagger is closed: a measurement that uses it never loses its input when
another definition is applied (a new definition builds a new channel). Measurement settings accept these numbers
as channels (runs.check_settings).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, fields

from .hardware.errors import SettingsError, TaggerError
from .hardware.inputs import check_channel
from .hardware.vendor import vendor_errors
from .settings import VIRTUAL_SETTINGS, check_virtual

_lock = threading.Lock()


@dataclass(frozen=True)
class VirtualDefinition:
    combine_channels: tuple[int, ...] = ()
    delay_input: int = 0
    delay_ps: int = 0
    gate_input: int = 0
    gate_start: int = 0
    gate_stop: int = 0
    filter_trigger: tuple[int, ...] = ()
    filter_filtered: tuple[int, ...] = ()

    @classmethod
    def from_values(cls, get) -> "VirtualDefinition":
        """From ``get(name)`` of each declared setting, each checked (SettingsError names the setting)."""
        return cls(**{s.name: check_virtual(s.name, get(s.name)) for s in VIRTUAL_SETTINGS})


assert {f.name for f in fields(VirtualDefinition)} == {s.name for s in VIRTUAL_SETTINGS}


class VirtualInputs:
    """The virtual channels built on one tagger handle."""

    def __init__(self):
        self._built: dict[tuple, object] = {}      # (kind, parameters) -> the vendor object
        self.definition = VirtualDefinition()
        self.channels: dict[str, int] = {}         # label -> number, of the current definition

    def numbers(self) -> set[int]:
        """Every virtual channel number built on this tagger (all stay valid)."""
        return {int(o.getChannel()) for o in self._built.values()}

    def apply(self, handle, d: VirtualDefinition) -> dict[str, int]:
        """Build what ``d`` defines on ``handle``'s tagger (reusing what exists), set the conditional filter;
        label -> channel number."""
        api, tagger = handle.api, handle.tagger
        known = self.numbers()

        def channel(c, what):
            return int(c) if int(c) in known else check_channel(tagger, c, what)

        wanted = {}
        if d.combine_channels:
            chans = tuple(channel(c, "combine_channels") for c in d.combine_channels)
            if len(chans) < 2:
                raise SettingsError("combine_channels: combine at least two channels")
            wanted[f"combined {','.join(map(str, chans))}"] = ("combiner", chans)
        if d.delay_input:
            wanted[f"ch{d.delay_input} + {d.delay_ps} ps"] = ("delayed", channel(d.delay_input, "delay_input"),
                                                          d.delay_ps)
        if d.gate_input:
            if not (d.gate_start and d.gate_stop):
                raise SettingsError("gate_start, gate_stop: a gated channel needs both gate channels")
            if d.gate_start == d.gate_stop:
                raise SettingsError("gate_stop: the gate must be closed by another channel than gate_start")
            wanted[f"ch{d.gate_input} gated"] = ("gated", channel(d.gate_input, "gate_input"),
                                                 channel(d.gate_start, "gate_start"), channel(d.gate_stop, "gate_stop"))
        if bool(d.filter_trigger) != bool(d.filter_filtered):
            raise SettingsError("filter_trigger, filter_filtered: the conditional filter needs both lists")
        trig = [check_channel(tagger, c, "filter_trigger") for c in d.filter_trigger]
        filt = [check_channel(tagger, c, "filter_filtered") for c in d.filter_filtered]
        out = {}
        with vendor_errors("virtual channels"):
            for label, key in wanted.items():
                obj = self._built.get(key)
                if obj is None:
                    kind, *args = key
                    cls = {"combiner": api.Combiner, "delayed": api.DelayedChannel, "gated": api.GatedChannel}[kind]
                    obj = cls(tagger, list(args[0])) if kind == "combiner" else cls(tagger, *args)
                    self._built[key] = obj
                out[label] = int(obj.getChannel())
            tagger.setConditionalFilter(trig, filt)
            applied = (tuple(tagger.getConditionalFilterTrigger()), tuple(tagger.getConditionalFilterFiltered()))
        if applied != (tuple(trig), tuple(filt)):
            raise TaggerError(f"the conditional filter reads back {applied}, not the {trig}, {filt} set")
        self.definition, self.channels = d, out
        return out

    def describe(self) -> str:
        return "; ".join(f"{label} = {n}" for label, n in self.channels.items()) or "none"


def of(handle) -> VirtualInputs:
    """The virtual channels of an open tagger handle (made on first use)."""
    with _lock:
        v = getattr(handle, "_virtual_inputs", None)
        if v is None:
            v = VirtualInputs()   # no reference back to the handle: no cycle
            object.__setattr__(handle, "_virtual_inputs", v)
        return v


def virtual_numbers(handle) -> set[int]:
    v = getattr(handle, "_virtual_inputs", None)
    return set() if v is None else v.numbers()
