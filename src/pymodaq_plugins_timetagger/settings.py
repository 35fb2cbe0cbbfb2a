"""Every measurement setting declared once: name, title, unit, default, limits, help, the measurements having it.

Qt-free. From :data:`SETTINGS` come

* the settings dataclasses of :mod:`.runs` (their defaults: :func:`default`) and their validation
  (:func:`check`, used by ``Run.validate``);
* the viewer plugins' measurement parameters (:func:`plugin_params`, :func:`from_plugin`);
* the bridge client's mirrored settings tree, with titles and units (:func:`tree_params`); an edited value
  is parsed by :func:`check` too (text or typed);
* the client's command-line options and their help (:func:`add_cli_options`, :func:`from_cli`);
* the viewer plugins' acquisition settings a server may set too (:data:`ACQUISITION`), and the check of any
  value of a plugin's tree (:func:`check_plugin`);
* the bound on a reply that the frame cap implies (:func:`check_reply_fits`).

Every value from a user or a peer goes through :func:`check` (or :func:`from_shown` / :func:`check_plugin`,
which end in it): the only error it raises is :class:`~.hardware.errors.SettingsError`, whatever the value
(``None``, a list, ``inf``, ``1e400``, text), naming the setting.

Defaults (one set, on every route). Correlation: 500 ps bins, 201 bins (±50 ns around zero), g2(0) window
500 ps: a bin of 500 ps resolves the antibunching dip of a single emitter with a lifetime of a few ns (the dip's
width), while 201 bins span ±50 ns, enough for the flat g2 = 1 wings the normalisation is judged against; the
g2(0) window of one bin takes the zero bin only, the least biased estimate of g2(0) (a wider window averages the
dip with its flanks and overestimates it). These were the viewer plugin's defaults; the client's 1000/1001/1000
gave a coarser curve and a g2(0) averaged over 1 ns.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .hardware.errors import SettingsError
from .protocol.codec import DEFAULT_MAX_FRAME

#: the names of the kinds of measurement; what each is (data dimension, settings and Run classes): runs.MEASUREMENTS
KINDS = ("countrate", "correlation", "counter", "histogram", "coincidences")
#: largest n_bins / n_values accepted from users (an int32 histogram of 10 M bins is 40 MB); the simulator's
#: own guard (simulator.measurements.SIM_MAX_BINS) is larger
MAX_BINS = 10_000_000
#: longest integration per acquisition, s (a scan step of a day is a configuration mistake)
MAX_INTEGRATION_S = 86_400.0
#: a sanity bound on channel numbers checked before a tagger is open (the CLI); once it is open, its own
#: inputs are checked (hardware.inputs.check_channel). No Time Tagger has this many inputs.
MAX_CHANNEL = 64

#: the types of a setting: an int, a float, a bool, or a tuple of channel numbers
INT, FLOAT, BOOL, CHANNELS, CHANNEL = "int", "float", "bool", "channels", "channel"
#: a text among the setting's ``choices``
CHOICE = "choice"


@dataclass(frozen=True)
class Shown:
    """How a viewer plugin shows a setting when not as the value itself."""

    name: str = ""                        #: the plugin parameter's name ('' = the setting's)
    unit: str = ""                        #: the unit shown ('' = the setting's)
    scale: float = 1.0                    #: shown value = value × scale
    choices: tuple[str, str] = ()         #: a bool shown as a list of two labels: (True, False)


@dataclass(frozen=True)
class Setting:
    name: str
    title: str
    unit: str
    type: str
    #: the default of each measurement that has this setting
    defaults: dict
    lo: float | None = None
    hi: float | None = None
    help: str = ""
    #: lo is excluded (> lo, not >= lo)
    lo_open: bool = False
    #: per measurement, how its viewer plugin shows it
    shown: dict = field(default_factory=dict)
    #: command-line: a flag that sets the value to False ('' = an option taking the value)
    cli_false_flag: str = ""
    #: the texts a CHOICE setting takes
    choices: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    @property
    def option(self) -> str:
        return self.cli_false_flag or "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("channels", "Channels", "", CHANNELS, {"countrate": (1, 2), "counter": (1, 2)},
            help="input channels, e.g. 1,2 (negative: falling edge)"),
    Setting("channel_1", "Channel 1 (stop)", "", CHANNEL, {"correlation": 1},
            help="stop channel (tau = t1 - t2)"),
    Setting("channel_2", "Channel 2 (start)", "", CHANNEL, {"correlation": 2},
            help="start/reference channel"),
    Setting("click_channel", "Click channel", "", CHANNEL, {"histogram": 4}, help="photon channel"),
    Setting("start_channel", "Start (sync) channel", "", CHANNEL, {"histogram": 3}, help="sync channel"),
    Setting("binwidth_ps", "Bin width", "ps", INT,
            {"correlation": 500, "histogram": 50, "counter": 10_000_000_000}, lo=1, hi=10**14,
            help="bin width",
            shown={"counter": Shown(name="binwidth_ms", unit="ms", scale=1e-9)}),
    Setting("n_bins", "Number of bins", "", INT, {"correlation": 201, "histogram": 1000}, lo=1, hi=MAX_BINS,
            help="number of bins (correlation: odd puts one bin centred on zero delay)"),
    Setting("n_values", "Number of bins", "", INT, {"counter": 100}, lo=1, hi=MAX_BINS,
            help="number of bins of the trace"),
    Setting("normalize", "Output", "", BOOL, {"correlation": True},
            help="g2 normalized (default); --raw: the coincidence counts instead",
            shown={"correlation": Shown(name="output", choices=("g2 (normalized)", "coincidences (counts)"))},
            cli_false_flag="--raw"),
    Setting("zero_window_ps", "g2(0) window", "ps", INT, {"correlation": 500}, lo=0, hi=10**12,
            help="g2(0) is the mean g2 of the bins whose centre lies within +-window/2 of zero"),
    Setting("integration_s", "Integration", "s", FLOAT,
            {"countrate": 0.1, "correlation": 1.0, "counter": 1.0, "histogram": 1.0, "coincidences": 1.0},
            lo=0, lo_open=True, hi=MAX_INTEGRATION_S,
            help="integration time per request (per grab: the exact capture window)"),
)
# ----------------------------------------------------------------------------------- analysis (docs/statistics.rst)
#: the statistics each measurement adds to its data (analysis/): raw counts, fits, background correction
ANALYSIS_SETTINGS: tuple[Setting, ...] = (
    Setting("raw_counts", "Raw counts data", "", BOOL, {"correlation": False},
            help="add a 0D dataset 'g2(0) raw counts' (singles of each input, coincidences in the g2(0) window, "
                 "its width, the capture duration): g2(0) and its interval can be recomputed from a scan file"),
    Setting("background_1_hz", "Background ch 1", "Hz", FLOAT, {"correlation": 0.0}, lo=0, hi=1e10,
            help="dark/background rate of channel 1 (0: no correction); g2_corr(0) = (g2(0) - (1 - rho1 rho2))/"
                 "(rho1 rho2), rho = 1 - background/rate"),
    Setting("background_2_hz", "Background ch 2", "Hz", FLOAT, {"correlation": 0.0}, lo=0, hi=1e10,
            help="dark/background rate of channel 2 (0: no correction)"),
    Setting("g2_fit", "Fit antibunching", "", BOOL, {"correlation": False},
            help="fit g2 = 1 - (1 - g2(0))exp(-|tau - tau0|/tau_a) (Poisson likelihood) and draw it"),
    Setting("g2_bunching", "Fit bunching term", "", BOOL, {"correlation": False},
            help="the fit adds a bunching term b exp(-|tau - tau0|/tau_b) (three-level emitter)"),
    Setting("jitter_fwhm_ps", "Jitter FWHM", "ps", FLOAT, {"correlation": 0.0}, lo=0, hi=1e7,
            help="FWHM of the Gaussian timing jitter of the two inputs together, convolved with the model "
                 "(0: none; the start value when fitted)"),
    Setting("fit_jitter", "Fit jitter", "", BOOL, {"correlation": False},
            help="fit the jitter's width too"),
    Setting("pulse_period_ps", "Pulse period", "ps", INT, {"correlation": 0}, lo=0, hi=10**12,
            help="pulsed excitation: g2(0) = zero-delay peak area / mean side-peak area (0: CW)"),
    Setting("lifetime_fit", "Lifetime fit (exponentials)", "", INT, {"histogram": 0}, lo=0, hi=2,
            help="fit 1 or 2 exponentials with an offset, reconvolved with the IRF (0: no fit)"),
    Setting("irf_fwhm_ps", "IRF FWHM", "ps", FLOAT, {"histogram": 0.0}, lo=0, hi=1e7,
            help="FWHM of a Gaussian IRF (0: fitted); a measured IRF, when stored, is used instead"),
)
SETTINGS += ANALYSIS_SETTINGS


# ----------------------------------------------------------------------------------- coincidences
#: the type of a list of channel groups, written "1,2; 1,2,3,4" (one group per ';')
GROUPS = "groups"
#: channels in one coincidence group: a coincidence needs two; the vendor's Coincidences takes at most 64
#: unique channels in all (wheel, Coincidences docstring)
MIN_GROUP, MAX_GROUP = 2, 8
#: longest coincidence window accepted, ps (1 us: the n-fold accidentals formula needs S·W << 1)
MAX_COINCIDENCE_WINDOW_PS = 1_000_000
SETTINGS += (
    Setting("groups", "Channel groups", "", GROUPS, {"coincidences": ((1, 2),)},
            help="coincidence groups, channels separated by commas, groups by ';', e.g. 1,2;1,2,3,4"),
    Setting("window_ps", "Coincidence window", "ps", INT, {"coincidences": 1000}, lo=0,
            hi=MAX_COINCIDENCE_WINDOW_PS,
            help="maximum time between all the events of one coincidence"),
)

#: the viewer plugins' acquisition modes (see daq_viewer_plugins.common)
MODE_PER_GRAB, MODE_ACCUMULATE = "per grab", "accumulate"
#: default grace on top of the integration time before an acquisition is declared timed out, s
DEFAULT_TIMEOUT_MARGIN_S = 5.0
#: the viewer plugins' acquisition settings besides integration_s: not part of a measurement's settings (the
#: plugin keeps them), settable from the plugin's tree and by a server through the plugin's remote link
ACQUISITION: tuple[Setting, ...] = (
    Setting("mode", "Acquisition mode", "", CHOICE, {k: MODE_PER_GRAB for k in KINDS},
            choices=(MODE_PER_GRAB, MODE_ACCUMULATE),
            help="per grab: each grab measures exactly integration_s; accumulate: everything since the last clear"),
    Setting("timeout_margin_s", "Timeout margin", "s", FLOAT, {k: DEFAULT_TIMEOUT_MARGIN_S for k in KINDS},
            lo=0.1, hi=MAX_INTEGRATION_S, help="grace on top of the window before a grab is declared timed out"),
)
BY_NAME = {s.name: s for s in SETTINGS + ACQUISITION}

# ----------------------------------------------------------------------------------- virtual channels
#: the tagger's virtual channels a viewer's "Virtual channels" group defines (virtual_inputs.py): device settings
#: of the open tagger, shared by the Master's Slaves, not settings of one measurement (so not in SETTINGS: no
#: command-line option). Channel lists empty and inputs 0 mean "none".
VIRTUAL = "virtual"
VIRTUAL_SETTINGS: tuple[Setting, ...] = (
    Setting("combine_channels", "Combine (OR) channels", "", CHANNELS, {VIRTUAL: ()},
            help="Combiner: one virtual channel with the tags of all these inputs, e.g. 1,2 (empty: none)"),
    Setting("delay_input", "Delay input", "", INT, {VIRTUAL: 0}, lo=0, hi=MAX_CHANNEL,
            help="DelayedChannel: a copy of this input, delayed (0: none)"),
    Setting("delay_ps", "Delay by", "ps", INT, {VIRTUAL: 0}, lo=0, hi=10**12,
            help="DelayedChannel: the delay"),
    Setting("gate_input", "Gate input", "", INT, {VIRTUAL: 0}, lo=0, hi=MAX_CHANNEL,
            help="GatedChannel: this input's tags while the gate is open (0: none)"),
    Setting("gate_start", "Gate opened by", "", INT, {VIRTUAL: 0}, lo=0, hi=MAX_CHANNEL,
            help="GatedChannel: the channel whose tags open the gate"),
    Setting("gate_stop", "Gate closed by", "", INT, {VIRTUAL: 0}, lo=0, hi=MAX_CHANNEL,
            help="GatedChannel: the channel whose tags close the gate (not the opening one)"),
    Setting("filter_trigger", "Conditional filter: triggers", "", CHANNELS, {VIRTUAL: ()},
            help="conditional filter: the trigger inputs, e.g. 1 (empty: filter off)"),
    Setting("filter_filtered", "Conditional filter: filtered", "", CHANNELS, {VIRTUAL: ()},
            help="conditional filter: the filtered inputs (their tags pass only after a trigger tag)"),
)
VIRTUAL_BY_NAME = {s.name: s for s in VIRTUAL_SETTINGS}


def check_virtual(name: str, value):
    """A virtual-channel setting checked as the measurement settings are (an empty channel list: none)."""
    s = VIRTUAL_BY_NAME[name]
    if s.type == CHANNELS and (value in ("", None) or (not isinstance(value, str) and len(value) == 0)):
        return ()
    if s.type == CHANNELS and isinstance(value, str) and not value.strip():
        return ()
    return check(name, value)


def virtual_params() -> list[dict]:
    """The viewer plugins' "Virtual channels" parameters, from VIRTUAL_SETTINGS."""
    out = []
    for s in VIRTUAL_SETTINGS:
        title = f"{s.title} ({s.unit}):" if s.unit else f"{s.title}:"
        d = {"title": title, "name": s.name, "tip": s.help}
        if s.type == CHANNELS:
            d.update(type="str", value=",".join(str(c) for c in s.defaults[VIRTUAL]))
        else:
            d.update(type="int", value=s.defaults[VIRTUAL], min=s.lo)
        out.append(d)
    return out


