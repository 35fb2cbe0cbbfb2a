"""Hardware-timed confocal image: counts per pixel between a scanner's pixel markers (Swabian Time Tagger)."""
from pymodaq.control_modules.viewer_utility_classes import main

from pymodaq_plugins_timetagger import imaging
from pymodaq_plugins_timetagger.daq_viewer_plugins.data import to_pymodaq
from pymodaq_plugins_timetagger.daq_viewer_plugins.marker_viewer import MarkerViewerBase, marker_params


class DAQ_2DViewer_TimeTaggerImage(MarkerViewerBase):
    """One image per grab from the scanner's own clock (vendor ``CountBetweenMarkers``).

    The scanner sends a pixel marker at each pixel (a gate: its opposite edge ends the pixel, or the next pixel's
    marker does), a line marker and a frame marker within the first pixel of each line and frame. Each grab waits
    for the next frame marker and returns that whole frame: an image per photon channel (count rate or counts, with
    its Poisson sigma), the dwell of every pixel measured from its markers, and the frame's duration. The image
    grows line by line in the viewer while the frame comes in. A pixel marker missing or extra anywhere in the frame
    (or a wrong number of pixels per line) refuses the frame with a message naming the line: no pixel is ever put
    in the wrong place. In DAQ_Scan each step is one frame. The address ``sim:confocal`` simulates such a scanner
    over a sample of point emitters.
    """

    kind = "image"
    run_class = imaging.ImageRun
    params = marker_params("image", "sim:confocal", [
        {"title": "Frame duration (s):", "name": "capture_s", "type": "float", "value": 0.0},
        {"title": "Mean dwell (s):", "name": "dwell_mean_s", "type": "float", "value": 0.0},
    ])

    def acquire(self, run):
        def progress(images, lines):
            self.emit_from_thread(self.dte_signal_temp, to_pymodaq(self._title, run.partial_data(images)))
        return run.acquire(progress=progress)

    def read_backs(self, frame):
        return {"capture_s": frame.capture_s, "dwell_mean_s": frame.metadata["dwell_mean_s"]}


if __name__ == "__main__":
    main(__file__)
