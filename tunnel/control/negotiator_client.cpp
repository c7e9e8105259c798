// Client negotiation state machine (see negotiator_client.hpp). Every message handler checks the
// state first (a message in the wrong state is a protocol error: TLS cannot reorder or duplicate,
// so the peer is broken or hostile), decodes into locals, and only then commits to members.
#include "tunnel/control/negotiator_client.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace postern::tunnel::control {
namespace {

constexpr int kMaxFailure = 5;  // RFC 1661 4.6 Max-Failure default

std::uint16_t clamp_seconds(std::chrono::seconds s) {
  return static_cast<std::uint16_t>(std::clamp<std::int64_t>(s.count(), 1, 0xffff));
}

}  // namespace

std::string_view to_string(ClientNegotiator::State s) {
  using S = ClientNegotiator::State;
  switch (s) {
    case S::idle: return "idle";
    case S::hello_sent: return "hello_sent";
    case S::lcp: return "lcp";
    case S::ipcp: return "ipcp";
    case S::wait_data_channel: return "wait_data_channel";
    case S::established: return "established";
    case S::closed: return "closed";
  }
  return "unknown";
}

ClientNegotiator::ClientNegotiator(ClientConfig config)
    : config_(std::move(config)), link_("control-client", config_.log_id, config_.echo_magic) {
  params_.local_session_id = config_.receive_session_id & kMaxSessionId;
  params_.identity = config_.user.value_or("");
  params_.mtu = config_.mtu;
  params_.keepalive = config_.keepalive;
  params_.dead_peer = config_.dead_peer;
}

void ClientNegotiator::enter(State next) {
  if (next == state_) return;
  log::info("control-client", config_.log_id, "state", {{"from", to_string(state_)}, {"to", to_string(next)}});
  state_ = next;
}

void ClientNegotiator::sync_closed() {
  if (link_.closed() && state_ != State::closed) enter(State::closed);
}

void ClientNegotiator::fail(std::error_code e, std::string_view reason) {
  link_.close(reason, e, true);
  sync_closed();
}

void ClientNegotiator::start(TimePoint now) {
  if (state_ != State::idle) return;
  negotiation_deadline_ = now + config_.negotiation_timeout;
  Hello h;
  h.session_id = params_.local_session_id;
  h.user = config_.user;
  h.password = config_.password.clone();
  for (Cipher c : config_.ciphers) h.ciphers.push_back(static_cast<std::uint8_t>(c));
  h.previous_address = config_.previous_address;
  link_.send(encode_hello(h));
  enter(State::hello_sent);
}

void ClientNegotiator::feed(std::span<const std::uint8_t> bytes, TimePoint now) {
  if (state_ == State::closed) return;
  link_.feed(bytes, now);
  while (auto frame = link_.next_frame()) {
    handle(*frame, now);
    if (link_.closed()) break;
  }
  sync_closed();
}

void ClientNegotiator::handle(const Frame& frame, TimePoint now) {
  if (link_.handle_common(frame, state_ == State::established, now)) return;
  const MessageType t = frame.type;
  switch (state_) {
    case State::hello_sent:
      if (t == MessageType::auth_ok) return on_auth_ok();
      if (t == MessageType::auth_fail) return on_auth_fail(frame);
      break;
    case State::lcp:
      if (t == MessageType::lcp_configure_ack || t == MessageType::lcp_configure_nak ||
          t == MessageType::lcp_configure_reject) {
        return on_lcp(frame);
      }
      break;
    case State::ipcp:
      if (t == MessageType::ipcp_configure_ack || t == MessageType::ipcp_configure_nak ||
          t == MessageType::ipcp_configure_reject) {
        return on_ipcp(frame);
      }
      break;
    case State::wait_data_channel:
      if (t == MessageType::data_channel) return on_data_channel(frame, now);
      break;
    default:
      break;
  }
  fail(errc::unexpected_message, "unexpected " + std::string(to_string(t)) + " in state " + std::string(to_string(state_)));
}

void ClientNegotiator::on_auth_ok() {
  log::info("control-client", config_.log_id, "authenticated");
  lcp_request_ = LcpOptions{};
  lcp_request_.mtu = config_.mtu;
  lcp_request_.keepalive_seconds = clamp_seconds(config_.keepalive);
  lcp_request_.dead_peer_seconds = clamp_seconds(config_.dead_peer);
  enter(State::lcp);
  link_.send(encode_lcp(MessageType::lcp_configure_request, lcp_request_));
}

