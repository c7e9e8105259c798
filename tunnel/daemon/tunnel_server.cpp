// The tunnel server's control side (see tunnel_server.hpp).
#include "tunnel/daemon/tunnel_server.hpp"

#include "common/asio_address.hpp"
#include "common/log.hpp"
#include "auth/cert_expiry.hpp"
#include "tunnel/control/negotiator_server.hpp"
#include "tunnel/daemon/control_connection.hpp"
#include "tunnel/daemon/session_setup.hpp"
#include "tunnel/daemon/tls_setup.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <cerrno>
#include <cstdio>

namespace postern::tunnel::daemon {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// After accept() failed for want of descriptors: wait before trying again.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// A pending connection this old may be closed to admit a new one when the total limit is reached.
constexpr auto kEvictableAge = std::chrono::seconds(2);
using Clock = std::chrono::steady_clock;

control::AuthPolicy to_policy(config::AuthMode mode) {
  switch (mode) {
    case config::AuthMode::certificate: return control::AuthPolicy::certificate;
    case config::AuthMode::password: return control::AuthPolicy::password;
    case config::AuthMode::both: return control::AuthPolicy::both;
    case config::AuthMode::any: break;
  }
  return control::AuthPolicy::any;
}

// "client certificate rejected: <OpenSSL's reason>", with the fix when the reason alone is
// opaque (an expired CRL refuses every certificate, not just this one).
std::string rejection(long verify_error) {
  std::string out = std::string("client certificate rejected: ") + X509_verify_cert_error_string(verify_error);
  const std::string hint = auth::verify_error_hint(verify_error);
  return hint.empty() ? out : out + " (" + hint + ")";
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Acct-Terminate-Cause (RFC 2866 5.10) from the teardown reason.
auth::radius::TerminateCause terminate_cause(const std::string& reason) {
  using auth::radius::TerminateCause;
  if (reason.find("terminated by peer") != std::string::npos) return TerminateCause::user_request;
  if (reason.rfind("idle for", 0) == 0) return TerminateCause::idle_timeout;
  if (reason.find("shutting down") != std::string::npos) return TerminateCause::admin_reboot;
  if (reason.find("deny list") != std::string::npos || reason.find("no longer") != std::string::npos ||
      reason.find("rejected") != std::string::npos)
    return TerminateCause::admin_reset;
  return TerminateCause::lost_carrier;
}

std::string hex_id(std::uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "%06x", v);
  return buf;
}

}  // namespace

// The stream, negotiator and session glue is ControlConnection's; this is the server's side.
struct TunnelServer::Connection final : ServerControlConnection {
  Connection(TunnelServer& owner, std::shared_ptr<ControlStream> stream)
      : ServerControlConnection(owner.data_plane_, data::Role::server, std::move(stream)), server(owner) {}
  std::shared_ptr<Connection> shared() { return std::static_pointer_cast<Connection>(shared_from_this()); }

  void on_verify_password(control::VerifyPassword& request) override {
    server.verify_password(shared(), std::move(request.user), std::move(request.password));
  }
  void on_established(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) override {
    server.establish(*this, std::move(session), params);
  }
  void on_closed(const control::Closed& closed) override {
    log::info("tunnel", log_id, "control_closed", {{"reason", closed.reason}});
    server.teardown(*this, closed.reason);
  }
  void on_ended(const std::string& reason) override { server.teardown(*this, reason); }

  TunnelServer& server;
  std::string log_id;
  std::string peer;     // "ip:port"
  std::string peer_ip;  // throttling key
  std::uint32_t local_id = 0;
  SteadyTime established_at{};
  std::optional<std::string> password_user;  // set when a password check passed
  std::vector<std::vector<std::uint8_t>> radius_class;  // from the Access-Accept, for accounting
  std::string acct_session_id;                          // set when accounting started
  std::string acct_multi_session_id;                    // the client's accounting_session (IPCP)
  SteadyTime last_accounted{};                          // Start or the last Interim-Update
  bool holds_handshake_slot = false;  // counted in handshakes_ until authenticated or gone
  SteadyTime accepted_at{};
  bool torn_down = false;
  std::optional<IpAddress> address6;  // the session's inner IPv6 address, when it has one
};

