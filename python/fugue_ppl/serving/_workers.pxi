# The worker threads of ModelRunner.infer_async: a bounded pool with a
# bounded queue, the calls it runs (_Job), and the saturation figures it
# measures (in flight, queue depth, arrival rate, service time, utilisation).
#
# Every state change below happens under the GIL without running Python
# code in between (compiled reads and writes of C fields), so a check and
# the write that follows it are atomic with respect to the other threads.

from cpython.pythread cimport PyThread_get_thread_ident

cdef extern from "Python.h":
    int PyThreadState_SetAsyncExc(unsigned long id, PyObject* exc)

import os
import queue
import threading
import weakref
from collections import deque

# A job's states. QUEUED -> RUNNING -> CLAIMED (the worker decides the
# outcome); QUEUED or RUNNING -> SETTLED (the deadline or a cancellation
# decided it first; the run, if any, is abandoned).
cdef enum:
    QUEUED = 0
    RUNNING = 1
    CLAIMED = 2
    SETTLED = 3


class RunAbandoned(BaseException):
    """Raised in a worker thread to stop a run its caller no longer waits for
    (the deadline passed or the call was cancelled). A BaseException, like
    ``asyncio.CancelledError``, so that a model's ``except Exception`` does
    not swallow it."""


@cython.final
cdef class _Job:
    # One asynchronous call: what to run, where to deliver its outcome.
    cdef ModelRunner runner
    cdef object model
    cdef str served
    cdef bint admitted
    cdef tuple args
    cdef dict kwargs
    cdef object seed
    cdef int64_t t0
    cdef object loop               # the caller's event loop; None: a background call
    cdef object future
    cdef double deadline           # in the loop's time
    cdef _Deadlines deadlines      # where the deadline is watched; None: no deadline
    cdef object callback           # a background call's callback(outcome, raised)
    cdef tuple log_ids             # the caller's (request_id, traceparent), for the events
    cdef int state
    cdef unsigned long thread

    cdef bint claim(self) noexcept:
        # The worker takes the right to decide the outcome, unless the
        # deadline or a cancellation took it first.
        if self.state == RUNNING:
            self.state = CLAIMED
            return True
        return False


def _deliver(_Job job, object outcome, bint raised):
    # In the caller's event loop: the worker's outcome, unless the caller
    # stopped waiting.
    if not job.future.done():
        if raised:
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)
    if job.deadlines is not None:
        job.deadlines.trim()


@cython.final
cdef class _Deadlines:
    # The deadlines of a runner's calls awaited in one event loop. The calls come in
    # the order of their deadlines (the runner's deadline after each call's start),
    # so one timer, at the earliest, watches them all: a timer made and cancelled
    # for every call cost the loop more than the hand-off to the worker. A call
    # settled first leaves the queue when it reaches the front. Used by the loop's
    # thread only.
    cdef object loop
    cdef object jobs               # the calls, by deadline
    cdef object timer              # at the front's deadline; None with no call waiting

    def __cinit__(self, loop):
        self.loop = loop
        self.jobs = deque()

    cdef int add(self, _Job job) except -1:
        job.deadlines = self
        self.jobs.append(job)
        if self.timer is None:
            self.timer = self.loop.call_at(job.deadline, self.due)
        return 0

    cdef int trim(self) except -1:
        jobs = self.jobs
        while jobs and (<_Job>jobs[0]).future.done():
            jobs.popleft()
        return 0

    def due(self):
        # At the front's deadline: every call past its deadline is a timeout.
        cdef _Job job
        self.timer = None
        now = self.loop.time()
        jobs = self.jobs
        while jobs:
            job = <_Job>jobs[0]
            if not job.future.done():
                if job.deadline > now:
                    self.timer = self.loop.call_at(job.deadline, self.due)
                    return
                _expire(job)
            jobs.popleft()


