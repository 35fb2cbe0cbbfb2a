"""Command line of the standalone Time Tagger client (``pymodaq-timetagger-client``).

Run it on the PC the Time Tagger is plugged into; it connects to the TCPServer plugin on the main PC:

    pymodaq-timetagger-client --host 192.168.1.10 --measurement correlation --channel-1 1 --channel-2 2 \\
        --binwidth-ps 500 --n-bins 201 --integration-s 1

Ctrl-C (and Ctrl-Break or closing the console on Windows, SIGTERM elsewhere) aborts the window under way,
frees the Time Tagger and exits within about a second. Exit codes: 0 normal end (Ctrl-C or Quit from the
server), 1 the tagger could not be freed in time or a second Ctrl-C, 2 bad arguments (the message names the
option).
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..runs import KINDS, SettingsError, make_settings
from . import codec
from .client import TaggerClient, check_reply_fits, run_until_interrupted
from .server import DEFAULT_HOST, DEFAULT_PORT
from .wire import CLASSIC, PYMODAQ5

# option -> (settings field, type); only the fields of the chosen measurement are used
MEASUREMENT_OPTIONS = {
    "channels": ("channels", str), "channel_1": ("channel_1", int), "channel_2": ("channel_2", int),
    "click_channel": ("click_channel", int), "start_channel": ("start_channel", int),
    "binwidth_ps": ("binwidth_ps", int), "n_bins": ("n_bins", int), "n_values": ("n_values", int),
    "zero_window_ps": ("zero_window_ps", int), "integration_s": ("integration_s", float),
}


def _defaults():
    """Host, port and tagger address from the package configuration, if PyMoDAQ's utils are there."""
    try:
        from ..utils import config_value
        return (str(config_value("bridge", "host", default=DEFAULT_HOST)),
                int(config_value("bridge", "port", default=DEFAULT_PORT)),
                str(config_value("tagger", "address", default="auto")))
    except Exception:  # a lean remote host without pymodaq_utils: built-in defaults
        return DEFAULT_HOST, DEFAULT_PORT, "auto"


