// The SMTP service (see smtp_service.hpp): start-up (TLS material, users, spool, listeners),
// accept loops with connection limits, and shutdown. Per-connection work is in connection.cpp.
#include "smtp/server/smtp_service.hpp"

#include "auth/users_db.hpp"

#include "common/asio_address.hpp"
#include "common/log.hpp"
#include "smtp/server/connection.hpp"
#include "smtp/server/service_state.hpp"
#include "smtp/server/tls.hpp"
#include "smtp/spool/fs.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/rand.h>

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <stdexcept>

namespace postern::smtp::server {
namespace {

using asio::ip::tcp;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::string_view kLog = "smtp";

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1) {
    throw std::runtime_error("smtp: the OpenSSL random generator failed");
  }
  return value;
}

std::shared_ptr<tcp::acceptor> bind_listener(asio::io_context& io,
                                             const config::SmtpListener& listener) {
  const tcp::endpoint endpoint = to_asio_tcp(listener.endpoint);
  auto acceptor = std::make_shared<tcp::acceptor>(io);
  std::error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("smtp: cannot listen on " + listener.endpoint.to_string() + " (" +
                             std::string(to_string(listener.mode)) + "): " + ec.message());
  }
  return acceptor;
}

asio::awaitable<void> refuse(std::shared_ptr<tcp::socket> socket, std::string reply) {
  co_await asio::async_write(*socket, asio::buffer(reply), use_nothrow);
  std::error_code ignored;
  socket->shutdown(tcp::socket::shutdown_both, ignored);
  socket->close(ignored);
}

asio::ip::address peer_address(const tcp::socket& socket) {
  std::error_code ec;
  asio::ip::address address = socket.remote_endpoint(ec).address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// Counts the connection against the limits, or refuses it with 421 (RFC 5321 3.8).
// Full: closes the oldest connection without an identity that has had kShedAge (its session
// then ends as a closed connection), so a tunnel user or a trusted host is never locked out by
// strangers holding every slot. Caller holds st.mutex. False when there is none to shed.
constexpr auto kShedAge = std::chrono::seconds(2);
bool shed_for_identified(ServiceState& st, std::chrono::steady_clock::time_point now) {
  const tcp::socket* victim = nullptr;
  auto oldest = now;
  for (const auto& [socket, slot] : st.slots) {
    if (!slot.identified && slot.accepted + kShedAge <= now && slot.accepted < oldest) {
      victim = socket;
      oldest = slot.accepted;
    }
  }
  if (victim == nullptr) return false;
  for (const auto& socket : st.sockets) {
    if (socket.get() != victim) continue;
    std::error_code ignored;
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
    st.slots.erase(victim);  // no longer counted as sheddable; its own end does the rest
    ++st.counters.shed_connections;
    return true;
  }
  return false;
}

void admit(const std::shared_ptr<ServiceState>& st, std::shared_ptr<tcp::socket> socket,
           config::SmtpTlsMode mode) {
  const asio::ip::address address = peer_address(*socket);
  const std::string id = random_hex(4);
  ++st->counters.connections;
  std::string refused;
  // Known before a byte is read: a live tunnel address or a trusted network.
  const bool identified = st->is_trusted(address) || (st->tunnel_user_of && !st->tunnel_user_of(address).empty());
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(st->mutex);
    if (st->per_ip[address] >= st->cfg.max_connections_per_ip) {
      refused = "max_connections_per_ip";
    } else if (st->counters.active_connections >= st->cfg.max_connections &&
               !(identified && shed_for_identified(*st, now))) {
      refused = "max_connections";
    } else {
      ++st->per_ip[address];
      ++st->counters.active_connections;
      st->sockets.insert(socket);
      st->slots[socket.get()] = {now, identified};
    }
    if (!refused.empty() && st->per_ip[address] == 0) st->per_ip.erase(address);
  }
  if (!refused.empty()) {
    ++st->counters.rejected_connections;
    log::warn(kLog, id, "connect_refused", {{"peer", address.to_string()}, {"limit", refused}});
    asio::co_spawn(st->io, refuse(socket, too_many_connections_reply(st->cfg.hostname)),
                   asio::detached);
    return;
  }
  std::error_code ignored;
  log::info(kLog, id, "connect", {{"peer", address.to_string()},
                                  {"port", socket->remote_endpoint(ignored).port()},
                                  {"listener", to_string(mode)}});
  asio::co_spawn(st->io, run_connection(st, socket, mode, id),
                 [st, socket, address](std::exception_ptr) {
                   std::lock_guard lock(st->mutex);
                   if (--st->per_ip[address] == 0) st->per_ip.erase(address);
                   --st->counters.active_connections;
                   st->sockets.erase(socket);
                   st->slots.erase(socket.get());
                 });
}

