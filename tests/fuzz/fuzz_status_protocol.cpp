// Fuzzes the status socket's wire format (tools/postern/status/status_protocol.hpp): the
// daemon's reading of a request line and the client's reading of an answer. The socket is
// root-only (0600, SO_PEERCRED), but its parser still must not trust its input.
// Invariants: decoding never fails hard; an accepted request encodes to one line of at most
// kMaxRequest octets that decodes to the same request (the encoding is canonical); only the
// first line counts; an answer is a refusal exactly when it starts "error: ", and otherwise is
// given back unchanged.
#include "tools/postern/status/status_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace postern::cli::status;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Request request = decode_request(input);
  if (const auto* bad = std::get_if<BadRequest>(&request)) {
    check(!bad->error.empty() && bad->error.find('\n') == std::string::npos);
  } else {
    const std::string line = encode_request(request);
    check(!line.empty() && line.find('\n') == std::string::npos && line.size() + 1 <= kMaxRequest);
    check(decode_request(line + "\n") == request);
    if (const auto* q = std::get_if<QueueRequest>(&request)) {
      const bool takes_id = q->verb != QueueRequest::Verb::list && q->verb != QueueRequest::Verb::retry_all;
      check(takes_id ? valid_queue_id(q->id) : q->id.empty());
    }
  }
  // Only the first line is the request: what follows its '\n' changes nothing.
  const std::size_t nl = input.find('\n');
  if (nl != std::string_view::npos) check(decode_request(input.substr(0, nl + 1)) == request);

  const Answer answer = decode_answer(std::string(input));
  check(answer.refused() == input.starts_with("error: "));
  if (!answer.refused()) check(answer.body == input);
  if (answer.refused()) check(!answer.error.ends_with('\n') && !answer.error.ends_with('\r'));
  return 0;
}
