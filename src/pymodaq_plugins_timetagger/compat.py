"""The one place for what differs between the PyMoDAQ releases the plugins run on (5.0 to 5.3).

Checked against the published packages (pymodaq 5.0.18, 5.1.13, 5.3.x; pymodaq_utils 5.1.11, 5.3.7):

* ``pymodaq_utils.config.GlobalConfig`` (the registry of every package's configuration) exists only from
  pymodaq_utils 5.2. Before, a plugin package instantiated its ``BaseConfig`` subclass itself.
  :data:`GlobalConfig` is the real class when it exists, else :class:`_GlobalConfigShim`, which offers
  the two calls this package makes (``GlobalConfig.register()`` as a class decorator and
  ``GlobalConfig()(name, *path)``, raising ``KeyError`` for a missing value).
* PyMoDAQ 5.2's plugin discovery registers each plugin package's ``utils.Config`` in ``GlobalConfig`` itself
  and, if that configuration is registered already (e.g. by a ``@GlobalConfig.register()`` decorator run when
  ``utils`` was imported), raises and leaves the whole package out: none of its plugins is listed (5.3
  accepts both). :func:`registered` therefore registers this package's configuration only when it is first
  read, and only if nobody did.
* ``pymodaq.control_modules.thread_commands`` exists from PyMoDAQ 5.1, and its ``ThreadStatus`` has
  ``STOP`` only from 5.2 (5.1 has ``ThreadStatusViewer.STOP``; 5.0 compares the command strings).
  Every release compares ``ThreadCommand.command`` with string-valued enums, so the plain strings
  of :class:`_ThreadStatus` are understood by all of them.

Importing this module imports pymodaq_utils' config module only: ``ThreadStatus`` (PyMoDAQ itself) is
imported on first use, by the plugins; the Qt-free client reads its configuration through :func:`registered`.
"""
from __future__ import annotations

try:  # pymodaq_utils >= 5.2
    from pymodaq_utils.config import GlobalConfig
except ImportError:  # pymodaq_utils 5.0/5.1
    GlobalConfig = None



class _ThreadStatus:
    """``ThreadStatus`` for PyMoDAQ 5.0 and 5.1: the members of 5.1's enum (the strings 5.0 compares with).

    ``'stop'`` makes the viewer stop its grab in every 5.x release. ``'raise_timeout'`` does not exist for a
    viewer there: 5.0/5.1's ControlModule answers it with ``self.raise_timeout()``, a method only DAQ_Move
    has (``AttributeError`` printed on every failed grab), and their DAQ_Scan keeps its own grab timeout. So
    the command is sent under a name those releases ignore, and the viewer learns of the failure by 'stop'.
    """

    UPDATE_STATUS = "update_status"
    CLOSE = "close"
    UPDATE_SETTINGS = "update_settings"
    UPDATE_MAIN_SETTINGS = "update_main_settings"
    UPDATE_UI = "update_ui"
    SHOW_SPLASH = "show_splash"
    CLOSE_SPLASH = "close_splash"
    RAISE_TIMEOUT = "raise_timeout (PyMoDAQ >= 5.2 only)"
    STOP = "stop"


def __getattr__(name):
    # resolved on first use: importing pymodaq (Qt, its LECO Coordinator...) is for the plugins only, and the
    # Qt-free client reads its configuration through this module
    if name == "ThreadStatus":
        try:  # PyMoDAQ >= 5.1
            from pymodaq.control_modules.thread_commands import ThreadStatus as pymodaq_thread_status
        except ImportError:  # PyMoDAQ 5.0
            pymodaq_thread_status = None
        value = pymodaq_thread_status if hasattr(pymodaq_thread_status, "STOP") else _ThreadStatus
        globals()["ThreadStatus"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _GlobalConfigShim:
    """pymodaq_utils < 5.2: a registry of the package configurations registered here."""

    _configs: dict = {}

    @classmethod
    def register(cls):
        def inner(config_class):
            name = config_class.config_name.split("config_")[-1]
            cls._configs[name] = config_class()
            return config_class
        return inner

    def __contains__(self, name) -> bool:
        return name in self._configs

    def __call__(self, name, *path):
        from pymodaq_utils.config import ConfigError
        try:
            return self._configs[name](*path)
        except ConfigError as e:  # the 5.0/5.1 BaseConfig's error for a missing path
            raise KeyError(str(e)) from None


if GlobalConfig is None:
    GlobalConfig = _GlobalConfigShim


def registered(config_class):
    """``GlobalConfig()`` with ``config_class`` registered (once: by PyMoDAQ's discovery, or here on first use)."""
    registry = GlobalConfig()
    name = config_class.config_name.split("config_")[-1]
    if name not in registry._configs:
        try:
            GlobalConfig.register()(config_class)
        except ValueError:  # registered meanwhile (PyMoDAQ's discovery in another thread)
            if name not in registry._configs:
                raise
    return registry
