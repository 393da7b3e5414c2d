// libFuzzer target: a block of frozen user sets as a start finds it in the cold chunk file (damaged or
// crafted bytes behind a right checksum). Viewing must never read outside the block: it is either refused,
// or every set in it can be read, counted and combined (AddressSanitizer sees any read past the bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "views/user_sets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // At a page boundary, as the cold file maps a block; exactly `size` bytes, so that a read past them is
  // seen.
  std::unique_ptr<char, decltype(&std::free)> bytes(
      static_cast<char*>(std::aligned_alloc(4096, (size + 4095) / 4096 * 4096)), &std::free);
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
