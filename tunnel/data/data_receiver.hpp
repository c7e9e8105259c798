// The receiving half of one session's data channel: keys of the peer->local direction for the
// previous, current and next epoch (chosen by the low 8 bits of the GRE key), one replay window
// for the whole direction (the counter continues across epochs), and a counter per drop reason.
// open() authenticates and decrypts a datagram in place and returns the inner packet.
//
// Epochs: the control layer installs current + 1 as `next` as soon as current changes; a packet
// that authenticates under next promotes it. A receiver that missed every packet of next (the
// sender has moved on to next + 1 or later) would otherwise drop everything from then on:
// a packet naming a later epoch (up to kMaxEpochLead ahead) sets a hint, wanted_epoch() asks
// for that epoch's key, install_epoch() puts it in a `probe` slot, and the first packet that
// authenticates under it makes it current (the old current becomes previous). The hint is
// rate-limited (kEpochHintInterval) because it comes from an unauthenticated packet; no key
// changes role before a packet authenticates under it.
//
// Order of checks (cheap first, state changes last, WireGuard-style):
//   decode header -> session id -> epoch slot -> counter reconstruction + replay check ->
//   AEAD open -> [authenticated from here] window update, epoch promotion -> PPP protocol and
//   IP version checks.
// Contract: sans-I/O (time is an argument), no allocation per packet, never throws on open; an
// unauthenticated datagram never changes state (except its drop counter). One thread owns it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "tunnel/data/aead.hpp"
#include "tunnel/data/data_sender.hpp"
#include "tunnel/data/replay_window.hpp"
#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

// What happened to one datagram; every value but `accepted` is a drop and counted.
enum class DropReason {
  accepted,
  too_short,
  too_long,
  bad_header,         // GRE flags, version or protocol type not ours
  unknown_session,    // GRE key names another receiver session id
  unknown_epoch,      // no key for that epoch byte (expired previous, or not yet installed)
  replayed,           // duplicate counter inside the window
  too_old,            // counter left of the replay window
  counter_exhausted,  // counter at or beyond kRejectAfterCounter
  auth_failed,        // AEAD open failed (forged, corrupted, wrong key)
  unknown_protocol,   // authenticated, but PPP protocol not IPv4/IPv6/LCP
  bad_inner_version,  // authenticated, but the IP version nibble disagrees with the PPP protocol
  count_,             // number of values; not a reason
};
std::string_view to_string(DropReason reason);
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count_);

struct OpenResult {
  DropReason status = DropReason::accepted;
  PppProtocol protocol = PppProtocol::ipv4;  // valid when accepted
  std::span<std::uint8_t> payload;          // inside the caller's datagram buffer when accepted
  std::uint64_t counter = 0;  // the frame's 64-bit packet counter when accepted (one per direction, across epochs)
  bool ok() const { return status == DropReason::accepted; }
};

class DataReceiver {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // local_session_id: the 24-bit id WE chose; the peer puts it in the GRE key.
  DataReceiver(std::uint32_t local_session_id, Suite suite, Limits limits = {});

  // The first call installs the current epoch; afterwards current + 1 (the next key), or the
  // later epoch wanted_epoch() asked for after seeing it on the wire (the probe key).
  InstallStatus install_epoch(std::uint32_t epoch, std::span<const std::uint8_t> key, TimePoint now);

  // Opens one datagram in place. On a drop the buffer content is unspecified.
  OpenResult open(std::span<std::uint8_t> datagram, TimePoint now);

  // Drops the previous epoch's key once its overlap time is over (open() also does this).
  void expire(TimePoint now);

  std::optional<std::uint32_t> wanted_epoch() const;
  std::optional<std::uint32_t> current_epoch() const;
  bool has_previous_epoch() const { return previous_.has_value(); }

  std::uint32_t local_session_id() const { return local_session_id_; }
  std::uint64_t drops(DropReason reason) const { return counters_[static_cast<std::size_t>(reason)]; }
  std::uint64_t packets_accepted() const { return drops(DropReason::accepted); }
  std::uint64_t bytes_accepted() const { return bytes_accepted_; }
  const ReplayWindow& replay_window() const { return window_; }

 private:
  struct Epoch {
    std::uint32_t number;
    AeadKey key;
    TimePoint expires{};  // previous epoch only
  };

  OpenResult drop(DropReason reason);
  Epoch* select_epoch(std::uint8_t epoch_byte);
  void promote_next(TimePoint now);
  void resync_to_probe(TimePoint now);
  void note_later_epoch(std::uint8_t epoch_byte, TimePoint now);
  OpenResult classify_inner(std::span<std::uint8_t> plain, std::size_t datagram_size);

  std::uint32_t local_session_id_;
  Suite suite_;
  Limits limits_;
  ReplayWindow window_;
  std::optional<Epoch> previous_;
  std::optional<Epoch> current_;
  std::optional<Epoch> next_;
  std::optional<Epoch> probe_;                 // the hinted later epoch's key, once installed
  std::optional<std::uint32_t> hinted_epoch_;  // a later epoch seen on the wire (unauthenticated)
  TimePoint hinted_at_{};
  std::array<std::uint64_t, kDropReasonCount> counters_{};
  std::uint64_t bytes_accepted_ = 0;
};

}  // namespace postern::tunnel::data
