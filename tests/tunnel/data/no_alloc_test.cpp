// The hot path allocates nothing: after setup, DataSender::seal and DataReceiver::open (accept,
// replay drop and auth failure) perform no operator new and no OpenSSL allocation. Its own
// executable because it replaces the global operator new and OpenSSL's allocator
// (tests/common/allocation_counter.hpp).
#include <openssl/crypto.h>

#include <gtest/gtest.h>

#include "tests/common/allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "tests/tunnel/data/test_support.hpp"
#include "tunnel/data/data_receiver.hpp"
#include "tunnel/data/data_sender.hpp"

using postern::test::g_allocations;
using postern::test::g_hooked;

namespace postern::tunnel::data {
namespace {

class NoAlloc : public ::testing::TestWithParam<Suite> {};

TEST_P(NoAlloc, SealAndOpenSteadyState) {
  EXPECT_TRUE(g_hooked);
  const std::uint64_t at_start = g_allocations.load();
  DataSender sender(7, GetParam());
  DataReceiver receiver(7, GetParam());
  ASSERT_EQ(sender.install_epoch(0, test::test_key(1, 0), test::t0()), InstallStatus::installed);
  ASSERT_EQ(receiver.install_epoch(0, test::test_key(1, 0), test::t0()), InstallStatus::installed);
  std::vector<std::uint8_t> buf(1500 + kOverhead);
  std::vector<std::uint8_t> copy(buf.size());
  EXPECT_GT(g_allocations.load(), at_start);  // the counters do see setup allocations
  const std::size_t len = 1400;

  const std::uint64_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    buf[kSealHeadroom] = 0x45;
    const auto sealed = sender.seal(PppProtocol::ipv4, buf, len, test::t0());
    ASSERT_TRUE(sealed.ok());
    const auto datagram = std::span(buf).first(sealed.length);
    std::copy(datagram.begin(), datagram.end(), copy.begin());
    ASSERT_TRUE(receiver.open(datagram, test::t0()).ok());
    const auto replay = std::span(copy).first(sealed.length);
    ASSERT_EQ(receiver.open(replay, test::t0()).status, DropReason::replayed);
    std::copy(datagram.begin(), datagram.end(), copy.begin());
    copy[20] ^= 1;
    sender.seal(PppProtocol::ipv4, buf, len, test::t0());  // a fresh counter for the forgery
    std::copy(buf.begin(), buf.begin() + 12, copy.begin());
    ASSERT_EQ(receiver.open(replay, test::t0()).status, DropReason::auth_failed);
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

INSTANTIATE_TEST_SUITE_P(Suites, NoAlloc, ::testing::Values(Suite::aes_256_gcm, Suite::chacha20_poly1305),
                         [](const auto& param_info) { return param_info.param == Suite::aes_256_gcm ? "Aes" : "ChaCha"; });

}  // namespace
}  // namespace postern::tunnel::data
