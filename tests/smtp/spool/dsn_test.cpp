// Tests for the RFC 3464 bounce builder: the message is parsed back (headers, multipart
// boundaries, the delivery-status groups) and checked field by field; headers-only vs full
// return, xtext decoding, a boundary that the content tries to contain, the NOTIFY rule.
#include "smtp/spool/dsn.hpp"

#include "smtp/core/address.hpp"

#include <gtest/gtest.h>

#include <map>

namespace postern::smtp::spool {
namespace {

const WallTime kArrival = from_unix_ms(1'764'274'467'000);  // Thu, 27 Nov 2025 20:14:27 UTC

struct Part {
  std::map<std::string, std::string> headers;
  std::string body;
};

// "Name: value" lines up to the empty line (folded lines joined); returns the rest.
std::string_view parse_headers(std::string_view text, std::map<std::string, std::string>& out) {
  std::string last;
  while (!text.empty()) {
    std::size_t eol = text.find("\r\n");
    EXPECT_NE(eol, std::string_view::npos);
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      out[last] += std::string(line);
      continue;
    }
    std::size_t colon = line.find(": ");
    EXPECT_NE(colon, std::string_view::npos) << line;
    last = std::string(line.substr(0, colon));
    out[last] = std::string(line.substr(colon + 2));
  }
  return text;
}

struct Parsed {
  std::map<std::string, std::string> headers;
  std::vector<Part> parts;
};

Parsed parse(const std::string& dsn) {
  Parsed p;
  EXPECT_EQ(dsn.find('\n'), dsn.find("\r\n") + 1);  // CRLF line ends
  std::string_view body = parse_headers(dsn, p.headers);
  const std::string& type = p.headers["Content-Type"];
  std::size_t b = type.find("boundary=\"");
  EXPECT_NE(b, std::string::npos);
  const std::string boundary = type.substr(b + 10, type.find('"', b + 10) - b - 10);
  const std::string delimiter = "\r\n--" + boundary;
  std::string text = "\r\n" + std::string(body);
  std::size_t at = text.find(delimiter);
  while (at != std::string::npos) {
    std::size_t start = at + delimiter.size();
    if (text.compare(start, 2, "--") == 0) break;  // close delimiter
    start += 2;                                     // CRLF after the delimiter
    std::size_t end = text.find(delimiter, start);
    EXPECT_NE(end, std::string::npos);
    Part part;
    part.body = std::string(parse_headers(text.substr(start, end - start), part.headers));
    p.parts.push_back(std::move(part));
    at = end;
  }
  return p;
}

// The delivery-status body as groups of fields (per-message first).
std::vector<std::map<std::string, std::string>> groups(const std::string& body) {
  std::vector<std::map<std::string, std::string>> out(1);
  std::string_view rest = body;
  while (!rest.empty()) {
    std::size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    if (line.empty()) {
      if (!out.back().empty()) out.emplace_back();
      continue;
    }
    std::size_t colon = line.find(": ");
    out.back()[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

DsnInput input() {
  DsnInput in;
  in.reporting_mta = "mail.site.example";
  in.original_sender = "alice@site.example";
  in.original_id = "0123456789abcdef";
  in.arrival = kArrival;
  in.date = kArrival + std::chrono::hours(1);
  in.unique = "0123456789abcdefB.1764278067000";
  in.original = "Received: from laptop\r\nSubject: plans\r\nFrom: alice@site.example\r\n\r\n"
                "the body\r\n";
  DsnRecipient relayed;
  relayed.address = "bob@partner.example";
  relayed.orcpt = "rfc822;Bob+2Btag@partner.example";
  relayed.status_code = "5.1.1";
  relayed.remote_mta = "mx.site.example";
  relayed.remote_reply = "550 5.1.1 <bob@partner.example>: Recipient address rejected";
  relayed.last_attempt = kArrival + std::chrono::minutes(1);
  DsnRecipient local;
  local.address = "carol@elsewhere.example";
  local.detail = "no route: not a local domain and no [smtp.relay]";
  local.status_code = "5.4.4";
  local.last_attempt = kArrival;
  in.recipients = {relayed, local};
  return in;
}

TEST(Dsn, HeadersPartsAndFields) {
  const Parsed p = parse(build_dsn(input()));
  EXPECT_EQ(p.headers.at("From"), "Mail Delivery System <MAILER-DAEMON@mail.site.example>");
  EXPECT_EQ(p.headers.at("To"), "<alice@site.example>");
  EXPECT_EQ(p.headers.at("Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(p.headers.at("Date"), "Thu, 27 Nov 2025 21:14:27 +0000");
  EXPECT_EQ(p.headers.at("Message-ID"), "<0123456789abcdefB.1764278067000@mail.site.example>");
  EXPECT_EQ(p.headers.at("Auto-Submitted"), "auto-replied");
  EXPECT_EQ(p.headers.at("MIME-Version"), "1.0");
  EXPECT_TRUE(p.headers.at("Content-Type")
                  .starts_with("multipart/report; report-type=delivery-status;"));
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_TRUE(p.parts[0].headers.at("Content-Type").starts_with("text/plain"));
  EXPECT_NE(p.parts[0].body.find("<bob@partner.example>: host mx.site.example said: 550 5.1.1"),
            std::string::npos);
  EXPECT_NE(p.parts[0].body.find("<carol@elsewhere.example>: no route"), std::string::npos);
  EXPECT_EQ(p.parts[1].headers.at("Content-Type"), "message/delivery-status");

  auto g = groups(p.parts[1].body);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].at("Reporting-MTA"), "dns; mail.site.example");
  EXPECT_EQ(g[0].at("Arrival-Date"), "Thu, 27 Nov 2025 20:14:27 +0000");
  EXPECT_FALSE(g[0].contains("Original-Envelope-Id"));
  EXPECT_EQ(g[1].at("Original-Recipient"), "rfc822;Bob+tag@partner.example");  // xtext decoded
  EXPECT_EQ(g[1].at("Final-Recipient"), "rfc822; bob@partner.example");
  EXPECT_EQ(g[1].at("Action"), "failed");
  EXPECT_EQ(g[1].at("Status"), "5.1.1");
  EXPECT_EQ(g[1].at("Remote-MTA"), "dns; mx.site.example");
  EXPECT_EQ(g[1].at("Diagnostic-Code"),
            "smtp; 550 5.1.1 <bob@partner.example>: Recipient address rejected");
  EXPECT_EQ(g[1].at("Last-Attempt-Date"), "Thu, 27 Nov 2025 20:15:27 +0000");
  EXPECT_FALSE(g[2].contains("Original-Recipient"));
  EXPECT_FALSE(g[2].contains("Remote-MTA"));
  EXPECT_FALSE(g[2].contains("Diagnostic-Code"));
  EXPECT_EQ(g[2].at("Status"), "5.4.4");

  // Headers only by default (RFC 6522 3): no body of the original.
  EXPECT_EQ(p.parts[2].headers.at("Content-Type"), "text/rfc822-headers");
  EXPECT_EQ(p.parts[2].body,
            "Received: from laptop\r\nSubject: plans\r\nFrom: alice@site.example\r\n");
}

TEST(Dsn, FullReturnAndEnvid) {
  DsnInput in = input();
  in.full_message = true;
  in.envid = "QQ+2B314";
  const Parsed p = parse(build_dsn(in));
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(p.parts[2].headers.at("Content-Type"), "message/rfc822");
  EXPECT_EQ(p.parts[2].body, std::string(in.original));  // the whole original, as queued
  EXPECT_EQ(groups(p.parts[1].body)[0].at("Original-Envelope-Id"), "QQ+314");
  EXPECT_NE(build_dsn(in).find("\r\n\r\nthe body\r\n"), std::string::npos);
}

TEST(Dsn, BoundaryNeverOccursInTheContent) {
  DsnInput in = input();
  in.full_message = true;
  std::string hostile = "Subject: x\r\n\r\n";
  for (int n = 0; n < 5; ++n) hostile += "--=_postern_" + in.unique + "_" + std::to_string(n) + "\r\n";
  in.original = hostile;
  const std::string dsn = build_dsn(in);
  const Parsed p = parse(dsn);
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_NE(p.headers.at("Content-Type").find("_5\""), std::string::npos);
}

TEST(Dsn, NotifyRuleAndXtext) {
  EXPECT_TRUE(notify_on_failure({"", ""}));
  EXPECT_TRUE(notify_on_failure({"FAILURE", ""}));
  EXPECT_TRUE(notify_on_failure({"SUCCESS,FAILURE,DELAY", ""}));
  EXPECT_FALSE(notify_on_failure({"NEVER", ""}));
  EXPECT_FALSE(notify_on_failure({"SUCCESS,DELAY", ""}));
  EXPECT_EQ(decode_xtext("a+2Bb+3D"), "a+b=");
  EXPECT_EQ(decode_xtext("a+2"), std::nullopt);
  EXPECT_EQ(decode_xtext("a+2b"), std::nullopt);  // hexchar is upper case
  EXPECT_EQ(bounce_id("0123456789abcdef"), "0123456789abcdefB");
  EXPECT_EQ(bounce_id(std::string(64, 'a')).size(), 64u);
  EXPECT_EQ(header_section("A: b\r\n\r\nbody"), "A: b\r\n");
  EXPECT_EQ(header_section("A: b\r\n"), "A: b\r\n");
}

TEST(Dsn, ControlBytesInRepliesStayOnOneLine) {
  DsnInput in = input();
  in.recipients[0].remote_reply = "550-first\r\n550 second";
  in.recipients[0].orcpt = "rfc822;evil+0D+0AX-Injected: yes";
  const Parsed p = parse(build_dsn(in));
  auto g = groups(p.parts[1].body);
  EXPECT_EQ(g[1].at("Diagnostic-Code"), "smtp; 550-first  550 second");
  EXPECT_EQ(g[1].at("Original-Recipient"), "rfc822;evil+0D+0AX-Injected: yes");  // kept as xtext
  EXPECT_FALSE(g[1].contains("X-Injected"));
}

}  // namespace
}  // namespace postern::smtp::spool
