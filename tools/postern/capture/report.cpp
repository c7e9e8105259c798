// Capture report formatting; see report.hpp for the contract.
#include "tools/postern/capture/report.hpp"

#include <fmt/format.h>

#include <ctime>

namespace postern::tools::capture {
namespace {

std::string clock_time(std::int64_t time_us) {
  std::time_t seconds = static_cast<std::time_t>(time_us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", tm.tm_hour, tm.tm_min, tm.tm_sec, time_us % 1000000);
}

std::string records_text(const std::vector<TlsRecord>& records) {
  std::string out;
  for (const TlsRecord& r : records) {
    out += ' ';
    out += r.handshake_type >= 0 ? std::string(handshake_name(r.handshake_type))
                                 : std::string(content_type_name(r.content_type));
    out += fmt::format("({})", r.length);
  }
  return out;
}

std::string flow_records_text(const FlowSummary& f) {
  std::string out;
  for (const auto& [type, count] : f.records) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", content_type_name(type), count);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string json_escape(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\u{:04x}", u);  // bytes above 0x7f as code points: lossless enough
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string format_packet_line(const PacketReport& r) {
  const DecodedPacket& p = r.packet;
  std::string head = fmt::format("{} #{}", clock_time(r.time_us), r.number);
  if (p.transport != Transport::udp && p.transport != Transport::tcp) {
    const std::string addresses =
        p.ip_version != 0 ? fmt::format(" {} -> {} proto={}", p.src_ip, p.dst_ip, p.protocol) : std::string();
    return fmt::format("{} other {}{} len={}", head, p.problem.empty() ? to_string(p.transport) : p.problem,
                       addresses, r.captured_length);
  }
  head += fmt::format(" {} -> {}", p.src(), p.dst());
  switch (r.kind) {
    case PacketKind::data:
      return fmt::format("{} data session=0x{:06x} epoch={} seq={} len={}{}", head, r.session, r.epoch,
                         r.sequence, r.sealed_length,
                         r.verdict == SeqVerdict::in_order || r.verdict == SeqVerdict::first
                             ? ""
                             : fmt::format(" [{}]", to_string(r.verdict)));
    case PacketKind::bad_data:
      return fmt::format("{} udp not-a-data-frame ({}) len={}", head, r.gre_error, p.payload.size());
    case PacketKind::control:
      return fmt::format("{} control tcp len={}{}", head, p.payload.size(), records_text(r.records));
    case PacketKind::other:
      break;
  }
  return fmt::format("{} other {} len={}", head, to_string(p.transport), p.payload.size());
}

std::string format_summary_text(const CaptureSummary& s) {
  std::string out = fmt::format(
      "summary: {} packets, {} bytes: {} data, {} control, {} other, {} malformed data\n", s.packets,
      s.bytes, s.data, s.control, s.other, s.bad_data);
  out += fmt::format("outer ip: {} IPv4, {} IPv6 ({} data frames over IPv6)\n", s.ipv4, s.ipv6, s.data_ipv6);
  out += fmt::format("data sessions: {}\n", s.sessions.size());
  for (const SessionSummary& d : s.sessions) {
    out += fmt::format(
        "  session 0x{:06x} epoch {} {} -> {}: packets {} bytes {} gaps {} reorders {} duplicates {}\n",
        d.session, d.epoch, d.src, d.dst, d.packets, d.bytes, d.gaps, d.reorders, d.duplicates);
  }
  out += fmt::format("control flows: {}\n", s.flows.size());
  for (const FlowSummary& f : s.flows) {
    out += fmt::format("  {} -> {}: segments {} bytes {} records: {}", f.src, f.dst, f.segments, f.bytes,
                       flow_records_text(f));
    if (f.client_hellos > 0) out += fmt::format("; ClientHello {}", f.client_hellos);
    if (f.server_hellos > 0) out += fmt::format("; ServerHello {}", f.server_hellos);
    if (f.holes > 0) out += fmt::format("; capture holes {}", f.holes);
    if (!f.in_sync || f.resyncs > 0) out += f.in_sync ? "; resynchronised" : "; NOT TLS or out of sync";
    out += "\n";
  }
  return out;
}

std::string format_leak_verdict(const CaptureSummary& s) {
  if (s.leaks.empty()) {
    return fmt::format("no leak: {} packets, {} bytes checked\n", s.packets, s.bytes);
  }
  std::string out;
  for (const LeakHit& h : s.leaks) {
    out += fmt::format("LEAK: \"{}\" found in packet {} ({}); {} packet(s) contain it\n", h.needle,
                       h.first_packet, h.where, h.packets);
  }
  return out;
}

std::string json_packet(const PacketReport& r) {
  const DecodedPacket& p = r.packet;
  std::string out = fmt::format("{{\"number\":{},\"time_us\":{},\"length\":{},\"kind\":\"{}\",\"transport\":\"{}\"",
                                r.number, r.time_us, r.captured_length, to_string(r.kind), to_string(p.transport));
  if (p.ip_version != 0) out += fmt::format(",\"ip\":{},\"protocol\":{}", p.ip_version, p.protocol);
  if (p.transport == Transport::udp || p.transport == Transport::tcp) {
    out += fmt::format(",\"src\":{},\"dst\":{}", json_escape(p.src()), json_escape(p.dst()));
  } else if (p.ip_version != 0) {
    out += fmt::format(",\"src\":{},\"dst\":{}", json_escape(p.src_ip), json_escape(p.dst_ip));
  }
  if (r.kind == PacketKind::data) {
    out += fmt::format(",\"session\":{},\"epoch\":{},\"seq\":{},\"sealed_length\":{},\"verdict\":\"{}\"",
                       r.session, r.epoch, r.sequence, r.sealed_length, to_string(r.verdict));
  } else if (r.kind == PacketKind::bad_data) {
    out += fmt::format(",\"gre_error\":\"{}\"", r.gre_error);
  } else if (r.kind == PacketKind::control) {
    out += ",\"records\":[";
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      const TlsRecord& rec = r.records[i];
      out += fmt::format("{}{{\"type\":\"{}\",\"length\":{}{}}}", i ? "," : "", content_type_name(rec.content_type),
                         rec.length,
                         rec.handshake_type >= 0 ? fmt::format(",\"handshake\":\"{}\"", handshake_name(rec.handshake_type)) : "");
    }
    out += "]";
  }
  if (!r.leaks.empty()) {
    out += ",\"leaks\":[";
    for (std::size_t i = 0; i < r.leaks.size(); ++i) out += (i ? "," : "") + json_escape(r.leaks[i]);
    out += "]";
  }
  return out + "}";
}

std::string json_summary(const CaptureSummary& s) {
  std::string out = fmt::format(
      "{{\"packets\":{},\"bytes\":{},\"data\":{},\"control\":{},\"other\":{},\"bad_data\":{},\"ipv4\":{},"
      "\"ipv6\":{},\"data_ipv6\":{},\"sessions\":[",
      s.packets, s.bytes, s.data, s.control, s.other, s.bad_data, s.ipv4, s.ipv6, s.data_ipv6);
  for (std::size_t i = 0; i < s.sessions.size(); ++i) {
    const SessionSummary& d = s.sessions[i];
    out += fmt::format(
        "{}{{\"session\":{},\"epoch\":{},\"src\":{},\"dst\":{},\"packets\":{},\"bytes\":{},\"gaps\":{},"
        "\"reorders\":{},\"duplicates\":{},\"highest_seq\":{}}}",
        i ? "," : "", d.session, d.epoch, json_escape(d.src), json_escape(d.dst), d.packets, d.bytes, d.gaps,
        d.reorders, d.duplicates, d.highest_sequence);
  }
  out += "],\"flows\":[";
  for (std::size_t i = 0; i < s.flows.size(); ++i) {
    const FlowSummary& f = s.flows[i];
    std::string records;
    for (const auto& [type, count] : f.records) {
      records += fmt::format("{}\"{}\":{}", records.empty() ? "" : ",", content_type_name(type), count);
    }
    out += fmt::format(
        "{}{{\"src\":{},\"dst\":{},\"segments\":{},\"bytes\":{},\"records\":{{{}}},\"client_hello\":{},"
        "\"server_hello\":{},\"holes\":{},\"in_sync\":{}}}",
        i ? "," : "", json_escape(f.src), json_escape(f.dst), f.segments, f.bytes, records, f.client_hellos,
        f.server_hellos, f.holes, f.in_sync ? "true" : "false");
  }
  out += fmt::format("],\"leak_check\":{{\"checked\":{},\"leaks\":[", s.leak_checked ? "true" : "false");
  for (std::size_t i = 0; i < s.leaks.size(); ++i) {
    const LeakHit& h = s.leaks[i];
    out += fmt::format("{}{{\"string\":{},\"first_packet\":{},\"where\":{},\"packets\":{}}}", i ? "," : "",
                       json_escape(h.needle), h.first_packet, json_escape(h.where), h.packets);
  }
  return out + "]}}";
}

}  // namespace postern::tools::capture
