// postern_flood: the bounded flood generator of the hostile netns tests and tools/bench_flood.sh
// (issue 10). The TLS- and protocol-speaking hostile peers are in hostile.py; the two floods that
// only need raw sockets are here, in C++, because at 10,000 connections or 200,000 datagrams a
// second a Python loop spends ~40-50 µs of its own per connection and took 38-53 % of one of the
// two cores the tunnel under test also needs, so the benchmark measured the generator as much as
// the server. Same command lines and output lines as the Python modes had.
//
//   postern_flood connect-flood HOST:PORT --sources A.B.C.D-N --count N [--concurrent C]
//                               [--hold S] [--rate R]
//       Up to N TCP connections over S seconds, C held open at once (each one the server closes
//       is replaced; at most R new ones a second when given), spread over the source addresses
//       (bound on this side), each sending nothing. Prints how many were attempted, connected,
//       and closed by the server.
//   postern_flood udp-flood HOST:PORT --pps N --seconds S [--size B]
//       Garbage datagrams (random bytes, B each) at up to N a second for S seconds, in batches
//       of 64 (sendmmsg). Prints the rate reached.
//
// Bounds: at most 200,000 connections, 60 seconds, 1,000,000 datagrams a second, and only to an
// IPv4 loopback or private (RFC 1918) address: the tests' own namespaces.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

constexpr std::size_t kMaxCount = 200'000;
constexpr double kMaxSeconds = 60;
constexpr std::size_t kMaxPps = 1'000'000;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "postern_flood: %s\n", what.c_str());
  std::exit(2);
}

sockaddr_in parse_ipv4(const std::string& text, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, text.c_str(), &a.sin_addr) != 1) die("not an IPv4 address: " + text);
  return a;
}

sockaddr_in parse_target(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) die("expected HOST:PORT, got " + text);
  const int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) die("bad port in " + text);
  sockaddr_in a = parse_ipv4(text.substr(0, colon), static_cast<std::uint16_t>(port));
  const std::uint32_t host = ntohl(a.sin_addr.s_addr);
  const bool allowed = (host >> 24) == 127 || (host >> 24) == 10 || (host >> 20) == (172u << 4 | 1) ||
                       (host >> 16) == (192u << 8 | 168);
  if (!allowed) die("refusing a target outside loopback and RFC 1918 space: " + text);
  return a;
}

// "10.200.0.100-139": the addresses .100 to .139; "10.200.0.5": that one.
std::vector<sockaddr_in> parse_sources(const std::string& text) {
  const auto dash = text.find('-');
  sockaddr_in first = parse_ipv4(text.substr(0, dash), 0);
  std::uint32_t base = ntohl(first.sin_addr.s_addr);
  std::uint32_t last_octet = dash == std::string::npos ? (base & 0xff) : static_cast<std::uint32_t>(std::atoi(text.c_str() + dash + 1));
  if (last_octet < (base & 0xff) || last_octet > 255) die("bad source range " + text);
  std::vector<sockaddr_in> out;
  for (std::uint32_t o = base & 0xff; o <= last_octet; ++o) {
    sockaddr_in a = first;
    a.sin_addr.s_addr = htonl((base & ~0xffu) | o);
    out.push_back(a);
  }
  return out;
}

