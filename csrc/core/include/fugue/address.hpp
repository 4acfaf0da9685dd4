#pragma once
// Process-wide interning of address strings into dense integer ids, with
// reference counts so that addresses nothing refers to any more can be
// reclaimed.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fugue {

using AddrId = uint32_t;

// A thread-safe string <-> id table. Ids are dense and start at 0. Each id
// has a reference count: traces hold one reference per recorded choice
// (Trace acquires and releases them). sweep() frees the ids whose count is
// zero, and intern() reuses freed ids, so the table's memory is bounded by
// the addresses still referred to plus what was interned since the last
// sweep. An id returned by intern() or find() stays valid until the next
// sweep() unless a reference is acquired on it: callers that sweep must not
// hold unreferenced ids across the sweep.
//
// Addresses that live as long as the program (the literals of a model) can
// be pinned: a pinned id is never freed and its count is no longer kept, so
// recording it costs a load instead of an atomic add. At most kMaxPinned ids
// are pinned, which bounds what pinning can hold.
//
// The one global instance is documented process-wide state guarded by its
// mutex (the counts are atomic).
class AddressTable {
 public:
  // The process-wide table (never destroyed: traces may outlive static
  // destructors at exit).
  static AddressTable& global() noexcept;

  // Returns the id of `name`, adding it (with no reference) if new. Throws
  // std::length_error when kMaxIds addresses exist, std::bad_alloc on exhaustion.
  AddrId intern(std::string_view name);

  // Returns the id of `name` or kNoAddr when it is not in the table. Never throws.
  AddrId find(std::string_view name) const noexcept;

  // The name of `id` (a copy); empty when `id` is unknown or freed. Throws std::bad_alloc.
  std::string name(AddrId id) const;

  // Adds / drops one reference to a live `id`. Lock-free; never throws.
  // (acquire returns false for a pinned id: nothing was counted.)
  bool acquire(AddrId id) noexcept {
    std::atomic<uint32_t>& c = count(id);
    if (c.load(std::memory_order_relaxed) & kPinned) return false;
    c.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  void release(AddrId id) noexcept {
    std::atomic<uint32_t>& c = count(id);
    if (!(c.load(std::memory_order_relaxed) & kPinned)) c.fetch_sub(1, std::memory_order_release);
  }
  // The number of references to `id` (0 for an unknown id; unspecified for a
  // pinned one). Never throws.
  uint32_t references(AddrId id) const noexcept;

  // Pins a live `id` (see above); false when kMaxPinned ids are pinned
  // already. Never throws.
  bool pin(AddrId id) noexcept;
  // Whether `id` is pinned. Never throws.
  bool pinned(AddrId id) const noexcept;

  // Frees every id without references, appending the freed ids to `freed`.
  // Returns how many were freed. Throws std::bad_alloc (nothing freed then).
  std::size_t sweep(std::vector<AddrId>& freed);

  // Ids in use (interned and not freed). Never throws.
  std::size_t size() const noexcept;
  // Ids pinned. Never throws.
  std::size_t pinned_count() const noexcept;
  // Ids ever handed out, freed ones included (the highest id + 1). Never throws.
  std::size_t capacity() const noexcept;

  static constexpr AddrId kNoAddr = 0xFFFFFFFFu;
  static constexpr std::size_t kMaxPinned = std::size_t(1) << 15;
  static constexpr std::size_t kChunkBits = 12;
  static constexpr std::size_t kMaxIds = std::size_t(1) << 26;

 private:
  static constexpr std::size_t kChunk = std::size_t(1) << kChunkBits;
  static constexpr uint32_t kPinned = 0x80000000u;  // count bit: pinned
  std::atomic<uint32_t>& count(AddrId id) const noexcept {
    return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & (kChunk - 1)];
  }

  mutable std::mutex mu_;
  std::unordered_map<std::string, AddrId> ids_;
  std::vector<const std::string*> names_;  // by id; nullptr when freed
  std::vector<AddrId> free_;
  std::size_t live_ = 0;
  std::size_t pinned_ = 0;
  // Reference counts in chunks of kChunk, allocated as ids grow and never
  // moved, so that acquire/release need no lock.
  std::unique_ptr<std::atomic<std::atomic<uint32_t>*>[]> chunks_{
      new std::atomic<std::atomic<uint32_t>*>[kMaxIds >> kChunkBits]()};
  std::vector<std::unique_ptr<std::atomic<uint32_t>[]>> owned_;
};

namespace detail {
extern AddressTable* const g_address_table;
}  // namespace detail

inline AddressTable& AddressTable::global() noexcept { return *detail::g_address_table; }

}  // namespace fugue
