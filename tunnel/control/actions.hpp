// The actions a negotiator asks its daemon adapter to perform. The negotiators never do I/O:
// after every call (feed, on_timer, on_password_verified, send_data_frame, terminate) the
// adapter drains take_actions() and performs them IN ORDER:
//   SendBytes      write the bytes to the TLS stream (order matters; never reorder or drop).
//   VerifyPassword (server only) run the password check off-thread (scrypt), then call
//                  on_password_verified(ok, now) on the negotiator's executor.
//   Established    configure TUN/routes/data channel from the parameters; start the data plane.
//   DataFrame      a data-channel frame that arrived inside TLS (UDP fallback): hand it to the
//                  data plane as if it came from UDP.
//   Closed         flush pending SendBytes, close TLS (close_notify), release the session.
//                  Always the last action; the negotiator ignores all input afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "common/secret.hpp"
#include "tunnel/control/tunnel_parameters.hpp"

namespace postern::tunnel::control {

using Clock = std::chrono::steady_clock;  // cores take time as an argument, never read it
using TimePoint = Clock::time_point;

struct SendBytes {
  std::vector<std::uint8_t> bytes;
};
struct VerifyPassword {
  std::string user;
  SecretBytes password;
};
struct Established {
  TunnelParameters params;
};
struct DataFrame {
  std::vector<std::uint8_t> bytes;
};
struct Closed {
  std::string reason;     // operator-readable, safe to log
  std::error_code error;  // empty: clean local terminate(); else an errc (see control_errc.hpp)
};

using Action = std::variant<SendBytes, VerifyPassword, Established, DataFrame, Closed>;

}  // namespace postern::tunnel::control
