"""Example experiments (PyMoDAQ's presets) installed into PyMoDAQ's configuration in one command.

    pymodaq-timetagger-presets              # install every example (python -m pymodaq_plugins_timetagger.presets)
    pymodaq-timetagger-presets --list       # what is shipped
    dashboard -x timetagger_rates_g2 -e DAQScan

Each example is a TOML file of ``resources/experiments``: its modules (name, plugin, Master/Slave and
controller ID) and the plugin settings of each. PyMoDAQ 5.3 keeps these in two files, written here with
PyMoDAQ's own classes and writers, exactly as its dashboard writes them:

* the *experiment*, ``<config>/experiments/<name>.xml``: the modules, as the Experiment manager's
  *Add* menu builds them (``ExperimentManager.params``, ``groupdet.addNew``), saved with
  ``ioxml.parameter_to_xml_file`` (what ``ExperimentManager.save_entries`` does). It holds no plugin settings;
* the experiment's default *state*, ``<config>/states/<name>/default.state``: one *StateSettings* sub-entry
  per setting, taken from the settings tree the State manager builds for the experiment
  (``ModulesSettingsManager.create_settings_all``), serialized as ``StateManager.save_entries`` does
  (sequential, then the sub-entries). The dashboard applies the ``default`` state of an experiment as soon as
  the experiment's modules are initialized (``DashBoard.do_things_after_experiment_set``).

Settings read when a module is initialized (the Time Tagger's address, the TCPServer's IP and port) cannot be
in a state, which is applied after the initialization: they come from this package's configuration file
(``config_timetagger.toml``: ``[tagger] address``, ``[bridge] host`` and ``port``).

Exit codes: 0 installed, 1 an example exists already (``--force`` replaces it) or cannot be written,
2 a command-line mistake (an unknown example).
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the toml package PyMoDAQ depends on
    import toml as _toml

    class tomllib:  # noqa: N801 - the same name as the module it replaces
        @staticmethod
        def loads(text: str) -> dict:
            return _toml.loads(text)

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "resources" / "experiments"
#: the name PyMoDAQ's dashboard gives the state it applies right after loading an experiment
DEFAULT_STATE = "default"
KINDS = ("actuator", "detector")
DIMS = ("DAQ0D", "DAQ1D", "DAQ2D", "DAQND")
STATUSES = ("Master", "Slave")


class PresetError(ValueError):
    """An example file that does not describe a loadable experiment (the message names the file and the key)."""


@dataclass(frozen=True)
class Module:
    name: str
    kind: str                 #: actuator | detector
    plugin: str               #: the plugin's name as PyMoDAQ lists it (``TimeTaggerCountrate``, ``Mock``)
    controller_id: int
    status: str = "Master"    #: Master | Slave (a Slave shares the controller of the Master with its ID)
    dim: str = ""             #: detectors: DAQ0D, DAQ1D...
    settings: dict = field(default_factory=dict)  #: "group/name" under the plugin's settings -> value


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    modules: tuple[Module, ...]


def available() -> dict[str, Path]:
    """The shipped examples: name -> file."""
    return {p.stem: p for p in sorted(EXAMPLES_DIR.glob("*.toml"))}


def load(path: Path) -> Preset:
    """Read and check one example file; PresetError naming the file and what is wrong."""
    where = path.name
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PresetError(f"{where}: {e}") from e
    modules = []
    for i, m in enumerate(doc.get("modules", [])):
        here = f"{where}: modules[{i}]"
        unknown = set(m) - {"name", "kind", "plugin", "controller_id", "status", "dim", "settings"}
        if unknown:
            raise PresetError(f"{here}: unknown keys {sorted(unknown)}")
        for key in ("name", "kind", "plugin", "controller_id"):
            if key not in m:
                raise PresetError(f"{here}: '{key}' is missing")
        if m["kind"] not in KINDS:
            raise PresetError(f"{here}: kind {m['kind']!r} is not one of {KINDS}")
        if m["kind"] == "detector" and m.get("dim") not in DIMS:
            raise PresetError(f"{here}: a detector needs dim, one of {DIMS}")
        if m.get("status", "Master") not in STATUSES:
            raise PresetError(f"{here}: status {m['status']!r} is not one of {STATUSES}")
        if not isinstance(m["controller_id"], int) or isinstance(m["controller_id"], bool):
            raise PresetError(f"{here}: controller_id must be an integer")
        modules.append(Module(name=str(m["name"]), kind=m["kind"], plugin=str(m["plugin"]),
                              controller_id=m["controller_id"], status=m.get("status", "Master"),
                              dim=m.get("dim", ""), settings=dict(m.get("settings", {}))))
    if not modules:
        raise PresetError(f"{where}: no modules")
    names = [m.name for m in modules]
    if len(set(names)) != len(names):
        raise PresetError(f"{where}: two modules have the same name ({names})")
    # PyMoDAQ's loader wants exactly one Master per controller ID, created before its Slaves
    for cid in {m.controller_id for m in modules}:
        group = [m for m in modules if m.controller_id == cid]
        if [m.status for m in group].count("Master") != 1 or group[0].status != "Master":
            raise PresetError(f"{where}: controller_id {cid} needs one Master, listed before its Slaves")
    return Preset(path.stem, str(doc.get("description", "")), tuple(modules))


# ---------------------------------------------------------------------------------------- PyMoDAQ's files
def experiment_parameter(preset: Preset):
    """The experiment as PyMoDAQ's Experiment manager holds it (a Parameter tree)."""
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager
    from pymodaq_gui.parameter import Parameter

    exp = Parameter.create(title="Experiment", name="Preset", type="group", children=ExperimentManager.params)
    for m in preset.modules:
        group = exp.child(m.kind)
        try:
            group.addNew((m.plugin,) if m.kind == "actuator" else (m.dim, m.plugin))
        except (KeyError, TypeError, AttributeError) as e:
            raise PresetError(f"{preset.name}: PyMoDAQ has no {m.kind} plugin {m.plugin!r}"
                              f"{' (' + m.dim + ')' if m.dim else ''}: is its package installed?") from e
        child = group.children()[-1]
        child.child("name").setValue(m.name)
        child.child("controller", "controller_ID").setValue(m.controller_id)
        child.child("controller", "controller_status").setValue(m.status)
    return exp


