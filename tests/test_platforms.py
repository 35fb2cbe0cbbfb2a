"""What differs on Windows and macOS, tested on Linux by forcing the other platform's conditions.

(The client's stopping with a recv() that Ctrl-C cannot interrupt, and a cp1252 console, are in
test_client_lifecycle.py.)
"""
import configparser
import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLATFORMS = {
    "linux-x86_64": {"platform_system": "Linux", "platform_machine": "x86_64", "sys_platform": "linux"},
    "linux-aarch64": {"platform_system": "Linux", "platform_machine": "aarch64", "sys_platform": "linux"},
    "windows": {"platform_system": "Windows", "platform_machine": "AMD64", "sys_platform": "win32"},
    "macos-arm": {"platform_system": "Darwin", "platform_machine": "arm64", "sys_platform": "darwin"},
    "macos-intel": {"platform_system": "Darwin", "platform_machine": "x86_64", "sys_platform": "darwin"},
}
#: where the vendor publishes a wheel of Swabian-TimeTagger (2.22.6: manylinux_2_28 x86_64 and aarch64,
#: win_amd64; none for macOS)
VENDOR_WHEEL = {"linux-x86_64", "linux-aarch64", "windows"}


def _extra(name: str) -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return [line.strip() for line in cfg["options.extras_require"][name].splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("extra", ["hardware", "test"])
def test_the_vendor_wheel_is_required_exactly_where_it_exists(extra, platform):
    from packaging.requirements import Requirement
    env = PLATFORMS[platform]
    wanted = [r for r in map(Requirement, _extra(extra)) if r.name == "Swabian-TimeTagger"
              and (r.marker is None or r.marker.evaluate(env))]
    assert bool(wanted) == (platform in VENDOR_WHEEL), (extra, platform)


def test_auto_tells_a_broken_vendor_library_from_a_missing_one(monkeypatch, tmp_path, caplog):
    """'DLL load failed' (Windows, a missing driver) was reported as 'not installed'."""
    from pymodaq_plugins_timetagger.hardware import access
    from pymodaq_plugins_timetagger.hardware.errors import VendorLibraryBroken, VendorLibraryMissing
    (tmp_path / "tt_broken_vendor.py").write_text(
        "raise ImportError('DLL load failed while importing _TimeTagger: The specified module could not be "
        "found.')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(access, "VENDOR_MODULES", ("tt_absent_pkg.TimeTagger", "tt_broken_vendor"))
    with pytest.raises(VendorLibraryBroken, match="installed but cannot be loaded.*DLL load failed"):
        access.load_vendor_api()
    with caplog.at_level("WARNING"):
        handle = access.open_tagger("auto", sim_clock="virtual")
    try:
        assert handle.simulated and "DLL load failed" in handle.description
        assert "DLL load failed" in caplog.text
    finally:
        handle.close()
    monkeypatch.setattr(access, "VENDOR_MODULES", ("tt_absent_pkg.TimeTagger", "tt_absent_module"))
    with pytest.raises(VendorLibraryMissing, match="not installed") as e:
        access.load_vendor_api()
    assert not isinstance(e.value, VendorLibraryBroken)


def test_the_status_line_in_place_on_a_terminal_a_line_per_change_otherwise():
    from pymodaq_plugins_timetagger.bridge.__main__ import StatusLine
    from pymodaq_plugins_timetagger.bridge.service import ClientStatus

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for stream in (io.StringIO(), Tty()):
        show = StatusLine(stream)
        st = ClientStatus(server="127.0.0.1:6341")
        show(st)
        st.connected = True
        for n in range(1, 50):
            st.requests_served = n
            show(st)
        st.last_error = "Time Tagger: \u03c4"
        show(st)
        text = stream.getvalue()
        if isinstance(stream, Tty):
            assert "\n" not in text and text.count("\r") == 51 and "requests served: 49" in text
        else:
            assert text.splitlines() == ["[timetagger-client] waiting for 127.0.0.1:6341",
                                         "[timetagger-client] connected to 127.0.0.1:6341",
                                         "[timetagger-client] connected to 127.0.0.1:6341 | last error: "
                                         "Time Tagger: \u03c4"]


def test_console_never_fails_escapes_what_the_code_page_cannot_show(monkeypatch):
    from pymodaq_plugins_timetagger.bridge.__main__ import console_never_fails
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", out)
    console_never_fails()
    print("g2(\u03c4)")
    out.flush()
    assert raw.getvalue() == b"g2(\\u03c4)\n"


def test_a_log_line_never_lands_at_the_end_of_the_in_place_status_line():
    """On a terminal stdout (status) and stderr (log) are the same screen: before, an INFO line was glued to the
    end of the status line ('... requests served: 3INFO connected ...')."""
    import logging

    from pymodaq_plugins_timetagger.bridge.__main__ import StatusLine
    from pymodaq_plugins_timetagger.bridge.service import ClientStatus

    class Tty(io.StringIO):
        def isatty(self):
            return True

    screen = Tty()
    show = StatusLine(screen)
    handler = logging.StreamHandler(screen)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(show)
    log = logging.getLogger("test_status_line_and_log")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        st = ClientStatus(server="127.0.0.1:6341", connected=True, requests_served=3)
        show(st)
        log.info("a setting received")
        log.info("a second log line")
        show(st)  # the same status is drawn again after the log
        lines = screen.getvalue().split("\n")
        assert lines[0].endswith("requests served: 3") and "INFO" not in lines[0]
        assert lines[1] == "INFO a setting received" and lines[2] == "INFO a second log line"
        assert lines[3].startswith("\r") and lines[3].endswith("requests served: 3")
    finally:
        log.removeHandler(handler)


def test_wall_clock_windows_end_on_time_with_a_coarse_timer(monkeypatch, make_tagger):
    """Windows before Python 3.13: timed waits tick at ~15.6 ms. The simulator's wall-clock engine then yields
    instead of sleeping near a window's end (COARSE_TIMER_S); forced here, the windows still end, exact."""
    import time

    from pymodaq_plugins_timetagger.hardware import simulator as TT
    from pymodaq_plugins_timetagger.hardware.simulator import tagger as engine

    monkeypatch.setattr(engine, "COARSE_TIMER_S", 0.016)
    t = make_tagger(clock="wall")
    t.setTestSignal([1], True)
    rate = TT.Countrate(t, [1])
    late = []
    for _ in range(5):
        t0 = time.perf_counter()
        rate.startFor(int(0.03e12))
        assert rate.waitUntilFinished(5000)
        late.append(time.perf_counter() - t0 - 0.03)
        assert rate.getCaptureDuration() == int(0.03e12)
    print(f"\nwall-clock windows of 30 ms ended {1e3 * min(late):.1f}-{1e3 * max(late):.1f} ms late")
