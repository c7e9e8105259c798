// TransportMonitor (the client's UDP / TLS-fallback decision), with a simulated
// clock: no sockets, no threads.
#include "tunnel/daemon/transport_monitor.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace postern::tunnel::daemon {
namespace {

using namespace std::chrono_literals;
using TimePoint = TransportMonitor::TimePoint;

// Drives a monitor tick by tick; `udp_works` decides whether each UDP probe is answered (the
// reply lands 10 ms after the probe, before the next tick).
struct Sim {
  TimePoint now{std::chrono::seconds(1000)};
  TransportMonitor monitor{TransportTimers{1000ms, 3000ms, 10'000ms}, now};
  std::optional<TimePoint> last_udp_rx, last_reply;
  bool udp_works = true;
  bool sending = false;
  bool server_sends = false;  // the server's data keeps arriving over UDP (a download)
  int lose_replies = 0;       // the replies to this many next probes are lost (a saturated path)
  int probes = 0, tls_keepalives = 0;
  std::vector<Transport> switches;

  Sim() {
    if (udp_works) answer();  // the echo sent when the session came up
  }
  void answer() { last_udp_rx = last_reply = now + 10ms; }
  void run(std::chrono::milliseconds d) {
    for (auto end = now + d; now < end;) {
      now += monitor.tick_interval();
      auto decision = monitor.tick(now, last_udp_rx, last_reply, sending);
      if (decision.switch_to) {
        EXPECT_FALSE(decision.reason.empty());
        switches.push_back(*decision.switch_to);
      }
      if (decision.probe_udp) {
        ++probes;
        if (lose_replies > 0) {
          --lose_replies;
        } else if (udp_works) {
          answer();
        }
      }
      if (decision.keepalive_tls) ++tls_keepalives;
      if ((sending || server_sends) && udp_works) last_udp_rx = now;  // the peer's traffic comes back over UDP
    }
  }
};

TEST(TransportMonitor, StaysOnUdpWhenEchoesAreAnswered) {
  Sim sim;
  sim.run(60s);
  EXPECT_TRUE(sim.switches.empty());
  EXPECT_EQ(sim.monitor.transport(), Transport::udp);
  EXPECT_GE(sim.probes, 4);   // keepalive probes while idle...
  EXPECT_LE(sim.probes, 12);  // ...but not one per tick
}

TEST(TransportMonitor, FallsBackWhenUdpIsBlockedFromTheStart) {
  Sim sim;
  sim.udp_works = false;
  sim.last_udp_rx.reset();
  sim.last_reply.reset();
  sim.run(2500ms);
  EXPECT_EQ(sim.monitor.transport(), Transport::udp);  // not yet: a few seconds of grace
  sim.run(1000ms);
  EXPECT_EQ(sim.monitor.transport(), Transport::tls);
  ASSERT_EQ(sim.switches.size(), 1u);
}

TEST(TransportMonitor, FallsBackDuringTrafficAndReturnsWhenUdpIsAnsweredAgain) {
  Sim sim;
  sim.sending = true;
  sim.run(5s);
  EXPECT_EQ(sim.monitor.transport(), Transport::udp);
  sim.udp_works = false;
  sim.run(5s);
  EXPECT_EQ(sim.monitor.transport(), Transport::tls);
  int probes_before = sim.probes;
  sim.run(20s);
  EXPECT_EQ(sim.monitor.transport(), Transport::tls);
  EXPECT_GE(sim.probes - probes_before, 15);  // keeps probing UDP about once a second
  EXPECT_GE(sim.tls_keepalives, 1);           // and keeps the session alive inside TLS
  sim.udp_works = true;
  sim.run(2s);
  EXPECT_EQ(sim.monitor.transport(), Transport::udp);
  EXPECT_EQ(sim.switches, (std::vector<Transport>{Transport::tls, Transport::udp}));
}

TEST(TransportMonitor, UdpFromTheServerWithoutEchoRepliesDoesNotCountAsAnswered) {
  Sim sim;
  sim.run(3s);
  sim.udp_works = false;
  sim.sending = true;
  // The server still sends over UDP (one-way path): data arrives, echo replies do not.
  for (int i = 0; i < 40; ++i) {
    sim.last_udp_rx = sim.now;
    sim.run(500ms);
  }
  EXPECT_EQ(sim.monitor.transport(), Transport::tls);
  EXPECT_EQ(sim.switches.size(), 1u);  // and it does not flap back
}

TEST(TransportMonitor, OneLostReplyDoesNotCauseAFallback) {
  Sim sim;
  sim.run(9800ms);
  sim.udp_works = false;  // the idle keepalive probe at ~10 s is lost...
  sim.run(1000ms);
  sim.udp_works = true;   // ...the next one is answered
  sim.run(10s);
  EXPECT_TRUE(sim.switches.empty());
}

// The CI case: during a download the one probe of a keepalive period loses its reply on the
// saturated path, and the laptop then only receives. UDP data keeps arriving, so no silence
// triggers a probe; the unanswered one must still be followed by more before any fallback.
TEST(TransportMonitor, OneLostReplyDuringADownloadDoesNotCauseAFallback) {
  Sim sim;
  sim.sending = true;
  sim.server_sends = true;
  sim.run(12s);
  sim.lose_replies = 1;
  for (int i = 0; i < 40 && sim.lose_replies > 0; ++i) sim.run(500ms);  // the keepalive-period probe
  ASSERT_EQ(sim.lose_replies, 0);
  sim.sending = false;  // right after it, only the download (UDP streaming)
  sim.run(10s);
  EXPECT_TRUE(sim.switches.empty());
  EXPECT_EQ(sim.monitor.transport(), Transport::udp);
}

// Rows: how many probes in a row lose their reply on a path that otherwise works (data both
// ways), and whether that is a fallback (fallback_probes = 3 and fallback_after = 3 s).
TEST(TransportMonitor, FallbackNeedsConsecutiveMisses) {
  struct Row {
    int lost;
    bool falls_back;
  };
  for (Row row : {Row{1, false}, Row{2, false}, Row{3, true}, Row{5, true}}) {
    Sim sim;
    sim.sending = true;
    sim.server_sends = true;
    sim.run(12s);
    sim.lose_replies = row.lost;
    sim.run(20s);
    if (row.falls_back) {
      ASSERT_FALSE(sim.switches.empty()) << row.lost;
      EXPECT_EQ(sim.switches.front(), Transport::tls) << row.lost;
    } else {
      EXPECT_TRUE(sim.switches.empty()) << row.lost;
    }
  }
}

}  // namespace
}  // namespace postern::tunnel::daemon
