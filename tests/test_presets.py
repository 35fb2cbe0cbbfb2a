"""The example experiments: installed by the command into a temporary PyMoDAQ configuration, each opened in the
real Dashboard (its modules created and initialized, its default state applying the plugin settings) and scanned
with the real DAQ_Scan over PyMoDAQ's Mock stage.

PyMoDAQ's configuration folders are moved into the test's folder (``CONFIG_BASE_PATH`` for the system-wide one
where the experiments live, ``HOME`` for the user's): nothing is written to the real configuration.
"""
import subprocess
import sys

import pytest

from pymodaq_plugins_timetagger import presets

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def pymodaq_config(tmp_path, monkeypatch):
    """PyMoDAQ's configuration folders inside ``tmp_path``; returns the system-wide ``.pymodaq`` folder."""
    import pymodaq_utils.config as pmq_config
    (tmp_path / "home").mkdir()
    (tmp_path / "etc").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    monkeypatch.setattr(pmq_config, "CONFIG_BASE_PATH", tmp_path / "etc")
    pmq_config.get_set_local_dir.cache_clear()
    yield tmp_path / "etc" / ".pymodaq"
    monkeypatch.undo()
    pmq_config.get_set_local_dir.cache_clear()


def test_every_example_is_valid_and_names_real_plugin_settings():
    shipped = presets.available()
    assert set(shipped) == {"timetagger_rates_g2", "timetagger_two_pc_main"}
    for name, path in shipped.items():
        preset = presets.load(path)
        experiment = presets.experiment_parameter(preset)
        entries = presets.state_subentries(preset, experiment)
        assert len(entries) == sum(len(m.settings) for m in preset.modules), name


def test_a_bad_example_is_refused_naming_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[modules]]\nname = "a"\nkind = "detector"\ndim = "DAQ0D"\nplugin = "TimeTaggerCountrate"\n'
                   'controller_id = 1\nstatus = "Slave"\n', encoding="utf-8")
    with pytest.raises(presets.PresetError, match="controller_id 1 needs one Master"):
        presets.load(bad)
    bad.write_text('[[modules]]\nname = "a"\nkind = "detector"\ndim = "DAQ0D"\nplugin = "TimeTaggerCountrate"\n'
                   'controller_id = 1\n[modules.settings]\n"integration_s" = -1.0\n', encoding="utf-8")
    preset = presets.load(bad)
    with pytest.raises(presets.PresetError, match=r"a: setting 'integration_s': -1.0 is outside"):
        presets.state_subentries(preset, presets.experiment_parameter(preset))
    bad.write_text('[[modules]]\nname = "a"\nkind = "detector"\ndim = "DAQ0D"\nplugin = "TimeTaggerCountrate"\n'
                   'controller_id = 1\n[modules.settings]\n"measurement/nope" = 1\n', encoding="utf-8")
    preset = presets.load(bad)
    with pytest.raises(presets.PresetError, match="has no setting 'measurement/nope'"):
        presets.state_subentries(preset, presets.experiment_parameter(preset))


def test_the_command_installs_where_pymodaq_reads(pymodaq_config, capsys):
    from pymodaq.utils.config import get_set_experiment_path, get_set_state_path
    from pymodaq.utils.managers.experiment.experiment_manager import ExperimentManager
    from pymodaq.utils.managers.state.state_manager import StateManager
    from pymodaq_gui.qt_utils import mkQApp
    from pymodaq_utils.utils import read_binary_and_deserialize

    mkQApp("tests")
    assert presets.main([]) == 0
    for name in presets.available():
        xml, state = presets.targets(name)
        assert xml == get_set_experiment_path() / f"{name}.xml" and xml.is_relative_to(pymodaq_config)
        assert state == get_set_state_path(name) / "default.state"
        assert (xml, state) == presets.targets(name, pymodaq_config)  # --folder lays it out as PyMoDAQ does
        # read back with PyMoDAQ's own readers
        manager = ExperimentManager()
        manager.update_entry()
        manager.entry = name
        plugins = [p for group in manager.list_control_modules_from_experiment()[0] for p in group]
        assert sorted(p.name for p in plugins) == sorted(m.name for m in presets.load(presets.available()[name]).modules)
        entries = StateManager._subentries_from_data(read_binary_and_deserialize(state))
        assert [e.entry_type for e in entries] == ["StateSettings"] * len(entries) and entries
    assert "dashboard -x NAME" in capsys.readouterr().out
    # a second install does not overwrite without --force
    assert presets.main(["timetagger_rates_g2"]) == 1
    assert "exists already (--force replaces it)" in capsys.readouterr().err
    assert presets.main(["--force", "timetagger_rates_g2"]) == 0