TunnelServer::TunnelServer(asio::io_context& io, const config::TunnelServerConfig& cfg, DataPlane& data_plane,
                           std::shared_ptr<auth::PasswordBackend> passwords,
                           std::shared_ptr<auth::RadiusAccounting> accounting)
    : io_(io),
      cfg_(cfg),
      tls_(make_server_tls_context(cfg)),
      acceptor_(io),
      data_plane_(data_plane),
      passwords_(std::move(passwords)),
      accounting_(std::move(accounting)),
      handshakes_({cfg.max_pending_handshakes, cfg.max_pending_handshakes_per_source}),
      pool_(cfg.pool, std::chrono::duration_cast<std::chrono::seconds>(cfg.address_grace)),
      housekeeping_timer_(io) {
  if (cfg.deny_list) deny_list_.load(*cfg.deny_list);
  if (cfg.pool6) {
    pool6_ = std::make_unique<control::AddressPool>(
        *cfg.pool6, std::chrono::duration_cast<std::chrono::seconds>(cfg.address_grace));
  }
}

TunnelServer::~TunnelServer() {
  if (verify_pool_) verify_pool_->join();
}

void TunnelServer::start() {
  asio::error_code ec;
  const asio::ip::tcp::endpoint endpoint = to_asio_tcp(cfg_.listen);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  // "[::]:port" takes IPv4 too (peers unmapped below), whatever net.ipv6.bindv6only says.
  if (cfg_.listen.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(!cfg_.listen.address().is_unspecified()));
  acceptor_.bind(endpoint, ec);
  if (ec) throw std::runtime_error("cannot listen on " + cfg_.listen.to_string() + ": " + ec.message());
  acceptor_.listen();
  log::info("tunnel", "", "listening", {{"control", cfg_.listen.to_string()}, {"data_port", cfg_.data_port},
                                        {"pool", cfg_.pool.to_string()},
                                        {"pool6", cfg_.pool6 ? cfg_.pool6->to_string() : std::string("none")},
                                        {"auth", config::to_string(cfg_.auth)}});
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, housekeeping(), asio::detached);
}

void TunnelServer::stop() {
  stopping_ = true;
  housekeeping_timer_.cancel();
  asio::error_code ignored;
  acceptor_.close(ignored);
  auto connections = connections_;
  for (auto& [id, connection] : connections) {
    connection->terminate("server shutting down", Clock::now());
  }
}

void TunnelServer::reload() {
  if (passwords_ && passwords_->kind() == "file") {
    try {
      passwords_->reload();
      log::info("tunnel", "", "reloaded", {{"users", passwords_->summary()}});
    } catch (const std::exception& e) {
      log::error("tunnel", "", "reload_failed", {{"error", e.what()}});
    }
  }
  if (cfg_.client_ca) {
    try {
      install_client_verify_store(tls_.native_handle(), cfg_);
      log::info("tunnel", "", "reloaded", {{"client_ca", cfg_.client_ca->string()},
                                           {"crl", cfg_.crl ? cfg_.crl->string() : "none"}});
    } catch (const std::exception& e) {
      log::error("tunnel", "", "reload_failed", {{"error", e.what()}});
    }
  }
  if (cfg_.deny_list) {
    try {
      deny_list_.reload();
      log::info("tunnel", "", "reloaded", {{"deny_list", deny_list_.size()}});
    } catch (const std::exception& e) {
      log::error("tunnel", "", "reload_failed", {{"error", e.what()}});
    }
  }
  end_revoked_sessions();
}

// A session keeps only what its login would still get: after a reload, one whose certificate
// no longer verifies (revoked in the new CRL, expired) or is denied, or whose password user was
// removed, is terminated at once, with the reason logged. Its mail rights go with it (the SMTP
// side asks identity_of(), which forgets the address on teardown).
void TunnelServer::end_revoked_sessions() {
  const auto connections = connections_;
  for (const auto& [id, connection] : connections) {
    if (connection->torn_down || !connection->started()) continue;
    const std::string why = no_longer_allowed(*connection);
    if (why.empty()) continue;
    log::warn("tunnel", connection->log_id, "session_ended_by_reload",
              {{"identity", connection->negotiator().identity()}, {"peer", connection->peer}, {"reason", why}});
    connection->terminate(why, Clock::now());
  }
}

