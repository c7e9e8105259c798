// The SMTP submission service embedded in `postern server`: listeners (modes starttls, tls,
// auto), per-connection coroutines that move bytes into smtp::Session, the durable spool and
// the Maildir queue runner.
// Contract:
//  - Construct on the daemon's io_context; start() binds every listener (throws
//    std::runtime_error naming the address that failed), loads TLS material and the users file
//    (throws naming the file), recovers the queue and starts the queue runner thread.
//  - Everything else runs on `io`: the network thread never blocks. scrypt verification, spool
//    writes and deliveries run on private worker threads.
//  - stop() closes the listeners and every connection, stops the queue runner and joins the
//    worker threads; call it from the io thread or after io.run() returned.
//  - is_trusted_client(addr): may submit without AUTH (tunnel pool / trusted networks);
//    tunnel_user_of(addr): the tunnel user owning that address, "" if none (for Received).
#pragma once

#include "auth/password_backend.hpp"
#include "common/config.hpp"
#include "smtp/spool/queue_snapshot.hpp"
#include "smtp/spool/sync_latency.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace postern::smtp::server {

struct ServiceState;

class SmtpService {
 public:
  SmtpService(asio::io_context& io, const config::SmtpConfig& cfg,
              std::function<bool(const asio::ip::address&)> is_trusted_client,
              std::function<std::string(const asio::ip::address&)> tunnel_user_of,
              std::shared_ptr<auth::PasswordBackend> passwords = nullptr);  // null: [smtp] users, if set
  ~SmtpService();
  SmtpService(const SmtpService&) = delete;
  SmtpService& operator=(const SmtpService&) = delete;

  // Root-only part of startup, no threads: loads TLS material and users, binds the
  // listeners. The daemon calls it before dropping privileges.
  void open();
  // Calls open() if needed, then opens the spool (as the run-as user), starts the worker
  // threads, the queue runner and accepting.
  void start();
  void stop();
  // SIGHUP: re-reads the users file (AUTH), the sender map and the recipient map; a file that
  // fails to load keeps its old contents (logged).
  void reload();

  struct Counters {
    std::uint64_t connections = 0;          // accepted since start
    std::uint64_t active_connections = 0;
    std::uint64_t rejected_connections = 0; // over max_connections / max_connections_per_ip
    std::uint64_t shed_connections = 0;     // closed (no identity) to admit one with an identity
    std::uint64_t early_talkers = 0;        // auto mode: spoke before the greeting
    std::uint64_t wrong_mode = 0;           // TLS on a starttls port or plaintext on a tls port
    std::uint64_t tls_handshakes = 0;       // successful (implicit or STARTTLS)
    std::uint64_t tls_failures = 0;
    std::uint64_t auth_ok = 0;
    std::uint64_t auth_failed = 0;
    std::uint64_t messages_accepted = 0;    // 250 after DATA/BDAT LAST
    std::uint64_t message_bytes = 0;        // bytes of accepted messages
    std::uint64_t store_failures = 0;
    std::uint64_t delivered = 0;            // recipients delivered to the Maildir
    std::uint64_t relayed = 0;              // recipients accepted by the relay ([smtp.relay])
    std::uint64_t bounced = 0;              // delivery status notifications created
    std::uint64_t deferred = 0;
    std::uint64_t delivery_failed = 0;
    std::uint64_t queued = 0;               // messages waiting in the queue
    std::uint64_t oldest_queued_seconds = 0;  // age of the oldest of them (0: queue empty)
    std::uint64_t rate_limited_messages = 0;    // 450 4.7.1: messages_per_hour
    std::uint64_t rate_limited_recipients = 0;  // 452 4.7.1: recipients_per_hour
    // Replies the SMTP sessions sent, by class; the connection's own refusals (connection
    // limits, early talker, wrong mode) never reach a session and are counted above instead.
    std::uint64_t replies_2xx = 0, replies_3xx = 0, replies_4xx = 0, replies_5xx = 0;
  };
  Counters counters() const;
  // The spool's fsync latency histogram; an empty one before start() opened the spool.
  spool::SyncLatency::Snapshot spool_sync_latency() const;

  // Operator verbs for `postern queue` (QueueRunner's, thread-safe; false: no such message).
  std::vector<spool::MessageSnapshot> queue_list() const;  // blocking file I/O, oldest first
  bool queue_retry(const std::string& id);
  std::size_t queue_retry_all();
  bool queue_hold(const std::string& id);
  bool queue_release(const std::string& id);
  bool queue_remove(const std::string& id);

 private:
  std::shared_ptr<ServiceState> state_;
};

}  // namespace postern::smtp::server