def _check_value(preset: str, module: str, key: str, param, value) -> None:
    kind = param.opts.get("type")
    where = f"{preset}: {module}: setting {key!r}"
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind in ("str", "text"):
        ok = isinstance(value, str)
    elif kind == "list":
        ok = value in list(param.opts.get("limits") or [])
    else:
        raise PresetError(f"{where}: a {kind!r} parameter cannot be preset")
    if not ok:
        raise PresetError(f"{where}: {value!r} is not a valid {kind} value"
                          + (f" (one of {list(param.opts['limits'])})" if kind == "list" else ""))
    lo, hi = param.opts.get("min"), param.opts.get("max")
    if kind in ("int", "float") and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        raise PresetError(f"{where}: {value!r} is outside [{lo}, {hi}]")
    if param.opts.get("readonly"):
        raise PresetError(f"{where}: a read-only parameter cannot be preset")


def state_subentries(preset: Preset, experiment) -> list:
    """The default state's sub-entries: one StateSettings entry per preset setting, taken from the settings tree
    PyMoDAQ's State manager builds for this experiment (so each path and parameter is the plugin's own)."""
    from pymodaq.control_modules.move_utility_classes import HW_SETTINGS_KEY as ACTUATOR_KEY
    from pymodaq.control_modules.viewer_utility_classes import HW_SETTINGS_KEY as DETECTOR_KEY
    from pymodaq.utils.managers.modules.module_settings_manager import ModulesSettingsManager
    from pymodaq.utils.managers.state.subentries import StateSubEntryHandlerTypes
    from pymodaq_gui.managers.settings.subentries import SubEntry
    from pymodaq_gui.parameter.utils import ParameterWithPath

    tree = ModulesSettingsManager().create_settings_all(experiment.child("actuator").children(),
                                                        experiment.child("detector").children())
    entries = []
    for kind, key in (("actuator", ACTUATOR_KEY), ("detector", DETECTOR_KEY)):
        modules = [m for m in preset.modules if m.kind == kind]
        for group, m in zip(tree.child(kind).children(), modules):
            for path, value in m.settings.items():
                try:
                    param = group.child(key, *path.split("/"))
                except KeyError as e:
                    raise PresetError(f"{preset.name}: {m.name}: the plugin {m.plugin} has no setting "
                                      f"{path!r}") from e
                _check_value(preset.name, m.name, path, param, value)
                param.setValue(value)
                entries.append(SubEntry(StateSubEntryHandlerTypes.SETTINGS, m.name, ParameterWithPath(param)))
    return entries


