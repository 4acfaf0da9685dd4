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

Trace::Trace(const Trace& o)
    : slots_(o.slots_.begin(), o.slots_.begin() + static_cast<std::ptrdiff_t>(o.size_)),
      size_(o.size_),
      index_(o.index_),
      indexed_(o.indexed_),
      log_prior_(o.log_prior_),
      log_likelihood_(o.log_likelihood_),
      log_factors_(o.log_factors_) {
  AddressTable& table = AddressTable::global();
  for (const Choice& c : slots_) counted_ |= table.acquire(c.addr);
}

Trace::~Trace() {
  if (!counted_) return;  // only pinned addresses: nothing to give back
  AddressTable& table = AddressTable::global();
  for (const Choice& c : slots_) table.release(c.addr);
}

void Trace::clear() noexcept {
  if (slots_.size() > size_) {
    if (counted_) {
      AddressTable& table = AddressTable::global();
      for (std::size_t k = size_; k < slots_.size(); ++k) table.release(slots_[k].addr);
    }
    slots_.resize(size_);  // trivially destructible: no deallocation
  }
  size_ = 0;
  if (indexed_) {
    std::fill(index_.begin(), index_.end(), kEmpty);
    indexed_ = false;
  }
  log_prior_ = log_likelihood_ = log_factors_ = 0.0;
}

const Choice* Trace::find(AddrId addr) const noexcept {
  if (!indexed_) {
    for (std::size_t k = 0; k < size_; ++k)
      if (slots_[k].addr == addr) return &slots_[k];
    return nullptr;
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t s = slot_of(addr, mask);; s = (s + 1) & mask) {
    uint64_t e = index_[s];
    if (e == kEmpty) return nullptr;
    if (static_cast<AddrId>(e >> 32) == addr) return &slots_[static_cast<uint32_t>(e)];
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
  while (cap < 2 * (size_ + 1)) cap *= 2;
  if (index_.size() < cap) {
    index_.assign(cap, kEmpty);  // grows: an allocation
    count_allocation();
  } else {
    std::fill(index_.begin(), index_.end(), kEmpty);
  }
  for (std::size_t k = 0; k < size_; ++k) index_insert(slots_[k].addr, static_cast<uint32_t>(k));
  indexed_ = true;
}

bool Trace::add(const Choice& c) {
  if (find(c.addr) != nullptr) return false;
  if (size_ < slots_.size()) {
    Choice& slot = slots_[size_];
    if (slot.addr != c.addr) {  // a reused slot usually holds the same address
      AddressTable& table = AddressTable::global();
      counted_ |= table.acquire(c.addr);
      if (counted_) table.release(slot.addr);
    }
    slot = c;
  } else {
    if (slots_.size() == slots_.capacity()) {
      count_allocation();
      // A new trace starts with room for a small model's choices: one
      // allocation instead of one per doubling.
      if (slots_.empty()) slots_.reserve(kInitialSlots);
    }
    slots_.push_back(c);
    counted_ |= AddressTable::global().acquire(c.addr);
  }
  ++size_;
  if (indexed_) {
    if (2 * size_ > index_.size()) {
      rebuild_index();
    } else {
      index_insert(c.addr, static_cast<uint32_t>(size_ - 1));
    }
  } else if (size_ > kLinearLimit) {
    rebuild_index();
  }
  return true;
}

bool Trace::operator==(const Trace& o) const noexcept {
  if (size_ != o.size_) return false;
  auto same = [](double a, double b) { return a == b || (a != a && b != b); };
  if (!same(log_prior_, o.log_prior_) || !same(log_likelihood_, o.log_likelihood_) ||
      !same(log_factors_, o.log_factors_))
    return false;
  for (std::size_t k = 0; k < size_; ++k) {
    const Choice& a = slots_[k];
    const Choice& b = o.slots_[k];
    if (a.addr != b.addr || a.kind != b.kind || a.flags != b.flags || !(a.value == b.value) ||
        !same(a.log_prob, b.log_prob))
      return false;
  }
  return true;
}

}  // namespace fugue
