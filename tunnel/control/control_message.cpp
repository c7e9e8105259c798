// Encoders and decoders for control messages (see control_message.hpp for the layout and
// docs/control-channel.md for the tables). Decoders only check structure: lengths, duplicates,
// mandatory attributes, value ranges a type cannot hold. Meaning (is this MTU acceptable?) is the
// negotiators' business.
#include "tunnel/control/control_message.hpp"

#include <openssl/crypto.h>

#include <array>
#include <bitset>

namespace postern::tunnel::control {

void Frame::wipe() {
  if (type == MessageType::hello && !body.empty()) OPENSSL_cleanse(body.data(), body.size());
}

Frame& Frame::operator=(const Frame& other) {
  if (this != &other) {
    wipe();
    type = other.type;
    body = other.body;
  }
  return *this;
}

Frame& Frame::operator=(Frame&& other) noexcept {
  if (this != &other) {
    wipe();
    type = other.type;
    body = std::move(other.body);
  }
  return *this;
}
namespace {

constexpr std::size_t kMaxUser = 255;
constexpr std::size_t kMaxPassword = 1024;
constexpr std::size_t kMaxReason = 1024;

class Writer {
 public:
  explicit Writer(MessageType type) : out_{static_cast<std::uint8_t>(type), 0, 0} {}

