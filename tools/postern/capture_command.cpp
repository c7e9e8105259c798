// `postern capture`: watch the tunnel on the wire (live with libpcap, or from a .pcap file) and
// say what is there: data-channel frames per session (sequence gaps, reorders, duplicates),
// TLS records of the control channel per flow, and with --leak-check whether any given string
// (a password, a marker sent through the tunnel) appears in clear in any captured packet.
// Exit status: 0 fine, 3 a leak-check string was found, 1 the capture could not run.
// This file is only the pcap adapter and the command line; the analysis is capture/analyzer.cpp.
#include "tools/postern/capture/analyzer.hpp"
#include "tools/postern/capture/report.hpp"
#include "tools/postern/command.hpp"

#include <pcap/pcap.h>
#include <poll.h>

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace postern::tools::capture {
namespace {

constexpr int kLeakExitStatus = 3;

struct CaptureArgs {
  std::string interface;
  std::string read_file;
  std::uint16_t port = 1723;
  std::uint64_t count = 0;
  double duration_seconds = 0;
  std::vector<std::string> leak_strings;
  bool summary_only = false;
  bool json = false;
};

using PcapHandle = std::unique_ptr<pcap_t, decltype(&pcap_close)>;

// SIGINT/SIGTERM end a live capture cleanly so the summary is still printed.
volatile std::sig_atomic_t g_stop = 0;
extern "C" void stop_capture(int) { g_stop = 1; }

// Live handles are non-blocking (immediate mode ignores the read timeout on Linux): wait for
// readability here, at most a fifth of a second, so --duration and signals are noticed.
void wait_for_packets(pcap_t* p) {
  pollfd fd{pcap_get_selectable_fd(p), POLLIN, 0};
  ::poll(&fd, 1, 200);
}

PcapHandle open_offline(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) throw std::runtime_error(fmt::format("cannot read {}: {}", path, err));
  return {p, &pcap_close};
}

std::string activate_error(const std::string& ifname, int rc, pcap_t* p) {
  switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
      return fmt::format("capturing on {} needs root or CAP_NET_RAW", ifname);
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return fmt::format("there is no interface named {} (see `ip link`)", ifname);
    case PCAP_ERROR_IFACE_NOT_UP:
      return fmt::format("interface {} is down", ifname);
    default:
      return fmt::format("cannot capture on {}: {}", ifname, pcap_geterr(p));
  }
}

PcapHandle open_live(const std::string& ifname, std::uint16_t port) {
  char err[PCAP_ERRBUF_SIZE] = {};
  PcapHandle p(pcap_create(ifname.c_str(), err), &pcap_close);
  if (!p) throw std::runtime_error(fmt::format("cannot capture on {}: {}", ifname, err));
  pcap_set_snaplen(p.get(), 262144);
  pcap_set_promisc(p.get(), 0);
  pcap_set_immediate_mode(p.get(), 1);
  pcap_set_timeout(p.get(), 200);  // wake up to check --duration and signals
  if (int rc = pcap_activate(p.get()); rc < 0) throw std::runtime_error(activate_error(ifname, rc, p.get()));
  if (pcap_setnonblock(p.get(), 1, err) != 0) throw std::runtime_error(fmt::format("pcap: {}", err));
  if (port != 0) {
    std::string expr = fmt::format("udp port {} or tcp port {}", port, port);
    bpf_program program{};
    if (pcap_compile(p.get(), &program, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(p.get(), &program) != 0) {
      std::string why = pcap_geterr(p.get());
      pcap_freecode(&program);
      throw std::runtime_error(fmt::format("cannot set filter \"{}\": {}", expr, why));
    }
    pcap_freecode(&program);
  }
  return p;
}

class Printer {
 public:
  explicit Printer(const CaptureArgs& args) : args_(args) {
    if (args_.json) std::fputs("{\"packets\":[", stdout);
  }
  void packet(const PacketReport& r) {
    if (args_.summary_only) return;
    if (args_.json) {
      std::printf("%s%s", first_ ? "\n" : ",\n", json_packet(r).c_str());
    } else {
      std::puts(format_packet_line(r).c_str());
    }
    first_ = false;
  }
  void finish(const CaptureSummary& s) {
    if (args_.json) {
      std::printf("],\n\"summary\":%s}\n", json_summary(s).c_str());
      if (s.leak_checked) std::fputs(format_leak_verdict(s).c_str(), stderr);
      return;
    }
    std::fputs(format_summary_text(s).c_str(), stdout);
    if (s.leak_checked) std::fputs(format_leak_verdict(s).c_str(), s.leaks.empty() ? stdout : stderr);
  }

 private:
  const CaptureArgs& args_;
  bool first_ = true;
};

int run_capture(const CaptureArgs& args) {
  bool live = !args.interface.empty();
  PcapHandle handle = live ? open_live(args.interface, args.port) : open_offline(args.read_file);
  if (live) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::signal(SIGINT, stop_capture);
    std::signal(SIGTERM, stop_capture);
  }
  int link_type = pcap_datalink(handle.get());
  CaptureAnalyzer analyzer({args.port, args.leak_strings});
  Printer printer(args);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<std::int64_t>(args.duration_seconds * 1000));
  std::uint64_t seen = 0;
  for (;;) {
    if (args.count != 0 && seen >= args.count) break;
    if (live && args.duration_seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
    if (g_stop != 0) break;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(handle.get(), &header, &data);
    if (rc == 0) {  // live: nothing buffered
      wait_for_packets(handle.get());
      continue;
    }
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc < 0) throw std::runtime_error(fmt::format("capture failed: {}", pcap_geterr(handle.get())));
    ++seen;
    std::int64_t time_us = static_cast<std::int64_t>(header->ts.tv_sec) * 1000000 + header->ts.tv_usec;
    printer.packet(analyzer.consume(time_us, link_type, {data, header->caplen}));
  }
  CaptureSummary summary = analyzer.summary();
  printer.finish(summary);
  return summary.leaks.empty() ? 0 : kLeakExitStatus;
}

void register_capture(CLI::App& app) {
  auto args = std::make_shared<CaptureArgs>();
  CLI::App* cmd = app.add_subcommand(
      "capture", "Decode the tunnel on the wire (data-channel sessions, control-channel TLS) and check for leaks");
  auto* iface = cmd->add_option("-i,--interface", args->interface, "capture live on this interface (root)");
  auto* read = cmd->add_option("-r,--read", args->read_file, "read packets from a pcap file")->check(CLI::ExistingFile);
  iface->excludes(read);
  cmd->add_option("--port", args->port, "UDP/TCP port of the tunnel (default 1723; 0 = every port)");
  cmd->add_option("-c,--count", args->count, "stop after N packets");
  cmd->add_option("--duration", args->duration_seconds, "stop after S seconds (live)")->check(CLI::PositiveNumber);
  cmd->add_option("--leak-check", args->leak_strings,
                  "exit 3 if any of these strings appears in any captured packet")
      ->expected(1, -1);
  cmd->add_flag("--summary-only", args->summary_only, "print only the summary");
  cmd->add_flag("--json", args->json, "machine-readable output: {\"packets\":[...],\"summary\":{...}}");
  cmd->callback([args] {
    if (args->interface.empty() && args->read_file.empty()) {
      throw CLI::RequiredError("--interface or --read");
    }
    cli::set_exit_status(run_capture(*args));
  });
}

}  // namespace
}  // namespace postern::tools::capture

POSTERN_REGISTER_COMMAND(70, postern::tools::capture::register_capture);
