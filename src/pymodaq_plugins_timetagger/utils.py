"""This package's configuration (``config_timetagger.toml`` in PyMoDAQ's config folder).

The ``Config`` class is registered in PyMoDAQ's ``GlobalConfig`` under ``timetagger`` by PyMoDAQ's plugin
discovery, or on first read here (``compat.registered``: PyMoDAQ 5.2 refuses a package that registered
itself on import), so values are read as ``config('timetagger', 'tagger', 'address')`` from the package's
``config``.
"""
from pathlib import Path

from pymodaq_utils.config import BaseConfig

from .compat import registered

CONFIG_NAME = "timetagger"


class Config(BaseConfig):
    """Configuration values of pymodaq_plugins_timetagger (defaults in resources/config_template.toml)."""

    config_template_path = Path(__file__).parent.joinpath("resources/config_template.toml")
    config_name = f"config_{CONFIG_NAME}"


def config_value(*path, default=None):
    """One value of this package's configuration, e.g. ``config_value('bridge', 'port')``."""
    try:
        return registered(Config)(CONFIG_NAME, *path)
    except KeyError:
        return default
