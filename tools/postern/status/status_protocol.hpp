// The status socket's wire format (the exchange is in status_server.hpp), as both ends see it,
// with no socket: the client's request line (encode_request), the daemon's reading of what it
// received (decode_request) and the client's reading of the answer (decode_answer).
// Requests, one line each, words separated by spaces:
//   json | text                                   the status report
//   queue list json|text                          the mail queue
//   queue show ID json|text                       one message
//   queue retry ID | queue retry all | queue hold ID | queue release ID | queue delete ID
// An ID is 1..64 ASCII letters and digits (spool ids). Anything else decodes to BadRequest,
// whose text the daemon sends back as "error: <text>\n"; an answer starting "error: " is a
// refusal, anything else (non-empty) is the body.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace postern::cli::status {

// The longest request line the daemon reads (the '\n' included); a longer one is dropped unread.
inline constexpr std::size_t kMaxRequest = 256;

enum class Format { json, text };

struct ReportRequest {
  Format format = Format::text;
  bool operator==(const ReportRequest&) const = default;
};

struct QueueRequest {
  enum class Verb { list, show, retry, retry_all, hold, release, remove };
  Verb verb = Verb::list;
  std::string id;                // show, retry, hold, release, remove
  Format format = Format::text;  // list, show
  bool operator==(const QueueRequest&) const = default;
};

struct BadRequest {
  std::string error;  // operator text, safe to send back and log
  bool operator==(const BadRequest&) const = default;
};

using Request = std::variant<ReportRequest, QueueRequest, BadRequest>;

bool valid_queue_id(std::string_view id);

// The line a client sends, without its '\n'. `request` must not be a BadRequest.
std::string encode_request(const Request& request);
// `line`: the bytes read, up to the first '\n' (which, and a CR before it, are dropped).
Request decode_request(std::string_view line);

struct Answer {
  std::string body;   // the answer as the daemon formatted it
  std::string error;  // instead of body: the daemon's refusal, without "error: " and line end
  bool refused() const { return !error.empty(); }
};
// An empty answer is neither: the caller says that the daemon closed without answering.
Answer decode_answer(std::string body);

std::string_view to_string(QueueRequest::Verb verb);

}  // namespace postern::cli::status
