"""The plugins show and carry the analysis' results: error bars in ``DataWithAxes.errors``, the fitted curve over
the data, the fit parameters read-only in the settings and as 0D channels, the measured IRF, a failed fit's status.
On the default simulated bench (wall clock), through PyMoDAQ's plugin harness."""
import numpy as np

from tests.support.viewers import grab
from tests.test_plugins import Recorder, detectors, set_value  # noqa: F401 (fixture)

from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_0D.daq_0Dviewer_TimeTaggerCountrate import \
    DAQ_0DViewer_TimeTaggerCountrate
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerCorrelation import \
    DAQ_1DViewer_TimeTaggerCorrelation
from pymodaq_plugins_timetagger.daq_viewer_plugins.plugins_1D.daq_1Dviewer_TimeTaggerHistogram import \
    DAQ_1DViewer_TimeTaggerHistogram


def test_countrate_carries_its_poisson_error(detectors):
    det = detectors(DAQ_0DViewer_TimeTaggerCountrate, integration_s=0.05)
    rates = grab(det).get_data_from_name("Countrate")
    counts = np.array(rates.counts, dtype=float)
    assert rates.errors is not None and len(rates.errors) == 2
    # half the exact 68 % interval of the counts, over the window: close to sqrt(N)/T for these counts
    assert np.allclose([e[0] for e in rates.errors], np.sqrt(counts) / 0.05, rtol=0.01)


def test_correlation_fit_is_drawn_shown_and_emitted(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerCorrelation, integration_s=0.5)
    rec = Recorder(det)
    set_value(det, "measurement", "g2_fit", True)
    set_value(det, "measurement", "raw_counts", True)
    dte = grab(det)
    corr = dte.get_data_from_name("Correlation")
    assert corr.labels == ["g2 ch1-ch2", "g2 fit"] and corr.errors is not None
    g2, fit = corr.data
    assert np.all(corr.errors[0] > 0) and np.all(np.isfinite(fit))
    assert abs(fit[100] - g2[100]) < 5 * corr.errors[0][100]      # the curve goes through the dip
    g2_0 = dte.get_data_from_name("g2(0)")
    interval = dte.get_data_from_name("g2(0) interval")
    low, high = (d[0] for d in interval.data)
    assert low < g2_0.data[0][0] < high and g2_0.errors[0][0] == (high - low) / 2
    fitted = dte.get_data_from_name("g2 fit")
    values = dict(zip(fitted.labels, (d[0] for d in fitted.data)))
    assert 0 < values["g2(0)"] < 0.3 and 4 < values["τ_a (ns)"] < 12, values
    shown = {c.title(): c.value() for c in det.settings.child("results").children()}
    assert shown["g2 fit: g2(0)"] == values["g2(0)"] and det.settings.child("results").children()[0].readonly()
    raw = dte.get_data_from_name("g2(0) raw counts")
    n1, n2, c0, width_ps, dur_s = (d[0] for d in raw.data)
    # the vendor normalises with the singles it counts itself: a few tags at the window's edges differ
    assert c0 * dur_s * 1e12 / (n1 * n2 * width_ps) == np.float64(g2_0.data[0][0]).round(12) or \
        abs(c0 * dur_s * 1e12 / (n1 * n2 * width_ps) / g2_0.data[0][0] - 1) < 1e-3
    assert not any("NaN" in t for t in rec.texts)
    set_value(det, "measurement", "g2_fit", False)
    assert grab(det).get_data_from_name("Correlation").labels == ["g2 ch1-ch2"]
    assert det.settings.child("results").children() == []


def test_a_failed_fit_says_so_and_gives_nan(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerHistogram, integration_s=0.05)
    rec = Recorder(det)
    set_value(det, "measurement", "click_channel", 7)  # nothing connected: an empty histogram
    set_value(det, "measurement", "lifetime_fit", 1)
    dte = grab(det)
    fitted = dte.get_data_from_name("lifetime fit")
    assert all(np.isnan(d[0]) for d in fitted.data)
    assert np.all(np.isnan(dte.get_data_from_name("Histogram").data[1]))
    assert any("lifetime fit" in t and "no counts" in t for t in rec.texts), rec.texts


def test_histogram_lifetime_with_a_stored_irf(detectors):
    det = detectors(DAQ_1DViewer_TimeTaggerHistogram, integration_s=0.5)
    set_value(det, "inputs", "ch4", "input_delay_ps", 2000)  # the IRF inside the histogram
    set_value(det, "measurement", "lifetime_fit", 1)
    dte = grab(det)
    values = dict(zip(*(lambda d: (d.labels, [x[0] for x in d.data]))(dte.get_data_from_name("lifetime fit"))))
    assert abs(values["τ (ns)"] - 3.5) < 5 * values["τ σ (ns)"], values
    assert dte.get_data_from_name("Histogram").labels[1] == "fit"
    # a histogram stored as IRF (here the decay itself: the fit then finds a τ near 0 or says it cannot)
    set_value(det, "irf", "irf_store", True)
    assert det.settings["irf", "irf_state"].startswith("measured")
    dte = grab(det)
    assert dte.get_data_from_name("lifetime fit").extra_attributes is not None
    set_value(det, "irf", "irf_clear", True)
    assert det.settings["irf", "irf_state"].startswith("Gaussian")
