// Unit tests of the `postern status` renderings (tools/postern/status/status_report.hpp):
// json_string escaping (RFC 8259 section 7) checked by decoding it back for every byte value,
// format_json against a golden object and the schema's null/optional rules, format_text's
// sections, and format_age's unit boundaries and hostile inputs (negative, NaN, infinity).
#include "tools/postern/status/status_report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

using namespace postern::cli::status;

namespace {

// Minimal inverse of json_string: nullopt when `literal` is not one well-formed JSON string
// (unescaped control character or quote, unknown escape, trailing bytes).
std::optional<std::string> decode_json_string(std::string_view literal) {
  if (literal.size() < 2 || literal.front() != '"' || literal.back() != '"') return std::nullopt;
  literal = literal.substr(1, literal.size() - 2);
  std::string out;
  for (std::size_t i = 0; i < literal.size(); ++i) {
    const auto c = static_cast<unsigned char>(literal[i]);
    if (c < 0x20 || c == '"') return std::nullopt;
    if (c != '\\') {
      out += literal[i];
      continue;
    }
    if (++i >= literal.size()) return std::nullopt;
    switch (literal[i]) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (i + 4 >= literal.size()) return std::nullopt;
        const unsigned long code = std::stoul(std::string(literal.substr(i + 1, 4)), nullptr, 16);
        if (code > 0xFF) return std::nullopt;  // json_string only escapes single bytes
        out += static_cast<char>(code);
        i += 4;
        break;
      }
      default: return std::nullopt;
    }
  }
  return out;
}

SessionStatus sample_session() {
  SessionStatus s;
  s.identity = "alice";
  s.inner_address = "10.77.0.2";
  s.inner_address6 = "fd00:77::2";
  s.outer_address = "192.0.2.7:40000";
  s.transport = "udp";
  s.session_id = "0x1a2b3c4d";
  s.rx_packets = 10;
  s.rx_bytes = 1536;
  s.tx_packets = 20;
  s.tx_bytes = 3 * 1024 * 1024;
  s.rekeys = 2;
  s.last_rekey_seconds_ago = 65.0;
  return s;
}

}  // namespace

TEST(StatusJsonString, EscapesQuotesBackslashAndControls) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST(StatusJsonString, EveryByteRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    const std::string text = std::string("x") + static_cast<char>(b) + "y";
    const std::string literal = json_string(text);
    const auto back = decode_json_string(literal);
    ASSERT_TRUE(back.has_value()) << "byte " << b << " gave " << literal;
    EXPECT_EQ(*back, text) << "byte " << b;
  }
}

TEST(StatusJson, ClientWithoutTunnelOrSmtpIsGolden) {
  StatusReport r;
  r.role = "client";
  r.pid = 42;
  r.uptime_seconds = 1.5;
  r.config = "/etc/postern/\"laptop\".toml";
  EXPECT_EQ(format_json(r),
            "{\"schema\": 1, \"role\": \"client\", \"pid\": 42, \"config\": \"/etc/postern/\\\"laptop\\\".toml\", "
            "\"uptime_seconds\": 1.500, \"certificates\": [], \"server_order\": null, \"servers\": [], \"sessions\": [], "
            "\"data_plane\": null, \"control\": null, \"smtp\": null}\n");
}

