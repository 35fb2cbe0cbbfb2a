"""The package version, read by setup.cfg and reported by the plugins and the bridge client."""
VERSION = "0.1.0"
