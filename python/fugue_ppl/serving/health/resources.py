"""The process's resources, read for the health checks of the ``resource`` level:
:class:`ProcessFigures` (CPU seconds, resident memory, open and maximum file
descriptors) and :class:`ProcessReader`, which reads them through
``prometheus_client``'s ``ProcessCollector`` (``/proc``), so they are the figures
the ``process_*`` metrics show.

Where ``/proc`` is missing (not Linux, a sandbox) the collector yields nothing and
every figure is None: the resource checks then report healthy, "not measured".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import ProcessCollector

__all__ = ["ProcessFigures", "ProcessReader"]

# sample name -> ProcessFigures field
_SAMPLES = {
    "process_cpu_seconds_total": "cpu_seconds",
    "process_resident_memory_bytes": "resident_memory",
    "process_open_fds": "open_fds",
    "process_max_fds": "max_fds",
}


@dataclass(frozen=True)
class ProcessFigures:
    """One reading of the process's resources; None: not measured.

    Attributes
    ----------
    cpu_seconds : float or None
        User and system CPU time used since the process started.
    resident_memory : float or None
        Resident memory, bytes.
    open_fds : float or None
        Open file descriptors.
    max_fds : float or None
        The soft limit of open file descriptors.
    """

    cpu_seconds: float | None = None
    resident_memory: float | None = None
    open_fds: float | None = None
    max_fds: float | None = None


class ProcessReader:
    """Reads :class:`ProcessFigures` of a process through ``ProcessCollector``.

    Parameters
    ----------
    pid : callable, optional
        Returns the process id read (default: this process, ``"self"``).
    proc : str, default "/proc"
        Where the proc file system is (a missing one gives no figures).

    Examples
    --------
    >>> figures = ProcessReader(proc="/nonexistent")()
    >>> figures.resident_memory is None and figures.open_fds is None
    True
    """

    def __init__(self, pid: Callable[[], int | str] | None = None, proc: str = "/proc") -> None:
        kwargs = {} if pid is None else {"pid": pid}
        self._collector = ProcessCollector(proc=proc, registry=None, **kwargs)

    def __call__(self) -> ProcessFigures:
        """The figures now (each None when the collector did not give it)."""
        found: dict[str, float] = {}
        for family in self._collector.collect():
            for sample in family.samples:
                field = _SAMPLES.get(sample.name)
                if field is not None and math.isfinite(sample.value):
                    found[field] = float(sample.value)
        return ProcessFigures(**found)
