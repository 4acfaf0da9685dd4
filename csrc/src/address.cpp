#include "fugue/address.hpp"

#include <stdexcept>

namespace fugue {

AddressTable& AddressTable::global() noexcept {
  static AddressTable table;
  return table;
}

AddrId AddressTable::intern(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(std::string(name));
  if (it != ids_.end()) return it->second;
  if (names_.size() >= kNoAddr) throw std::length_error("too many distinct addresses");
  AddrId id = static_cast<AddrId>(names_.size());
  auto res = ids_.emplace(std::string(name), id);
  names_.push_back(&res.first->first);
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
  return id < names_.size() ? *names_[id] : std::string();
}

std::size_t AddressTable::size() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return names_.size();
}

}  // namespace fugue
