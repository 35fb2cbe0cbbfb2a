"""Hardware self-check: does this Time Tagger (and its vendor library) behave as this package assumes?

    pymodaq-timetagger-selfcheck --address 1740000ABC --json selfcheck.json
    python -m pymodaq_plugins_timetagger.selfcheck --address sim

Uses only the built-in test signal (no cabling; the inputs' settings are restored afterwards) and runs in
a few seconds. Each check compares a measured value with the expectation this package is built on:
model and channel list, test-signal rate per input, Correlation sign and bin labelling, auto-correlation
self-pairs, dead-time read-back, trigger-level clamp, ``startFor`` capture duration, ``waitUntilFinished``
semantics and the overflow counters. It prints a table, optionally writes a JSON report to attach to a
bug report, and exits 0 when every check passes, 1 when one fails (or the tagger cannot be opened), 2
on a command-line mistake.

The expectations live in ONE place: :data:`EXPECTED` and the model facts of
:mod:`.hardware.simulator.models` and :mod:`.hardware.conventions`, which the simulator implements. CI
runs the self-check on every simulated model (``tests/test_selfcheck.py``), so the check and the
simulator cannot drift apart silently.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from .hardware import conventions
from .hardware.access import open_tagger, vendor_version
from .hardware.errors import TaggerError
from .hardware.inputs import input_channels
from .hardware.simulator.models import ModelSpec, model_by_name
from .runs import overflow_counters, remove_self_pairs

logger = logging.getLogger(__name__)

PS_PER_S = 10 ** 12

#: every expectation of the self-check that is not a model fact (those are in ModelSpec)
EXPECTED = {
    # test-signal rate within this fraction of the model's frequency (crystal: far better; counting: ±1)
    "rate_rel_tol": 0.005,
    # Correlation sign: delay put on channel_1 and where the peak must land (ps), window of the check
    "sign_delay_ps": 5000, "sign_binwidth_ps": 100, "sign_n_bins": 401,
    # bin labelling: a delay on a bin CENTRE of our axis; that bin must hold this fraction of the peak
    "label_binwidth_ps": 1000, "label_n_bins": 41, "label_delay_ps": 3000, "label_min_fraction": 0.95,
    # the peak must be within this many ps of the delay (test-signal skew between inputs is a few ps)
    "peak_tol_ps": 100,
    "vendor_index": conventions.CORRELATION_VENDOR_INDEX,
    "self_pairs": conventions.AUTOCORRELATION_SELF_PAIRS,
    "wait_on_indefinite": conventions.WAIT_ON_INDEFINITE_RETURNS,
    # waitUntilFinished on an indefinite run returns at once: within this wall time (s)
    "wait_max_s": 0.5,
    # dead times asked for, relative to the model's minimum (ps): below it, just above, odd values
    "deadtime_requests": (-500, 345, 10_000 + 1234),
    # trigger level asked for beyond the top of the range (V) and the read-back tolerance (V)
    "trigger_beyond_v": 1.0, "trigger_tol_v": 0.01,
    "overflows_during_check": 0,
}


@dataclass
class Check:
    check: str
    expected: str
    measured: str
    passed: bool
    detail: str = ""


class SelfCheck:
    """The checks on one open tagger (a :class:`~.hardware.access.TaggerHandle`)."""

    def __init__(self, handle, window_s: float = 0.1):
        self.h = handle
        self.t = handle.tagger
        self.api = handle.api
        self.window_ps = int(round(window_s * PS_PER_S))
        self.checks: list[Check] = []
        self.spec: ModelSpec | None = None
        self.inputs: list[int] = []

    # ------------------------------------------------------------------ running
    def run(self) -> list[Check]:
        self.inputs = input_channels(self.t)
        saved = {c: self._read_input(c) for c in self.inputs}
        overflows_before = overflow_counters(self.t)
        try:
            self._step("model and channel list", self.check_model)
            if self.spec is None:
                return self.checks
            self.t.setTestSignal(self.inputs, True)
            for step in (self.check_rates, self.check_sign, self.check_labelling, self.check_self_pairs,
                         self.check_deadtime, self.check_trigger_clamp, self.check_start_for,
                         self.check_wait):
                self._step(step.__name__.replace("check_", "").replace("_", " "), step)
            self._step("overflow counters", lambda: self.check_overflows(overflows_before))
        finally:
            for c, state in saved.items():
                self._restore_input(c, state)
        return self.checks

    def _step(self, name, func) -> None:
        try:
            func()
        except Exception as e:  # a check that cannot run is a failure, reported, and the next goes on
            logger.debug("check %s raised", name, exc_info=True)
            self.add(name, "runs", f"error: {type(e).__name__}: {e}", False)

    def add(self, check, expected, measured, passed, detail="") -> None:
        self.checks.append(Check(check, str(expected), str(measured), bool(passed), detail))

    def _measure(self, *meas, duration_ps=None) -> None:
        duration_ps = self.window_ps if duration_ps is None else duration_ps
        for m in meas:
            m.startFor(int(duration_ps))
        for m in meas:
            if not m.waitUntilFinished(int(duration_ps / 1e9) + 5000):
                raise TaggerError(f"a {duration_ps / PS_PER_S:g} s capture did not end within 5 s more")

    def _correlation(self, c1, c2, binwidth, n_bins):
        m = self.api.Correlation(self.t, c1, c2, binwidth, n_bins)
        self._measure(m)
        return m

    # ------------------------------------------------------------------ checks
    def check_model(self) -> None:
        model = self.t.getModel()
        self.spec = model_by_name(model)
        known = self.spec is not None
        n = len(self.inputs)
        # rising 1..N (a Network Time Tagger's server k numbers them k*1000 + 1..N)
        rising_ok = n > 1 and self.inputs == list(range(self.inputs[0], self.inputs[0] + n)) \
            and self.inputs[0] % 1000 == 1
        falling = sorted(c for c in self.t.getChannelList() if c < 0)
        falling_ok = falling == sorted(-c for c in self.inputs)
        counts_ok = known and n in self.spec.n_inputs_options
        expected = (f"{model}: inputs 1..N, N in {self.spec.n_inputs_options}, falling -1..-N" if known
                    else "a model this package knows (Time Tagger 20, Ultra, X)")
        self.add("model and channel list", expected, f"{model}: rising {_span(self.inputs)}, falling "
                 f"{_span(falling)}", known and rising_ok and falling_ok and counts_ok)

    def check_rates(self) -> None:
        cr = self.api.Countrate(self.t, self.inputs)
        self._measure(cr)
        rates = np.asarray(cr.getCountsTotal(), dtype=float) / (cr.getCaptureDuration() / PS_PER_S)
        f = self.spec.test_signal_hz
        bad = [(c, r) for c, r in zip(self.inputs, rates) if abs(r / f - 1) > EXPECTED["rate_rel_tol"]]
        self.add("test-signal rate per input", f"{f / 1e3:.1f} kHz ± {EXPECTED['rate_rel_tol']:.1%} on all",
                 f"{rates.min() / 1e3:.1f}..{rates.max() / 1e3:.1f} kHz" + (
                     f"; off: {', '.join(f'ch{c} {r / 1e3:.1f} kHz' for c, r in bad)}" if bad else ""),
                 not bad)
        _free(cr)

    def _peak_with_delay(self, delay_ps, binwidth, n_bins):
        c1, c2 = self.inputs[0], self.inputs[1]
        self.t.setInputDelay(c1, delay_ps)
        try:
            m = self._correlation(c1, c2, binwidth, n_bins)
            data = np.asarray(m.getData(), dtype=float)
            index = np.asarray(m.getIndex())
            _free(m)
        finally:
            self.t.setInputDelay(c1, 0)
        return data, index, conventions.correlation_bin_centres(binwidth, n_bins)

    def check_sign(self) -> None:
        d = EXPECTED["sign_delay_ps"]
        data, _, axis = self._peak_with_delay(d, EXPECTED["sign_binwidth_ps"], EXPECTED["sign_n_bins"])
        if data.sum() == 0:
            self.add("correlation sign", f"peak at {d:+d} ps", "no coincidences", False)
            return
        peak = float(np.average(axis, weights=data))
        self.add("correlation sign", f"delay {d:+d} ps on channel 1 -> peak at {d:+d} ps "
                 f"(± {EXPECTED['peak_tol_ps']})", f"peak at {peak:+.0f} ps",
                 abs(peak - d) <= EXPECTED["peak_tol_ps"], conventions.CORRELATION_SIGN)

    def check_labelling(self) -> None:
        bw, n, d = EXPECTED["label_binwidth_ps"], EXPECTED["label_n_bins"], EXPECTED["label_delay_ps"]
        data, index, axis = self._peak_with_delay(d, bw, n)
        j = int(np.argmin(np.abs(axis - d)))
        frac = data[j] / data.sum() if data.sum() else 0.0
        self.add("bin labelling (our axis)", f"≥ {EXPECTED['label_min_fraction']:.0%} of the peak in the bin "
                 f"our axis centres on {d:+d} ps", f"{frac:.1%} in bin {j} (centre {axis[j]:+.0f} ps)",
                 frac >= EXPECTED["label_min_fraction"])
        found = conventions.index_convention(index, bw, n)
        self.add("Correlation.getIndex convention", EXPECTED["vendor_index"], found,
                 found == EXPECTED["vendor_index"],
                 "the plugins do not use getIndex (axis from binwidth and n_bins)")

    def check_self_pairs(self) -> None:
        c = self.inputs[0]
        bw, n = EXPECTED["sign_binwidth_ps"], EXPECTED["sign_n_bins"]   # ±20 ns: one test edge per window
        m = self._correlation(c, c, bw, n)
        counts = np.asarray(m.getData(), dtype=float)
        g2 = np.asarray(m.getDataNormalized(), dtype=float)
        zero = int(counts[conventions.correlation_zero_bin(bw, n)])
        clicks = round(m.getCaptureDuration() / self.spec.test_signal_period_ps)
        removed, _ = remove_self_pairs(counts.copy(), g2.copy(), conventions.correlation_zero_bin(bw, n),
                                       m.getCaptureDuration(), bw)
        _free(m)
        counted = zero > 0
        expect = EXPECTED["self_pairs"]
        self.add("auto-correlation self-pairs", f"zero bin {'= clicks' if expect else '= 0'} (~{clicks}); "
                 f"the run removes {'them' if expect else 'none'}", f"zero bin {zero}, run removed {removed}",
                 counted == expect and abs(zero - (clicks if expect else 0)) <= 2 and removed == zero)

    def check_deadtime(self) -> None:
        c = self.inputs[0]
        asked, got, want = [], [], []
        for rel in EXPECTED["deadtime_requests"]:
            req = self.spec.min_deadtime_ps + rel
            applied = int(self.t.setDeadtime(c, req))
            asked.append(req)
            got.append((applied, int(self.t.getDeadtime(c))))
            want.append(self.spec.applied_deadtime(req))
        ok = all(a == w and r == w for (a, r), w in zip(got, want))
        self.add("dead-time read-back", ", ".join(f"{q}->{w}" for q, w in zip(asked, want)) + " ps",
                 ", ".join(f"{q}->{a}/{r}" for q, (a, r) in zip(asked, got)) + " ps (returned/read)", ok,
                 "TT20 rounds to 6 ns; Ultra and X take any value above their minimum")

    def check_trigger_clamp(self) -> None:
        c = self.inputs[0]
        lo, hi = self.spec.trigger_range_v
        device_range = None
        if hasattr(self.t, "getTriggerLevelRange"):
            device_range = [float(v) for v in self.t.getTriggerLevelRange(c)]
        ask = hi + EXPECTED["trigger_beyond_v"]
        error = ""
        try:
            self.t.setTriggerLevel(c, ask)
            level = float(self.t.getTriggerLevel(c))
        except Exception as e:
            error, level = f"refused: {e}", float("nan")
        want = self.spec.clamped_trigger_level(ask)
        ok = not error and abs(level - want) <= EXPECTED["trigger_tol_v"]
        if device_range is not None:
            ok = ok and np.allclose(device_range, [lo, hi], atol=EXPECTED["trigger_tol_v"])
        self.add("trigger-level clamp", f"range [{lo:g}, {hi:g}] V; {ask:g} V kept as {want:g} V",
                 (f"range {device_range}; " if device_range else "") + (error or f"kept as {level:g} V"), ok)

    def check_start_for(self) -> None:
        cr = self.api.Countrate(self.t, [self.inputs[0]])
        d = self.window_ps
        self._measure(cr, duration_ps=d)
        got = int(cr.getCaptureDuration())
        n = int(cr.getCountsTotal()[0])
        want_n = d / self.spec.test_signal_period_ps
        _free(cr)
        self.add("startFor capture duration", f"{d} ps, {want_n:.0f} ± 2 clicks", f"{got} ps, {n} clicks",
                 got == d and abs(n - want_n) <= 2)

    def check_wait(self) -> None:
        cr = self.api.Countrate(self.t, [self.inputs[0]])   # constructed = running indefinitely
        cr.start()
        t0 = time.monotonic()
        indefinite = cr.waitUntilFinished(2000)
        waited = time.monotonic() - t0
        cr.startFor(10 * PS_PER_S)                          # 10 s: a 1 ms wait must time out
        timed_out = cr.waitUntilFinished(1)
        cr.stop()
        after_stop = cr.waitUntilFinished(1000)
        _free(cr)
        want = EXPECTED["wait_on_indefinite"]
        self.add("waitUntilFinished semantics", f"indefinite: {want} at once; running startFor, 1 ms: False; "
                 f"stopped: True", f"indefinite: {indefinite} after {waited * 1e3:.0f} ms; 1 ms: {timed_out}; "
                 f"stopped: {after_stop}",
                 indefinite is want and waited <= EXPECTED["wait_max_s"] and timed_out is False
                 and after_stop is True)

    def check_overflows(self, before) -> None:
        now = overflow_counters(self.t)
        during = {k: v - before.get(k, 0) for k, v in now.items()}
        want = EXPECTED["overflows_during_check"]
        net = self.h.address.kind == "net"
        readable = "hardware" in now and (not net or "client" in now)
        self.add("overflow counters", f"readable ({'getOverflows, getOverflowsClient' if net else 'getOverflows'}); "
                 f"{want} during the check", ", ".join(f"{k} {v}" for k, v in during.items()) or "unreadable",
                 readable and all(v == want for v in during.values()))

    # ------------------------------------------------------------------ inputs
    def _read_input(self, c):
        return (bool(self.t.getTestSignal(c)), int(self.t.getInputDelay(c)), int(self.t.getDeadtime(c)),
                float(self.t.getTriggerLevel(c)))

    def _restore_input(self, c, state) -> None:
        test, delay, dead, level = state
        try:
            self.t.setTestSignal(c, test)
            self.t.setInputDelay(c, delay)
            self.t.setDeadtime(c, dead)
            self.t.setTriggerLevel(c, level)
        except Exception as e:
            logger.warning("could not restore the settings of input %d: %s", c, e)


def _span(chans) -> str:
    return f"{chans[0]}..{chans[-1]} ({len(chans)})" if chans else "none"


def _free(m) -> None:
    try:
        m.stop()
        m.__exit__(None, None, None)
    except Exception:
        pass


def run_selfcheck(address: str, window_s: float = 0.1) -> dict:
    """Open ``address``, run every check, and return the report (a JSON-able dict)."""
    sim_kw = {"sim_clock": "virtual", "sim_seed": 1} if address.strip().lower().startswith("sim") else {}
    report = {"address": address, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    t0 = time.monotonic()
    with open_tagger(address, **sim_kw) as h:
        version = "simulator" if h.simulated else ".".join(map(str, vendor_version(h.api) or ())) or "unknown"
        report.update(device=h.description, simulated=h.simulated, model=h.model, vendor_version=version)
        checks = SelfCheck(h, window_s).run()
    report["checks"] = [asdict(c) for c in checks]
    report["passed"] = bool(checks) and all(c.passed for c in checks)
    report["duration_s"] = round(time.monotonic() - t0, 3)
    return report


def format_table(report: dict) -> str:
    rows = [("check", "expected", "measured", "result")]
    rows += [(c["check"], c["expected"], c["measured"], "pass" if c["passed"] else "FAIL")
             for c in report["checks"]]
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(4)]
    lines = [f"{report['device']} (vendor library {report['vendor_version']})"]
    for i, r in enumerate(rows):
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    n_fail = sum(not c["passed"] for c in report["checks"])
    lines.append(f"{len(report['checks']) - n_fail} passed, {n_fail} failed in {report['duration_s']:.1f} s")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pymodaq-timetagger-selfcheck", description=(
        "Check that a Time Tagger and its vendor library behave as pymodaq_plugins_timetagger assumes, "
        "with the built-in test signal only (no cabling). Exit 0: all pass; 1: a check failed or the "
        "tagger could not be opened; 2: bad arguments."))
    p.add_argument("--address", default="auto",
                   help="tagger address: serial, '' (first USB), net:host[:port], rpc:host[:port], sim[:model], "
                        "auto (default)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    p.add_argument("--window-s", type=float, default=0.1, help="capture window of each check, s (0.001..10)")
    p.add_argument("--log-level", default="ERROR", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.001 <= args.window_s <= 10:
        parser.error(f"--window-s {args.window_s}: give a value between 0.001 and 10 s")
    from .hardware.address import parse_address
    from .hardware.errors import AddressError
    try:
        parse_address(args.address)
    except AddressError as e:
        parser.error(str(e))
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        report = run_selfcheck(args.address, args.window_s)
    except TaggerError as e:
        print(f"self-check not run: {e}", file=sys.stderr)
        report = {"address": args.address, "error": str(e), "checks": [], "passed": False}
        code = 1
    else:
        print(format_table(report))
        code = 0 if report["passed"] else 1
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(report, f, indent=2)
        except OSError as e:
            print(f"cannot write the report to {args.json!r}: {e}", file=sys.stderr)
            return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