std::string TunnelServer::no_longer_allowed(Connection& connection) {
  SSL* ssl = connection.ssl();
  if (X509* cert = SSL_get0_peer_certificate(ssl)) {
    if (deny_list_.is_denied(cert)) return "client certificate is on the deny list";
    auth::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    // Server side: the peer chain excludes the leaf; it is untrusted input like at the handshake.
    if (!ctx || X509_STORE_CTX_init(ctx.get(), SSL_CTX_get_cert_store(tls_.native_handle()), cert,
                                    SSL_get_peer_cert_chain(ssl)) != 1) {
      return "cannot re-verify the client certificate";
    }
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx.get()) != 1) return rejection(X509_STORE_CTX_get_error(ctx.get()));
  }
  if (connection.password_user && passwords_ && !passwords_->may_still_exist(*connection.password_user)) {
    return "user " + *connection.password_user + " is no longer in the users file";
  }
  return "";
}

std::string TunnelServer::identity_of(const IpAddress& inner_address) const {
  std::lock_guard lock(identity_mutex_);
  auto it = identity_by_address_.find(inner_address);
  return it == identity_by_address_.end() ? std::string() : it->second;
}

std::size_t TunnelServer::connection_count() const { return connections_.size(); }

TunnelServer::Counters TunnelServer::counters() const {
  Counters out = counters_;
  out.throttled_sources = throttle_.size();
  return out;
}

asio::awaitable<void> TunnelServer::accept_loop() {
  asio::ip::tcp::endpoint remote;
  while (acceptor_.is_open()) {
    // The peer's address comes with accept() (no getpeername per connection).
    auto [ec, socket] = co_await acceptor_.async_accept(remote, kAsTuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      log::warn("tunnel", "", "accept_failed", {{"error", ec.message()}});
      // Out of descriptors (EMFILE/ENFILE) the listen queue stays readable: retrying at once
      // would spin the one I/O thread every control channel and the SMTP listener share.
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space) {
        asio::steady_timer pause(io_, kAcceptBackoff);
        co_await pause.async_wait(kAsTuple);
      }
      continue;
    }
    auto address = remote.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    std::string peer_ip = address.to_string();
    std::string peer = IpEndpoint(from_asio(address), remote.port()).to_string();  // "[v6]:port"
    const auto now = Clock::now();
    auto admitted = handshakes_.admit(peer_ip);
    // Full in total (many sources): make room by closing the oldest pending connection that
    // has had kEvictableAge to finish. A real client completes its handshake and login in a
    // few round trips; a flood's connections sit idle and are the oldest.
    if (admitted == auth::HandshakeLimiter::Verdict::total_limit && evict_oldest_pending(now)) {
      admitted = handshakes_.admit(peer_ip);
    }
    if (admitted != auth::HandshakeLimiter::Verdict::admitted) {
      // Closed before any connection state exists; logged at most once a second, with the count.
      ++handshakes_refused_;
      ++counters_.handshake_limit;
      if (now - handshake_refusal_logged_ >= std::chrono::seconds(1)) {
        log::warn("tunnel", "", "handshake_refused",
                  {{"peer", peer}, {"reason", auth::to_string(admitted)},
                   {"refused", handshakes_refused_}, {"evicted", handshakes_evicted_},
                   {"pending", handshakes_.pending()}});
        handshakes_refused_ = 0;
        handshakes_evicted_ = 0;
        handshake_refusal_logged_ = now;
      }
      // A reset, not a FIN: no close handshake and no TIME_WAIT socket per refused connection
      // (at thousands a second: fewer packets and sockets for the kernel, on both ends).
      asio::error_code ignored;
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      continue;
    }
    asio::error_code nodelay_ec;
    socket.set_option(asio::ip::tcp::no_delay(true), nodelay_ec);
    auto connection =
        std::make_shared<Connection>(*this, std::make_shared<ControlStream>(TlsStream(std::move(socket), tls_)));
    connection->peer = std::move(peer);
    connection->peer_ip = std::move(peer_ip);
    connection->holds_handshake_slot = true;
    connection->accepted_at = now;
    while (!pending_order_.empty()) {  // prune what finished
      auto front = pending_order_.front().lock();
      if (front && front->holds_handshake_slot) break;
      pending_order_.pop_front();
    }
    pending_order_.push_back(connection);
    connection->log_id = "c" + std::to_string(next_connection_number_++);
    asio::co_spawn(io_, handshake(connection), asio::detached);
  }
}

