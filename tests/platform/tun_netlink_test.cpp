// netns tests for TunDevice and Netlink: a real TUN in a private network namespace, configured
// with our rtnetlink code and checked through the kernel's own views (/sys, `ip -j`), then
// packets in both directions between the TUN fd and UDP sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "platform/netlink.hpp"
#include "platform/offload.hpp"
#include "platform/sys_error.hpp"
#include "platform/sysctl.hpp"
#include "platform/tun_device.hpp"
#include "platform/udp_socket.hpp"
#include "tests/platform/netns_env.hpp"

namespace postern::platform {
namespace {

using test::read_sys_net;
using test::run_command;

std::uint16_t ipv4_checksum(std::span<const std::uint8_t> header) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < header.size(); i += 2) {
    sum += static_cast<std::uint32_t>(header[i] << 8 | header[i + 1]);
  }
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// IPv4 + UDP (checksum 0 = none, allowed for IPv4 by RFC 768) around payload.
std::vector<std::uint8_t> make_udp4(const IpEndpoint& from, const IpEndpoint& to,
                                    std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> packet(28 + payload.size(), 0);
  const auto total = static_cast<std::uint16_t>(packet.size());
  const auto udp_len = static_cast<std::uint16_t>(8 + payload.size());
  packet[0] = 0x45;
  packet[2] = static_cast<std::uint8_t>(total >> 8);
  packet[3] = static_cast<std::uint8_t>(total);
  packet[8] = 64;  // TTL
  packet[9] = 17;  // UDP
  std::memcpy(&packet[12], from.address().bytes().data(), 4);
  std::memcpy(&packet[16], to.address().bytes().data(), 4);
  const std::uint16_t checksum = ipv4_checksum(std::span(packet).first(20));
  packet[10] = static_cast<std::uint8_t>(checksum >> 8);
  packet[11] = static_cast<std::uint8_t>(checksum);
  packet[20] = static_cast<std::uint8_t>(from.port() >> 8);
  packet[21] = static_cast<std::uint8_t>(from.port());
  packet[22] = static_cast<std::uint8_t>(to.port() >> 8);
  packet[23] = static_cast<std::uint8_t>(to.port());
  packet[24] = static_cast<std::uint8_t>(udp_len >> 8);
  packet[25] = static_cast<std::uint8_t>(udp_len);
  std::memcpy(&packet[28], payload.data(), payload.size());
  return packet;
}

// make_udp4 with a real UDP checksum (GRO only merges checksummed datagrams).
std::vector<std::uint8_t> make_checked_udp4(const IpEndpoint& from, const IpEndpoint& to,
                                            std::span<const std::uint8_t> payload) {
  auto packet = make_udp4(from, to, payload);
  const std::size_t l4 = packet.size() - 20;
  auto sum = static_cast<std::uint16_t>(
      ~checksum_fold(checksum_partial(std::span(packet).subspan(20), pseudo_header_sum(packet, 17, l4))));
  if (sum == 0) sum = 0xffff;
  std::memcpy(&packet[26], &sum, 2);  // a folded sum is in memory order
  return packet;
}

// True if the UDP checksum of an IPv4 packet (no options) verifies.
bool udp4_checksum_ok(std::span<const std::uint8_t> packet) {
  const std::size_t l4 = packet.size() - 20;
  return checksum_fold(checksum_partial(packet.subspan(20), pseudo_header_sum(packet, 17, l4))) == 0xffff;
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd entry{fd, POLLIN, 0};
  return ::poll(&entry, 1, timeout_ms) == 1;
}

// Reads TUN packets until an IPv4/UDP one to dst_port arrives (IPv6 neighbour discovery and
// MLD chatter may come first); returns its UDP payload.
std::optional<std::vector<std::uint8_t>> read_udp4_from_tun(TunDevice& tun, std::uint16_t dst_port) {
  std::array<std::uint8_t, 2048> buffer{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!wait_readable(tun.fd(), 200)) continue;
    std::error_code ec;
    const std::size_t n = tun.read(buffer, ec);
    if (ec || n < 28 || buffer[0] != 0x45 || buffer[9] != 17) continue;
    const auto port = static_cast<std::uint16_t>(buffer[22] << 8 | buffer[23]);
    if (port != dst_port) continue;
    return std::vector<std::uint8_t>(buffer.begin() + 28, buffer.begin() + static_cast<long>(n));
  }
  return std::nullopt;
}

