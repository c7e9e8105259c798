// Capture analysis; see analyzer.hpp for the contract.
#include "tools/postern/capture/analyzer.hpp"

#include "tunnel/data/gre_frame.hpp"

#include <algorithm>
#include <functional>
#include <string_view>

namespace postern::tools::capture {

std::string_view to_string(PacketKind kind) {
  switch (kind) {
    case PacketKind::data: return "data";
    case PacketKind::bad_data: return "bad_data";
    case PacketKind::control: return "control";
    case PacketKind::other: return "other";
  }
  return "?";
}

CaptureAnalyzer::CaptureAnalyzer(AnalyzerOptions options) : options_(std::move(options)) {}

bool CaptureAnalyzer::on_port(const DecodedPacket& p) const {
  return options_.port == 0 || p.src_port == options_.port || p.dst_port == options_.port;
}

PacketReport CaptureAnalyzer::consume(std::int64_t time_us, int link_type,
                                      std::span<const std::uint8_t> frame) {
  PacketReport report;
  report.number = ++packets_;
  report.time_us = time_us;
  report.captured_length = frame.size();
  bytes_ += frame.size();
  report.packet = decode_packet(link_type, frame);
  const DecodedPacket& p = report.packet;
  if (p.ip_version == 4) ++ipv4_;
  if (p.ip_version == 6) ++ipv6_;
  if (p.transport == Transport::udp && on_port(p)) {
    consume_data(report);
  } else if (p.transport == Transport::tcp && on_port(p)) {
    consume_control(report);
  } else {
    ++other_;
  }
  check_leaks(frame, report);
  return report;
}

void CaptureAnalyzer::consume_data(PacketReport& report) {
  auto decoded = tunnel::data::decode_gre_frame(report.packet.payload);
  if (!decoded.ok()) {
    report.kind = PacketKind::bad_data;
    report.gre_error = tunnel::data::to_string(decoded.error);
    ++bad_data_;
    return;
  }
  report.kind = PacketKind::data;
  ++data_;
  if (report.packet.ip_version == 6) ++data_ipv6_;
  // wire.hpp: key = (receiver_session_id << 8) | epoch.
  report.session = decoded.frame.key >> 8;
  report.epoch = decoded.frame.key & tunnel::data::kEpochMask;
  report.sequence = decoded.frame.sequence;
  report.sealed_length = decoded.frame.sealed.size();
  Session& s = sessions_[{report.session, report.epoch}];
  if (s.info.packets == 0) {
    s.info.session = report.session;
    s.info.epoch = report.epoch;
    s.info.src = report.packet.src();
    s.info.dst = report.packet.dst();
  }
  ++s.info.packets;
  s.info.bytes += report.packet.payload.size();
  report.verdict = s.tracker.observe(report.sequence);
}

void CaptureAnalyzer::consume_control(PacketReport& report) {
  report.kind = PacketKind::control;
  ++control_;
  const DecodedPacket& p = report.packet;
  Flow& f = flows_[{p.src(), p.dst()}];
  if (f.info.segments == 0) {
    f.info.src = p.src();
    f.info.dst = p.dst();
  }
  ++f.info.segments;
  f.info.bytes += p.payload.size();
  f.stream.segment(p.tcp_seq, p.tcp_flags, p.payload, report.records);
  for (const TlsRecord& r : report.records) {
    ++f.info.records[r.content_type];
    if (r.handshake_type == 1) ++f.info.client_hellos;
    if (r.handshake_type == 2) ++f.info.server_hellos;
  }
  f.info.holes = f.stream.holes();
  f.info.resyncs = f.stream.parser().resyncs();
  f.info.in_sync = f.stream.parser().in_sync();
}

void CaptureAnalyzer::check_leaks(std::span<const std::uint8_t> frame, PacketReport& report) {
  std::string_view haystack(reinterpret_cast<const char*>(frame.data()), frame.size());
  for (const std::string& needle : options_.leak_strings) {
    if (needle.empty() || haystack.find(needle) == std::string_view::npos) continue;
    report.leaks.push_back(needle);
    LeakHit& hit = leaks_[needle];
    if (hit.packets++ == 0) {
      hit.needle = needle;
      hit.first_packet = report.number;
      const DecodedPacket& p = report.packet;
      hit.where = p.transport == Transport::udp || p.transport == Transport::tcp
                      ? std::string(to_string(p.transport)) + " " + p.src() + " -> " + p.dst()
                      : std::string(p.problem.empty() ? "non-IP frame" : p.problem);
    }
  }
}

CaptureSummary CaptureAnalyzer::summary() const {
  CaptureSummary s;
  s.packets = packets_;
  s.bytes = bytes_;
  s.data = data_;
  s.bad_data = bad_data_;
  s.control = control_;
  s.other = other_;
  s.ipv4 = ipv4_;
  s.ipv6 = ipv6_;
  s.data_ipv6 = data_ipv6_;
  for (const auto& [key, session] : sessions_) {
    SessionSummary info = session.info;
    info.gaps = session.tracker.missing();
    info.reorders = session.tracker.reorders();
    info.duplicates = session.tracker.duplicates();
    info.highest_sequence = session.tracker.highest();
    s.sessions.push_back(info);
  }
  for (const auto& [key, flow] : flows_) s.flows.push_back(flow.info);
  s.leak_checked = !options_.leak_strings.empty();
  for (const auto& [needle, hit] : leaks_) s.leaks.push_back(hit);
  std::sort(s.leaks.begin(), s.leaks.end(),
            [](const LeakHit& a, const LeakHit& b) { return a.first_packet < b.first_packet; });
  return s;
}

}  // namespace postern::tools::capture