void raise_nofile(rlim_t want) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < want) {
    limit.rlim_cur = std::min(want, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int connect_flood(const std::string& target_text, const std::string& sources_text, std::size_t count,
                  std::size_t concurrent, double hold, std::size_t rate) {
  const std::size_t total = std::min(count, kMaxCount);
  concurrent = std::min(concurrent, total);
  hold = std::min(hold, kMaxSeconds);
  raise_nofile(concurrent + 64);
  const sockaddr_in target = parse_target(target_text);
  const std::vector<sockaddr_in> sources = parse_sources(sources_text);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
  enum class State { connecting, open };
  std::unordered_map<int, State> sockets;
  std::size_t attempted = 0, connected = 0, closed_by_server = 0;

  auto forget = [&](int fd) {
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    sockets.erase(fd);
  };
  auto open_one = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // The port is picked at connect(): bind() does not search the ephemeral range per socket.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    const sockaddr_in& source = sources[attempted % sources.size()];
    ++attempted;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0 ||
        (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0 && errno != EINPROGRESS)) {
      ::close(fd);
      return;
    }
    epoll_event event{};
    event.events = EPOLLOUT;
    event.data.fd = fd;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    sockets[fd] = State::connecting;
  };

  const auto start = Clock::now();
  std::array<epoll_event, 256> events{};
  while (seconds_since(start) < hold) {
    // Keep `concurrent` connections open; replace each one the server closes, until `total`
    // (and no faster than `rate`).
    const std::size_t allowed =
        rate == 0 ? total : std::min(total, static_cast<std::size_t>(seconds_since(start) * static_cast<double>(rate)) + 1);
    while (sockets.size() < concurrent && attempted < allowed) open_one();
    const int n = ::epoll_wait(epoll, events.data(), static_cast<int>(events.size()), rate != 0 ? 10 : 100);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      auto it = sockets.find(fd);
      if (it == sockets.end()) continue;
      if (it->second == State::connecting) {
        int error = 0;
        socklen_t len = sizeof(error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) {
          if (error == ECONNRESET) {  // connected, then reset by the server at once
            ++connected;
            ++closed_by_server;
          }
          forget(fd);
          continue;
        }
        ++connected;
        it->second = State::open;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP;
        event.data.fd = fd;
        ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event);
      } else {
        std::array<char, 4096> buffer{};
        const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR))) {
          // The server closed it (refused at accept, evicted, timed out).
          ++closed_by_server;
          forget(fd);
        }
      }
    }
  }
  for (const auto& [fd, state] : sockets) ::close(fd);
  ::close(epoll);
  std::printf("connect-flood: %zu attempted, %zu connected, %zu closed by the server\n", attempted, connected,
              closed_by_server);
  return 0;
}

int udp_flood(const std::string& target_text, std::size_t pps, double seconds, std::size_t size) {
  seconds = std::min(seconds, kMaxSeconds);
  pps = std::min(pps, kMaxPps);
  size = std::clamp<std::size_t>(size, 1, 1472);
  const sockaddr_in target = parse_target(target_text);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
  constexpr std::size_t kBatch = 64, kPayloads = 256;
  std::vector<std::uint8_t> payloads(kPayloads * size);
  std::mt19937 random(std::random_device{}());
  for (auto& b : payloads) b = static_cast<std::uint8_t>(random());
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> messages{};
  std::size_t sent = 0;
  const auto start = Clock::now();
  for (;;) {
    const double elapsed = seconds_since(start);
    if (elapsed >= seconds) break;
    if (static_cast<double>(sent) > elapsed * static_cast<double>(pps)) {  // ahead of the rate
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      continue;
    }
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = {payloads.data() + ((sent + i) % kPayloads) * size, size};
      messages[i] = {};
      messages[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(&target);
      messages[i].msg_hdr.msg_namelen = sizeof(target);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::sendmmsg(fd, messages.data(), kBatch, 0);
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  const double elapsed = seconds_since(start);
  ::close(fd);
  std::printf("udp-flood: %zu datagrams in %.1f s = %.0f/s\n", sent, elapsed, static_cast<double>(sent) / elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Bounded flood generator for postern's hostile netns tests (tests/netns/flood.cpp)"};
  app.require_subcommand(1);
  std::string target, sources;
  std::size_t count = 0, concurrent = 500, rate = 0, pps = 0, size = 120;
  double hold = 5, seconds = 0;
  auto* connect = app.add_subcommand("connect-flood", "TCP connections that send nothing");
  connect->add_option("target", target, "HOST:PORT")->required();
  connect->add_option("--sources", sources, "A.B.C.D-N, bound on this side")->required();
  connect->add_option("--count", count, "connections in all")->required();
  connect->add_option("--concurrent", concurrent, "held open at once");
  connect->add_option("--hold", hold, "seconds");
  connect->add_option("--rate", rate, "new connections per second at most");
  auto* udp = app.add_subcommand("udp-flood", "garbage datagrams");
  udp->add_option("target", target, "HOST:PORT")->required();
  udp->add_option("--pps", pps, "datagrams per second")->required();
  udp->add_option("--seconds", seconds, "how long")->required();
  udp->add_option("--size", size, "bytes per datagram");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (*connect) return connect_flood(target, sources, count, concurrent, hold, rate);
  return udp_flood(target, pps, seconds, size);
}
