// The sending half of one session's data channel: owns the 64-bit packet counter and the current
// (and, once the control layer installed it, the next) epoch key of the local->peer direction.
// seal() frames and encrypts one packet in place and switches to the next epoch when the current
// one is old enough (time or packet count, wire.hpp) and the next key is there.
// Contract: sans-I/O (time is an argument), no allocation per packet, never throws on seal; one
// thread owns the object (the daemon's TX thread); installing keys from another thread is the
// daemon's locking problem. The counter never restarts, so (key, nonce) never repeats.
//
// Buffer layout for seal (the caller reads the packet from TUN at offset kSealHeadroom):
//   [0, 12) GRE header (written) | [12, 14) PPP protocol (written) | payload | kTagSize free
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "tunnel/data/aead.hpp"
#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class SealStatus {
  ok,
  no_key,             // no epoch installed yet: drop; the control layer must install wanted_epoch()
  key_expired,        // current epoch past reject_after_time/packets and no next key: drop
  counter_exhausted,  // 64-bit counter at kRejectAfterCounter: the session must be re-established
  buffer_too_small,   // caller bug: not enough headroom/tailroom; drop
  crypto_failed,      // OpenSSL failure: drop (count; should not happen)
};
std::string_view to_string(SealStatus status);

enum class InstallStatus { installed, unexpected_epoch, bad_key };
std::string_view to_string(InstallStatus status);

struct SealResult {
  SealStatus status = SealStatus::ok;
  std::size_t length = 0;  // datagram length in the buffer when ok
  bool ok() const { return status == SealStatus::ok; }
};

class DataSender {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // peer_session_id: the 24-bit id the PEER chose (goes in the GRE key of every packet we send).
  DataSender(std::uint32_t peer_session_id, Suite suite, Limits limits = {});

  // The first call installs the current epoch (any number, normally kFirstEpoch); afterwards only
  // current + 1 is accepted, as the next key (replacing an earlier install of the same epoch).
  InstallStatus install_epoch(std::uint32_t epoch, std::span<const std::uint8_t> key, TimePoint now);

  // Frames and seals the payload at buffer[kSealHeadroom, kSealHeadroom + payload_len).
  SealResult seal(PppProtocol protocol, std::span<std::uint8_t> buffer, std::size_t payload_len,
                  TimePoint now);

  // The epoch whose key the control layer should install next, or nullopt when it is installed.
  std::optional<std::uint32_t> wanted_epoch() const;
  std::optional<std::uint32_t> current_epoch() const;
  // True when the current epoch is due for a switch but the next key is missing (control is late).
  bool rekey_overdue(TimePoint now) const;

  std::uint64_t next_counter() const { return counter_; }
  std::uint32_t peer_session_id() const { return peer_session_id_; }
  std::uint64_t packets_sealed() const { return packets_sealed_; }
  std::uint64_t bytes_sealed() const { return bytes_sealed_; }

  // Tests only: start the counter elsewhere (e.g. near a 32-bit wrap).
  void set_next_counter_for_test(std::uint64_t counter) { counter_ = counter; }

 private:
  struct Epoch {
    std::uint32_t number;
    AeadKey key;
    TimePoint started{};
    std::uint64_t sealed = 0;
  };

  bool rekey_due(const Epoch& epoch, TimePoint now) const;
  void maybe_switch(TimePoint now);

  std::uint32_t peer_session_id_;
  Suite suite_;
  Limits limits_;
  std::uint64_t counter_ = 0;
  std::optional<Epoch> current_;
  std::optional<Epoch> next_;
  std::uint64_t packets_sealed_ = 0;
  std::uint64_t bytes_sealed_ = 0;
};

}  // namespace postern::tunnel::data