asio::awaitable<void> TunnelServer::handshake(std::shared_ptr<Connection> connection) {
  log::info("tunnel", connection->log_id, "connected", {{"peer", connection->peer}});
  TlsStream& stream = connection->tls();
  asio::steady_timer timer(io_, kHandshakeTimeout);
  auto result = co_await (stream.async_handshake(asio::ssl::stream_base::server, kAsTuple) ||
                          timer.async_wait(kAsTuple));
  std::string failure;
  if (result.index() == 1) {
    failure = "TLS handshake timed out";
    ++counters_.handshake_timeout;
  } else if (auto [ec] = std::get<0>(result); ec) {
    long verify = SSL_get_verify_result(stream.native_handle());
    failure = verify != X509_V_OK ? rejection(verify) : "TLS handshake failed: " + ec.message();
    ++(verify != X509_V_OK ? counters_.handshake_certificate : counters_.handshake_tls);
  }
  if (failure.empty()) {
    X509* cert = SSL_get0_peer_certificate(stream.native_handle());
    if (cert && deny_list_.is_denied(cert)) {
      failure = "client certificate is on the deny list";
      ++counters_.handshake_denied;
    }
  }
  if (!failure.empty()) {
    log::warn("tunnel", connection->log_id, "refused", {{"peer", connection->peer}, {"reason", failure}});
    asio::error_code ignored;
    stream.lowest_layer().close(ignored);
    release_handshake_slot(*connection);
    co_return;
  }
  log::info("tunnel", connection->log_id, "tls_established",
            {{"peer", connection->peer}, {"tls", describe_session(stream.native_handle())}});
  begin_negotiation(connection);
}

std::uint32_t TunnelServer::allocate_session_id() {
  for (;;) {
    std::uint32_t id = random_u32() & data::kMaxSessionId;
    if (id != 0 && !connections_.contains(id)) return id;
  }
}

void TunnelServer::begin_negotiation(const std::shared_ptr<Connection>& connection) {
  SSL* ssl = connection->ssl();
  auto identity = peer_identity(ssl);
  control::ServerConfig sc;
  sc.policy = to_policy(cfg_.auth);
  sc.receive_session_id = connection->local_id = allocate_session_id();
  sc.echo_magic = random_u32();
  sc.data_port = cfg_.data_port;
  sc.ciphers = {cfg_.cipher};
  sc.max_mtu = static_cast<std::uint16_t>(cfg_.mtu);
  // [tunnel] keepalive and dead_after bound what the client proposes in LCP.
  sc.max_keepalive = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(cfg_.keepalive));
  sc.max_dead_peer = std::chrono::duration_cast<std::chrono::seconds>(cfg_.dead_after);
  sc.rekey_interval = std::chrono::duration_cast<std::chrono::seconds>(cfg_.rekey_interval);
  sc.rekey_packets = cfg_.rekey_packets;
  sc.dns = cfg_.dns;
  sc.domains = cfg_.dns_domains;
  sc.routes = cfg_.routes;
  sc.log_id = connection->log_id;
  connections_[connection->local_id] = connection;
  connection->start(std::make_unique<control::ServerNegotiator>(
      std::move(sc), control::PeerCertificate{identity.has_value(), identity.value_or("")}, pool_, Clock::now(),
      pool6_.get()));
}

void TunnelServer::release_handshake_slot(Connection& connection) {
  if (!connection.holds_handshake_slot) return;
  connection.holds_handshake_slot = false;
  handshakes_.release(connection.peer_ip);
}

bool TunnelServer::evict_oldest_pending(SteadyTime now) {
  while (!pending_order_.empty()) {
    auto oldest = pending_order_.front().lock();
    if (!oldest || !oldest->holds_handshake_slot) {
      pending_order_.pop_front();
      continue;
    }
    if (now - oldest->accepted_at < kEvictableAge) return false;
    pending_order_.pop_front();
    release_handshake_slot(*oldest);
    ++handshakes_evicted_;
    ++counters_.handshake_evicted;
    if (oldest->started()) {
      oldest->stream().close("closed to make room: too many pending handshakes");
    } else {
      asio::error_code ignored;
      oldest->tls().lowest_layer().close(ignored);  // its handshake() sees the error
    }
    return true;
  }
  return false;
}

