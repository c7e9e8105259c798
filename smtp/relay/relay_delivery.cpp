// RelayDelivery: connection choice, failover, reuse and the mapping of per-recipient outcomes
// to the queue's DeliveryResult (see relay_delivery.hpp).
#include "smtp/relay/relay_delivery.hpp"

#include <asio/ip/tcp.hpp>

#include <utility>

#include "common/log.hpp"
#include "smtp/relay/relay_connection.hpp"

namespace postern::smtp::relay {
namespace {

using asio::ip::tcp;
constexpr std::string_view kLog = "relay";

bool verifies(config::RelayTlsPolicy policy) { return policy == config::RelayTlsPolicy::verify; }

spool::DeliveryResult to_result(const RecipientOutcome& o, const std::string& host) {
  spool::DeliveryResult r;
  const bool from_relay = o.code != 0;
  r.remote_mta = from_relay ? host : "";
  r.remote_reply = from_relay ? o.text : "";
  switch (o.status) {
    case RecipientStatus::delivered:
      r.status = spool::DeliveryStatus::delivered;
      r.status_code = o.enhanced_code.empty() ? "2.0.0" : o.enhanced_code;
      r.detail = "relayed to " + host + " (queued as " + o.queue_id + ")";
      break;
    case RecipientStatus::temporary:
      r.status = spool::DeliveryStatus::temporary_failure;
      r.status_code = o.enhanced_code.starts_with("4.") ? o.enhanced_code : "4.0.0";
      r.detail = (from_relay ? host + " said: " : "relay " + host + ": ") + o.text;
      break;
    case RecipientStatus::permanent:
      r.status = spool::DeliveryStatus::permanent_failure;
      r.status_code = o.enhanced_code.starts_with("5.") ? o.enhanced_code : "5.0.0";
      r.detail = (from_relay ? host + " said: " : "not relayed to " + host + ": ") + o.text;
      break;
  }
  return r;
}

}  // namespace

struct RelayDelivery::Open {
  std::unique_ptr<RelayConnection> connection;
  std::string host;
};

RelayDelivery::RelayDelivery(const config::RelayConfig& config, std::optional<SecretBytes> password,
                             std::string helo_name)
    : config_(config), password_(std::move(password)), helo_name_(std::move(helo_name)) {
  if (config_.tls != config::RelayTlsPolicy::none) {
    tls_context_ = std::make_unique<asio::ssl::context>(make_relay_context(verifies(config_.tls), config_.ca));
  }
}

RelayDelivery::~RelayDelivery() { idle(); }

void RelayDelivery::idle() {
  if (!cached_) return;
  cached_->connection->quit();
  log::info(kLog, cached_->connection->id(), "closed", {{"host", cached_->host},
                                                        {"messages", cached_->connection->messages()}});
  cached_.reset();
}

std::vector<spool::DeliveryResult> RelayDelivery::deliver(const spool::QueuedMessage& message,
                                                         std::span<const std::string> recipients) {
  const auto now = std::chrono::steady_clock::now();
  if (cached_ && (!cached_->connection->usable() ||
                  cached_->connection->messages() >= config_.max_messages_per_connection ||
                  now - last_used_ > config_.reuse_idle)) {
    idle();
  }
  std::string last_error;
  if (!cached_) cached_ = connect(last_error);
  if (!cached_) return all_temporary(recipients.size(), last_error);

  // The recipients passed are a subset of the message's; their DSN parameters come along.
  std::vector<OutgoingRecipient> rcpts;
  rcpts.reserve(recipients.size());
  for (const std::string& rcpt : recipients) {
    OutgoingRecipient r{rcpt, "", ""};
    for (std::size_t i = 0; i < message.recipients.size(); ++i) {
      if (message.recipients[i] != rcpt) continue;
      const spool::RecipientParams& p = message.params(i);
      r.notify = p.notify;
      r.orcpt = p.orcpt;
      break;
    }
    rcpts.push_back(r);
  }
  OutgoingMessage out;
  out.sender = message.sender;
  out.recipients = rcpts;
  out.content = message.message;
  out.eight_bit = message.eight_bit;
  out.smtputf8 = message.smtputf8;
  out.dsn_ret = message.dsn_ret;
  out.dsn_envid = message.dsn_envid;

  RelayConnection& conn = *cached_->connection;
  std::vector<RecipientOutcome> outcomes = conn.send(out);
  std::vector<spool::DeliveryResult> results;
  results.reserve(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const RecipientOutcome& o = outcomes[i];
    log::info(kLog, conn.id(), "rcpt",
              {{"queue_id", message.id}, {"to", recipients[i]}, {"host", cached_->host},
               {"result", to_string(o.status)}, {"code", o.code}, {"reply", o.text},
               {"relay_id", o.queue_id}});
    results.push_back(to_result(o, cached_->host));
  }
  if (!conn.failure().empty() && !conn.usable()) {
    log::warn(kLog, conn.id(), "connection_failed", {{"host", cached_->host}, {"reason", conn.failure()}});
    cached_.reset();
  }
  last_used_ = std::chrono::steady_clock::now();
  return results;
}

std::unique_ptr<RelayDelivery::Open> RelayDelivery::connect(std::string& last_error) {
  tcp::resolver resolver(io_);
  for (const HostPort& host : config_.hosts) {
    std::error_code ec;
    // Name resolution is the system resolver's (blocking, its own timeouts); it runs on the
    // queue runner's thread, which may block.
    auto resolved = resolver.resolve(host.host, std::to_string(host.port), ec);
    if (ec) {
      last_error = "cannot resolve " + host.host + ": " + ec.message();
      log::warn(kLog, "-", "resolve_failed", {{"host", host.host}, {"error", ec.message()}});
      continue;
    }
    for (const auto& entry : resolved) {
      const std::string id = "r" + std::to_string(++next_id_);
      auto conn = std::make_unique<RelayConnection>(
          io_, tls_context_.get(), verifies(config_.tls),
          RelayTimeouts{config_.connect_timeout, config_.command_timeout, config_.data_timeout, config_.final_timeout}, id);
      ClientConfig cc;
      cc.helo_name = helo_name_;
      cc.tls = config_.tls == config::RelayTlsPolicy::none ? ClientTlsPolicy::never : ClientTlsPolicy::required;
      if (config_.user && password_) {
        cc.user = config_.user;
        cc.password = password_->clone();
      }
      const std::string address = entry.endpoint().address().to_string();
      log::info(kLog, id, "connecting", {{"host", host.host}, {"address", address}, {"port", host.port},
                                         {"tls", config::to_string(config_.tls)}});
      const std::string tls_name = config_.server_name.value_or(host.host);
      std::string error = conn->open(entry.endpoint(), tls_name, std::move(cc));
      if (!error.empty()) {
        last_error = host.host + " (" + address + "): " + error;
        log::warn(kLog, id, "attempt_failed", {{"host", host.host}, {"address", address}, {"reason", error}});
        continue;
      }
      const TlsSummary& tls = conn->tls();
      log::info(kLog, id, "ready", {{"host", host.host}, {"address", address},
                                    {"tls", conn->tls_active() ? tls.version : "none"},
                                    {"cipher", conn->tls_active() ? tls.cipher : "-"},
                                    {"verified", tls.verified ? "yes" : "no"}});
      ++connections_opened_;
      auto open = std::make_unique<Open>();
      open->connection = std::move(conn);
      open->host = host.host;
      return open;
    }
  }
  if (last_error.empty()) last_error = "no relay host configured";
  return nullptr;
}

std::vector<spool::DeliveryResult> RelayDelivery::all_temporary(std::size_t n, const std::string& reason) const {
  spool::DeliveryResult r;
  r.status = spool::DeliveryStatus::temporary_failure;
  r.status_code = "4.4.1";  // RFC 3463: no answer from host
  r.detail = "relay unavailable: " + reason;
  return std::vector<spool::DeliveryResult>(n, r);
}

}  // namespace postern::smtp::relay