// A TUN with 10.9.0.1/24, MTU 1380, up.
struct ConfiguredTun {
  TunDevice tun;
  Netlink netlink = Netlink::open();

  explicit ConfiguredTun(const std::string& name) : tun(TunDevice::open({name, false, false})) {
    EXPECT_FALSE(netlink.set_mtu(tun.name(), 1380));
    EXPECT_FALSE(netlink.add_address(tun.name(), {*IpPrefix::parse("10.9.0.1/24"), std::nullopt}));
    EXPECT_FALSE(netlink.link_up(tun.name()));
  }
};

TEST(TunNetlinkTest, OpensWithPatternAndConfiguresLink) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("postern%d");
  const std::string name = setup.tun.name();
  EXPECT_EQ(name.rfind("postern", 0), 0U) << name;
  EXPECT_NE(name, "postern%d");
  EXPECT_EQ(read_sys_net(name, "mtu"), "1380");
  EXPECT_EQ(read_sys_net(name, "tx_queue_len"), "500");  // the TUN driver's default
  EXPECT_FALSE(setup.netlink.set_tx_queue_length(name, 3000));
  EXPECT_EQ(read_sys_net(name, "tx_queue_len"), "3000");
  EXPECT_EQ(read_sys_net(name, "operstate"), "unknown");  // TUN: up, carrier while fd is open
  std::error_code ec;
  const int index = setup.netlink.get_ifindex(name, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(read_sys_net(name, "ifindex"), std::to_string(index));

  const std::string json = run_command("ip -j addr show dev " + name);
  EXPECT_NE(json.find("\"local\":\"10.9.0.1\",\"prefixlen\":24"), std::string::npos) << json;
  EXPECT_NE(json.find("\"UP\""), std::string::npos) << json;

  EXPECT_FALSE(setup.netlink.link_down(name));
  EXPECT_EQ(run_command("ip -j link show dev " + name).find("\"UP\""), std::string::npos);
}

TEST(TunNetlinkTest, AddressPolicyListAndFlush) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-addr");
  auto& nl = setup.netlink;
  const InterfaceAddress primary{*IpPrefix::parse("10.9.0.1/24"), std::nullopt};
  EXPECT_EQ(nl.add_address("pt-addr", primary), std::errc::file_exists);
  EXPECT_FALSE(nl.add_address("pt-addr", primary, ExistsPolicy::accept));
  const InterfaceAddress p2p{*IpPrefix::parse("10.77.0.1/32"), IpAddress::parse("10.77.0.2")};
  EXPECT_FALSE(nl.add_address("pt-addr", p2p));
  const InterfaceAddress v6{*IpPrefix::parse("fd00:77::1/64"), std::nullopt};
  EXPECT_FALSE(nl.add_address("pt-addr", v6)) << nl.last_error_detail();

  std::vector<InterfaceAddress> v4_list;
  ASSERT_FALSE(nl.list_addresses("pt-addr", IpAddress::Family::v4, v4_list));
  ASSERT_EQ(v4_list.size(), 2U);
  EXPECT_EQ(v4_list[0], primary);
  EXPECT_EQ(v4_list[1], p2p);
  const std::string json = run_command("ip -j addr show dev pt-addr");
  EXPECT_NE(json.find("\"local\":\"10.77.0.1\",\"address\":\"10.77.0.2\""), std::string::npos) << json;

  ASSERT_FALSE(nl.flush_addresses("pt-addr", IpAddress::Family::v4));
  ASSERT_FALSE(nl.list_addresses("pt-addr", IpAddress::Family::v4, v4_list));
  EXPECT_TRUE(v4_list.empty());
  std::vector<InterfaceAddress> v6_list;
  ASSERT_FALSE(nl.list_addresses("pt-addr", IpAddress::Family::v6, v6_list));
  bool found_v6 = false;
  for (const auto& a : v6_list) found_v6 = found_v6 || a == v6;
  EXPECT_TRUE(found_v6);

  EXPECT_EQ(nl.delete_address("pt-addr", primary), std::errc::address_not_available);
  EXPECT_FALSE(nl.delete_address("pt-addr", primary, MissingPolicy::accept));
  EXPECT_EQ(nl.add_address("no-such-if", primary), std::errc::no_such_device);
}

