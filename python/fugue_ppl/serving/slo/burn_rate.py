"""Multi-window burn-rate alerts: :class:`BurnRateAlerts` evaluates :class:`BurnRateRule`
objects (by default the SRE workbook's, :data:`DEFAULT_BURN_RATE_RULES`) over the counts of
an :class:`~fugue_ppl.serving.slo.events.EventStore`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

from fugue_ppl.checks import check_exact, check_int, check_type, invalid, type_error
from fugue_ppl.serving.slo._common import (
    ONE_US,
    Duration,
    check_number,
    duration_us,
    exact,
    fmt_duration,
)
from fugue_ppl.serving.slo.alerts import Alert
from fugue_ppl.serving.slo.events import EventStore


@dataclass(frozen=True)
class BurnRateRule:
    """One multi-window burn-rate rule: alert when both windows burn faster than ``threshold``.

    The burn rate over a window is ``error ratio / (1 - SLO)``: 1 spends the
    error budget exactly over the SLO period, 14.4 spends a 30-day budget's
    2% in one hour.

    Parameters
    ----------
    severity : str
        ``"page"`` or ``"ticket"`` (any non-empty string is accepted).
    long_window, short_window : timedelta or float
        The windows, ``short_window < long_window``; normalised to timedelta.
    threshold : float
        Fires when both burn rates are strictly above it (> 0).

    Examples
    --------
    >>> from datetime import timedelta
    >>> from fugue_ppl.serving.slo import BurnRateRule
    >>> BurnRateRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4).name
    'page 1h/5m > 14.4'
    """

    severity: str
    long_window: timedelta
    short_window: timedelta
    threshold: float

    def __post_init__(self) -> None:
        owner = "BurnRateRule"
        if not isinstance(self.severity, str) or not self.severity.strip():
            raise invalid(owner, "severity", self.severity, "must be a non-empty str")
        long_us = duration_us(self.long_window, "long_window", owner)
        short_us = duration_us(self.short_window, "short_window", owner)
        if short_us >= long_us:
            raise ValueError(f"BurnRateRule: short_window ({timedelta(microseconds=short_us)}) "
                             f"must be shorter than long_window "
                             f"({timedelta(microseconds=long_us)})")
        thr = check_number(self.threshold, "threshold", owner, 0.0, low_open=True)
        object.__setattr__(self, "long_window", timedelta(microseconds=long_us))
        object.__setattr__(self, "short_window", timedelta(microseconds=short_us))
        object.__setattr__(self, "threshold", thr)

    @property
    def name(self) -> str:
        """``"<severity> <long>/<short> > <threshold>"``, e.g. ``"page 1h/5m > 14.4"``."""
        return (f"{self.severity} {fmt_duration(self.long_window // ONE_US)}/"
                f"{fmt_duration(self.short_window // ONE_US)} > {self.threshold:g}")

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "long_window": self.long_window.total_seconds(),
                "short_window": self.short_window.total_seconds(), "threshold": self.threshold}


#: The four rules of the Google SRE workbook (multiwindow, multi-burn-rate
#: alerts): page when both 1 h and 5 min burn faster than 14.4, or both 6 h
#: and 30 min faster than 6; ticket when both 1 d and 2 h burn faster than 3,
#: or both 3 d and 6 h faster than 1.
DEFAULT_BURN_RATE_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    BurnRateRule("page", timedelta(hours=6), timedelta(minutes=30), 6.0),
    BurnRateRule("ticket", timedelta(days=1), timedelta(hours=2), 3.0),
    BurnRateRule("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


@dataclass(frozen=True)
class BurnRateAlert(Alert):
    """An :class:`Alert` from a burn-rate rule.

    ``observed`` is the smaller of the two burn rates (the rule fires when it
    is above the threshold), ``window`` the long window and ``subject`` the
    rule's name.

    Attributes
    ----------
    rule : BurnRateRule
    long_burn_rate, short_burn_rate : float
    """

    rule: BurnRateRule | None = None
    long_burn_rate: float = 0.0
    short_burn_rate: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-serialisable dict (windows in seconds, the rule as a dict)."""
        d = super().to_dict()
        if self.rule is not None:
            d["rule"] = self.rule.to_dict()
        return d


@dataclass(frozen=True)
class BurnRateStatus:
    """One rule's current burn rates and whether it fires (:meth:`BurnRateAlerts.status`)."""

    rule: BurnRateRule
    long_burn_rate: float
    short_burn_rate: float
    long_events: int
    short_events: int
    firing: bool


