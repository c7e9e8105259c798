// Unit tests that need no root and no network: the fake TUN pair, netlink message encoding,
// sysctl key mapping, capability names and the pcap writer (files in a temp dir).
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <vector>

#include "platform/netlink.hpp"
#include "platform/netlink_socket.hpp"
#include "platform/pcap_writer.hpp"
#include "platform/privileges.hpp"
#include "platform/sys_error.hpp"
#include "platform/sysctl.hpp"
#include "platform/tun_device.hpp"

namespace postern::platform {
namespace {

TEST(FakeTunTest, PreservesPacketBoundaries) {
  auto [device, kernel_side] = TunDevice::open_fake("fake0");
  EXPECT_EQ(device.name(), "fake0");
  const std::array<std::uint8_t, 3> first = {0x45, 1, 2};
  const std::array<std::uint8_t, 5> second = {0x60, 3, 4, 5, 6};
  ASSERT_EQ(::write(kernel_side.get(), first.data(), first.size()), 3);
  ASSERT_EQ(::write(kernel_side.get(), second.data(), second.size()), 5);
  ASSERT_FALSE(device.set_nonblocking(true));

  std::array<std::array<std::uint8_t, 64>, 4> storage{};
  std::array<std::span<std::uint8_t>, 4> buffers{};
  for (std::size_t i = 0; i < 4; ++i) buffers[i] = storage[i];
  std::array<std::size_t, 4> sizes{};
  std::error_code ec;
  EXPECT_EQ(device.read_batch(buffers, sizes, ec), 2U);
  EXPECT_FALSE(ec);
  EXPECT_EQ(sizes[0], 3U);
  EXPECT_EQ(sizes[1], 5U);
  EXPECT_EQ(storage[1][4], 6);

  // Nothing left: would-block is reported as a value.
  EXPECT_EQ(device.read_batch(buffers, sizes, ec), 0U);
  EXPECT_TRUE(is_would_block(ec)) << ec.message();

  const std::array<std::span<const std::uint8_t>, 2> out = {std::span<const std::uint8_t>(first),
                                                            std::span<const std::uint8_t>(second)};
  EXPECT_EQ(device.write_batch(out, ec), 2U);
  std::array<std::uint8_t, 64> back{};
  EXPECT_EQ(::read(kernel_side.get(), back.data(), back.size()), 3);
  EXPECT_EQ(::read(kernel_side.get(), back.data(), back.size()), 5);
}

TEST(FakeTunTest, FakeHasNoExtraQueues) {
  auto pair = TunDevice::open_fake("fake1");
  EXPECT_THROW(pair.first.open_queue(), std::system_error);
}

TEST(NetlinkMessageTest, EncodesHeaderAndAlignedAttributes) {
  NetlinkMessage message(RTM_NEWROUTE, NLM_F_CREATE);
  rtmsg header{};
  header.rtm_family = AF_INET;
  header.rtm_dst_len = 16;
  message.put_header(header);
  message.put_u32(RTA_OIF, 7);
  const std::array<std::uint8_t, 3> odd = {1, 2, 3};  // forces padding
  message.put_attr(RTA_DST, odd.data(), odd.size());
  message.put_string(RTA_TABLE, "x");
  message.add_flags(NLM_F_REQUEST);
  const auto bytes = message.finish(42);

  nlmsghdr nl{};
  ASSERT_TRUE(read_struct(bytes, nl));
  EXPECT_EQ(nl.nlmsg_len, bytes.size());
  EXPECT_EQ(bytes.size() % 4, 0U);
  EXPECT_EQ(nl.nlmsg_type, RTM_NEWROUTE);
  EXPECT_EQ(nl.nlmsg_flags, NLM_F_CREATE | NLM_F_REQUEST);
  EXPECT_EQ(nl.nlmsg_seq, 42U);
  rtmsg decoded{};
  ASSERT_TRUE(read_struct(bytes.subspan(sizeof(nlmsghdr)), decoded));
  EXPECT_EQ(decoded.rtm_dst_len, 16);

  std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>> attrs;
  for_each_attr(bytes.subspan(sizeof(nlmsghdr) + sizeof(rtmsg)),
                [&](std::uint16_t type, std::span<const std::uint8_t> value) {
                  attrs.emplace_back(type, std::vector<std::uint8_t>(value.begin(), value.end()));
                });
  ASSERT_EQ(attrs.size(), 3U);
  EXPECT_EQ(attrs[0].first, RTA_OIF);
  EXPECT_EQ(attrs[0].second, (std::vector<std::uint8_t>{7, 0, 0, 0}));
  EXPECT_EQ(attrs[1].second, (std::vector<std::uint8_t>{1, 2, 3}));
  EXPECT_EQ(attrs[2].second, (std::vector<std::uint8_t>{'x', 0}));
}

TEST(NetlinkMessageTest, AttributeWalkStopsAtMalformedLengths) {
  // len=2 (< header), then len larger than the buffer: both must stop the walk, not overrun.
  for (const auto& bytes : {std::vector<std::uint8_t>{2, 0, 1, 0, 9, 9, 9, 9},
                            std::vector<std::uint8_t>{64, 0, 1, 0, 9, 9, 9, 9},
                            std::vector<std::uint8_t>{5, 0}}) {
    int visits = 0;
    for_each_attr(bytes, [&](std::uint16_t, std::span<const std::uint8_t>) { ++visits; });
    EXPECT_EQ(visits, 0);
  }
  // One good attribute followed by garbage: exactly one visit.
  const std::vector<std::uint8_t> good_then_bad = {5, 0, 3, 0, 0xAA, 0, 0, 0, 200, 0, 1, 0};
  int visits = 0;
  for_each_attr(good_then_bad, [&](std::uint16_t type, std::span<const std::uint8_t> value) {
    EXPECT_EQ(type, 3);
    EXPECT_EQ(value.size(), 1U);
    ++visits;
  });
  EXPECT_EQ(visits, 1);
}

TEST(NetlinkMessageTest, OverflowIsAnErrorNotACorruption) {
  NetlinkMessage message(RTM_NEWLINK, 0);
  std::vector<std::uint8_t> big(NetlinkMessage::capacity, 0);
  EXPECT_THROW(message.put_attr(1, big.data(), big.size()), std::length_error);
}

TEST(PolicyNamesTest, ToString) {
  EXPECT_EQ(to_string(ExistsPolicy::replace), "replace");
  EXPECT_EQ(to_string(MissingPolicy::accept), "accept");
}

TEST(SysctlTest, KeyToPath) {
  EXPECT_EQ(sysctl_path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
  EXPECT_EQ(sysctl_path("net/ipv4/conf/eth0.10/rp_filter"),
            "/proc/sys/net/ipv4/conf/eth0.10/rp_filter");
  for (const char* bad : {"", "/etc/passwd", "net/../../etc", "net..ipv4", ".net", "net.", "net//x"}) {
    EXPECT_FALSE(sysctl_path(bad)) << bad;
  }
}

TEST(SysctlTest, ReadsAKernelValue) {
  std::string value;
  ASSERT_FALSE(read_sysctl("kernel.ostype", value));
  EXPECT_EQ(value, "Linux");
  bool enabled = true;
  EXPECT_FALSE(ip_forwarding_enabled(IpAddress::Family::v4, enabled));
  EXPECT_TRUE(read_sysctl("net.does_not_exist", value));
}

TEST(CapabilityTest, Names) {
  EXPECT_EQ(capability_from_string("CAP_NET_ADMIN"), Capability::net_admin);
  EXPECT_EQ(capability_from_string("net_bind_service"), Capability::net_bind_service);
  EXPECT_FALSE(capability_from_string("cap_sys_admin"));
  const std::array<Capability, 2> caps = {Capability::net_admin, Capability::net_raw};
  EXPECT_EQ(capability_mask(caps), (1ULL << 12) | (1ULL << 13));
}

TEST(CapabilityTest, CurrentIdentityIsReadable) {
  const auto id = current_identity();
  EXPECT_EQ(id.real_uid, ::getuid());
  EXPECT_GE(id.threads, 1);
  EXPECT_NE(id.to_string().find("uid="), std::string::npos);
}

class PcapWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("postern_pcap_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(PcapWriterTest, WritesThreePacketsReadableByLibpcap) {
  const auto path = dir_ / "t.pcap";
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  {
    auto writer = PcapWriter::create(path);
    for (int i = 0; i < 3; ++i) {
      std::vector<std::uint8_t> packet(static_cast<std::size_t>(20 + i), static_cast<std::uint8_t>(i));
      packet[0] = 0x45;
      ASSERT_FALSE(writer.write(packet, t0 + std::chrono::microseconds(1500 * i)));
    }
    ASSERT_FALSE(writer.flush());
  }
  struct stat info{};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);

  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* reader = ::pcap_open_offline(path.c_str(), error);
  ASSERT_NE(reader, nullptr) << error;
  EXPECT_EQ(::pcap_datalink(reader), DLT_RAW);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int count = 0;
  while (::pcap_next_ex(reader, &header, &data) == 1) {
    EXPECT_EQ(header->caplen, 20U + static_cast<unsigned>(count));
    EXPECT_EQ(header->ts.tv_sec, 1'700'000'000);
    EXPECT_EQ(header->ts.tv_usec, 1500 * count);
    EXPECT_EQ(data[0], 0x45);
    EXPECT_EQ(data[1], count);
    ++count;
  }
  ::pcap_close(reader);
  EXPECT_EQ(count, 3);
}

TEST_F(PcapWriterTest, ExclusiveRefusesExistingFileTruncateResetsMode) {
  const auto path = dir_ / "exists.pcap";
  { auto first = PcapWriter::create(path); }
  EXPECT_THROW(PcapWriter::create(path, PcapCreateMode::exclusive), std::system_error);
  ::chmod(path.c_str(), 0644);
  auto writer = PcapWriter::create(path, PcapCreateMode::truncate);
  EXPECT_TRUE(writer.is_open());
  struct stat info{};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  EXPECT_FALSE(writer.close());
  EXPECT_TRUE(writer.write(std::vector<std::uint8_t>{1}, std::chrono::system_clock::now()));
}

TEST_F(PcapWriterTest, RefusesSymlinkAndNamesPath) {
  const auto link = dir_ / "link.pcap";
  std::filesystem::create_symlink(dir_ / "target", link);
  try {
    PcapWriter::create(link, PcapCreateMode::truncate);
    FAIL() << "symlink followed";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("link.pcap"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "target"));
}

}  // namespace
}  // namespace postern::platform
