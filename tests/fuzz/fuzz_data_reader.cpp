// Fuzzes the SMTP message-content reader (smtp/core/data_reader.hpp) against a reference
// decoder written from RFC 5321 4.1.1.4 / 4.5.2 (dot framing) and RFC 3030 (counted framing).
// Input: byte 0 picks the framing and a small size limit, byte 1 the feed size; the rest is the
// client's bytes, fed once whole and once in pieces. Invariants: the pieces give the same
// consumed count, end, findings and content as the whole; dot framing ends exactly after the
// first CRLF "." CRLF (or "." CRLF at the very start) and its content is the reference's
// unstuffed text (unfinished data: a prefix of it, at most two octets held back); counted
// framing gives the bytes as they are; past the limit exactly the first
// max_size octets were given out and too_big is set.
#include "smtp/core/data_reader.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using postern::smtp::DataReader;
using postern::smtp::Framing;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  std::size_t consumed = 0;
  bool done = false;
  std::string content;
  postern::smtp::DataFindings findings;
  std::uint64_t size = 0;
};

Outcome run(Framing framing, std::uint64_t max_size, std::string_view input, std::size_t piece) {
  DataReader reader(framing, max_size);
  Outcome out;
  while (out.consumed < input.size() && !out.done) {
    const std::string_view next = input.substr(out.consumed, piece);
    auto r = reader.put(next);
    check(r.consumed <= next.size());
    if (framing == Framing::counted) check(r.consumed == next.size() && !r.done);
    out.content += reader.take_content();
    out.consumed += r.consumed;
    out.done = r.done;
    if (!r.done) check(r.consumed == next.size());  // only the end of data stops a put() early
  }
  if (framing == Framing::counted) {
    reader.finish();
    out.content += reader.take_content();
  }
  out.findings = reader.findings();
  out.size = reader.size();
  return out;
}

// Dot framing by the RFC: where the data ends (npos: not yet) and the unstuffed content.
std::size_t reference_end(std::string_view in) {
  if (in.starts_with(".\r\n")) return 3;
  const std::size_t p = in.find("\r\n.\r\n");
  return p == std::string_view::npos ? p : p + 5;
}

std::string unstuff(std::string_view raw) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (line_start && raw[i] == '.') {
      line_start = false;
      continue;
    }
    line_start = raw[i] == '\n' && i > 0 && raw[i - 1] == '\r';
    out += raw[i];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Framing framing = (data[0] & 1) ? Framing::counted : Framing::dot;
  const std::uint64_t max_size = (data[0] & 2) ? 64 + (data[0] >> 2) : 1 << 20;
  const std::size_t piece = 1 + data[1] % 17;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  const Outcome whole = run(framing, max_size, input, input.size() + 1);
  const Outcome pieces = run(framing, max_size, input, piece);
  check(whole.consumed == pieces.consumed && whole.done == pieces.done && whole.content == pieces.content);
  check(whole.size == pieces.size && whole.findings.bare_newline == pieces.findings.bare_newline &&
        whole.findings.line_too_long == pieces.findings.line_too_long &&
        whole.findings.too_big == pieces.findings.too_big);

  std::string expected;
  if (framing == Framing::dot) {
    const std::size_t end = reference_end(input);
    check(whole.done == (end != std::string_view::npos));
    check(whole.consumed == (whole.done ? end : input.size()));
    // The CRLF before the final dot belongs to the content; the "." CRLF does not.
    expected = whole.done ? unstuff(input.substr(0, end - 3)) : unstuff(input);
  } else {
    expected = std::string(input);
  }
  const std::string given = expected.substr(0, std::min<std::size_t>(expected.size(), max_size));
  if (framing == Framing::counted || whole.done) {
    check(whole.size == expected.size());
    check(whole.findings.too_big == (expected.size() > max_size));
    check(whole.content == given);
  } else {
    // Unfinished dot data: a trailing CR or "." CR may still turn out to be a line end or the
    // end of data, so the reader holds at most those two octets back.
    check(given.starts_with(whole.content) && given.size() - whole.content.size() <= 2);
    check(whole.size <= expected.size() && expected.size() - whole.size <= 2);
  }
  return 0;
}
