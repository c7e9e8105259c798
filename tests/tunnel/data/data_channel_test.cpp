// DataSender + DataReceiver back to back in memory: round trips for both suites, every tampered
// byte, drop reasons, rekey and overlap, counter wrap, and a simulation through many rekeys with
// reordering and duplication in which no packet is lost or accepted twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "common/log.hpp"
#include "tests/tunnel/data/test_support.hpp"
#include "tunnel/data/data_receiver.hpp"
#include "tunnel/data/data_sender.hpp"
#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {
namespace {

using namespace std::chrono_literals;
using test::ipv4_payload;
using test::payload_id;
using test::seal_buffer;
using test::t0;
using test::test_key;

constexpr std::uint32_t kServerSid = 0x00A1B2;

// A client->server pair: the sender targets the server's session id.
struct Pair {
  explicit Pair(Suite suite = kDefaultSuite, Limits limits = {})
      : sender(kServerSid, suite, limits), receiver(kServerSid, suite, limits) {}
  // What the control layer does: install whatever each side asks for.
  void install_wanted(test::TimePoint now) {
    if (auto e = sender.wanted_epoch()) {
      ASSERT_EQ(sender.install_epoch(*e, test_key(1, *e), now), InstallStatus::installed);
    }
    if (auto e = receiver.wanted_epoch()) {
      ASSERT_EQ(receiver.install_epoch(*e, test_key(1, *e), now), InstallStatus::installed);
    }
  }
  std::vector<std::uint8_t> seal(std::uint32_t id, test::TimePoint now, PppProtocol proto = PppProtocol::ipv4,
                                 std::vector<std::uint8_t> payload = {}) {
    if (payload.empty()) payload = ipv4_payload(id);
    auto buf = seal_buffer(payload);
    const auto r = sender.seal(proto, buf, payload.size(), now);
    EXPECT_TRUE(r.ok()) << to_string(r.status);
    buf.resize(r.length);
    return buf;
  }
  DataSender sender;
  DataReceiver receiver;
};

class DataChannelSuite : public ::testing::TestWithParam<Suite> {};

TEST_P(DataChannelSuite, RoundTrip) {
  Pair p(GetParam());
  p.install_wanted(t0());
  for (std::uint32_t id = 0; id < 20; ++id) {
    const auto payload = ipv4_payload(id, 20 + id * 70);
    auto datagram = p.seal(id, t0(), PppProtocol::ipv4, payload);
    EXPECT_EQ(datagram.size(), payload.size() + kOverhead);
    const auto r = p.receiver.open(datagram, t0());
    ASSERT_TRUE(r.ok()) << to_string(r.status);
    EXPECT_EQ(r.protocol, PppProtocol::ipv4);
    EXPECT_TRUE(std::equal(r.payload.begin(), r.payload.end(), payload.begin(), payload.end()));
    EXPECT_EQ(r.payload.data(), datagram.data() + kSealHeadroom);  // in place
  }
  EXPECT_EQ(p.receiver.packets_accepted(), 20u);
  EXPECT_EQ(p.sender.next_counter(), 20u);
}

TEST_P(DataChannelSuite, TamperAnyByteFailsAndWindowStays) {
  Pair p(GetParam());
  p.install_wanted(t0());
  auto first = p.seal(1, t0());
  ASSERT_TRUE(p.receiver.open(first, t0()).ok());
  const auto datagram = p.seal(2, t0());
  for (std::size_t i = 0; i < datagram.size(); ++i) {
    for (std::uint8_t flip : {0x01, 0x80}) {
      auto copy = datagram;
      copy[i] ^= flip;
      const auto r = p.receiver.open(copy, t0());
      EXPECT_FALSE(r.ok()) << "byte " << i;
      EXPECT_EQ(p.receiver.replay_window().highest(), 0u) << "byte " << i;
    }
  }
  EXPECT_EQ(p.receiver.packets_accepted(), 1u);
  EXPECT_GT(p.receiver.drops(DropReason::auth_failed), 0u);
  EXPECT_GT(p.receiver.drops(DropReason::bad_header), 0u);
  EXPECT_GT(p.receiver.drops(DropReason::unknown_session), 0u);
  EXPECT_GT(p.receiver.drops(DropReason::unknown_epoch), 0u);
  auto good = datagram;
  EXPECT_TRUE(p.receiver.open(good, t0()).ok());  // the original still opens
  EXPECT_EQ(p.receiver.replay_window().highest(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Suites, DataChannelSuite, ::testing::Values(Suite::aes_256_gcm, Suite::chacha20_poly1305),
                         [](const auto& param_info) { return param_info.param == Suite::aes_256_gcm ? "Aes" : "ChaCha"; });

TEST(DataChannel, LayoutOnTheWire) {
  Pair p;
  p.install_wanted(t0());
  p.sender.set_next_counter_for_test(0x1122334455ULL);
  const auto d = p.seal(7, t0());
  const auto decoded = decode_gre_frame(d);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.frame.key, make_gre_key(kServerSid, 0));
  EXPECT_EQ(decoded.frame.sequence, 0x22334455u);  // low 32 bits of the counter
}

TEST(DataChannel, ReplayAndDuplicateDropped) {
  Pair p;
  p.install_wanted(t0());
  auto d = p.seal(1, t0());
  auto again = d;
  ASSERT_TRUE(p.receiver.open(d, t0()).ok());
  EXPECT_EQ(p.receiver.open(again, t0()).status, DropReason::replayed);
  EXPECT_EQ(p.receiver.drops(DropReason::replayed), 1u);
}

TEST(DataChannel, TooOldDropped) {
  Pair p;
  p.install_wanted(t0());
  auto old = p.seal(0, t0());
  p.sender.set_next_counter_for_test(kReplayWindowSize + 10);
  auto recent = p.seal(1, t0());
  ASSERT_TRUE(p.receiver.open(recent, t0()).ok());
  EXPECT_EQ(p.receiver.open(old, t0()).status, DropReason::too_old);
}

TEST(DataChannel, InnerChecks) {
  Pair p;
  p.install_wanted(t0());
  auto v6_as_v4 = p.seal(1, t0(), PppProtocol::ipv4, std::vector<std::uint8_t>(40, 0x60));
  EXPECT_EQ(p.receiver.open(v6_as_v4, t0()).status, DropReason::bad_inner_version);
  auto v6 = p.seal(2, t0(), PppProtocol::ipv6, std::vector<std::uint8_t>(40, 0x60));
  EXPECT_EQ(p.receiver.open(v6, t0()).protocol, PppProtocol::ipv6);
  auto unknown = p.seal(3, t0(), static_cast<PppProtocol>(0x8021), std::vector<std::uint8_t>(8, 1));
  EXPECT_EQ(p.receiver.open(unknown, t0()).status, DropReason::unknown_protocol);
  auto lcp = p.seal(4, t0(), PppProtocol::lcp, std::vector<std::uint8_t>(8, 9));
  const auto r = p.receiver.open(lcp, t0());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.protocol, PppProtocol::lcp);
  EXPECT_EQ(r.payload.size(), 8u);
  // An empty IPv4 payload is not an IPv4 packet.
  std::vector<std::uint8_t> buf(kOverhead);
  ASSERT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, 0, t0()).ok());
  EXPECT_EQ(p.receiver.open(buf, t0()).status, DropReason::bad_inner_version);
}