// A client's site servers ([tunnel] servers): JSON objects in list order, and the text block
// with the current one starred, ages and the last error.
TEST(StatusServers, JsonAndText) {
  StatusReport r;
  r.role = "client";
  r.server_order = "ordered";
  r.servers.push_back({"a.site.test:8443", "10.200.0.1", "failed", false, 1, "peer closed the connection", 41.0});
  r.servers.push_back({"b.site.test:8443", "10.200.0.2", "up", true, 0, "", 40.0});
  r.servers.push_back({"c.site.test:8443", "", "untried", false, 0, "", std::nullopt});
  const std::string json = format_json(r);
  EXPECT_NE(json.find("\"server_order\": \"ordered\", \"servers\": [{\"server\": \"a.site.test:8443\", \"address\": \"10.200.0.1\", "
                      "\"state\": \"failed\", \"current\": false, \"failures\": 1, \"last_error\": \"peer closed the connection\", "
                      "\"state_seconds_ago\": 41.000}, {\"server\": \"b.site.test:8443\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("{\"server\": \"c.site.test:8443\", \"address\": null, \"state\": \"untried\", \"current\": false, "
                      "\"failures\": 0, \"last_error\": null, \"state_seconds_ago\": null}]"),
            std::string::npos)
      << json;
  const std::string text = format_text(r);
  EXPECT_NE(text.find("\nsite servers (ordered):\n"
                      "    a.site.test:8443  failed 41s ago (10.200.0.1)\n"
                      "      1 failure, last: peer closed the connection\n"
                      "  * b.site.test:8443  up 40s (10.200.0.2)\n"
                      "    c.site.test:8443  untried\n"),
            std::string::npos)
      << text;
}

TEST(StatusJson, SessionsCountersAndOptionalAges) {
  StatusReport r;
  r.role = "server";
  r.pid = 7;
  r.uptime_seconds = -3;  // a clock step must not produce a negative or NaN in the schema
  r.sessions = {sample_session(), SessionStatus{}};
  r.sessions[1].identity = "bad\nname";
  r.data_plane = Counters{{"rx_bad_header", 3}, {"rx_replay", 0}};
  r.smtp = Counters{};
  const std::string json = format_json(r);
  EXPECT_NE(json.find("\"uptime_seconds\": 0.000"), std::string::npos) << json;
  EXPECT_NE(json.find("\"identity\": \"alice\""), std::string::npos);
  EXPECT_NE(json.find("\"inner_address\": \"10.77.0.2\", \"inner_address6\": \"fd00:77::2\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"inner_address\": \"\", \"inner_address6\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"identity\": \"bad\\nname\""), std::string::npos);
  EXPECT_NE(json.find("\"last_rekey_seconds_ago\": 65.000, \"last_packet_seconds_ago\": null"), std::string::npos);
  EXPECT_NE(json.find("\"last_rekey_seconds_ago\": null"), std::string::npos);
  EXPECT_NE(json.find("\"data_plane\": {\"rx_bad_header\": 3, \"rx_replay\": 0}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"smtp\": {}"), std::string::npos);
  EXPECT_EQ(json.find('\n'), json.size() - 1);  // one line, newline-terminated
  EXPECT_EQ(json.back(), '\n');
}

TEST(StatusText, ServerShowsSessionsAndSkipsZeroDataPlaneCounters) {
  StatusReport r;
  r.role = "server";
  r.pid = 99;
  r.uptime_seconds = 3725;
  r.config = "/etc/postern/site.toml";
  r.sessions = {sample_session()};
  r.data_plane = Counters{{"rx_bad_header", 3}, {"rx_replay", 0}};
  r.smtp = Counters{{"accepted", 0}, {"auth_failures", 5}};
  const std::string text = format_text(r);
  EXPECT_EQ(text.rfind("postern server (pid 99), up 1h02m, config /etc/postern/site.toml\n", 0), 0u) << text;
  EXPECT_NE(text.find("tunnel sessions: 1\n"), std::string::npos);
  EXPECT_NE(text.find("  10.77.0.2 fd00:77::2 alice\n"), std::string::npos) << text;
  EXPECT_NE(text.find("192.0.2.7:40000 via udp   session 0x1a2b3c4d"), std::string::npos);
  EXPECT_NE(text.find("received   10 packets, 1.5 KiB, 0 dropped"), std::string::npos) << text;
  EXPECT_NE(text.find("sent       20 packets, 3.0 MiB, 0 dropped"), std::string::npos) << text;
  EXPECT_NE(text.find("rekeys     2 (last 1m05s ago)   last packet never"), std::string::npos) << text;
  EXPECT_NE(text.find("  rx_bad_header  3\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("rx_replay"), std::string::npos);  // zero: skipped in the data plane
  EXPECT_NE(text.find("smtp:\n  accepted       0\n  auth_failures  5\n"), std::string::npos) << text;
}

CertificateStatus sample_certificate(std::string what, std::string state, std::optional<std::int64_t> days) {
  CertificateStatus c;
  c.what = std::move(what);
  c.path = "/etc/postern/pki/x.pem";
  c.not_after = "2027-01-02T03:04:05Z";
  c.days_left = days;
  c.state = std::move(state);
  return c;
}

TEST(StatusJson, CertificatesAndSessionCertificate) {
  StatusReport r;
  r.role = "server";
  r.certificates = {sample_certificate("tunnel certificate", "ok", 400), sample_certificate("CRL", "expired", -2)};
  CertificateStatus unreadable;
  unreadable.what = "client CA";
  unreadable.path = "ca.pem";
  unreadable.state = "error";
  unreadable.error = "ca.pem: cannot open";
  r.certificates.push_back(unreadable);
  r.sessions = {sample_session(), SessionStatus{}};
  r.sessions[0].certificate_not_after = "2027-02-01T00:00:00Z";
  r.sessions[0].certificate_days_left = 12;
  r.sessions[0].certificate_state = "warn";
  const std::string json = format_json(r);
  EXPECT_NE(json.find("\"certificates\": [{\"what\": \"tunnel certificate\", \"path\": \"/etc/postern/pki/x.pem\", "
                      "\"not_after\": \"2027-01-02T03:04:05Z\", \"days_left\": 400, \"state\": \"ok\", \"error\": null}, "
                      "{\"what\": \"CRL\", \"path\": \"/etc/postern/pki/x.pem\", \"not_after\": \"2027-01-02T03:04:05Z\", "
                      "\"days_left\": -2, \"state\": \"expired\", \"error\": null}, "
                      "{\"what\": \"client CA\", \"path\": \"ca.pem\", \"not_after\": null, \"days_left\": null, "
                      "\"state\": \"error\", \"error\": \"ca.pem: cannot open\"}], "),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"certificate_not_after\": \"2027-02-01T00:00:00Z\", \"certificate_days_left\": 12, "
                      "\"certificate_state\": \"warn\"}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"certificate_not_after\": null, \"certificate_days_left\": null, \"certificate_state\": null}"),
            std::string::npos)
      << json;
}

TEST(StatusText, CertificatesSectionAndSessionCertificate) {
  StatusReport r;
  r.role = "server";
  r.pid = 5;
  r.config = "site.toml";
  r.certificates = {sample_certificate("tunnel certificate", "ok", 400), sample_certificate("CRL", "warn", 0),
                    sample_certificate("client CA", "expired", -3)};
  CertificateStatus bad;
  bad.what = "smtp certificate";
  bad.path = "smtp.pem";
  bad.state = "error";
  bad.error = "smtp.pem: cannot open";
  r.certificates.push_back(bad);
  r.data_plane = Counters{};
  r.sessions = {sample_session()};
  r.sessions[0].certificate_not_after = "2027-02-01T00:00:00Z";
  r.sessions[0].certificate_days_left = 12;
  r.sessions[0].certificate_state = "warn";
  const std::string text = format_text(r);
  EXPECT_NE(text.find("\ncertificates:\n"
                      "  tunnel certificate  until 2027-01-02T03:04:05Z (400 days left)  /etc/postern/pki/x.pem\n"
                      "  CRL                 until 2027-01-02T03:04:05Z (less than a day left), renew soon  /etc/postern/pki/x.pem\n"
                      "  client CA           EXPIRED 2027-01-02T03:04:05Z (3 days ago)  /etc/postern/pki/x.pem\n"
                      "  smtp certificate    unreadable: smtp.pem: cannot open  smtp.pem\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    certificate until 2027-02-01T00:00:00Z (12 days left), renew soon\n"), std::string::npos) << text;
}

TEST(StatusText, ClientWithoutSectionsAndAllZeroCounters) {
  StatusReport r;
  r.role = "client";
  r.pid = 1;
  r.config = "c.toml";
  EXPECT_EQ(format_text(r), "postern client (pid 1), up 0.0s, config c.toml\n");
  r.data_plane = Counters{{"rx_replay", 0}};
  r.sessions = {SessionStatus{}};
  const std::string text = format_text(r);
  EXPECT_NE(text.find("(all zero)"), std::string::npos) << text;
  EXPECT_NE(text.find("  - (no identity)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("(unknown yet)"), std::string::npos) << text;
}

TEST(StatusAge, UnitBoundaries) {
  EXPECT_EQ(format_age(0), "0.0s");
  EXPECT_EQ(format_age(3.5), "3.5s");
  EXPECT_EQ(format_age(10), "10s");
  EXPECT_EQ(format_age(59.9), "59s");
  EXPECT_EQ(format_age(60), "1m00s");
  EXPECT_EQ(format_age(184), "3m04s");
  EXPECT_EQ(format_age(3599), "59m59s");
  EXPECT_EQ(format_age(3600), "1h00m");
  EXPECT_EQ(format_age(2 * 3600 + 5 * 60 + 59), "2h05m");
  EXPECT_EQ(format_age(86399), "23h59m");
  EXPECT_EQ(format_age(86400), "1d00h");
  EXPECT_EQ(format_age(4 * 86400 + 3 * 3600 + 1), "4d03h");
}

TEST(StatusAge, HostileValuesClampToZero) {
  EXPECT_EQ(format_age(-5), "0.0s");
  EXPECT_EQ(format_age(std::numeric_limits<double>::quiet_NaN()), "0.0s");
  EXPECT_EQ(format_age(std::numeric_limits<double>::infinity()), "0.0s");
  EXPECT_EQ(format_age(-std::numeric_limits<double>::infinity()), "0.0s");
}
