// libFuzzer target: a block of frozen user sets as a start finds it in the cold chunk file (damaged or
// crafted bytes behind a right checksum). Viewing must never read outside the block: it is either refused,
// or every set in it can be read, counted and combined (AddressSanitizer sees any read past the bytes).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "views/user_sets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Aligned as a view needs (the cold file maps blocks at page boundaries, which are aligned more), and
  // exactly `size` bytes, so that AddressSanitizer sees a read past them.
  constexpr std::align_val_t kAligned{32};
  const auto free_bytes = [](char* at) { ::operator delete(at, kAligned); };
  std::unique_ptr<char, decltype(free_bytes)> bytes(static_cast<char*>(::operator new(size, kAligned)),
                                                    free_bytes);
  if (size > 0) std::memcpy(bytes.get(), data, size);
  auto sets = tally::FrozenUserSets::View({bytes.get(), size});
  if (sets == nullptr) return 0;
  Roaring all = sets->users();
  for (const Roaring& of_type : sets->users_by_type()) {
    all |= of_type;
    if ((of_type & sets->users()).cardinality() > of_type.cardinality()) __builtin_trap();
    if (!of_type.isEmpty() && !of_type.contains(of_type.minimum())) __builtin_trap();
  }
  if (all.cardinality() < sets->users().cardinality()) __builtin_trap();
  return 0;
}
