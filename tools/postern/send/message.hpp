// Builds the RFC 5322 message that `postern send` submits: headers (Date, Message-ID, From, To,
// Subject, MIME-Version), a text body, and base64 attachments in a multipart/mixed (RFC 2045/2046).
// Contract: pure functions, no I/O, no clock, no RNG: the caller passes the date and the random
// token of the Message-ID, so the output is reproducible in tests. Lines end in CRLF. The result
// is NOT dot-stuffed: dot_stuff() does that for the DATA phase (RFC 5321 4.5.2).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::send {

struct Attachment {
  std::string filename;      // base name shown to the recipient
  std::string content_type;  // e.g. "application/pdf"; see content_type_for()
  std::string data;          // raw bytes
};

struct MessageSpec {
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body;  // any line endings; normalised to CRLF
  std::vector<Attachment> attachments;
  std::chrono::system_clock::time_point date;
  std::string message_id_token;  // random, e.g. 16 hex digits
  // The server takes 8-bit bodies (EHLO advertised 8BITMIME, RFC 6152); if false, an 8-bit body
  // is sent base64-encoded instead.
  bool server_has_8bitmime = false;
};

struct BuiltMessage {
  std::string text;             // the full message, CRLF line endings
  bool needs_8bitmime = false;  // send MAIL FROM with BODY=8BITMIME
};

// build_headers(spec) + build_content(spec).text, needs_8bitmime from the content.
BuiltMessage build_message(const MessageSpec& spec);
// Date, Message-ID, From, To, Subject and MIME-Version, each ending in CRLF.
std::string build_headers(const MessageSpec& spec);
// The content entity: Content-Type, Content-Transfer-Encoding, a blank line and the body (the
// text, or a multipart/mixed with the attachments). S/MIME signs or encrypts exactly this.
BuiltMessage build_content(const MessageSpec& spec);

// RFC 4648 section 4 base64; line_length 0 = one line, else CRLF every line_length characters.
std::string base64_encode(std::span<const std::uint8_t> bytes, std::size_t line_length = 0);
std::string base64_encode(std::string_view text, std::size_t line_length = 0);

// RFC 5322 3.3 date-time in UTC, e.g. "Fri, 27 Nov 2026 20:41:07 +0000".
std::string format_date(std::chrono::system_clock::time_point when);

// RFC 2047 encoded-word(s) when text is not plain printable ASCII, else text unchanged.
std::string encode_header_text(std::string_view text);

// Any mix of CRLF, LF and lone CR becomes CRLF; a final line break is added if missing.
std::string normalise_line_endings(std::string_view text);

// RFC 5321 4.5.2: a line starting with "." gets another "." in front. Input must be CRLF text.
std::string dot_stuff(std::string_view crlf_text);

// Content-Type guessed from the file extension; application/octet-stream if unknown.
std::string content_type_for(std::string_view filename);

// The address part of "Name <addr>" or the text itself (for MAIL FROM / RCPT TO).
std::string address_of(std::string_view mailbox);

}  // namespace postern::tools::send
