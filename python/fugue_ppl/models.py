"""Built-in example models.

These are plain fugue-ppl models (Python functions calling
:func:`~fugue_ppl.sample` and :func:`~fugue_ppl.observe`), shipped with the
package so that the ``fugue-ppl`` command, the benchmarks and the
documentation have a model to run without any code of yours.

``sensor``
    The built-in default model: a temperature sensor whose reading is noisy.
``ref20``
    A reference model of 39 sites (20 latent, 19 observed) with indexed
    addresses, used to measure the per-site cost of the runtime.
"""

from __future__ import annotations

from fugue_ppl.core._distributions import Bernoulli, Normal
from fugue_ppl.core._runtime import addr, observe, sample
from fugue_ppl.validation import Finite, Range, Schema

__all__ = [
    "SENSOR_NOISE",
    "SENSOR_PRIOR",
    "SENSOR_SCHEMA",
    "SENSOR_VALID_P",
    "ref20",
    "sensor",
    "sensor_posterior",
    "sensor_prior",
]

#: Prior of the true temperature in :func:`sensor`: ``(mean, standard deviation)``.
SENSOR_PRIOR = (20.0, 5.0)
#: Standard deviation of the sensor's reading around the true temperature.
SENSOR_NOISE = 1.0
#: Prior probability that the sensor works.
SENSOR_VALID_P = 0.95
#: The inputs :func:`sensor` accepts: a finite reading the sensor can
#: produce, in degrees.
SENSOR_SCHEMA = Schema({"reading": Finite() & Range(-50.0, 150.0)})


def sensor(reading):
    """The built-in default model: a noisy temperature sensor.

    The true temperature has prior ``Normal(20, 5)``; the sensor works with
    probability 0.95; the reading is observed from ``Normal(temperature, 1)``.

    Sites, in execution order: ``"temperature"`` (sample, float),
    ``"valid"`` (sample, bool), ``"sensor"`` (observe).

    Parameters
    ----------
    reading : float
        The sensor's reading (degrees).

    Returns
    -------
    temperature : float
    valid : bool

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import sensor
    >>> (temperature, valid), trace = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)
    >>> list(trace), trace["temperature"] == temperature
    (['temperature', 'valid', 'sensor'], True)
    """
    temperature = sample("temperature", Normal(SENSOR_PRIOR[0], SENSOR_PRIOR[1]))
    valid = sample("valid", Bernoulli(SENSOR_VALID_P))
    observe("sensor", Normal(temperature, SENSOR_NOISE), reading)
    return temperature, valid


def sensor_prior(reading):
    """The sensor model without its reading: the temperature's prior draw.

    A cheaper model that needs no working sensor, e.g. a runner's
    ``degraded_model`` while the real one is failing. Sites: ``"temperature"``
    and ``"valid"`` (as :func:`sensor`, without the observation).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> _, trace = fp.run(fp.PriorHandler(rng=42), sensor_prior, 22.0)
    >>> list(trace)
    ['temperature', 'valid']
    """
    temperature = sample("temperature", Normal(SENSOR_PRIOR[0], SENSOR_PRIOR[1]))
    valid = sample("valid", Bernoulli(SENSOR_VALID_P))
    return temperature, valid


def sensor_posterior(reading):
    """The exact posterior of ``temperature`` in :func:`sensor` given ``reading``.

    The model is conjugate (a Normal prior and a Normal likelihood; ``valid``
    is independent of the reading), so the posterior is Normal with

    ``mean = m0 + (reading - m0) * s0**2 / (s0**2 + s**2)`` and
    ``sd = sqrt(1 / (1/s0**2 + 1/s**2))``

    where ``m0, s0 = SENSOR_PRIOR`` and ``s = SENSOR_NOISE``.

    Parameters
    ----------
    reading : float

    Returns
    -------
    mean, sd : float

    Examples
    --------
    >>> from fugue_ppl.models import sensor_posterior
    >>> mean, sd = sensor_posterior(22.0)
    >>> round(mean, 4), round(sd, 4)
    (21.9231, 0.9806)
    """
    m0, s0 = SENSOR_PRIOR
    s = SENSOR_NOISE
    gain = s0 * s0 / (s0 * s0 + s * s)
    mean = m0 + (float(reading) - m0) * gain
    sd = (1.0 / (1.0 / (s0 * s0) + 1.0 / (s * s))) ** 0.5
    return mean, sd


def ref20():
    """A reference model with 39 sites and indexed addresses.

    ``mu ~ Normal(0, 1)``; for ``i`` in ``0..18``: ``x[i] ~ Normal(mu, 1)``
    at ``addr("x", i)`` and ``Normal(x[i], 0.5)`` observed to equal
    ``0.1*i - 0.9`` at ``addr("y", i)``.

    Returns
    -------
    mu : float

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import ref20
    >>> mu, trace = fp.run(fp.PriorHandler(rng=0), ref20)
    >>> len(trace), list(trace)[:3]
    (39, ['mu', 'x[0]', 'y[0]'])
    """
    mu = sample("mu", Normal(0.0, 1.0))
    for i in range(19):
        x = sample(addr("x", i), Normal(mu, 1.0))
        observe(addr("y", i), Normal(x, 0.5), 0.1 * i - 0.9)
    return mu
