// Fuzzes the address parsers (common/ip_address.hpp): IpAddress, IpPrefix and IpEndpoint
// parse() are fed operator config and peer text, so any byte string must give a value or
// nullopt, never a crash. Invariants: an accepted value formats back to text that parses to the
// same value (to_string is canonical), IpPrefix::network() is contained in itself, and a value
// survives the sockaddr round trip.
#include "common/ip_address.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

using namespace postern;

namespace {

void check_address(const IpAddress& a) {
  auto again = IpAddress::parse(a.to_string());
  if (!again || !(*again == a)) std::abort();
}

void check_cidr(const IpPrefix& c) {
  if (c.prefix_len > c.address.max_prefix()) std::abort();
  auto again = IpPrefix::parse(c.to_string());
  if (!again || !(*again == c)) std::abort();
  const IpPrefix net = c.network();
  if (!c.contains(net.address) || !c.contains(c.address)) std::abort();
}

void check_endpoint(const IpEndpoint& e) {
  auto again = IpEndpoint::parse(e.to_string());
  if (!again || !(*again == e)) std::abort();
  sockaddr_storage storage{};
  const socklen_t length = e.to_sockaddr(storage);
  auto back = IpEndpoint::from_sockaddr(storage, length);
  if (!back || !(*back == e)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto a = IpAddress::parse(text)) check_address(*a);
  if (auto c = IpPrefix::parse(text)) check_cidr(*c);
  if (auto e = IpEndpoint::parse(text)) check_endpoint(*e);
  // Raw bytes as a kernel-filled sockaddr of the given length: must never read past it.
  if (size <= sizeof(sockaddr_storage)) {
    sockaddr_storage storage{};
    std::memcpy(&storage, data, size);
    if (auto e = IpEndpoint::from_sockaddr(storage, static_cast<socklen_t>(size))) check_endpoint(*e);
  }
  return 0;
}
