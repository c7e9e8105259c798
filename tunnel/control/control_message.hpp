// Wire format of the control channel (inside TLS). Every message is
//   type u8 | length u16 BE | body[length]          (length <= kMaxBody = 16 KiB)
// and every body except DATA's is a sequence of TLV attributes
//   attr u8 | len u16 BE | value[len]
// DATA's body is the opaque data-channel frame itself (no TLV), to avoid a copy on the fallback
// path. The full table is in docs/control-channel.md.
// encode_* returns a complete framed message; decode_* takes a body (the Frame the
// ControlReader produced) and returns an errc on malformed input, never throws or asserts.
// Unknown attributes: in LCP/IPCP option messages they are kept in `unknown` so the server can
// Configure-Reject them (RFC 1661 5.4); in the other messages they are skipped (forward
// compatibility). A known attribute with a wrong length is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/dns_name.hpp"
#include "common/secret.hpp"
#include "tunnel/control/control_errc.hpp"
#include "common/ip_address.hpp"
#include "tunnel/control/tunnel_parameters.hpp"

namespace postern::tunnel::control {

constexpr std::uint16_t kProtocolVersion = 1;
constexpr std::size_t kHeaderSize = 3;
constexpr std::size_t kMaxBody = 16 * 1024;
constexpr std::uint16_t kMinMtu = 576;  // RFC 791: every host must accept 576-octet datagrams
constexpr std::uint16_t kMinIpv6Mtu = 1280;  // RFC 8200 5: the IPv6 minimum link MTU
constexpr std::size_t kMaxRepeated = 64;  // DNS servers / routes / ciphers per message
// DNS domains per IPCP message: each is up to 254 octets ("~" + 253), so 16 of them (4 KiB
// framed) leave the message far below kMaxBody beside 64 routes and servers.
constexpr std::size_t kMaxDomains = dns::kMaxPushedDomains;
constexpr std::size_t kMaxAccountingSession = 64;  // octets of the accounting_session attribute
// 1..kMaxAccountingSession octets, each of [0-9A-Za-z._-] (it goes into RADIUS and the logs).
bool valid_accounting_session(std::string_view id);

enum class MessageType : std::uint8_t {
  hello = 1,
  auth_ok = 2,
  auth_fail = 3,
  lcp_configure_request = 4,
  lcp_configure_ack = 5,
  lcp_configure_nak = 6,
  lcp_configure_reject = 7,
  ipcp_configure_request = 8,
  ipcp_configure_ack = 9,
  ipcp_configure_nak = 10,
  ipcp_configure_reject = 11,
  data_channel = 12,
  echo_request = 13,
  echo_reply = 14,
  data = 15,
  terminate = 16,
};
std::string_view to_string(MessageType t);
std::optional<MessageType> message_type_from_wire(std::uint8_t v);

// One attribute numbering for all messages; values are big-endian.
enum class Attr : std::uint8_t {
  version = 1,           // u16                         HELLO
  session_id = 2,        // u24 (3 octets)              HELLO (client rx id), DATA_CHANNEL (server rx id)
  user = 3,              // UTF-8, 1..255               HELLO
  password = 4,          // octets, 1..1024             HELLO
  cipher = 5,            // u8, repeatable (preference)  HELLO; exactly one in DATA_CHANNEL
  previous_address = 6,  // 4 octets                    HELLO
  reason = 7,            // UTF-8                       AUTH_FAIL, TERMINATE
  mtu = 16,              // u16                         LCP
  keepalive = 17,        // u16 seconds                 LCP
  dead_peer = 18,        // u16 seconds                 LCP
  address = 32,          // 4 octets                    IPCP
  prefix_len = 33,       // u8 (0..32)                  IPCP
  server_address = 34,   // 4 octets                    IPCP
  dns = 35,              // 4 octets, repeatable        IPCP
  route = 36,            // 4 octets + u8 prefix, repeatable  IPCP
  domain = 37,           // text, 1..254, repeatable (<= kMaxDomains): "name" or "~name"  IPCP
  accounting_session = 38,  // text, 1..64 of [0-9A-Za-z._-]   IPCP request (client -> server)
  // IPv6 inside the tunnel (IPV6CP-like, carried in the IPCP exchange): a client asks for it by
  // sending address6 (:: or its previous address); a server without pool6, or one older than
  // these attributes, rejects it and the session is IPv4 only.
  address6 = 39,         // 16 octets                   IPCP
  prefix6_len = 40,      // u8 (0..128)                 IPCP
  server_address6 = 41,  // 16 octets                   IPCP
  dns6 = 42,             // 16 octets, repeatable (not :: nor multicast)   IPCP
  route6 = 43,           // 16 octets + u8 prefix, repeatable  IPCP
  data_port = 48,        // u16                         DATA_CHANNEL
  rekey_seconds = 49,    // u32                         DATA_CHANNEL
  rekey_packets = 50,    // u64                         DATA_CHANNEL
  echo_id = 64,          // u32                         ECHO_*
  magic = 65,            // u32                         ECHO_*
};

// An attribute we did not understand, kept verbatim for a Configure-Reject.
struct RawAttribute {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> value;
  friend bool operator==(const RawAttribute&, const RawAttribute&) = default;
};

// A HELLO's body holds the password: it is wiped when the frame goes (or is overwritten), so
// the only copy that outlives decoding is the SecretBytes in Hello.
struct Frame {
  MessageType type = MessageType::hello;
  std::vector<std::uint8_t> body;

