// Server negotiation state machine (see negotiator_server.hpp). Authentication is decided in one
// place (on_hello's policy table); LCP limits in lcp_counter_proposal(); the address comes from
// the shared AddressPool and is released when the session closes, whatever closed it.
#include "tunnel/control/negotiator_server.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace postern::tunnel::control {
namespace {

constexpr int kMaxFailure = 5;  // RFC 1661 4.6 Max-Failure default
constexpr std::chrono::seconds kDefaultKeepalive{10};

std::uint16_t to_u16_seconds(std::chrono::seconds s) {
  return static_cast<std::uint16_t>(std::clamp<std::int64_t>(s.count(), 1, 0xffff));
}

}  // namespace

std::string_view to_string(AuthPolicy p) {
  switch (p) {
    case AuthPolicy::any: return "any";
    case AuthPolicy::certificate: return "certificate";
    case AuthPolicy::password: return "password";
    case AuthPolicy::both: return "both";
  }
  return "unknown";
}

std::optional<AuthPolicy> auth_policy_from_string(std::string_view s) {
  for (auto p : {AuthPolicy::any, AuthPolicy::certificate, AuthPolicy::password, AuthPolicy::both}) {
    if (to_string(p) == s) return p;
  }
  return std::nullopt;
}

std::string_view to_string(ServerNegotiator::State s) {
  using S = ServerNegotiator::State;
  switch (s) {
    case S::wait_hello: return "wait_hello";
    case S::verifying_password: return "verifying_password";
    case S::lcp: return "lcp";
    case S::ipcp: return "ipcp";
    case S::established: return "established";
    case S::closed: return "closed";
  }
  return "unknown";
}

ServerNegotiator::ServerNegotiator(ServerConfig config, PeerCertificate peer, AddressPool& pool, TimePoint now,
                                   AddressPool* pool6)
    : config_(std::move(config)),
      peer_(std::move(peer)),
      pool_(pool),
      pool6_(pool6),
      link_("control-server", config_.log_id, config_.echo_magic),
      negotiation_deadline_(now + config_.negotiation_timeout) {
  params_.local_session_id = config_.receive_session_id & kMaxSessionId;
  params_.data_port = config_.data_port;
  params_.rekey_interval = config_.rekey_interval;
  params_.rekey_packets = config_.rekey_packets;
  // One IPCP message carries at most kMaxRepeated of each (both families together); more could
  // never be ACKed. IPv6 entries are for sessions with an IPv6 address only: without a pool6
  // they are never pushed.
  if (pool6_ == nullptr) {
    std::erase_if(config_.dns, [](const IpAddress& a) { return a.is_v6(); });
    std::erase_if(config_.routes, [](const IpPrefix& r) { return r.address.is_v6(); });
  }
  if (config_.dns.size() > kMaxRepeated) config_.dns.resize(kMaxRepeated);
  if (config_.routes.size() > kMaxRepeated) config_.routes.resize(kMaxRepeated);
  if (config_.domains.size() > kMaxDomains) config_.domains.resize(kMaxDomains);
}

void ServerNegotiator::enter(State next) {
  if (next == state_) return;
  log::info("control-server", config_.log_id, "state", {{"from", to_string(state_)}, {"to", to_string(next)}});
  state_ = next;
}

void ServerNegotiator::sync_closed(TimePoint now) {
  if (!link_.closed() || state_ == State::closed) return;
  enter(State::closed);
  release_addresses(now);
}

void ServerNegotiator::release_addresses(TimePoint now) {
  if (address_held_) {
    pool_.release(params_.identity, now);  // kept reserved for the pool's grace period
    address_held_ = false;
  }
  if (address6_held_) {
    pool6_->release(params_.identity, now);
    address6_held_ = false;
    params_.client_address6.reset();
  }
}

void ServerNegotiator::fail(std::error_code e, std::string_view reason, TimePoint now) {
  link_.close(reason, e, true);
  sync_closed(now);
}

void ServerNegotiator::feed(std::span<const std::uint8_t> bytes, TimePoint now) {
  if (state_ == State::closed) return;
  link_.feed(bytes, now);
  while (auto frame = link_.next_frame()) {
    handle(*frame, now);
    if (link_.closed()) break;
  }
  sync_closed(now);
}

void ServerNegotiator::handle(const Frame& frame, TimePoint now) {
  if (link_.handle_common(frame, state_ == State::established, now)) return;
  const MessageType t = frame.type;
  if (state_ == State::wait_hello && t == MessageType::hello) return on_hello(frame, now);
  if (state_ == State::lcp && t == MessageType::lcp_configure_request) return on_lcp_request(frame, now);
  if (state_ == State::ipcp && t == MessageType::ipcp_configure_request) return on_ipcp_request(frame, now);
  // Includes anything sent while the password is being verified: the client must wait for AUTH_OK.
  fail(errc::unexpected_message, "unexpected " + std::string(to_string(t)) + " in state " + std::string(to_string(state_)),
       now);
}

