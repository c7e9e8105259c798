// Text and JSON renderings of `postern capture` results: one line per packet, a per-session and
// per-flow summary, the leak verdict. Contract: pure formatting, no I/O; JSON output is valid
// JSON (strings escaped), and the text lines are stable enough to grep in tests.
#pragma once

#include "tools/postern/capture/analyzer.hpp"

#include <string>

namespace postern::tools::capture {

// "20:41:07.512345 10.0.0.1:40000 -> 10.0.0.2:1723 data session=0x000123 epoch=1 seq=5 len=100"
std::string format_packet_line(const PacketReport& report);
// Multi-line human summary (ends with a newline); does not include the leak verdict.
std::string format_summary_text(const CaptureSummary& summary);
// "no leak: N packets, M bytes checked" or one "LEAK: ..." line per string found.
std::string format_leak_verdict(const CaptureSummary& summary);

std::string json_packet(const PacketReport& report);
std::string json_summary(const CaptureSummary& summary);
std::string json_escape(std::string_view text);

}  // namespace postern::tools::capture
