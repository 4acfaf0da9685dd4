"""The distribution table: one declaration per distribution.

Each entry of :data:`DISTRIBUTIONS` states everything that is said about a
distribution outside its numerics: its name, its parameters (name, kind, the
rules their values obey, Fugue's error code), the kind of value it produces,
its support and the pieces of its docstring. The build renders the table into

- ``fugue/distribution_table.hpp``: the C++ X-macro lists (``DistKind``, the
  names, the value kinds, the parameter checks and their messages);
- ``_distributions.pyx``: the Cython classes (constructor, properties,
  ``_params``, docstrings), from ``_distributions.pyx.in``;
- ``_distributions.pyi``: their type stubs, from ``_distributions.pyi.in``.

The numerics of each distribution (derived constants, log-density, sampler)
are C++, one section per distribution in ``csrc/core/src/distribution_ops.hpp``.
Adding a distribution is an entry here and its section there (and the
declaration of numpy's sampler in ``fugue/rng.hpp`` when it uses one not
declared yet); the packages export every distribution of the table.

Run as a script, the module renders a template::

    python _distribution_table.py TEMPLATE OUTPUT
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# Fugue's error codes for invalid parameters.
CODES = {
    "Mean": 100,         # mean / location
    "Variance": 101,     # variance / scale / sigma
    "Probability": 102,
    "Range": 103,
    "Shape": 104,
    "Rate": 105,
    "Count": 106,
}
MEAN, VARIANCE, PROBABILITY, RANGE, SHAPE, RATE, COUNT = CODES.values()

# numpy's limit for the rate of a Poisson draw (int64 max - 10 sqrt(int64 max)).
POISSON_LAM_MAX = "9.223372006484771e18"


# --------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    """A rule on one parameter's value.

    ``test`` is a C++ condition on ``v`` (the value, a double or an int64);
    ``{name}`` in it stands for the value of the parameter ``name``. ``rule``
    is the message when the test fails (``"<Dist>: <param> <rule>, got
    <value>"``), ``doc`` its wording in the docstring. ``context`` names a
    parameter whose value the message adds, as in ``"must be > low
    (low=2.0)"``.
    """

    test: str
    rule: str
    doc: str
    context: str | None = None


FINITE = Rule("std::isfinite(v)", "must be finite", "finite")
POSITIVE = Rule("std::isfinite(v) && v > 0.0", "must be finite and > 0", "finite and > 0")
PROBABILITY_RULE = Rule("v >= 0.0 && v <= 1.0", "must be in [0, 1]", "in [0, 1]")
UNIT = Rule("v > 0.0 && v <= 1.0", "must be in (0, 1]", "in (0, 1]")
NON_NEGATIVE = Rule("v >= 0", "must be >= 0", ">= 0")
POISSON_RATE_LIMIT = Rule(f"v <= {POISSON_LAM_MAX}",
                          f"must be <= {POISSON_LAM_MAX} (int64 range)",
                          f"at most numpy's sampling limit {POISSON_LAM_MAX}")


def greater_than(other: str) -> Rule:
    """``v > other`` for another parameter ``other``."""
    return Rule(f"v > {{{other}}}", f"must be > {other}", f"> {other}", context=other)


def at_least(other: str) -> Rule:
    """``v >= other`` for another parameter ``other``."""
    return Rule(f"v >= {{{other}}}", f"must be >= {other}", f">= {other}", context=other)


@dataclass(frozen=True)
class Simplex:
    """The rules of a probabilities array (checked element by element in C++)."""

    tolerance: str = "1e-6"
    empty: str = "must not be empty"
    element: str = "must hold probabilities in [0, 1]"

    @property
    def total(self) -> str:
        return f"must sum to 1 (within {self.tolerance})"

    @property
    def doc(self) -> str:
        return (f"a non-empty one-dimensional sequence of numbers in [0, 1] summing to 1 "
                f"within {self.tolerance}")


SIMPLEX = Simplex()


# --------------------------------------------------------------------- declarations

_KINDS = {
    # kind: (docstring type, stub type of the argument, stub type of the property,
    #        the C++ field holding it)
    "real": ("float", "_Real", "float", "p"),
    "int": ("int", "_Int", "int", "i"),
    "probs": ("sequence of float", "npt.ArrayLike", "npt.NDArray[np.float64]", "probs"),
}

_VALUES = {
    # value kind: (C++ ValueKind, Python type, numpy scalar type)
    "float": ("Float", "float", "np.float64"),
    "int": ("Int", "int", "np.int64"),
    "bool": ("Bool", "bool", "np.bool_"),
}


@dataclass(frozen=True)
class Param:
    """A constructor parameter: its name, kind (``"real"``, ``"int"`` or
    ``"probs"``), description, rules (checked in order) and error code."""

    name: str
    kind: str
    doc: str
    code: int
    rules: tuple[Rule, ...] = ()
    slot: int = 0          # its index in fugue::Dist's p[] or i[] (set by _declare)
    index: int = 0         # its position in the constructor (set by _declare)

    @property
    def field(self) -> str:
        """The C++ expression of its value inside ``fugue::Dist d``."""
        f = _KINDS[self.kind][3]
        return "d.probs" if f == "probs" else f"d.{f}[{self.slot}]"

    @property
    def cython_field(self) -> str:
        f = _KINDS[self.kind][3]
        return "self._probs" if f == "probs" else f"self.c.{f}[{self.slot}]"

    @property
    def doc_type(self) -> str:
        return _KINDS[self.kind][0]

    @property
    def stub_type(self) -> str:
        return _KINDS[self.kind][1]

    @property
    def stub_property_type(self) -> str:
        return _KINDS[self.kind][2]

    @property
    def constraints(self) -> str:
        """The rules in words, for the docstring."""
        if self.kind == "probs":
            return SIMPLEX.doc
        return ", ".join(r.doc for r in self.rules)

    @property
    def property_doc(self) -> str:
        if self.kind == "probs":
            return f"{self.doc} (a read-only float64 array)."
        return f"{self.doc}."


def real(name: str, doc: str, *rules: Rule, code: int) -> Param:
    """A real parameter (a Python float; ints and numpy scalars are converted)."""
    return Param(name, "real", doc, code, rules)


def integer(name: str, doc: str, *rules: Rule, code: int) -> Param:
    """An int64 parameter (an integral float is accepted)."""
    return Param(name, "int", doc, code, rules)


def probabilities(name: str, doc: str, *, code: int) -> Param:
    """A one-dimensional array of probabilities (the rules of :data:`SIMPLEX`)."""
    return Param(name, "probs", doc, code)


@dataclass(frozen=True)
class Distribution:
    """One distribution: the facts the C++ core, the Cython class, its
    docstring and its stub are rendered from."""

    name: str
    value: str               # "float", "int" or "bool"
    summary: str             # the docstring's first line
    params: tuple[Param, ...]
    support: str
    sampling: str            # how a draw relates to numpy, one or more sentences
    examples: str            # doctest lines
    description: str = ""    # an optional paragraph after the summary

    # -- C++

    @property
    def value_kind(self) -> str:
        return _VALUES[self.value][0]

    def checks(self):
        """``(param, rule, C++ test, C++ context)`` for each rule, in order."""
        fields = {p.name: p.field for p in self.params}
        for p in self.params:
            for r in p.rules:
                context = (f'FUGUE_CONTEXT("{r.context}", {fields[r.context]})' if r.context
                           else "FUGUE_NO_CONTEXT")
                yield p, r, r.test.format(**fields), context

    # -- Cython

    @property
    def signature(self) -> str:
        return ", ".join(p.name for p in self.params)

    @property
    def params_dict(self) -> str:
        return "{" + ", ".join(f'"{p.name}": {p.cython_field}' for p in self.params) + "}"

    def docstring(self, indent: int = 4) -> str:
        """The class docstring (numpydoc), indented for a class body."""
        pad = " " * indent
        width = 79 - indent

        def para(text, extra=0):
            # (``literals`` stay on one line)
            parts = " ".join(text.split()).split("``")
            glued = "``".join(t.replace(" ", "\0") if k % 2 else t for k, t in enumerate(parts))
            return textwrap.fill(glued, width - extra, break_on_hyphens=False,
                                 break_long_words=False).replace("\0", " ")

        out = [self.summary, ""]
        if self.description:
            out += [para(self.description), ""]
        out += ["Parameters", "----------"]
        for p in self.params:
            rules = f"; {p.constraints}" if p.constraints else ""
            out.append(f"{p.name} : {p.doc_type}")
            out.append(textwrap.indent(para(f"{p.doc}{rules} (error code {p.code}).", 4),
                                       "    "))
        out += ["", "Raises", "------", "TypeError",
                textwrap.indent(para(self._wrong_type(), 4), "    "),
                "InvalidParameters",
                "    A parameter's value breaks its rule (error code as above).",
                "", "Notes", "-----",
                para(f"Support: {self.support}. Values: {self.value}. {self.sampling}"),
                "", "Examples", "--------"]
        out += textwrap.dedent(self.examples).strip("\n").splitlines()
        body = "\n".join(out)
        return textwrap.indent(body, pad).lstrip() + "\n" + pad

    def _wrong_type(self) -> str:
        # The TypeError of the docstring's Raises section.
        def names(kind):
            return " or ".join(f"``{p.name}``" for p in self.params if p.kind == kind)

        if self.has_probs:
            return f"{names('probs')} is not a one-dimensional sequence of real numbers."
        ints, reals = names("int"), names("real")
        if not ints:
            return "A parameter is not a real number."
        if not reals:
            return "A parameter is not an integer."
        return f"{ints} is not an integer, or {reals} not a real number."

    @property
    def has_probs(self) -> bool:
        return any(p.kind == "probs" for p in self.params)

    # -- stubs

    @property
    def python_value_type(self) -> str:
        return _VALUES[self.value][1]

    @property
    def numpy_value_type(self) -> str:
        return _VALUES[self.value][2]

    @property
    def stub_signature(self) -> str:
        return ", ".join(f"{p.name}: {p.stub_type}" for p in self.params)


def _declare(*dists: Distribution) -> tuple[Distribution, ...]:
    # The parameters' positions and slots; the DistKind order is the table's.
    out = []
    for d in dists:
        counts = {"p": 0, "i": 0, "probs": 0}
        params = []
        for index, p in enumerate(d.params):
            f = _KINDS[p.kind][3]
            params.append(Param(p.name, p.kind, p.doc, p.code, p.rules, counts[f], index))
            counts[f] += 1
        assert counts["probs"] <= 1, d.name
        names = {p.name for p in d.params}
        for p in d.params:
            for r in p.rules:
                assert r.context is None or r.context in names, (d.name, r)
        out.append(Distribution(d.name, d.value, d.summary, tuple(params), d.support,
                                d.sampling, d.examples, d.description))
    return tuple(out)


# --------------------------------------------------------------------- the table
#
# The order is DistKind's: append new distributions at the end.

DISTRIBUTIONS = _declare(
    Distribution(
        "Normal", "float", "Normal (Gaussian) distribution.",
        (real("mu", "Mean", FINITE, code=MEAN),
         real("sigma", "Standard deviation", POSITIVE, code=VARIANCE)),
        support="the real line",
        sampling="Sampling equals ``Generator.normal(mu, sigma)``.",
        examples="""
            >>> d = Normal(0.0, 1.0)
            >>> round(d.log_prob(0.0), 6)
            -0.918939
        """),
    Distribution(
        "Uniform", "float",
        "Continuous uniform distribution on the half-open interval [low, high).",
        (real("low", "Lower bound (included)", FINITE, code=RANGE),
         real("high", "Upper bound (excluded)", FINITE, greater_than("low"),
              Rule("std::isfinite(v - {low})", "must make high - low finite",
                   "``high - low`` finite", context="low"),
              code=RANGE)),
        support="[low, high); ``log_prob(high)`` is ``-inf`` (scipy's closed interval "
                "differs there on purpose)",
        sampling="Sampling equals ``Generator.uniform(low, high)``.",
        examples="""
            >>> Uniform(1.0, 3.0).log_prob([1.0, 2.0, 3.0])
            array([-0.69314718, -0.69314718,        -inf])
        """),
    Distribution(
        "LogNormal", "float", "Log-normal distribution: ``exp(Normal(mu, sigma))``.",
        (real("mu", "Mean of the logarithm", FINITE, code=MEAN),
         real("sigma", "Standard deviation of the logarithm", POSITIVE, code=VARIANCE)),
        support="(0, inf)",
        sampling="Sampling equals ``Generator.lognormal(mu, sigma)``.",
        examples="""
            >>> LogNormal(0.0, 1.0).log_prob(0.0)
            -inf
        """),
    Distribution(
        "Exponential", "float", "Exponential distribution with the given rate (mean ``1/rate``).",
        (real("rate", "Rate (inverse mean)", POSITIVE, code=RATE),),
        support="[0, inf)",
        sampling="Sampling equals ``Generator.exponential(1/rate)``.",
        examples="""
            >>> import numpy as np
            >>> x = Exponential(2.0).sample(rng=np.random.default_rng(1), size=3)
            >>> bool(np.all(x == np.random.default_rng(1).exponential(0.5, size=3)))
            True
        """),
    Distribution(
        "Beta", "float", "Beta distribution.",
        (real("alpha", "First shape", POSITIVE, code=SHAPE),
         real("beta", "Second shape", POSITIVE, code=SHAPE)),
        support="[0, 1] (the density may be infinite at an end point when a shape is < 1)",
        sampling="Sampling equals ``Generator.beta(alpha, beta)``.",
        examples="""
            >>> Beta(0.5, 2.0).log_prob(0.0)
            inf
        """),
    Distribution(
        "Gamma", "float",
        "Gamma distribution in the shape/rate parametrisation (mean ``shape/rate``).",
        (real("shape", "Shape", POSITIVE, code=SHAPE),
         real("rate", "Rate (inverse scale)", POSITIVE, code=RATE)),
        support="[0, inf) (infinite density at 0 when shape < 1)",
        sampling="Sampling equals ``Generator.gamma(shape, 1/rate)``.",
        examples="""
            >>> import math
            >>> math.isclose(Gamma(1.0, 3.0).log_prob(0.5), math.log(3.0) - 1.5)
            True
        """),
    Distribution(
        "Bernoulli", "bool", "Bernoulli distribution: ``True`` with probability ``p``.",
        (real("p", "Probability of ``True``", PROBABILITY_RULE, code=PROBABILITY),),
        support="{False, True}",
        sampling="A draw is ``u < p`` for one uniform ``u = Generator.random()``.",
        examples="""
            >>> type(Bernoulli(0.5).sample(rng=7))
            <class 'bool'>
        """),
    Distribution(
        "Binomial", "int", "Binomial distribution: the number of successes in ``n`` trials.",
        (integer("n", "Number of trials", NON_NEGATIVE, code=COUNT),
         real("p", "Success probability", PROBABILITY_RULE, code=PROBABILITY)),
        support="{0, ..., n}",
        sampling="Sampling equals ``Generator.binomial(n, p)``.",
        examples="""
            >>> Binomial(10, 0.5).log_prob(11)
            -inf
        """),
    Distribution(
        "Categorical", "int", "Categorical distribution over the indices ``0 .. len(probs) - 1``.",
        (probabilities("probs", "Probabilities, not renormalised", code=PROBABILITY),),
        support="{0, ..., len(probs) - 1}",
        sampling="A draw inverts the cumulative sum at one uniform ``u = Generator.random()`` "
                 "(the first ``i`` with ``u < probs[0] + ... + probs[i]``; the last positive "
                 "category when the sum falls short of ``u``).",
        examples="""
            >>> d = Categorical([0.25, 0.0, 0.75])
            >>> d.log_prob(1)
            -inf
            >>> sorted(set(d.sample(rng=3, size=100).tolist()))
            [0, 2]
        """),
    Distribution(
        "Poisson", "int", "Poisson distribution with the given rate (mean).",
        (real("rate", "Rate (mean)", POSITIVE, POISSON_RATE_LIMIT, code=RATE),),
        support="{0, 1, 2, ...}",
        sampling="Sampling equals ``Generator.poisson(rate)``.",
        examples="""
            >>> Poisson(1e15).log_prob(10**15)  # accurate for huge counts
            -18.188326730660016
        """),
    Distribution(
        "StudentT", "float", "Student's t distribution with location and scale.",
        (real("df", "Degrees of freedom", POSITIVE, code=SHAPE),
         real("loc", "Location", FINITE, code=MEAN),
         real("scale", "Scale", POSITIVE, code=VARIANCE)),
        support="the real line",
        sampling="Sampling equals ``loc + scale * Generator.standard_t(df)``.",
        examples="""
            >>> round(StudentT(1.0, 0.0, 1.0).log_prob(0.0), 6)  # = Cauchy(0, 1)
            -1.14473
        """),
    Distribution(
        "Cauchy", "float", "Cauchy distribution.",
        (real("loc", "Location (median)", FINITE, code=MEAN),
         real("scale", "Scale (half width at half maximum)", POSITIVE, code=VARIANCE)),
        support="the real line",
        sampling="Sampling equals ``loc + scale * Generator.standard_cauchy()``.",
        examples="""
            >>> round(Cauchy(0.0, 1.0).log_prob(1.0), 6)
            -1.837877
        """),
    Distribution(
        "Laplace", "float", "Laplace (double exponential) distribution.",
        (real("loc", "Location", FINITE, code=MEAN),
         real("scale", "Scale", POSITIVE, code=VARIANCE)),
        support="the real line",
        sampling="Sampling equals ``Generator.laplace(loc, scale)``.",
        examples="""
            >>> round(Laplace(0.0, 1.0).log_prob(-1.0), 6)
            -1.693147
        """),
    Distribution(
        "Weibull", "float", "Weibull distribution.",
        (real("shape", "Shape ``k``", POSITIVE, code=SHAPE),
         real("scale", "Scale ``lambda``", POSITIVE, code=VARIANCE)),
        support="[0, inf) (infinite density at 0 when shape < 1)",
        sampling="Sampling equals ``scale * Generator.weibull(shape)``.",
        examples="""
            >>> round(Weibull(1.0, 2.0).log_prob(0.0), 6)  # = Exponential(0.5)
            -0.693147
        """),
    Distribution(
        "ChiSquared", "float", "Chi-squared distribution with ``k`` degrees of freedom.",
        (real("k", "Degrees of freedom (need not be an integer)", POSITIVE, code=SHAPE),),
        support="[0, inf)",
        sampling="Sampling equals ``Generator.chisquare(k)``.",
        examples="""
            >>> round(ChiSquared(2.0).log_prob(0.0), 6)
            -0.693147
        """),
    Distribution(
        "InverseGamma", "float",
        "Inverse-gamma distribution: ``rate / X`` for ``X ~ Gamma(shape, 1)``.",
        (real("shape", "Shape", POSITIVE, code=SHAPE),
         real("rate", "Rate of the underlying gamma (the scale of this distribution)",
              POSITIVE, code=RATE)),
        description="The density is "
                    "``rate**shape / Gamma(shape) * x**(-shape-1) * exp(-rate/x)``.",
        support="(0, inf)",
        sampling="Sampling equals ``rate / Generator.standard_gamma(shape)``.",
        examples="""
            >>> InverseGamma(2.0, 1.0).log_prob(0.0)
            -inf
        """),
    Distribution(
        "DiscreteUniform", "int",
        "Discrete uniform distribution on the integers ``low .. high``, both included.",
        (integer("low", "Smallest value", code=RANGE),
         integer("high", "Largest value (included)", at_least("low"), code=RANGE)),
        support="{low, ..., high}",
        sampling="Sampling equals ``Generator.integers(low, high, endpoint=True)``.",
        examples="""
            >>> DiscreteUniform(1, 6).log_prob(6) == DiscreteUniform(1, 6).log_prob(1)
            True
            >>> DiscreteUniform(1, 6).log_prob(7)
            -inf
        """),
    Distribution(
        "NegativeBinomial", "int",
        "Negative binomial distribution: the number of failures before the ``n``-th success.",
        (real("n", "Number of successes (need not be an integer)", POSITIVE, code=COUNT),
         real("p", "Success probability", UNIT,
              Rule(f"(1.0 - v) / v * ({{n}} + 10.0 * std::sqrt({{n}})) <= {POISSON_LAM_MAX}",
                   f"must be large enough that (1 - p)/p * (n + 10 sqrt(n)) <= "
                   f"{POISSON_LAM_MAX}, numpy's sampling limit",
                   "large enough that ``(1 - p)/p * (n + 10 sqrt(n))`` is at most numpy's "
                   f"sampling limit {POISSON_LAM_MAX}", context="n"),
              code=PROBABILITY)),
        support="{0, 1, 2, ...}",
        sampling="Sampling equals ``Generator.negative_binomial(n, p)`` (a Poisson draw at a "
                 "gamma-distributed rate).",
        examples="""
            >>> import math
            >>> d = NegativeBinomial(1.0, 0.25)   # failures before the first success
            >>> math.isclose(d.log_prob(3), Geometric(0.25).log_prob(4))
            True
            >>> NegativeBinomial(1e15, 0.5).log_prob(10**15)  # accurate for huge counts
            -18.53490032093999
        """),
    Distribution(
        "Geometric", "int",
        "Geometric distribution: the number of trials up to and including the first success.",
        (real("p", "Success probability", UNIT, code=PROBABILITY),),
        support="{1, 2, 3, ...}, as numpy's (``NegativeBinomial(1, p)`` counts the failures "
                "instead)",
        sampling="Sampling equals ``Generator.geometric(p)``.",
        examples="""
            >>> import math
            >>> Geometric(0.25).log_prob(1) == math.log(0.25)
            True
            >>> Geometric(0.25).log_prob(0)
            -inf
        """),
)


# --------------------------------------------------------------------- rendering

def namespace() -> dict:
    """What the templates see."""
    return {
        "DISTRIBUTIONS": DISTRIBUTIONS,
        "CODES": CODES,
        "SIMPLEX": SIMPLEX,
        "MAX_REAL_PARAMS": max(sum(p.kind == "real" for p in d.params) for d in DISTRIBUTIONS),
        "MAX_INT_PARAMS": max(sum(p.kind == "int" for p in d.params) for d in DISTRIBUTIONS),
        "cxx_string": lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"',
        "TABLE": "python/fugue_ppl/core/_distribution_table.py",
    }


def render(template: Path, output: Path) -> None:
    """Render ``template`` (Tempita) with :func:`namespace` into ``output``."""
    from Cython.Tempita import Template

    text = Template(template.read_text(encoding="utf-8"), name=str(template)).substitute(
        namespace())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python _distribution_table.py TEMPLATE OUTPUT")
    render(Path(sys.argv[1]), Path(sys.argv[2]))
