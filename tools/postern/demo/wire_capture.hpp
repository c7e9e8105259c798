// The demo's own wire tap: a libpcap capture of one interface inside a named network namespace,
// written to a pcap file, and the check of that file afterwards (what kinds of packets crossed
// the wire, and whether any of a list of plaintext strings appears in any frame's bytes).
// The capture runs in a forked child that enters the namespace with setns(2), so no tcpdump is
// needed. Contract: start() returns only once the capture is live (or throws saying why).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace postern::cli::demo {

class WireCapture {
 public:
  WireCapture() = default;
  WireCapture(const WireCapture&) = delete;
  WireCapture& operator=(const WireCapture&) = delete;
  ~WireCapture();  // stops a capture still running

  // Captures everything on `ifname` in namespace `ns` into `file` (needs root).
  void start(const std::string& ns, const std::string& ifname, const std::filesystem::path& file);
  // Flushes and ends the capture; throws if the child reported an error.
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct CaptureReport {
  std::size_t packets = 0;
  std::size_t gre_in_udp = 0;      // data channel datagrams on the tunnel port
  std::size_t tls_tcp = 0;         // control channel segments on the tunnel port
  std::size_t housekeeping = 0;    // ARP, ICMP, IPv6 neighbour discovery: no payload of ours
  std::size_t other = 0;           // TCP/UDP that is not the tunnel: should never happen
  std::vector<std::string> other_examples;  // "udp 10.99.0.1:5353 -> ..."
  struct Leak {
    std::string needle;
    std::size_t first_packet = 0;  // 1-based
    std::size_t count = 0;
  };
  std::vector<Leak> leaks;
};

// Reads a pcap file and classifies every frame; `needles` are searched in every frame's raw bytes.
CaptureReport analyze_capture(const std::filesystem::path& file, std::uint16_t tunnel_port,
                              const std::vector<std::string>& needles);

}  // namespace postern::cli::demo
