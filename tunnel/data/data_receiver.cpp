// DataReceiver: authentication, replay protection and epoch promotion of the receive direction
// (see data_receiver.hpp).
#include "tunnel/data/data_receiver.hpp"

#include <fmt/format.h>

#include "common/log.hpp"
#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {

std::string_view to_string(DropReason reason) {
  switch (reason) {
    case DropReason::accepted: return "accepted";
    case DropReason::too_short: return "too_short";
    case DropReason::too_long: return "too_long";
    case DropReason::bad_header: return "bad_header";
    case DropReason::unknown_session: return "unknown_session";
    case DropReason::unknown_epoch: return "unknown_epoch";
    case DropReason::replayed: return "replayed";
    case DropReason::too_old: return "too_old";
    case DropReason::counter_exhausted: return "counter_exhausted";
    case DropReason::auth_failed: return "auth_failed";
    case DropReason::unknown_protocol: return "unknown_protocol";
    case DropReason::bad_inner_version: return "bad_inner_version";
    case DropReason::count_: break;
  }
  return "unknown";
}

namespace {

DropReason drop_reason_of(GreError error) {
  switch (error) {
    case GreError::too_short: return DropReason::too_short;
    case GreError::too_long: return DropReason::too_long;
    default: return DropReason::bad_header;
  }
}

DropReason drop_reason_of(ReplayCheck check) {
  switch (check) {
    case ReplayCheck::duplicate: return DropReason::replayed;
    case ReplayCheck::too_old: return DropReason::too_old;
    default: return DropReason::counter_exhausted;
  }
}

}  // namespace

DataReceiver::DataReceiver(std::uint32_t local_session_id, Suite suite, Limits limits)
    : local_session_id_(local_session_id & kMaxSessionId), suite_(suite), limits_(limits) {}

InstallStatus DataReceiver::install_epoch(std::uint32_t epoch, std::span<const std::uint8_t> key, TimePoint) {
  const bool as_probe = current_ && epoch != current_->number + 1;
  if (as_probe && (!hinted_epoch_ || epoch != *hinted_epoch_)) return InstallStatus::unexpected_epoch;
  auto aead = AeadKey::create(suite_, AeadPurpose::open, key);
  if (!aead) return InstallStatus::bad_key;
  if (!current_) {
    current_.emplace(Epoch{epoch, std::move(*aead), {}});
  } else if (as_probe) {
    probe_.emplace(Epoch{epoch, std::move(*aead), {}});
  } else {
    next_.emplace(Epoch{epoch, std::move(*aead), {}});
  }
  return InstallStatus::installed;
}

OpenResult DataReceiver::drop(DropReason reason) {
  ++counters_[static_cast<std::size_t>(reason)];
  return {reason, PppProtocol::ipv4, {}};
}

DataReceiver::Epoch* DataReceiver::select_epoch(std::uint8_t epoch_byte) {
  // Three consecutive epochs have distinct low bytes, so at most one slot matches.
  // The probe epoch is current + 2 .. current + kMaxEpochLead, so its byte differs from these.
  for (std::optional<Epoch>* slot : {&current_, &next_, &previous_, &probe_}) {
    if (*slot && ((*slot)->number & kEpochMask) == epoch_byte) return &**slot;
  }
  return nullptr;
}

void DataReceiver::expire(TimePoint now) {
  if (previous_ && now >= previous_->expires) previous_.reset();
}

void DataReceiver::promote_next(TimePoint now) {
  const std::uint32_t old_epoch = current_->number;
  previous_ = std::move(current_);
  previous_->expires = now + limits_.previous_key_overlap;
  current_ = std::move(next_);
  next_.reset();
  if (hinted_epoch_ && *hinted_epoch_ <= current_->number + 1) {  // caught up the normal way
    hinted_epoch_.reset();
    probe_.reset();
  }
  log::info("data", fmt::format("{:06x}", local_session_id_), "receive_epoch_promoted",
            {{"from", old_epoch}, {"to", current_->number}});
}

