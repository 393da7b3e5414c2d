#pragma once

#include "common/json_writer.h"
#include "tally/event.h"

namespace tally {

// An event as the API shows it; absent optional fields are left out. Leaves the object open so the
// caller may add fields (for example a version's status).
void BeginEventJson(const Event& event, JsonWriter* json);

}  // namespace tally
