// Internal to smtp/server: what the service shares with its connections (configuration, TLS
// context, spool, worker pools, limits and counters). Not a public header.
// Threading: everything here is touched from the io thread except the atomics, spool_ and
// runner_ (thread-safe) and passwords (thread-safe authenticate()). auth_throttle has its own mutex.
#pragma once

#include "common/config.hpp"
#include "smtp/core/session.hpp"
#include "smtp/relay/relay_delivery.hpp"
#include "smtp/server/submission_rules.hpp"
#include "smtp/spool/maildir_delivery.hpp"
#include "smtp/spool/queue_runner.hpp"
#include "smtp/spool/routing_delivery.hpp"
#include "smtp/spool/spool.hpp"
#include "auth/throttle.hpp"
#include "auth/password_backend.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/thread_pool.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace postern::smtp::server {

struct AtomicCounters {
  std::atomic<std::uint64_t> connections{0}, active_connections{0}, rejected_connections{0},
      early_talkers{0}, wrong_mode{0}, tls_handshakes{0}, tls_failures{0}, auth_ok{0},
      auth_failed{0}, messages_accepted{0}, message_bytes{0}, store_failures{0}, shed_connections{0};
  std::array<std::atomic<std::uint64_t>, 4> replies_by_class{};  // 2xx, 3xx, 4xx, 5xx (Session)
};

// Per-source AUTH throttling, as the tunnel does for its passwords: the configured
// auth_failure_delay is the first (and minimum) delay, doubling per failure up to 8x (16 s with
// the 2 s default); 10 failures within 5 minutes lock the source out for 5 minutes.
inline auth::ThrottleLimits smtp_auth_throttle_limits(const config::SmtpConfig& config) {
  auth::ThrottleLimits limits;
  limits.base_delay = std::max(config.auth_failure_delay, std::chrono::milliseconds(1));
  limits.max_delay = limits.base_delay * 8;
  return limits;
}

struct ServiceState {
  ServiceState(asio::io_context& io_context, const config::SmtpConfig& config)
      : io(io_context), cfg(config), auth_throttle(smtp_auth_throttle_limits(config)) {}

  asio::io_context& io;
  config::SmtpConfig cfg;
  std::function<bool(const asio::ip::address&)> is_trusted_client;
  std::function<std::string(const asio::ip::address&)> tunnel_user_of;

  std::optional<asio::ssl::context> tls;
  std::shared_ptr<auth::PasswordBackend> passwords;  // null: AUTH not offered
  std::unique_ptr<SubmissionRules> rules;        // sender/recipient maps, hourly limits
  std::unique_ptr<spool::Spool> spool;
  // Deliveries: the Maildir for the local domains, the relay for the rest, and the routing
  // between them that the queue runner calls.
  spool::MaildirOptions maildir_options;  // host name, [smtp] maildir_mode / maildir_group
  std::unique_ptr<spool::MaildirDelivery> maildir;
  std::unique_ptr<spool::Delivery> relay;  // null without [smtp.relay]
  std::unique_ptr<spool::RoutingDelivery> delivery;
  std::unique_ptr<spool::QueueRunner> runner;
  // scrypt is ~50 ms of CPU: two threads keep a password-guessing client from starving
  // deliveries. Spool writes wait on fsync, so more threads mean bigger group commits.
  std::unique_ptr<asio::thread_pool> auth_pool;
  std::unique_ptr<asio::thread_pool> store_pool;

  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors;
  // Bound by open() (before the privilege drop), accepted on by start().
  std::vector<std::pair<std::shared_ptr<asio::ip::tcp::acceptor>, config::SmtpTlsMode>> bound;
  bool opened = false;
  std::set<std::shared_ptr<asio::ip::tcp::socket>> sockets;  // open connections, for stop()
  // Per open connection: when it was accepted and whether it has an identity (a tunnel user or
  // AUTH, or a trusted network). When max_connections is reached, a newcomer with an identity
  // sheds the oldest connection without one (shed_for_identified, smtp_service.cpp).
  struct Slot {
    std::chrono::steady_clock::time_point accepted;
    bool identified = false;
  };
  std::map<const asio::ip::tcp::socket*, Slot> slots;
  std::map<asio::ip::address, std::uint32_t> per_ip;
  AtomicCounters counters;
  std::mutex mutex;  // guards sockets, slots and per_ip (the io_context may run on several threads)
  std::atomic<bool> stopped{false};
  auth::AuthThrottle auth_throttle;  // keyed by the client's IP address
  std::mutex throttle_mutex;                 // guards auth_throttle and queued_verifications
  std::uint32_t queued_verifications = 0;    // AUTHs waiting for auth_pool ([smtp] max_queued_verifications)

  SessionConfig session_config() const;
  bool is_trusted(const asio::ip::address& address) const;
};

// Random hex (RAND_bytes): session ids and queue ids. Never used in the cores.
std::string random_hex(std::size_t bytes);

}  // namespace postern::smtp::server
