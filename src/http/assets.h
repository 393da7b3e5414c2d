// Static files compiled into tallyd (cmake/embed.cmake writes their definitions from the repository's
// files at build time).
#pragma once

#include <string_view>

namespace tally::assets {

std::string_view OpenApiJson();    // api/openapi.json
std::string_view TrackerJs();      // web/tracker.js
std::string_view DashboardHtml();  // web/dashboard.html

}  // namespace tally::assets