void TunnelServer::refuse_password(Connection& connection, const std::string& user, std::string_view reason) {
  log::warn("tunnel", connection.log_id, "auth_rejected",
            {{"user", user}, {"peer", connection.peer}, {"reason", reason}});
  connection.negotiator().on_password_verified(false, Clock::now());
}

// The throttle counts an attempt when it is queued (auth::AuthThrottle::reserve), so parallel
// guesses from one source are bounded by its failure limit, and the queue is bounded in total.
void TunnelServer::verify_password(const std::shared_ptr<Connection>& connection, std::string user,
                                   SecretBytes password) {
  if (!passwords_) {
    ++counters_.auth_no_users;
    refuse_password(*connection, user, "no users file configured");
    return connection->drain();
  }
  if (verify_queue_.size() >= cfg_.max_queued_verifications) {
    ++counters_.auth_throttled;
    refuse_password(*connection, user, "verification queue full");
    return connection->drain();
  }
  auto verdict = throttle_.reserve(connection->peer_ip, Clock::now());
  if (!verdict.allowed) {
    ++counters_.auth_throttled;
    refuse_password(*connection, user, std::string("too many failures from this source (") +
                                           std::string(auth::to_string(verdict.refusal)) + ")");
    return connection->drain();
  }
  verify_queue_.push_back({connection, std::move(user), std::move(password)});
  run_next_verification();
}

void TunnelServer::run_next_verification() {
  while (!verify_running_ && !verify_queue_.empty()) {
    VerifyJob job = std::move(verify_queue_.front());
    verify_queue_.pop_front();
    auto c = job.connection.lock();
    if (!c || c->torn_down) {
      if (c) throttle_.release(c->peer_ip);
      job.password.wipe();
      continue;
    }
    if (throttle_.cancelled(c->peer_ip, Clock::now())) {  // locked out while it waited
      throttle_.release(c->peer_ip);
      job.password.wipe();
      ++counters_.auth_throttled;
      refuse_password(*c, job.user, "too many failures from this source (locked out while queued)");
      c->drain();
      continue;
    }
    verify_running_ = true;
    if (!verify_pool_) verify_pool_ = std::make_unique<asio::thread_pool>(1);
    std::weak_ptr<Connection> weak = c;
    const std::string source = c->peer_ip;
    asio::post(*verify_pool_, [this, weak, source, user = std::move(job.user), password = std::move(job.password)]() mutable {
      auth::PasswordVerdict verdict =
          passwords_->authenticate(auth::PasswordRequest{user, password, auth::PasswordService::tunnel, source});
      password.wipe();
      asio::post(io_, [this, weak, source, verdict = std::move(verdict), user = std::move(user)]() mutable {
        verify_running_ = false;
        on_verified(weak, source, user, std::move(verdict));
        run_next_verification();
      });
    });
  }
}

// The backend's verdict, back on the io thread. A rejection is delayed by the throttle; a
// backend that could not answer is not the client's failure: its reservation is given back and
// it is told to retry (AUTH_FAIL "authentication temporarily unavailable").
void TunnelServer::on_verified(const std::weak_ptr<Connection>& weak, const std::string& source, const std::string& user,
                               auth::PasswordVerdict verdict) {
  const auto now = Clock::now();
  auto conn = weak.lock();
  const bool live = conn && !conn->torn_down;
  switch (verdict.outcome) {
    case auth::PasswordOutcome::accepted: {
      throttle_.record_success(source, now);
      ++counters_.auth_ok;
      if (!live) return;
      std::optional<IpAddress> framed;
      if (verdict.framed_ipv4) framed = IpAddress::from_v4_uint(*verdict.framed_ipv4);
      log::info("tunnel", conn->log_id, "auth_accepted",
                {{"user", user}, {"peer", conn->peer}, {"backend", passwords_->kind()},
                 {"framed_ip", framed ? framed->to_string() : std::string("none")}});
      conn->password_user = user;
      conn->radius_class = std::move(verdict.radius_class);
      conn->negotiator().on_password_verified(control::PasswordCheck::accepted, now, framed);
      conn->drain();
      return;
    }
    case auth::PasswordOutcome::temporarily_failed:
      throttle_.release(source);
      ++counters_.auth_unavailable;
      log::error("tunnel", live ? conn->log_id : std::string(), "auth_unavailable",
                 {{"user", user}, {"peer", live ? conn->peer : source}, {"backend", passwords_->kind()},
                  {"reason", verdict.reason}});
      if (!live) return;
      conn->negotiator().on_password_verified(control::PasswordCheck::unavailable, now);
      conn->drain();
      return;
    case auth::PasswordOutcome::rejected: break;
  }
  auto delay = throttle_.record_failure(source, now);
  ++counters_.auth_bad_password;
  if (!live) return;
  log::warn("tunnel", conn->log_id, "auth_rejected",
            {{"user", user}, {"peer", conn->peer}, {"backend", passwords_->kind()}, {"reason", verdict.reason},
             {"delay_ms", delay.count()}});
  auto timer = std::make_shared<asio::steady_timer>(io_, delay);
  timer->async_wait([this, weak, timer](const asio::error_code&) {
    auto c2 = weak.lock();
    if (!c2 || c2->torn_down) return;
    c2->negotiator().on_password_verified(control::PasswordCheck::rejected, Clock::now());
    c2->drain();
  });
}