void ServerNegotiator::on_hello(const Frame& frame, TimePoint now) {
  Hello h;
  if (auto ec = decode_hello(frame.body, h)) return fail(ec, "malformed HELLO", now);
  if (h.version != kProtocolVersion) return fail(errc::unsupported_version, "unsupported protocol version", now);
  // The server picks the client's most preferred cipher that it also accepts.
  std::optional<Cipher> chosen;
  for (std::uint8_t wire : h.ciphers) {
    auto c = cipher_from_wire(wire);
    if (c && std::find(config_.ciphers.begin(), config_.ciphers.end(), *c) != config_.ciphers.end()) {
      chosen = c;
      break;
    }
  }
  if (!chosen) return fail(errc::no_common_cipher, "no common cipher", now);
  params_.cipher = *chosen;
  params_.peer_session_id = h.session_id;
  requested_address_ = h.previous_address;

  const bool has_cert = peer_.verified && !peer_.identity.empty();
  const bool has_password = h.user.has_value() && !h.password.empty();
  // Policy table. "any" with a password present always checks it: a wrong password is refused
  // even if a certificate would have sufficed (it signals a confused or hostile client).
  bool need_cert = config_.policy == AuthPolicy::certificate || config_.policy == AuthPolicy::both;
  bool need_password = config_.policy == AuthPolicy::password || config_.policy == AuthPolicy::both ||
                       (config_.policy == AuthPolicy::any && has_password);
  if (config_.policy == AuthPolicy::any && !has_cert && !has_password) return refuse("no credentials", now);
  if (need_cert && !has_cert) return refuse("certificate required", now);
  if (need_password && !has_password) return refuse("password required", now);
  if (!need_password) {
    params_.identity = peer_.identity;
    return accept_auth(now);
  }
  params_.identity = *h.user;
  // "both": one identity namespace (docs/control-channel.md), so the certificate must be the
  // password user's own (CN == user). Refused before the scrypt is queued: a stolen certificate
  // plus someone else's password costs us nothing and proves nothing.
  // Under "any" a client that presents both a certificate and a password gets the same rule:
  // two names in one login is a confused or hostile client, never two identities at once.
  if ((config_.policy == AuthPolicy::both || has_cert) && peer_.identity != *h.user) {
    return refuse("certificate identity does not match the password user", now);
  }
  enter(State::verifying_password);
  link_.emit(VerifyPassword{*h.user, std::move(h.password)});
}

void ServerNegotiator::on_password_verified(PasswordCheck check, TimePoint now, std::optional<IpAddress> framed_address) {
  if (state_ != State::verifying_password) return;
  if (check == PasswordCheck::rejected) return refuse("bad password", now);
  if (check == PasswordCheck::unavailable) {
    log::warn("control-server", config_.log_id, "auth_unavailable", {{"user", params_.identity}});
    link_.send(encode_auth_fail(kAuthUnavailableText));
    link_.close(std::string(kAuthUnavailableText), errc::auth_unavailable, false);
    return sync_closed(now);
  }
  framed_address_ = framed_address;
  accept_auth(now);
}

void ServerNegotiator::refuse(std::string_view why, TimePoint now) {
  // The peer only learns "authentication failed"; the operator log has the cause.
  log::warn("control-server", config_.log_id, "auth_refused",
            {{"why", why}, {"policy", to_string(config_.policy)}, {"cert", peer_.identity}, {"user", params_.identity}});
  link_.send(encode_auth_fail(kAuthFailText));
  link_.close(kAuthFailText, errc::auth_failed, false);
  sync_closed(now);
}

void ServerNegotiator::accept_auth(TimePoint now) {
  (void)now;
  log::info("control-server", config_.log_id, "authenticated",
            {{"identity", params_.identity}, {"cert", peer_.identity}, {"policy", to_string(config_.policy)}});
  link_.send(encode_auth_ok());
  enter(State::lcp);
}

