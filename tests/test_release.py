"""Release-ready: ``python -m build`` gives an sdist and a wheel that ``twine check`` accepts, holding the plugins,
the configuration template and the example experiments; one version; the metadata PyMoDAQ's plugin manager and
plugin template read (plugin_info.toml) equal to the wheel's; and the documented install of the wheel, into a clean
virtual environment, starts PyMoDAQ's dashboard with the plugins listed.

The build and the install need the package index (the build's isolated environment, the install's dependencies;
pip's own cache is used): they are skipped, saying so, only when the index cannot be reached.
"""
import email
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pymodaq_plugins_timetagger._version import VERSION

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "pymodaq_plugins_timetagger"


def _tomlload(path: Path) -> dict:
    try:
        import tomllib
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except ImportError:  # Python 3.10
        import toml
        return toml.loads(path.read_text(encoding="utf-8"))


def index_reachable() -> bool:
    try:
        run = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "setuptools"],
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return run.returncode == 0


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """(sdist, wheel) built from this tree by ``python -m build`` (isolated, as a release is built)."""
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        if not index_reachable():
            pytest.skip("the package index cannot be reached: python -m build needs it for its isolated "
                        "build environment (setuptools>=77)")
        raise AssertionError(f"python -m build failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    sdist, = out.glob("*.tar.gz")
    wheel, = out.glob("*.whl")
    return sdist, wheel


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        entry_points = next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))
        return email.message_from_string(z.read(meta).decode()), z.read(entry_points).decode(), z.namelist()


def test_twine_accepts_the_sdist_and_the_wheel(dist):
    run = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("PASSED") == 2, run.stdout


def test_the_wheel_holds_the_plugins_the_config_template_and_the_examples(dist):
    from pymodaq_utils.plugin_tools.checks import find_plugin_modules
    _, wheel = dist
    names = set(wheel_metadata(wheel)[2])
    src = ROOT / "src"
    expected = {p.relative_to(src).as_posix() for p in (src / PACKAGE).rglob("*")
                if p.is_file() and (p.suffix in (".py", ".toml")) and "__pycache__" not in p.parts}
    assert expected - names == set()
    plugins = {m.name for m in find_plugin_modules(PACKAGE)}
    assert {n.rsplit("_", 1)[-1][:-3] for n in names if re.search(r"daq_\dDviewer_\w+\.py$", n)} == plugins
    assert f"{PACKAGE}/resources/config_template.toml" in names
    assert {f"{PACKAGE}/resources/experiments/{n}.toml" for n in ("timetagger_rates_g2", "timetagger_two_pc_main")} <= names


def test_the_sdist_holds_the_docs_the_changelog_and_the_tests(dist):
    sdist, _ = dist
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for path in ("README.rst", "CHANGELOG.rst", "LICENSE", "plugin_info.toml", "setup.cfg", "pyproject.toml",
                 "tasks.py", "docs/conf.py", "docs/index.rst", "tests/test_release.py",
                 f"src/{PACKAGE}/resources/experiments/timetagger_rates_g2.toml"):
        assert path in names, path
    assert not any("__pycache__" in n or "/_build/" in n for n in names)