cdef int _call_back(object callback, object outcome, bint raised) except -1:
    # A background call's outcome to its callback; the callback's own failure
    # is logged, never raised into the worker or the caller.
    try:
        callback(outcome, raised)
    except Exception:
        _log.exception("a background call's callback raised")
    return 0


def _expire(_Job job):
    # In the caller's event loop, at the call's deadline.
    if job.state == QUEUED or job.state == RUNNING:
        job.runner._timed_out(job)


cdef object _pools = weakref.WeakSet()


def _after_fork_in_child():
    # The child has none of the parent's threads: its pools start afresh.
    for pool in list(_pools):
        (<WorkerPool>pool)._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


@cython.final
cdef class WorkerPool:
    """The worker threads and the queue of a runner's asynchronous calls.

    ``size`` threads (started as calls need them) run the calls;
    ``queue_size`` more may wait; a call beyond that is refused at once.
    A run abandoned at its deadline keeps its thread, and counts as in
    flight, until it stops: at its next effect, at the exception raised in
    its thread (``RunAbandoned``), or when a blocking C call returns.

    The figures (:meth:`to_dict`) are read without a lock: each is exact,
    together they are one moment give or take a call.
    """

    cdef readonly int size
    cdef readonly int queue_size
    cdef readonly uint64_t abandoned
    cdef readonly uint64_t overloaded
    cdef Py_ssize_t _queued      # put, not yet taken by a worker
    cdef Py_ssize_t _running     # runs in a worker, abandoned ones included
    cdef Py_ssize_t _idle        # workers waiting for a job
    cdef object _queue
    cdef list _threads
    cdef bint _closed
    # Per-second buckets over `window` seconds: arrivals, runs finished and
    # the seconds they took.
    cdef int _window
    cdef vector[int64_t] _second
    cdef vector[uint64_t] _arrivals
    cdef vector[uint64_t] _runs
    cdef vector[double] _busy
    cdef int64_t _start
    cdef double _spt
    cdef object __weakref__

    def __cinit__(self):
        self._threads = []
        self._queue = queue.SimpleQueue()

    def __init__(self, size, queue_size, window=60):
        if self._window:
            raise _already_initialised(self)
        self.size = check_int(size, "size", "WorkerPool", low=1, high=1024)
        self.queue_size = check_int(queue_size, "queue_size", "WorkerPool", low=0,
                                    high=1_000_000)
        self._window = check_int(window, "window", "WorkerPool", low=1, high=86_400)
        self._second.assign(self._window, -1)
        self._arrivals.assign(self._window, 0)
        self._runs.assign(self._window, 0)
        self._busy.assign(self._window, 0.0)
        self._spt = seconds_per_tick()
        self._start = ticks()
        _pools.add(self)

    # ------------------------------------------------------------ admission and hand-off

    cdef bint full(self) noexcept:
        return self._queued + self._running >= self.size + self.queue_size

    cdef int arrive(self) except -1:
        cdef int i = self._bucket(ticks())
        self._arrivals[i] += 1
        return 0

    cdef int submit(self, _Job job) except -1:
        if self._closed:
            raise RuntimeError("ModelRunner.infer_async: the runner is closed")
        self._queued += 1
        self._queue.put(job)
        if self._queued > self._idle and <int>len(self._threads) < self.size:
            t = threading.Thread(target=self._work, name=f"fugue-worker-{len(self._threads)}",
                                 daemon=True)
            self._threads.append(t)
            t.start()
        return 0

    def _work(self):
        # A worker thread: take a job, run it, until told to stop (None).
        cdef _Job job
        cdef int64_t started
        cdef unsigned long ident = PyThread_get_thread_ident()
        q = self._queue
        while True:
            self._idle += 1
            item = q.get()
            self._idle -= 1
            if item is None:
                return
            job = <_Job>item
            self._queued -= 1
            if job.state != QUEUED:          # settled while it waited: not run
                continue
            job.state = RUNNING
            job.thread = ident
            self._running += 1
            started = ticks()
            try:
                job.runner._run_job(job)
            except BaseException:            # (the thread must survive anything)
                _log.exception("worker: a call could not be completed")
            finally:
                self._running -= 1
                self._finished(started, ticks())
            # (nothing of the job stays referenced while the worker waits:
            # it would keep the runner, its caller and its result alive)
            job = None
            item = None

    cdef int abandon(self, _Job job) except -1:
        # The caller stopped waiting for a job (deadline or cancellation):
        # it is settled, and a run in progress is told to stop.
        cdef int st = job.state
        job.state = SETTLED
        if st == RUNNING:
            self.abandoned += 1
            PyThreadState_SetAsyncExc(job.thread, <PyObject*>RunAbandoned)
        return 0

    # ------------------------------------------------------------ figures

    cdef int _bucket(self, int64_t t) noexcept:
        cdef int64_t sec = <int64_t>(<double>(t - self._start) * self._spt)
        cdef int i = <int>(sec % self._window)
        if self._second[i] != sec:
            self._second[i] = sec
            self._arrivals[i] = 0
            self._runs[i] = 0
            self._busy[i] = 0.0
        return i

    cdef int _finished(self, int64_t started, int64_t ended) noexcept:
        cdef int i = self._bucket(ended)
        self._runs[i] += 1
        self._busy[i] += <double>(ended - started) * self._spt
        return 0

    cdef tuple _totals(self):
        # Arrivals, runs and busy seconds over the window, and its length.
        cdef int64_t now = <int64_t>(<double>(ticks() - self._start) * self._spt)
        cdef uint64_t arrivals = 0, runs = 0
        cdef double busy = 0.0
        cdef int i
        for i in range(self._window):
            if self._second[i] > now - self._window:
                arrivals += self._arrivals[i]
                runs += self._runs[i]
                busy += self._busy[i]
        cdef double span = min(<double>self._window,
                               max((ticks() - self._start) * self._spt, 1e-3))
        return arrivals, runs, busy, span

    @property
    def in_flight(self):
        """Runs in a worker thread now, abandoned ones still running included."""
        return self._running

    @property
    def queue_depth(self):
        """Calls waiting for a worker."""
        return max(self._queued, 0)

    @property
    def threads(self):
        """Worker threads started (at most ``size``)."""
        return len(self._threads)

    @property
    def service_time(self):
        """Mean seconds of a run over the window (None before the first)."""
        _, runs, busy, _ = self._totals()
        return busy / runs if runs else None

    def to_dict(self):
        """The pool's figures: sizes, in flight, queue depth, counts, and over the window
        the arrival rate (calls per second, refused ones included), the mean service time
        and the utilisation ``rho = arrival_rate * service_time / size`` (lambda / mu
        of the ``size`` workers; above 1 the queue grows)."""
        arrivals, runs, busy, span = self._totals()
        rate = arrivals / span
        service = busy / runs if runs else None
        return {"size": self.size, "queue_size": self.queue_size, "threads": self.threads,
                "in_flight": self._running, "queue_depth": self.queue_depth,
                "abandoned": self.abandoned, "overloaded": self.overloaded,
                "window_seconds": self._window, "arrival_rate": rate, "service_time": service,
                "utilisation": rate * service / self.size if runs else 0.0}

    # ------------------------------------------------------------ life cycle

    def close(self):
        """Stop the worker threads once they finish what they run; later calls are refused."""
        self._closed = True
        for _ in range(len(self._threads)):
            self._queue.put(None)

    cdef int _reset(self) except -1:
        # After a fork, in the child: no threads, no jobs.
        self._threads = []
        self._queue = queue.SimpleQueue()
        self._queued = self._running = self._idle = 0
        return 0

    def __reduce__(self):
        raise TypeError("WorkerPool does not pickle: its threads and queued calls belong to "
                        "this process (a ModelRunner pickles with new workers of the same "
                        "settings)")

    def __repr__(self):
        return (f"WorkerPool(size={self.size}, queue_size={self.queue_size}, "
                f"in_flight={self._running}, queue_depth={self.queue_depth})")
