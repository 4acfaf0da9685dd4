#include "fugue/address.hpp"

#include <stdexcept>

namespace fugue {

AddressTable* const detail::g_address_table = new AddressTable();

AddrId AddressTable::intern(std::string_view name) {
  std::string key(name);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  const bool reuse = !free_.empty();
  const AddrId id = reuse ? free_.back() : static_cast<AddrId>(names_.size());
  if (!reuse) {
    if (names_.size() >= kMaxIds) throw std::length_error("too many distinct addresses");
    if (chunks_[id >> kChunkBits].load(std::memory_order_relaxed) == nullptr) {
      owned_.reserve(owned_.size() + 1);
      owned_.emplace_back(new std::atomic<uint32_t>[kChunk]());
      chunks_[id >> kChunkBits].store(owned_.back().get(), std::memory_order_release);
    }
    names_.reserve(names_.size() + 1);
  }
  auto res = ids_.emplace(std::move(key), id);  // the last step that may throw
  if (reuse) {
    free_.pop_back();
    names_[id] = &res.first->first;
  } else {
    names_.push_back(&res.first->first);
  }
  ++live_;
  return id;
}

AddrId AddressTable::find(std::string_view name) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    auto it = ids_.find(std::string(name));
    return it == ids_.end() ? kNoAddr : it->second;
  } catch (...) {
    return kNoAddr;
  }
}

std::string AddressTable::name(AddrId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return id < names_.size() && names_[id] != nullptr ? *names_[id] : std::string();
}

uint32_t AddressTable::references(AddrId id) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return id < names_.size() ? count(id).load(std::memory_order_acquire) & ~kPinned : 0;
}

bool AddressTable::pin(AddrId id) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (id >= names_.size() || names_[id] == nullptr) return false;
  std::atomic<uint32_t>& c = count(id);
  if (c.load(std::memory_order_relaxed) & kPinned) return true;
  if (pinned_ >= kMaxPinned) return false;
  c.fetch_or(kPinned, std::memory_order_relaxed);
  ++pinned_;
  return true;
}

bool AddressTable::pinned(AddrId id) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return id < names_.size() && (count(id).load(std::memory_order_relaxed) & kPinned) != 0;
}

std::size_t AddressTable::sweep(std::vector<AddrId>& freed) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::size_t before = freed.size();
  std::size_t n = 0;
  for (AddrId id = 0; id < names_.size(); ++id)
    n += names_[id] != nullptr && count(id).load(std::memory_order_acquire) == 0;
  freed.reserve(before + n);
  free_.reserve(free_.size() + n);
  for (AddrId id = 0; id < names_.size(); ++id) {
    if (names_[id] == nullptr || count(id).load(std::memory_order_acquire) != 0) continue;
    ids_.erase(ids_.find(*names_[id]));
    names_[id] = nullptr;
    free_.push_back(id);
    freed.push_back(id);
  }
  live_ -= n;
  return n;
}

std::size_t AddressTable::size() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

std::size_t AddressTable::pinned_count() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return pinned_;
}

std::size_t AddressTable::capacity() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return names_.size();
}

}  // namespace fugue