def test_one_version(dist):
    meta, _, _ = wheel_metadata(dist[1])
    assert meta["Version"] == VERSION
    import pymodaq_plugins_timetagger
    assert pymodaq_plugins_timetagger.__version__ == VERSION
    changelog = (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    newest = re.search(r"^(\d+\.\d+\.\d+)\b.*\n=+$", changelog, re.M)
    assert newest and newest.group(1) == VERSION, "the newest CHANGELOG.rst entry is not the package's version"
    assert len([line for line in (ROOT / "setup.cfg").read_text().splitlines() if line.startswith("version")]) == 1
    assert "version = attr: pymodaq_plugins_timetagger._version.VERSION" in (ROOT / "setup.cfg").read_text()


def test_plugin_info_is_what_the_wheel_says(dist):
    """What PyMoDAQ's plugin template (pymodaq/resources/setup_plugin.py) reads from plugin_info.toml, and what its
    plugin manager reads from the package index (the name matching 'pymodaq' and 'plugins', the summary, author,
    URL and the PyMoDAQ requirement of Requires-Dist), is one fact: equal here."""
    from packaging.requirements import Requirement
    from pymodaq_plugin_manager.validate import get_pymodaq_specifier

    from importlib.metadata import version
    meta, entry_points, _ = wheel_metadata(dist[1])
    info = _tomlload(ROOT / "plugin_info.toml")
    short = info["plugin-info"]["SHORT_PLUGIN_NAME"]
    assert short.isidentifier()
    assert info["plugin-info"]["package-name"] == f"pymodaq_plugins_{short}" == meta["Name"].replace("-", "_")
    assert all(word in meta["Name"] for word in ("pymodaq", "plugins"))  # the plugin manager's search
    assert info["plugin-info"]["description"] == meta["Summary"]
    assert info["plugin-info"]["author"] == meta["Author"]
    assert info["plugin-info"]["author-email"] == meta["Author-email"]
    assert info["plugin-info"]["license"] == meta["License"]
    assert info["plugin-info"]["package-url"] == meta["Home-page"] == info["urls"]["package-url"]
    # the PyMoDAQ requirement: one fact in setup.cfg and plugin_info.toml
    required = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert required == info["plugin-install"]["packages-required"]
    specifier = get_pymodaq_specifier(required)
    assert str(specifier) == str(Requirement(next(r for r in required if r.startswith("pymodaq"))).specifier)
    assert version("pymodaq") in specifier
    # the entry points the template derives from [features]
    features = {"instruments": "pymodaq.instruments", "extensions": "pymodaq.extensions", "models": "pymodaq.models",
                "h5exporters": "pymodaq.h5exporters", "scanners": "pymodaq.scanners"}
    groups = set(re.findall(r"^\[([\w.]+)\]$", entry_points, re.M)) - {"console_scripts"}
    assert groups == {features[k] for k, on in info["features"].items() if on} | {"pymodaq.plugins"}
    for group in groups:
        assert f"[{group}]\n{short} = {PACKAGE}" in entry_points


# ------------------------------------------------------------------------------------------------ the install
CHILD = r"""
import json, sys
from pathlib import Path
import pymodaq_utils.config as config                  # PyMoDAQ's system-wide folder inside the test's folder
config.CONFIG_BASE_PATH = Path(sys.argv[1])
from pymodaq_gui.qt_utils import mkQApp
from qtpy import QtWidgets
app = mkQApp("install check")
from pymodaq.dashboard import create_load_dashboard
from pymodaq.control_modules.instruments import DET_TYPES
shared_ui, dashboard = create_load_dashboard(show_dashboard=True)
ours = sorted((dim, p["name"]) for dim, plugins in DET_TYPES.items() for p in plugins
              if p["parent_module"].__name__ == "pymodaq_plugins_timetagger")
menu = json.dumps(dashboard.module_creator.create_menu_to_add_modules(), default=str)
for _ in range(20):
    app.processEvents()
if len(sys.argv) > 2:
    shared_ui.parent.grab().save(sys.argv[2])
import qtpy
print(json.dumps({"plugins": ours, "in_menu": [n for _, n in ours if n in menu], "api": qtpy.API_NAME}))
dashboard.quit_fun()
"""


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_documented_install_starts_the_dashboard_with_the_plugins(dist, tmp_path):
    """README, *Installation*: a new environment, ``pip install "pymodaq_plugins_timetagger[qt]"``; first without the
    extra (the Time Tagger PC without a display: the client and the self-check, no Qt binding), then with it."""
    _, wheel = dist
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path / "home"), USERPROFILE=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen",
               PYMODAQ_TIMETAGGER_KERNELS="numpy")
    (tmp_path / "home").mkdir()

    def pip(*args):
        run = subprocess.run([str(py), "-m", "pip", "install", "-q", *args], capture_output=True, text=True,
                             timeout=1200, env=env)
        if run.returncode != 0:
            if not index_reachable():
                pytest.skip("the package index cannot be reached: the install needs PyMoDAQ and its dependencies")
            raise AssertionError(f"pip install {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")

    # the Time Tagger PC: no Qt binding, the client and the self-check run
    pip(str(wheel))
    check = subprocess.run([str(py), "-c", "import qtpy"], capture_output=True, text=True, env=env, timeout=120)
    assert check.returncode != 0 and "QtBindingsNotFoundError" in check.stderr, "a Qt binding came without [qt]"
    bin_dir = py.parent
    selfcheck = subprocess.run([str(bin_dir / "pymodaq-timetagger-selfcheck"), "--address", "sim"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert selfcheck.returncode == 0, selfcheck.stdout[-2000:] + selfcheck.stderr[-2000:]
    version = subprocess.run([str(bin_dir / "pymodaq-timetagger-client"), "--version"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert version.returncode == 0 and VERSION in version.stdout + version.stderr

    # a new PyMoDAQ environment: the documented extra brings a complete Qt binding, the dashboard starts
    pip(f"{wheel}[qt]")
    (tmp_path / "etc").mkdir()
    shot = os.environ.get("TIMETAGGER_INSTALL_SCREENSHOT", "")
    run = subprocess.run([str(py), "-c", CHILD, str(tmp_path / "etc"), *([shot] if shot else [])],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["api"].lower().startswith("pyside6")
    assert result["plugins"] == [["DAQ0D", "TimeTaggerCountrate"], ["DAQ0D", "TimeTaggerTCPServer"],
                                 ["DAQ1D", "TimeTaggerCorrelation"], ["DAQ1D", "TimeTaggerCounter"],
                                 ["DAQ1D", "TimeTaggerHistogram"], ["DAQ1D", "TimeTaggerTCPServer"],
                                 ["DAQ2D", "TimeTaggerTCPServer"]]
    assert set(result["in_menu"]) == {name for _, name in result["plugins"]}
