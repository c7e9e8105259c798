// Fuzz target for the TUN offload code (platform/offload.hpp): TSO/USO segmentation of a
// super-packet described by an arbitrary virtio_net_hdr, and GRO coalescing (TCP and UDP) of
// arbitrary packets. Input: 10 bytes of vnet header, then the packet for segmentation; the same bytes are
// also cut into length-prefixed packets (1-byte length * 8) for the coalescer.
// Invariants: nothing crashes or reads out of bounds (ASan), segments fit their buffer, and a
// coalesced super-packet segments back into exactly as many segments as were merged.
#include "platform/offload.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

using postern::platform::Offload;
using postern::platform::GroCoalescer;
using postern::platform::VnetHeader;

namespace {

std::array<std::uint8_t, 65536 + 256> g_segment;
std::array<std::uint8_t, GroCoalescer::kMaxSize> g_super;

void segment_all(const VnetHeader& header, std::span<const std::uint8_t> packet) {
  Offload result = Offload::ok;
  std::size_t count = postern::platform::segment_count(header, packet, result);
  if (count == 0) return;
  for (std::size_t i = 0; i < count && i < 128; ++i) {
    std::size_t n = postern::platform::write_segment(header, packet, i, g_segment, result);
    if (result != Offload::ok) return;
    if (n > g_segment.size()) std::abort();
  }
}

void coalesce(std::span<const std::uint8_t> data) {
  GroCoalescer coalescer(true);  // UDP too, as on a TUN that took USO
  std::size_t offset = 0;
  bool active = false;
  while (offset < data.size()) {
    std::size_t len = std::size_t{data[offset]} * 8;
    ++offset;
    if (len > data.size() - offset) len = data.size() - offset;
    std::span<const std::uint8_t> packet = data.subspan(offset, len);
    offset += len;
    if (active && coalescer.append(packet)) continue;
    if (active) {
      std::size_t merged = coalescer.segments();  // finish() resets the coalescer
      VnetHeader header;
      auto super = coalescer.finish(header);
      if (header.gso_type != VnetHeader::kGsoNone) {
        Offload result = Offload::ok;
        std::size_t count = postern::platform::segment_count(header, super, result);
        if (result != Offload::ok || count != merged) std::abort();
      }
    }
    active = coalescer.start(g_super, packet);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < VnetHeader::kSize) return 0;
  std::span<const std::uint8_t> input(data, size);
  VnetHeader header = VnetHeader::decode(input.first<VnetHeader::kSize>());
  segment_all(header, input.subspan(VnetHeader::kSize));
  coalesce(input.subspan(VnetHeader::kSize));
  return 0;
}
