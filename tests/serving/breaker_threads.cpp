// Threads hammering one C++ circuit breaker with no interpreter in the way:
// the invariants the Python threads cannot reach (they take turns under the
// GIL). Built by tests/serving/test_breaker.py against the installed
// libfugue_serving, never shipped. Prints one JSON object.
//
// usage: breaker_threads open|permits|recover
//   open     8 threads x 100000 allow + record_failure on a HEALTHY breaker
//   permits  8 threads x 50000 allow + hold + record_ignored in RECOVERY
//            (3 permits), counting the admitted calls in flight
//   recover  8 threads x 20000 allow + record_success from FAILED past its
//            open duration (4 permits)
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fugue/breaker.hpp"

namespace {

constexpr int kThreads = 8;
const char* const kNames[] = {"HEALTHY", "DEGRADED", "FAILED", "RECOVERY"};

struct Result {
  uint64_t permitted = 0;
  std::vector<fugue::Transition> caused;
};

std::atomic<int64_t> in_flight{0};
std::atomic<int64_t> peak{0};

void enter() {
  const int64_t n = in_flight.fetch_add(1, std::memory_order_acq_rel) + 1;
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (n > seen && !peak.compare_exchange_weak(seen, n, std::memory_order_acq_rel,
                                                 std::memory_order_relaxed)) {
  }
}

enum class Mode { Failure, Ignored, Success };

// `calls` times allow() then the record of `mode`; each admitted call is in
// flight for `hold` spins when counted.
void hammer(fugue::CircuitBreaker& b, uint64_t calls, Mode mode, bool count, int hold,
            std::atomic<int>& ready, Result& out) {
  ready.fetch_add(1);
  while (ready.load() < kThreads) {
  }
  out.caused.reserve(64);
  for (uint64_t i = 0; i < calls; ++i) {
    fugue::Transition t;
    if (b.allow(t)) {
      ++out.permitted;
      if (count) {
        enter();
        for (volatile int spin = 0; spin < hold; spin = spin + 1) {
        }
        in_flight.fetch_sub(1, std::memory_order_acq_rel);
      }
      if (t.changed) {
        out.caused.push_back(t);
        t.changed = false;
      }
      if (mode == Mode::Failure) {
        b.record_failure(-1.0, t);
      } else if (mode == Mode::Ignored) {
        b.record_ignored();
      } else {
        b.record_success(-1.0, t);
      }
    }
    if (t.changed) out.caused.push_back(t);
  }
}

std::vector<Result> run(fugue::CircuitBreaker& b, uint64_t calls, Mode mode, bool count,
                        int hold) {
  std::vector<Result> results(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back(hammer, std::ref(b), calls, mode, count, hold, std::ref(ready),
                         std::ref(results[k]));
  }
  for (auto& t : threads) t.join();
  return results;
}

void print(fugue::CircuitBreaker& b, const std::vector<Result>& results) {
  const fugue::BreakerSnapshot s = b.snapshot();
  std::string caused;
  uint64_t permitted = 0;
  for (const Result& r : results) {
    permitted += r.permitted;
    for (const fugue::Transition& t : r.caused) {
      if (!caused.empty()) caused += ", ";
      caused += std::string("[\"") + kNames[static_cast<int>(t.from)] + "\", \"" +
                kNames[static_cast<int>(t.to)] + "\"]";
    }
  }
  std::string transitions;
  for (int a = 0; a < fugue::kBreakerStates; ++a) {
    for (int z = 0; z < fugue::kBreakerStates; ++z) {
      if (s.transitions[a][z] == 0) continue;
      if (!transitions.empty()) transitions += ", ";
      transitions += std::string("\"") + kNames[a] + "->" + kNames[z] +
                     "\": " + std::to_string(s.transitions[a][z]);
    }
  }
  std::printf(
      "{\"state\": \"%s\", \"permitted_by_threads\": %llu, \"caused\": [%s], "
      "\"transitions\": {%s}, \"permitted\": %llu, \"rejected\": %llu, \"successes\": %llu, "
      "\"failures\": %llu, \"ignored\": %llu, \"trial_admitted\": %u, \"peak\": %lld, "
      "\"in_flight\": %lld}\n",
      kNames[static_cast<int>(s.state)], static_cast<unsigned long long>(permitted),
      caused.c_str(), transitions.c_str(), static_cast<unsigned long long>(s.permitted),
      static_cast<unsigned long long>(s.rejected), static_cast<unsigned long long>(s.successes),
      static_cast<unsigned long long>(s.failures), static_cast<unsigned long long>(s.ignored),
      s.trial_admitted, static_cast<long long>(peak.load()),
      static_cast<long long>(in_flight.load()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: breaker_threads open|permits|recover\n");
    return 2;
  }
  auto clock = std::make_shared<fugue::ManualClock>(0);
  fugue::BreakerConfig c;
  if (std::strcmp(argv[1], "open") == 0) {
    c.window_size = 100;
    c.minimum_calls = 50;
    c.open_duration = 3600;
    fugue::CircuitBreaker b(c, clock);
    print(b, run(b, 100000, Mode::Failure, false, 0));
  } else if (std::strcmp(argv[1], "permits") == 0) {
    c.window_size = 10;
    c.minimum_calls = 5;
    c.open_duration = 1;
    c.half_open_permits = 3;
    fugue::CircuitBreaker b(c, clock);
    fugue::Transition t;
    for (int i = 0; i < 5; ++i) {
      b.allow(t);
      b.record_failure(-1.0, t);
    }
    clock->advance_ns(1000000000);
    print(b, run(b, 50000, Mode::Ignored, true, 200));
  } else if (std::strcmp(argv[1], "recover") == 0) {
    c.window_size = 1000;
    c.minimum_calls = 1000;
    c.open_duration = 1;
    c.half_open_permits = 4;
    fugue::CircuitBreaker b(c, clock);
    fugue::Transition t;
    b.force_open(1.0, t);
    clock->advance_ns(1000000000);
    print(b, run(b, 20000, Mode::Success, false, 0));
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", argv[1]);
    return 2;
  }
  return 0;
}