void TunnelServer::establish(Connection& connection, std::shared_ptr<PeerSession> session,
                             const control::TunnelParameters& params) {
  session->inner_address = params.client_address.to_v4_uint();
  if (params.client_address6) session->inner_address6 = data::Ipv6Key::of(*params.client_address6);
  session->identity = params.identity;
  session->log_id = connection.log_id;
  release_handshake_slot(connection);  // authenticated: no longer a pending handshake
  if (X509* cert = SSL_get0_peer_certificate(connection.ssl())) {
    const auto expiry = auth::certificate_expiry("client certificate", "", cert, unix_now());
    session->certificate_not_before = expiry.start;
    session->certificate_not_after = expiry.end;
    if (auto notice = auth::expiry_notice(expiry, auth::ExpiryKind::client_certificate, params.identity)) {
      log::warn("tunnel", connection.log_id, notice->event,
                {{"identity", params.identity}, {"not_after", auth::format_utc(expiry.end)},
                 {"expires_in_days", expiry.days_left}, {"hint", notice->hint}});
    }
  }
  connection.address6 = params.client_address6;
  connection.established_at = Clock::now();
  connection.attach_session(session);
  if (accounting_) {
    char id[20];
    std::snprintf(id, sizeof id, "%08x%08x", random_u32(), random_u32());
    connection.acct_session_id = id;
    connection.acct_multi_session_id = params.accounting_session;
    account(connection, auth::radius::AcctStatus::start, connection.established_at);
  }
  ++counters_.sessions_established;
  {
    std::lock_guard lock(identity_mutex_);
    identity_by_address_[params.client_address] = params.identity;
    if (params.client_address6) identity_by_address_[*params.client_address6] = params.identity;
  }
  log::info("tunnel", connection.log_id, "session_up",
            {{"identity", params.identity}, {"address", params.client_address.to_string()},
             {"address6", params.client_address6 ? params.client_address6->to_string() : std::string("none")},
             {"session", hex_id(params.local_session_id)}, {"peer_session", hex_id(params.peer_session_id)},
             {"cipher", to_string(params.cipher)}, {"mtu", params.mtu},
             {"accounting_session", params.accounting_session.empty() ? std::string("none") : params.accounting_session}});
}

void TunnelServer::teardown(Connection& connection, const std::string& reason) {
  if (connection.torn_down) return;
  connection.torn_down = true;
  release_handshake_slot(connection);
  if (const auto& session = connection.session()) {
    connection.detach_session();
    account(connection, auth::radius::AcctStatus::stop, Clock::now(), terminate_cause(reason));
    forget_addresses(connection);
    log::info("tunnel", connection.log_id, "session_down",
              {{"identity", session->identity}, {"reason", reason},
               {"rx_packets", session->rx_packets.load()},
               {"tx_packets", session->tx_packets.load()},
               {"rx_bytes", session->rx_bytes.load()},
               {"tx_bytes", session->tx_bytes.load()}});
  }
  connections_.erase(connection.local_id);
}

