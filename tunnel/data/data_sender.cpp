// DataSender: framing, sealing and epoch switching of the send direction (see data_sender.hpp).
#include "tunnel/data/data_sender.hpp"

#include <fmt/format.h>

#include "common/log.hpp"
#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {

std::string_view to_string(SealStatus status) {
  switch (status) {
    case SealStatus::ok: return "ok";
    case SealStatus::no_key: return "no_key";
    case SealStatus::key_expired: return "key_expired";
    case SealStatus::counter_exhausted: return "counter_exhausted";
    case SealStatus::buffer_too_small: return "buffer_too_small";
    case SealStatus::crypto_failed: return "crypto_failed";
  }
  return "unknown";
}

std::string_view to_string(InstallStatus status) {
  switch (status) {
    case InstallStatus::installed: return "installed";
    case InstallStatus::unexpected_epoch: return "unexpected_epoch";
    case InstallStatus::bad_key: return "bad_key";
  }
  return "unknown";
}

DataSender::DataSender(std::uint32_t peer_session_id, Suite suite, Limits limits)
    : peer_session_id_(peer_session_id & kMaxSessionId), suite_(suite), limits_(limits) {}

InstallStatus DataSender::install_epoch(std::uint32_t epoch, std::span<const std::uint8_t> key, TimePoint now) {
  if (current_ && epoch != current_->number + 1) return InstallStatus::unexpected_epoch;
  auto aead = AeadKey::create(suite_, AeadPurpose::seal, key);
  if (!aead) return InstallStatus::bad_key;
  if (!current_) {
    current_.emplace(Epoch{epoch, std::move(*aead), now, 0});
  } else {
    next_.emplace(Epoch{epoch, std::move(*aead), now, 0});
  }
  return InstallStatus::installed;
}

bool DataSender::rekey_due(const Epoch& epoch, TimePoint now) const {
  const auto age = now - epoch.started;
  return age >= limits_.rekey_after_time ||
         (epoch.sealed >= limits_.rekey_after_packets && age >= limits_.min_epoch_time);
}

void DataSender::maybe_switch(TimePoint now) {
  if (!next_ || !current_ || !rekey_due(*current_, now)) return;
  const std::uint32_t old_epoch = current_->number;
  current_ = std::move(next_);
  next_.reset();
  current_->started = now;
  current_->sealed = 0;
  log::info("data", fmt::format("{:06x}", peer_session_id_), "send_epoch_switched",
            {{"from", old_epoch}, {"to", current_->number}, {"counter", counter_}});
}

SealResult DataSender::seal(PppProtocol protocol, std::span<std::uint8_t> buffer, std::size_t payload_len,
                            TimePoint now) {
  maybe_switch(now);
  if (!current_) return {SealStatus::no_key, 0};
  Epoch& epoch = *current_;
  if (now - epoch.started >= limits_.reject_after_time || epoch.sealed >= limits_.reject_after_packets) {
    return {SealStatus::key_expired, 0};
  }
  if (counter_ >= kRejectAfterCounter) return {SealStatus::counter_exhausted, 0};
  const std::size_t plain_len = kPppProtocolSize + payload_len;
  const std::size_t total = kGreHeaderSize + plain_len + kTagSize;
  if (payload_len > kMaxDatagramSize || total > kMaxDatagramSize || buffer.size() < total) {
    return {SealStatus::buffer_too_small, 0};  // also: would not fit one UDP datagram
  }

  const std::uint32_t key = make_gre_key(peer_session_id_, epoch.number);
  encode_gre_header(buffer.first<kGreHeaderSize>(), key, static_cast<std::uint32_t>(counter_));
  store_be16(&buffer[kGreHeaderSize], static_cast<std::uint16_t>(protocol));
  const auto aad = buffer.first<kGreHeaderSize>();
  const auto plain = buffer.subspan(kGreHeaderSize, plain_len);
  const auto tag = buffer.subspan(kGreHeaderSize + plain_len).first<kTagSize>();
  // The counter is consumed even if OpenSSL fails: a nonce is never offered twice.
  const std::uint64_t counter = counter_++;
  if (!epoch.key.seal(counter, aad, plain, tag)) return {SealStatus::crypto_failed, 0};
  ++epoch.sealed;
  ++packets_sealed_;
  bytes_sealed_ += total;
  return {SealStatus::ok, total};
}

std::optional<std::uint32_t> DataSender::wanted_epoch() const {
  if (!current_) return kFirstEpoch;
  if (next_) return std::nullopt;
  return current_->number + 1;
}

std::optional<std::uint32_t> DataSender::current_epoch() const {
  if (!current_) return std::nullopt;
  return current_->number;
}

bool DataSender::rekey_overdue(TimePoint now) const {
  return current_ && !next_ && rekey_due(*current_, now);
}

}  // namespace postern::tunnel::data