void DataReceiver::resync_to_probe(TimePoint now) {
  const std::uint32_t old_epoch = current_->number;
  previous_ = std::move(current_);
  previous_->expires = now + limits_.previous_key_overlap;
  current_ = std::move(probe_);
  probe_.reset();
  next_.reset();
  hinted_epoch_.reset();
  log::warn("data", fmt::format("{:06x}", local_session_id_), "receive_epoch_resynchronised",
            {{"from", old_epoch}, {"to", current_->number}, {"missed_epochs", current_->number - old_epoch - 1}});
}

// A packet for no key we hold: if its byte names an epoch a little ahead, ask for that key.
void DataReceiver::note_later_epoch(std::uint8_t epoch_byte, TimePoint now) {
  if (!current_) return;
  const std::uint32_t first = current_->number + 2;
  const std::uint32_t candidate = first + ((epoch_byte - first) & kEpochMask);
  // Past the lead it is more likely an old epoch's late packet than a future one.
  if (candidate - current_->number > kMaxEpochLead) return;
  if (hinted_epoch_ && (*hinted_epoch_ == candidate || now - hinted_at_ < kEpochHintInterval)) return;
  hinted_epoch_ = candidate;
  hinted_at_ = now;
  probe_.reset();
}

OpenResult DataReceiver::open(std::span<std::uint8_t> datagram, TimePoint now) {
  expire(now);
  const GreDecodeResult decoded = decode_gre_frame(datagram);
  if (!decoded.ok()) return drop(drop_reason_of(decoded.error));
  const GreFrame& frame = decoded.frame;
  if (session_id_of(frame.key) != local_session_id_) return drop(DropReason::unknown_session);
  Epoch* epoch = select_epoch(epoch_byte_of(frame.key));
  if (epoch == nullptr) {
    note_later_epoch(epoch_byte_of(frame.key), now);
    return drop(DropReason::unknown_epoch);
  }

  const std::uint64_t counter = reconstruct_counter(frame.sequence, window_.highest());
  const ReplayCheck replay = window_.check(counter);
  if (replay != ReplayCheck::ok) return drop(drop_reason_of(replay));

  const std::size_t plain_len = datagram.size() - kGreHeaderSize - kTagSize;
  const auto aad = datagram.first<kGreHeaderSize>();
  const auto plain = datagram.subspan(kGreHeaderSize, plain_len);
  const auto tag = datagram.last<kTagSize>();
  if (!epoch->key.open(counter, aad, plain, tag)) return drop(DropReason::auth_failed);

  // Authenticated: only now may state change.
  window_.update(counter);
  if (next_ && epoch == &*next_) {
    promote_next(now);
  } else if (probe_ && epoch == &*probe_) {
    resync_to_probe(now);
  }
  OpenResult result = classify_inner(plain, datagram.size());
  result.counter = counter;
  return result;
}

OpenResult DataReceiver::classify_inner(std::span<std::uint8_t> plain, std::size_t datagram_size) {
  const std::uint16_t value = load_be16(plain.data());
  if (!is_known_ppp_protocol(value)) return drop(DropReason::unknown_protocol);
  const auto protocol = static_cast<PppProtocol>(value);
  const auto payload = plain.subspan(kPppProtocolSize);
  if (protocol == PppProtocol::ipv4 || protocol == PppProtocol::ipv6) {
    const unsigned want = protocol == PppProtocol::ipv4 ? 4U : 6U;
    if (payload.empty() || (payload[0] >> 4) != want) return drop(DropReason::bad_inner_version);
  }
  ++counters_[static_cast<std::size_t>(DropReason::accepted)];
  bytes_accepted_ += datagram_size;
  return {DropReason::accepted, protocol, payload};
}

std::optional<std::uint32_t> DataReceiver::wanted_epoch() const {
  if (!current_) return kFirstEpoch;
  if (!next_) return current_->number + 1;
  if (hinted_epoch_ && !probe_) return *hinted_epoch_;
  return std::nullopt;
}

std::optional<std::uint32_t> DataReceiver::current_epoch() const {
  if (!current_) return std::nullopt;
  return current_->number;
}

}  // namespace postern::tunnel::data
