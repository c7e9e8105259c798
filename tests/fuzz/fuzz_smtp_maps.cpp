// Fuzzes the operator's SMTP map files (smtp/core/sender_map.hpp, recipient_map.hpp), read at
// start-up and on every SIGHUP: a bad edit must be refused as std::runtime_error naming
// "fuzz:<line>:", never crash or hang (recipient aliases are expanded at load time, so loops and
// deep nesting are load errors). The input's first line is a probe address; the rest is the
// file, parsed as a sender map and as a recipient map with and without local domains.
// Invariants: the error names the file; every key a parsed recipient map contains resolves to a
// non-empty list without duplicates (case-insensitively); lookups with the probe never throw.
#include "smtp/core/address.hpp"
#include "smtp/core/recipient_map.hpp"
#include "smtp/core/sender_map.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool names_file(const std::runtime_error& e) { return std::string_view(e.what()).starts_with("fuzz:"); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::smtp;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string_view probe = newline == std::string_view::npos ? input : input.substr(0, newline);
  const std::string_view text = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const std::array<std::string, 2> domains{"site.example", "other.example"};

  try {
    SenderMap senders = parse_sender_map(text, "fuzz");
    (void)senders.may_send_as(probe, probe);
    (void)senders.may_send_as("alice", probe);
    (void)SenderMap::default_allowed(probe, probe, domains);
  } catch (const std::runtime_error& e) {
    check(names_file(e));
  }

  for (bool with_domains : {false, true}) {
    try {
      RecipientMap recipients = with_domains ? parse_recipient_map(text, "fuzz", domains) : parse_recipient_map(text, "fuzz");
      if (auto targets = recipients.resolve(probe)) {
        check(!targets->empty());
        for (std::size_t i = 0; i < targets->size(); ++i)
          for (std::size_t j = i + 1; j < targets->size(); ++j) check(!iequals((*targets)[i], (*targets)[j]));
      }
      check(recipients.contains(probe) == recipients.resolve(probe).has_value());
    } catch (const std::runtime_error& e) {
      check(names_file(e));
    }
  }
  return 0;
}
