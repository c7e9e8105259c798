// Fuzz target: ControlReader on arbitrary bytes, fed in two pieces split at a data-chosen point,
// then every frame through its decoder. Invariants: never crash; the split never changes the
// frames; encode(decode(x)) decodes to the same value for LCP/IPCP.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tunnel/control/control_reader.hpp"

using namespace postern::tunnel::control;

namespace {

void decode_all(const Frame& f) {
  switch (f.type) {
    case MessageType::hello: { Hello h; (void)decode_hello(f.body, h); break; }
    case MessageType::lcp_configure_request:
    case MessageType::lcp_configure_ack:
    case MessageType::lcp_configure_nak:
    case MessageType::lcp_configure_reject: {
      LcpOptions o, again;
      if (!decode_lcp(f.body, o)) {
        auto enc = encode_lcp(f.type, o);
        if (decode_lcp(std::span<const std::uint8_t>(enc).subspan(kHeaderSize), again) || !(again == o)) std::abort();
      }
      break;
    }
    case MessageType::ipcp_configure_request:
    case MessageType::ipcp_configure_ack:
    case MessageType::ipcp_configure_nak:
    case MessageType::ipcp_configure_reject: {
      IpcpOptions o, again;
      if (!decode_ipcp(f.body, o)) {
        auto enc = encode_ipcp(f.type, o);
        if (decode_ipcp(std::span<const std::uint8_t>(enc).subspan(kHeaderSize), again) || !(again == o)) std::abort();
      }
      break;
    }
    case MessageType::data_channel: { DataChannel d; (void)decode_data_channel(f.body, d); break; }
    case MessageType::echo_request:
    case MessageType::echo_reply: { Echo e; (void)decode_echo(f.body, e); break; }
    case MessageType::auth_fail:
    case MessageType::terminate: { std::string r; (void)decode_reason(f.body, r); break; }
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::span<const std::uint8_t> all(data + 1, size - 1);
  std::size_t split = all.empty() ? 0 : data[0] % (all.size() + 1);

  ControlReader whole;
  whole.feed(all);
  ControlReader parts;
  std::size_t consumed = parts.feed(all.first(split));
  if (consumed == split) parts.feed(all.subspan(split));
  if (whole.error() != parts.error()) std::abort();
  for (;;) {
    auto a = whole.next();
    auto b = parts.next();
    if (a.has_value() != b.has_value()) std::abort();
    if (!a) break;
    if (a->type != b->type || a->body != b->body) std::abort();
    decode_all(*a);
  }
  return 0;
}
