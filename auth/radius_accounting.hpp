// RADIUS accounting of tunnel sessions (RFC 2866): Start when a session comes up,
// Interim-Update every interim_interval while it runs, Stop when it ends, each with the
// session's octets (+ Gigawords, RFC 2869 5.1/5.2) and packets, Acct-Session-Time,
// Framed-IP-Address, Calling-Station-Id (the client's outer address) and the Access-Accept's
// Class. The Acct-Session-Id is the daemon's, fixed for the session's life, so a client that
// roams (new UDP address, same control connection) stays one accounting session. The client's
// own id (IPCP accounting_session, kept across its reconnects and servers) is sent as
// Acct-Multi-Session-Id (RFC 2866 5.11), linking the sessions of one client run.
// The daemon itself is the NAS: the first record queued is an Accounting-On (it started, so
// every session the RADIUS side still holds open for this NAS-Identifier is over: the way a
// server that died by kill -9 or power loss gets its sessions closed), and finish() queues an
// Accounting-Off after the last Stop of an orderly shutdown. Both carry the daemon run's own
// Acct-Session-Id.
// Sending happens on one thread of its own, started by start() (after the privilege drop: the
// daemon builds this object while still single-threaded), from a bounded queue (1024 records;
// beyond it a record is dropped and logged), so the I/O thread never waits for a RADIUS server;
// a record that no server acknowledges after the transport's tries is logged as lost.
#pragma once

#include "auth/radius_transport.hpp"
#include "common/config.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace postern::auth {

struct AccountingRecord {
  std::string session_id;        // Acct-Session-Id: this server's, one per connection
  std::string multi_session_id;  // Acct-Multi-Session-Id: the client's, across reconnects; may be empty
  std::string user;
  std::uint32_t framed_ip = 0;    // host byte order
  std::string calling_station;    // outer address of the client
  std::uint64_t input_octets = 0;   // from the client (what the server received)
  std::uint64_t output_octets = 0;  // to the client
  std::uint64_t input_packets = 0;
  std::uint64_t output_packets = 0;
  std::uint32_t session_time = 0;   // seconds since Start
  std::vector<std::vector<std::uint8_t>> radius_class;
};

// The attributes of one Accounting-Request (sans-I/O; table-tested). For Accounting-On/Off
// only Acct-Status-Type, Acct-Session-Id (record.session_id), NAS-Identifier and
// Acct-Delay-Time: they are about the NAS, not a user's session.
std::vector<radius::Attribute> accounting_attributes(radius::AcctStatus status, const AccountingRecord& record,
                                                     std::string_view nas_identifier,
                                                     std::optional<radius::TerminateCause> cause,
                                                     std::uint32_t delay_seconds);

class RadiusAccounting {
 public:
  static constexpr std::size_t kMaxQueued = 1024;

  // Queues the Accounting-On, with `nas_session_id` (this daemon run's Acct-Session-Id).
  RadiusAccounting(const config::RadiusConfig& config, SecretBytes secret, std::string nas_session_id);
  // Once started: sends what is queued (each within the transport's limits), then stops. Never
  // started (the daemon failed before it was ready): sends nothing.
  ~RadiusAccounting();
  RadiusAccounting(const RadiusAccounting&) = delete;
  RadiusAccounting& operator=(const RadiusAccounting&) = delete;

  std::chrono::milliseconds interim_interval() const { return config_.interim_interval; }  // 0: none

  void start();   // starts the sending thread; what was queued before goes first
  void finish();  // queues the Accounting-Off: call after the sessions' Stops are queued

  void submit(radius::AcctStatus status, AccountingRecord record,
              std::optional<radius::TerminateCause> cause = std::nullopt);

 private:
  struct Job {
    radius::AcctStatus status;
    AccountingRecord record;
    std::optional<radius::TerminateCause> cause;
    std::chrono::steady_clock::time_point queued;
  };
  void run();
  void send(const Job& job);

  config::RadiusConfig config_;
  SecretBytes secret_;
  std::string nas_session_id_;
  radius::Transport transport_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

std::string_view to_string(radius::AcctStatus status);  // "Start", "Stop", "Interim-Update", "Accounting-On", ...

}  // namespace postern::auth
