"""The documentation site (docs/) builds with Sphinx, warnings as errors, every page in it; the Debian packages the
installation page names are the ones Qt's xcb platform plugin links."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.timeout(600)


def test_the_site_builds_without_a_warning(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("furo")
    out = tmp_path / "html"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                          "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
                         capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path)
    warnings = [line for line in run.stderr.splitlines() if re.search(r"WARNING|ERROR|CRITICAL", line)]
    assert run.returncode == 0 and not warnings, "\n".join(warnings) or run.stderr[-3000:]
    for page in DOCS.glob("*.rst"):  # every page is on the site (the index's glob), none is left out
        assert (out / f"{page.stem}.html").is_file(), page.name
    index = (out / "index.html").read_text(encoding="utf-8")
    for page in DOCS.glob("*.rst"):
        if page.stem != "index":
            assert f'href="{page.stem}.html"' in index, f"{page.name} is not in the index's table of contents"
    api = (out / "api.html").read_text(encoding="utf-8")
    for module in ("pymodaq_plugins_timetagger.hardware.access", "pymodaq_plugins_timetagger.presets",
                   "pymodaq_plugins_timetagger.protocol.server", "pymodaq_plugins_timetagger.bridge.link"):
        assert f'id="module-{module}"' in api, module


def _debian_package(soname: str) -> str:
    """Debian's name of the package of a shared library: libxcb-icccm.so.4 -> libxcb-icccm4, libxcb.so.1 ->
    libxcb1, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0, libEGL.so.1 -> libegl1 (Debian policy 8.1)."""
    name, version = re.fullmatch(r"(.+)\.so\.(\d+)", soname).groups()
    name = name.lower()
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def test_the_xcb_packages_are_what_qt_links():
    """Every library outside PySide6 that Qt's xcb platform plugin (libQt6XcbQpa) links and that a minimal Debian
    lacks is named in the installation page's apt-get line, and in README's (the same line)."""
    if sys.platform != "linux" or shutil.which("ldd") is None:
        pytest.skip("reads the libraries Qt links with ldd (Linux)")
    spec = pytest.importorskip("PySide6")
    qt_lib = Path(spec.__file__).parent / "Qt" / "lib"
    xcb_qpa = next(qt_lib.glob("libQt6XcbQpa.so*"), None)
    if xcb_qpa is None:
        pytest.skip("this PySide6 has no xcb platform plugin")
    linked = subprocess.run(["ldd", str(xcb_qpa)], capture_output=True, text=True, timeout=60).stdout
    sonames = {m for m in re.findall(r"^\s*(\S+\.so\.\d+)", linked, re.M)
               if re.match(r"lib(xcb|xkbcommon)", m)}
    assert sonames, linked
    wanted = {_debian_package(s) for s in sonames}
    for text in ((DOCS / "install.rst").read_text(encoding="utf-8"), (ROOT / "README.rst").read_text(encoding="utf-8")):
        line = re.search(r"sudo apt-get install ((?:[^\n]|\\\n)+?)\n\n", text).group(1)
        named = set(re.findall(r"\blib[\w.+-]+", line))
        assert wanted - named == set(), f"not in the apt-get line: {sorted(wanted - named)}"
        assert "libxcb-cursor0" in named  # the one Qt names in its error message, loaded by the plugin itself
