"""A DAQ_Viewer plugin base whose grabs run in a helper thread and report back through Qt.

PyMoDAQ's worker thread calls ``grab_data`` and then keeps processing its events (that is how
``stop`` and settings reach the plugin during a grab). A plugin that blocked in ``grab_data`` for the
whole integration time would make stop wait for it. Here a grab starts a *job* in a helper thread and
returns; the job's outcome comes back through a queued Qt signal to the plugin's own thread, which
emits the data (exactly one dataset per grab) or, on failure, a status message naming the cause and
no data. Each job has a token: the outcome of a job that was aborted (stop, a settings change) is
never shown.

Failures are put where the user looks. PyMoDAQ 5.3's DAQ_Viewer drops the text ``ini_detector`` returns and
writes "Viewer initialized: False" instead; after a failed grab it writes "Timeout occurred" and "Stopping
grab". So the reason of a failed initialization (:meth:`AsyncViewerBase.init_failed`) and of a failed grab
(:meth:`AsyncViewerBase.report_failure`) goes to the log at once and to the status bar again once PyMoDAQ's
own messages are out: the clearest message is the last one shown.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from typing import Callable

from qtpy.QtCore import QCoreApplication, Qt, QThread, QTimer, Signal, Slot

from pymodaq.control_modules.viewer_utility_classes import DAQ_Viewer_base
from pymodaq_utils.logger import get_module_name, set_logger
from pymodaq_utils.utils import ThreadCommand

from ..compat import ThreadStatus
from ..hardware.errors import AcquisitionAborted

logger = set_logger(get_module_name(__file__))

#: an idle job thread waits this long for the plugin's next grab, then ends
JOB_THREAD_IDLE_S = 10.0


class _Job:
    """One grab's work; ``done`` is set once ``work()`` has returned or raised."""
    __slots__ = ("run", "done", "thread")

    def __init__(self, run: Callable[["_JobThread"], None]):
        self.run = run
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


class _JobThread:
    """A helper thread reused for a plugin's successive jobs.

    ``threading.Thread.start`` waits until the new thread has been scheduled: 0.1 ms on an idle machine,
    up to ~2 ms on a loaded one, paid by every grab when each grab had its own thread. A finished job
    puts its thread back in the plugin's idle pool; a thread idle for ``JOB_THREAD_IDLE_S`` ends. A job
    is only ever given to an idle thread: a grab never waits behind an earlier (aborted) one.
    """

    def __init__(self, pool: list, pool_lock: threading.Lock, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._retired = False
        self._pool, self._pool_lock = pool, pool_lock
        self.thread = threading.Thread(target=self._loop, daemon=True, name=name)

    def give(self, job: _Job) -> bool:
        """Queue ``job`` (False: this thread has ended, use another)."""
        with self._lock:
            if self._retired:
                return False
            self._jobs.put(job)
            return True

    def _loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=JOB_THREAD_IDLE_S)
            except queue.Empty:
                with self._lock:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        self._retired = True
                with self._pool_lock:
                    if self._retired and self in self._pool:
                        self._pool.remove(self)
                if self._retired:
                    return
            job.thread = self.thread
            job.run(self)
            job = None  # an idle thread holds no job (nor the plugin its closure refers to)




class _Outlet:
    """The plugin's signals emitted from other threads (a job's outcome, a server's event, a call) go out through here.
    Once the plugin is closed (:meth:`shut`) nothing goes out any more: a signal emitted by a plugin deleted meanwhile
    (a job ending after close, while the dashboard frees the plugin) crashes a later event loop. ``shut`` waits for an
    emission under way; re-entrant, for a signal delivered directly in the emitting thread that emits again."""
    __slots__ = ("_lock", "_open")

    def __init__(self):
        self._lock = threading.RLock()
        self._open = True

    def emit(self, signal, value) -> bool:
        """``signal.emit(value)`` unless shut; True if it went out."""
        with self._lock:
            if self._open:
                signal.emit(value)
            return self._open

    def shut(self) -> None:
        with self._lock:
            self._open = False


