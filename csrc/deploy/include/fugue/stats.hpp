#pragma once
// Distribution functions for rollout analysis: the regularised incomplete
// beta function I_x(a, b), the Student t distribution built on it (Welch's
// test), and the standard normal (z tests, sequential tests).
//
// Every function is pure and thread-safe; invalid arguments give NaN (the
// Python layer checks them first and names the parameter).
namespace fugue {
namespace stats {

// Iterations of the continued fraction before I_x(a, b) gives up (NaN); in
// its contracted form it converges long before that for a, b up to
// kMaxBetaParameter. Accuracy: about 1e-13 relative where I is above 1e-100
// (in the far tail the error grows like |log I| ulps).
constexpr int kMaxFractionIterations = 1000000;
// The largest a or b accepted by betainc. The t distribution with more than
// 2 kMaxBetaParameter degrees of freedom is taken as the normal one (they
// differ by less than (t^4 + t^2) / (4 df) relative).
constexpr double kMaxBetaParameter = 1e15;

// I_x(a, b) for a, b > 0 and 0 <= x <= 1, given y = 1 - x computed by the
// caller without cancellation (x near 1). Continued fraction (modified
// Lentz) on the side of the mean where it converges fast, with the symmetry
// I_x(a, b) = 1 - I_y(b, a) on the other; the factor x^a y^b / B(a, b) comes
// from Loader's saddle-point binomial density, accurate for large a, b.
// NaN for invalid arguments. Never throws.
double betainc(double a, double b, double x, double y) noexcept;

// I_x(a, b) with y = 1 - x computed here. Never throws.
double betainc(double a, double b, double x) noexcept;

// 1 - I_x(a, b) = I_y(b, a), without cancellation. Never throws.
double betaincc(double a, double b, double x, double y) noexcept;

// P(T <= t) for Student's t with df > 0 degrees of freedom (df = +inf: the
// normal), from I_{df/(df+t^2)}(df/2, 1/2). NaN for NaN t or df <= 0.
// Never throws.
double t_cdf(double t, double df) noexcept;

// P(T > t) = t_cdf(-t, df). Never throws.
double t_sf(double t, double df) noexcept;

// The two-sided p-value P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2).
// Never throws.
double t_sf_two_sided(double t, double df) noexcept;

// P(Z <= z) for the standard normal, from erfc (no cancellation in either
// tail). Never throws.
double norm_cdf(double z) noexcept;

// P(Z > z) = norm_cdf(-z). Never throws.
double norm_sf(double z) noexcept;

}  // namespace stats
}  // namespace fugue