LcpOptions ServerNegotiator::lcp_counter_proposal(const LcpOptions& req) const {
  // Options missing from the request are NAKed with our value too (RFC 1661 5.3 allows a Nak to
  // suggest options), so both ends always agree on all three.
  LcpOptions nak;
  if (!req.mtu || *req.mtu > config_.max_mtu) {
    nak.mtu = config_.max_mtu;
  } else if (*req.mtu < kMinMtu) {
    nak.mtu = kMinMtu;
  }
  auto ka_lo = to_u16_seconds(config_.min_keepalive);
  auto ka_hi = std::max(ka_lo, to_u16_seconds(config_.max_keepalive));
  std::uint16_t keepalive = req.keepalive_seconds.value_or(0);
  if (keepalive < ka_lo || keepalive > ka_hi) {
    keepalive = req.keepalive_seconds ? std::clamp(keepalive, ka_lo, ka_hi)
                                      : std::clamp(to_u16_seconds(kDefaultKeepalive), ka_lo, ka_hi);
    nak.keepalive_seconds = keepalive;
  }
  // Dead-peer time must cover at least two echo intervals, else one lost echo kills the session.
  auto dead_lo = static_cast<std::uint16_t>(std::min<int>(2 * keepalive, 0xffff));
  auto dead_hi = std::max(dead_lo, to_u16_seconds(config_.max_dead_peer));
  if (!req.dead_peer_seconds || *req.dead_peer_seconds < dead_lo || *req.dead_peer_seconds > dead_hi) {
    nak.dead_peer_seconds =
        req.dead_peer_seconds ? std::clamp(*req.dead_peer_seconds, dead_lo, dead_hi)
                              : static_cast<std::uint16_t>(std::min<int>(6 * keepalive, dead_hi));
  }
  return nak;
}

void ServerNegotiator::on_lcp_request(const Frame& frame, TimePoint now) {
  LcpOptions req;
  if (auto ec = decode_lcp(frame.body, req)) return fail(ec, "malformed LCP request", now);
  if (!req.unknown.empty()) {
    // RFC 1661 5.4: reject unknown options (only those) before considering values.
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many LCP rounds", now);
    LcpOptions rej;
    rej.unknown = req.unknown;
    return link_.send(encode_lcp(MessageType::lcp_configure_reject, rej));
  }
  LcpOptions nak = lcp_counter_proposal(req);
  if (nak != LcpOptions{}) {
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many LCP rounds", now);
    return link_.send(encode_lcp(MessageType::lcp_configure_nak, nak));
  }
  link_.send(encode_lcp(MessageType::lcp_configure_ack, req));
  params_.mtu = *req.mtu;
  params_.keepalive = std::chrono::seconds(*req.keepalive_seconds);
  params_.dead_peer = std::chrono::seconds(*req.dead_peer_seconds);
  failures_ = 0;
  enter(State::ipcp);
}

void ServerNegotiator::on_ipcp_request(const Frame& frame, TimePoint now) {
  IpcpOptions req;
  if (auto ec = decode_ipcp(frame.body, req)) return fail(ec, "malformed IPCP request", now);
  if (!req.unknown.empty()) {
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many IPCP rounds", now);
    IpcpOptions rej;
    rej.unknown = req.unknown;
    return link_.send(encode_ipcp(MessageType::ipcp_configure_reject, rej));
  }
  if (!address_held_) {
    std::optional<IpAddress> wanted = requested_address_;
    if (req.address && !req.address->is_unspecified()) wanted = req.address;
    std::optional<IpAddress> assigned;
    if (framed_address_) {
      // The directory chose the address (RADIUS Framed-IP-Address): that one or none.
      auto framed = pool_.assign_framed(params_.identity, *framed_address_, now);
      if (framed != AddressPool::Framed::assigned) {
        log::warn("control-server", config_.log_id, "framed_address_refused",
                  {{"identity", params_.identity}, {"address", framed_address_->to_string()},
                   {"why", to_string(framed)}, {"pool", pool_.network().to_string()}});
        return fail(errc::address_unavailable,
                    "assigned address " + framed_address_->to_string() + " " + std::string(to_string(framed)), now);
      }
      assigned = framed_address_;
    } else {
      assigned = pool_.assign(params_.identity, wanted, now);
    }
    if (!assigned) return fail(errc::pool_exhausted, "address pool exhausted", now);
    address_held_ = true;
    params_.client_address = *assigned;
    params_.prefix_len = pool_.prefix_len();
    params_.server_address = pool_.server_address();
    params_.domains = config_.domains;
  }
  if (req.has_ipv6() && !take_ipv6(req, now)) {
    // No IPv6 for this session (RFC 1661 5.4 Configure-Reject of exactly those options): the
    // client asks again without them and goes on IPv4 only.
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many IPCP rounds", now);
    IpcpOptions rej;
    rej.address6 = req.address6;
    rej.prefix6_len = req.prefix6_len;
    rej.server_address6 = req.server_address6;
    for (const auto& a : req.dns) {
      if (a.is_v6()) rej.dns.push_back(a);
    }
    for (const auto& r : req.routes) {
      if (r.address.is_v6()) rej.routes.push_back(r);
    }
    return link_.send(encode_ipcp(MessageType::ipcp_configure_reject, rej));
  }
  if (!req.has_ipv6() && address6_held_) {  // asked before, not any more: give it back
    pool6_->release(params_.identity, now);
    address6_held_ = false;
    params_.client_address6.reset();
  }
  // The servers and routes of the families this session carries.
  params_.dns.clear();
  params_.routes.clear();
  for (const auto& a : config_.dns) {
    if (a.is_v4() || address6_held_) params_.dns.push_back(a);
  }
  for (const auto& r : config_.routes) {
    if (r.address.is_v4() || address6_held_) params_.routes.push_back(r);
  }
  // Authenticated by now (IPCP follows AUTH_OK): only then may the client's id be kept.
  if (req.accounting_session) params_.accounting_session = *req.accounting_session;
  IpcpOptions ours;
  ours.address = params_.client_address;
  ours.prefix_len = params_.prefix_len;
  ours.server_address = params_.server_address;
  if (address6_held_) {
    ours.address6 = params_.client_address6;
    ours.prefix6_len = params_.prefix6_len;
    ours.server_address6 = params_.server_address6;
  }
  ours.dns = params_.dns;
  ours.domains = params_.domains;
  ours.routes = params_.routes;
  // The domain attribute (37) is newer than protocol version 1: a client that does not know
  // it keeps it out of its request and is acked without it (the domains are only for the
  // client to use). Every client's first request lacks prefix_len, so each gets the NAK that
  // carries them.
  IpcpOptions expected = ours;
  if (req.domains.empty()) expected.domains.clear();
  expected.accounting_session = req.accounting_session;  // the client's, acked as sent
  if (req != expected) {
    // RFC 1332 3.3: NAK with the address (and the rest) the client must request.
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many IPCP rounds", now);
    return link_.send(encode_ipcp(MessageType::ipcp_configure_nak, ours));
  }
  link_.send(encode_ipcp(MessageType::ipcp_configure_ack, req));
  establish(now);
}

