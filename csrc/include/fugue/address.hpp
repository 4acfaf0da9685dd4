#pragma once
// Process-wide interning of address strings into dense integer ids.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fugue {

using AddrId = uint32_t;

// A thread-safe string <-> id table. Ids are dense, start at 0 and are never
// reused; the table only grows. The one global instance is documented
// process-wide state guarded by its mutex.
class AddressTable {
 public:
  // The process-wide table.
  static AddressTable& global() noexcept;

  // Returns the id of `name`, adding it if new. Throws std::length_error when
  // 2^32 - 1 addresses exist, std::bad_alloc on exhaustion.
  AddrId intern(std::string_view name);

  // Returns the id of `name` or kNoAddr when it was never interned. Never throws.
  AddrId find(std::string_view name) const noexcept;

  // The name of `id` (a copy); empty when `id` is unknown. Throws std::bad_alloc.
  std::string name(AddrId id) const;

  // Number of interned addresses. Never throws.
  std::size_t size() const noexcept;

  static constexpr AddrId kNoAddr = 0xFFFFFFFFu;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, AddrId> ids_;
  std::vector<const std::string*> names_;
};

}  // namespace fugue
