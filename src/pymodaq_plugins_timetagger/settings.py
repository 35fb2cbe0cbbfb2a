"""Every measurement setting declared once: name, title, unit, default, limits, help, the measurements having it.

Qt-free. From :data:`SETTINGS` come

* the settings dataclasses of :mod:`.runs` (their defaults: :func:`default`) and their validation
  (:func:`check`, used by ``Run.validate``);
* the viewer plugins' measurement parameters (:func:`plugin_params`, :func:`from_plugin`);
* the bridge client's mirrored settings tree, with titles and units (:func:`tree_params`); an edited value
  is parsed by :func:`check` too (text or typed);
* the client's command-line options and their help (:func:`add_cli_options`, :func:`from_cli`).

Defaults (one set, on every route). Correlation: 500 ps bins, 201 bins (±50 ns around zero), g2(0) window
500 ps: a bin of 500 ps resolves the antibunching dip of a single emitter with a lifetime of a few ns (the dip's
width), while 201 bins span ±50 ns, enough for the flat g2 = 1 wings the normalisation is judged against; the
g2(0) window of one bin takes the zero bin only, the least biased estimate of g2(0) (a wider window averages the
dip with its flanks and overestimates it). These were the viewer plugin's defaults; the client's 1000/1001/1000
gave a coarser curve and a g2(0) averaged over 1 ns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .hardware.errors import SettingsError

#: the names of the kinds of measurement; what each is (data dimension, settings and Run classes): runs.MEASUREMENTS
KINDS = ("countrate", "correlation", "counter", "histogram")
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
            {"countrate": 0.1, "correlation": 1.0, "counter": 1.0, "histogram": 1.0},
            lo=0, lo_open=True, hi=MAX_INTEGRATION_S,
            help="integration time per request (per grab: the exact capture window)"),
)
BY_NAME = {s.name: s for s in SETTINGS}


def of_kind(kind: str) -> tuple[Setting, ...]:
    """The settings of a measurement kind, in declaration order."""
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
    Raises SettingsError naming the setting as ``spell(name)`` (``--integration-s`` on the command line).
    """
    s = BY_NAME[name]
    who = spell(name)
    if s.type == BOOL:  # only what clearly says yes or no: 'maybe' is an error, not False
        text = value.strip().lower() if isinstance(value, str) else value
        if text in BOOL_WORDS:
            return BOOL_WORDS[text]
        if isinstance(value, (bool, int, float)) and not isinstance(value, str) and value in (0, 1):
            return bool(value)
        raise SettingsError(f"{who} must be true or false, got {value!r}")
    if s.type == CHANNELS:
        if isinstance(value, str):
            try:
                value = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
            except ValueError:
                raise SettingsError(f"{who} {value!r}: give channel numbers separated by commas") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value,)
        chans = tuple(_channel(v, who) for v in value)
        if not chans:
            raise SettingsError(f"{who}: select at least one channel")
        if len(set(chans)) != len(chans):
            raise SettingsError(f"{who}: a channel is selected twice: {list(chans)}")
        return chans
    if s.type == CHANNEL:
        return _channel(value, who)
    if s.type == INT:
        v = _integer(value, who)
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{who} must be a number{_in(s)}, got {value!r}") from None
        if not math.isfinite(v):
            raise SettingsError(f"{who} must be a finite number, got {value!r}")
    if s.lo is not None and (v <= s.lo if s.lo_open else v < s.lo) or s.hi is not None and v > s.hi:
        raise SettingsError(f"{who} must be {_range(s)}, got {value!r}")
    return v


def _in(s: Setting) -> str:
    return f" of {s.unit}" if s.unit == "s" else (f" in {s.unit}" if s.unit else "")


def _range(s: Setting) -> str:
    unit = f" {s.unit}" if s.unit else ""
    if s.lo_open:
        return f"> {_num(s.lo)} and <= {_num(s.hi)}{unit}"
    return f"between {_num(s.lo)} and {_num(s.hi)}{unit}"


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _integer(value, who: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{who} must be an integer, got {value!r}")
    try:
        f = float(value)
        v = int(f) if f.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        v = None
    if v is None:
        raise SettingsError(f"{who} must be an integer, got {value!r}")
    return v


def _channel(value, who: str) -> int:
    c = _integer(value, who) if not isinstance(value, str) else _integer(value.strip(), who)
    if c == 0 or abs(c) > MAX_CHANNEL:
        raise SettingsError(f"{who}: {c} is not a channel (1..{MAX_CHANNEL}, negative for falling edges)")
    return c


# ----------------------------------------------------------------------------------- viewer plugins
def plugin_params(kind: str, n_inputs: int = 8) -> list[dict]:
    """The viewer plugin's measurement parameters of ``kind`` (integration_s is among the acquisition ones)."""
    out = []
    for s in of_kind(kind):
        if s.name == "integration_s":
            continue
        shown = s.shown.get(kind, Shown())
        value = s.defaults[kind]
        name, unit = shown.name or s.name, shown.unit or s.unit
        title = f"{s.title} ({unit}):" if unit else f"{s.title}:"
        d = {"title": title, "name": name, "tip": s.help}
        if s.type == CHANNELS:
            d.update(type="group", children=[{"title": f"ch{c}", "name": f"ch{c}", "type": "bool",
                                              "value": c in value} for c in range(1, n_inputs + 1)])
        elif shown.choices:
            d.update(type="list", value=shown.choices[0 if value else 1], limits=list(shown.choices))
        elif s.type in (CHANNEL, INT) and shown.scale == 1.0:
            d.update(type="int", value=value)
        else:
            d.update(type="float", value=value * shown.scale)
        if s.lo is not None and "type" in d and d["type"] in ("int", "float"):
            d["min"] = s.lo * shown.scale if not s.lo_open else 1e-6
        out.append(d)
    return out


def from_plugin(kind: str, get: Callable[[str], Any], integration_s: float) -> dict:
    """The settings of ``kind`` as keyword values, from the plugin's parameters (``get(name)`` their values)."""
    values = {}
    for s in of_kind(kind):
        if s.name == "integration_s":
            values[s.name] = float(integration_s)
            continue
        shown = s.shown.get(kind, Shown())
        raw = get(shown.name or s.name)
        if shown.choices:
            raw = raw == shown.choices[0]
        elif shown.scale != 1.0:
            raw = int(round(raw / shown.scale)) if s.type == INT else raw / shown.scale
        values[s.name] = raw
    return values


# ----------------------------------------------------------------------------------- mirrored tree
def tree_params(kind: str, values) -> list[dict]:
    """The settings of ``kind`` (a settings object) as parameter descriptions with titles and units:
    (name, type, value, title) of the client's mirrored tree."""
    out = []
    for s in of_kind(kind):
        v = getattr(values, s.name)
        title = f"{s.title} ({s.unit})" if s.unit else s.title
        if s.type == CHANNELS:
            out.append(dict(name=s.name, type="str", value=",".join(str(c) for c in v), title=title))
        else:
            typ = {BOOL: "bool", FLOAT: "float"}.get(s.type, "int")
            out.append(dict(name=s.name, type=typ, value=v, title=title))
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


def _show(v) -> str:
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
    return per_kind


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