class BurnRateAlerts:
    """Multi-window burn-rate alerts over an :class:`EventStore`.

    For each rule the burn rate ``(bad / total) / (1 - slo)`` is computed over
    its long and short windows; the rule fires when *both* are strictly above
    its threshold. The long window makes the alert significant (enough budget
    spent); the short window makes it stop soon after the errors stop, even
    while the long window still remembers them.

    Parameters
    ----------
    store : EventStore
        Holds the events; its retention must cover the longest window and
        every window must be a whole number of its intervals.
    slo : float
        The objective, strictly between 0 and 1 (a good-event ratio).
    rules : sequence of BurnRateRule
        The rules, evaluated in this order.
    min_events : int
        A rule fires only with at least this many events in its short window
        (guards a low-traffic service against paging on one failure). A
        window without events burns at rate 0 whatever this is.

    Raises
    ------
    TypeError, ValueError
        A bad ``store``, ``slo``, ``rules`` or ``min_events``; a window the
        store cannot read (the message names the rule).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.serving.slo import BurnRateAlerts, EventStore
    >>> clock = fp.ManualClock()
    >>> store = EventStore(clock=clock)
    >>> alerts = BurnRateAlerts(store, slo=0.999)
    >>> for minute in range(5):
    ...     store.add(1000, errors=20)       # 2% errors: burn rate 20
    ...     clock.advance(60.0)
    >>> [a.subject for a in alerts.evaluate()]
    ['page 1h/5m > 14.4', 'page 6h/30m > 6', 'ticket 1d/2h > 3', 'ticket 3d/6h > 1']
    """

    def __init__(self, store: EventStore, slo: float = 0.999, *,
                 rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
                 min_events: int = 0) -> None:
        owner = "BurnRateAlerts"
        check_type(store, "store", owner, EventStore, "an EventStore")
        slo_x = check_exact(slo, "slo", owner, "open_unit")
        if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
            raise type_error(owner, "rules", rules, "a sequence of BurnRateRule")
        rules = tuple(rules)
        if not rules:
            raise ValueError("BurnRateAlerts: rules must not be empty")
        windows = []
        for i, r in enumerate(rules):
            check_type(r, f"rules[{i}]", owner, BurnRateRule, "a BurnRateRule")
            windows.append((store.window_buckets(r.long_window, f"rule {r.name!r} long_window"),
                            store.window_buckets(r.short_window,
                                                 f"rule {r.name!r} short_window")))
        self._min_events = check_int(min_events, "min_events", owner, low=0)
        self._store = store
        self._slo = slo_x
        self._budget = 1 - slo_x
        self._rules = rules
        self._windows = tuple(windows)
        self._thresholds = tuple(exact(r.threshold) for r in rules)

    @property
    def store(self) -> EventStore:
        return self._store

    @property
    def slo(self) -> float:
        return float(self._slo)

    @property
    def rules(self) -> tuple[BurnRateRule, ...]:
        return self._rules

    @property
    def min_events(self) -> int:
        return self._min_events

    def _burn(self, total: int, bad: int) -> Fraction:
        return Fraction(bad, total) / self._budget if total else Fraction(0)

    def burn_rate(self, window: Duration) -> float:
        """The burn rate over the last ``window``: error ratio / (1 - slo); 0.0 without events."""
        total, bad = self._store.counts(window)
        return float(self._burn(total, bad))

    def status(self) -> list[BurnRateStatus]:
        """Every rule's burn rates and whether it fires, read at one instant."""
        counts = self._store._counts_many(k for pair in self._windows for k in pair)
        out = []
        for rule, (kl, ks), thr in zip(self._rules, self._windows, self._thresholds,
                                       strict=True):
            (tl, bl), (ts, bs) = counts[kl], counts[ks]
            long_b, short_b = self._burn(tl, bl), self._burn(ts, bs)
            firing = long_b > thr and short_b > thr and ts >= self._min_events
            out.append(BurnRateStatus(rule, float(long_b), float(short_b), tl, ts, firing))
        return out

    def evaluate(self) -> list[BurnRateAlert]:
        """The alerts firing now, one per firing rule, in the rules' order.

        Returns
        -------
        list of BurnRateAlert
            Kind ``"burn_rate"``, the rule's severity, ``observed`` = the
            smaller burn rate, ``threshold`` = the rule's.
        """
        alerts = []
        for s in self.status():
            if not s.firing:
                continue
            r = s.rule
            long_s = fmt_duration(r.long_window // ONE_US)
            short_s = fmt_duration(r.short_window // ONE_US)
            alerts.append(BurnRateAlert(
                "burn_rate", r.severity, min(s.long_burn_rate, s.short_burn_rate), r.threshold,
                f"error budget of the {float(self._slo):g} objective burning at "
                f"{s.long_burn_rate:.3g}x over {long_s} and {s.short_burn_rate:.3g}x over "
                f"{short_s}, above {r.threshold:g}x ({r.severity})",
                window=r.long_window, subject=r.name, rule=r,
                long_burn_rate=s.long_burn_rate, short_burn_rate=s.short_burn_rate))
        return alerts

    def __repr__(self) -> str:
        return f"BurnRateAlerts(slo={float(self._slo):g}, rules={len(self._rules)})"
