// The fuzz seed corpus tests/fuzz/corpus/gre_frame/: with POSTERN_WRITE_FUZZ_CORPUS=<dir> this
// writes the seeds there; always, it checks that every checked-in frame seed still authenticates
// with the fuzz fixture's keys (so a wire change cannot silently make the seeds useless).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/tunnel/data/fuzz_fixture.hpp"
#include "tunnel/data/lcp_echo.hpp"

namespace postern::tunnel::data {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> seal_seed(DataSender& sender, PppProtocol protocol, std::vector<std::uint8_t> payload,
                                    std::chrono::seconds at = {}) {
  std::vector<std::uint8_t> buf(kSealHeadroom + payload.size() + kTagSize);
  std::copy(payload.begin(), payload.end(), buf.begin() + kSealHeadroom);
  const auto r = sender.seal(protocol, buf, payload.size(), fuzz::fixed_now() + at);
  EXPECT_TRUE(r.ok());
  buf.resize(r.length);
  return buf;
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> make_seeds() {
  DataSender sender = fuzz::make_sender();
  std::vector<std::uint8_t> ipv4(60, 0);
  ipv4[0] = 0x45;
  std::vector<std::uint8_t> ipv6(60, 0);
  ipv6[0] = 0x60;
  const std::uint8_t echo_data[] = {'p', 'i', 'n', 'g'};
  std::vector<std::uint8_t> lcp(12);
  lcp.resize(encode_lcp_echo({LcpEchoKind::request, 1, 0x12345678, echo_data}, lcp));
  // A TCP SYN (IPv4, MSS 1460): the inner-packet parsers' seed.
  std::vector<std::uint8_t> syn = {0x45, 0x00, 0x00, 0x2c, 0, 0, 0x40, 0, 0x40, 0x06, 0, 0, 10, 0, 0, 1,
                                   10, 0, 0, 2, 0xc7, 0x38, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0,
                                   0x60, 0x02, 0xfa, 0xf0, 0, 0, 0, 0, 0x02, 0x04, 0x05, 0xb4};
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> seeds;
  seeds.emplace_back("frame_ipv4", seal_seed(sender, PppProtocol::ipv4, ipv4));
  seeds.emplace_back("frame_ipv6", seal_seed(sender, PppProtocol::ipv6, ipv6));
  seeds.emplace_back("frame_lcp_echo", seal_seed(sender, PppProtocol::lcp, lcp));
  seeds.emplace_back("frame_epoch1", seal_seed(sender, PppProtocol::ipv4, ipv4, kRekeyAfterTime));
  seeds.emplace_back("inner_tcp_syn", syn);
  seeds.emplace_back("inner_lcp_echo", lcp);
  return seeds;
}

TEST(CorpusSeeds, WriteWhenAsked) {
  const char* dir = std::getenv("POSTERN_WRITE_FUZZ_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "set POSTERN_WRITE_FUZZ_CORPUS=<dir> to write the seeds";
  fs::create_directories(dir);
  for (const auto& [name, bytes] : make_seeds()) {
    std::ofstream out(fs::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
}

TEST(CorpusSeeds, GeneratedFramesAuthenticate) {
  DataReceiver receiver = fuzz::make_receiver();
  for (auto& [name, bytes] : make_seeds()) {
    if (name.rfind("frame_", 0) != 0) continue;
    EXPECT_TRUE(receiver.open(bytes, fuzz::fixed_now()).ok()) << name;
  }
  EXPECT_EQ(receiver.current_epoch(), 1u);  // the epoch-1 seed promoted
}

TEST(CorpusSeeds, CheckedInFramesAuthenticate) {
  const fs::path dir = POSTERN_GRE_FRAME_CORPUS;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int frames = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("frame_", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    DataReceiver receiver = fuzz::make_receiver();  // fresh: each seed is opened on its own by the fuzzer too
    EXPECT_TRUE(receiver.open(bytes, fuzz::fixed_now()).ok()) << entry.path();
    ++frames;
  }
  EXPECT_GE(frames, 3);
}

}  // namespace
}  // namespace postern::tunnel::data
