#include "http/client_address.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

std::vector<Cidr> Trusted(std::string_view list) {
  auto trusted = ParseTrustedProxies(list);
  EXPECT_TRUE(trusted.ok()) << trusted.status().message();
  return trusted.ok() ? *trusted : std::vector<Cidr>{};
}

TEST(Cidr, ContainsTheAddressesOfItsPrefix) {
  const auto trusted = Trusted("10.0.0.0/8, 192.168.1.7,fd00::/8 ,127.0.0.1/32");
  ASSERT_EQ(trusted.size(), 4u);
  EXPECT_TRUE(trusted[0].Contains("10.255.0.1"));
  EXPECT_FALSE(trusted[0].Contains("11.0.0.1"));
  EXPECT_TRUE(trusted[1].Contains("192.168.1.7"));
  EXPECT_FALSE(trusted[1].Contains("192.168.1.8"));
  EXPECT_TRUE(trusted[2].Contains("fd12::1"));
  EXPECT_FALSE(trusted[2].Contains("fe80::1"));
  EXPECT_TRUE(trusted[3].Contains("::ffff:127.0.0.1"));  // IPv4 through an IPv6 socket
  EXPECT_FALSE(trusted[0].Contains("fd12::1"));
  EXPECT_FALSE(trusted[0].Contains("not an address"));
  EXPECT_TRUE(Trusted("172.16.0.0/12")[0].Contains("172.31.255.255"));
  EXPECT_FALSE(Trusted("172.16.0.0/12")[0].Contains("172.32.0.0"));
}

TEST(Cidr, BadNetworksNameTheFlag) {
  for (std::string_view bad :
       {"10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/", "10.0.0.0/x"}) {
    auto parsed = ParseTrustedProxies(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().field(), "--trusted-proxies") << bad;
  }
  EXPECT_TRUE(ParseTrustedProxies("").ok());
}

TEST(ClientAddress, ForwardedForIsBelievedOnlyFromATrustedProxy) {
  const auto trusted = Trusted("10.0.0.0/8");
  // Not from a proxy: the header is anyone's to write.
  EXPECT_EQ(ClientAddress("203.0.113.5", "198.51.100.1", trusted), "203.0.113.5");
  // From the proxy: the address it was called from.
  EXPECT_EQ(ClientAddress("10.0.0.2", "198.51.100.1", trusted), "198.51.100.1");
  // Through two proxies; what the client wrote itself (left of them) is not believed.
  EXPECT_EQ(ClientAddress("10.0.0.2", "1.1.1.1, 198.51.100.1, 10.0.0.3", trusted), "198.51.100.1");
  // A hop that is not an address: the last proxy's word stands.
  EXPECT_EQ(ClientAddress("10.0.0.2", "198.51.100.1, junk", trusted), "10.0.0.2");
  EXPECT_EQ(ClientAddress("10.0.0.2", "", trusted), "10.0.0.2");
  EXPECT_EQ(ClientAddress("10.0.0.2", "198.51.100.1", {}), "10.0.0.2");
}

}  // namespace
}  // namespace tally