TEST(DataChannel, SealErrors) {
  DataSender sender(kServerSid, kDefaultSuite);
  auto payload = ipv4_payload(1);
  auto buf = seal_buffer(payload);
  EXPECT_EQ(sender.seal(PppProtocol::ipv4, buf, payload.size(), t0()).status, SealStatus::no_key);
  EXPECT_EQ(sender.wanted_epoch(), kFirstEpoch);
  EXPECT_EQ(sender.install_epoch(0, std::span(buf).first(31), t0()), InstallStatus::bad_key);
  ASSERT_EQ(sender.install_epoch(0, test_key(1, 0), t0()), InstallStatus::installed);
  EXPECT_EQ(sender.install_epoch(5, test_key(1, 5), t0()), InstallStatus::unexpected_epoch);
  EXPECT_EQ(sender.seal(PppProtocol::ipv4, std::span(buf).first(buf.size() - 1), payload.size(), t0()).status,
            SealStatus::buffer_too_small);
  sender.set_next_counter_for_test(kRejectAfterCounter);
  EXPECT_EQ(sender.seal(PppProtocol::ipv4, buf, payload.size(), t0()).status, SealStatus::counter_exhausted);
}

TEST(DataChannel, RejectAfterTimeWithoutNextKey) {
  Limits limits;
  Pair p(kDefaultSuite, limits);
  p.sender.install_epoch(0, test_key(1, 0), t0());
  auto payload = ipv4_payload(1);
  auto buf = seal_buffer(payload);
  EXPECT_FALSE(p.sender.rekey_overdue(t0() + 119s));
  EXPECT_TRUE(p.sender.rekey_overdue(t0() + 120s));
  EXPECT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0() + 179s).ok());
  buf = seal_buffer(payload);
  EXPECT_EQ(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0() + 180s).status, SealStatus::key_expired);
  // Installing the next key recovers: the switch happens at the next seal.
  ASSERT_EQ(p.sender.install_epoch(1, test_key(1, 1), t0() + 181s), InstallStatus::installed);
  buf = seal_buffer(payload);
  EXPECT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0() + 181s).ok());
  EXPECT_EQ(p.sender.current_epoch(), 1u);
}

