// The client's choice of data-channel transport (UDP, or the TLS fallback; see transport.hpp),
// as a sans-I/O decision machine: the client daemon calls tick() every tick_interval() with the
// times of the last authenticated UDP datagram and of the last LCP echo reply that came over UDP,
// and whether it sent data since the previous tick; the Decision says which LCP echoes to send
// and whether to switch. Only an echo reply proves the path both ways (a server that still
// sends over UDP says nothing about our direction), so only replies answer probes.
//   UDP: probes (LCP echo over UDP) when UDP has been silent for probe_interval while we send,
//        or for keepalive while idle, and every keepalive during a transfer (one-way filters).
//        Once a probe is unanswered, probes follow every probe_interval whatever the traffic, and
//        we move to TLS only when fallback_probes probes in a row stayed unanswered AND the first
//        of them is fallback_after old (the "no data-channel reply within a few seconds" rule:
//        hotel firewalls that drop UDP). So one reply lost on a saturated path is not a
//        fallback: the next probe's reply clears it.
//   TLS: keeps probing UDP every probe_interval and goes back to UDP as soon as one of those
//        probes is answered over UDP; keepalive echoes travel inside TLS so the server's idle
//        timer sees the session alive.
// Contract: no clock, no I/O; one thread (the client's io_context).
#pragma once

#include "tunnel/forward/transport.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace postern::tunnel::daemon {

using forward::Transport;

struct TransportTimers {
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds fallback_after{3000};  // [client] fallback_after
  std::chrono::milliseconds keepalive{10'000};
  unsigned fallback_probes = 3;  // consecutive unanswered UDP probes before a fallback
};

class TransportMonitor {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Decision {
    bool probe_udp = false;      // send an LCP echo request over UDP
    bool keepalive_tls = false;  // send an LCP echo request inside TLS
    std::optional<Transport> switch_to;
    std::string_view reason;     // why we switched (for the log), empty otherwise
  };

  // `now`: the session came up and its first UDP echo was sent.
  TransportMonitor(TransportTimers timers, TimePoint now);

  Decision tick(TimePoint now, std::optional<TimePoint> last_udp_rx, std::optional<TimePoint> last_udp_echo_reply,
                bool sending);

  Transport transport() const { return transport_; }
  std::chrono::milliseconds tick_interval() const { return timers_.probe_interval / 2; }

 private:
  static bool answered_since(std::optional<TimePoint> reply, TimePoint since) { return reply && *reply >= since; }

  TransportTimers timers_;
  Transport transport_ = Transport::udp;
  TimePoint started_;
  TimePoint last_probe_;
  std::optional<TimePoint> unanswered_since_;  // oldest UDP probe not yet followed by a UDP echo reply
  unsigned unanswered_probes_ = 0;             // probes sent since then, that one included
  std::optional<TimePoint> first_tls_probe_;   // first probe sent after switching to TLS
  TimePoint last_tls_keepalive_{};
};

}  // namespace postern::tunnel::daemon
