// The client's UDP / TLS-fallback decision (see transport_monitor.hpp).
#include "tunnel/daemon/transport_monitor.hpp"

#include <algorithm>

namespace postern::tunnel::daemon {

TransportMonitor::TransportMonitor(TransportTimers timers, TimePoint now)
    : timers_(timers), started_(now), last_probe_(now), unanswered_since_(now), unanswered_probes_(1),
      last_tls_keepalive_(now) {}

TransportMonitor::Decision TransportMonitor::tick(TimePoint now, std::optional<TimePoint> last_udp_rx,
                                                 std::optional<TimePoint> last_udp_echo_reply, bool sending) {
  Decision d;
  if (unanswered_since_ && answered_since(last_udp_echo_reply, *unanswered_since_)) {
    unanswered_since_.reset();
    unanswered_probes_ = 0;
  }

  if (transport_ == Transport::udp) {
    if (unanswered_since_ && now - *unanswered_since_ >= timers_.fallback_after &&
        unanswered_probes_ >= timers_.fallback_probes) {
      transport_ = Transport::tls;
      first_tls_probe_.reset();
      last_tls_keepalive_ = now;
      d.switch_to = Transport::tls;
      d.reason = "no authenticated UDP reply to echo requests";
    }
  } else if (first_tls_probe_ && answered_since(last_udp_echo_reply, *first_tls_probe_)) {
    transport_ = Transport::udp;
    unanswered_since_.reset();
    unanswered_probes_ = 0;
    d.switch_to = Transport::udp;
    d.reason = "UDP echo answered";
  }

  TimePoint heard = last_udp_rx ? std::max(*last_udp_rx, started_) : started_;
  auto silent = now - heard;
  bool probe_due = now - last_probe_ >= timers_.probe_interval;
  if (transport_ == Transport::tls) {
    d.probe_udp = probe_due || (d.switch_to && !first_tls_probe_);
  } else {
    // While we send: probe when the server went quiet, and once per keepalive anyway, because
    // its traffic reaching us says nothing about ours reaching it (one-way UDP filters).
    // An unanswered probe is followed by the next one every probe_interval, so a fallback
    // always rests on fallback_probes misses in a row, never on one lost reply.
    bool unproven = !last_udp_echo_reply || now - *last_udp_echo_reply >= timers_.keepalive;
    d.probe_udp = probe_due && (unanswered_since_ || silent >= timers_.keepalive ||
                                (sending && (silent >= timers_.probe_interval || unproven)));
  }
  if (d.probe_udp) {
    last_probe_ = now;
    if (!unanswered_since_) unanswered_since_ = now;
    ++unanswered_probes_;
    if (transport_ == Transport::tls && !first_tls_probe_) first_tls_probe_ = now;
  }
  if (transport_ == Transport::tls && now - last_tls_keepalive_ >= timers_.keepalive) {
    d.keepalive_tls = true;
    last_tls_keepalive_ = now;
  }
  return d;
}

}  // namespace postern::tunnel::daemon