  void attr(std::uint8_t type, std::span<const std::uint8_t> value) {
    out_.push_back(type);
    put_be(value.size(), 2);
    out_.insert(out_.end(), value.begin(), value.end());
  }
  void number(Attr a, std::uint64_t v, int octets) {
    out_.push_back(static_cast<std::uint8_t>(a));
    put_be(static_cast<std::uint64_t>(octets), 2);
    put_be(v, octets);
  }
  void text(Attr a, std::string_view s) {
    attr(static_cast<std::uint8_t>(a), {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  }
  // IPv4 attributes: 4 octets, network order (an IPv6 value here is a caller bug; it reads 0).
  void ipv4(Attr a, const IpAddress& v) { number(a, v.to_v4_uint(), 4); }
  void cidr(Attr a, const IpPrefix& c) {
    out_.push_back(static_cast<std::uint8_t>(a));
    put_be(5, 2);
    put_be(c.address.to_v4_uint(), 4);
    out_.push_back(c.prefix_len);
  }
  // IPv6 attributes: 16 octets (an IPv4 value here is a caller bug; it reads as ::a.b.c.d).
  void ipv6(Attr a, const IpAddress& v) {
    out_.push_back(static_cast<std::uint8_t>(a));
    put_be(16, 2);
    put_v6(v);
  }
  void cidr6(Attr a, const IpPrefix& c) {
    out_.push_back(static_cast<std::uint8_t>(a));
    put_be(17, 2);
    put_v6(c.address);
    out_.push_back(c.prefix_len);
  }
  std::vector<std::uint8_t> finish() {
    std::size_t body = out_.size() - kHeaderSize;
    out_[1] = static_cast<std::uint8_t>(body >> 8);
    out_[2] = static_cast<std::uint8_t>(body);
    return std::move(out_);
  }

 private:
  void put_v6(const IpAddress& v) {
    const auto b = v.bytes();
    for (std::size_t i = 0; i < 16; ++i) out_.push_back(i + b.size() >= 16 ? b[i + b.size() - 16] : 0);
  }
  void put_be(std::uint64_t v, int octets) {
    for (int i = octets - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

std::uint64_t get_be(std::span<const std::uint8_t> v) {
  std::uint64_t r = 0;
  for (auto b : v) r = (r << 8) | b;
  return r;
}

std::string as_string(std::span<const std::uint8_t> v) { return {v.begin(), v.end()}; }

// Walks the TLVs of a body, calling f(type, value) -> error_code; stops at the first error.
template <typename F>
std::error_code for_each_attr(std::span<const std::uint8_t> body, F&& f) {
  while (!body.empty()) {
    if (body.size() < 3) return errc::truncated;
    std::size_t len = (std::size_t{body[1]} << 8) | body[2];
    if (body.size() - 3 < len) return errc::truncated;
    if (auto ec = f(body[0], body.subspan(3, len))) return ec;
    body = body.subspan(3 + len);
  }
  return {};
}

// Tracks non-repeatable attributes already seen in one message.
class Seen {
 public:
  bool first(std::uint8_t type) {
    if (seen_.test(type)) return false;
    seen_.set(type);
    return true;
  }
  bool has(Attr a) const { return seen_.test(static_cast<std::uint8_t>(a)); }

 private:
  std::bitset<256> seen_;
};

// Common check for a fixed-size, non-repeatable attribute.
std::error_code check_fixed(Seen& seen, std::uint8_t type, std::span<const std::uint8_t> v, std::size_t len) {
  if (v.size() != len) return errc::bad_attribute_length;
  if (!seen.first(type)) return errc::duplicate_attribute;
  return {};
}

std::error_code take_cidr(std::span<const std::uint8_t> v, std::vector<IpPrefix>& out) {
  if (v.size() != 5) return errc::bad_attribute_length;
  IpPrefix c{IpAddress::from_v4_uint(static_cast<std::uint32_t>(get_be(v.first(4)))), v[4]};
  if (c.prefix_len > 32 || c.has_host_bits()) return errc::bad_value;
  if (out.size() >= kMaxRepeated) return errc::bad_value;
  out.push_back(c);
  return {};
}

IpAddress v6_of(std::span<const std::uint8_t> v) {
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < 16; ++i) b[i] = v[i];
  return IpAddress::v6(b);
}

std::error_code take_cidr6(std::span<const std::uint8_t> v, std::vector<IpPrefix>& out) {
  if (v.size() != 17) return errc::bad_attribute_length;
  IpPrefix c{v6_of(v.first(16)), v[16]};
  if (c.prefix_len > 128 || c.has_host_bits()) return errc::bad_value;
  if (out.size() >= kMaxRepeated) return errc::bad_value;
  out.push_back(c);
  return {};
}

// A DNS server must be a unicast address someone can answer from.
std::error_code take_dns6(std::span<const std::uint8_t> v, std::vector<IpAddress>& out) {
  if (v.size() != 16) return errc::bad_attribute_length;
  const IpAddress a = v6_of(v);
  if (a.is_unspecified() || v[0] == 0xff) return errc::bad_value;
  if (out.size() >= kMaxRepeated) return errc::bad_value;
  out.push_back(a);
  return {};
}

// "name" or "~name": a DNS name (common/dns_name.hpp), stored lower case.
std::error_code take_domain(std::span<const std::uint8_t> v, std::vector<dns::Domain>& out) {
  if (v.empty() || v.size() > dns::kMaxNameLength + 1) return errc::bad_attribute_length;
  auto d = dns::parse_domain(as_string(v));
  if (!d) return errc::bad_value;
  if (out.size() >= kMaxDomains) return errc::bad_value;
  out.push_back(std::move(*d));
  return {};
}

}  // namespace

bool valid_accounting_session(std::string_view id) {
  if (id.empty() || id.size() > kMaxAccountingSession) return false;
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view to_string(MessageType t) {
  switch (t) {
    case MessageType::hello: return "HELLO";
    case MessageType::auth_ok: return "AUTH_OK";
    case MessageType::auth_fail: return "AUTH_FAIL";
    case MessageType::lcp_configure_request: return "LCP_CONFIGURE_REQUEST";
    case MessageType::lcp_configure_ack: return "LCP_CONFIGURE_ACK";
    case MessageType::lcp_configure_nak: return "LCP_CONFIGURE_NAK";
    case MessageType::lcp_configure_reject: return "LCP_CONFIGURE_REJECT";
    case MessageType::ipcp_configure_request: return "IPCP_CONFIGURE_REQUEST";
    case MessageType::ipcp_configure_ack: return "IPCP_CONFIGURE_ACK";
    case MessageType::ipcp_configure_nak: return "IPCP_CONFIGURE_NAK";
    case MessageType::ipcp_configure_reject: return "IPCP_CONFIGURE_REJECT";
    case MessageType::data_channel: return "DATA_CHANNEL";
    case MessageType::echo_request: return "ECHO_REQUEST";
    case MessageType::echo_reply: return "ECHO_REPLY";
    case MessageType::data: return "DATA";
    case MessageType::terminate: return "TERMINATE";
  }
  return "UNKNOWN";
}

std::optional<MessageType> message_type_from_wire(std::uint8_t v) {
  if (v < static_cast<std::uint8_t>(MessageType::hello) || v > static_cast<std::uint8_t>(MessageType::terminate)) {
    return std::nullopt;
  }
  return static_cast<MessageType>(v);
}

std::vector<std::uint8_t> encode_hello(const Hello& m) {
  Writer w(MessageType::hello);
  w.number(Attr::version, m.version, 2);
  w.number(Attr::session_id, m.session_id & kMaxSessionId, 3);
  if (m.user) w.text(Attr::user, std::string_view(*m.user).substr(0, kMaxUser));
  if (!m.password.empty()) {
    auto pw = m.password.span();
    w.attr(static_cast<std::uint8_t>(Attr::password), pw.first(std::min(pw.size(), kMaxPassword)));
  }
  for (std::size_t i = 0; i < m.ciphers.size() && i < kMaxRepeated; ++i) w.number(Attr::cipher, m.ciphers[i], 1);
  if (m.previous_address) w.ipv4(Attr::previous_address, *m.previous_address);
  return w.finish();
}

std::error_code decode_hello(std::span<const std::uint8_t> body, Hello& out) {
  Seen seen;
  Hello m;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    switch (static_cast<Attr>(type)) {
      case Attr::version:
        if (auto e = check_fixed(seen, type, v, 2)) return e;
        m.version = static_cast<std::uint16_t>(get_be(v));
        return {};
      case Attr::session_id:
        if (auto e = check_fixed(seen, type, v, 3)) return e;
        m.session_id = static_cast<std::uint32_t>(get_be(v));
        return {};
      case Attr::user:
        if (v.empty() || v.size() > kMaxUser) return errc::bad_attribute_length;
        if (!seen.first(type)) return errc::duplicate_attribute;
        m.user = as_string(v);
        return {};
      case Attr::password:
        if (v.empty() || v.size() > kMaxPassword) return errc::bad_attribute_length;
        if (!seen.first(type)) return errc::duplicate_attribute;
        m.password = SecretBytes(v);
        return {};
      case Attr::cipher:
        if (v.size() != 1) return errc::bad_attribute_length;
        if (m.ciphers.size() >= kMaxRepeated) return errc::bad_value;
        m.ciphers.push_back(v[0]);
        return {};
      case Attr::previous_address:
        if (auto e = check_fixed(seen, type, v, 4)) return e;
        m.previous_address = IpAddress::from_v4_uint(static_cast<std::uint32_t>(get_be(v)));
        return {};
      default:
        return {};  // unknown in HELLO: skipped for forward compatibility
    }
  });
  if (ec) return ec;
  if (!seen.has(Attr::version) || !seen.has(Attr::session_id)) return errc::missing_attribute;
  out = std::move(m);
  return {};
}

std::vector<std::uint8_t> encode_auth_ok() { return Writer(MessageType::auth_ok).finish(); }

std::vector<std::uint8_t> encode_auth_fail(std::string_view reason) {
  Writer w(MessageType::auth_fail);
  w.text(Attr::reason, reason.substr(0, kMaxReason));
  return w.finish();
}

std::vector<std::uint8_t> encode_terminate(std::string_view reason) {
  Writer w(MessageType::terminate);
  w.text(Attr::reason, reason.substr(0, kMaxReason));
  return w.finish();
}

std::error_code decode_reason(std::span<const std::uint8_t> body, std::string& reason) {
  Seen seen;
  std::string r;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    if (static_cast<Attr>(type) != Attr::reason) return {};
    if (v.size() > kMaxReason) return errc::bad_attribute_length;
    if (!seen.first(type)) return errc::duplicate_attribute;
    r = as_string(v);
    return {};
  });
  if (ec) return ec;
  reason = std::move(r);
  return {};
}

std::vector<std::uint8_t> encode_lcp(MessageType type, const LcpOptions& o) {
  Writer w(type);
  if (o.mtu) w.number(Attr::mtu, *o.mtu, 2);
  if (o.keepalive_seconds) w.number(Attr::keepalive, *o.keepalive_seconds, 2);
  if (o.dead_peer_seconds) w.number(Attr::dead_peer, *o.dead_peer_seconds, 2);
  for (const auto& a : o.unknown) w.attr(a.type, a.value);
  return w.finish();
}

std::error_code decode_lcp(std::span<const std::uint8_t> body, LcpOptions& out) {
  Seen seen;
  LcpOptions o;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    std::optional<std::uint16_t>* field = nullptr;
    switch (static_cast<Attr>(type)) {
      case Attr::mtu: field = &o.mtu; break;
      case Attr::keepalive: field = &o.keepalive_seconds; break;
      case Attr::dead_peer: field = &o.dead_peer_seconds; break;
      default:
        if (o.unknown.size() >= kMaxRepeated) return errc::bad_value;
        o.unknown.push_back({type, {v.begin(), v.end()}});
        return {};
    }
    if (auto e = check_fixed(seen, type, v, 2)) return e;
    *field = static_cast<std::uint16_t>(get_be(v));
    return {};
  });
  if (ec) return ec;
  out = std::move(o);
  return {};
}