TEST(TunNetlinkTest, RoutesAddDeleteAndErrorsInWords) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-route");
  auto& nl = setup.netlink;
  const RouteSpec route{*IpPrefix::parse("10.20.3.4/16"), "pt-route", std::nullopt, std::nullopt, 50};
  ASSERT_FALSE(nl.add_route(route)) << nl.last_error_detail();
  std::string routes = run_command("ip -j route show table main");
  EXPECT_NE(routes.find("\"dst\":\"10.20.0.0/16\",\"dev\":\"pt-route\""), std::string::npos) << routes;
  EXPECT_NE(routes.find("\"metric\":50"), std::string::npos) << routes;

  const auto again = nl.add_route(route);
  EXPECT_EQ(again, std::errc::file_exists);
  EXPECT_EQ(again.message(), "File exists");
  EXPECT_FALSE(nl.add_route(route, ExistsPolicy::accept));
  EXPECT_FALSE(nl.add_route(route, ExistsPolicy::replace));

  const RouteSpec in_table{*IpPrefix::parse("0.0.0.0/0"), "pt-route", std::nullopt, 51820, std::nullopt};
  ASSERT_FALSE(nl.add_route(in_table));
  routes = run_command("ip -j route show table 51820");
  EXPECT_NE(routes.find("\"dst\":\"default\",\"dev\":\"pt-route\""), std::string::npos) << routes;

  const RouteSpec v6{*IpPrefix::parse("fd00:99::/48"), "pt-route", std::nullopt, std::nullopt, std::nullopt};
  EXPECT_FALSE(nl.add_route(v6)) << nl.last_error_detail();
  EXPECT_NE(run_command("ip -6 route show").find("fd00:99::/48 dev pt-route"), std::string::npos);

  EXPECT_FALSE(nl.delete_route(route));
  EXPECT_FALSE(nl.delete_route(in_table));
  EXPECT_EQ(run_command("ip route show table main").find("10.20.0.0/16"), std::string::npos);
  EXPECT_EQ(nl.delete_route(route), std::errc::no_such_process);
  EXPECT_FALSE(nl.delete_route(route, MissingPolicy::accept));

  // A gateway that is not on-link: the kernel says why via extended ack.
  const RouteSpec bad{*IpPrefix::parse("10.30.0.0/16"), "pt-route", IpAddress::parse("192.0.2.1"),
                      std::nullopt, std::nullopt};
  EXPECT_TRUE(nl.add_route(bad));
  EXPECT_FALSE(nl.last_error_detail().empty());
}

TEST(TunNetlinkTest, ListsOnlyItsOwnStaticRoutesPerTable) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-list");
  auto& nl = setup.netlink;
  const RouteSpec main4{*IpPrefix::parse("10.21.0.0/16"), "pt-list", std::nullopt, std::nullopt, 7};
  const RouteSpec main6{*IpPrefix::parse("fd00:21::/48"), "pt-list", std::nullopt, std::nullopt, std::nullopt};
  const RouteSpec table4{*IpPrefix::parse("0.0.0.0/0"), "pt-list", std::nullopt, 7073, std::nullopt};
  for (const auto& r : {main4, main6, table4}) ASSERT_FALSE(nl.add_route(r)) << nl.last_error_detail();
  // Not ours: `ip route add` says proto boot; the kernel's prefix route of the address is proto kernel.
  run_command("ip route add 10.22.0.0/16 dev pt-list");
  std::vector<RouteSpec> got;
  ASSERT_FALSE(nl.list_static_routes("pt-list", k_table_main, got));
  std::vector<IpPrefix> destinations;
  for (const auto& r : got) destinations.push_back(r.destination);
  EXPECT_EQ(destinations, (std::vector<IpPrefix>{main4.destination, main6.destination}));
  for (const auto& r : got) {
    EXPECT_EQ(r.ifname, "pt-list");
    EXPECT_FALSE(r.table);
  }
  EXPECT_EQ(got.at(0).metric, 7u);
  ASSERT_FALSE(nl.list_static_routes("pt-list", 7073, got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].destination, table4.destination);
  EXPECT_EQ(got[0].table, 7073u);
  // What it lists, delete_route takes back.
  EXPECT_FALSE(nl.delete_route(got[0]));
  ASSERT_FALSE(nl.list_static_routes("pt-list", 7073, got));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(nl.list_static_routes("no-such-if", k_table_main, got), std::errc::no_such_device);
}

