// The demo's wire tap (see wire_capture.hpp). The child: setns(2) into the namespace,
// pcap_create/activate in immediate mode, report "ok" or the error on a pipe, then dump packets
// until SIGTERM. Frames are classified with the `postern capture` decoders (packet_decode.hpp)
// and the data channel's own GRE decoder, so the demo and `postern capture` agree.
#include "tools/postern/demo/wire_capture.hpp"

#include "tools/postern/capture/packet_decode.hpp"
#include "tools/postern/demo/process.hpp"
#include "tunnel/data/gre_frame.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <span>
#include <stdexcept>
#include <string_view>

namespace postern::cli::demo {
namespace {

volatile std::sig_atomic_t g_stop_capture = 0;
extern "C" void on_stop_capture(int) { g_stop_capture = 1; }

void report(int fd, std::string_view text) {
  [[maybe_unused]] auto n = ::write(fd, text.data(), text.size());
}

// Opens the live capture inside the namespace; nullptr and `error` set on failure.
pcap_t* open_in_namespace(const std::string& ns, const std::string& ifname, std::string& error) {
  int ns_fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0 || ::setns(ns_fd, CLONE_NEWNET) != 0) {
    error = "cannot enter network namespace " + ns;
    return nullptr;
  }
  ::close(ns_fd);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(ifname.c_str(), errbuf);
  if (!p) {
    error = errbuf;
    return nullptr;
  }
  pcap_set_snaplen(p, 65535);
  pcap_set_promisc(p, 0);
  pcap_set_immediate_mode(p, 1);  // every packet written at once: nothing lost at SIGTERM
  pcap_set_timeout(p, 100);
  if (pcap_activate(p) < 0) {
    error = std::string("pcap_activate(") + ifname + "): " + pcap_geterr(p);
    pcap_close(p);
    return nullptr;
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    error = errbuf;
    pcap_close(p);
    return nullptr;
  }
  return p;
}

[[noreturn]] void capture_child(const std::string& ns, const std::string& ifname,
                                const std::filesystem::path& file, int ready_fd) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_capture;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  std::string error;
  pcap_t* p = open_in_namespace(ns, ifname, error);
  pcap_dumper_t* dumper = p ? pcap_dump_open(p, file.c_str()) : nullptr;
  if (p && !dumper) error = std::string("cannot write ") + file.string() + ": " + pcap_geterr(p);
  if (!dumper) {
    report(ready_fd, error);
    ::_exit(1);
  }
  report(ready_fd, "ok");
  ::close(ready_fd);
  pollfd pfd{pcap_get_selectable_fd(p), POLLIN, 0};
  while (!g_stop_capture) {
    ::poll(&pfd, 1, 100);
    while (pcap_dispatch(p, -1, pcap_dump, reinterpret_cast<u_char*>(dumper)) > 0) {
    }
  }
  pcap_dispatch(p, -1, pcap_dump, reinterpret_cast<u_char*>(dumper));  // what arrived meanwhile
  pcap_dump_close(dumper);
  pcap_close(p);
  ::_exit(0);
}

void count_needles(std::span<const std::uint8_t> frame, std::size_t index, const std::vector<std::string>& needles,
                   CaptureReport& out) {
  std::string_view bytes(reinterpret_cast<const char*>(frame.data()), frame.size());
  for (const auto& needle : needles) {
    if (needle.empty() || bytes.find(needle) == std::string_view::npos) continue;
    auto it = std::find_if(out.leaks.begin(), out.leaks.end(), [&](const auto& l) { return l.needle == needle; });
    if (it == out.leaks.end()) {
      out.leaks.push_back({needle, index, 1});
    } else {
      ++it->count;
    }
  }
}

void classify(int link_type, std::span<const std::uint8_t> frame, std::uint16_t port, CaptureReport& out) {
  using tools::capture::Transport;
  auto pkt = tools::capture::decode_packet(link_type, frame);
  bool on_port = pkt.src_port == port || pkt.dst_port == port;
  if (pkt.transport == Transport::udp && on_port &&
      tunnel::data::decode_gre_frame(pkt.payload).error == tunnel::data::GreError::ok) {
    ++out.gre_in_udp;
  } else if (pkt.transport == Transport::tcp && on_port) {
    ++out.tls_tcp;
  } else if (pkt.transport == Transport::none || pkt.transport == Transport::other_ip) {
    ++out.housekeeping;
  } else {
    ++out.other;
    if (out.other_examples.size() < 3) {
      out.other_examples.push_back(std::string(to_string(pkt.transport)) + " " + pkt.src() + " -> " + pkt.dst());
    }
  }
}

}  // namespace

WireCapture::~WireCapture() {
  if (pid_ > 0) stop_process(pid_, std::chrono::seconds(2));
}

void WireCapture::start(const std::string& ns, const std::string& ifname, const std::filesystem::path& file) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("cannot create a pipe");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("cannot fork the capture");
  if (pid == 0) {
    ::close(fds[0]);
    capture_child(ns, ifname, file, fds[1]);
  }
  ::close(fds[1]);
  pid_ = pid;
  std::string answer;
  char buf[512];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;  // EINTR (Ctrl-C) or no word in 5 s: treated as failure
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (answer != "ok") {
    stop_process(pid_, std::chrono::milliseconds(200));
    pid_ = -1;
    throw std::runtime_error("capture on " + ifname + " did not start: " +
                             (answer.empty() ? std::string("no answer from the capture process") : answer));
  }
}

void WireCapture::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int raw = 0;
  pid_t r = -1;
  for (int i = 0; i < 60 && (r = ::waitpid(pid_, &raw, WNOHANG)) == 0; ++i) sleep_for(std::chrono::milliseconds(50));
  if (r == 0) stop_process(pid_, std::chrono::milliseconds(0));
  pid_ = -1;
  if (r != 0 && !(WIFEXITED(raw) && WEXITSTATUS(raw) == 0)) throw std::runtime_error("the capture process failed");
}

CaptureReport analyze_capture(const std::filesystem::path& file, std::uint16_t tunnel_port,
                              const std::vector<std::string>& needles) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(file.c_str(), errbuf);
  if (!p) throw std::runtime_error("cannot read " + file.string() + ": " + errbuf);
  CaptureReport out;
  int link_type = pcap_datalink(p);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &header, &data) == 1) {
    std::span<const std::uint8_t> frame(data, header->caplen);
    ++out.packets;
    classify(link_type, frame, tunnel_port, out);
    count_needles(frame, out.packets, needles, out);
  }
  pcap_close(p);
  return out;
}

}  // namespace postern::cli::demo