def test_command_line_misuse_exits_2():
    run = subprocess.run([sys.executable, "-m", "pymodaq_plugins_timetagger.presets", "no_such_example"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "no example named 'no_such_example'" in run.stderr and "timetagger_rates_g2" in run.stderr


# ------------------------------------------------------------------------------ in the real Dashboard + DAQ_Scan
@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    from pymodaq_gui.h5modules.saving import H5SaverBase
    base_path = next(p for p in H5SaverBase.params if p["name"] == "base_path")
    monkeypatch.setitem(base_path, "value", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def _open_preset_and_scan(name: str, before_scan=lambda dashboard: None):
    """Open the installed experiment ``name`` as ``dashboard -x name`` does, wait for its default state, scan the
    Stage over two positions with every detector; returns (dashboard's detectors, per-step data)."""
    pytest.importorskip("PySide6.QtStateMachine", reason="PyMoDAQ's Dashboard needs QtStateMachine (PySide6-Addons)")
    pytest.importorskip("pymodaq_plugins_mock", reason="the examples move the Mock actuator of pymodaq_plugins_mock")
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq.utils.config import get_set_experiment_path
    from pymodaq_gui.qt_utils import mkQApp

    from tests.support.processes import pump_until
    from tests.support.scankit import close_all, open_scan, run_scan

    mkQApp("tests")
    preset = presets.load(presets.available()[name])
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    win_ext = scan = None
    try:
        applied = []
        dashboard.state_manager.applied_entry.connect(applied.append)  # the default state, after the modules
        dashboard.experiment_manager.entry = name
        dashboard.experiment_manager.execute_entry(get_set_experiment_path() / f"{name}.xml")
        pump_until(lambda: applied, 60, f"the experiment {name} and its default state to be applied")
        modules = {m.title: m for m in dashboard.actuators_modules + dashboard.detector_modules}
        assert sorted(modules) == sorted(m.name for m in preset.modules)
        for m in preset.modules:
            module = modules[m.name]
            assert module.initialized_state, f"{m.name} not initialized"
            key = "detector_settings" if m.kind == "detector" else "move_settings"
            for path, value in m.settings.items():
                assert module.settings.child(key, *path.split("/")).value() == value, (m.name, path)
        before_scan(dashboard)
        detectors = [m.name for m in preset.modules if m.kind == "detector"]
        win_ext, scan = open_scan(dashboard, "Stage", detectors[0], 0.0, 1.0, 1.0)
        scan.modules_manager.selected_detectors_name = detectors
        steps = run_scan(scan, 60)
        scan.h5_manager.close_file()
        return detectors, steps
    finally:
        close_all(shared_ui, dashboard, win_ext, scan)


def test_rates_and_g2_example_opens_and_scans(pymodaq_config, data_dir):
    assert presets.main(["timetagger_rates_g2"]) == 0
    detectors, steps = _open_preset_and_scan("timetagger_rates_g2")
    assert len(steps) == 2
    for dte in steps:
        by_origin = {d.origin: d for d in dte.data}
        assert set(by_origin) == set(detectors), by_origin
        rates = dte.get_data_from_name("Countrate")
        assert rates.labels == ["ch1", "ch2"] and rates.capture_duration_s == pytest.approx(0.1, abs=1e-9)
        g2 = next(d for d in dte.data if d.origin == "g2" and d.dim.name == "Data1D")
        assert g2.capture_duration_s == pytest.approx(1.0, abs=1e-9) and g2.size == 201


def test_two_pc_main_example_opens_and_scans_with_a_client(pymodaq_config, data_dir, tmp_path, monkeypatch):
    from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerTCPServer import \
        DAQ_0DViewer_TimeTaggerTCPServer as Server0D
    from tests.support.processes import Client, free_port, pump_until

    # the listening port is read at initialization, from the configuration: here a free one, on loopback
    port = free_port()
    for p in Server0D.params:
        if p["name"] in ("port_id", "socket_ip"):
            monkeypatch.setitem(p, "value", port if p["name"] == "port_id" else "127.0.0.1")
    assert presets.main(["timetagger_two_pc_main"]) == 0
    client = Client(port, "--measurement", "countrate,correlation", "--channels", "1,2", "--integration-s", "0.05",
                    tmp_path=tmp_path)

    def client_connected(dashboard):
        server = next(m for m in dashboard.detector_modules if m.title == "Remote count rates")
        pump_until(lambda: server.settings["detector_settings", "mirrored"] != "no client", 60,
                   f"the client to connect (log: {client.log})")
    try:
        detectors, steps = _open_preset_and_scan("timetagger_two_pc_main", client_connected)
    finally:
        client.stop()
    assert len(steps) == 2
    for dte in steps:
        origins = {d.origin for d in dte.data}
        assert origins == set(detectors), origins
        assert all(d.capture_duration_s == pytest.approx(0.05, abs=1e-9) for d in dte.data
                   if "capture_duration_s" in d.extra_attributes), dte
