// libFuzzer target for the data-channel receive path: arbitrary bytes as a datagram through
// decode_gre_frame and a DataReceiver keyed with the fixed fuzz keys (tests/tunnel/data/
// fuzz_fixture.hpp), then, as the daemon would, the same bytes through the inner-packet parsers
// (MSS clamp, LCP echo). Seeds in tests/fuzz/corpus/gre_frame/ are frames that authenticate, a
// TCP SYN and an LCP echo (written by tunnel_data_test CorpusSeeds).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tests/tunnel/data/fuzz_fixture.hpp"
#include "tunnel/data/gre_frame.hpp"
#include "tunnel/data/lcp_echo.hpp"
#include "tunnel/data/mss_clamp.hpp"

using namespace postern::tunnel::data;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  (void)decode_gre_frame(input);

  static DataReceiver receiver = fuzz::make_receiver();  // persistent: replay state evolves too
  std::vector<std::uint8_t> datagram(input.begin(), input.end());
  const OpenResult opened = receiver.open(datagram, fuzz::fixed_now());
  if (opened.ok() && opened.protocol == PppProtocol::lcp) (void)decode_lcp_echo(opened.payload);

  std::vector<std::uint8_t> packet(input.begin(), input.end());
  (void)clamp_tcp_mss(packet, 1200);
  (void)decode_lcp_echo(input);
  return 0;
}