asio::awaitable<void> accept_loop(std::shared_ptr<ServiceState> st,
                                  std::shared_ptr<tcp::acceptor> acceptor,
                                  config::SmtpTlsMode mode) {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(st->io);
    auto [ec] = co_await acceptor->async_accept(*socket, use_nothrow);
    if (st->stopped || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on the same error.
      log::warn(kLog, "-", "accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(st->io, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    admit(st, std::move(socket), mode);
  }
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // Ids only need to be unique, not secret; the spool refuses a duplicate anyway.
    for (auto& b : raw) b = static_cast<unsigned char>(std::rand());
  }
  std::string out;
  for (unsigned char b : raw) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xF]);
  }
  return out;
}

SessionConfig ServiceState::session_config() const {
  SessionConfig sc;
  sc.hostname = cfg.hostname;
  sc.max_message_size = cfg.max_message_size;
  sc.max_recipients = cfg.max_recipients;
  sc.domains = cfg.domains;
  sc.starttls_available = tls.has_value();
  sc.auth_available = passwords != nullptr;
  sc.relay_available = cfg.relay.has_value();
  sc.policy = rules.get();
  sc.max_junk_commands = static_cast<int>(cfg.max_junk_commands);
  return sc;
}

bool ServiceState::is_trusted(const asio::ip::address& address) const {
  if (is_trusted_client && is_trusted_client(address)) return true;
  const IpAddress peer = from_asio(address).unmapped();
  for (const auto& network : cfg.trusted_networks) {
    if (network.contains(peer)) return true;
  }
  return false;
}

SmtpService::SmtpService(asio::io_context& io, const config::SmtpConfig& cfg,
                         std::function<bool(const asio::ip::address&)> is_trusted_client,
                         std::function<std::string(const asio::ip::address&)> tunnel_user_of,
                         std::shared_ptr<auth::PasswordBackend> passwords)
    : state_(std::make_shared<ServiceState>(io, cfg)) {
  state_->passwords = std::move(passwords);
  state_->is_trusted_client = std::move(is_trusted_client);
  state_->tunnel_user_of = std::move(tunnel_user_of);
}

SmtpService::~SmtpService() { stop(); }