TEST(TunNetlinkTest, LeakProtectionRules) {
  POSTERN_REQUIRE_NETNS();
  auto nl = Netlink::open();
  // wg-quick: `ip rule add not fwmark 51820 table 51820` + `table main suppress_prefixlength 0`
  RuleSpec not_marked;
  not_marked.fwmark = 51820;
  not_marked.invert = true;
  not_marked.table = 51820;
  not_marked.priority = 32000;
  RuleSpec suppress;
  suppress.table = k_table_main;
  suppress.priority = 31999;
  suppress.suppress_prefixlength = 0;
  ASSERT_FALSE(nl.add_rule(not_marked)) << nl.last_error_detail();
  ASSERT_FALSE(nl.add_rule(suppress)) << nl.last_error_detail();
  const std::string rules = run_command("ip rule show");
  EXPECT_NE(rules.find("32000:\tnot from all fwmark 0xca6c lookup 51820"), std::string::npos) << rules;
  EXPECT_NE(rules.find("31999:\tfrom all lookup main suppress_prefixlength 0"), std::string::npos)
      << rules;

  EXPECT_EQ(nl.add_rule(not_marked), std::errc::file_exists);
  EXPECT_FALSE(nl.add_rule(not_marked, ExistsPolicy::accept));
  EXPECT_FALSE(nl.delete_rule(not_marked));
  EXPECT_FALSE(nl.delete_rule(suppress));
  EXPECT_EQ(run_command("ip rule show").find("51820"), std::string::npos);
  EXPECT_EQ(nl.delete_rule(not_marked), std::errc::no_such_file_or_directory);
  EXPECT_FALSE(nl.delete_rule(not_marked, MissingPolicy::accept));
}

// The selectors and actions the DNS leak rules use, as `ip rule` prints them; a prohibited
// destination fails sendto() with EACCES; a delete with RuleAction::any matches by priority.
TEST(TunNetlinkTest, PortProtoDestinationGotoAndProhibitRules) {
  POSTERN_REQUIRE_NETNS();
  auto nl = Netlink::open();
  RuleSpec target;
  target.table = k_table_main;
  target.priority = 32010;
  RuleSpec jump;
  jump.fwmark = 0x7073;
  jump.action = RuleAction::go_to;
  jump.goto_priority = 32010;
  jump.priority = 32007;
  RuleSpec allow;
  allow.destination = IpPrefix{*IpAddress::parse("10.77.0.1"), 32};
  allow.ip_proto = 17;
  allow.dport = 53;
  allow.table = 7073;
  allow.priority = 32008;
  RuleSpec deny;
  deny.ip_proto = 17;
  deny.dport = 53;
  deny.action = RuleAction::prohibit;
  deny.priority = 32009;
  for (const auto* r : {&target, &jump, &allow, &deny}) ASSERT_FALSE(nl.add_rule(*r)) << nl.last_error_detail();
  const std::string rules = run_command("ip rule show");
  EXPECT_NE(rules.find("32007:	from all fwmark 0x7073 goto 32010"), std::string::npos) << rules;
  EXPECT_NE(rules.find("32008:	from all to 10.77.0.1 ipproto udp dport 53 lookup 7073"), std::string::npos) << rules;
  EXPECT_NE(rules.find("32009:	from all ipproto udp dport 53 prohibit"), std::string::npos) << rules;

  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(53);
  to.sin_addr.s_addr = htonl(0xc0000235);  // 192.0.2.53
  EXPECT_LT(::sendto(fd, "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)), 0);
  EXPECT_EQ(errno, EACCES);
  ::close(fd);

  RuleSpec any;
  any.action = RuleAction::any;
  for (std::uint32_t p : {32007u, 32008u, 32009u}) {
    any.priority = p;
    EXPECT_FALSE(nl.delete_rule(any)) << p << " " << nl.last_error_detail();
  }
  EXPECT_FALSE(nl.delete_rule(target));
  const std::string after = run_command("ip rule show");
  EXPECT_EQ(after.find("dport 53"), std::string::npos) << after;
  EXPECT_EQ(after.find("goto"), std::string::npos) << after;
}

TEST(TunNetlinkTest, PacketWrittenToTunReachesUdpSocket) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-in");
  auto socket = UdpSocket::bind(*IpEndpoint::parse("10.9.0.1:0"));
  IpEndpoint local;
  ASSERT_FALSE(socket.local_endpoint(local));
  const IpEndpoint peer = *IpEndpoint::parse("10.9.0.2:4000");
  const std::array<std::uint8_t, 5> payload = {'h', 'e', 'l', 'l', 'o'};
  const auto packet = make_udp4(peer, local, payload);
  std::error_code ec;
  EXPECT_EQ(setup.tun.write(packet, ec), packet.size());
  ASSERT_FALSE(ec) << ec.message();

  ASSERT_TRUE(wait_readable(socket.fd(), 3000)) << "nothing arrived from the TUN";
  std::array<std::uint8_t, 64> buffer{};
  IpEndpoint from;
  const std::size_t n = socket.receive_from(buffer, from, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(std::vector<std::uint8_t>(buffer.begin(), buffer.begin() + static_cast<long>(n)),
            std::vector<std::uint8_t>(payload.begin(), payload.end()));
  EXPECT_EQ(from, peer);
}

TEST(TunNetlinkTest, UdpToRoutedAddressIsReadFromTun) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-out");
  ASSERT_FALSE(setup.netlink.add_route(
      {*IpPrefix::parse("10.20.0.0/16"), "pt-out", std::nullopt, std::nullopt, std::nullopt}));
  auto socket = UdpSocket::bind(*IpEndpoint::parse("0.0.0.0:0"));
  const std::array<std::uint8_t, 4> on_link = {'l', 'i', 'n', 'k'};
  const std::array<std::uint8_t, 5> routed = {'r', 'o', 'u', 't', 'e'};
  std::error_code ec;
  socket.send_to(on_link, *IpEndpoint::parse("10.9.0.2:5000"), ec);
  ASSERT_FALSE(ec) << ec.message();
  auto got = read_udp4_from_tun(setup.tun, 5000);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, std::vector<std::uint8_t>(on_link.begin(), on_link.end()));

  socket.send_to(routed, *IpEndpoint::parse("10.20.1.1:6000"), ec);
  ASSERT_FALSE(ec) << ec.message();
  got = read_udp4_from_tun(setup.tun, 6000);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, std::vector<std::uint8_t>(routed.begin(), routed.end()));
}

