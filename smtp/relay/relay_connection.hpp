// One TCP (+ STARTTLS) connection to a relay, driving an smtp::ClientSession: the byte pump of
// the relay adapter. It moves bytes between the socket and the session, runs the TLS handshake
// when the session asks, and arms one timer per operation from the session's current_timeout().
// Contract: blocking by design (RelayDelivery::deliver runs on the queue runner's thread): every
// step is an async Asio operation run to completion on the caller's io_context with a timer,
// so a stuck relay costs at most the RFC 5321 timeout of that step. Never throws; knows no SMTP
// verbs (the session does). The io_context is used by one thread only.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smtp/core/client_session.hpp"
#include "smtp/relay/relay_tls.hpp"

namespace postern::smtp::relay {

struct RelayTimeouts {
  std::chrono::milliseconds connect{30'000};
  std::chrono::milliseconds command{300'000};
  std::chrono::milliseconds data{180'000};
  std::chrono::milliseconds final{600'000};
};

class RelayConnection {
 public:
  // tls_context: nullptr for tls = "none"; verify: check the chain and `tls_name`.
  RelayConnection(asio::io_context& io, asio::ssl::context* tls_context, bool verify,
                  RelayTimeouts timeouts, std::string id);
  ~RelayConnection();
  RelayConnection(const RelayConnection&) = delete;
  RelayConnection& operator=(const RelayConnection&) = delete;

  // Connects to `address` and runs greeting, EHLO, STARTTLS and AUTH until the session is ready.
  // Returns "" on success, else the reason in words (the connection is closed then).
  std::string open(const asio::ip::tcp::endpoint& address, const std::string& tls_name, ClientConfig config);

  // Relays one message; one outcome per recipient of `message`. On a connection failure the
  // outcomes say so (temporary) and failure() holds the reason.
  std::vector<RecipientOutcome> send(const OutgoingMessage& message);

  void quit();  // QUIT, wait for the reply (command timeout), close
  // Ready for another message: the session is ready and the relay has neither closed the
  // connection nor sent anything unasked since the last reply (checked without blocking).
  bool usable();

  std::size_t messages() const { return session_ ? session_->messages_submitted() : 0; }
  const TlsSummary& tls() const { return tls_summary_; }
  bool tls_active() const { return tls_ != nullptr; }
  const std::string& failure() const { return failure_; }
  const std::string& id() const { return id_; }

 private:
  template <typename Done>
  void pump_until(Done done);
  bool flush_output();
  void perform(ClientAction& action);
  void start_tls();
  void read_once();
  std::chrono::milliseconds limit_for(ClientTimeout kind) const;
  void close_socket();

  asio::io_context& io_;
  asio::ssl::context* tls_context_;
  bool verify_;
  RelayTimeouts timeouts_;
  std::string id_;
  std::string tls_name_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::unique_ptr<ClientSession> session_;
  TlsSummary tls_summary_;
  std::vector<char> read_buffer_;
  std::optional<std::vector<RecipientOutcome>> done_;
  std::string failure_;
  bool closed_ = true;
};

}  // namespace postern::smtp::relay