  Frame() = default;
  Frame(MessageType t, std::vector<std::uint8_t> b) : type(t), body(std::move(b)) {}
  Frame(const Frame&) = default;
  Frame(Frame&& other) noexcept = default;
  Frame& operator=(const Frame& other);
  Frame& operator=(Frame&& other) noexcept;
  ~Frame() { wipe(); }
  void wipe();  // a HELLO's body: cleansed; other types are not secret
};

struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::uint32_t session_id = 0;          // mandatory
  std::optional<std::string> user;
  SecretBytes password;                  // empty = not sent
  std::vector<std::uint8_t> ciphers;     // wire values in preference order, unknown ones kept
  std::optional<IpAddress> previous_address;
};

// LCP-like options (Configure-Request/Ack/Nak/Reject share this shape).
struct LcpOptions {
  std::optional<std::uint16_t> mtu;
  std::optional<std::uint16_t> keepalive_seconds;
  std::optional<std::uint16_t> dead_peer_seconds;
  std::vector<RawAttribute> unknown;
  friend bool operator==(const LcpOptions&, const LcpOptions&) = default;
};

// IPCP-like options.
struct IpcpOptions {
  std::optional<IpAddress> address;
  std::optional<std::uint8_t> prefix_len;
  std::optional<IpAddress> server_address;
  // IPv6 (attributes 39-41); the DNS servers and routes of both families share the two lists
  // below (IPv4 ones travel as dns/route, IPv6 ones as dns6/route6, in list order), at most
  // kMaxRepeated each in total.
  std::optional<IpAddress> address6;
  std::optional<std::uint8_t> prefix6_len;
  std::optional<IpAddress> server_address6;
  std::vector<IpAddress> dns;
  std::vector<IpPrefix> routes;
  std::vector<dns::Domain> domains;  // search ("name") and routing-only ("~name") DNS domains
  // The client's accounting session id, kept across its reconnects and servers (RADIUS
  // Acct-Multi-Session-Id, docs/directory-auth.md). Sent by the client only; echoed in the ACK.
  std::optional<std::string> accounting_session;
  std::vector<RawAttribute> unknown;
  friend bool operator==(const IpcpOptions&, const IpcpOptions&) = default;
  // Any of the IPv6 attributes (address6, prefix6_len, server_address6, an IPv6 server or route).
  bool has_ipv6() const;
  // The same options without any IPv6 attribute.
  IpcpOptions without_ipv6() const;
};

struct DataChannel {
  std::uint32_t session_id = 0;
  std::uint16_t data_port = 0;
  std::uint8_t cipher = 0;  // wire value; the client checks it was in its list
  std::uint32_t rekey_seconds = 0;
  std::uint64_t rekey_packets = 0;
  friend bool operator==(const DataChannel&, const DataChannel&) = default;
};

struct Echo {
  std::uint32_t id = 0;
  std::uint32_t magic = 0;
  friend bool operator==(const Echo&, const Echo&) = default;
};

std::vector<std::uint8_t> encode_hello(const Hello& m);
std::error_code decode_hello(std::span<const std::uint8_t> body, Hello& out);

std::vector<std::uint8_t> encode_auth_ok();
// AUTH_FAIL and TERMINATE carry one optional reason text.
std::vector<std::uint8_t> encode_auth_fail(std::string_view reason);
// The AUTH_FAIL reasons the server sends: every refusal says kAuthFailText, except that the
// password could not be checked at all (the directory is down), which says kAuthUnavailableText
// so the client retries with backoff instead of giving up (docs/control-channel.md).
inline constexpr std::string_view kAuthFailText = "authentication failed";
inline constexpr std::string_view kAuthUnavailableText = "authentication temporarily unavailable";
std::vector<std::uint8_t> encode_terminate(std::string_view reason);
std::error_code decode_reason(std::span<const std::uint8_t> body, std::string& reason);

// type must be one of the four lcp_configure_* types.
std::vector<std::uint8_t> encode_lcp(MessageType type, const LcpOptions& o);
std::error_code decode_lcp(std::span<const std::uint8_t> body, LcpOptions& out);

// type must be one of the four ipcp_configure_* types.
std::vector<std::uint8_t> encode_ipcp(MessageType type, const IpcpOptions& o);
std::error_code decode_ipcp(std::span<const std::uint8_t> body, IpcpOptions& out);

std::vector<std::uint8_t> encode_data_channel(const DataChannel& m);
std::error_code decode_data_channel(std::span<const std::uint8_t> body, DataChannel& out);

// type must be echo_request or echo_reply.
std::vector<std::uint8_t> encode_echo(MessageType type, const Echo& m);
std::error_code decode_echo(std::span<const std::uint8_t> body, Echo& out);

// DATA: body = frame. Frames longer than kMaxBody cannot be carried: returns empty.
std::vector<std::uint8_t> encode_data(std::span<const std::uint8_t> frame);

}  // namespace postern::tunnel::control
