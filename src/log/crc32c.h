#pragma once

#include <cstdint>
#include <string_view>

namespace tally {

// CRC-32C (Castagnoli), the checksum of every log record. Uses the SSE4.2 instruction when the CPU has it.
uint32_t Crc32c(std::string_view data);

// The portable table-driven computation, exposed so tests can check both paths agree.
uint32_t Crc32cPortable(std::string_view data);

}  // namespace tally
