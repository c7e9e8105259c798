// RADIUS over UDP with retries and failover (see radius_transport.hpp).
#include "auth/radius_transport.hpp"

#include <asio.hpp>
#include <openssl/rand.h>

#include <thread>

namespace postern::auth::radius {

void random_bytes(std::span<std::uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) throw std::runtime_error("RAND_bytes failed");
}

Transport::Transport(std::vector<HostPort> servers, const SecretBytes& secret,
                     std::chrono::milliseconds timeout, std::uint32_t tries, bool require_message_authenticator)
    : servers_(std::move(servers)),
      secret_(secret),
      timeout_(timeout),
      tries_(std::max<std::uint32_t>(1, tries)),
      require_message_authenticator_(require_message_authenticator) {}

namespace {

// One server: sends `packet` up to `tries` times and waits for a checked answer.
std::optional<Packet> ask(const HostPort& server, const std::vector<std::uint8_t>& packet, Code code,
                          std::uint8_t id, const Authenticator& ra, const SecretBytes& secret,
                          std::chrono::milliseconds timeout, std::uint32_t tries, bool require_ma, std::string* problem) {
  asio::io_context io;
  asio::error_code ec;
  const auto address = asio::ip::make_address(server.host, ec);
  if (ec) {
    *problem = "bad address";
    return std::nullopt;
  }
  const asio::ip::udp::endpoint to(address, server.port);
  asio::ip::udp::socket socket(io);
  socket.open(to.protocol(), ec);
  if (!ec) socket.connect(to, ec);  // connected: only this server's datagrams are read
  if (ec) {
    *problem = ec.message();
    return std::nullopt;
  }
  std::array<std::uint8_t, kMaxPacket> buffer{};
  std::optional<Packet> answer;
  std::string last = "no answer";
  for (std::uint32_t attempt = 0; attempt < tries && !answer; ++attempt) {
    socket.send(asio::buffer(packet), 0, ec);
    if (ec) {
      last = ec.message();  // e.g. ICMP port unreachable from an earlier try
      continue;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    asio::steady_timer timer(io);
    std::function<void()> receive = [&] {
      socket.async_receive(asio::buffer(buffer), [&](const asio::error_code& rec, std::size_t n) {
        if (rec == asio::error::operation_aborted) return;
        if (rec) {
          last = rec.message();  // connection refused: nothing listens there
          timer.cancel();
          return;
        }
        auto checked = check_response(std::span<const std::uint8_t>(buffer.data(), n), code, id, ra, secret, require_ma);
        if (checked.packet) {
          answer = std::move(checked.packet);
          timer.cancel();
          return;
        }
        last = "answer dropped: " + std::string(to_string(checked.error));
        receive();
      });
    };
    receive();
    timer.expires_at(deadline);
    timer.async_wait([&](const asio::error_code& te) {
      if (!te) socket.cancel();
    });
    io.restart();
    io.run();
    if (!answer && std::chrono::steady_clock::now() < deadline && last.find("refused") != std::string::npos) {
      // ICMP unreachable came back at once: wait out the timeout so retries stay paced.
      std::this_thread::sleep_until(deadline);
    }
  }
  *problem = last;
  return answer;
}

}  // namespace

Exchange Transport::exchange(Code request_code, const Build& build) const {
  Exchange out;
  const std::size_t first = preferred_.load();
  for (std::size_t k = 0; k < servers_.size(); ++k) {
    const std::size_t index = (first + k) % servers_.size();
    const auto& server = servers_[index];
    const std::uint8_t id = next_id_.fetch_add(1);
    Authenticator ra{};
    const std::vector<std::uint8_t> packet = build(id, &ra);
    if (packet.empty()) {
      out.error = "request does not fit in a RADIUS packet";
      return out;
    }
    std::string problem;
    if (auto answer = ask(server, packet, request_code, id, ra, secret_, timeout_, tries_, require_message_authenticator_, &problem)) {
      preferred_.store(index);
      out.answer = std::move(answer);
      out.server = server.to_string();
      return out;
    }
    out.error += (out.error.empty() ? "" : "; ") + server.to_string() + ": " + problem + " after " +
                 std::to_string(tries_) + " tries";
  }
  return out;
}

}  // namespace postern::auth::radius