std::vector<std::uint8_t> encode_ipcp(MessageType type, const IpcpOptions& o) {
  Writer w(type);
  if (o.address) w.ipv4(Attr::address, *o.address);
  if (o.prefix_len) w.number(Attr::prefix_len, *o.prefix_len, 1);
  if (o.server_address) w.ipv4(Attr::server_address, *o.server_address);
  if (o.address6) w.ipv6(Attr::address6, *o.address6);
  if (o.prefix6_len) w.number(Attr::prefix6_len, *o.prefix6_len, 1);
  if (o.server_address6) w.ipv6(Attr::server_address6, *o.server_address6);
  for (std::size_t i = 0; i < o.dns.size() && i < kMaxRepeated; ++i) {
    if (o.dns[i].is_v6()) {
      w.ipv6(Attr::dns6, o.dns[i]);
    } else {
      w.ipv4(Attr::dns, o.dns[i]);
    }
  }
  for (std::size_t i = 0; i < o.routes.size() && i < kMaxRepeated; ++i) {
    if (o.routes[i].address.is_v6()) {
      w.cidr6(Attr::route6, o.routes[i]);
    } else {
      w.cidr(Attr::route, o.routes[i]);
    }
  }
  for (std::size_t i = 0; i < o.domains.size() && i < kMaxDomains; ++i) w.text(Attr::domain, o.domains[i].to_string());
  if (o.accounting_session) w.text(Attr::accounting_session, *o.accounting_session);
  for (const auto& a : o.unknown) w.attr(a.type, a.value);
  return w.finish();
}

