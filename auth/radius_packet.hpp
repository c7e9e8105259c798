// RADIUS packets (sans-I/O): the Access-Request postern sends (PAP, RFC 2865 5.2 password
// hiding, Message-Authenticator RFC 3579 3.2 as the first attribute as the Blast-RADIUS
// advisory (CVE-2024-3596) asks), Accounting-Request (RFC 2866 3), and the checks on answers:
// the Response Authenticator (RFC 2865 3) and, on Access-* answers, a Message-Authenticator that
// must be present and right. Nothing here opens a socket or reads the clock; the request
// authenticator comes from the caller's random source.
// Why not radcli: Debian 12's radcli 1.2.11 adds Message-Authenticator only to EAP requests and
// never checks one on answers, so a PAP exchange through it is open to Blast-RADIUS forgery.
#pragma once

#include "common/secret.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth::radius {

enum class Code : std::uint8_t {
  access_request = 1,
  access_accept = 2,
  access_reject = 3,
  accounting_request = 4,
  accounting_response = 5,
  access_challenge = 11,
};
std::string_view to_string(Code code);

// Attribute types (RFC 2865 5, RFC 2866 5, RFC 2869 5).
namespace attr {
constexpr std::uint8_t user_name = 1, user_password = 2, nas_ip_address = 4, service_type = 6,
                       framed_protocol = 7, framed_ip_address = 8, reply_message = 18, class_ = 25,
                       calling_station_id = 31, nas_identifier = 32, acct_status_type = 40,
                       acct_delay_time = 41, acct_input_octets = 42, acct_output_octets = 43,
                       acct_session_id = 44, acct_authentic = 45, acct_session_time = 46,
                       acct_input_packets = 47, acct_output_packets = 48, acct_terminate_cause = 49,
                       acct_multi_session_id = 50,
                       acct_input_gigawords = 52, acct_output_gigawords = 53, event_timestamp = 55,
                       nas_port_type = 61, message_authenticator = 80;
}  // namespace attr

// Values of a few integer attributes.
constexpr std::uint32_t kServiceFramed = 2, kServiceAuthenticateOnly = 8;  // Service-Type
constexpr std::uint32_t kFramedProtocolPpp = 1;                            // Framed-Protocol
constexpr std::uint32_t kNasPortVirtual = 5;                               // NAS-Port-Type
// Acct-Status-Type (RFC 2866 5.1): a session's Start/Stop/Interim-Update, and the NAS's own
// Accounting-On (it started: close every session it had open) and Accounting-Off (it stops).
enum class AcctStatus : std::uint32_t { start = 1, stop = 2, interim_update = 3, accounting_on = 7, accounting_off = 8 };
// Acct-Terminate-Cause (RFC 2866 5.10).
enum class TerminateCause : std::uint32_t {
  user_request = 1, lost_carrier = 2, idle_timeout = 4, admin_reset = 6, admin_reboot = 7, nas_request = 10,
};

constexpr std::size_t kHeaderSize = 20;
constexpr std::size_t kMaxPacket = 4096;  // RFC 2865 3
constexpr std::size_t kMaxPassword = 128;  // RFC 2865 5.2

using Authenticator = std::array<std::uint8_t, 16>;

struct Attribute {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> value;  // 0..253 bytes
  bool operator==(const Attribute&) const = default;
};
Attribute string_attribute(std::uint8_t type, std::string_view value);  // truncated to 253
Attribute integer_attribute(std::uint8_t type, std::uint32_t value);
Attribute ipv4_attribute(std::uint8_t type, std::uint32_t address);     // host byte order

struct Packet {
  Code code = Code::access_request;
  std::uint8_t id = 0;
  Authenticator authenticator{};
  std::vector<Attribute> attributes;

  const Attribute* find(std::uint8_t type) const;
  std::optional<std::string> text(std::uint8_t type) const;      // all of them joined by " "
  std::optional<std::uint32_t> integer(std::uint8_t type) const;  // exactly 4 bytes
};

// RFC 2865 5.2: the password padded to a multiple of 16 and XORed with MD5(secret + RA) chains.
std::vector<std::uint8_t> hide_password(const SecretBytes& password, const SecretBytes& secret,
                                        const Authenticator& request_authenticator);
SecretBytes unhide_password(std::span<const std::uint8_t> hidden, const SecretBytes& secret,
                            const Authenticator& request_authenticator);

// Access-Request: Message-Authenticator (first), User-Name, User-Password, then `extra`.
// Returns empty when it would not fit (password over 128 bytes, packet over 4096).
std::vector<std::uint8_t> encode_access_request(std::uint8_t id, const Authenticator& request_authenticator,
                                                const SecretBytes& secret, std::string_view user,
                                                const SecretBytes& password, const std::vector<Attribute>& extra);
// Accounting-Request with its Request Authenticator MD5(packet with 16 zero bytes + secret).
std::vector<std::uint8_t> encode_accounting_request(std::uint8_t id, const SecretBytes& secret,
                                                    const std::vector<Attribute>& attributes);
// A server's answer (for tests and fakes): Message-Authenticator first when `message_authenticator`.
std::vector<std::uint8_t> encode_response(Code code, std::uint8_t id, const Authenticator& request_authenticator,
                                          const SecretBytes& secret, const std::vector<Attribute>& attributes,
                                          bool message_authenticator);

// Structure only: header, length, attribute framing. nullopt when malformed.
std::optional<Packet> decode_packet(std::span<const std::uint8_t> bytes);

enum class ResponseError {
  none,
  malformed,                      // not a RADIUS packet
  wrong_id,                       // answers another request (stale retransmission): keep waiting
  unexpected_code,                // e.g. an Accounting-Response to an Access-Request
  bad_authenticator,              // Response Authenticator wrong: forged or another secret
  missing_message_authenticator,  // Access-* answer without one (Blast-RADIUS): refused
  bad_message_authenticator,
};
std::string_view to_string(ResponseError error);

struct CheckedResponse {
  std::optional<Packet> packet;  // set iff error == none
  ResponseError error = ResponseError::none;
};
// Checks an answer to the request (`request_code`, `id`, `request_authenticator`). An Access-*
// answer without a Message-Authenticator is missing_message_authenticator unless
// `require_message_authenticator` is false; one that is present is always checked.
CheckedResponse check_response(std::span<const std::uint8_t> bytes, Code request_code, std::uint8_t id,
                               const Authenticator& request_authenticator, const SecretBytes& secret,
                               bool require_message_authenticator = true);

}  // namespace postern::auth::radius