def of_kind(kind: str) -> tuple[Setting, ...]:
    """The settings of a measurement kind, in declaration order."""
    if kind in IMAGING_KINDS:
        return tuple(s for s in IMAGING_SETTINGS if kind in s.defaults)
    check_kind(kind)
    return tuple(s for s in SETTINGS if kind in s.defaults)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise SettingsError(f"unknown measurement {kind!r}; known: {', '.join(KINDS)}")
    return kind


def default(kind: str, name: str):
    """The one default of setting ``name`` for ``kind`` (what the dataclasses of runs.py use)."""
    return BY_NAME[name].defaults[kind]


#: the spellings of a boolean accepted from text (the CLI, set_info of the TCP and LECO routes)
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
              "off": False}


def _plain(name: str) -> str:
    return name


def check(name: str, value, spell: Callable[[str], str] = _plain):
    """``value`` of setting ``name`` converted to its type and checked against its limits.

    Channels are checked against :data:`MAX_CHANNEL` only (the device's inputs: runs.py, once it is open).
    Raises SettingsError naming the setting as ``spell(name)`` (``--integration-s`` on the command line), and
    nothing else, whatever ``value`` is.
    """
    s = BY_NAME[name] if name in BY_NAME else VIRTUAL_BY_NAME[name]
    who = spell(name)
    if s.type == BOOL:  # only what clearly says yes or no: 'maybe' is an error, not False
        if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
            return BOOL_WORDS[value.strip().lower()]
        if isinstance(value, (bool, int, float)) and value in (0, 1):
            return bool(value)
        raise SettingsError(f"{who} must be true or false, got {_shown_text(value)}")
    if s.type == CHOICE:
        if isinstance(value, str) and value in s.choices:
            return value
        raise SettingsError(f"{who} must be one of {', '.join(s.choices)}, got {_shown_text(value)}")
    if s.type == CHANNELS:
        if isinstance(value, str):
            try:
                value = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
            except ValueError:
                raise SettingsError(f"{who} {_shown_text(value)}: give channel numbers separated by "
                                    f"commas") from None
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = (value,)
        elif not isinstance(value, (tuple, list)) or len(value) > MAX_CHANNEL:
            raise SettingsError(f"{who} must be channel numbers, got {_shown_text(value)}")
        chans = tuple(_channel(v, who) for v in value)
        if not chans:
            raise SettingsError(f"{who}: select at least one channel")
        if len(set(chans)) != len(chans):
            raise SettingsError(f"{who}: a channel is selected twice: {list(chans)}")
        return chans
    if s.type == CHANNEL:
        return _channel(value, who)
    if s.type == GROUPS:
        return _groups(value, who)
    if s.type == INT:
        v = _integer(value, who)
    else:
        v = _number(value, who, s)
    if s.lo is not None and (v <= s.lo if s.lo_open else v < s.lo) or s.hi is not None and v > s.hi:
        raise SettingsError(f"{who} must be {_range(s)}, got {_shown_text(value)}")
    return v


