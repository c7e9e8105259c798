// Fuzz target: a Session fed arbitrary bytes, with every action answered automatically.
// The first input byte picks the setup (trusted, implicit TLS, auth verdicts, store verdicts);
// the rest is split into feeds at 0xFF bytes so pipelining and partial lines are exercised.
// Invariants checked: no crash/UB; never a "250 2.0.0 Ok: queued" reply without a store; the
// streaming actions come in order (MessageData and StoreMessage/DiscardMessage only for the
// message begun last, each ending it) and no MessageData is larger than the feed that made it
// plus the Received: header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "smtp/core/session.hpp"

using namespace postern::smtp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    postern::log::set_sink([](postern::log::Level, std::string_view) {});
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  const std::uint8_t setup = data[0];
  SessionConfig config;
  config.hostname = "mail.example.test";
  config.max_message_size = 4096;
  config.max_recipients = 4;
  config.domains = {"example.test"};
  config.starttls_available = true;
  config.auth_available = true;
  config.max_text_line = 200;
  ClientInfo client{"10.77.0.2", 40112, (setup & 1) != 0, ""};
  int ids = 0;
  Session session(config, client, "fz", [&] { return "Q" + std::to_string(++ids); });
  if (setup & 2) session.set_tls_active(TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"});
  const auto now = std::chrono::system_clock::time_point{};
  session.start(now);
  int stores_ok = 0;
  int queued_replies = 0;
  bool open = false;
  std::string open_id;
  std::size_t last_feed = 0;
  auto drain = [&] {
    for (int rounds = 0; rounds < 64; ++rounds) {
      const std::string out = session.take_output();
      for (std::size_t p = out.find("Ok: queued as"); p != std::string::npos; p = out.find("Ok: queued as", p + 1)) {
        ++queued_replies;
      }
      auto actions = session.take_actions();
      if (actions.empty()) return;
      for (auto& a : actions) {
        if (std::holds_alternative<action::VerifyAuth>(a)) {
          session.on_auth_result((setup & 4) != 0, now);
        } else if (auto* begin = std::get_if<action::BeginMessage>(&a)) {
          if (open) std::abort();
          open = true;
          open_id = begin->queue_id;
        } else if (auto* bytes = std::get_if<action::MessageData>(&a)) {
          if (!open || bytes->bytes.size() > last_feed + 2048) std::abort();
        } else if (auto* discard = std::get_if<action::DiscardMessage>(&a)) {
          if (!open || discard->queue_id != open_id) std::abort();
          open = false;
        } else if (auto* store = std::get_if<action::StoreMessage>(&a)) {
          if (!open || store->queue_id != open_id) std::abort();
          open = false;
          const bool ok = (setup & 8) == 0;
          stores_ok += ok ? 1 : 0;
          session.on_store_result(ok, "fuzz", now);
        } else if (std::holds_alternative<action::StartTls>(a)) {
          session.on_tls_established(TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"});
        }
      }
    }
  };
  drain();
  std::size_t start = 1;
  for (std::size_t i = 1; i <= size; ++i) {
    if (i == size || data[i] == 0xFF) {
      last_feed = i - start;
      session.feed(std::span<const char>(reinterpret_cast<const char*>(data + start), i - start), now);
      drain();
      start = i + 1;
    }
  }
  if (setup & 16) session.on_timeout(session.current_timeout());
  drain();
  if (queued_replies > stores_ok) std::abort();
  return 0;
}
