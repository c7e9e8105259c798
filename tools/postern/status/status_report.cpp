// Renders a StatusReport as JSON or text (see status_report.hpp).
#include "tools/postern/status/status_report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace postern::cli::status {
namespace {

// Seconds with millisecond precision: enough for "last packet 0.2 s ago", stable to parse.
std::string json_number(double value) {
  if (!std::isfinite(value) || value < 0) value = 0;
  return fmt::format("{:.3f}", value);
}

std::string json_optional(const std::optional<double>& value) {
  return value ? json_number(*value) : std::string("null");
}

std::string json_counters(const std::optional<Counters>& counters) {
  if (!counters) return "null";
  std::string out = "{";
  for (std::size_t i = 0; i < counters->size(); ++i) {
    const auto& [name, value] = (*counters)[i];
    out += fmt::format("{}{}: {}", i == 0 ? "" : ", ", json_string(name), value);
  }
  return out + "}";
}

std::string json_optional_int(const std::optional<std::int64_t>& value) {
  return value ? std::to_string(*value) : std::string("null");
}

// "" becomes null, so a script can test for absence.
std::string json_string_or_null(const std::string& text) { return text.empty() ? "null" : json_string(text); }

std::string json_certificate(const CertificateStatus& c) {
  return fmt::format("{{\"what\": {}, \"path\": {}, \"not_after\": {}, \"days_left\": {}, \"state\": {}, \"error\": {}}}",
                     json_string(c.what), json_string(c.path), json_string_or_null(c.not_after),
                     json_optional_int(c.days_left), json_string(c.state), json_string_or_null(c.error));
}

std::string json_session(const SessionStatus& s) {
  return fmt::format(
      "{{\"identity\": {}, \"inner_address\": {}, \"inner_address6\": {}, \"outer_address\": {}, \"transport\": {}, "
      "\"transport_switches\": {}, "
      "\"session_id\": {}, \"rx_packets\": {}, \"rx_bytes\": {}, \"tx_packets\": {}, \"tx_bytes\": {}, "
      "\"rx_dropped\": {}, \"tx_dropped\": {}, \"rekeys\": {}, \"last_rekey_seconds_ago\": {}, "
      "\"last_packet_seconds_ago\": {}, \"certificate_not_after\": {}, \"certificate_days_left\": {}, "
      "\"certificate_state\": {}}}",
      json_string(s.identity), json_string(s.inner_address), json_string_or_null(s.inner_address6),
      json_string(s.outer_address),
      json_string(s.transport), s.transport_switches, json_string(s.session_id), s.rx_packets, s.rx_bytes, s.tx_packets,
      s.tx_bytes, s.rx_dropped, s.tx_dropped, s.rekeys, json_optional(s.last_rekey_seconds_ago),
      json_optional(s.last_packet_seconds_ago), json_string_or_null(s.certificate_not_after),
      json_optional_int(s.certificate_days_left), json_string_or_null(s.certificate_state));
}

std::string json_server(const ServerStatus& s) {
  return fmt::format("{{\"server\": {}, \"address\": {}, \"state\": {}, \"current\": {}, \"failures\": {}, "
                     "\"last_error\": {}, \"state_seconds_ago\": {}}}",
                     json_string(s.server), json_string_or_null(s.address), json_string(s.state),
                     s.current ? "true" : "false", s.failures, json_string_or_null(s.last_error),
                     json_optional(s.state_seconds_ago));
}

// "  * a.site:8443  up 2m04s (192.0.2.1)": the current one starred; a failure count and the last
// error when there are any.
void text_servers(std::string& out, const std::vector<ServerStatus>& servers, const std::string& order) {
  out += fmt::format("\nsite servers ({}):\n", order);
  std::size_t width = 0;
  for (const auto& s : servers) width = std::max(width, s.server.size());
  for (const auto& s : servers) {
    std::string state = s.state;
    // "up 2m04s", "connecting 1s": for how long; "failed 3s ago": when.
    const bool ongoing = s.state == "up" || s.state == "connecting";
    if (s.state_seconds_ago) state += " " + format_age(*s.state_seconds_ago) + (ongoing ? "" : " ago");
    if (!s.address.empty()) state += " (" + s.address + ")";
    out += fmt::format("  {} {:<{}}  {}\n", s.current ? "*" : " ", s.server, width, state);
    if (s.failures > 0) {
      out += fmt::format("      {} failure{}, last: {}\n", s.failures, s.failures == 1 ? "" : "s",
                         s.last_error.empty() ? "-" : s.last_error);
    }
  }
}

// "until 2027-03-01T12:00:00Z (812 days)", "expired 2026-11-30T12:00:00Z (3 days ago)".
std::string text_expiry(const std::string& not_after, const std::optional<std::int64_t>& days_left,
                        const std::string& state) {
  const std::int64_t days = days_left.value_or(0);
  if (state == "expired") {
    return fmt::format("EXPIRED {} ({})", not_after, days == 0 ? "less than a day ago" : fmt::format("{} days ago", -days));
  }
  const std::string left = days == 0 ? "less than a day left" : fmt::format("{} days left", days);
  return fmt::format("until {} ({}){}", not_after, left, state == "warn" ? ", renew soon" : "");
}

void text_certificates(std::string& out, const std::vector<CertificateStatus>& certificates) {
  out += "\ncertificates:\n";
  std::size_t width = 0;
  for (const auto& c : certificates) width = std::max(width, c.what.size());
  for (const auto& c : certificates) {
    std::string detail;
    if (!c.error.empty()) {
      detail = "unreadable: " + c.error;
    } else if (c.not_after.empty()) {
      detail = "no expiry";
    } else {
      detail = text_expiry(c.not_after, c.days_left, c.state);
    }
    out += fmt::format("  {:<{}}  {}  {}\n", c.what, width, detail, c.path);
  }
}

// "1.5 MiB" style sizes for people.
std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string text_age(const std::optional<double>& seconds, std::string_view never) {
  return seconds ? format_age(*seconds) + " ago" : std::string(never);
}

void text_session(std::string& out, const SessionStatus& s) {
  out += fmt::format("  {}{} {}\n", s.inner_address.empty() ? "-" : s.inner_address,
                     s.inner_address6.empty() ? "" : " " + s.inner_address6,
                     s.identity.empty() ? "(no identity)" : s.identity);
  out += fmt::format("    outer      {} via {}   session {}\n",
                     s.outer_address.empty() ? "(unknown yet)" : s.outer_address, s.transport, s.session_id);
  out += fmt::format("    received   {} packets, {}, {} dropped\n", s.rx_packets, format_bytes(s.rx_bytes),
                     s.rx_dropped);
  out += fmt::format("    sent       {} packets, {}, {} dropped\n", s.tx_packets, format_bytes(s.tx_bytes),
                     s.tx_dropped);
  out += fmt::format("    rekeys     {} (last {})   last packet {}\n", s.rekeys,
                     text_age(s.last_rekey_seconds_ago, "never"), text_age(s.last_packet_seconds_ago, "never"));
  if (!s.certificate_not_after.empty()) {
    out += fmt::format("    certificate {}\n", text_expiry(s.certificate_not_after, s.certificate_days_left,
                                                           s.certificate_state));
  }
}

void text_counters(std::string& out, std::string_view title, const Counters& counters, bool skip_zero) {
  out += fmt::format("{}:\n", title);
  std::size_t width = 0;
  for (const auto& [name, value] : counters) width = std::max(width, name.size());
  bool any = false;
  for (const auto& [name, value] : counters) {
    if (skip_zero && value == 0) continue;
    out += fmt::format("  {:<{}}  {}\n", name, width, value);
    any = true;
  }
  if (!any) out += "  (all zero)\n";
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string format_age(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  auto s = static_cast<std::uint64_t>(seconds);
  if (s < 60) return seconds < 10 ? fmt::format("{:.1f}s", seconds) : fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string format_json(const StatusReport& report) {
  std::string certificates;
  for (std::size_t i = 0; i < report.certificates.size(); ++i) {
    certificates += (i == 0 ? "" : ", ") + json_certificate(report.certificates[i]);
  }
  std::string sessions;
  for (std::size_t i = 0; i < report.sessions.size(); ++i) {
    sessions += (i == 0 ? "" : ", ") + json_session(report.sessions[i]);
  }
  std::string servers;
  for (std::size_t i = 0; i < report.servers.size(); ++i) {
    servers += (i == 0 ? "" : ", ") + json_server(report.servers[i]);
  }
  return fmt::format(
      "{{\"schema\": {}, \"role\": {}, \"pid\": {}, \"config\": {}, \"uptime_seconds\": {}, "
      "\"certificates\": [{}], \"server_order\": {}, \"servers\": [{}], \"sessions\": [{}], \"data_plane\": {}, "
      "\"control\": {}, \"smtp\": {}}}\n",
      StatusReport::kSchema, json_string(report.role), report.pid, json_string(report.config),
      json_number(report.uptime_seconds), certificates, json_string_or_null(report.server_order), servers, sessions,
      json_counters(report.data_plane),
      json_counters(report.control),
      json_counters(report.smtp));
}

std::string format_text(const StatusReport& report) {
  std::string out = fmt::format("postern {} (pid {}), up {}, config {}\n", report.role, report.pid,
                                format_age(report.uptime_seconds), report.config);
  if (!report.certificates.empty()) text_certificates(out, report.certificates);
  if (!report.servers.empty()) text_servers(out, report.servers, report.server_order);
  if (report.data_plane) {
    out += fmt::format("\ntunnel sessions: {}\n", report.sessions.size());
    for (const auto& s : report.sessions) text_session(out, s);
    out += "\n";
    text_counters(out, "data plane counters (non-zero)", *report.data_plane, true);
  }
  if (report.control) {
    out += "\n";
    text_counters(out, "tunnel control", *report.control, false);
  }
  if (report.smtp) {
    out += "\n";
    text_counters(out, "smtp", *report.smtp, false);
  }
  return out;
}

}  // namespace postern::cli::status