def without_tracebacks(error: BaseException) -> BaseException:
    """``error`` with the tracebacks of its whole chain dropped (their text is in the log).

    A traceback holds the frames it went through, and those hold the plugin (``self``): an exception kept as a
    job's outcome would make a reference cycle through the plugin, left to Python's cycle collector, which runs in
    whichever thread allocates, and a Qt object deleted outside its own thread leaves its timers behind.
    """
    seen = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    return error


class _Call:
    """One call of :meth:`AsyncViewerBase.call_in_thread` (or a posted one: ``waited`` False)."""

    def __init__(self, fn, waited: bool = True):
        self.fn, self.waited = fn, waited
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.dropped = False
        self.value = self.error = None


class AsyncViewerBase(DAQ_Viewer_base):
    """Grab jobs in a helper thread, outcomes back in the plugin's thread (see the module doc)."""

    hardware_averaging = True   # one grab = one dataset; Naverage is handled by the subclass
    live_mode_available = False
    #: how long stopping waits for the job's thread (0: do not wait, the outcome is ignored anyway)
    job_join_timeout_s = 5.0

    _job_done = Signal(object)
    _call = Signal(object)


    # ------------------------------------------------------------------ for subclasses
    def on_job_result(self, result) -> None:
        """Show a job's result (called in the plugin's thread): emit the data."""

    def on_owned_outcome(self, owner, outcome) -> None:
        """The outcome (result or exception) of a job started with an ``owner``: it is the owner's, not a
        local grab's (no data emitted for PyMoDAQ, no grab failure signalled)."""

    def after_job(self) -> None:
        """A job ended (its outcome handled): start what waited for it (called in the plugin's thread)."""

    def release(self) -> None:
        """Free what ini_detector opened (called by close and when the hardware thread ends)."""

    # ------------------------------------------------------------------ machinery
    def ini_attributes(self):
        self.controller = None
        self._job_thread: _Job | None = None   # the job in flight (name kept from one thread per job)
        self._idle_job_threads: list[_JobThread] = []
        self._job_pool_lock = threading.Lock()
        self._job_abort: Callable | None = None
        self._token = 0
        self._pending_grab = False
        self._failure: str | None = None  # the last grab's failure, restated after PyMoDAQ's own messages
        self._job_owner = None            # None: a local grab; else whom the job in flight measures for
        self._outlet = _Outlet()          # emissions from other threads: none after close (close_outlet)
        self._job_done.connect(self._on_job_done)
        self._call.connect(self._on_call)

    def start_job(self, work: Callable[[], object], abort: Callable | None = None, owner=None) -> None:
        """Run ``work()`` in a helper thread; its return value goes to :meth:`on_job_result` (a local grab) or,
        with an ``owner``, to :meth:`on_owned_outcome`."""
        job, finish = self._begin(abort, owner)

        def run(worker: _JobThread):
            try:
                outcome = work()
            except Exception as e:  # every failure goes back to the plugin's thread as a status
                if logger.isEnabledFor(logging.DEBUG):  # as text: a record keeping the traceback keeps its frames
                    logger.debug("%s: the grab job failed: %s", type(self).__name__,
                                 "".join(traceback.format_exception(e)))
                outcome = e
            with self._job_pool_lock:  # idle again before the outcome is shown: the next grab reuses it
                self._idle_job_threads.append(worker)
            finish(outcome)

        job.run = run
        with self._job_pool_lock:
            worker = self._idle_job_threads.pop() if self._idle_job_threads else None
        if worker is None or not worker.give(job):
            worker = _JobThread(self._idle_job_threads, self._job_pool_lock, f"{type(self).__name__}-job")
            worker.give(job)
            worker.thread.start()

    def start_reported(self) -> Callable[[object], None]:
        """Begin a grab whose outcome another thread reports, without a job thread: returns ``finish``, to be called
        once, from any thread, with the result (or the exception); it goes to :meth:`on_job_result` as a job's
        would (a stop or a newer grab in between: not shown)."""
        return self._begin()[1]

    def _begin(self, abort: Callable | None = None, owner=None) -> tuple[_Job, Callable[[object], None]]:
        """A new grab (a newer token: an earlier grab's outcome is no longer shown): its job and ``finish(outcome)``,
        which marks the job done and hands the outcome to the plugin's thread (from any thread)."""
        self._token += 1
        token = self._token
        self._job_abort = abort
        self._job_owner = owner
        self._pending_grab = True
        self._failure = None
        job = _Job(None)
        self._job_thread = job
        # held by finish, not the job: no cycle job -> finish -> job
        done, signal, outlet = job.done, self._job_done, self._outlet

        def finish(outcome) -> None:
            if isinstance(outcome, BaseException):
                outcome = without_tracebacks(outcome)
            outlet.emit(signal, (token, outcome))
            done.set()  # after the emission: a close waiting for the job does not overtake it
        return job, finish

    def job_running(self) -> bool:
        return self._pending_grab and self._job_thread is not None and not self._job_thread.done.is_set()

    def abort_job(self) -> None:
        """Stop the job in flight; its outcome will not be shown."""
        self._token += 1
        self._pending_grab = False
        if self._job_abort is not None:
            try:
                self._job_abort()
            except Exception as e:
                logger.warning("aborting the grab: %s", e)
        job = self._job_thread
        if job is not None and job.thread is not threading.current_thread() and self.job_join_timeout_s > 0 \
                and not job.done.is_set():
            if not job.done.wait(timeout=self.job_join_timeout_s):
                logger.warning("%s: the grab did not stop within %g s", type(self).__name__,
                               self.job_join_timeout_s)
        self._job_thread = None

    @Slot(object)
    def _on_job_done(self, message) -> None:
        token, outcome = message
        if token != self._token:
            return  # aborted by stop or by a settings change: not shown
        self._pending_grab = False
        # the finished job refers to this plugin (its closure): keeping it would make a reference cycle, left to
        # Python's cycle collector, which may run in any thread, and a Qt object deleted outside its own thread
        # leaves its timers behind (a crash in a later event loop)
        self._job_thread = None
        owner, self._job_owner = self._job_owner, None
        try:
            if owner is not None:
                self.on_owned_outcome(owner, outcome)
            else:
                self._show_outcome(outcome)
        finally:
            self.after_job()

    def retry_grab(self, outcome) -> bool:
        """A grab's outcome before it is shown: True if the subclass started the grab again instead (called in the
        plugin's thread)."""
        return False

    def _show_outcome(self, outcome) -> None:
        if self.retry_grab(outcome):
            return
        if isinstance(outcome, AcquisitionAborted):
            return
        if isinstance(outcome, Exception):
            self.report_failure(str(outcome))
            return
        try:
            self.on_job_result(outcome)
        except Exception as e:  # never let an exception escape into the Qt event loop
            logger.exception("showing the data failed")
            self.report_failure(f"showing the data failed: {e}")

    # ------------------------------------------------------------------ calls from other threads
    def call_in_thread(self, fn: Callable[[], object], timeout_s: float, cancel: threading.Event | None = None):
        """``fn()`` run in the plugin's thread (a queued signal), called from another thread: its value, or the
        exception it raised. TimeoutError if it did not run within ``timeout_s``, or ``cancel`` was set
        meanwhile (it will then not run at all)."""
        if QThread.currentThread() == self.thread():
            return fn()
        call = _Call(fn)
        if not self._outlet.emit(self._call, call):
            raise TimeoutError(f"{type(self).__name__} is closed")
        deadline = time.monotonic() + timeout_s
        while not call.done.wait(0.05):
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                with call.lock:
                    if not call.done.is_set():
                        call.dropped = True
                        raise TimeoutError(f"{type(self).__name__}: its thread did not take the call within "
                                           f"{timeout_s:g} s" if not (cancel and cancel.is_set()) else
                                           f"{type(self).__name__} is closing")
                break
        if call.error is not None:
            raise call.error
        return call.value

    def post_in_thread(self, fn: Callable[[], object]) -> None:
        """``fn()`` run in the plugin's thread later; not waited for (its exceptions are logged)."""
        self._outlet.emit(self._call, _Call(fn, waited=False))

    def emit_from_thread(self, signal, value) -> None:
        """``signal.emit(value)`` from another thread: not once the plugin is closed (see _Outlet)."""
        self._outlet.emit(signal, value)

    def close_outlet(self) -> None:
        """Nothing is emitted from other threads any more (call at the end of close, when any job has been told to
        stop: it may still end later)."""
        self._outlet.shut()

    @Slot(object)
    def _on_call(self, call) -> None:
        with call.lock:
            if call.dropped:
                return
            try:
                call.value = call.fn()
            except Exception as e:  # back to the caller; never into the Qt event loop
                call.error = without_tracebacks(e)
                if not call.waited:
                    logger.warning("%s: %s", type(self).__name__, e)
            finally:
                call.done.set()

    def own_param(self, param):
        """This plugin's own parameter at the place of ``param``.

        PyMoDAQ's worker calls ``commit_settings`` with the DAQ_Viewer's parameter (its copy, under
        ``detector_settings``), not with the plugin's: a value put back must go to the plugin's own one,
        which PyMoDAQ then copies to the UI. ``None`` if the plugin has no such parameter.
        """
        names = []
        p = param
        while p is not None and p.parent() is not None and p.name() != "detector_settings":
            names.append(p.name())
            p = p.parent()
        try:
            return self.settings.child(*reversed(names))
        except KeyError:
            return None

    def setting_refused(self, param, error: Exception) -> None:
        """Say that the setting ``param`` was refused and why (its title without its trailing colon)."""
        title = (param.title() or param.name()).rstrip().rstrip(":")
        self.show_status(f"{title}: {error}", error=True)

    def show_status(self, text: str, error: bool = False) -> None:
        (logger.warning if error else logger.info)(text)
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, text))

    def report_failure(self, text: str) -> None:
        """A grab failed: say why (log and status bar) and tell PyMoDAQ that no data will come.

        PyMoDAQ answers with "Timeout occurred" and a stop; the subclass's ``stop`` calls
        :meth:`restate_failure`, which shows ``text`` again after those.
        """
        self._failure = text
        self.signal_failure()
        self.show_status(text, error=True)

    def restate_failure(self) -> None:
        """Show the last grab failure again once the current command is done (called from ``stop``)."""
        text, self._failure = self._failure, None
        if text:
            self._emit_later(ThreadCommand(ThreadStatus.UPDATE_STATUS, text))

    def init_failed(self, reason: str, field: str | None = None) -> tuple[str, bool]:
        """Report a failed initialization and return what ``ini_detector`` returns for it.

        The reason goes to the log, to the status bar (once PyMoDAQ has written its "Viewer initialized:
        False", which would hide it) and, if ``field`` names a read-only text setting, into that field.
        """
        logger.error("%s not initialized: %s", type(self).__name__, reason)
        if field is not None:
            self.settings.child(field).setValue(f"not initialized: {reason}")
        status = ThreadCommand(ThreadStatus.UPDATE_STATUS, reason)
        self.emit_status(status)
        self._emit_later(status)
        return reason, False

    def _emit_later(self, status: ThreadCommand) -> None:
        """``emit_status(status)`` once the command being handled in this thread is done."""
        def emit():
            try:
                self.emit_status(status)
            except RuntimeError:  # the module was closed meanwhile: nobody to tell
                pass
        QTimer.singleShot(0, emit)

    def signal_failure(self) -> None:
        """Tell PyMoDAQ no data will come for this grab: a scan stops waiting, a live grab stops."""
        self.emit_status(ThreadCommand(ThreadStatus.RAISE_TIMEOUT))
        self.emit_status(ThreadCommand(ThreadStatus.STOP))

    def release_with_thread(self) -> None:
        """Call :meth:`release` when the hardware thread ends, even if PyMoDAQ's close never came.

        DAQ_Viewer sends its close command to the worker thread and then quits that thread; when the
        thread is still busy, it can end before the command runs, which would leave the hardware
        open (a Time Tagger then stays "already in use", a server keeps its port).
        """
        thread = QThread.currentThread()
        app = QCoreApplication.instance()
        if app is not None and thread is not app.thread():
            thread.finished.connect(self._on_thread_finished, Qt.DirectConnection)

    def _on_thread_finished(self) -> None:
        if self.controller is not None:
            logger.info("%s: the hardware thread ended before close: closing now", type(self).__name__)
            self.close()