void SmtpService::open() {
  ServiceState& st = *state_;
  if (st.opened) return;
  st.opened = true;
  st.tls.emplace(make_server_context(st.cfg.certificate, st.cfg.private_key));
  if (!st.passwords && st.cfg.users) {  // the daemon passes the backend; alone, the users file
    auto users = std::make_shared<auth::UsersDb>();
    users->load(*st.cfg.users);
    st.passwords = std::move(users);
  }
  st.maildir_options.hostname = st.cfg.hostname;
  st.maildir_options.ownership.mode = st.cfg.maildir_mode;
  if (st.cfg.maildir_group) {
    const ::group* gr = ::getgrnam(st.cfg.maildir_group->c_str());
    if (!gr) throw std::runtime_error("smtp: [smtp] maildir_group " + *st.cfg.maildir_group + ": no such group");
    st.maildir_options.ownership.group = static_cast<int>(gr->gr_gid);
    // The root too, so the IMAP server can reach the mailboxes (open() runs before the drop).
    const std::string root = st.cfg.maildir.string();
    if (::chown(root.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0 ||
        ::chmod(root.c_str(), spool::fs::directory_mode(st.maildir_options.ownership)) != 0) {
      throw std::runtime_error("smtp: cannot give " + root + " to group " + *st.cfg.maildir_group + ": " +
                               std::error_code(errno, std::generic_category()).message());
    }
  }
  if (st.cfg.relay) {
    // Read as root, before the privilege drop, like the TLS keys.
    std::optional<SecretBytes> password;
    if (st.cfg.relay->password_file) password = config::read_password_file(*st.cfg.relay->password_file);
    st.relay = std::make_unique<relay::RelayDelivery>(*st.cfg.relay, std::move(password), st.cfg.relay->helo_name);
    std::string hosts;
    for (const auto& h : st.cfg.relay->hosts) hosts += (hosts.empty() ? "" : ",") + h.to_string();
    log::info(kLog, "-", "relay", {{"hosts", hosts}, {"tls", config::to_string(st.cfg.relay->tls)},
                                   {"auth", st.cfg.relay->user ? *st.cfg.relay->user : std::string("none")}});
    if (st.cfg.relay->tls == config::RelayTlsPolicy::none) {
      log::warn(kLog, "-", "relay_plaintext", {{"effect", "mail to the relay is sent without TLS (tls = \"none\")"}});
    }
  }
  st.rules = std::make_unique<SubmissionRules>(st.cfg);
  st.rules->load();
  if (!st.cfg.sender_check) {
    log::warn(kLog, "-", "sender_check_off", {{"effect", "any identity may use any MAIL FROM address"}});
  }
  if (!st.cfg.recipients) {
    log::warn(kLog, "-", "no_recipient_map",
              {{"effect", "every local part of the local domains is accepted"}, {"fix", "set [smtp] recipients"}});
  }
  if (!st.cfg.trusted_networks.empty()) {
    log::info(kLog, "-", "trusted_networks", {{"count", st.cfg.trusted_networks.size()},
                                              {"effect", "clients there may submit without an identity"}});
  }
  for (const auto& listener : st.cfg.listen) {
    st.bound.emplace_back(bind_listener(st.io, listener), listener.mode);
  }
}

void SmtpService::start() {
  open();
  ServiceState& st = *state_;
  // The spool is opened (and its tmp/ and queue/ created) here, after the daemon dropped
  // privileges, so its files belong to the user that writes them from now on.
  st.spool = std::make_unique<spool::Spool>(st.cfg.spool, random_u64);
  if (auto ec = st.spool->open()) {
    throw std::runtime_error("smtp: cannot open the spool " + st.cfg.spool.string() + ": " +
                             ec.message());
  }
  auto bound = std::move(st.bound);
  st.maildir = std::make_unique<spool::MaildirDelivery>(st.cfg.maildir, st.maildir_options);
  st.delivery = std::make_unique<spool::RoutingDelivery>(st.cfg.domains, *st.maildir, st.relay.get());
  spool::RetryPolicy policy{st.cfg.queue.retry_min, st.cfg.queue.retry_max, st.cfg.queue.lifetime, st.cfg.hostname};
  st.runner = std::make_unique<spool::QueueRunner>(*st.spool, *st.delivery, policy,
                                                   spool::QueueRunner::seeded_random(static_cast<std::uint32_t>(random_u64())));
  st.auth_pool = std::make_unique<asio::thread_pool>(2);
  st.store_pool = std::make_unique<asio::thread_pool>(8);
  st.runner->start();
  for (auto& [acceptor, mode] : bound) {
    std::error_code ignored;
    log::info(kLog, "-", "listening", {{"address", acceptor->local_endpoint(ignored).address().to_string()},
                                       {"port", acceptor->local_endpoint(ignored).port()},
                                       {"mode", to_string(mode)}});
    st.acceptors.push_back(acceptor);
    asio::co_spawn(st.io, accept_loop(state_, acceptor, mode), asio::detached);
  }
}

void SmtpService::reload() {
  ServiceState& st = *state_;
  try {
    if (st.passwords) st.passwords->reload();
    if (st.rules) st.rules->reload();
    log::info(kLog, "-", "reloaded", {{"users", st.passwords ? st.passwords->summary() : std::string("0")},
                                      {"senders", st.rules ? st.rules->senders_loaded() : 0},
                                      {"recipients", st.rules ? st.rules->recipients_loaded() : 0}});
  } catch (const std::exception& e) {
    log::error(kLog, "-", "reload_failed", {{"error", e.what()}, {"effect", "keeping the previous files"}});
  }
}

void SmtpService::stop() {
  ServiceState& st = *state_;
  if (st.stopped) return;
  st.stopped = true;
  std::error_code ignored;
  for (auto& acceptor : st.acceptors) acceptor->close(ignored);
  {
    std::lock_guard lock(st.mutex);
    for (const auto& socket : st.sockets) {
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    }
  }
  // In-flight spool writes finish: a client may be about to get its 250 for them.
  if (st.store_pool) st.store_pool->join();
  if (st.auth_pool) st.auth_pool->join();
  if (st.runner) st.runner->stop();
}

SmtpService::Counters SmtpService::counters() const {
  const AtomicCounters& c = state_->counters;
  Counters out;
  out.connections = c.connections;
  out.active_connections = c.active_connections;
  out.rejected_connections = c.rejected_connections;
  out.shed_connections = c.shed_connections;
  out.early_talkers = c.early_talkers;
  out.wrong_mode = c.wrong_mode;
  out.tls_handshakes = c.tls_handshakes;
  out.tls_failures = c.tls_failures;
  out.auth_ok = c.auth_ok;
  out.auth_failed = c.auth_failed;
  out.messages_accepted = c.messages_accepted;
  out.message_bytes = c.message_bytes;
  out.store_failures = c.store_failures;
  out.replies_2xx = c.replies_by_class[0];
  out.replies_3xx = c.replies_by_class[1];
  out.replies_4xx = c.replies_by_class[2];
  out.replies_5xx = c.replies_by_class[3];
  if (state_->rules) {
    out.rate_limited_messages = state_->rules->rate_refusals(RateLimit::messages_per_hour);
    out.rate_limited_recipients = state_->rules->rate_refusals(RateLimit::recipients_per_hour);
  }
  if (state_->runner) {
    spool::QueueRunner::Stats s = state_->runner->stats();
    out.delivered = s.delivered;
    out.relayed = s.relayed;
    out.bounced = s.bounced;
    if (s.oldest_queued_at) {
      const auto age = std::chrono::system_clock::now() - *s.oldest_queued_at;
      out.oldest_queued_seconds = static_cast<std::uint64_t>(
          std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(age).count()));
    }
    out.deferred = s.deferred;
    out.delivery_failed = s.failed;
    out.queued = s.queued;
  }
  return out;
}

spool::SyncLatency::Snapshot SmtpService::spool_sync_latency() const {
  return state_->spool ? state_->spool->sync_latency().snapshot() : spool::SyncLatency::Snapshot{};
}

std::vector<spool::MessageSnapshot> SmtpService::queue_list() const {
  return state_->runner ? state_->runner->list() : std::vector<spool::MessageSnapshot>{};
}
bool SmtpService::queue_retry(const std::string& id) { return state_->runner && state_->runner->retry_now(id); }
std::size_t SmtpService::queue_retry_all() { return state_->runner ? state_->runner->retry_all() : 0; }
bool SmtpService::queue_hold(const std::string& id) { return state_->runner && state_->runner->hold(id); }
bool SmtpService::queue_release(const std::string& id) { return state_->runner && state_->runner->release(id); }
bool SmtpService::queue_remove(const std::string& id) { return state_->runner && state_->runner->remove(id); }

}  // namespace postern::smtp::server