std::error_code decode_ipcp(std::span<const std::uint8_t> body, IpcpOptions& out) {
  Seen seen;
  IpcpOptions o;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    switch (static_cast<Attr>(type)) {
      case Attr::address:
      case Attr::server_address: {
        if (auto e = check_fixed(seen, type, v, 4)) return e;
        const IpAddress a = IpAddress::from_v4_uint(static_cast<std::uint32_t>(get_be(v)));
        (static_cast<Attr>(type) == Attr::address ? o.address : o.server_address) = a;
        return {};
      }
      case Attr::prefix_len:
        if (auto e = check_fixed(seen, type, v, 1)) return e;
        if (v[0] > 32) return errc::bad_value;
        o.prefix_len = v[0];
        return {};
      case Attr::dns:
        if (v.size() != 4) return errc::bad_attribute_length;
        if (o.dns.size() >= kMaxRepeated) return errc::bad_value;
        o.dns.push_back(IpAddress::from_v4_uint(static_cast<std::uint32_t>(get_be(v))));
        return {};
      case Attr::route:
        return take_cidr(v, o.routes);
      case Attr::address6:
      case Attr::server_address6:
        if (auto e = check_fixed(seen, type, v, 16)) return e;
        (static_cast<Attr>(type) == Attr::address6 ? o.address6 : o.server_address6) = v6_of(v);
        return {};
      case Attr::prefix6_len:
        if (auto e = check_fixed(seen, type, v, 1)) return e;
        if (v[0] > 128) return errc::bad_value;
        o.prefix6_len = v[0];
        return {};
      case Attr::dns6:
        return take_dns6(v, o.dns);
      case Attr::route6:
        return take_cidr6(v, o.routes);
      case Attr::domain:
        return take_domain(v, o.domains);
      case Attr::accounting_session: {
        if (o.accounting_session) return errc::duplicate_attribute;
        std::string id(v.begin(), v.end());
        if (!valid_accounting_session(id)) return errc::bad_value;
        o.accounting_session = std::move(id);
        return {};
      }
      default:
        if (o.unknown.size() >= kMaxRepeated) return errc::bad_value;
        o.unknown.push_back({type, {v.begin(), v.end()}});
        return {};
    }
  });
  if (ec) return ec;
  out = std::move(o);
  return {};
}

