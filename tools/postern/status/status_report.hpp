// What `postern status` shows: a plain snapshot of a running daemon (role, uptime, certificate and
// CRL expiry, a client's site servers, tunnel sessions, data-plane drop counters, tunnel control refusals, SMTP counters) and its two renderings, JSON for scripts
// and aligned text for people. The JSON schema is documented in docs/commands-status.md and
// versioned by "schema": fields are only ever added; a rename or removal bumps the number.
// Contract: plain values, no I/O, no clock (times arrive already turned into "seconds ago" by
// the collector), no Asio. Counters are named lists so the formatters need no knowledge of the
// tunnel or SMTP types and a new counter shows up in both outputs without a formatter change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::cli::status {

// An ordered list of named counters ("rx_bad_header", 3).
using Counters = std::vector<std::pair<std::string, std::uint64_t>>;

struct SessionStatus {
  std::string identity;        // user or certificate identity ("" when unknown)
  std::string inner_address;   // the client's tunnel IPv4, "10.77.0.2"
  std::string inner_address6;  // its inner IPv6, "fd00:77::2"; "" when the session has none
  std::string outer_address;   // the peer's current UDP endpoint, "" before the first packet
  std::string transport;       // "udp" (or whatever the data path reports, e.g. "tls")
  std::string session_id;      // our GRE key for it, "0x1a2b3c4d"
  // From this daemon's point of view: rx = received from the peer (after decryption),
  // tx = sent to the peer (before encryption). Bytes are inner packet bytes.
  std::uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  std::uint64_t rx_dropped = 0, tx_dropped = 0, rekeys = 0;
  std::uint64_t transport_switches = 0;  // udp <-> tls fallback changes
  std::optional<double> last_rekey_seconds_ago;   // nullopt: not rekeyed yet
  std::optional<double> last_packet_seconds_ago;  // nullopt: nothing authenticated yet
  // The client certificate the session logged in with (server side): notAfter as
  // "2027-03-01T12:00:00Z", "" when the session used none.
  std::string certificate_not_after;
  std::optional<std::int64_t> certificate_days_left;
  std::string certificate_state;  // "ok", "warn", "expired"; "" without a certificate
};

// A certificate or CRL file the daemon uses (its own certificate, the CA it trusts, the CRL).
struct CertificateStatus {
  std::string what;       // "tunnel certificate", "client CA", "CRL", "smtp certificate", ...
  std::string path;
  std::string not_after;  // notAfter, for the CRL nextUpdate; "" when unreadable or absent
  std::optional<std::int64_t> days_left;  // whole days, towards zero; nullopt with not_after ""
  std::string state;      // "ok", "warn" (30 days or a third of its lifetime left), "expired", "error"
  std::string error;      // why it is "error" (unreadable); "" otherwise
};

// One of a client's site servers ([tunnel] servers), in list order.
struct ServerStatus {
  std::string server;   // as configured, "a.site.example:8443"
  std::string address;  // the address its last attempt connected to, "" before any
  std::string state;    // "untried", "connecting", "up", "failed", "refused"
  bool current = false;  // the server being tried or in use
  std::uint32_t failures = 0;  // failed attempts and lost sessions since the client started
  std::string last_error;      // "" when none
  std::optional<double> state_seconds_ago;  // since the state was entered; nullopt: untried
};

struct StatusReport {
  static constexpr int kSchema = 1;
  std::string role;  // "server" or "client"
  long pid = 0;
  double uptime_seconds = 0;
  std::string config;  // the config file the daemon runs from
  std::vector<CertificateStatus> certificates;
  std::vector<SessionStatus> sessions;
  std::vector<ServerStatus> servers;  // a client's site servers; empty on a server
  std::string server_order;           // a client's server_order ("ordered", "random"); "" elsewhere
  std::optional<Counters> data_plane;  // nullopt when this daemon runs no tunnel
  std::optional<Counters> control;     // tunnel server's refusals by reason; nullopt elsewhere
  std::optional<Counters> smtp;        // nullopt when [smtp] is off
};

// One JSON object followed by "\n".
std::string format_json(const StatusReport& report);
// Human text: a header, one block per session, then the counters (zeros skipped in the
// data-plane section to keep it short; "all zero" said instead).
std::string format_text(const StatusReport& report);

// A JSON string literal for `text` with RFC 8259 section 7 escaping (quotes, backslash and
// control characters; bytes >= 0x80 pass through, the daemon's strings are UTF-8 or ASCII).
std::string json_string(std::string_view text);
// "12s", "3m04s", "2h05m", "4d03h": compact ages for the text output.
std::string format_age(double seconds);

}  // namespace postern::cli::status
