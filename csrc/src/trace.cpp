#include "fugue/trace.hpp"

#include <cstring>

namespace fugue {
namespace {
std::atomic<uint64_t> g_buffer_allocations{0};

inline void count_allocation() noexcept { g_buffer_allocations.fetch_add(1, std::memory_order_relaxed); }

inline std::size_t slot_of(AddrId addr, std::size_t mask) noexcept {
  return (static_cast<uint64_t>(addr) * 0x9E3779B97F4A7C15ull >> 32) & mask;
}
}  // namespace

uint64_t Trace::buffer_allocations() noexcept { return g_buffer_allocations.load(std::memory_order_relaxed); }


void Trace::clear() noexcept {
  choices_.clear();
  if (indexed_) {
    std::fill(index_.begin(), index_.end(), kEmpty);
    indexed_ = false;
  }
  log_prior_ = log_likelihood_ = log_factors_ = 0.0;
}

const Choice* Trace::find(AddrId addr) const noexcept {
  if (!indexed_) {
    for (const Choice& c : choices_)
      if (c.addr == addr) return &c;
    return nullptr;
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t s = slot_of(addr, mask);; s = (s + 1) & mask) {
    uint64_t e = index_[s];
    if (e == kEmpty) return nullptr;
    if (static_cast<AddrId>(e >> 32) == addr) return &choices_[static_cast<uint32_t>(e)];
  }
}

void Trace::index_insert(AddrId addr, uint32_t pos) noexcept {
  const std::size_t mask = index_.size() - 1;
  std::size_t s = slot_of(addr, mask);
  while (index_[s] != kEmpty) s = (s + 1) & mask;
  index_[s] = (static_cast<uint64_t>(addr) << 32) | pos;
}

void Trace::rebuild_index() {
  std::size_t cap = 64;
  while (cap < 2 * (choices_.size() + 1)) cap *= 2;
  if (index_.size() < cap) {
    index_.assign(cap, kEmpty);  // grows: an allocation
    count_allocation();
  } else {
    std::fill(index_.begin(), index_.end(), kEmpty);
  }
  for (std::size_t k = 0; k < choices_.size(); ++k) index_insert(choices_[k].addr, static_cast<uint32_t>(k));
  indexed_ = true;
}

bool Trace::add(const Choice& c) {
  if (find(c.addr) != nullptr) return false;
  if (choices_.size() == choices_.capacity()) count_allocation();
  choices_.push_back(c);
  if (indexed_) {
    if (2 * choices_.size() > index_.size()) {
      rebuild_index();
    } else {
      index_insert(c.addr, static_cast<uint32_t>(choices_.size() - 1));
    }
  } else if (choices_.size() > kLinearLimit) {
    rebuild_index();
  }
  return true;
}

bool Trace::operator==(const Trace& o) const noexcept {
  if (choices_.size() != o.choices_.size()) return false;
  auto same = [](double a, double b) { return a == b || (a != a && b != b); };
  if (!same(log_prior_, o.log_prior_) || !same(log_likelihood_, o.log_likelihood_) ||
      !same(log_factors_, o.log_factors_))
    return false;
  for (std::size_t k = 0; k < choices_.size(); ++k) {
    const Choice& a = choices_[k];
    const Choice& b = o.choices_[k];
    if (a.addr != b.addr || a.kind != b.kind || a.flags != b.flags || !(a.value == b.value) ||
        !same(a.log_prob, b.log_prob))
      return false;
  }
  return true;
}

}  // namespace fugue