// The SMTP side's view of who holds an inner address ends with the session, unless another
// live session of the same identity holds the same address (both families).
void TunnelServer::forget_addresses(Connection& connection) {
  const PeerSession& mine = *connection.session();
  std::lock_guard lock(identity_mutex_);
  auto forget = [&](const IpAddress& address, auto same_address) {
    auto it = identity_by_address_.find(address);
    if (it == identity_by_address_.end() || it->second != mine.identity) return;
    bool still_held = false;
    for (const auto& [id, other] : connections_) {
      still_held |= other.get() != &connection && other->session() && same_address(*other->session());
    }
    if (!still_held) identity_by_address_.erase(it);
  };
  forget(IpAddress::from_v4_uint(mine.inner_address),
         [&](const PeerSession& other) { return other.inner_address == mine.inner_address; });
  if (connection.address6) {
    forget(*connection.address6, [&](const PeerSession& other) { return other.inner_address6 == mine.inner_address6; });
  }
}

void TunnelServer::request_key(std::shared_ptr<PeerSession> session, Direction direction, std::uint32_t epoch) {
  asio::post(io_, [this, session = std::move(session), direction, epoch] {
    auto it = connections_.find(session->local_session_id);
    if (it == connections_.end() || it->second->session() != session) return;
    if (it->second->install_key(direction, epoch)) {
      log::debug("tunnel", it->second->log_id, "key_installed",
                 {{"direction", direction == Direction::send ? "send" : "receive"}, {"epoch", epoch}});
    }
  });
}

void TunnelServer::on_tls_frames(std::shared_ptr<PeerSession> session) {
  asio::post(io_, [this, session = std::move(session)] {
    auto it = connections_.find(session->local_session_id);
    if (it == connections_.end() || it->second->session() != session || it->second->torn_down) return;
    it->second->flush_tls_frames();
  });
}

asio::awaitable<void> TunnelServer::housekeeping() {
  while (!stopping_) {
    housekeeping_timer_.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await housekeeping_timer_.async_wait(kAsTuple);
    if (ec || stopping_) break;
    auto now = Clock::now();
    reap_idle(now);
    pool_.expire(now);
    if (pool6_) pool6_->expire(now);
    send_interim_updates(now);
  }
}

void TunnelServer::account(Connection& connection, auth::radius::AcctStatus status, SteadyTime now,
                           std::optional<auth::radius::TerminateCause> cause) {
  if (!accounting_ || !connection.session() || connection.acct_session_id.empty()) return;
  const PeerSession& s = *connection.session();
  auth::AccountingRecord r;
  r.session_id = connection.acct_session_id;
  r.multi_session_id = connection.acct_multi_session_id;
  r.user = s.identity;
  r.framed_ip = s.inner_address;
  r.calling_station = connection.peer_ip;
  r.input_octets = s.rx_bytes.load(std::memory_order_relaxed);
  r.output_octets = s.tx_bytes.load(std::memory_order_relaxed);
  r.input_packets = s.rx_packets.load(std::memory_order_relaxed);
  r.output_packets = s.tx_packets.load(std::memory_order_relaxed);
  r.session_time = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - connection.established_at).count());
  r.radius_class = connection.radius_class;
  connection.last_accounted = now;
  accounting_->submit(status, std::move(r), cause);
}

void TunnelServer::send_interim_updates(SteadyTime now) {
  if (!accounting_ || accounting_->interim_interval().count() == 0) return;
  for (const auto& [id, connection] : connections_) {
    if (!connection->session() || connection->torn_down) continue;
    if (now - connection->last_accounted >= accounting_->interim_interval())
      account(*connection, auth::radius::AcctStatus::interim_update, now);
  }
}

void TunnelServer::reap_idle(SteadyTime now) {
  std::vector<std::shared_ptr<Connection>> stale;
  for (const auto& [id, connection] : connections_) {
    if (!connection->session() || connection->torn_down) continue;
    std::int64_t last_ns = connection->session()->last_rx_ns.load(std::memory_order_relaxed);
    SteadyTime last = std::max(connection->established_at, SteadyTime(SteadyTime::duration(last_ns)));
    if (now - last >= cfg_.idle_timeout) stale.push_back(connection);
  }
  for (const auto& connection : stale) {
    auto idle_s = std::chrono::duration_cast<std::chrono::seconds>(cfg_.idle_timeout).count();
    log::info("tunnel", connection->log_id, "session_reaped",
              {{"identity", connection->session()->identity}, {"idle_s", idle_s}});
    connection->terminate("idle for " + std::to_string(idle_s) + " s", now);
  }
}

}  // namespace postern::tunnel::daemon
