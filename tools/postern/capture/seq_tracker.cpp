// Sequence accounting; see seq_tracker.hpp for the contract.
#include "tools/postern/capture/seq_tracker.hpp"

namespace postern::tools::capture {

std::string_view to_string(SeqVerdict verdict) {
  switch (verdict) {
    case SeqVerdict::first: return "first";
    case SeqVerdict::in_order: return "in_order";
    case SeqVerdict::gap: return "gap";
    case SeqVerdict::reordered: return "reordered";
    case SeqVerdict::duplicate: return "duplicate";
    case SeqVerdict::late: return "late";
  }
  return "?";
}

SeqVerdict SequenceTracker::observe(std::uint32_t s) {
  ++packets_;
  if (!started_) {
    started_ = true;
    highest_ = s;
    mark(s);
    return SeqVerdict::first;
  }
  // RFC 1982 serial arithmetic: the signed 32-bit distance from the highest number seen.
  auto distance = static_cast<std::int32_t>(s - highest_);
  if (distance > 0) {
    auto ahead = static_cast<std::uint32_t>(distance);
    if (ahead >= kWindow) {
      window_.reset();
    } else {
      for (std::uint32_t i = 1; i <= ahead; ++i) window_.reset((highest_ + i) % kWindow);
    }
    missing_ += ahead - 1;
    highest_ = s;
    mark(s);
    return ahead == 1 ? SeqVerdict::in_order : SeqVerdict::gap;
  }
  if (distance == 0) {
    ++duplicates_;
    return SeqVerdict::duplicate;
  }
  auto behind = static_cast<std::uint32_t>(-static_cast<std::int64_t>(distance));
  ++reorders_;
  if (behind >= kWindow) return SeqVerdict::late;
  if (seen(s)) {
    --reorders_;
    ++duplicates_;
    return SeqVerdict::duplicate;
  }
  mark(s);
  if (missing_ > 0) --missing_;
  return SeqVerdict::reordered;
}

}  // namespace postern::tools::capture
