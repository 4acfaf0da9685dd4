# C++ declarations: the distribution functions of the rollout analysis
# (fugue/stats.hpp). Pure functions: invalid arguments give NaN, nothing throws.


cdef extern from "fugue/stats.hpp" namespace "fugue::stats" nogil:
    const double kMaxBetaParameter "fugue::stats::kMaxBetaParameter"

    # I_x(a, b); y = 1 - x given without cancellation
    double c_betainc "fugue::stats::betainc"(double a, double b, double x, double y) noexcept
    double c_t_cdf "fugue::stats::t_cdf"(double t, double df) noexcept
    double c_t_sf "fugue::stats::t_sf"(double t, double df) noexcept
    double c_t_sf_two_sided "fugue::stats::t_sf_two_sided"(double t, double df) noexcept
    double c_norm_cdf "fugue::stats::norm_cdf"(double z) noexcept
    double c_norm_sf "fugue::stats::norm_sf"(double z) noexcept
