// Per-session accounting of data-channel sequence numbers as seen on the wire: gaps (numbers
// never seen between the first and the highest), reorders (a number below the highest that
// fills a gap), duplicates (a number seen twice). The sequence field is the low 32 bits of the
// sender's packet counter, so comparisons use serial-number arithmetic (RFC 1982).
// Contract: sans-I/O, O(1) per packet; exact within the last kWindow numbers; a number older
// than that is counted as reordered ("late") without telling whether it was a duplicate.
#pragma once

#include <bitset>
#include <cstdint>
#include <string_view>

namespace postern::tools::capture {

enum class SeqVerdict { first, in_order, gap, reordered, duplicate, late };
std::string_view to_string(SeqVerdict verdict);

class SequenceTracker {
 public:
  static constexpr std::uint32_t kWindow = 8192;

  SeqVerdict observe(std::uint32_t sequence);

  std::uint64_t packets() const { return packets_; }
  std::uint64_t missing() const { return missing_; }  // current count of never-seen numbers
  std::uint64_t reorders() const { return reorders_; }
  std::uint64_t duplicates() const { return duplicates_; }
  std::uint32_t highest() const { return highest_; }

 private:
  bool seen(std::uint32_t s) const { return window_.test(s % kWindow); }
  void mark(std::uint32_t s) { window_.set(s % kWindow); }

  std::bitset<kWindow> window_;
  bool started_ = false;
  std::uint32_t highest_ = 0;
  std::uint64_t packets_ = 0;
  std::uint64_t missing_ = 0;
  std::uint64_t reorders_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace postern::tools::capture
