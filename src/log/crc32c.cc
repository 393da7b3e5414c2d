#include "log/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace tally {
namespace {

constexpr uint32_t kCastagnoliReversed = 0x82F63B78u;

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kCastagnoliReversed : 0u);
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

#if defined(__x86_64__)
// Long inputs (checkpoints, sealed hour files) are checksummed as three streams at once: the instruction
// takes three cycles to give its result and can start one every cycle, so one stream waits on itself two
// cycles in three. Each stream's register is then moved past the bytes after it (the CRC of a register
// followed by kStreamBytes zero bytes, a linear map of the register, four table lookups) and added in.
constexpr size_t kStreamBytes = 4096;

// The CRC register (not inverted) after kStreamBytes zero bytes, as four tables, one per byte of it.
struct ZerosShift {
  std::array<std::array<uint32_t, 256>, 4> by_byte{};

  ZerosShift() {
    // The map is linear: its value on each of the 32 one-bit registers, then on each byte by adding those.
    std::array<uint32_t, 32> of_bit{};
    for (int bit = 0; bit < 32; ++bit) {
      uint32_t crc = 1u << bit;
      for (size_t i = 0; i < kStreamBytes; ++i) crc = kTable[crc & 0xFFu] ^ (crc >> 8);
      of_bit[bit] = crc;
    }
    for (int byte = 0; byte < 4; ++byte) {
      for (uint32_t value = 0; value < 256; ++value) {
        uint32_t shifted = 0;
        for (int bit = 0; bit < 8; ++bit) {
          if ((value >> bit) & 1u) shifted ^= of_bit[8 * byte + bit];
        }
        by_byte[byte][value] = shifted;
      }
    }
  }
  uint32_t operator()(uint32_t crc) const {
    return by_byte[0][crc & 0xFFu] ^ by_byte[1][(crc >> 8) & 0xFFu] ^ by_byte[2][(crc >> 16) & 0xFFu] ^
           by_byte[3][crc >> 24];
  }
};

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t previous, std::string_view data) {
  uint64_t crc = previous ^ 0xFFFFFFFFu;
  const char* p = data.data();
  size_t n = data.size();
  if (n >= 3 * kStreamBytes) {
    static const ZerosShift shift;
    while (n >= 3 * kStreamBytes) {
      uint64_t second = 0, third = 0;
      for (size_t i = 0; i < kStreamBytes; i += 8) {
        uint64_t words[3];
        std::memcpy(&words[0], p + i, 8);
        std::memcpy(&words[1], p + kStreamBytes + i, 8);
        std::memcpy(&words[2], p + 2 * kStreamBytes + i, 8);
        crc = _mm_crc32_u64(crc, words[0]);
        second = _mm_crc32_u64(second, words[1]);
        third = _mm_crc32_u64(third, words[2]);
      }
      crc = shift(static_cast<uint32_t>(crc)) ^ second;
      crc = shift(static_cast<uint32_t>(crc)) ^ third;
      p += 3 * kStreamBytes;
      n -= 3 * kStreamBytes;
    }
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    crc = _mm_crc32_u64(crc, word);
    p += 8;
    n -= 8;
  }
  auto crc32 = static_cast<uint32_t>(crc);
  while (n > 0) {
    crc32 = _mm_crc32_u8(crc32, static_cast<uint8_t>(*p));
    ++p;
    --n;
  }
  return crc32 ^ 0xFFFFFFFFu;
}

bool CpuHasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

uint32_t Crc32cPortable(std::string_view data, uint32_t previous) {
  uint32_t crc = previous ^ 0xFFFFFFFFu;
  for (char c : data) crc = kTable[(crc ^ static_cast<uint8_t>(c)) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t Crc32c(std::string_view data, uint32_t previous) {
#if defined(__x86_64__)
  if (CpuHasSse42()) return Crc32cHardware(previous, data);
#endif
  return Crc32cPortable(data, previous);
}

}  // namespace tally
