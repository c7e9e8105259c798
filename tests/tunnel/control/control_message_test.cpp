// Codec tests: every encode_*/decode_* pair round-trips; every truncation of every message is
// rejected (never crashes, never half-decodes); duplicates, missing and out-of-range values are
// typed errors; unknown attributes are skipped or kept for Configure-Reject as documented.
#include "tunnel/control/control_message.hpp"

#include <gtest/gtest.h>

namespace postern::tunnel::control {
namespace {

std::span<const std::uint8_t> body_of(const std::vector<std::uint8_t>& msg) {
  return std::span<const std::uint8_t>(msg).subspan(kHeaderSize);
}

// The control channel's addresses are the common vocabulary (common/ip_address.hpp, tested in
// tests/common); these are the properties the IPCP options rely on.
TEST(Ipv4, ParseAndFormat) {
  EXPECT_EQ(IpAddress::parse("10.77.0.1")->to_v4_uint(), 0x0a4d0001u);
  EXPECT_EQ(IpAddress::parse("255.255.255.255")->to_string(), "255.255.255.255");
  for (auto bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..2.3"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
  auto c = IpPrefix::parse("10.77.0.0/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->to_string(), "10.77.0.0/24");
  EXPECT_TRUE(c->contains(*IpAddress::parse("10.77.0.200")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("10.77.1.1")));
  EXPECT_TRUE(IpPrefix::parse("10.77.0.1/24")->has_host_bits());  // host bits (refused on the wire below)
  EXPECT_FALSE(IpPrefix::parse("10.77.0.0/33"));
  EXPECT_EQ(IpPrefix::parse("0.0.0.0/0")->netmask().to_v4_uint(), 0u);
}

TEST(ControlMessage, HeaderLayout) {
  auto msg = encode_auth_ok();
  EXPECT_EQ(msg, (std::vector<std::uint8_t>{2, 0, 0}));
  msg = encode_echo(MessageType::echo_request, {0x01020304, 0xa0b0c0d0});
  ASSERT_EQ(msg.size(), 3u + 2 * 7);
  EXPECT_EQ(msg[0], 13);
  EXPECT_EQ(msg[1], 0);
  EXPECT_EQ(msg[2], 14);
  EXPECT_EQ((std::vector<std::uint8_t>(msg.begin() + 3, msg.begin() + 10)),
            (std::vector<std::uint8_t>{64, 0, 4, 1, 2, 3, 4}));
}

Hello sample_hello() {
  Hello h;
  h.session_id = 0xabcdef;
  h.user = "alice";
  h.password = SecretBytes(std::string_view("s3cret"));
  h.ciphers = {2, 1, 99};
  h.previous_address = IpAddress::v4({10, 77, 0, 9});
  return h;
}

TEST(ControlMessage, HelloRoundTrip) {
  auto msg = encode_hello(sample_hello());
  Hello out;
  ASSERT_FALSE(decode_hello(body_of(msg), out));
  EXPECT_EQ(out.version, kProtocolVersion);
  EXPECT_EQ(out.session_id, 0xabcdefu);
  EXPECT_EQ(out.user, "alice");
  EXPECT_EQ(out.password.view(), "s3cret");
  EXPECT_EQ(out.ciphers, (std::vector<std::uint8_t>{2, 1, 99}));
  EXPECT_EQ(out.previous_address, IpAddress::v4({10, 77, 0, 9}));
}

TEST(ControlMessage, HelloMinimalAndMissing) {
  Hello h;
  h.session_id = 7;
  Hello out;
  ASSERT_FALSE(decode_hello(body_of(encode_hello(h)), out));
  EXPECT_FALSE(out.user);
  EXPECT_TRUE(out.password.empty());
  // Only a version attribute: session id missing.
  std::vector<std::uint8_t> body{1, 0, 2, 0, 1};
  EXPECT_EQ(decode_hello(body, out), errc::missing_attribute);
}

TEST(ControlMessage, HelloErrors) {
  Hello out;
  // Duplicate version.
  std::vector<std::uint8_t> dup{1, 0, 2, 0, 1, 1, 0, 2, 0, 1, 2, 0, 3, 0, 0, 1};
  EXPECT_EQ(decode_hello(dup, out), errc::duplicate_attribute);
  // Session id of 4 octets.
  std::vector<std::uint8_t> badlen{1, 0, 2, 0, 1, 2, 0, 4, 0, 0, 0, 1};
  EXPECT_EQ(decode_hello(badlen, out), errc::bad_attribute_length);
  // Empty user.
  std::vector<std::uint8_t> empty_user{1, 0, 2, 0, 1, 2, 0, 3, 0, 0, 1, 3, 0, 0};
  EXPECT_EQ(decode_hello(empty_user, out), errc::bad_attribute_length);
  // Unknown attribute 200 is skipped.
  std::vector<std::uint8_t> unknown{1, 0, 2, 0, 1, 200, 0, 1, 9, 2, 0, 3, 0, 0, 1};
  EXPECT_FALSE(decode_hello(unknown, out));
  EXPECT_EQ(out.session_id, 1u);
}

TEST(ControlMessage, EveryTruncationIsRejected) {
  Hello h = sample_hello();
  LcpOptions lcp{1400, 10, 60, {{99, {1, 2}}}};
  IpcpOptions ipcp;
  ipcp.address = IpAddress::v4({10, 0, 0, 2});
  ipcp.prefix_len = 24;
  ipcp.server_address = IpAddress::v4({10, 0, 0, 1});
  ipcp.dns = {IpAddress::v4({9, 9, 9, 9})};
  ipcp.routes = {*IpPrefix::parse("192.168.0.0/16")};
  ipcp.domains = {*dns::parse_domain("site.example"), *dns::parse_domain("~corp")};
  DataChannel dc{0x123456, 51820, 1, 3600, 1u << 30};
  std::vector<std::vector<std::uint8_t>> msgs{encode_hello(h), encode_lcp(MessageType::lcp_configure_request, lcp),
                                              encode_ipcp(MessageType::ipcp_configure_nak, ipcp),
                                              encode_data_channel(dc), encode_echo(MessageType::echo_reply, {1, 2}),
                                              encode_terminate("bye")};
  for (const auto& msg : msgs) {
    auto body = body_of(msg);
    for (std::size_t cut = 1; cut < body.size(); ++cut) {
      auto part = body.first(cut);
      // A cut inside an attribute is `truncated`; a cut on an attribute boundary may leave a
      // valid message only if the dropped attributes were optional.
      std::error_code ec;
      switch (static_cast<MessageType>(msg[0])) {
        case MessageType::hello: { Hello o; ec = decode_hello(part, o); break; }
        case MessageType::lcp_configure_request: { LcpOptions o; ec = decode_lcp(part, o); break; }
        case MessageType::ipcp_configure_nak: { IpcpOptions o; ec = decode_ipcp(part, o); break; }
        case MessageType::data_channel: { DataChannel o; ec = decode_data_channel(part, o); break; }
        case MessageType::echo_reply: { Echo o; ec = decode_echo(part, o); break; }
        default: { std::string o; ec = decode_reason(part, o); break; }
      }
      bool boundary = false;
      for (std::size_t at = 0; at <= cut;) {
        if (at == cut) { boundary = true; break; }
        at += 3 + ((std::size_t{body[at + 1]} << 8) | body[at + 2]);
      }
      if (!boundary) {
        EXPECT_EQ(ec, errc::truncated) << to_string(static_cast<MessageType>(msg[0])) << " cut " << cut;
      }
    }
  }
}

TEST(ControlMessage, LcpRoundTripKeepsUnknown) {
  LcpOptions o{1300, 5, 30, {{99, {1, 2, 3}}, {3, {}}}};  // 3 (user) is foreign to LCP: unknown
  LcpOptions out;
  ASSERT_FALSE(decode_lcp(body_of(encode_lcp(MessageType::lcp_configure_request, o)), out));
  EXPECT_EQ(out, o);
  std::vector<std::uint8_t> dup{16, 0, 2, 5, 0, 16, 0, 2, 5, 0};
  EXPECT_EQ(decode_lcp(dup, out), errc::duplicate_attribute);
  std::vector<std::uint8_t> badlen{16, 0, 1, 5};
  EXPECT_EQ(decode_lcp(badlen, out), errc::bad_attribute_length);
}

TEST(ControlMessage, IpcpRoundTripAndRanges) {
  IpcpOptions o;
  o.address = IpAddress::v4({10, 1, 2, 3});
  o.prefix_len = 24;
  o.server_address = IpAddress::v4({10, 1, 2, 1});
  o.dns = {IpAddress::v4({1, 1, 1, 1}), IpAddress::v4({8, 8, 8, 8})};
  o.routes = {*IpPrefix::parse("0.0.0.0/0"), *IpPrefix::parse("172.16.0.0/12")};
  IpcpOptions out;
  ASSERT_FALSE(decode_ipcp(body_of(encode_ipcp(MessageType::ipcp_configure_ack, o)), out));
  EXPECT_EQ(out, o);
  std::vector<std::uint8_t> prefix33{33, 0, 1, 33};
  EXPECT_EQ(decode_ipcp(prefix33, out), errc::bad_value);
  std::vector<std::uint8_t> route_hostbits{36, 0, 5, 10, 0, 0, 1, 24};
  EXPECT_EQ(decode_ipcp(route_hostbits, out), errc::bad_value);
  std::vector<std::uint8_t> many_dns;
  for (std::size_t i = 0; i <= kMaxRepeated; ++i) many_dns.insert(many_dns.end(), {35, 0, 4, 1, 1, 1, 1});
  EXPECT_EQ(decode_ipcp(many_dns, out), errc::bad_value);
}

// Golden bytes: the domain attribute (37) is the name as text, "~" kept for routing-only ones,
// after the DNS servers and routes.
TEST(ControlMessage, IpcpDomainsGolden) {
  IpcpOptions o;
  o.dns = {IpAddress::v4({10, 77, 0, 1})};
  o.domains = {*dns::parse_domain("site.test"), *dns::parse_domain("~in.site")};
  auto msg = encode_ipcp(MessageType::ipcp_configure_nak, o);
  std::vector<std::uint8_t> golden{10, 0, 30,                                               // IPCP NAK, 30 octets
                                   35, 0, 4, 10, 77, 0, 1,                                  // dns
                                   37, 0, 9, 's', 'i', 't', 'e', '.', 't', 'e', 's', 't',   // domain
                                   37, 0, 8, '~', 'i', 'n', '.', 's', 'i', 't', 'e'};       // domain
  EXPECT_EQ(msg, golden);
  IpcpOptions out;
  ASSERT_FALSE(decode_ipcp(body_of(golden), out));
  EXPECT_EQ(out, o);
  EXPECT_FALSE(out.domains[0].routing_only);
  EXPECT_TRUE(out.domains[1].routing_only);
}

TEST(ControlMessage, IpcpDomainLimits) {
  IpcpOptions out;
  auto attr = [](std::string_view text) {
    std::vector<std::uint8_t> v{37, static_cast<std::uint8_t>(text.size() >> 8), static_cast<std::uint8_t>(text.size())};
    v.insert(v.end(), text.begin(), text.end());
    return v;
  };
  // Upper case is accepted and stored lower case (a NAK echoed back still compares equal).
  ASSERT_FALSE(decode_ipcp(attr("Site.Example"), out));
  EXPECT_EQ(out.domains.at(0).name, "site.example");
  for (std::string_view bad : {"", "~", "a..b", "-x.y_z", "a.b.", "~.", "a b"}) {
    auto ec = decode_ipcp(attr(bad), out);
    EXPECT_TRUE(ec == errc::bad_value || ec == errc::bad_attribute_length) << bad;
  }
  std::string longest = "~" + std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                        std::string(61, 'd');  // "~" + 253
  ASSERT_FALSE(decode_ipcp(attr(longest), out));
  EXPECT_EQ(decode_ipcp(attr(longest + "d"), out), errc::bad_attribute_length);
  std::vector<std::uint8_t> many;
  for (std::size_t i = 0; i <= kMaxDomains; ++i) {
    auto a = attr("d" + std::to_string(i) + ".example");
    many.insert(many.end(), a.begin(), a.end());
  }
  EXPECT_EQ(decode_ipcp(many, out), errc::bad_value);
  // The encoder never writes more than a decoder takes.
  IpcpOptions o;
  for (std::size_t i = 0; i <= kMaxDomains; ++i) o.domains.push_back({"d" + std::to_string(i) + ".example", false});
  ASSERT_FALSE(decode_ipcp(body_of(encode_ipcp(MessageType::ipcp_configure_nak, o)), out));
  EXPECT_EQ(out.domains.size(), kMaxDomains);
}

// The client's accounting session id (attribute 38): round-trips; only 1..64 of [0-9A-Za-z._-],
// once (it goes into RADIUS and the server's log).
TEST(ControlMessage, IpcpAccountingSession) {
  IpcpOptions o;
  o.address = IpAddress::from_v4_uint(0);
  o.accounting_session = "00c0ffee00c0ffee";
  IpcpOptions out;
  ASSERT_FALSE(decode_ipcp(body_of(encode_ipcp(MessageType::ipcp_configure_request, o)), out));
  EXPECT_EQ(out, o);
  EXPECT_TRUE(out.unknown.empty());
  auto attr = [](std::string_view text) {
    std::vector<std::uint8_t> v{38, static_cast<std::uint8_t>(text.size() >> 8), static_cast<std::uint8_t>(text.size())};
    v.insert(v.end(), text.begin(), text.end());
    return v;
  };
  for (std::string_view good : {"a", "A-b_c.9", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) {
    ASSERT_FALSE(decode_ipcp(attr(good), out)) << good;
    EXPECT_EQ(out.accounting_session, std::string(good));
  }
  for (std::string_view bad : {"", "a b", "a\"\"", "id\n", "caf\xc3\xa9", "x;y", "%u",
                               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"}) {
    EXPECT_EQ(decode_ipcp(attr(bad), out), errc::bad_value) << bad;
  }
  auto twice = attr("a");
  auto again = attr("b");
  twice.insert(twice.end(), again.begin(), again.end());
  EXPECT_EQ(decode_ipcp(twice, out), errc::duplicate_attribute);
}

// IPv6 attributes (39-43): round trip with both families interleaved in the shared lists, golden
// bytes, every wrong length and every value a type cannot hold.
TEST(ControlMessage, Ipcp6RoundTripKeepsListOrder) {
  IpcpOptions o;
  o.address = IpAddress::v4({10, 1, 2, 3});
  o.prefix_len = 24;
  o.server_address = IpAddress::v4({10, 1, 2, 1});
  o.address6 = *IpAddress::parse("fd00:77::2");
  o.prefix6_len = 112;
  o.server_address6 = *IpAddress::parse("fd00:77::1");
  o.dns = {*IpAddress::parse("fd00:77::1"), IpAddress::v4({1, 1, 1, 1}), *IpAddress::parse("2001:db8::53")};
  o.routes = {*IpPrefix::parse("::/0"), *IpPrefix::parse("172.16.0.0/12"), *IpPrefix::parse("2001:db8:1::/48"),
              *IpPrefix::parse("fd00:77::5/128")};
  IpcpOptions out;
  ASSERT_FALSE(decode_ipcp(body_of(encode_ipcp(MessageType::ipcp_configure_nak, o)), out));
  EXPECT_EQ(out, o);
  EXPECT_TRUE(out.unknown.empty());
  EXPECT_TRUE(out.has_ipv6());
  IpcpOptions v4 = out.without_ipv6();
  EXPECT_FALSE(v4.has_ipv6());
  EXPECT_EQ(v4.dns.size(), 1u);
  EXPECT_EQ(v4.routes.size(), 1u);
  EXPECT_EQ(v4.address, o.address);
}

TEST(ControlMessage, Ipcp6Golden) {
  IpcpOptions o;
  o.address6 = *IpAddress::parse("fd00::2");
  o.prefix6_len = 64;
  o.dns = {*IpAddress::parse("fd00::1")};
  o.routes = {*IpPrefix::parse("2001:db8::/32")};
  std::vector<std::uint8_t> golden{11, 0, 62,                                                  // IPCP REJECT
                                   39, 0, 16, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,  // address6
                                   40, 0, 1, 64,                                               // prefix6_len
                                   42, 0, 16, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,  // dns6
                                   43, 0, 17, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32};  // route6
  EXPECT_EQ(encode_ipcp(MessageType::ipcp_configure_reject, o), golden);
  IpcpOptions out;
  ASSERT_FALSE(decode_ipcp(body_of(golden), out));
  EXPECT_EQ(out, o);
}

TEST(ControlMessage, Ipcp6MalformedLengthsAndValues) {
  auto attr = [](std::uint8_t type, std::vector<std::uint8_t> value) {
    std::vector<std::uint8_t> v{type, static_cast<std::uint8_t>(value.size() >> 8), static_cast<std::uint8_t>(value.size())};
    v.insert(v.end(), value.begin(), value.end());
    return v;
  };
  const std::vector<std::uint8_t> addr(16, 0x20);  // 2020:2020:...: a unicast address
  IpcpOptions out;
  // Every length but the right one, for each attribute.
  struct Attr6 {
    std::uint8_t type;
    std::size_t len;
  };
  for (Attr6 a : {Attr6{39, 16}, Attr6{40, 1}, Attr6{41, 16}, Attr6{42, 16}, Attr6{43, 17}}) {
    for (std::size_t len = 0; len <= 20; ++len) {
      std::vector<std::uint8_t> value(len, 0x20);
      if (a.type == 40 && len == 1) value[0] = 64;
      if (a.type == 43 && len == 17) value[16] = 128;
      auto ec = decode_ipcp(attr(a.type, value), out);
      if (len == a.len) {
        EXPECT_FALSE(ec) << int(a.type) << " len " << len;
      } else {
        EXPECT_EQ(ec, errc::bad_attribute_length) << int(a.type) << " len " << len;
      }
    }
  }
  // Values: prefix lengths above 128, host bits in a route, :: and multicast DNS servers.
  EXPECT_EQ(decode_ipcp(attr(40, {129}), out), errc::bad_value);
  ASSERT_FALSE(decode_ipcp(attr(40, {128}), out));
  std::vector<std::uint8_t> route = addr;
  route.push_back(129);
  EXPECT_EQ(decode_ipcp(attr(43, route), out), errc::bad_value);
  route.back() = 64;  // 2020:2020:2020:2020:2020:... has host bits below /64
  EXPECT_EQ(decode_ipcp(attr(43, route), out), errc::bad_value);
  route.assign(16, 0);
  route[0] = 0x20;
  route.push_back(8);
  ASSERT_FALSE(decode_ipcp(attr(43, route), out));
  EXPECT_EQ(out.routes.at(0).to_string(), "2000::/8");
  EXPECT_EQ(decode_ipcp(attr(42, std::vector<std::uint8_t>(16, 0)), out), errc::bad_value);
  std::vector<std::uint8_t> multicast(16, 0);
  multicast[0] = 0xff;
  multicast[1] = 0x02;
  multicast[15] = 1;
  EXPECT_EQ(decode_ipcp(attr(42, multicast), out), errc::bad_value);
  // Duplicates of the single-valued ones.
  for (std::uint8_t type : {std::uint8_t{39}, std::uint8_t{41}}) {
    auto twice = attr(type, addr);
    auto second = attr(type, addr);
    twice.insert(twice.end(), second.begin(), second.end());
    EXPECT_EQ(decode_ipcp(twice, out), errc::duplicate_attribute);
  }
  auto twice = attr(40, {64});
  twice.insert(twice.end(), {40, 0, 1, 64});
  EXPECT_EQ(decode_ipcp(twice, out), errc::duplicate_attribute);
  // The repeat limit counts both families together.
  std::vector<std::uint8_t> many;
  for (std::size_t i = 0; i < kMaxRepeated; ++i) {
    auto a = i % 2 ? attr(42, addr) : std::vector<std::uint8_t>{35, 0, 4, 1, 1, 1, 1};
    many.insert(many.end(), a.begin(), a.end());
  }
  ASSERT_FALSE(decode_ipcp(many, out));
  EXPECT_EQ(out.dns.size(), kMaxRepeated);
  auto one_more = attr(42, addr);
  many.insert(many.end(), one_more.begin(), one_more.end());
  EXPECT_EQ(decode_ipcp(many, out), errc::bad_value);
  // Truncated inside an IPv6 attribute.
  auto whole = attr(39, addr);
  for (std::size_t cut = 1; cut < whole.size(); ++cut) {
    EXPECT_EQ(decode_ipcp(std::span(whole).first(cut), out), errc::truncated) << cut;
  }
}

TEST(ControlMessage, DataChannelAndEchoAndReason) {
  DataChannel d{0xffffff, 4500, 2, 600, 123456789012ull};
  DataChannel dout;
  ASSERT_FALSE(decode_data_channel(body_of(encode_data_channel(d)), dout));
  EXPECT_EQ(dout, d);
  std::vector<std::uint8_t> no_port{2, 0, 3, 0, 0, 1, 5, 0, 1, 1};
  EXPECT_EQ(decode_data_channel(no_port, dout), errc::missing_attribute);

  Echo e{42, 0xdeadbeef}, eout;
  ASSERT_FALSE(decode_echo(body_of(encode_echo(MessageType::echo_request, e)), eout));
  EXPECT_EQ(eout, e);

  std::string reason;
  ASSERT_FALSE(decode_reason(body_of(encode_auth_fail("nope")), reason));
  EXPECT_EQ(reason, "nope");
  ASSERT_FALSE(decode_reason({}, reason));
  EXPECT_EQ(reason, "");
}

TEST(ControlMessage, DataIsRawBody) {
  std::vector<std::uint8_t> frame(100, 0x5a);
  auto msg = encode_data(frame);
  ASSERT_EQ(msg.size(), 103u);
  EXPECT_EQ(msg[0], 15);
  EXPECT_TRUE(encode_data(std::vector<std::uint8_t>(kMaxBody + 1)).empty());
  EXPECT_EQ(encode_data(std::vector<std::uint8_t>(kMaxBody)).size(), kMaxBody + 3);
}

}  // namespace
}  // namespace postern::tunnel::control
