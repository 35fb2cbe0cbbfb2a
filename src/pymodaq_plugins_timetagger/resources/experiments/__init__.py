"""The example experiments (TOML files) that ``pymodaq-timetagger-presets`` installs (see presets.py)."""
