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
    names = {p["name"] for kind in ("daq_0Dviewer", "daq_1Dviewer", "daq_2Dviewer")
             for p in get_plugins(kind) if p["parent_module"].__name__ == "pymodaq_plugins_timetagger"}
    from pymodaq_utils.plugin_tools.checks import find_plugin_modules
    ours = {m.name for m in find_plugin_modules("pymodaq_plugins_timetagger")}
    assert names == ours == {"TimeTaggerCountrate", "TimeTaggerCorrelation", "TimeTaggerCounter",
                             "TimeTaggerHistogram", "TimeTaggerTCPServer"}
