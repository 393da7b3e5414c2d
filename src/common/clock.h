#pragma once

#include "tally/event.h"

namespace tally {

// Wall-clock time in milliseconds since the epoch (CLOCK_REALTIME).
Millis WallClockMillis();

}  // namespace tally