void ClientNegotiator::on_auth_fail(const Frame& frame) {
  std::string reason;
  if (decode_reason(frame.body, reason)) reason.clear();
  // No TERMINATE: AUTH_FAIL already ends the session on the server side. The server sends one
  // text for every cause ("authentication failed"); any other text is added, not repeated.
  constexpr std::string_view kFailed = kAuthFailText;
  if (reason == kAuthUnavailableText) {  // the server could not check us now: retry later
    link_.close(std::string(kAuthUnavailableText), errc::auth_unavailable, false);
    return sync_closed();
  }
  link_.close(reason.empty() || reason == kFailed ? std::string(kFailed)
                                                  : std::string(kFailed) + ": " + reason,
              errc::auth_failed, false);
  sync_closed();
}

void ClientNegotiator::on_lcp(const Frame& frame) {
  LcpOptions o;
  if (auto ec = decode_lcp(frame.body, o)) return fail(ec, "malformed LCP message");
  if (frame.type == MessageType::lcp_configure_ack) {
    // RFC 1661 5.2: the Ack must list exactly the options requested.
    if (o != lcp_request_) return fail(errc::negotiation_failed, "LCP ack does not match request");
    if (lcp_request_.mtu) params_.mtu = *lcp_request_.mtu;
    if (lcp_request_.keepalive_seconds) params_.keepalive = std::chrono::seconds(*lcp_request_.keepalive_seconds);
    if (lcp_request_.dead_peer_seconds) params_.dead_peer = std::chrono::seconds(*lcp_request_.dead_peer_seconds);
    ipcp_request_ = IpcpOptions{};
    ipcp_request_.address = config_.previous_address.value_or(IpAddress{});
    if (!config_.accounting_session.empty()) ipcp_request_.accounting_session = config_.accounting_session;
    // RFC 8200 5: IPv6 needs a link MTU of 1280; below it the kernel would disable IPv6 on the TUN.
    if (config_.ipv6 && params_.mtu >= kMinIpv6Mtu) {
      ipcp_request_.address6 = config_.previous_address6.value_or(IpAddress::any(IpAddress::Family::v6));
    }
    enter(State::ipcp);
    link_.send(encode_ipcp(MessageType::ipcp_configure_request, ipcp_request_));
    return;
  }
  if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many LCP rounds");
  if (frame.type == MessageType::lcp_configure_reject) {
    // RFC 1661 5.4: drop the rejected options; our configured values then stand.
    if (o.mtu) lcp_request_.mtu.reset();
    if (o.keepalive_seconds) lcp_request_.keepalive_seconds.reset();
    if (o.dead_peer_seconds) lcp_request_.dead_peer_seconds.reset();
  } else {
    // RFC 1661 5.3: adopt the peer's values if we can live with them.
    if (o.mtu) {
      if (*o.mtu < kMinMtu || *o.mtu > config_.mtu) return fail(errc::negotiation_failed, "unacceptable MTU in NAK");
      lcp_request_.mtu = o.mtu;
    }
    if (o.keepalive_seconds) {
      if (*o.keepalive_seconds == 0) return fail(errc::negotiation_failed, "zero keepalive in NAK");
      lcp_request_.keepalive_seconds = o.keepalive_seconds;
    }
    if (o.dead_peer_seconds) {
      if (*o.dead_peer_seconds == 0) return fail(errc::negotiation_failed, "zero dead-peer time in NAK");
      lcp_request_.dead_peer_seconds = o.dead_peer_seconds;
    }
  }
  link_.send(encode_lcp(MessageType::lcp_configure_request, lcp_request_));
}

