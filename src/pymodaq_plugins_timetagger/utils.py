"""This package's configuration file (``~/.pymodaq/config_timetagger.toml``, from the template)."""
from pathlib import Path

from pymodaq_utils.config import BaseConfig


class Config(BaseConfig):
    """Configuration values of pymodaq_plugins_timetagger (defaults in resources/config_template.toml)."""

    config_template_path = Path(__file__).parent.joinpath("resources/config_template.toml")
    config_name = f"config_{__package__.split('pymodaq_plugins_')[1]}"