def printable(text) -> str:
    """``text`` with its control characters (ESC, CR, BEL...) escaped as ``\\x1b``: text from a peer, printed or
    logged, cannot retitle or clear the user's terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _shown_text(value) -> str:
    """A value from anywhere as text for a message: its repr, shortened (a peer may send megabytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value, who: str, s: Setting) -> float:
    """A finite float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise SettingsError(f"{who} must be a number, got {_shown_text(value)}")
    try:
        v = float(value)
    except (ValueError, OverflowError):
        raise SettingsError(f"{who} must be a number{_in(s)}, got {_shown_text(value)}") from None
    if not math.isfinite(v):
        raise SettingsError(f"{who} must be a finite number, got {_shown_text(value)}")
    return v


def _in(s: Setting) -> str:
    return f" of {s.unit}" if s.unit == "s" else (f" in {s.unit}" if s.unit else "")


def _range(s: Setting, shown: "Shown | None" = None) -> str:
    scale = shown.scale if shown is not None else 1.0
    u = (shown.unit if shown is not None and shown.unit else s.unit)
    unit = f" {u}" if u else ""
    if s.lo_open:
        return f"> {_num(s.lo * scale)} and <= {_num(s.hi * scale)}{unit}"
    return f"between {_num(s.lo * scale)} and {_num(s.hi * scale)}{unit}"


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _integer(value, who: str) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    v = None
    if isinstance(value, (numbers.Real, str)) and not isinstance(value, bool):
        try:
            f = float(value)
            v = int(f) if f.is_integer() else None
        except (ValueError, OverflowError):
            v = None
    if v is None:
        raise SettingsError(f"{who} must be an integer, got {_shown_text(value)}")
    return v


def _groups(value, who: str) -> tuple[tuple[int, ...], ...]:
    """Channel groups from "1,2;1,2,3" or a sequence of sequences; each of MIN_GROUP..MAX_GROUP distinct channels."""
    if isinstance(value, str):
        parts = [p for p in value.replace(" ", "").split(";") if p]
        try:
            value = [tuple(int(v) for v in p.split(",") if v) for p in parts]
        except ValueError:
            raise SettingsError(f"{who} {value!r}: give groups of channel numbers, e.g. 1,2;1,2,3,4") from None
    try:
        groups = tuple(tuple(_channel(c, who) for c in g) for g in value)
    except TypeError:
        raise SettingsError(f"{who}: give groups of channel numbers, e.g. 1,2;1,2,3,4, got {value!r}") from None
    if not groups:
        raise SettingsError(f"{who}: give at least one group of channels")
    for g in groups:
        if not MIN_GROUP <= len(g) <= MAX_GROUP:
            raise SettingsError(f"{who}: a group has {MIN_GROUP} to {MAX_GROUP} channels, got {list(g)}")
        if len(set(g)) != len(g):
            raise SettingsError(f"{who}: a channel appears twice in the group {list(g)}")
    if len(set(groups)) != len(groups):
        raise SettingsError(f"{who}: a group is given twice")
    return groups


def groups_text(groups) -> str:
    """The text form of channel groups: "1,2;1,2,3,4"."""
    return ";".join(",".join(str(c) for c in g) for g in groups)


def _channel(value, who: str) -> int:
    c = _integer(value, who) if not isinstance(value, str) else _integer(value.strip(), who)
    if c == 0 or abs(c) > MAX_CHANNEL:
        raise SettingsError(f"{who}: {c} is not a channel (1..{MAX_CHANNEL}, negative for falling edges)")
    return c


# ----------------------------------------------------------------------------------- shown values
def shown_of(kind: str, s: Setting) -> Shown:
    """How the plugin and the mirrored tree show setting ``s`` of ``kind``."""
    return s.shown.get(kind, Shown())


def shown_name(kind: str, s: Setting) -> str:
    return shown_of(kind, s).name or s.name


def to_shown(kind: str, name: str, value):
    """The value of setting ``name`` as shown (scaled, a bool as its label)."""
    s = BY_NAME[name]
    if s.type == GROUPS:  # typed as text
        return groups_text(value)
    shown = shown_of(kind, s)
    if shown.choices:
        return shown.choices[0 if value else 1]
    if shown.scale != 1.0:
        return value * shown.scale
    return value


def setting_shown_as(kind: str, name: str) -> Setting:
    """The setting of ``kind`` shown as ``name`` (its shown name, or its own); SettingsError if none."""
    for s in of_kind(kind):
        if name in (s.name, shown_name(kind, s)):
            return s
    raise SettingsError(f"{name!r} is not a setting of the {kind} measurement")


def from_shown(kind: str, name: str, value, spell: Callable[[str], str] = _plain) -> tuple[str, Any]:
    """(the setting's name, its checked value) from the value of the parameter shown as ``name``.

    The message names ``spell(name)`` and a range in the unit shown. A bool shown as labels takes a label or
    a plain boolean."""
    s = setting_shown_as(kind, name)
    shown = shown_of(kind, s)
    who = spell(name)
    if shown.choices and isinstance(value, str) and value in shown.choices:
        return s.name, value == shown.choices[0]
    if name == s.name:  # by its own name: the value itself
        return s.name, check(s.name, value, lambda n: who)
    if shown.choices:
        raise SettingsError(f"{who} must be one of {', '.join(shown.choices)}, got {_shown_text(value)}")
    internal = value
    if shown.scale != 1.0:
        x = _number(value, who, s) / shown.scale
        internal = int(round(x)) if s.type == INT else x
    try:
        return s.name, check(s.name, internal, lambda n: who)
    except SettingsError:
        raise SettingsError(f"{who} must be {_range(s, shown)}, got {_shown_text(value)}") from None


# ----------------------------------------------------------------------------------- viewer plugins
#: a tick of the plugins' channel selector (measurement/channels/ch<N>)
_CHANNEL_TICK = re.compile(r"ch([1-9][0-9]?)\Z")


def check_plugin(kind: str, path, value):
    """A value for the parameter at ``path`` of a viewer plugin of ``kind`` (its tree: ``integration_s``,
    ``mode``, ``timeout_margin_s``, ``measurement/<name shown>``, ``measurement/channels/ch<N>``) checked by
    its declaration: the value as that parameter holds it. SettingsError naming the parameter otherwise.

    A measurement as a whole (at least one channel, the device's inputs, the reply size) is checked once the
    value is part of it (runs.check_settings, :func:`check_reply_fits`)."""
    path = tuple(path)
    who = "/".join(path) or "(empty path)"
    if len(path) == 1 and path[0] in BY_NAME and (path[0] == "integration_s" or BY_NAME[path[0]] in ACQUISITION):
        return check(path[0], value)
    if len(path) == 2 and path[0] == "measurement":
        name, v = from_shown(kind, path[1], value)
        if BY_NAME[name].type != CHANNELS:
            return to_shown(kind, name, v)
    if len(path) == 3 and path[:2] == ("measurement", "channels") and _CHANNEL_TICK.match(path[2]) \
            and "channels" in BY_NAME and kind in BY_NAME["channels"].defaults:
        if not isinstance(value, bool):
            raise SettingsError(f"{who} must be true or false, got {_shown_text(value)}")
        return value
    raise SettingsError(f"{who} is not a setting of the {kind} plugin that can be set")


def plugin_params(kind: str, n_inputs: int = 8) -> list[dict]:
    """The viewer plugin's measurement parameters of ``kind`` (integration_s is among the acquisition ones)."""
    out = []
    for s in of_kind(kind):
        if s.name == "integration_s":
            continue
        shown = shown_of(kind, s)
        value = s.defaults[kind]
        name, unit = shown.name or s.name, shown.unit or s.unit
        title = f"{s.title} ({unit}):" if unit else f"{s.title}:"
        d = {"title": title, "name": name, "tip": s.help}
        if s.type == CHANNELS:
            d.update(type="group", children=[{"title": f"ch{c}", "name": f"ch{c}", "type": "bool",
                                              "value": c in value} for c in range(1, n_inputs + 1)])
        elif s.type == GROUPS:
            d.update(type="str", value=groups_text(value))
        elif shown.choices:
            d.update(type="list", value=shown.choices[0 if value else 1], limits=list(shown.choices))
        elif s.type == BOOL:
            d.update(type="bool", value=bool(value))
        elif s.type in (CHANNEL, INT) and shown.scale == 1.0:
            d.update(type="int", value=value)
        else:
            d.update(type="float", value=value * shown.scale)
        if s.lo is not None and "type" in d and d["type"] in ("int", "float"):
            d["min"] = s.lo * shown.scale if not s.lo_open else 1e-6
        out.append(d)
    return out


def from_plugin(kind: str, get: Callable[[str], Any], integration_s: float) -> dict:
    """The settings of ``kind`` as keyword values, each checked (SettingsError naming the parameter), from the
    plugin's parameters (``get(name)`` their values)."""
    values = {}
    for s in of_kind(kind):
        if s.name == "integration_s":
            values[s.name] = check(s.name, integration_s)
            continue
        name = shown_name(kind, s)
        values[s.name] = from_shown(kind, name, get(name))[1]
    return values


# ----------------------------------------------------------------------------------- the reply's size
#: the largest reply a peer accepts (its frame cap): settings that make a larger one are refused everywhere
MAX_REPLY_BYTES = DEFAULT_MAX_FRAME
#: bytes of a reply besides its float64 arrays (names, labels, units, metadata), upper estimate
REPLY_OVERHEAD_BYTES = 64 * 1024


def reply_size(settings) -> tuple[str, int, int]:
    """(the field that sets the size, its value, upper estimate of the bytes of one reply frame).

    A reply carries one float64 array of ``n_bins``/``n_values`` points per channel (one when the
    measurement has no ``channels``) and an axis of as many points; a count rate one number per channel.
    """
    channels = len(getattr(settings, "channels", ()) or ()) or 1
    for name in ("n_bins", "n_values"):
        points = getattr(settings, name, None)
        if points is not None:
            return name, int(points), 8 * int(points) * (channels + 1) + REPLY_OVERHEAD_BYTES
    return "channels", channels, 8 * channels + REPLY_OVERHEAD_BYTES


def check_reply_fits(settings, max_frame: int = MAX_REPLY_BYTES, spell: Callable[[str], str] = _plain) -> None:
    """SettingsError naming the setting (spelt by ``spell``) and the limit if one reply cannot fit in a frame."""
    name, value, size = reply_size(settings)
    if size <= max_frame:
        return
    per_point = (size - REPLY_OVERHEAD_BYTES) // max(value, 1)
    most = max((max_frame - REPLY_OVERHEAD_BYTES) // max(per_point, 1), 0)
    raise SettingsError(f"{spell(name)} {value}: a reply would be {size / 2**20:.1f} MiB, over the bridge's frame "
                        f"limit of {max_frame / 2**20:g} MiB; at most {most} with these settings")


# ----------------------------------------------------------------------------------- mirrored tree
def tree_params(kind: str, values) -> list[dict]:
    """The settings of ``kind`` (a settings object) as parameter descriptions with titles and units, shown as the
    viewer plugin shows them (:func:`from_shown` reads an edit back): the client's mirrored tree."""
    out = []
    for s in of_kind(kind):
        v = getattr(values, s.name)
        shown = shown_of(kind, s)
        unit = shown.unit or s.unit
        title = f"{s.title} ({unit})" if unit else s.title
        name = shown.name or s.name
        if s.type == CHANNELS:
            out.append(dict(name=name, type="str", value=",".join(str(c) for c in v), title=title))
        elif s.type == GROUPS:
            out.append(dict(name=name, type="str", value=groups_text(v), title=title))
        elif shown.choices:
            out.append(dict(name=name, type="list", value=to_shown(kind, s.name, v), title=title,
                            limits=list(shown.choices)))
        else:
            typ = {BOOL: "bool", FLOAT: "float"}.get(s.type, "int")
            if shown.scale != 1.0:
                typ = "float"
            out.append(dict(name=name, type=typ, value=to_shown(kind, s.name, v), title=title))
    return out


# ----------------------------------------------------------------------------------- command line
def add_cli_options(group) -> None:
    """One option per setting on an argparse group, its help naming the measurements that have it."""
    for s in SETTINGS:
        kinds = ", ".join(s.kinds)
        unit = f", {s.unit}" if s.unit else ""
        if s.cli_false_flag:
            group.add_argument(s.cli_false_flag, action="store_false", dest=s.name, default=None,
                               help=f"{kinds}: {s.help}")
            continue
        defaults = "; ".join(f"{k} {_show(v)}" for k, v in s.defaults.items())
        group.add_argument(s.option, dest=s.name, metavar=s.name.upper(),
                           help=f"{kinds}: {s.help}{unit} (default {defaults})")
    for s, kind, shown in _scaled():
        group.add_argument(_option_of(shown.name), dest=shown.name, metavar=shown.name.upper(),
                           help=f"{kind}: {s.help}, {shown.unit}, as its viewer plugin shows it (instead of "
                                f"{s.option}; default {_show(to_shown(kind, s.name, s.defaults[kind]))})")


def _scaled():
    """(setting, kind, Shown) of each setting a plugin shows in another unit: the command line takes it so too."""
    return [(s, k, sh) for s in SETTINGS for k, sh in s.shown.items() if sh.name and sh.scale != 1.0]


def _option_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _show(v) -> str:
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):
        return groups_text(v)
    return ",".join(str(c) for c in v) if isinstance(v, tuple) else f"{v:g}" if isinstance(v, float) else str(v)


def from_cli(args, kinds: list[str]) -> dict[str, dict]:
    """Keyword values of each measurement from the parsed options, each checked (the message names the
    option); an option no chosen measurement has is refused."""
    per_kind = {k: {} for k in kinds}
    for s in SETTINGS:
        raw = getattr(args, s.name, None)
        if raw is None:
            continue
        targets = [k for k in kinds if k in s.defaults]
        if not targets:
            raise SettingsError(f"{s.option} does not apply to the {'/'.join(kinds)} measurement "
                                f"(it is a setting of {', '.join(s.kinds)})")
        value = check(s.name, raw, spell=lambda n: BY_NAME[n].option)
        for k in targets:
            per_kind[k][s.name] = value
    for s, kind, shown in _scaled():  # the more specific option wins for its measurement
        raw = getattr(args, shown.name, None)
        if raw is None:
            continue
        option = _option_of(shown.name)
        if kind not in kinds:
            raise SettingsError(f"{option} does not apply to the {'/'.join(kinds)} measurement (it is a setting "
                                f"of {kind})")
        per_kind[kind][s.name] = from_shown(kind, shown.name, raw, spell=lambda n: option)[1]
    return per_kind


# ----------------------------------------------------------------------------------- marker-driven measurements
# The image (pixel clock) and pulsed (sequence steps) measurements of imaging.py. Their own kinds and names: they are
# not runs.py's window-by-window measurements (a grab is one frame, or one integration of the whole sequence).
#: the marker-driven kinds (imaging.py), apart from KINDS: the bridge and the CLI do not serve them (yet)
IMAGING_KINDS = ("image", "pulsed")
#: longest wait for a whole frame or a sequence's integration, s
MAX_FRAME_TIMEOUT_S = 86_400.0
#: most pixels in a frame (the CountBetweenMarkers buffers hold two frames: MAX_BINS values)
MAX_PIXELS = MAX_BINS // 2 - 1
IMAGING_SETTINGS: tuple[Setting, ...] = (
    Setting("photon_channels", "Photon channels", "", CHANNELS, {"image": (1, 2)},
            help="detector inputs: one image each"),
    Setting("pixel_channel", "Pixel marker", "", CHANNEL, {"image": 6},
            help="the scanner's pixel clock: a pixel begins at each of its edges (negative: falling edge)"),
    Setting("pixel_gated", "Pixel ends at", "", BOOL, {"image": True},
            help="the pixel clock's opposite edge ends the pixel (gate), or the next pixel's edge does",
            shown={"image": Shown(choices=("opposite edge (gate)", "next pixel marker"))}),
    Setting("line_channel", "Line marker", "", CHANNEL, {"image": 7},
            help="a marker at each line's start, within its first pixel"),
    Setting("frame_channel", "Frame marker", "", CHANNEL, {"image": 8},
            help="a marker at each frame's start, within its first pixel"),
    Setting("pixels_per_line", "Pixels per line", "", INT, {"image": 100}, lo=1, hi=MAX_PIXELS,
            help="pixel markers per line"),
    Setting("lines_per_frame", "Lines per frame", "", INT, {"image": 100}, lo=1, hi=MAX_PIXELS,
            help="lines per frame"),
    Setting("serpentine", "Serpentine scan", "", BOOL, {"image": False},
            help="every other line is scanned right to left (its pixels are stored reversed)"),
    Setting("output_rate", "Output", "", BOOL, {"image": True},
            help="count rate (counts / the pixel's dwell time from its markers), or raw counts",
            shown={"image": Shown(choices=("rate (Hz)", "counts"))}),
    Setting("frame_timeout_s", "Stall timeout", "s", FLOAT, {"image": 10.0, "pulsed": 10.0}, lo=0, lo_open=True,
            hi=MAX_FRAME_TIMEOUT_S,
            help="longest wait without a new pixel marker (image) or a new sweep (pulsed): the scanner or "
                 "sequencer stopped"),
    Setting("readout_channel", "Photon channel", "", CHANNEL, {"pulsed": 1}, help="the readout's detector"),
    Setting("laser_channel", "Start (laser) marker", "", CHANNEL, {"pulsed": 2},
            help="a marker when the readout laser turns on: histogram time zero"),
    Setting("step_channel", "Next (step) marker", "", CHANNEL, {"pulsed": 3}, help="a marker at each step"),
    Setting("sequence_channel", "Sync (sequence) marker", "", CHANNEL, {"pulsed": 4},
            help="a marker at each sequence's start"),
    Setting("n_steps", "Steps", "", INT, {"pulsed": 50}, lo=1, hi=100_000, help="steps of the sequence"),
    Setting("time_bin_ps", "Time bin", "ps", INT, {"pulsed": 1000}, lo=1, hi=10**12, help="histogram bin width"),
    Setting("n_time_bins", "Time bins", "", INT, {"pulsed": 3500}, lo=1, hi=MAX_BINS,
            help="histogram bins per step"),
    Setting("readout_start_ps", "Readout window start", "ps", INT, {"pulsed": 0}, lo=0, hi=10**12,
            help="the readout window, from the laser's start"),
    Setting("readout_window_ps", "Readout window", "ps", INT, {"pulsed": 300_000}, lo=1, hi=10**12,
            help="the readout window's length: its counts per sweep give the signal of each step"),
    Setting("sweeps", "Sweeps per grab", "", INT, {"pulsed": 1000}, lo=1, hi=10**9,
            help="whole sequences per grab: the measurement stops at this many rollovers, so every step has "
                 "exactly this many readouts"),
)
BY_NAME.update({s.name: s for s in IMAGING_SETTINGS})
assert len(BY_NAME) == len(SETTINGS) + len(ACQUISITION) + len(IMAGING_SETTINGS), "a marker-driven setting reuses a name"
# ----------------------------------------------------------------------------------- recording of the time tags
#: the viewer plugins' group of the recording of the raw tags (recording/, docs/recording.rst)
RECORDING_GROUP = "recording"
#: the 0D dataset of every recorded grab: window index (the file's number), tags written, tags lost. PyMoDAQ's scan
#: file keeps no extra attributes of the data: with it, each DAQ_Scan step says which file holds its tags.
RECORDING_DATA = "recording"
RECORDING_DATA_LABELS = ("window index", "tags", "tags lost")
#: where recordings go unless the user says otherwise
DEFAULT_RECORDING_DIRECTORY = "~/timetagger_tags"


def recording_params() -> dict:
    """The viewer plugins' recording group: the switch, the directory, and read-only figures of the last grab."""
    return {"title": "Record time tags:", "name": RECORDING_GROUP, "type": "group", "expanded": False, "children": [
        {"title": "Record:", "name": "record", "type": "bool", "value": False,
         "tip": "write the raw tags of the measurement's inputs of every grab (per grab mode) to a Photon-HDF5 "
                "file, one per grab, numbered from 0 (DAQ_Scan step k: file k)"},
        {"title": "Directory:", "name": "directory", "type": "str", "value": DEFAULT_RECORDING_DIRECTORY,
         "tip": "a folder <UTC time>_<measurement> is made in it for each recording session"},
        {"title": "Last file:", "name": "last_file", "type": "str", "value": "", "readonly": True},
        {"title": "Tags:", "name": "tags", "type": "int", "value": 0, "readonly": True},
        {"title": "Tags lost:", "name": "tags_lost", "type": "int", "value": 0, "readonly": True,
         "tip": "device overflows and tags the disk could not take (their intervals are in the file)"},
        {"title": "Status:", "name": "status", "type": "str", "value": "not recording", "readonly": True},
    ]}
