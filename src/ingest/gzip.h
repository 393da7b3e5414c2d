// Request bodies sent compressed (Content-Encoding: gzip, or PostHog's compression parameter).
#pragma once

#include <string>
#include <string_view>

#include "tally/status.h"

namespace tally {

// The bytes `compressed` inflates to: one gzip member or several one after the other (RFC 1952).
// Inflating stops as soon as the output would pass `max_bytes` (a TooLarge status naming `body`), so a
// small body that would inflate to gigabytes costs no more than the limit. Anything that is not gzip is an
// InvalidArgument naming `body`.
Result<std::string> Gunzip(std::string_view compressed, size_t max_bytes);

}  // namespace tally