bool IpcpOptions::has_ipv6() const {
  if (address6 || prefix6_len || server_address6) return true;
  for (const auto& a : dns) {
    if (a.is_v6()) return true;
  }
  for (const auto& r : routes) {
    if (r.address.is_v6()) return true;
  }
  return false;
}

IpcpOptions IpcpOptions::without_ipv6() const {
  IpcpOptions o = *this;
  o.address6.reset();
  o.prefix6_len.reset();
  o.server_address6.reset();
  std::erase_if(o.dns, [](const IpAddress& a) { return a.is_v6(); });
  std::erase_if(o.routes, [](const IpPrefix& r) { return r.address.is_v6(); });
  return o;
}

std::vector<std::uint8_t> encode_data_channel(const DataChannel& m) {
  Writer w(MessageType::data_channel);
  w.number(Attr::session_id, m.session_id & kMaxSessionId, 3);
  w.number(Attr::data_port, m.data_port, 2);
  w.number(Attr::cipher, m.cipher, 1);
  w.number(Attr::rekey_seconds, m.rekey_seconds, 4);
  w.number(Attr::rekey_packets, m.rekey_packets, 8);
  return w.finish();
}

std::error_code decode_data_channel(std::span<const std::uint8_t> body, DataChannel& out) {
  Seen seen;
  DataChannel m;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    switch (static_cast<Attr>(type)) {
      case Attr::session_id:
        if (auto e = check_fixed(seen, type, v, 3)) return e;
        m.session_id = static_cast<std::uint32_t>(get_be(v));
        return {};
      case Attr::data_port:
        if (auto e = check_fixed(seen, type, v, 2)) return e;
        m.data_port = static_cast<std::uint16_t>(get_be(v));
        return {};
      case Attr::cipher:
        if (auto e = check_fixed(seen, type, v, 1)) return e;
        m.cipher = v[0];
        return {};
      case Attr::rekey_seconds:
        if (auto e = check_fixed(seen, type, v, 4)) return e;
        m.rekey_seconds = static_cast<std::uint32_t>(get_be(v));
        return {};
      case Attr::rekey_packets:
        if (auto e = check_fixed(seen, type, v, 8)) return e;
        m.rekey_packets = get_be(v);
        return {};
      default:
        return {};
    }
  });
  if (ec) return ec;
  if (!seen.has(Attr::session_id) || !seen.has(Attr::data_port) || !seen.has(Attr::cipher)) {
    return errc::missing_attribute;
  }
  out = m;
  return {};
}

std::vector<std::uint8_t> encode_echo(MessageType type, const Echo& m) {
  Writer w(type);
  w.number(Attr::echo_id, m.id, 4);
  w.number(Attr::magic, m.magic, 4);
  return w.finish();
}

std::error_code decode_echo(std::span<const std::uint8_t> body, Echo& out) {
  Seen seen;
  Echo m;
  auto ec = for_each_attr(body, [&](std::uint8_t type, std::span<const std::uint8_t> v) -> std::error_code {
    auto a = static_cast<Attr>(type);
    if (a != Attr::echo_id && a != Attr::magic) return {};
    if (auto e = check_fixed(seen, type, v, 4)) return e;
    (a == Attr::echo_id ? m.id : m.magic) = static_cast<std::uint32_t>(get_be(v));
    return {};
  });
  if (ec) return ec;
  if (!seen.has(Attr::echo_id) || !seen.has(Attr::magic)) return errc::missing_attribute;
  out = m;
  return {};
}

std::vector<std::uint8_t> encode_data(std::span<const std::uint8_t> frame) {
  if (frame.size() > kMaxBody) return {};
  std::vector<std::uint8_t> out;
  out.reserve(kHeaderSize + frame.size());
  out.push_back(static_cast<std::uint8_t>(MessageType::data));
  out.push_back(static_cast<std::uint8_t>(frame.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(frame.size()));
  out.insert(out.end(), frame.begin(), frame.end());
  return out;
}

}  // namespace postern::tunnel::control