def build_parser() -> argparse.ArgumentParser:
    host, port, address = _defaults()
    p = argparse.ArgumentParser(
        prog="pymodaq-timetagger-client",
        description="Serve Time Tagger measurements to a PyMoDAQ TCPServer plugin on another PC.")
    p.add_argument("--host", default=host, help=f"the main PC running the TCPServer plugin (default {host})")
    p.add_argument("--port", type=int, default=port, help=f"its port (default {port})")
    p.add_argument("--address", default=address,
                   help="Time Tagger: auto | sim | sim:tt20 | <serial> | net:host[:port] "
                        f"(default {address})")
    p.add_argument("--measurement", default="countrate",
                   help=f"what to serve: {', '.join(KINDS)}; several separated by commas (one Time Tagger, "
                        f"e.g. countrate,correlation: 'Send Data 0D' gets the count rates, 'Send Data 1D' "
                        f"the correlation)")
    p.add_argument("--protocol", choices=(PYMODAQ5, CLASSIC), default=PYMODAQ5,
                   help="wire format: pymodaq5 (PyMoDAQ 5.x servers, default) or classic "
                        "(PyMoDAQ 1.6-3.x, custom servers)")
    p.add_argument("--transport", choices=("tcp", "leco"), default="tcp",
                   help="tcp: dial out to a TCPServer plugin (default); leco: sign in to a pyleco "
                        "Coordinator as an actor for PyMoDAQ's LECODirector viewers (PyMoDAQ >= 5.2)")
    lg = p.add_argument_group("LECO (--transport leco)")
    lg.add_argument("--leco-host", default="localhost", help="host of the pyleco Coordinator (default localhost)")
    lg.add_argument("--leco-port", type=int, default=12300, help="its port (default 12300)")
    lg.add_argument("--name", default="timetagger",
                    help="actor name = 'Actor name' of the LECODirector plugin (default timetagger)")
    g = p.add_argument_group("measurement settings (each applies to the measurements that have it)")
    g.add_argument("--channels", help="countrate, counter: input channels, e.g. 1,2")
    g.add_argument("--channel-1", type=int, help="correlation: stop channel (tau = t1 - t2)")
    g.add_argument("--channel-2", type=int, help="correlation: start/reference channel")
    g.add_argument("--click-channel", type=int, help="histogram: photon channel")
    g.add_argument("--start-channel", type=int, help="histogram: sync channel")
    g.add_argument("--binwidth-ps", type=int, help="correlation, histogram, counter: bin width in ps")
    g.add_argument("--n-bins", type=int, help="correlation, histogram: number of bins")
    g.add_argument("--n-values", type=int, help="counter: number of bins of the trace")
    g.add_argument("--zero-window-ps", type=int, help="correlation: window of g2(0), ps")
    g.add_argument("--raw", action="store_true", help="correlation: coincidence counts instead of g2")
    g.add_argument("--integration-s", type=float, help="integration time per request, s")
    p.add_argument("--test-signal", default="",
                   help="switch the Time Tagger's built-in test signal on for these inputs, e.g. 1,2 "
                        "(to check the chain without light)")
    p.add_argument("--secret-file", metavar="PATH",
                   help="file holding the shared secret set in the TCPServer plugin (never give the secret "
                        "itself on the command line); default: no secret")
    p.add_argument("--backoff-max-s", type=float, default=5.0,
                   help="longest wait between two connection attempts, s (default 5)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return p


def measurements_from_args(args) -> list[str]:
    kinds = [k for k in args.measurement.replace(" ", "").split(",") if k]
    for k in kinds:
        if k not in KINDS:
            raise SettingsError(f"--measurement {k!r}: choose among {', '.join(KINDS)}")
    if not kinds or len(set(kinds)) != len(kinds):
        raise SettingsError(f"--measurement {args.measurement!r}: give each measurement once")
    return kinds


def settings_from_args(args, kinds: list[str]) -> dict:
    """Settings of each measurement; an option applies to every chosen measurement that has it."""
    per_kind = {k: {} for k in kinds}
    fields = {k: make_settings(k).__dataclass_fields__ for k in kinds}
    for opt, (field, typ) in MEASUREMENT_OPTIONS.items():
        v = getattr(args, opt)
        if v is None:
            continue
        targets = [k for k in kinds if field in fields[k]]
        if not targets:
            raise SettingsError(f"--{opt.replace('_', '-')} does not apply to the {'/'.join(kinds)} "
                                f"measurement (its settings: {', '.join(sorted(set().union(*fields.values())))})")
        if field == "channels":
            try:
                v = tuple(int(c) for c in v.replace(" ", "").split(",") if c)
            except ValueError:
                raise SettingsError(f"--channels {v!r}: give channel numbers separated by commas") from None
        for k in targets:
            per_kind[k][field] = v
    if args.raw:
        if "correlation" not in kinds:
            raise SettingsError("--raw applies to the correlation measurement only")
        per_kind["correlation"]["normalize"] = False
    return {k: make_settings(k, **v) for k, v in per_kind.items()}


def console_never_fails() -> None:
    """Text the console's encoding cannot show is escaped (\\u03c4) instead of raising: on Windows a
    redirected stdout uses the ANSI code page, and a 'τ' in a status line must not end the client."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (pythonw, a test's capture)
            pass


class StatusLine:
    """The client's status on stdout: one line rewritten in place on a terminal (count included); otherwise
    (a log file, a service) a new line only when the state changes, not for every request served."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.in_place = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""
        self._width = 0

    def __call__(self, status) -> None:
        line = status.line() if self.in_place else status.state()
        if line == self._last:
            return
        self._last = line
        if self.in_place:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def main(argv=None) -> int:
    console_never_fails()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        kinds = measurements_from_args(args)
        settings = settings_from_args(args, kinds)
        for s in settings.values():
            check_reply_fits(s, codec.DEFAULT_MAX_FRAME, spell=lambda name: "--" + name.replace("_", "-"))
    except SettingsError as e:
        parser.error(str(e))
    show = StatusLine()

    try:
        test_signal = tuple(int(c) for c in args.test_signal.replace(" ", "").split(",") if c)
    except ValueError:
        parser.error(f"--test-signal {args.test_signal!r}: give channel numbers separated by commas")
    secret = None
    if args.secret_file:
        from .auth import read_secret_file
        try:
            secret = read_secret_file(args.secret_file)
        except ValueError as e:
            parser.error(f"--secret-file: {e}")
    try:
        client = TaggerClient(args.host, args.port, address=args.address, kind=kinds,
                              settings=settings, protocol=args.protocol, backoff_max_s=args.backoff_max_s,
                              on_status=show, test_signal=test_signal, secret=secret)
    except (SettingsError, ValueError) as e:
        parser.error(str(e))

    server = client
    if args.transport == "leco":
        if args.protocol != PYMODAQ5:
            parser.error("--protocol applies to --transport tcp only")
        try:
            from .leco_actor import LecoTaggerActor  # lazy: pyleco stays out of the TCP mode
        except ImportError as e:
            parser.error(f"--transport leco needs pyleco (pip install pyleco): {e}")
        try:
            server = LecoTaggerActor(client, args.leco_host, args.leco_port, args.name,
                                     backoff_max_s=args.backoff_max_s)
        except ValueError as e:  # an empty name, or one with a '.'
            parser.error(str(e))

    return run_until_interrupted(server)


if __name__ == "__main__":
    sys.exit(main())
