#pragma once

#include <string>

#include "views/views.h"

namespace tally {

// The body of GET /analytics: "unique_users,N\nclicks,N\nimpressions,N\n".
std::string FormatTakeHomeAnswer(const TakeHomeCounts& counts);

}  // namespace tally
