"""README.rst renders cleanly and shows exactly the two set-up commands that .ci/run and tasks.py know."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    """The remote PC is usually Windows: the same two set-up commands with py, PowerShell continuations."""
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    quick = text.split("Quick start", 1)[1].split("\n\n.. image::", 1)[0]
    assert "``py tasks.py demo``" in quick and "``py tasks.py test``" in quick
    assert ".venv\\Scripts\\python" in text
    blocks = re.findall(r"\.\. code-block:: powershell\n\n((?:      .*\n)+)", text)
    assert blocks and all(line.endswith(" `") for b in blocks for line in b.splitlines()[:-1])
    assert "Windows and macOS\n=================" in text


def _section(text: str, title: str) -> str:
    """The body of the README section (any level) titled ``title``, up to the next title."""
    body = text.split(f"\n{title}\n", 1)[1].split("\n", 1)[1]
    return re.split(r"\n[^\n]+\n[=\-~^]{3,}\n", body, maxsplit=1)[0]


def test_the_client_options_table_names_every_option():
    from pymodaq_plugins_timetagger.bridge.__main__ import build_parser
    table = _section((ROOT / "README.rst").read_text(encoding="utf-8"), "Client options")
    named = set()
    for first, other in re.findall(r"``(--[a-z0-9-]+)(?:/(-[a-z0-9]+))?``", table):
        named.add(first)
        if other:  # --channel-1/-2, --leco-host/-port
            named.add(first.rsplit("-", 1)[0] + other)
    options = {o for a in build_parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    assert options - named == set()


def test_the_readme_lists_every_address_form():
    from pymodaq_plugins_timetagger.hardware.simulator.models import MODELS
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    forms = ["auto", "sim", *(f"sim:{m}" for m in MODELS), "net:host[:port]", "rpc:host[:port]"]
    for section in ("Client options", "Choosing the Time Tagger: addresses"):
        body = _section(text, section)
        assert [f for f in forms if f"``{f}``" not in body] == [], section


def test_the_config_file_is_where_the_readme_says():
    from pymodaq_utils.config import get_config_file

    from pymodaq_plugins_timetagger.utils import Config
    path = get_config_file(Config.config_name, user=True)
    assert path == Path.home() / ".pymodaq" / "config" / "config_timetagger.toml"
    assert "``~/.pymodaq/config/config_timetagger.toml``" in (ROOT / "README.rst").read_text(encoding="utf-8")