void ClientNegotiator::on_ipcp(const Frame& frame) {
  IpcpOptions o;
  if (auto ec = decode_ipcp(frame.body, o)) return fail(ec, "malformed IPCP message");
  if (frame.type == MessageType::ipcp_configure_ack) {
    if (o != ipcp_request_) return fail(errc::negotiation_failed, "IPCP ack does not match request");
    if (!o.address || o.address->is_unspecified() || !o.prefix_len || !o.server_address) {
      return fail(errc::negotiation_failed, "IPCP ack without an address");
    }
    if (o.address6 && (o.address6->is_unspecified() || !o.prefix6_len || !o.server_address6)) {
      return fail(errc::negotiation_failed, "IPCP ack without an IPv6 address");
    }
    params_.client_address = *o.address;
    params_.prefix_len = *o.prefix_len;
    params_.server_address = *o.server_address;
    params_.client_address6 = o.address6;
    if (o.prefix6_len) params_.prefix6_len = *o.prefix6_len;
    if (o.server_address6) params_.server_address6 = *o.server_address6;
    params_.dns = o.dns;
    params_.domains = o.domains;
    params_.routes = o.routes;
    enter(State::wait_data_channel);
    return;
  }
  if (frame.type == MessageType::ipcp_configure_reject) {
    // The options a server may refuse while the session goes on (RFC 1661 5.4): the
    // accounting_session attribute (a server older than it) and the IPv6 ones (no pool6, its
    // pool6 exhausted, or older than them). Ask again without them; the session is then IPv4
    // only. Any other rejected option is a failure.
    const IpcpOptions v4_part = o.without_ipv6();
    const bool only_optional = !v4_part.address && !v4_part.prefix_len && !v4_part.server_address &&
                               v4_part.dns.empty() && v4_part.routes.empty() && v4_part.domains.empty() &&
                               v4_part.unknown.empty() && (o.accounting_session || o.has_ipv6()) &&
                               (!o.accounting_session || ipcp_request_.accounting_session) &&
                               (!o.has_ipv6() || ipcp_request_.has_ipv6());
    if (!only_optional) return fail(errc::negotiation_failed, "server rejected IPCP options");
    if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many IPCP rounds");
    if (o.accounting_session) ipcp_request_.accounting_session.reset();
    if (o.has_ipv6()) {
      log::info("control-client", config_.log_id, "ipv6_refused", {{"effect", "the tunnel carries IPv4 only"}});
      ipcp_request_ = ipcp_request_.without_ipv6();
    }
    return link_.send(encode_ipcp(MessageType::ipcp_configure_request, ipcp_request_));
  }
  if (++failures_ > kMaxFailure) return fail(errc::negotiation_failed, "too many IPCP rounds");
  // RFC 1332 3.3 / RFC 1877: the NAK carries the values the server wants us to request.
  if (o.address) ipcp_request_.address = o.address;
  if (o.prefix_len) ipcp_request_.prefix_len = o.prefix_len;
  if (o.server_address) ipcp_request_.server_address = o.server_address;
  // IPv6 values only in answer to our asking for IPv6 (a server must not push it unasked).
  if (o.has_ipv6() && !ipcp_request_.address6) return fail(errc::negotiation_failed, "IPv6 in NAK we did not ask for");
  if (o.address6) ipcp_request_.address6 = o.address6;
  if (o.prefix6_len) ipcp_request_.prefix6_len = o.prefix6_len;
  if (o.server_address6) ipcp_request_.server_address6 = o.server_address6;
  if (!o.dns.empty()) ipcp_request_.dns = o.dns;
  if (!o.domains.empty()) ipcp_request_.domains = o.domains;
  if (!o.routes.empty()) ipcp_request_.routes = o.routes;
  link_.send(encode_ipcp(MessageType::ipcp_configure_request, ipcp_request_));
}

void ClientNegotiator::on_data_channel(const Frame& frame, TimePoint now) {
  DataChannel d;
  if (auto ec = decode_data_channel(frame.body, d)) return fail(ec, "malformed DATA_CHANNEL");
  auto cipher = cipher_from_wire(d.cipher);
  if (!cipher || std::find(config_.ciphers.begin(), config_.ciphers.end(), *cipher) == config_.ciphers.end()) {
    return fail(errc::no_common_cipher, "server chose a cipher we did not offer");
  }
  if (d.data_port == 0) return fail(errc::bad_value, "DATA_CHANNEL without a port");
  params_.peer_session_id = d.session_id;
  params_.cipher = *cipher;
  params_.data_port = d.data_port;
  params_.rekey_interval = std::chrono::seconds(d.rekey_seconds);
  params_.rekey_packets = d.rekey_packets;
  link_.start_liveness(params_.keepalive, params_.dead_peer, now);
  enter(State::established);
  log::info("control-client", config_.log_id, "established",
            {{"address", params_.client_address.to_string()},
             {"address6", params_.client_address6 ? params_.client_address6->to_string() : std::string("none")},
             {"mtu", params_.mtu}, {"cipher", to_string(params_.cipher)}});
  link_.emit(Established{params_});
}

void ClientNegotiator::on_timer(TimePoint now) {
  if (state_ == State::closed || state_ == State::idle) return;
  if (state_ == State::established) {
    link_.on_timer(now);
  } else if (now >= negotiation_deadline_) {
    fail(errc::negotiation_timeout, "negotiation timeout");
  }
  sync_closed();
}

std::optional<TimePoint> ClientNegotiator::next_deadline() const {
  switch (state_) {
    case State::idle:
    case State::closed: return std::nullopt;
    case State::established: return link_.liveness_deadline();
    default: return negotiation_deadline_;
  }
}

void ClientNegotiator::send_data_frame(std::span<const std::uint8_t> frame) {
  if (state_ == State::established) link_.send(encode_data(frame));
}

void ClientNegotiator::terminate(std::string_view reason, TimePoint now) {
  (void)now;
  link_.close(reason, {}, true);
  sync_closed();
}

}  // namespace postern::tunnel::control
