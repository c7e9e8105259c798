// The tunnel client (see tunnel_client.hpp).
#include "tunnel/daemon/tunnel_client.hpp"

#include "common/certificate_names.hpp"
#include "common/asio_address.hpp"
#include "common/log.hpp"
#include "platform/socket_mark.hpp"
#include "auth/cert_checks.hpp"
#include "tunnel/control/control_errc.hpp"
#include "tunnel/control/negotiator_client.hpp"
#include "tunnel/daemon/control_connection.hpp"
#include "tunnel/daemon/happy_eyeballs.hpp"
#include "tunnel/daemon/interface_setup.hpp"
#include "tunnel/daemon/session_setup.hpp"
#include "tunnel/daemon/tls_setup.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <cstdio>

namespace postern::tunnel::daemon {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
// After a round in which every server failed: ~0.5 s, then 1, 2, 4... s: a restarted server is
// found within a few seconds, a long outage costs one round per 30 s.
constexpr RotationTimers kRotationTimers{std::chrono::milliseconds(500), std::chrono::milliseconds(30'000)};
constexpr int kExitAuthRefused = 2;   // also: the server certificate names another host
using Clock = std::chrono::steady_clock;

// A PeerSession timestamp (steady_clock nanoseconds, 0 = never) as a time point.
std::optional<Clock::time_point> as_time(const std::atomic<std::int64_t>& ns) {
  std::int64_t v = ns.load(std::memory_order_relaxed);
  if (v == 0) return std::nullopt;
  return Clock::time_point(Clock::duration(v));
}

}  // namespace

// The stream, negotiator and session glue is ControlConnection's; this is the client's side.
struct TunnelClient::Attempt final : ClientControlConnection {
  Attempt(TunnelClient& owner, std::shared_ptr<ControlStream> stream)
      : ClientControlConnection(owner.data_plane_, data::Role::client, std::move(stream)),
        client(owner),
        done(owner.io_, asio::steady_timer::time_point::max()) {}

  void on_established(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) override {
    client.establish(*this, std::move(session), params);
  }
  void on_closed(const control::Closed& closed) override {
    if (reason.empty()) reason = closed.reason;
    error = closed.error;
  }
  void on_ended(const std::string& why) override {
    if (reason.empty()) reason = why;
    finished = true;
    done.cancel();
  }

  TunnelClient& client;
  std::unique_ptr<TransportMonitor> monitor;
  std::uint64_t tx_packets_seen = 0;  // session->tx_packets at the previous transport tick
  std::uint8_t echo_identifier = 0;
  asio::ip::address server_address;
  asio::steady_timer done;
  std::string reason;
  std::error_code error;
  bool finished = false;
};

TunnelClient::TunnelClient(asio::io_context& io, const config::TunnelClientConfig& cfg, DataPlane& data_plane,
                           platform::Netlink& netlink, SecretBytes password, platform::ResolverHelper* dns)
    : io_(io),
      cfg_(cfg),
      tls_(make_client_tls_context(cfg)),
      data_plane_(data_plane),
      netlink_(netlink),
      password_(std::move(password)),
      dns_(dns),
      rotation_(cfg.servers.size(), cfg.server_order, kRotationTimers, [] { return random_u32(); }),
      last_endpoints_(cfg.servers.size()),
      addresses_(cfg.servers.size()),
      keepalive_timer_(io) {
  char id[17];
  std::snprintf(id, sizeof id, "%08x%08x", random_u32(), random_u32());
  accounting_session_ = id;
}

TunnelClient::~TunnelClient() { remove_leak_protection_rules(); }

void TunnelClient::start() {
  if (cfg_.leak_protection) {
    install_leak_protection(netlink_, {cfg_.fwmark, cfg_.table});
    leak_rules_installed_ = true;
  }
  asio::co_spawn(io_, run(), asio::detached);
}

void TunnelClient::remove_leak_protection_rules() {
  if (!leak_rules_installed_) return;
  leak_rules_installed_ = false;
  remove_leak_protection(netlink_, {cfg_.fwmark, cfg_.table});
}

void TunnelClient::stop() {
  // The rules stay until the destructor: the command destroys the data plane (and with it the
  // TUN device and the routes in our table) first, so there is no moment when the pushed
  // prefixes fall back to main while the tunnel is still configured.
  stopping_ = true;
  restore_dns();
  keepalive_timer_.cancel();
  if (current_ && current_->started()) current_->terminate("client shutting down", Clock::now());
  if (current_) current_->done.cancel();
}

void TunnelClient::give_up(const std::string& reason) {
  log::error("tunnel", "", "giving_up", {{"reason", reason}});
  exit_status_ = kExitAuthRefused;
  stopping_ = true;
  io_.stop();
}

asio::awaitable<void> TunnelClient::run() {
  std::string last_refusal;
  while (!stopping_) {
    auto choice = rotation_.next();
    if (!choice) {
      give_up(last_refusal);
      co_return;
    }
    if (choice->wait.count() > 0) {
      log::warn("tunnel", "", "retrying",
                {{"retry_in_ms", choice->wait.count()}, {"servers", cfg_.servers.size()}});
      asio::steady_timer wait(io_, choice->wait);
      co_await wait.async_wait(kAsTuple);
      if (stopping_) break;
    }
    const std::size_t index = choice->server;
    const std::string server = cfg_.servers[index].to_string();
    rotation_.on_attempt(index, Clock::now());
    unfixable_.clear();
    std::string reason = co_await connect_once(index);
    if (stopping_) break;
    const bool was_established = current_ && current_->session() != nullptr;
    if (current_ && current_->error == control::errc::auth_failed) {
      give_up("the server refused our credentials: " + reason);
      co_return;
    }
    if (!unfixable_.empty()) {
      last_refusal = unfixable_;
      rotation_.on_refused(index, Clock::now(), unfixable_);
      if (cfg_.servers.size() > 1) log::error("tunnel", "", "server_dropped", {{"server", server}, {"reason", unfixable_}});
      continue;
    }
    if (was_established) rotation_.on_lost(index, Clock::now(), reason);
    else rotation_.on_failed(index, Clock::now(), reason);
    log::warn("tunnel", "", was_established ? log::EventName("disconnected") : log::EventName("attempt_failed"), {{"server", server}, {"reason", reason}});
  }
}

asio::awaitable<std::string> TunnelClient::connect_once(std::size_t index) {
  current_.reset();
  const HostPort& target = cfg_.servers[index];
  const std::string server = target.to_string();
  asio::ip::tcp::resolver resolver(io_);
  auto [rec, endpoints] = co_await resolver.async_resolve(target.host, std::to_string(target.port), kAsTuple);
  if (rec && last_endpoints_[index].empty()) co_return "cannot resolve " + target.host + ": " + rec.message();
  if (rec) {
    // With DNS leak protection a reconnect cannot ask any server but the pushed ones, which are
    // behind the tunnel that is down: the addresses that worked last time are the best guess.
    log::warn("tunnel", "", "resolve_failed",
              {{"server", target.host}, {"error", rec.message()}, {"fallback", "last known addresses"}});
    endpoints = last_endpoints_[index];
  } else {
    last_endpoints_[index] = endpoints;
  }

  asio::ip::tcp::socket socket(io_);
  if (auto cec = co_await connect_socket(socket, endpoints); cec) {
    co_return "cannot connect to " + server + ": " + cec.message();
  }
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  const asio::ip::address server_address = socket.remote_endpoint(ignored).address();
  auto attempt = std::make_shared<Attempt>(*this, std::make_shared<ControlStream>(TlsStream(std::move(socket), tls_)));
  attempt->server_address = server_address;
  addresses_[index] = attempt->server_address.to_string();
  TlsStream& stream = attempt->tls();
  const std::string& wanted = cfg_.name_to_verify(target);
  prepare_client_connection(stream.native_handle(), cfg_, wanted);
  // OpenSSL keeps no peer certificate after a failed client handshake: note the leaf's names
  // while it is verified, for the mismatch message.
  std::string leaf_names;
  if (cfg_.ca) {
    stream.set_verify_callback([&leaf_names](bool preverified, asio::ssl::verify_context& ctx) {
      X509_STORE_CTX* store = ctx.native_handle();
      X509* cert = X509_STORE_CTX_get_current_cert(store);
      if (X509_STORE_CTX_get_error_depth(store) == 0 && cert != nullptr) leaf_names = certificate_names(cert);
      return preverified;
    });
  }
  asio::steady_timer timer(io_, cfg_.connect_timeout);
  auto shaken = co_await (stream.async_handshake(asio::ssl::stream_base::client, kAsTuple) || timer.async_wait(kAsTuple));
  if (shaken.index() == 1) co_return "TLS handshake with " + server + " timed out";
  if (auto [hec] = std::get<0>(shaken); hec) {
    long verify = SSL_get_verify_result(stream.native_handle());
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      unfixable_ = "server certificate name mismatch: wanted " + wanted + ", the certificate names " +
                   (leaf_names.empty() ? "(unknown)" : leaf_names) +
                   "; set [tunnel] server_name to one of those names, or issue the server a "
                   "certificate for " + wanted + " (postern pki init/issue --server)";
      co_return unfixable_;
    }
    co_return verify != X509_V_OK
        ? std::string("server certificate rejected: ") + X509_verify_cert_error_string(verify)
        : "TLS handshake failed: " + hec.message() + " (wrong server, or it refused our certificate)";
  }
  if (cfg_.server_fingerprint && cfg_.ca) {
    X509* cert = SSL_get0_peer_certificate(stream.native_handle());
    if (!cert || auth::fingerprint(cert) != *cfg_.server_fingerprint) {
      co_return "server certificate does not match server_fingerprint";
    }
  }
  log::info("tunnel", "", "tls_established",
            {{"server", server}, {"address", addresses_[index]}, {"tls", describe_session(stream.native_handle())}});

  control::ClientConfig cc;
  cc.receive_session_id = random_u32() & data::kMaxSessionId;
  if (cc.receive_session_id == 0) cc.receive_session_id = 1;
  cc.echo_magic = random_u32();
  cc.user = cfg_.user;
  if (cfg_.user) cc.password = password_.clone();
  if (cfg_.cipher == config::Cipher::chacha20_poly1305) {
    cc.ciphers = {control::Cipher::chacha20_poly1305, control::Cipher::aes_256_gcm};
  }
  cc.previous_address = previous_address_;
  cc.ipv6 = cfg_.ipv6;
  cc.previous_address6 = previous_address6_;
  cc.accounting_session = accounting_session_;
  cc.keepalive = std::chrono::duration_cast<std::chrono::seconds>(cfg_.keepalive);
  // 3.5 keepalives without a byte over TLS: the server or the path is dead; reconnect.
  cc.dead_peer = std::max(std::chrono::seconds(3), std::chrono::duration_cast<std::chrono::seconds>(cfg_.keepalive * 7 / 2));
  cc.log_id = "client";
  current_ = attempt;
  attempt->start(std::make_unique<control::ClientNegotiator>(std::move(cc)));
  attempt->negotiator().start(Clock::now());
  attempt->drain();
  while (!attempt->finished && !stopping_) co_await attempt->done.async_wait(kAsTuple);

  keepalive_timer_.cancel();
  attempt->detach_session();
  established_ = false;
  co_return attempt->reason.empty() ? std::string("connection closed") : attempt->reason;
}

// Happy Eyeballs (happy_eyeballs.hpp, RFC 8305): the resolved addresses interleaved by family,
// IPv6 first; the next attempt starts connect_attempt_delay after the previous one (at once
// when every started one has failed) while the earlier ones stay pending; the first to connect
// wins and the others are closed; each is bounded by connect_timeout. The sockets are opened
// here rather than by a range async_connect so that, with leak protection, SO_MARK is set
// before connect(): the SYN's route lookup already carries the mark and bypasses the tunnel's
// table. Completions land in `Race::done` and wake the loop, which feeds them to the race.
namespace {
struct Race {
  explicit Race(asio::io_context& io) : wake(io) {}
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> sockets;  // by attempt (tried order)
  std::vector<std::pair<std::size_t, asio::error_code>> done;   // completions not yet fed to the race
  asio::steady_timer wake;
};
}  // namespace

asio::awaitable<std::error_code> TunnelClient::connect_socket(asio::ip::tcp::socket& socket,
                                                              const asio::ip::tcp::resolver::results_type& endpoints) {
  std::vector<asio::ip::tcp::endpoint> resolved;
  std::vector<IpAddress> addresses;
  for (const auto& entry : endpoints) {
    resolved.push_back(entry.endpoint());
    addresses.push_back(from_asio(entry.endpoint().address()));
  }
  const std::vector<std::size_t> order = interleave_families(addresses);
  ConnectRace race(order.size(), {cfg_.connect_attempt_delay, cfg_.connect_timeout});
  auto state = std::make_shared<Race>(io_);
  state->sockets.resize(order.size());
  std::error_code last = asio::error::host_not_found;

  auto perform = [&](const ConnectRace::Actions& actions) {
    for (std::size_t k : actions.start) {
      const auto& target = resolved[order[k]];
      auto& s = state->sockets[k] = std::make_unique<asio::ip::tcp::socket>(io_);
      asio::error_code ec;
      s->open(target.protocol(), ec);
      if (!ec && cfg_.leak_protection) ec = platform::set_socket_mark(s->native_handle(), cfg_.fwmark);
      if (ec) {
        state->done.emplace_back(k, ec);  // fed to the race as a failure: the next starts at once
        continue;
      }
      if (k > 0) log::info("tunnel", "", "trying_next_address", {{"address", target.address().to_string()}});
      s->async_connect(target, [state, k](const asio::error_code& cec) {
        state->done.emplace_back(k, cec);
        state->wake.cancel();
      });
    }
    for (std::size_t k : actions.timed_out) {
      last = asio::error::timed_out;
      log::warn("tunnel", "", "connect_timeout", {{"address", resolved[order[k]].address().to_string()}});
      asio::error_code ignored;
      state->sockets[k]->close(ignored);
    }
    if (actions.winner) {
      socket = std::move(*state->sockets[*actions.winner]);
      for (auto& other : state->sockets) {
        asio::error_code ignored;
        if (other && other->is_open()) other->close(ignored);  // the losers' handlers run aborted
      }
    }
  };

  perform(race.begin(Clock::now()));
  while (!race.over()) {
    if (state->done.empty()) {
      state->wake.expires_at(*race.next_deadline());
      co_await state->wake.async_wait(kAsTuple);
    }
    if (stopping_) {
      for (auto& s : state->sockets) {
        asio::error_code ignored;
        if (s) s->close(ignored);
      }
      co_return asio::error::operation_aborted;
    }
    const auto now = Clock::now();
    auto done = std::move(state->done);
    state->done.clear();
    for (const auto& [k, ec] : done) {
      if (race.over()) break;
      if (!ec) {
        perform(race.on_connected(k));
      } else {
        if (ec != asio::error::operation_aborted) last = ec;
        perform(race.on_failed(k, now));
      }
    }
    if (auto deadline = race.next_deadline(); deadline && now >= *deadline) perform(race.on_timer(now));
  }
  if (socket.is_open()) co_return std::error_code{};
  co_return last;
}

void TunnelClient::establish(Attempt& attempt, std::shared_ptr<PeerSession> session,
                             const control::TunnelParameters& params) {
  InterfaceSettings settings;
  settings.name = data_plane_.tun().name();
  settings.address = params.client_address;
  settings.prefix_len = params.prefix_len;
  settings.mtu = params.mtu;
  settings.queue_length = cfg_.tun_queue_length;
  if (cfg_.leak_protection) settings.table = cfg_.table;
  settings.routes = params.routes;
  if (params.client_address6) settings.address6 = IpPrefix{*params.client_address6, params.prefix6_len};
  try {
    configure_interface(netlink_, settings);
    warn_if_strict_rp_filter(settings);
    if (cfg_.leak_protection) apply_leak_rules(params);
  } catch (const std::exception& e) {
    log::error("tunnel", "", "interface_setup_failed", {{"error", e.what()}});
    attempt.negotiator().terminate("client could not configure its interface", Clock::now());
    return;
  }
  // The control channel's family: the data socket is dual-stack (client_command.cpp), and
  // unmapped so the endpoint compares equal to what the socket reports for the server.
  const IpEndpoint server(from_asio(attempt.server_address).unmapped(), params.data_port);
  {
    std::lock_guard lock(session->endpoint_mutex);
    session->endpoint_len = server.to_sockaddr(session->endpoint);
  }
  session->identity = params.identity;
  session->log_id = "client";
  session->inner_address = params.client_address.to_v4_uint();  // our own address, for `postern status`
  if (params.client_address6) session->inner_address6 = data::Ipv6Key::of(*params.client_address6);
  previous_address_ = params.client_address;
  if (params.client_address6) previous_address6_ = params.client_address6;
  attempt.attach_session(session);
  established_ = true;
  if (auto index = rotation_.current()) rotation_.on_established(*index, Clock::now());
  std::string routes, dns, domains;
  for (const auto& r : params.routes) routes += (routes.empty() ? "" : ",") + r.to_string();
  for (const auto& d : params.dns) dns += (dns.empty() ? "" : ",") + d.to_string();
  for (const auto& d : params.domains) domains += (domains.empty() ? "" : ",") + d.to_string();
  log::info("tunnel", "", "session_up",
            {{"address", params.client_address.to_string() + "/" + std::to_string(params.prefix_len)},
             {"address6", params.client_address6 ? params.client_address6->to_string() + "/" +
                                                       std::to_string(params.prefix6_len)
                                                 : std::string("none")},
             {"interface", settings.name}, {"mtu", params.mtu}, {"routes", routes}, {"dns", dns},
             {"domains", domains}, {"cipher", to_string(params.cipher)}, {"data", server.to_string()},
             {"accounting_session", accounting_session_},
             {"server", rotation_.current() ? cfg_.servers[*rotation_.current()].to_string() : std::string()}});
  apply_dns(params, settings.name);
  data_plane_.send_echo(session, 0, Transport::udp);  // tells the server our UDP address at once
  attempt.monitor = std::make_unique<TransportMonitor>(
      TransportTimers{std::chrono::milliseconds(1000), cfg_.fallback_after, cfg_.keepalive}, Clock::now());
  transport_tick();
}

// Leak protection for what this session pushed (interface_setup.hpp): IPv4 DNS rules for the
// IPv4 servers, and the IPv6 rules, which route IPv6 through the tunnel when it carries IPv6.
void TunnelClient::apply_leak_rules(const control::TunnelParameters& params) {
  const LeakProtection protection{cfg_.fwmark, cfg_.table};
  std::vector<IpAddress> dns4;
  std::optional<Ipv6Inside> inside;
  if (params.client_address6) inside.emplace();
  bool default4 = false;
  for (const auto& r : params.routes) {
    if (r.prefix_len != 0) continue;
    if (r.address.is_v4()) default4 = true;
    else if (inside) inside->default_route = true;
  }
  for (const auto& a : params.dns) {
    if (a.is_v4()) dns4.push_back(a);
    else if (inside) inside->dns_servers.push_back(a);
  }
  if (params.dns.empty()) remove_dns_leak_rules(netlink_);
  else install_dns_leak_rules(netlink_, protection, dns4);
  install_ipv6_leak_rules(netlink_, protection, cfg_.leak_protection_ipv6 == config::Ipv6LeakPolicy::block, default4,
                          !params.dns.empty(), inside);
}

void TunnelClient::apply_dns(const control::TunnelParameters& params, const std::string& interface) {
  if (!dns_) return;
  if (params.dns.empty()) {
    restore_dns();  // this server pushes none (an earlier one may have)
    return;
  }
  platform::DnsSettings s;
  s.interface = interface;
  s.servers = params.dns;
  s.domains = params.domains;
  // Only routing-only domains: split DNS, other names keep the host's servers; with leak
  // protection every name goes to the pushed servers.
  s.default_route = cfg_.leak_protection || std::all_of(s.domains.begin(), s.domains.end(),
                                                         [](const auto& d) { return !d.routing_only; });
  if (auto error = dns_->apply(s); !error.empty()) {
    log::error("dns", "", "apply_failed", {{"backend", platform::to_string(dns_->backend())}, {"error", error}});
    return;
  }
  dns_applied_ = true;
  log::info("dns", "", "applied", {{"backend", platform::to_string(dns_->backend())}, {"interface", interface}});
  if (dns_->backend() == platform::ResolverBackend::file) {
    for (const auto& d : platform::routing_only_domains(s)) {
      log::warn("dns", "", "routing_domain_not_applied",
                {{"domain", d}, {"reason", "resolv.conf has no per-domain servers; names under it use the pushed servers"}});
    }
  }
}

void TunnelClient::restore_dns() {
  if (!dns_ || !dns_applied_) return;
  dns_applied_ = false;
  if (auto error = dns_->restore(); !error.empty()) {
    log::error("dns", "", "restore_failed", {{"error", error}});
  } else {
    log::info("dns", "", "restored", {{"backend", platform::to_string(dns_->backend())}});
  }
}

void TunnelClient::transport_tick() {
  keepalive_timer_.expires_after(current_->monitor->tick_interval());
  keepalive_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_ || !current_ || !current_->session() || !current_->monitor) return;
    Attempt& a = *current_;
    const auto& session = a.session();
    std::uint64_t tx = session->tx_packets.load(std::memory_order_relaxed);
    bool sending = tx != a.tx_packets_seen;
    a.tx_packets_seen = tx;
    auto d = a.monitor->tick(Clock::now(), as_time(session->last_udp_rx_ns), as_time(session->last_udp_echo_reply_ns),
                             sending);
    if (d.switch_to) DataPlane::set_transport(*session, *d.switch_to, d.reason);
    if (d.probe_udp) data_plane_.send_echo(session, ++a.echo_identifier, Transport::udp);
    if (d.keepalive_tls) data_plane_.send_echo(session, ++a.echo_identifier, Transport::tls);
    transport_tick();
  });
}

void TunnelClient::on_tls_frames(std::shared_ptr<PeerSession> session) {
  asio::post(io_, [this, session = std::move(session)] {
    if (!current_ || current_->session() != session || current_->finished) return;
    current_->flush_tls_frames();
  });
}

void TunnelClient::request_key(std::shared_ptr<PeerSession> session, Direction direction, std::uint32_t epoch) {
  asio::post(io_, [this, session = std::move(session), direction, epoch] {
    if (!current_ || current_->session() != session || current_->finished) return;
    // Epoch n + 1 is installed while n is current: installing epoch >= 2 means a rekey happened.
    if (current_->install_key(direction, epoch) && epoch >= 2) {
      log::info("tunnel", "client", "rekeyed",
                {{"direction", direction == Direction::send ? "send" : "receive"}, {"next_epoch", epoch}});
    }
  });
}

}  // namespace postern::tunnel::daemon