def write_state(path: Path, entries: list) -> None:
    """What ``StateManager.save_entries`` writes: parallel execution (no), waiting for completion (yes), then
    the serialized sub-entries."""
    from serializall import SerializableFactory
    ser = SerializableFactory()
    with open(path, "wb") as f:
        f.write(ser.get_apply_serializer(False))
        f.write(ser.get_apply_serializer(True))
        f.writelines(ser.get_apply_serializer(e) for e in entries)


def targets(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    """(experiment file, default state file) of ``name`` in PyMoDAQ's configuration folder, or under ``folder``
    (laid out as PyMoDAQ's: ``experiments/``, ``states/<name>/``)."""
    if folder is None:
        from pymodaq.utils.config import get_set_experiment_path, get_set_state_path
        return get_set_experiment_path() / f"{name}.xml", get_set_state_path(name) / f"{DEFAULT_STATE}.state"
    return folder / "experiments" / f"{name}.xml", folder / "states" / name / f"{DEFAULT_STATE}.state"


def install(name: str, *, force: bool = False, folder: Path | None = None) -> tuple[Path, Path]:
    """Write the example ``name`` into PyMoDAQ's configuration; FileExistsError if it exists and not ``force``."""
    # PyMoDAQ's writer of its parameter XML (what ExperimentManager.save_entries calls); nothing is read
    from pymodaq_gui.parameter.ioxml import parameter_to_xml_file

    preset = load(available()[name])
    experiment = experiment_parameter(preset)
    entries = state_subentries(preset, experiment)
    xml, state = targets(name, folder)
    if not force and (xml.exists() or state.exists()):
        raise FileExistsError(f"{xml if xml.exists() else state} exists already (--force replaces it)")
    xml.parent.mkdir(parents=True, exist_ok=True)
    state.parent.mkdir(parents=True, exist_ok=True)
    parameter_to_xml_file(experiment, xml, overwrite=True)
    write_state(state, entries)
    return xml, state


def build_parser() -> argparse.ArgumentParser:
    names = sorted(available())
    p = argparse.ArgumentParser(
        prog="pymodaq-timetagger-presets",
        description="Install this package's example experiments (with their plugin settings) into PyMoDAQ's "
                    "configuration, so that the dashboard opens them: dashboard -x NAME -e DAQScan.")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"examples to install (default: all): {', '.join(names)}")
    p.add_argument("--list", action="store_true", help="list the examples and exit")
    p.add_argument("--force", action="store_true", help="replace an experiment of the same name and its default state")
    p.add_argument("--folder", type=Path, default=None,
                   help="PyMoDAQ's configuration folder to write into (default: the one PyMoDAQ reads, "
                        "e.g. /etc/.pymodaq on Linux, %%PROGRAMDATA%%\\.pymodaq on Windows)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    shipped = available()
    unknown = [n for n in args.names if n not in shipped]
    if unknown:
        parser.error(f"no example named {', '.join(map(repr, unknown))} (there are: {', '.join(sorted(shipped))})")
    if args.list:
        for name, path in shipped.items():
            print(f"{name}: {load(path).description}")
        return 0
    failed = 0
    for name in args.names or list(shipped):
        try:
            xml, state = install(name, force=args.force, folder=args.folder)
        except (FileExistsError, OSError, PresetError) as e:
            print(f"{name}: not installed: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {xml} (modules) and {state} (their settings)")
    if not failed:
        print("open one with: dashboard -x NAME -e DAQScan (or the dashboard's Experiment menu)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