TEST(TunNetlinkTest, CoalescedUdpWrittenToTunArrivesAsTheDatagramsSent) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-usow");
  ASSERT_FALSE(setup.tun.enable_offload());
  if (!setup.tun.udp_offload_enabled()) GTEST_SKIP() << "this kernel has no TUN_F_USO (Linux < 6.2)";
  auto socket = UdpSocket::bind(*IpEndpoint::parse("10.9.0.1:0"));
  IpEndpoint local;
  ASSERT_FALSE(socket.local_endpoint(local));
  const IpEndpoint peer = *IpEndpoint::parse("10.9.0.2:4000");
  // Five 1000-byte datagrams and a shorter last one, merged as the RX path merges them.
  std::vector<std::vector<std::uint8_t>> payloads;
  for (std::size_t i = 0; i < 6; ++i) payloads.emplace_back(i < 5 ? 1000 : 300, static_cast<std::uint8_t>('a' + i));
  std::vector<std::uint8_t> buffer(GroCoalescer::kMaxSize);
  GroCoalescer gro(true);
  ASSERT_TRUE(gro.start(buffer, make_checked_udp4(peer, local, payloads[0])));
  for (std::size_t i = 1; i < payloads.size(); ++i) ASSERT_TRUE(gro.append(make_checked_udp4(peer, local, payloads[i])));
  VnetHeader header;
  auto super = gro.finish(header);
  ASSERT_EQ(header.gso_type, VnetHeader::kGsoUdpL4);
  std::error_code ec;
  EXPECT_EQ(setup.tun.write_gso(header, super, ec), super.size());
  ASSERT_FALSE(ec) << ec.message();
  // The socket (no UDP_GRO) gets the six datagrams back, in order and whole.
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_TRUE(wait_readable(socket.fd(), 3000)) << "datagram " << i << " did not arrive";
    std::array<std::uint8_t, 2048> got{};
    IpEndpoint from;
    const std::size_t n = socket.receive_from(got, from, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::vector<std::uint8_t>(got.begin(), got.begin() + static_cast<long>(n)), payloads[i]) << i;
    EXPECT_EQ(from, peer);
  }
}

