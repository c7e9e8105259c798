// The RFC 3464 bounce builder (see dsn.hpp for the message's shape).
#include "smtp/spool/dsn.hpp"

#include "smtp/core/address.hpp"
#include "smtp/core/received.hpp"

#include <cstdio>
#include <ctime>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// A header or report field value: one line, no control bytes.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  return out;
}

// Decoded for the report when that gives printable text, else as received.
std::string readable_xtext(std::string_view xtext) {
  auto decoded = decode_xtext(xtext);
  if (!decoded) return one_line(xtext);
  for (char c : *decoded) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return one_line(xtext);
  }
  return *decoded;
}

std::string status_of(const DsnRecipient& r) {
  return r.status_code.empty() ? "5.0.0" : one_line(r.status_code);
}

std::string human_part(const DsnInput& in) {
  std::string text = "This is the mail system at host " + in.reporting_mta + ".\r\n\r\n";
  text += "Your message (queue id " + in.original_id + ") could not be delivered to ";
  text += in.recipients.size() == 1 ? "one recipient" : "some recipients";
  text += ". This is a permanent error; the mail system will not retry.\r\n\r\n";
  for (const DsnRecipient& r : in.recipients) {
    text += "<" + one_line(r.address) + ">: ";
    if (!r.remote_mta.empty()) text += "host " + one_line(r.remote_mta) + " said: ";
    text += one_line(!r.remote_reply.empty() ? r.remote_reply
                     : !r.detail.empty()     ? r.detail
                                             : "delivery failed");
    if (!r.remote_reply.empty() && !r.detail.empty()) text += " (" + one_line(r.detail) + ")";
    text += "\r\n";
  }
  return text;
}

// RFC 3464 2.2 per-message fields, a blank line, then 2.3 per-recipient groups.
std::string status_part(const DsnInput& in) {
  std::string text = "Reporting-MTA: dns; " + one_line(in.reporting_mta) + "\r\n";
  if (!in.envid.empty()) text += "Original-Envelope-Id: " + readable_xtext(in.envid) + "\r\n";
  text += "Arrival-Date: " + format_rfc5322_date(in.arrival) + "\r\n";
  for (const DsnRecipient& r : in.recipients) {
    text += "\r\n";
    if (!r.orcpt.empty()) text += "Original-Recipient: " + readable_xtext(r.orcpt) + "\r\n";
    text += "Final-Recipient: rfc822; " + one_line(r.address) + "\r\n";
    text += "Action: failed\r\n";
    text += "Status: " + status_of(r) + "\r\n";
    if (!r.remote_mta.empty()) text += "Remote-MTA: dns; " + one_line(r.remote_mta) + "\r\n";
    if (!r.remote_reply.empty()) text += "Diagnostic-Code: smtp; " + one_line(r.remote_reply) + "\r\n";
    text += "Last-Attempt-Date: " + format_rfc5322_date(r.last_attempt) + "\r\n";
  }
  return text;
}

std::string with_final_crlf(std::string_view text) {
  std::string out(text);
  if (!out.ends_with(kCrlf)) out += kCrlf;
  return out;
}

std::string pick_boundary(const DsnInput& in, std::initializer_list<std::string_view> parts) {
  for (unsigned n = 0;; ++n) {
    std::string boundary = "=_postern_" + in.unique.substr(0, 40) + "_" + std::to_string(n);
    bool clash = false;
    for (std::string_view part : parts) clash = clash || part.find(boundary) != std::string_view::npos;
    if (!clash) return boundary;
  }
}

}  // namespace

bool notify_on_failure(const RecipientParams& params) {
  if (params.notify.empty()) return true;
  return params.notify.find("FAILURE") != std::string::npos;  // NEVER has no FAILURE in it
}

std::string bounce_id(std::string_view id) {
  // Session ids are lower-case hex, so an upper-case 'B' never names an original message.
  std::string out(id.substr(0, 63));
  out.push_back('B');
  return out;
}

std::string_view header_section(std::string_view message) {
  std::size_t end = message.find("\r\n\r\n");
  if (end != std::string_view::npos) return message.substr(0, end + 2);
  return message;
}

std::string build_dsn(const DsnInput& in) {
  const std::string human = human_part(in);
  const std::string status = status_part(in);
  const std::string returned =
      with_final_crlf(in.full_message ? in.original : header_section(in.original));
  const std::string boundary = pick_boundary(in, {human, status, returned});
  const std::string mta = one_line(in.reporting_mta);

  std::string out;
  out += "From: Mail Delivery System <MAILER-DAEMON@" + mta + ">\r\n";
  out += "To: <" + one_line(in.original_sender) + ">\r\n";
  out += "Subject: Undelivered Mail Returned to Sender\r\n";
  out += "Date: " + format_rfc5322_date(in.date) + "\r\n";
  out += "Message-ID: <" + one_line(in.unique) + "@" + mta + ">\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  out += "\tboundary=\"" + boundary + "\"\r\n";
  out += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Description: Notification\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n\r\n" + human + "\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Description: Delivery report\r\n";
  out += "Content-Type: message/delivery-status\r\n\r\n" + status + "\r\n";
  out += "--" + boundary + "\r\n";
  if (in.full_message) {
    out += "Content-Description: Undelivered Message\r\n";
    out += "Content-Type: message/rfc822\r\n\r\n";
  } else {
    out += "Content-Description: Undelivered Message Headers\r\n";
    out += "Content-Type: text/rfc822-headers\r\n\r\n";
  }
  out += returned + "\r\n";
  out += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace postern::smtp::spool
