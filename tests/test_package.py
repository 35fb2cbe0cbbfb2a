"""The package installs and is found like every PyMoDAQ plugin package."""
from pymodaq.utils.plugin_testing import PluginPackageChecks

import pymodaq_plugins_timetagger


class TestTimeTaggerPackage(PluginPackageChecks):
    # set explicitly: the checks would otherwise guess it from a [project] table, and our metadata
    # lives in setup.cfg (the project's convention), with pyproject.toml for the build system only
    package_name = "pymodaq_plugins_timetagger"
    strict_imports = True



def test_version_and_config():
    from pymodaq_plugins_timetagger.utils import config_value
    assert pymodaq_plugins_timetagger.__version__.count(".") == 2
    cfg = pymodaq_plugins_timetagger.config
    assert cfg("timetagger", "tagger", "address") == "auto"
    assert config_value("bridge", "port") == 6341
    assert config_value("no", "such", "key", default=3) == 3


def test_importing_the_core_loads_neither_qt_nor_pymodaq():
    from tests.support.isolation import PYMODAQ, QT, loaded
    core = ["pymodaq_plugins_timetagger.hardware.access", "pymodaq_plugins_timetagger.hardware.simulator",
            "pymodaq_plugins_timetagger.runs", "pymodaq_plugins_timetagger.settings",
            "pymodaq_plugins_timetagger.dataset", "pymodaq_plugins_timetagger.bridge.service",
            "pymodaq_plugins_timetagger.bridge.link", "pymodaq_plugins_timetagger.bridge.__main__"]
    assert loaded(core, QT + PYMODAQ) == []

def test_reading_the_configuration_loads_neither_qt_nor_pymodaq():
    """The client reads its defaults from the configuration: that must not pull in PyMoDAQ (seconds of start-up,
    Qt, and from PyMoDAQ 5.2 a LECO Coordinator started on import); pymodaq_utils' config is all it needs."""
    from tests.support.isolation import PYMODAQ, QT, loaded
    gui_stack = QT + tuple(p for p in PYMODAQ if p not in ("pymodaq_utils", "serializall"))
    assert loaded(["pymodaq_plugins_timetagger.compat", "pymodaq_plugins_timetagger.utils"], gui_stack) == []


def test_pymodaq_lists_the_plugins():
    from pymodaq.utils.daq_utils import get_plugins
    names = {p["name"] for kind in ("daq_0Dviewer", "daq_1Dviewer", "daq_2Dviewer", "daq_move")
             for p in get_plugins(kind) if p["parent_module"].__name__ == "pymodaq_plugins_timetagger"}
    from pymodaq_utils.plugin_tools.checks import find_plugin_modules
    ours = {m.name for m in find_plugin_modules("pymodaq_plugins_timetagger")}
    assert names == ours == {"TimeTaggerCountrate", "TimeTaggerCoincidences", "TimeTaggerCorrelation",
                             "TimeTaggerCounter", "TimeTaggerDelayStage", "TimeTaggerInputDelay",
                             "TimeTaggerHistogram", "TimeTaggerTCPServer", "TimeTaggerImage", "TimeTaggerPulsed"}


def test_pymodaq_lists_the_plugins_when_our_code_is_imported_first():
    """A script (or a test) that imports our plugins' common module before anything of PyMoDAQ: PyMoDAQ's one
    listing of the plugins, made while its package is first imported, must still find all of ours."""
    import subprocess
    import sys
    code = ("import pymodaq_plugins_timetagger.daq_viewer_plugins.common\n"
            "from pymodaq.control_modules.instruments import DET_TYPES\n"
            "print(sorted(d['name'] for kind in DET_TYPES.values() for d in kind "
            "if d['parent_module'].__name__ == 'pymodaq_plugins_timetagger'))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "TimeTaggerCountrate" in res.stdout and "TimeTaggerCorrelation" in res.stdout, res.stdout
