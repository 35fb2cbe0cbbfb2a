"""README.rst renders cleanly and shows exactly the two set-up commands that .ci/run and tasks.py know; what moved
into the documentation site (docs/) is checked there."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_readme_renders_without_warnings():
    import io

    import docutils.core
    stream = io.StringIO()
    docutils.core.publish_doctree((ROOT / "README.rst").read_text(encoding="utf-8"),
                                  settings_overrides={"report_level": 2, "warning_stream": stream})
    assert stream.getvalue() == ""


def test_two_setup_commands():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    quick = text.split("Quick start", 1)[1].split("\n\n.. image::", 1)[0]
    commands = re.findall(r"^   (python3 \S+ \w+)", quick, re.M)
    assert commands == ["python3 tasks.py demo", "python3 tasks.py test"]
    last = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last.split("#")[0].strip() == "python3 tasks.py test"


def test_images_exist():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    for image in re.findall(r"^\.\. image:: (\S+)", text, re.M):
        assert (ROOT / image).is_file(), image


def test_windows_forms_beside_the_linux_ones():
    """The remote PC is usually Windows: the same two set-up commands with py, PowerShell continuations (in the
    two-PC set-up page), and a page on Windows and macOS."""
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    quick = text.split("Quick start", 1)[1].split("\n\n.. image::", 1)[0]
    assert "``py tasks.py demo``" in quick and "``py tasks.py test``" in quick
    assert ".venv\\Scripts\\python" in text
    blocks = re.findall(r"\.\. code-block:: powershell\n\n((?:      .*\n)+)", _page("two_pc.rst"))
    assert blocks and all(line.endswith(" `") for b in blocks for line in b.splitlines()[:-1])
    assert _page("platforms.rst").startswith("Windows and macOS\n=================")
    assert "`Windows and macOS <docs/platforms.rst>`__" in text


def test_the_readme_links_into_the_site():
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    links = re.findall(r"<((?:docs/)?[\w/]+\.rst)>`__", text)
    assert {"docs/install.rst", "docs/user_guide.rst", "docs/plugins.rst", "docs/two_pc.rst", "docs/bridge.rst",
            "docs/simulator.rst", "docs/benchmarks.rst"} <= set(links)
    for link in links:
        assert (ROOT / link).is_file(), link


def _section(text: str, title: str) -> str:
    """The body of the README section (any level) titled ``title``, up to the next title."""
    body = text.split(f"\n{title}\n", 1)[1].split("\n", 1)[1]
    return re.split(r"\n[^\n]+\n[=\-~^]{3,}\n", body, maxsplit=1)[0]


def test_the_client_options_table_names_every_option():
    from pymodaq_plugins_timetagger.bridge.__main__ import build_parser
    table = _section(_page("bridge.rst"), "Client options")
    named = set()
    for first, other in re.findall(r"``(--[a-z0-9-]+)(?:/(-[a-z0-9]+))?``", table):
        named.add(first)
        if other:  # --channel-1/-2, --leco-host/-port
            named.add(first.rsplit("-", 1)[0] + other)
    options = {o for a in build_parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    assert options - named == set()


def test_the_readme_lists_every_address_form():
    from pymodaq_plugins_timetagger.hardware.simulator.models import MODELS
    forms = ["auto", "sim", *(f"sim:{m}" for m in MODELS), "net:host[:port]", "rpc:host[:port]"]
    for page, section in (("bridge.rst", "Client options"), ("user_guide.rst", "Choosing the Time Tagger: addresses")):
        body = _section(_page(page), section)
        assert [f for f in forms if f"``{f}``" not in body] == [], section


def test_the_config_file_is_where_the_readme_says():
    from pymodaq_utils.config import get_config_file

    from pymodaq_plugins_timetagger.utils import Config
    path = get_config_file(Config.config_name, user=True)
    assert path == Path.home() / ".pymodaq" / "config" / "config_timetagger.toml"
    assert "``~/.pymodaq/config/config_timetagger.toml``" in (ROOT / "README.rst").read_text(encoding="utf-8")
    assert "``~/.pymodaq/config/config_timetagger.toml``" in _page("user_guide.rst")


def test_allow_settings_edition_is_what_pymodaq_reads():
    """README states PyMoDAQ's key, its default and where to set it: checked against PyMoDAQ's own template and
    the file its configuration reads."""
    import importlib.util

    import toml
    from pymodaq_utils.config import get_config_file
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    pymodaq_dir = Path(importlib.util.find_spec("pymodaq").submodule_search_locations[0])  # not imported
    template = toml.loads((pymodaq_dir / "resources" / "config_template.toml").read_text(encoding="utf-8"))
    assert template["viewer"]["allow_settings_edition"] is False
    assert "``allow_settings_edition`` (section ``[viewer]``) is **false** by default" in text
    assert "[viewer]\n   allow_settings_edition = true" in text
    assert get_config_file("pymodaq", user=True) == Path.home() / ".pymodaq" / "config" / "pymodaq.toml"
    assert "``~/.pymodaq/config/pymodaq.toml``" in text
