// api/openapi.json against the real server: it documents exactly the routes tallyd has (src/http/
// route_table.h), every documented operation answers, and every other method on those paths is a 405.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <utility>

#include "http/route_table.h"
#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

using Operation = std::pair<std::string, std::string>;  // method, path template

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// A concrete target for a path template, with the parameters a handler needs to get past validation.
std::string TargetOf(const std::string& method, const std::string& path) {
  std::string target = path;
  auto replace = [&](const std::string& from, const std::string& to) {
    if (size_t at = target.find(from); at != std::string::npos) target.replace(at, from.size(), to);
  };
  replace("{event_id}", "e1");
  replace("{user_id}", "u1");
  replace("{type}", "click");
  if (method != "GET")
    return path == "/analytics" ? target + "?timestamp=1793527200000&user=u2&click" : target;
  if (path == "/analytics") return target + "?timestamp=1793527200000";
  if (path == "/v1/stats") return target + "?from=1793527200000&to=1793530800000";
  if (path == "/v1/top") return target + "?by=product_id&hours=24";
  return target;
}

std::string BodyOf(const std::string& method, const std::string& path) {
  if (method == "POST" && path == "/v1/events")
    return R"({"type":"click","user_id":"u3","timestamp":1793527200000,"product_id":"p"})";
  if (method == "PUT") return R"({"required":[],"properties":{}})";
  if (method == "POST" && path == "/v1/batch")
    return R"({"batch":[{"type":"track","event":"a","userId":"u4"}]})";
  if (method == "POST" && path.starts_with("/v1/")) return R"({"event":"a","userId":"u4","name":"Home"})";
  if (method == "POST" && path != "/analytics") return R"({"api_key":"k","event":"a","distinct_id":"u5"})";
  return "";
}

TEST(OpenApi, DocumentsExactlyTheServersRoutesAndEachAnswers) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const uint16_t port = server->port();
  ASSERT_EQ(Fetch(port, "POST", "/v1/events",
                  R"({"type":"click","user_id":"u1","timestamp":1793527200000,"event_id":"e1"})")
                ->status,
            200);

  auto response = Fetch(port, "GET", "/v1/openapi.json");
  ASSERT_TRUE(response.has_value());
  ASSERT_EQ(response->status, 200);
  EXPECT_EQ(response->headers["content-type"], "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  ASSERT_EQ(parser.parse(response->body).get(document), simdjson::SUCCESS) << "not valid JSON";
  std::string_view version;
  ASSERT_EQ(document["openapi"].get(version), simdjson::SUCCESS);
  EXPECT_TRUE(version.starts_with("3.")) << version;

  std::set<Operation> documented;
  simdjson::dom::object paths;
  ASSERT_EQ(document["paths"].get(paths), simdjson::SUCCESS);
  for (auto [path, item] : paths) {
    simdjson::dom::object operations;
    ASSERT_EQ(item.get(operations), simdjson::SUCCESS) << path;
    for (auto [method, operation] : operations) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      documented.insert({Upper(std::string(method)), std::string(path)});
      simdjson::dom::object responses;
      EXPECT_EQ(operation["responses"].get(responses), simdjson::SUCCESS) << method << " " << path;
    }
  }
  std::set<Operation> served;
  for (const RouteSpec& route : kRoutes) served.insert({std::string(route.method), std::string(route.path)});
  for (const Operation& operation : served)
    EXPECT_EQ(documented.count(operation), 1u)
        << "not documented: " << operation.first << " " << operation.second;
  for (const Operation& operation : documented)
    EXPECT_EQ(served.count(operation), 1u)
        << "documented, not served: " << operation.first << " " << operation.second;

  std::set<std::string> served_paths;
  for (const Operation& operation : served) served_paths.insert(operation.second);
  for (const std::string& path : served_paths) {
    for (const std::string method : {"GET", "POST", "PUT", "DELETE"}) {
      const std::string target = TargetOf(method, path);
      auto answer = Fetch(port, method, target, BodyOf(method, path));
      ASSERT_TRUE(answer.has_value()) << method << " " << target;
      if (served.count({method, path}) == 0) {
        EXPECT_EQ(answer->status, 405) << method << " " << target << " is answered but not documented";
        continue;
      }
      // Answered by the route's handler: not the router's 404 or 405, and here, with the data set up
      // above, a success.
      EXPECT_GE(answer->status, 200) << method << " " << target;
      EXPECT_LT(answer->status, 300) << method << " " << target << ": " << answer->body;
    }
  }
}

}  // namespace
}  // namespace tally::testing
