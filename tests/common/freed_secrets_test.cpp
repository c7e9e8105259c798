// docs/security.md says passwords are wiped, never just dropped. This binary replaces the global
// operator delete with one that, while armed, scans every block being freed for the password (and
// its base64 forms as sent in SMTP AUTH), so a buffer a password passed through and that was
// freed unwiped (a line buffer, a frame body, a reallocated string) is caught. What it cannot see:
// stack buffers and objects still alive (SecretBytes wipes itself); the sanity test shows the
// detector finds an unwiped copy.
#include <gtest/gtest.h>

#include <malloc.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "smtp/core/session.hpp"
#include "tunnel/control/control_message.hpp"
#include "tunnel/control/control_reader.hpp"

namespace {

std::atomic<bool> g_armed{false};
std::atomic<int> g_hits{0};
std::array<std::string_view, 3> g_needles;

void scan(void* p) {
  if (p == nullptr || !g_armed.load(std::memory_order_relaxed)) return;
  const std::string_view block(static_cast<const char*>(p), malloc_usable_size(p));
  for (std::string_view needle : g_needles) {
    if (!needle.empty() && block.find(needle) != std::string_view::npos) {
      g_hits.fetch_add(1);
      if (std::getenv("FREED_SECRETS_ABORT")) std::abort();  // debugging: see who freed it
    }
  }
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept {
  scan(p);
  std::free(p);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }

namespace postern {
namespace {

const std::string kPassword = "Sup3r-S3cret-Passw0rd-for-wipe-tests";

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t group = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) group |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) group |= static_cast<std::uint8_t>(in[i + 2]);
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(group >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[group & 63] : '=';
  }
  return out;
}

class Armed {
 public:
  Armed(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    g_needles = {a, b, c};
    g_hits = 0;
    g_armed = true;
  }
  ~Armed() { g_armed = false; }
};

TEST(FreedSecrets, DetectorFindsAnUnwipedCopy) {
  const std::string* copy = nullptr;
  {
    Armed armed(kPassword);
    copy = new std::string(kPassword + " and more, on the heap");
    delete copy;
  }
  EXPECT_GE(g_hits.load(), 1);
}

// AUTH PLAIN with an initial response, AUTH PLAIN with a continuation line, AUTH LOGIN: fed
// whole and byte by byte, every verdict a failure (the session keeps going).
void run_smtp_auth(bool byte_by_byte) {
  using namespace smtp;
  const std::string plain = base64(std::string("\0alice\0", 7) + kPassword);
  const std::string login = base64(kPassword);
  const std::vector<std::string> steps = {
      "EHLO c\r\nAUTH PLAIN " + plain + "\r\n", "AUTH PLAIN\r\n" + plain + "\r\n",
      "AUTH LOGIN\r\n" + base64("alice") + "\r\n" + login + "\r\n"};
  auto previous_sink = log::set_sink([](log::Level, std::string_view) {});
  int verified = 0;
  {
    Armed armed(kPassword, plain, login);
    SessionConfig config;
    config.hostname = "mail.example.test";
    config.auth_available = true;
    config.domains = {"example.test"};
    Session session(config, ClientInfo{"10.77.0.2", 40112, false, ""}, "w1", [] { return std::string("Q"); });
    session.set_tls_active(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
    session.start({});
    for (const std::string& step : steps) {
      if (byte_by_byte) {
        for (const char& c : step) session.feed(std::span<const char>(&c, 1), {});
      } else {
        session.feed(std::span<const char>(step.data(), step.size()), {});
      }
      for (auto& action : session.take_actions()) {
        if (auto* auth = std::get_if<action::VerifyAuth>(&action)) {
          verified += auth->password.view() == kPassword ? 1 : 0;
          session.on_auth_result(false, {});
        }
      }
      (void)session.take_output();
    }
  }
  EXPECT_EQ(verified, 3);
  EXPECT_EQ(g_hits.load(), 0) << "a freed SMTP buffer still held the password";
  log::set_sink(std::move(previous_sink));
}

TEST(FreedSecrets, SmtpAuthLinesAreWiped) { run_smtp_auth(false); }
TEST(FreedSecrets, SmtpAuthLinesAreWipedByteByByte) { run_smtp_auth(true); }

TEST(FreedSecrets, ControlHelloIsWiped) {
  using namespace tunnel::control;
  Hello hello;
  hello.session_id = 7;
  hello.user = "alice";
  hello.password = SecretBytes(std::string_view(kPassword));
  hello.ciphers = {1, 2};  // after the password: a frame cut one byte short still holds all of it
  std::vector<std::uint8_t> wire = encode_hello(hello);
  bool decoded = false;
  {
    Armed armed(kPassword);
    {
      ControlReader reader;  // a complete HELLO, byte by byte
      for (std::size_t i = 0; i < wire.size(); ++i) reader.feed(std::span(wire).subspan(i, 1));
      auto frame = reader.next();
      ASSERT_TRUE(frame.has_value());
      Hello out;
      decoded = !decode_hello(frame->body, out) && out.password.view() == kPassword;
    }
    {
      ControlReader reader;  // a HELLO cut off half way (the connection dropped)
      reader.feed(std::span(wire).first(wire.size() - 1));
    }
  }
  OPENSSL_cleanse(wire.data(), wire.size());
  EXPECT_TRUE(decoded);
  EXPECT_EQ(g_hits.load(), 0) << "a freed control buffer still held the password";
}

}  // namespace
}  // namespace postern