TEST(TunNetlinkTest, UdpGsoSendIsReadFromTunAsDatagrams) {
  POSTERN_REQUIRE_NETNS();
  ConfiguredTun setup("pt-usor");
  ASSERT_FALSE(setup.tun.enable_offload());
  if (!setup.tun.udp_offload_enabled()) GTEST_SKIP() << "this kernel has no TUN_F_USO (Linux < 6.2)";
  ASSERT_FALSE(setup.tun.set_nonblocking(true));
  ASSERT_FALSE(setup.netlink.add_route(
      {*IpPrefix::parse("10.20.0.0/16"), "pt-usor", std::nullopt, std::nullopt, std::nullopt}));
  auto socket = UdpSocket::bind(*IpEndpoint::parse("0.0.0.0:0"));
  const int segment = 1000;
  ASSERT_EQ(::setsockopt(socket.fd(), SOL_UDP, UDP_SEGMENT, &segment, sizeof(segment)), 0);
  std::vector<std::uint8_t> sent(3500);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(i * 7);
  std::error_code ec;
  socket.send_to(sent, *IpEndpoint::parse("10.20.1.1:6000"), ec);
  ASSERT_FALSE(ec) << ec.message();
  // One buffer per call: the kernel handed over one super-packet, so segments stay pending
  // (poll() cannot see them) until read.
  std::vector<std::uint8_t> received;
  std::size_t datagrams = 0;
  bool saw_pending = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (received.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    if (!setup.tun.has_pending() && !wait_readable(setup.tun.fd(), 200)) continue;
    std::array<std::uint8_t, 2048> storage{};
    std::array<std::span<std::uint8_t>, 1> buffers{storage};
    std::array<std::size_t, 1> sizes{};
    if (setup.tun.read_batch(buffers, sizes, ec) != 1) continue;
    std::span<const std::uint8_t> packet(storage.data(), sizes[0]);
    if (packet.size() < 28 || packet[0] != 0x45 || packet[9] != 17 || packet[22] != 6000 >> 8 ||
        packet[23] != (6000 & 0xff)) {
      continue;  // neighbour discovery chatter
    }
    saw_pending |= setup.tun.has_pending();
    EXPECT_TRUE(udp4_checksum_ok(packet)) << "datagram " << datagrams;
    EXPECT_EQ(packet[24] << 8 | packet[25], packet.size() - 20);
    EXPECT_LE(packet.size(), 28U + 1000);
    received.insert(received.end(), packet.begin() + 28, packet.end());
    ++datagrams;
  }
  EXPECT_EQ(datagrams, 4U);
  EXPECT_EQ(received, sent);
  EXPECT_TRUE(saw_pending) << "the kernel segmented the datagrams itself: USO was not used";
}

TEST(TunNetlinkTest, MultiQueueAndBatchRead) {
  POSTERN_REQUIRE_NETNS();
  auto first = TunDevice::open({"pt-mq", true, true});
  auto second = first.open_queue();
  EXPECT_EQ(second.name(), "pt-mq");
  EXPECT_NE(first.fd(), second.fd());
  EXPECT_TRUE(second.multi_queue());

  // A single-queue device refuses extra queues; a second non-multi-queue open of the same name
  // is EBUSY and the message names the device.
  auto single = TunDevice::open({"pt-sq", false, false});
  EXPECT_THROW(single.open_queue(), std::system_error);
  try {
    TunDevice::open({"pt-sq", false, false});
    ADD_FAILURE() << "second attach succeeded";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("pt-sq"), std::string::npos) << e.what();
  }

  std::array<std::array<std::uint8_t, 2048>, 8> storage{};
  std::array<std::span<std::uint8_t>, 8> buffers{};
  for (std::size_t i = 0; i < buffers.size(); ++i) buffers[i] = storage[i];
  std::array<std::size_t, 8> sizes{};
  std::error_code ec;
  EXPECT_EQ(first.read_batch(buffers, sizes, ec), 0U);
  EXPECT_TRUE(is_would_block(ec)) << ec.message();
}

TEST(TunNetlinkTest, SysctlInsideNamespace) {
  POSTERN_REQUIRE_NETNS();
  bool enabled = true;
  ASSERT_FALSE(ip_forwarding_enabled(IpAddress::Family::v4, enabled));
  ASSERT_FALSE(set_ip_forwarding(IpAddress::Family::v4, !enabled));
  bool after = enabled;
  ASSERT_FALSE(ip_forwarding_enabled(IpAddress::Family::v4, after));
  EXPECT_EQ(after, !enabled);
  ASSERT_FALSE(set_ip_forwarding(IpAddress::Family::v4, enabled));
}

}  // namespace
}  // namespace postern::platform
