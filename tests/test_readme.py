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
