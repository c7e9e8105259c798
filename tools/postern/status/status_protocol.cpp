// The status socket's wire format (see status_protocol.hpp).
#include "tools/postern/status/status_protocol.hpp"

#include <array>
#include <optional>
#include <utility>
#include <vector>

namespace postern::cli::status {
namespace {

using Verb = QueueRequest::Verb;

constexpr std::array<std::pair<std::string_view, Verb>, 5> kIdVerbs{{
    {"retry", Verb::retry}, {"hold", Verb::hold}, {"release", Verb::release}, {"delete", Verb::remove}, {"show", Verb::show}}};

// Words separated by runs of blanks (space, tab, CR, LF, VT, FF), as the daemon always split them.
std::vector<std::string_view> words(std::string_view line) {
  constexpr std::string_view kBlank = " \t\r\n\v\f";
  std::vector<std::string_view> out;
  for (std::size_t at = line.find_first_not_of(kBlank); at != std::string_view::npos;
       at = line.find_first_not_of(kBlank, at)) {
    const std::size_t end = std::min(line.find_first_of(kBlank, at), line.size());
    out.push_back(line.substr(at, end - at));
    at = end;
  }
  return out;
}

std::optional<Format> format_of(std::string_view word) {
  if (word == "json") return Format::json;
  if (word == "text") return Format::text;
  return std::nullopt;
}

std::string_view format_name(Format f) { return f == Format::json ? "json" : "text"; }

Request decode_queue(const std::vector<std::string_view>& w) {
  if (w.size() < 2) return BadRequest{"queue request without a verb"};
  const std::string_view verb = w[1];
  if (verb == "list" || verb == "show") {
    const bool show = verb == "show";
    const std::size_t format_at = show ? 3 : 2;
    const auto format = w.size() == format_at + 1 ? format_of(w[format_at]) : std::nullopt;
    if (!format || (show && !valid_queue_id(w[2]))) {
      return BadRequest{"expected \"queue list json|text\" or \"queue show ID json|text\""};
    }
    return QueueRequest{show ? Verb::show : Verb::list, show ? std::string(w[2]) : std::string(), *format};
  }
  if (w.size() != 3) return BadRequest{"expected \"queue " + std::string(verb) + " ID\""};
  const std::string_view id = w[2];
  if (verb == "retry" && id == "all") return QueueRequest{Verb::retry_all, {}, Format::text};
  for (const auto& [name, v] : kIdVerbs) {
    if (name != verb || v == Verb::show) continue;
    if (!valid_queue_id(id)) return BadRequest{"\"" + std::string(id) + "\" is not a queue id"};
    return QueueRequest{v, std::string(id), Format::text};
  }
  return BadRequest{"unknown queue verb \"" + std::string(verb) + "\" (list, show, retry, hold, release, delete)"};
}

}  // namespace

std::string_view to_string(Verb verb) {
  switch (verb) {
    case Verb::list: return "list";
    case Verb::retry_all: return "retry";
    default:
      for (const auto& [name, v] : kIdVerbs) {
        if (v == verb) return name;
      }
  }
  return "?";
}

bool valid_queue_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

std::string encode_request(const Request& request) {
  if (const auto* r = std::get_if<ReportRequest>(&request)) return std::string(format_name(r->format));
  const QueueRequest& q = std::get<QueueRequest>(request);  // a BadRequest is never sent
  std::string line = "queue " + std::string(to_string(q.verb));
  switch (q.verb) {
    case Verb::list: return line + " " + std::string(format_name(q.format));
    case Verb::show: return line + " " + q.id + " " + std::string(format_name(q.format));
    case Verb::retry_all: return line + " all";
    default: return line + " " + q.id;
  }
}

Request decode_request(std::string_view line) {
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // The report requests are the exact words; a queue request is split into words.
  if (line == "json") return ReportRequest{Format::json};
  if (line == "text") return ReportRequest{Format::text};
  const std::vector<std::string_view> w = words(line);
  if (!w.empty() && w[0] == "queue") return decode_queue(w);
  return BadRequest{"unknown request (expected \"json\" or \"text\")"};
}

Answer decode_answer(std::string body) {
  if (body.rfind("error: ", 0) != 0) return Answer{std::move(body), {}};
  std::string message = body.substr(7);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  if (message.empty()) message = "(no reason given)";
  return Answer{{}, std::move(message)};
}

}  // namespace postern::cli::status
