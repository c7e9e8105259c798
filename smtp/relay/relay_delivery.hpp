// spool::Delivery to the site's MTA ([smtp.relay], docs/smtp-relay.md): the Asio adapter around
// smtp::ClientSession. deliver() reuses the cached connection when it is still usable, else
// tries the hosts in order (every address of each name) until one reaches `ready`: connect
// failures, refused greetings, missing STARTTLS, failed handshakes and refused credentials all
// fail over to the next host. Outcomes map to DeliveryStatus: 2xx delivered, 4xx and any
// connection or TLS trouble temporary_failure, 5xx permanent_failure.
// Contract: as spool::Delivery (one thread, may block, never throws). The io_context is private
// and runs only inside deliver() and idle(), on the caller's thread. Every attempt is logged
// (component "relay"): host, address, TLS version/cipher/verified, each recipient's reply, the
// relay's queue id; the password is never logged.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/secret.hpp"
#include "smtp/spool/delivery.hpp"

namespace postern::smtp::relay {

class RelayConnection;

class RelayDelivery : public spool::Delivery {
 public:
  // Throws std::runtime_error when the CA file cannot be loaded (start-up only).
  RelayDelivery(const config::RelayConfig& config, std::optional<SecretBytes> password, std::string helo_name);
  ~RelayDelivery() override;

  std::vector<spool::DeliveryResult> deliver(const spool::QueuedMessage& message,
                                             std::span<const std::string> recipients) override;
  void idle() override;  // QUIT and close the cached connection

  // For tests and status: connections opened so far (successfully reaching `ready`).
  std::size_t connections_opened() const { return connections_opened_; }

 private:
  struct Open;  // the cached connection and the host it goes to
  std::unique_ptr<Open> connect(std::string& last_error);
  std::vector<spool::DeliveryResult> all_temporary(std::size_t n, const std::string& reason) const;

  config::RelayConfig config_;
  std::optional<SecretBytes> password_;
  std::string helo_name_;
  asio::io_context io_;
  std::unique_ptr<asio::ssl::context> tls_context_;  // null for tls = "none"
  std::unique_ptr<Open> cached_;
  std::chrono::steady_clock::time_point last_used_{};
  std::size_t connections_opened_ = 0;
  std::size_t next_id_ = 0;
};

}  // namespace postern::smtp::relay