TEST(DataChannel, PacketCountRekeyWaitsForMinimumEpochTime) {
  Limits limits;
  limits.rekey_after_packets = 2;
  limits.min_epoch_time = 1s;
  Pair p(kDefaultSuite, limits);
  p.sender.install_epoch(0, test_key(1, 0), t0());
  p.sender.install_epoch(1, test_key(1, 1), t0());
  auto payload = ipv4_payload(1);
  for (int i = 0; i < 4; ++i) {
    auto buf = seal_buffer(payload);
    EXPECT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0() + 999ms).ok());
  }
  EXPECT_EQ(p.sender.current_epoch(), 0u);  // count reached, but the epoch is too young
  auto buf = seal_buffer(payload);
  EXPECT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0() + 1s).ok());
  EXPECT_EQ(p.sender.current_epoch(), 1u);
}

TEST(DataChannel, RejectAfterPackets) {
  Limits limits;
  limits.rekey_after_packets = 2;
  limits.reject_after_packets = 3;
  Pair p(kDefaultSuite, limits);
  p.sender.install_epoch(0, test_key(1, 0), t0());
  auto payload = ipv4_payload(1);
  for (int i = 0; i < 3; ++i) {
    auto buf = seal_buffer(payload);
    EXPECT_TRUE(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0()).ok());
  }
  auto buf = seal_buffer(payload);
  EXPECT_EQ(p.sender.seal(PppProtocol::ipv4, buf, payload.size(), t0()).status, SealStatus::key_expired);
}

TEST(DataChannel, RekeyByTimeWithOverlap) {
  Pair p;
  p.install_wanted(t0());
  EXPECT_EQ(p.sender.wanted_epoch(), 1u);
  p.install_wanted(t0());  // the control layer installs epoch 1 early, on both sides
  EXPECT_EQ(p.sender.wanted_epoch(), std::nullopt);
  EXPECT_EQ(p.receiver.wanted_epoch(), std::nullopt);

  auto before = p.seal(1, t0() + 119s);  // still epoch 0
  auto late_old = p.seal(2, t0() + 119s);
  EXPECT_EQ(p.sender.current_epoch(), 0u);
  auto after = p.seal(3, t0() + 120s);   // switched
  EXPECT_EQ(p.sender.current_epoch(), 1u);
  EXPECT_EQ(p.sender.wanted_epoch(), 2u);
  EXPECT_EQ(epoch_byte_of(decode_gre_frame(after).frame.key), 1);

  ASSERT_TRUE(p.receiver.open(before, t0() + 120s).ok());
  EXPECT_EQ(p.receiver.current_epoch(), 0u);
  ASSERT_TRUE(p.receiver.open(after, t0() + 120s).ok());  // promotes
  EXPECT_EQ(p.receiver.current_epoch(), 1u);
  EXPECT_EQ(p.receiver.wanted_epoch(), 2u);
  EXPECT_TRUE(p.receiver.has_previous_epoch());
  // A reordered epoch-0 packet inside the overlap still opens...
  auto late_copy = late_old;
  ASSERT_TRUE(p.receiver.open(late_old, t0() + 125s).ok());
  // ...but after the overlap the previous key is gone.
  p.receiver.expire(t0() + 130s);
  EXPECT_FALSE(p.receiver.has_previous_epoch());
  EXPECT_EQ(p.receiver.open(late_copy, t0() + 130s).status, DropReason::unknown_epoch);
}

TEST(DataChannel, ForgedNextEpochPacketDoesNotPromote) {
  Pair p;
  p.install_wanted(t0());
  p.install_wanted(t0());
  auto d = p.seal(1, t0());
  store_be32(&d[4], make_gre_key(kServerSid, 1));  // claim epoch 1 with an epoch-0 tag
  EXPECT_EQ(p.receiver.open(d, t0()).status, DropReason::auth_failed);
  EXPECT_EQ(p.receiver.current_epoch(), 0u);
  EXPECT_EQ(p.receiver.wanted_epoch(), std::nullopt);
}

