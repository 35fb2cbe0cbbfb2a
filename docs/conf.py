"""Sphinx configuration of the documentation site (built by tests/test_docs.py with warnings as errors)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # autodoc imports the plugins, which import Qt

from pymodaq_plugins_timetagger._version import VERSION  # noqa: E402

project = "pymodaq_plugins_timetagger"
author = "pymodaq_plugins_timetagger maintainers"
copyright = "the pymodaq_plugins_timetagger maintainers (MIT licence)"
release = version = VERSION

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"pymodaq_plugins_timetagger {VERSION}"

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# the docstrings are reStructuredText written for readers, not for cross-reference resolution
autodoc_typehints = "none"


#: the PyMoDAQ plugins (their settings are described in plugins.rst): importing them imports PyMoDAQ's GUI,
#: whose plugin discovery imports them again, half-initialized
PLUGINS = tuple(f"pymodaq_plugins_timetagger.{m}" for m in ("daq_viewer_plugins", "daq_move_plugins", "tagger_actuator"))


def api_modules() -> list[str]:
    """Every module of the package but the plugins, in import-path order (the API page documents each)."""
    import pkgutil

    import pymodaq_plugins_timetagger as package

    def walk(path, prefix):  # pkgutil.walk_packages would import the plugins' package to look inside it
        for info in pkgutil.iter_modules(path, prefix):
            if info.name.startswith(PLUGINS):
                continue
            yield info.name
            if info.ispkg:
                yield from walk([str(Path(path[0]) / info.name.rsplit(".", 1)[1])], info.name + ".")

    return sorted([package.__name__, *walk(package.__path__, package.__name__ + ".")])


def _append_api(app, docname, source):
    if docname != "api":
        return
    blocks = []
    for name in api_modules():
        blocks.append(f"\n``{name}``\n{'-' * (len(name) + 4)}\n\n.. automodule:: {name}\n")
    source[0] += "\n" + "".join(blocks)


def setup(app):
    app.connect("source-read", _append_api)
