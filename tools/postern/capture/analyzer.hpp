// The analysis behind `postern capture`: classifies each captured frame as data channel (GRE in
// UDP on the port; header decoded by tunnel/data/gre_frame.hpp, the one decoder of that header),
// control channel (TLS records in TCP on the port) or other; keeps per-session sequence
// accounting and per-flow TLS record counts; and searches every frame's raw bytes for the
// --leak-check strings (a plaintext leak shows up anywhere: a header, a payload, a fragment).
// Contract: sans-I/O: frames and their capture timestamps in, reports out; no pcap, no clock.
#pragma once

#include "tools/postern/capture/packet_decode.hpp"
#include "tools/postern/capture/seq_tracker.hpp"
#include "tools/postern/capture/tls_record_stream.hpp"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace postern::tools::capture {

struct AnalyzerOptions {
  std::uint16_t port = 1723;  // 0: every UDP/TCP port
  std::vector<std::string> leak_strings;
};

enum class PacketKind { data, bad_data, control, other };
std::string_view to_string(PacketKind kind);

struct PacketReport {
  std::uint64_t number = 0;  // 1-based position in the capture
  std::int64_t time_us = 0;  // capture timestamp, microseconds since the epoch
  std::size_t captured_length = 0;
  PacketKind kind = PacketKind::other;
  DecodedPacket packet;  // its payload span points into the caller's frame: valid during consume
  // data channel
  std::uint32_t session = 0;
  std::uint32_t epoch = 0;
  std::uint32_t sequence = 0;
  std::size_t sealed_length = 0;  // ciphertext + tag after the 12-byte GRE header
  SeqVerdict verdict = SeqVerdict::first;
  std::string_view gre_error;  // why a UDP datagram on the port is not a data frame
  // control channel
  std::vector<TlsRecord> records;  // record headers completed in this segment
  // leak check
  std::vector<std::string> leaks;  // the leak strings found in this frame
};

struct SessionSummary {
  std::uint32_t session = 0;
  std::uint32_t epoch = 0;
  std::string src, dst;  // of the first packet
  std::uint64_t packets = 0, bytes = 0;
  std::uint64_t gaps = 0, reorders = 0, duplicates = 0;
  std::uint32_t highest_sequence = 0;
};

struct FlowSummary {
  std::string src, dst;
  std::uint64_t segments = 0, bytes = 0;
  std::map<std::uint8_t, std::uint64_t> records;  // content type -> count
  std::uint64_t client_hellos = 0, server_hellos = 0;
  std::uint64_t holes = 0, resyncs = 0;
  bool in_sync = true;
};

struct LeakHit {
  std::string needle;
  std::uint64_t first_packet = 0;
  std::string where;  // "udp 10.0.0.1:5000 -> 10.0.0.2:1723" of the first packet
  std::uint64_t packets = 0;
};

struct CaptureSummary {
  std::uint64_t packets = 0, bytes = 0;
  std::uint64_t data = 0, bad_data = 0, control = 0, other = 0;
  std::uint64_t ipv4 = 0, ipv6 = 0;  // packets by outer IP version (the rest: not IP)
  std::uint64_t data_ipv6 = 0;       // data frames over IPv6
  std::vector<SessionSummary> sessions;
  std::vector<FlowSummary> flows;
  bool leak_checked = false;
  std::vector<LeakHit> leaks;  // only strings that were found
};

class CaptureAnalyzer {
 public:
  explicit CaptureAnalyzer(AnalyzerOptions options);

  PacketReport consume(std::int64_t time_us, int link_type, std::span<const std::uint8_t> frame);
  CaptureSummary summary() const;

 private:
  struct Session {
    SessionSummary info;
    SequenceTracker tracker;
  };
  struct Flow {
    FlowSummary info;
    TcpStream stream;
  };

  bool on_port(const DecodedPacket& p) const;
  void consume_data(PacketReport& report);
  void consume_control(PacketReport& report);
  void check_leaks(std::span<const std::uint8_t> frame, PacketReport& report);

  AnalyzerOptions options_;
  std::uint64_t packets_ = 0, bytes_ = 0;
  std::uint64_t data_ = 0, bad_data_ = 0, control_ = 0, other_ = 0;
  std::uint64_t ipv4_ = 0, ipv6_ = 0, data_ipv6_ = 0;
  std::map<std::pair<std::uint32_t, std::uint32_t>, Session> sessions_;
  std::map<std::pair<std::string, std::string>, Flow> flows_;
  std::map<std::string, LeakHit> leaks_;
};

}  // namespace postern::tools::capture