// Issue 10 item 6: every packet of epoch 1 is lost and the sender moves on to epoch 2. The
// receiver (current 0, next 1) learns of epoch 2 from its first packet, asks for that key, and
// the next packet that authenticates under it makes epoch 2 current: the direction recovers.
TEST(DataChannel, ReceiverThatMissedAWholeEpochResynchronises) {
  Pair p;
  p.install_wanted(t0());
  p.install_wanted(t0());  // epochs 0 and 1 on both sides
  auto epoch0 = p.seal(1, t0());
  ASSERT_TRUE(p.receiver.open(epoch0, t0()).ok());
  (void)p.seal(2, t0() + 120s);  // epoch 1: every packet lost
  ASSERT_EQ(p.sender.current_epoch(), 1u);
  ASSERT_EQ(p.sender.install_epoch(2, test_key(1, 2), t0() + 120s), InstallStatus::installed);
  (void)p.seal(3, t0() + 240s);  // epoch 2: this one lost too
  ASSERT_EQ(p.sender.current_epoch(), 2u);
  auto first = p.seal(4, t0() + 240s);
  auto second = p.seal(5, t0() + 240s);
  auto third = p.seal(6, t0() + 240s);

  EXPECT_EQ(p.receiver.open(first, t0() + 240s).status, DropReason::unknown_epoch);
  EXPECT_EQ(p.receiver.current_epoch(), 0u);  // a hint only: no key changed role
  EXPECT_EQ(p.receiver.wanted_epoch(), 2u);
  // The control layer installs what is wanted; only epoch 2 (the hint) or 1 would be taken.
  EXPECT_EQ(p.receiver.install_epoch(3, test_key(1, 3), t0() + 240s), InstallStatus::unexpected_epoch);
  ASSERT_EQ(p.receiver.install_epoch(2, test_key(1, 2), t0() + 240s), InstallStatus::installed);
  EXPECT_EQ(p.receiver.wanted_epoch(), std::nullopt);

  const auto r = p.receiver.open(second, t0() + 240s);
  ASSERT_TRUE(r.ok()) << to_string(r.status);
  EXPECT_EQ(payload_id(r.payload), 5u);
  EXPECT_EQ(p.receiver.current_epoch(), 2u);
  EXPECT_TRUE(p.receiver.has_previous_epoch());
  EXPECT_EQ(p.receiver.wanted_epoch(), 3u);  // back to the normal next-key schedule
  ASSERT_TRUE(p.receiver.open(third, t0() + 240s).ok());
  // And the next ordinary rekey works from there.
  p.install_wanted(t0() + 240s);  // epoch 3 on both sides
  auto next_epoch = p.seal(7, t0() + 360s);
  ASSERT_EQ(p.sender.current_epoch(), 3u);
  ASSERT_TRUE(p.receiver.open(next_epoch, t0() + 360s).ok());
  EXPECT_EQ(p.receiver.current_epoch(), 3u);
}

// The hint comes from an unauthenticated packet: a forged far epoch changes no key's role, is
// ignored past kMaxEpochLead, and can move the hint at most once per kEpochHintInterval.
TEST(DataChannel, ForgedLaterEpochOnlyMovesTheHintSlowly) {
  Pair p;
  p.install_wanted(t0());
  p.install_wanted(t0());
  auto forge = [&](std::uint32_t epoch) {
    auto d = p.seal(1, t0());
    store_be32(&d[4], make_gre_key(kServerSid, epoch));
    return d;
  };
  auto far = forge(200);  // 200 ahead: taken for an old epoch's straggler, no hint
  EXPECT_EQ(p.receiver.open(far, t0()).status, DropReason::unknown_epoch);
  EXPECT_EQ(p.receiver.wanted_epoch(), std::nullopt);

  auto five = forge(5);
  EXPECT_EQ(p.receiver.open(five, t0()).status, DropReason::unknown_epoch);
  EXPECT_EQ(p.receiver.wanted_epoch(), 5u);
  ASSERT_EQ(p.receiver.install_epoch(5, test_key(1, 5), t0()), InstallStatus::installed);
  auto five_again = forge(5);
  EXPECT_EQ(p.receiver.open(five_again, t0()).status, DropReason::auth_failed);  // forged: no resync
  EXPECT_EQ(p.receiver.current_epoch(), 0u);
  auto nine = forge(9);
  EXPECT_EQ(p.receiver.open(nine, t0() + 500ms).status, DropReason::unknown_epoch);
  EXPECT_EQ(p.receiver.wanted_epoch(), std::nullopt);  // within the interval: hint (5) kept
  auto nine_later = forge(9);
  EXPECT_EQ(p.receiver.open(nine_later, t0() + 1s).status, DropReason::unknown_epoch);
  EXPECT_EQ(p.receiver.wanted_epoch(), 9u);  // moved, and the probe key of 5 is gone
  // Real traffic was never disturbed.
  auto real = p.seal(2, t0() + 1s);
  ASSERT_TRUE(p.receiver.open(real, t0() + 1s).ok());
  EXPECT_EQ(p.receiver.current_epoch(), 0u);
}

