#include "common/clock.h"

#include <time.h>

namespace tally {

Millis WallClockMillis() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<Millis>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

}  // namespace tally