bool ServerNegotiator::take_ipv6(const IpcpOptions& req, TimePoint now) {
  if (pool6_ == nullptr) return false;
  if (address6_held_) return true;
  std::optional<IpAddress> wanted;
  if (req.address6 && !req.address6->is_unspecified()) wanted = req.address6;
  auto assigned = pool6_->assign(params_.identity, wanted, now);
  if (!assigned) {
    log::warn("control-server", config_.log_id, "ipv6_pool_exhausted",
              {{"identity", params_.identity},
               {"pool6", pool6_->network().to_string()},
               {"effect", "session is IPv4 only"}});
    return false;
  }
  address6_held_ = true;
  params_.client_address6 = *assigned;
  params_.prefix6_len = pool6_->prefix_len();
  params_.server_address6 = pool6_->server_address();
  return true;
}

void ServerNegotiator::establish(TimePoint now) {
  DataChannel d;
  d.session_id = params_.local_session_id;
  d.data_port = params_.data_port;
  d.cipher = static_cast<std::uint8_t>(params_.cipher);
  d.rekey_seconds = static_cast<std::uint32_t>(std::clamp<std::int64_t>(params_.rekey_interval.count(), 0, 0xffffffff));
  d.rekey_packets = params_.rekey_packets;
  link_.send(encode_data_channel(d));
  link_.start_liveness(params_.keepalive, params_.dead_peer, now);
  enter(State::established);
  log::info("control-server", config_.log_id, "established",
            {{"identity", params_.identity}, {"address", params_.client_address.to_string()},
             {"address6", params_.client_address6 ? params_.client_address6->to_string() : std::string("none")},
             {"mtu", params_.mtu}, {"cipher", to_string(params_.cipher)}});
  link_.emit(Established{params_});
}

void ServerNegotiator::on_timer(TimePoint now) {
  if (state_ == State::closed) return;
  if (state_ == State::established) {
    link_.on_timer(now);
  } else if (now >= negotiation_deadline_) {
    fail(errc::negotiation_timeout, "negotiation timeout", now);
  }
  sync_closed(now);
}

std::optional<TimePoint> ServerNegotiator::next_deadline() const {
  if (state_ == State::closed) return std::nullopt;
  if (state_ == State::established) return link_.liveness_deadline();
  return negotiation_deadline_;
}

void ServerNegotiator::send_data_frame(std::span<const std::uint8_t> frame) {
  if (state_ == State::established) link_.send(encode_data(frame));
}

void ServerNegotiator::terminate(std::string_view reason, TimePoint now) {
  link_.close(reason, {}, true);
  sync_closed(now);
}

}  // namespace postern::tunnel::control