TEST(DataChannel, CounterCrossesLowHalfWrap) {
  Pair p;
  p.install_wanted(t0());
  p.sender.set_next_counter_for_test(0xFFFFFFF0ULL);
  std::vector<std::vector<std::uint8_t>> datagrams;
  for (std::uint32_t id = 0; id < 32; ++id) datagrams.push_back(p.seal(id, t0()));
  std::swap(datagrams[10], datagrams[20]);  // reorder across the wrap
  for (auto& d : datagrams) ASSERT_TRUE(p.receiver.open(d, t0()).ok());
  EXPECT_EQ(p.receiver.replay_window().highest(), 0xFFFFFFF0ULL + 31);
}

// The whole pipeline through many rekeys: packets reordered (displacement bounded well inside one
// epoch, as a real path's reordering is far shorter than the 120 s / 2^28-packet epochs), some
// delivered twice; every packet must be accepted exactly once.
TEST(DataChannel, SimulationThroughRekeysWithReorder) {
  log::set_min_level(log::Level::warning);  // epoch switch lines are noise here
  Limits limits;
  limits.rekey_after_packets = 197;  // rekey often (by count; > 2 x displacement) ...
  limits.rekey_after_time = 3s;     // ... and by time
  Pair p(kDefaultSuite, limits);
  std::mt19937 rng(1234);
  struct InFlight {
    std::uint32_t sent_at;
    std::vector<std::uint8_t> bytes;
  };
  std::deque<InFlight> in_flight;
  std::map<std::uint32_t, int> accepted;
  auto now = t0();
  constexpr std::uint32_t kPackets = 5000;
  constexpr std::uint32_t kMaxDisplacement = 60;
  std::uint32_t duplicates = 0;
  std::uint32_t sent = 0;

  auto deliver_one = [&] {
    std::uniform_int_distribution<std::size_t> pick(0, in_flight.size() - 1);
    const bool overdue = in_flight.front().sent_at + kMaxDisplacement < sent;
    const std::size_t i = overdue ? 0 : pick(rng);
    auto d = std::move(in_flight[i]);
    in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(i));
    if (rng() % 50 == 0) {  // the network duplicates this one
      in_flight.push_back({sent, d.bytes});
      ++duplicates;
    }
    const auto r = p.receiver.open(d.bytes, now);
    if (r.ok()) {
      ++accepted[payload_id(r.payload)];
    } else {
      EXPECT_EQ(r.status, DropReason::replayed) << to_string(r.status);
    }
  };

  for (std::uint32_t id = 0; id < kPackets; ++id) {
    p.install_wanted(now);
    now += 10ms;
    in_flight.push_back({sent++, p.seal(id, now)});
    if (in_flight.size() > 40) deliver_one();
  }
  while (!in_flight.empty()) deliver_one();

  EXPECT_EQ(accepted.size(), kPackets);
  for (const auto& [id, n] : accepted) ASSERT_EQ(n, 1) << id;
  EXPECT_EQ(p.receiver.drops(DropReason::replayed), duplicates);
  EXPECT_GT(*p.sender.current_epoch(), 20u);  // went through many epochs (and the 8-bit epoch byte is fine)
  EXPECT_EQ(p.receiver.current_epoch(), p.sender.current_epoch());
}

}  // namespace
}  // namespace postern::tunnel::data

namespace postern::tunnel::data {
namespace {

TEST(DataChannel, EpochByteWrapsPast255) {
  log::set_min_level(log::Level::warning);
  Limits limits;
  limits.rekey_after_packets = 1;  // a new epoch for every packet
  Pair p(kDefaultSuite, limits);
  for (std::uint32_t id = 0; id < 600; ++id) {
    p.install_wanted(t0());
    auto d = p.seal(id, t0());
    const auto r = p.receiver.open(d, t0());
    ASSERT_TRUE(r.ok()) << id << " " << to_string(r.status);
    EXPECT_EQ(payload_id(r.payload), id);
  }
  EXPECT_EQ(p.sender.current_epoch(), 599u);
  EXPECT_EQ(p.receiver.current_epoch(), 599u);
}

}  // namespace
}  // namespace postern::tunnel::data
