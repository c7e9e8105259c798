// Fuzz target: a ServerNegotiator (policy "any", verified certificate) fed arbitrary bytes in
// chunks, with time advancing and password answers alternating. Invariants: never crash, at most
// one Closed and nothing after it, the address pool leases (IPv4 and IPv6) are released once closed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tunnel/control/negotiator_server.hpp"

using namespace postern::tunnel::control;
using postern::IpAddress;
using postern::IpPrefix;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  AddressPool pool(IpPrefix{IpAddress::v4({10, 77, 0, 0}), 29}, std::chrono::seconds(0));
  AddressPool pool6(*IpPrefix::parse("fd00:77::/124"), std::chrono::seconds(0));
  ServerConfig config;
  config.policy = AuthPolicy::any;
  config.receive_session_id = 0x123456;
  config.data_port = 4500;
  config.dns = {IpAddress::v4({10, 77, 0, 1}), *IpAddress::parse("fd00:77::1")};
  config.routes = {*IpPrefix::parse("2001:db8::/32")};
  TimePoint now{};
  ServerNegotiator server(config, {true, "fuzz"}, pool, now, &pool6);
  bool closed = false;
  bool verify_ok = false;
  std::span<const std::uint8_t> in(data, size);
  while (!in.empty()) {
    // First byte of each chunk: its length (1..64); time moves on by a second per chunk.
    std::size_t n = std::min<std::size_t>(in.size() - 1, (in[0] & 63u) + 1);
    server.feed(in.subspan(1, n), now);
    in = in.subspan(1 + n);
    now += std::chrono::seconds(1);
    server.on_timer(now);
    for (auto& a : server.take_actions()) {
      if (closed) std::abort();  // nothing may follow Closed
      if (std::holds_alternative<Closed>(a)) closed = true;
      if (std::holds_alternative<VerifyPassword>(a)) {
        verify_ok = !verify_ok;
        server.on_password_verified(verify_ok, now);
      }
    }
  }
  server.terminate("done", now);
  server.take_actions();
  pool.expire(now);
  pool6.expire(now);
  if (pool.leased() != 0 || pool6.leased() != 0) std::abort();
  return 0;
}
