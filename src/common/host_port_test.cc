#include "common/host_port.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

HostPort Parsed(std::string_view text, HostPortFor use = HostPortFor::kConnecting) {
  auto parsed = ParseHostPort(text, "--server", use);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().message();
  return parsed.ok() ? *parsed : HostPort{};
}

// The message of the refusal of `text`, which must be an invalid argument naming the flag.
std::string Refusal(std::string_view text, HostPortFor use = HostPortFor::kConnecting) {
  auto parsed = ParseHostPort(text, "--flag", use);
  EXPECT_FALSE(parsed.ok()) << text << " was accepted as " << parsed->host << " port " << parsed->port;
  if (parsed.ok()) return {};
  EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument) << text;
  EXPECT_EQ(parsed.status().field(), "--flag") << text;
  EXPECT_EQ(parsed.status().message().rfind("--flag: ", 0), 0u) << parsed.status().message();
  return parsed.status().message();
}

bool Mentions(const std::string& message, std::string_view words) {
  return message.find(words) != std::string::npos;
}

TEST(HostPort, AcceptsNamesIpv4AndBracketedIpv6) {
  for (const auto use : {HostPortFor::kConnecting, HostPortFor::kListening}) {
    HostPort parsed = Parsed("localhost:8080", use);
    EXPECT_EQ(parsed.host, "localhost");
    EXPECT_EQ(parsed.port, 8080);
    parsed = Parsed("db.example.com:80", use);
    EXPECT_EQ(parsed.host, "db.example.com");
    EXPECT_EQ(parsed.port, 80);
    parsed = Parsed("127.0.0.1:65535", use);
    EXPECT_EQ(parsed.host, "127.0.0.1");
    EXPECT_EQ(parsed.port, 65535);
    parsed = Parsed("[::1]:8080", use);
    EXPECT_EQ(parsed.host, "::1") << "the brackets are not part of the address";
    EXPECT_EQ(parsed.port, 8080);
    parsed = Parsed("[fe80::1%eth0]:1", use);
    EXPECT_EQ(parsed.host, "fe80::1%eth0") << "a zone is left to the resolver";
    EXPECT_EQ(parsed.port, 1);
  }
}

TEST(HostPort, ListeningTakesAnEmptyHostAsEveryInterfaceAndPortZero) {
  HostPort every_interface = Parsed(":8080", HostPortFor::kListening);
  EXPECT_EQ(every_interface.host, "0.0.0.0");
  EXPECT_EQ(every_interface.port, 8080);
  HostPort any_free_port = Parsed("127.0.0.1:0", HostPortFor::kListening);
  EXPECT_EQ(any_free_port.host, "127.0.0.1");
  EXPECT_EQ(any_free_port.port, 0);
  EXPECT_EQ(Parsed("[::]:0", HostPortFor::kListening).host, "::");
}

TEST(HostPort, ConnectingNeedsAHostAndANonZeroPort) {
  EXPECT_TRUE(Mentions(Refusal(":8080"), "a host is needed")) << Refusal(":8080");
  EXPECT_TRUE(Mentions(Refusal("localhost:0"), "from 1 to 65535")) << Refusal("localhost:0");
}

TEST(HostPort, RefusesTextWithoutAColon) {
  for (const auto use : {HostPortFor::kConnecting, HostPortFor::kListening}) {
    for (std::string_view text : {"localhost", "8080", ""}) {
      const std::string message = Refusal(text, use);
      EXPECT_TRUE(Mentions(message, "expected HOST:PORT")) << message;
      const std::string quoted = std::string("'").append(text).append("'");
      EXPECT_TRUE(Mentions(message, quoted)) << "quotes what it was given: " << message;
    }
  }
}

TEST(HostPort, RefusesMissingNonNumericAndOutOfRangePorts) {
  for (const auto use : {HostPortFor::kConnecting, HostPortFor::kListening}) {
    const std::string range = use == HostPortFor::kConnecting ? "from 1 to 65535" : "from 0 to 65535";
    for (std::string_view text :
         {"localhost:", "[::1]:", "localhost:http", "localhost:80a", "localhost:+80", "localhost:-1",
          "localhost: 80", "localhost:65536", "localhost:99999", "localhost:18446744073709551617"}) {
      const std::string message = Refusal(text, use);
      EXPECT_TRUE(Mentions(message, "the port must be a number " + range)) << text << ": " << message;
    }
  }
}

TEST(HostPort, RefusesUnbracketedIpv6AsAmbiguous) {
  for (std::string_view text : {"::1:8080", "fe80::1:80", "::1", "a:b:80"}) {
    const std::string message = Refusal(text);
    EXPECT_TRUE(Mentions(message, "ambiguous")) << message;
    EXPECT_TRUE(Mentions(message, "[::1]:8080")) << "shows the bracketed form: " << message;
  }
}

TEST(HostPort, RefusesBracketsThatDoNotCloseOrEncloseTheWholeHost) {
  EXPECT_TRUE(Mentions(Refusal("[::1:8080"), "no ']' closes")) << Refusal("[::1:8080");
  EXPECT_TRUE(Mentions(Refusal("[::1"), "no ']' closes")) << Refusal("[::1");
  EXPECT_TRUE(Mentions(Refusal("[::1]"), "expected ':' and a port after the ']'")) << Refusal("[::1]");
  EXPECT_TRUE(Mentions(Refusal("[::1]8080"), "expected ':' and a port after the ']'"))
      << Refusal("[::1]8080");
  EXPECT_TRUE(Mentions(Refusal("[::1]]:8080"), "expected ':' and a port after the ']'"));
  EXPECT_TRUE(Mentions(Refusal("[[::1]:8080"), "brackets must enclose the whole host"));
  EXPECT_TRUE(Mentions(Refusal("local]host:8080"), "brackets must enclose the whole host"));
  EXPECT_TRUE(Mentions(Refusal("[localhost]:8080"), "brackets hold an IPv6 address"));
  EXPECT_TRUE(Mentions(Refusal("[]:8080", HostPortFor::kListening), "brackets hold an IPv6 address"))
      << "an empty host is written without brackets";
}

TEST(HostPort, RefusesAUrlSayingToLeaveOutTheScheme) {
  const std::string message = Refusal("http://localhost:8080");
  EXPECT_TRUE(Mentions(message, "leave out the scheme")) << message;
}

TEST(HostPort, FormatsWhatItParsesBack) {
  for (std::string_view text : {"localhost:8080", "127.0.0.1:0", "[::1]:8080", "[fe80::1%eth0]:1"}) {
    auto parsed = ParseHostPort(text, "--listen", HostPortFor::kListening);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_EQ(FormatHostPort(*parsed), text);
  }
  EXPECT_EQ(FormatHostPort({"0.0.0.0", 8080}), "0.0.0.0:8080");
}

}  // namespace
}  // namespace tally
