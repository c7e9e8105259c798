// ControlReader: split-point ("grind") test over a stream of every message type, envelope
// errors (unknown type, oversized length) detected from the header alone, and no frame emitted
// for a stream cut short.
#include "tunnel/control/control_reader.hpp"

#include <gtest/gtest.h>

namespace postern::tunnel::control {
namespace {

std::vector<std::uint8_t> sample_stream() {
  std::vector<std::uint8_t> s;
  auto add = [&](const std::vector<std::uint8_t>& m) { s.insert(s.end(), m.begin(), m.end()); };
  Hello h;
  h.session_id = 5;
  h.user = "bob";
  add(encode_hello(h));
  add(encode_auth_ok());
  add(encode_lcp(MessageType::lcp_configure_request, {1400, 10, 60, {}}));
  add(encode_data(std::vector<std::uint8_t>(300, 7)));
  add(encode_data({}));
  add(encode_echo(MessageType::echo_request, {1, 2}));
  add(encode_terminate("done"));
  return s;
}

std::vector<Frame> drain(ControlReader& r) {
  std::vector<Frame> out;
  while (auto f = r.next()) out.push_back(std::move(*f));
  return out;
}

TEST(ControlReader, WholeStream) {
  auto s = sample_stream();
  ControlReader r;
  EXPECT_EQ(r.feed(s), s.size());
  auto frames = drain(r);
  ASSERT_EQ(frames.size(), 7u);
  EXPECT_EQ(frames[0].type, MessageType::hello);
  EXPECT_EQ(frames[3].type, MessageType::data);
  EXPECT_EQ(frames[3].body.size(), 300u);
  EXPECT_TRUE(frames[4].body.empty());
  EXPECT_EQ(frames[6].type, MessageType::terminate);
  EXPECT_FALSE(r.error());
  EXPECT_FALSE(r.mid_frame());
}

TEST(ControlReader, EverySplitPointGivesSameFrames) {
  auto s = sample_stream();
  ControlReader whole;
  whole.feed(s);
  auto expected = drain(whole);
  for (std::size_t a = 0; a <= s.size(); ++a) {
    ControlReader r;
    std::span<const std::uint8_t> all(s);
    ASSERT_EQ(r.feed(all.first(a)), a);
    auto frames = drain(r);
    ASSERT_EQ(r.feed(all.subspan(a)), s.size() - a);
    for (auto& f : drain(r)) frames.push_back(std::move(f));
    ASSERT_EQ(frames.size(), expected.size()) << "split " << a;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(frames[i].type, expected[i].type);
      EXPECT_EQ(frames[i].body, expected[i].body);
    }
  }
}

TEST(ControlReader, ByteAtATime) {
  auto s = sample_stream();
  ControlReader r;
  std::size_t n = 0;
  for (auto b : s) {
    r.feed(std::span<const std::uint8_t>(&b, 1));
    n += drain(r).size();
  }
  EXPECT_EQ(n, 7u);
}

TEST(ControlReader, TruncatedStreamYieldsNothingPartial) {
  auto msg = encode_lcp(MessageType::lcp_configure_request, {1400, 10, 60, {}});
  for (std::size_t cut = 0; cut < msg.size(); ++cut) {
    ControlReader r;
    r.feed(std::span<const std::uint8_t>(msg).first(cut));
    EXPECT_FALSE(r.next()) << cut;
    EXPECT_FALSE(r.error());
    EXPECT_EQ(r.mid_frame(), cut > 0);
  }
}

TEST(ControlReader, OversizedRejectedFromHeader) {
  std::vector<std::uint8_t> max_ok{15, 0x40, 0x00};  // 16384: allowed
  max_ok.resize(3 + kMaxBody, 1);
  ControlReader ok;
  ok.feed(max_ok);
  ASSERT_TRUE(ok.next());
  EXPECT_FALSE(ok.error());

  std::vector<std::uint8_t> big{15, 0x40, 0x01, 1, 2, 3};  // 16385
  ControlReader r;
  EXPECT_EQ(r.feed(big), 3u);  // stops right after the header
  EXPECT_EQ(r.error(), errc::oversized_message);
  EXPECT_EQ(r.feed(big), 0u);  // dead afterwards
  EXPECT_FALSE(r.next());
}

TEST(ControlReader, UnknownTypeAndFramesBeforeError) {
  std::vector<std::uint8_t> s = encode_auth_ok();
  s.insert(s.end(), {0, 0, 0});
  ControlReader r;
  r.feed(s);
  EXPECT_EQ(r.error(), errc::unknown_message_type);
  ASSERT_TRUE(r.next());  // the good frame before the error is still delivered
  EXPECT_FALSE(r.next());
  for (std::uint8_t t : {std::uint8_t{17}, std::uint8_t{255}}) {
    ControlReader r2;
    std::vector<std::uint8_t> m{t, 0, 0};
    r2.feed(m);
    EXPECT_EQ(r2.error(), errc::unknown_message_type);
  }
}

}  // namespace
}  // namespace postern::tunnel::control
