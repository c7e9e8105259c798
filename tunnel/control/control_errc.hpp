// Typed errors of the control channel core (postern::tunnel::control). Every value documents
// what the daemon must do when a negotiator reports it in Closed{reason, error}; in every case
// the daemon first sends the pending SendBytes (a TERMINATE or AUTH_FAIL is usually among them),
// then closes the TLS connection with close_notify, then tears the session down.
#pragma once

#include <string_view>
#include <system_error>

namespace postern::tunnel::control {

enum class errc {
  // Framing / codec (the peer sent garbage: close; do not retry on the same stream).
  truncated = 1,            // message or attribute shorter than its declared length
  oversized_message,        // body longer than kMaxBody (16 KiB)
  unknown_message_type,     // type octet not in MessageType
  bad_attribute_length,     // a known attribute with the wrong value length
  missing_attribute,        // a mandatory attribute is absent
  duplicate_attribute,      // a non-repeatable attribute appears twice
  bad_value,                // value out of range (24-bit id > 0xffffff, prefix > 32, ...)
  // Negotiation (close; the reason text is already in the TERMINATE we sent).
  unsupported_version,      // HELLO version is not kProtocolVersion
  unexpected_message,       // valid message in the wrong state
  auth_failed,              // policy or password refused (daemon: count it for throttling)
  auth_unavailable,         // the password could not be checked now (directory down): client retries
  address_unavailable,      // the directory's Framed-IP-Address is outside the pool or held by
                            // another identity (server: warn the operator; client: retry later)
  no_common_cipher,         // no cipher in both preference lists
  pool_exhausted,           // no free tunnel address (daemon: warn the operator)
  negotiation_failed,       // too many NAK/REJECT rounds or an unacceptable NAK
  negotiation_timeout,      // not Established within the negotiation deadline
  // Liveness and termination.
  peer_dead,                // nothing heard for the dead-peer time (daemon: may reconnect)
  terminated_by_peer,       // peer sent TERMINATE (its reason is in Closed::reason)
};

std::string_view to_string(errc e);
const std::error_category& control_category();
std::error_code make_error_code(errc e);

}  // namespace postern::tunnel::control

template <>
struct std::is_error_code_enum<postern::tunnel::control::errc> : std::true_type {};
