// The session streams a message instead of holding it: a multi-megabyte DATA or BDAT fed in
// 64 KiB reads (as the adapter reads) comes out as MessageData actions no larger than one read
// (plus the Received: header), in order, ending in StoreMessage; what they carry is exactly the
// unstuffed content. Over the size limit the file is discarded as soon as the limit is passed.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "smtp/core/session.hpp"

namespace postern::smtp {
namespace {

constexpr std::size_t kRead = 64 * 1024;

struct Streamed {
  std::vector<std::string> kinds;  // "begin", "data", "store", "discard", in order (data runs folded)
  std::string bytes;
  std::size_t largest = 0;
  std::string replies;
};

class Harness {
 public:
  explicit Harness(std::uint64_t max_size) {
    SessionConfig config;
    config.hostname = "mail.example.test";
    config.max_message_size = max_size;
    config.domains = {"example.test"};
    session_.emplace(config, ClientInfo{"10.77.0.2", 40112, true, ""}, "s1", [] { return std::string("Q1"); });
    session_->start(now());
    collect();
  }

  void feed(std::string_view bytes) {
    for (std::size_t pos = 0; pos < bytes.size(); pos += kRead) {
      const std::string_view piece = bytes.substr(pos, kRead);
      session_->feed(std::span<const char>(piece.data(), piece.size()), now());
      collect();
    }
  }

  Streamed out;

 private:
  static std::chrono::system_clock::time_point now() { return std::chrono::system_clock::time_point{}; }
  void note(const char* kind) {
    if (out.kinds.empty() || out.kinds.back() != kind || std::string(kind) != "data") out.kinds.push_back(kind);
  }
  void collect() {
    out.replies += session_->take_output();
    for (auto& a : session_->take_actions()) {
      if (std::holds_alternative<action::BeginMessage>(a)) note("begin");
      if (auto* d = std::get_if<action::MessageData>(&a)) {
        note("data");
        out.largest = std::max(out.largest, d->bytes.size());
        out.bytes += d->bytes;
      }
      if (std::holds_alternative<action::DiscardMessage>(a)) note("discard");
      if (std::holds_alternative<action::StoreMessage>(a)) {
        note("store");
        session_->on_store_result(true, "", now());
        out.replies += session_->take_output();
      }
    }
  }
  std::optional<Session> session_;
};

// ~3 MiB of 78-octet lines, every 7th starting with a dot (stuffed on the wire).
std::string content(std::size_t lines) {
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) {
    std::string line = (i % 7 == 0 ? "." : "L") + std::to_string(i);
    line.resize(76, 'x');
    text += line + "\r\n";
  }
  return text;
}

std::string stuffed(const std::string& text) {
  std::string wire;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find("\r\n", start) + 2;
    if (text[start] == '.') wire += '.';
    wire.append(text, start, end - start);
    start = end;
  }
  return wire;
}

std::string received_stripped(const std::string& bytes) {
  // The Received: header is the first field, folded; the content starts after its last line.
  std::size_t pos = 0;
  do {
    pos = bytes.find("\r\n", pos) + 2;
  } while (pos < bytes.size() && (bytes[pos] == ' ' || bytes[pos] == '\t'));
  return bytes.substr(pos);
}

TEST(Streaming, DataComesOutInReadSizedPiecesExactly) {
  const std::string text = content(40000);  // 3.2 MB
  Harness h(10 * 1024 * 1024);
  h.feed("EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
  h.feed(stuffed(text) + ".\r\n");
  EXPECT_EQ(h.out.kinds, (std::vector<std::string>{"begin", "data", "store"}));
  EXPECT_LE(h.out.largest, kRead + 1);
  EXPECT_EQ(received_stripped(h.out.bytes), text);
  EXPECT_NE(h.out.replies.find("250 2.0.0 Ok: queued as Q1"), std::string::npos);
}

TEST(Streaming, BdatChunksComeOutExactly) {
  const std::string text = content(40000);
  Harness h(10 * 1024 * 1024);
  h.feed("EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n");
  const std::size_t half = text.size() / 2;
  h.feed("BDAT " + std::to_string(half) + "\r\n" + text.substr(0, half));
  h.feed("BDAT " + std::to_string(text.size() - half) + " LAST\r\n" + text.substr(half));
  EXPECT_EQ(h.out.kinds, (std::vector<std::string>{"begin", "data", "store"}));
  EXPECT_LE(h.out.largest, kRead + 1024);  // the first piece also carries the Received: header
  EXPECT_EQ(received_stripped(h.out.bytes), text);
}

TEST(Streaming, OverTheLimitIsDiscardedWhenPassedAndReadToTheEnd) {
  const std::string text = content(40000);
  Harness h(1024 * 1024);
  h.feed("EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
  h.feed(stuffed(text));
  // Discarded as soon as the limit passed, long before the end of the data.
  EXPECT_EQ(h.out.kinds, (std::vector<std::string>{"begin", "data", "discard"}));
  EXPECT_LE(h.out.bytes.size(), 1024u * 1024u + 1024u);  // the limit and the Received: header
  h.feed(".\r\nNOOP\r\n");
  EXPECT_EQ(h.out.kinds.size(), 3u);  // nothing after the discard
  EXPECT_NE(h.out.replies.find("552 5.3.4"), std::string::npos);
  EXPECT_NE(h.out.replies.find("250 2.0.0 Ok\r\n"), std::string::npos);  // the NOOP: in sync
}

}  // namespace
}  // namespace postern::smtp
