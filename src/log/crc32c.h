#pragma once

#include <cstdint>
#include <string_view>

namespace tally {

// CRC-32C (Castagnoli), the checksum of every log record. Uses the SSE4.2 instruction when the CPU has it.
// `previous` is the checksum of the bytes before `data`, for a checksum computed a piece at a time:
// Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(std::string_view data, uint32_t previous = 0);

// The portable table-driven computation, exposed so tests can check both paths agree.
uint32_t Crc32cPortable(std::string_view data, uint32_t previous = 0);

}  // namespace tally
