#include "http/route_table.h"

#include <gtest/gtest.h>

#include <set>

namespace tally {
namespace {

const RouteSpec* Route(std::string_view method, std::string_view path) {
  auto match = MatchRoute(method, path);
  EXPECT_TRUE(match.ok()) << method << " " << path;
  return match.ok() && match->index >= 0 ? &kRoutes[match->index] : nullptr;
}

Access AccessOf(std::string_view method, std::string_view path) {
  const RouteSpec* route = Route(method, path);
  return route != nullptr ? route->access : Access::kAnyKey;
}

TEST(RouteTable, EachPathAndMethodIsOneRouteAtMost) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const RouteSpec& route : kRoutes) {
    EXPECT_TRUE(seen.insert({route.method, route.path}).second) << route.method << " " << route.path;
    EXPECT_TRUE(route.path.starts_with('/')) << route.path;
    EXPECT_NE(route.handler, nullptr) << route.path;
  }
}

TEST(RouteTable, ParametersArePercentDecodedWholeSegments) {
  auto match = MatchRoute("GET", "/v1/users/a%2Fb%20c/events");
  ASSERT_TRUE(match.ok());
  ASSERT_GE(match->index, 0);
  EXPECT_EQ(kRoutes[match->index].label, RouteLabel::kUserEvents);
  EXPECT_EQ(match->args.params, (std::vector<std::string>{"a/b c"}));
  EXPECT_EQ(match->args.path, "/v1/users/a%2Fb%20c/events");
  // A '+' in a path is itself, whether or not the path also holds an escape (it is copied only then).
  for (std::string_view path : {"/v1/users/a+b/events", "/v1/users/a+%62/events"}) {
    match = MatchRoute("GET", path);
    ASSERT_TRUE(match.ok());
    EXPECT_EQ(match->args.params, (std::vector<std::string>{"a+b"})) << path;
  }
  // Literal segments may be escaped too.
  match = MatchRoute("GET", "/v1/%73tats");
  ASSERT_TRUE(match.ok());
  EXPECT_EQ(kRoutes[match->index].label, RouteLabel::kStats);
  EXPECT_TRUE(match->args.params.empty());
  // An empty parameter is no route.
  match = MatchRoute("GET", "/v1/users//events");
  ASSERT_TRUE(match.ok());
  EXPECT_LT(match->index, 0);
  EXPECT_EQ(match->allow, "");
  // A bad escape names the path.
  EXPECT_EQ(MatchRoute("GET", "/v1/events/%zz").status().message().substr(0, 5), "path:");
}

TEST(RouteTable, AMethodThePathDoesNotHaveGetsTheMethodsItHas) {
  auto match = MatchRoute("PATCH", "/analytics");
  ASSERT_TRUE(match.ok());
  EXPECT_LT(match->index, 0);
  EXPECT_EQ(match->allow, "GET, HEAD, POST");
  match = MatchRoute("POST", "/v1/schemas/click");
  EXPECT_EQ(match->allow, "GET, HEAD, PUT, DELETE");
  match = MatchRoute("GET", "/v1/events");
  EXPECT_EQ(match->allow, "POST");
  match = MatchRoute("DELETE", "/i/v0/e/");
  EXPECT_EQ(match->allow, "POST");
  match = MatchRoute("GET", "/nothing");
  EXPECT_LT(match->index, 0);
  EXPECT_EQ(match->allow, "");
  // HEAD is served wherever GET is.
  EXPECT_NE(Route("HEAD", "/v1/stats"), nullptr);
  EXPECT_EQ(Route("HEAD", "/v1/events"), nullptr);
}

TEST(RouteTable, KeysAreCheckedForTheRouteTheRequestIsServedBy) {
  // An id that spells another path is still an id.
  EXPECT_EQ(AccessOf("GET", "/v1/events/a%2F..%2F..%2Ftracker.js"), Access::kRead);
  EXPECT_EQ(AccessOf("PUT", "/v1/schemas/..%2Ftracker.js"), Access::kAdmin);
  EXPECT_EQ(AccessOf("GET", "/v1/events/a/../../tracker.js"), Access::kAnyKey);  // no such route
  EXPECT_EQ(AccessOf("GET", "/v1/%61dmin/digest"), Access::kAdmin);
  EXPECT_EQ(AccessOf("GET", "/v1/tracker.js"), Access::kPublic);
  EXPECT_EQ(AccessOf("GET", "/v1/%74racker.js"), Access::kPublic);
  EXPECT_EQ(AccessOf("GET", "/v1/openapi.json"), Access::kPublic);
  EXPECT_EQ(AccessOf("GET", "/healthz"), Access::kPublic);
  EXPECT_EQ(AccessOf("GET", "/readyz"), Access::kPublic);
  EXPECT_EQ(AccessOf("GET", "/"), Access::kPublic);
  EXPECT_EQ(AccessOf("POST", "/v1/events"), Access::kIngest);
  EXPECT_EQ(AccessOf("POST", "/analytics"), Access::kIngest);
  EXPECT_EQ(AccessOf("GET", "/analytics"), Access::kRead);
  EXPECT_EQ(AccessOf("GET", "/metrics"), Access::kRead);
  EXPECT_EQ(AccessOf("DELETE", "/v1/schemas/x"), Access::kAdmin);
  EXPECT_EQ(AccessOf("PATCH", "/v1/events"), Access::kAnyKey);
  // Where a key may come from besides the header.
  EXPECT_EQ(Route("POST", "/v1/events")->key_from, KeyFrom::kHeaderOrQuery);
  EXPECT_EQ(Route("POST", "/v1/batch")->key_from, KeyFrom::kHeaderOrBody);
  EXPECT_EQ(Route("POST", "/capture/")->key_from, KeyFrom::kHeaderOrBody);
  EXPECT_EQ(Route("POST", "/analytics")->key_from, KeyFrom::kHeader);
  EXPECT_EQ(Route("GET", "/v1/stats")->key_from, KeyFrom::kHeader);
}

TEST(RouteTable, ResponsesAreLabelledByTheRouteOfTheirPath) {
  EXPECT_EQ(RouteOfPath("/v1/events/e1")->label, RouteLabel::kEvent);
  EXPECT_EQ(RouteOfPath("/v1/events")->label, RouteLabel::kEvents);
  EXPECT_EQ(RouteOfPath("/e/")->label, RouteLabel::kPostHog);
  EXPECT_EQ(RouteOfPath("/")->errors, ErrorStyle::kText);
  EXPECT_EQ(RouteOfPath("/v1/schemas/x")->errors, ErrorStyle::kJson);
  EXPECT_EQ(RouteOfPath("/x"), nullptr);
  EXPECT_EQ(RouteOfPath("/a/b/c/d/e/f/g/h/i/j"), nullptr);
}

}  // namespace
}  // namespace tally
