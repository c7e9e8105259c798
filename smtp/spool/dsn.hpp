// Bounces: the RFC 3464 delivery status notification postern sends to the envelope sender
// when recipients fail permanently. Pure code: no I/O, no clock (Date comes in), no RNG (the
// Message-ID's unique part comes in).
//
// Shape (RFC 6522 multipart/report; report-type=delivery-status):
//   headers   From: MAILER-DAEMON@<reporting_mta>, To: <original sender>, Subject, Date,
//             Message-ID, Auto-Submitted: auto-replied (RFC 3834 5: never answered by
//             autoresponders), MIME-Version, Content-Type
//   part 1    text/plain: what happened, one line per failed recipient with its reason
//   part 2    message/delivery-status (RFC 3464 2.2, 2.3): Reporting-MTA, Original-Envelope-Id
//             (when ENVID was given), Arrival-Date; per recipient Original-Recipient (ORCPT),
//             Final-Recipient, Action: failed, Status, Remote-MTA, Diagnostic-Code,
//             Last-Attempt-Date
//   part 3    text/rfc822-headers with the original header section (RFC 6522 3, the default,
//             and RET=HDRS), or message/rfc822 with the whole original when the sender asked
//             RET=FULL (RFC 3461 4.3). Postfix does the same.
// ENVID and ORCPT arrive as xtext (RFC 3461 4); the report carries them decoded (RFC 3464
// 2.2.1, 2.3.1) unless decoding yields a control byte, then as received.
// The boundary is checked against every part's content and changed until it occurs nowhere.
#pragma once

#include "smtp/spool/spool.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp::spool {

struct DsnRecipient {
  std::string address;       // Final-Recipient
  std::string orcpt;         // ORCPT as received ("rfc822;a+2Bb@x"), "" if none
  std::string status_code;   // RFC 3463, "" -> 5.0.0
  std::string remote_mta;    // "" when the failure was local
  std::string remote_reply;  // the relay's reply ("550 5.1.1 ..."), "" if none
  std::string detail;        // in words, for part 1 ("queue lifetime exceeded", ...)
  WallTime last_attempt{};
};

struct DsnInput {
  std::string reporting_mta;    // this host's name
  std::string original_sender;  // the bounce goes there
  std::string original_id;      // queue id of the original, named in part 1
  std::string envid;            // ENVID (xtext) or ""
  WallTime arrival{};           // when the original was queued
  WallTime date{};              // Date: of the bounce
  std::string unique;           // left part of the Message-ID (unique per bounce)
  bool full_message = false;    // RET=FULL: return the whole original
  std::string_view original;    // the original message bytes (CRLF)
  std::vector<DsnRecipient> recipients;  // at least one
};

// A complete RFC 5322 message, CRLF line ends.
std::string build_dsn(const DsnInput& input);

// RFC 3461 4.1: whether a failure of this recipient is to be reported. No NOTIFY means the
// default (failures and delays); NEVER means none.
bool notify_on_failure(const RecipientParams& params);

// Dates: smtp::format_rfc5322_date (smtp/core/received.hpp); xtext: smtp::decode_xtext
// (smtp/core/address.hpp).

// The queue id under which the bounce of `id` is stored: deterministic, so a crash-repeat finds
// the bounce already there (errc::id_collision) instead of sending a second one.
std::string bounce_id(std::string_view id);

// The header section of a message (up to the first empty line, CRLF-terminated).
std::string_view header_section(std::string_view message);

}  // namespace postern::smtp::spool
