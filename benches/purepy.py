"""A straightforward pure-Python effect-handler runtime: the baseline of the
runtime benchmarks.

Written the way a Python programmer would write it: a handler stack in a
module global, a dict trace, distributions as small classes using ``math`` and
``random``, indexed addresses formatted with f-strings.
"""

import math

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_handlers = []


class Normal:
    def __init__(self, mu, sigma):
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.mu = mu
        self.sigma = sigma

    def sample(self, rng):
        return rng.gauss(self.mu, self.sigma)

    def log_prob(self, x):
        z = (x - self.mu) / self.sigma
        return -0.5 * z * z - math.log(self.sigma) - _LOG_SQRT_2PI


class Bernoulli:
    def __init__(self, p):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def sample(self, rng):
        return rng.random() < self.p

    def log_prob(self, x):
        return math.log(self.p) if x else math.log1p(-self.p)


class Trace:
    def __init__(self):
        self.choices = {}
        self.log_prior = 0.0
        self.log_likelihood = 0.0
        self.log_factors = 0.0


class PriorHandler:
    def __init__(self, rng):
        self.rng = rng
        self.trace = Trace()

    def on_sample(self, addr, dist):
        if addr in self.trace.choices:
            raise ValueError(f"address {addr!r} used twice")
        x = dist.sample(self.rng)
        lp = dist.log_prob(x)
        self.trace.choices[addr] = (x, lp)
        self.trace.log_prior += lp
        return x

    def on_observe(self, addr, dist, value):
        lp = dist.log_prob(value)
        self.trace.choices[addr] = (value, lp)
        self.trace.log_likelihood += lp

    def on_factor(self, w):
        self.trace.log_factors += w


def sample(addr, dist):
    return _handlers[-1].on_sample(addr, dist)


def observe(addr, dist, value):
    _handlers[-1].on_observe(addr, dist, value)


def factor(w):
    _handlers[-1].on_factor(w)


def run(handler, model, *args, **kwargs):
    _handlers.append(handler)
    try:
        return model(*args, **kwargs), handler.trace
    finally:
        _handlers.pop()


def sensor(reading):
    temp = sample("temperature", Normal(20.0, 5.0))
    valid = sample("valid", Bernoulli(0.95))
    observe("sensor", Normal(temp, 1.0), reading)
    return temp, valid


def ref20():
    mu = sample("mu", Normal(0.0, 1.0))
    for i in range(19):
        x = sample(f"x_{i}", Normal(mu, 1.0))
        observe(f"y_{i}", Normal(x, 0.5), 0.1 * i - 0.9)
    return mu
