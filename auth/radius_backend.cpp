// RADIUS PAP authentication (see radius_backend.hpp).
#include "auth/radius_backend.hpp"

namespace postern::auth {

RadiusBackend::RadiusBackend(const config::RadiusConfig& config, SecretBytes secret)
    : config_(config), secret_(std::move(secret)), transport_(config_.servers, secret_, config_.timeout, config_.tries,
                 config_.require_message_authenticator) {}

std::vector<radius::Attribute> access_request_attributes(const PasswordRequest& request, std::string_view nas_identifier) {
  using namespace radius;
  std::vector<Attribute> out;
  out.push_back(string_attribute(attr::nas_identifier, nas_identifier));
  const bool tunnel = request.service == PasswordService::tunnel;
  out.push_back(integer_attribute(attr::service_type, tunnel ? kServiceFramed : kServiceAuthenticateOnly));
  if (tunnel) out.push_back(integer_attribute(attr::framed_protocol, kFramedProtocolPpp));
  out.push_back(integer_attribute(attr::nas_port_type, kNasPortVirtual));
  if (!request.peer.empty()) out.push_back(string_attribute(attr::calling_station_id, request.peer));
  return out;
}

PasswordVerdict verdict_of(const radius::Packet& answer) {
  using namespace radius;
  const std::string message = answer.text(attr::reply_message).value_or("");
  switch (answer.code) {
    case Code::access_accept: {
      PasswordVerdict v = PasswordVerdict::accepted();
      v.reason = message;
      v.framed_ipv4 = answer.integer(attr::framed_ip_address);
      // 255.255.255.255 / .254: "let the user choose" / "the NAS chooses" (RFC 2865 5.8): the pool decides.
      if (v.framed_ipv4 && (*v.framed_ipv4 == 0xffffffffu || *v.framed_ipv4 == 0xfffffffeu)) v.framed_ipv4.reset();
      for (const auto& a : answer.attributes) {
        if (a.type == attr::class_) v.radius_class.push_back(a.value);
      }
      return v;
    }
    case Code::access_reject:
      return PasswordVerdict::rejected(message.empty() ? "Access-Reject" : "Access-Reject: " + message);
    case Code::access_challenge:
      return PasswordVerdict::rejected("Access-Challenge (a challenge cannot be answered here)");
    default:
      return PasswordVerdict::unavailable("unexpected " + std::string(to_string(answer.code)));
  }
}

PasswordVerdict RadiusBackend::authenticate(const PasswordRequest& request) const {
  if (request.password.empty()) return PasswordVerdict::rejected("empty password");
  if (request.password.size() > radius::kMaxPassword) return PasswordVerdict::rejected("password longer than 128 bytes");
  const auto extra = access_request_attributes(request, config_.nas_identifier);
  auto exchange = transport_.exchange(radius::Code::access_request, [&](std::uint8_t id, radius::Authenticator* ra) {
    radius::random_bytes(*ra);
    return radius::encode_access_request(id, *ra, secret_, request.user, request.password, extra);
  });
  if (!exchange.answer) return PasswordVerdict::unavailable("no RADIUS answer: " + exchange.error);
  PasswordVerdict v = verdict_of(*exchange.answer);
  v.reason = exchange.server + (v.reason.empty() ? "" : " " + v.reason);
  return v;
}

}  // namespace postern::auth
