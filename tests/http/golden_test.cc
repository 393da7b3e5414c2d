// Runs every scenario file in tests/golden/ against a fresh tallyd. The format, one directive a line:
//
//   # a comment
//   request METHOD TARGET        starts a request
//   header NAME: VALUE           (optional, repeatable)
//   body                         (optional) the lines up to `expect` are the request body
//   expect STATUS                the status the answer must have
//   ----                         (optional) the lines up to a blank line are the expected body
//   restart                      stops tallyd with SIGTERM and starts it again on the same data
//
// Expected and actual bodies are compared with trailing whitespace trimmed. In JSON answers the values
// that differ from run to run are replaced before comparing: server clock times ("received_at",
// "first_seen", "last_seen") become "*", and a server-assigned UUIDv7 becomes "<uuid7>".
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

namespace fs = std::filesystem;

std::string TrimEnd(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

std::string Normalize(const std::string& body) {
  static const std::regex kReceivedAt(R"re("(received_at|first_seen|last_seen)":\d+)re");
  static const std::regex kUuid7(R"("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")");
  return std::regex_replace(std::regex_replace(body, kReceivedAt, R"("$1":"*")"), kUuid7, R"("<uuid7>")");
}

std::vector<std::string> GoldenFiles() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(GOLDEN_DIR)) {
    if (entry.path().extension() == ".test") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, AnswersAsWritten) {
  std::ifstream file(std::string(GOLDEN_DIR) + "/" + GetParam());
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);

  TempDir data;
  const std::vector<std::string> args = {"--data", data.path() + "/data", "--threads", "1"};
  std::string error;
  auto server = TallydProcess::Start(args, &error);
  ASSERT_NE(server, nullptr) << error;

  size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') {
      ++i;
      continue;
    }
    if (line == "restart") {
      ASSERT_EQ(server->Terminate(), 0) << server->Log();
      server = TallydProcess::Start(args, &error);
      ASSERT_NE(server, nullptr) << error;
      ++i;
      continue;
    }
    ASSERT_EQ(line.rfind("request ", 0), 0u)
        << GetParam() << ":" << i + 1 << ": expected a request, got: " << line;
    std::istringstream words(line.substr(8));
    std::string method, target;
    words >> method >> target;
    const size_t request_line = i + 1;
    std::string headers, body;
    ++i;
    while (i < lines.size() && lines[i].rfind("header ", 0) == 0) headers += lines[i++].substr(7) + "\r\n";
    if (i < lines.size() && lines[i] == "body") {
      ++i;
      std::string separator;
      while (i < lines.size() && lines[i].rfind("expect ", 0) != 0) {
        body += separator + lines[i++];
        separator = "\n";
      }
    }
    ASSERT_LT(i, lines.size()) << GetParam() << ":" << request_line << ": request without expect";
    const int expected_status = std::stoi(lines[i].substr(7));
    ++i;
    std::optional<std::string> expected_body;
    if (i < lines.size() && lines[i] == "----") {
      ++i;
      std::string text;
      while (i < lines.size() && !lines[i].empty()) text += lines[i++] + "\n";
      expected_body = TrimEnd(text);
    }

    auto connection = HttpConnection::Connect(server->port());
    ASSERT_NE(connection, nullptr);
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: golden\r\n" + headers;
    if (!body.empty() || method == "POST" || method == "PUT")
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    raw += "\r\n" + body;
    ASSERT_TRUE(connection->SendRaw(raw));
    auto response = connection->ReadResponse(method == "HEAD");
    ASSERT_TRUE(response.has_value()) << GetParam() << ":" << request_line << ": no answer";
    const std::string where = GetParam() + ":" + std::to_string(request_line) + ": " + method + " " + target;
    EXPECT_EQ(response->status, expected_status) << where << "\n" << response->body;
    if (expected_body) {
      EXPECT_EQ(Normalize(TrimEnd(response->body)), *expected_body) << where;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, GoldenTest, ::testing::ValuesIn(GoldenFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           std::replace_if(
                               name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return name;
                         });

}  // namespace
}  // namespace tally::testing
