// The identity policy data behind SubmissionPolicy: the sender map, the recipient map with its
// alias expansion, and the per-user hourly limiter. Every syntax error is a table row with the
// exact "file:line:" expected; rate windows run on injected steady-clock times.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include "smtp/core/rate_limit.hpp"
#include "smtp/core/recipient_map.hpp"
#include "smtp/core/sender_map.hpp"

namespace postern::smtp {
namespace {

using namespace std::chrono_literals;
using Limiter = UserRateLimiter;

// The message of the exception `parse` throws, or "" when it throws none.
template <typename F>
std::string error_of(F&& parse) {
  try {
    parse();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

struct ErrorCase {
  std::string text;
  const char* expected_prefix;  // "file:line: what..."
};

// ---- sender map -----------------------------------------------------------------------------

const char* const kSenders =
    "# who may send as whom\n"
    "\n"
    "alice: alice.smith@site.example, Sales@Site.Example\n"
    "   # indented comment\n"
    "boss:  *@site.example, boss@other.example\r\n"
    "Laptop CN 7: it@site.example\n";

TEST(SenderMap, ListedAddressesAndWildcards) {
  const SenderMap map = parse_sender_map(kSenders, "senders");
  EXPECT_EQ(map.size(), 3u);
  EXPECT_TRUE(map.may_send_as("alice", "alice.smith@site.example"));
  EXPECT_TRUE(map.may_send_as("alice", "sales@site.example"));
  EXPECT_FALSE(map.may_send_as("alice", "boss@site.example"));
  EXPECT_TRUE(map.may_send_as("boss", "anyone@site.example"));
  EXPECT_TRUE(map.may_send_as("boss", "boss@other.example"));
  EXPECT_FALSE(map.may_send_as("boss", "someone@other.example"));
  EXPECT_FALSE(map.may_send_as("boss", "x@sub.site.example")) << "a wildcard does not cover subdomains";
  EXPECT_FALSE(map.may_send_as("boss", "site.example")) << "no '@', no domain";
  EXPECT_TRUE(map.may_send_as("Laptop CN 7", "it@site.example"));
  EXPECT_FALSE(map.may_send_as("carol", "carol@site.example")) << "not in the map: nothing extra";
}

TEST(SenderMap, CaseRules) {
  const SenderMap map = parse_sender_map(kSenders, "senders");
  // Addresses: domain and local part case-insensitive, as Postfix lookups.
  EXPECT_TRUE(map.may_send_as("alice", "ALICE.Smith@SITE.example"));
  EXPECT_TRUE(map.may_send_as("alice", "SALES@site.EXAMPLE"));
  EXPECT_TRUE(map.may_send_as("boss", "Anyone@SITE.EXAMPLE"));
  // Identities: exact, like the users file and the tunnel.
  EXPECT_FALSE(map.may_send_as("Alice", "alice.smith@site.example"));
  EXPECT_FALSE(map.may_send_as("laptop cn 7", "it@site.example"));
}

TEST(SenderMap, QuotedLocalPartMayHoldCommaAndStar) {
  const SenderMap map = parse_sender_map("alice: \"a,b*\"@site.example, x@site.example\n", "senders");
  EXPECT_TRUE(map.may_send_as("alice", "\"a,b*\"@site.example"));
  EXPECT_TRUE(map.may_send_as("alice", "x@site.example"));
}

TEST(SenderMap, EverySyntaxErrorNamesItsLine) {
  const ErrorCase cases[] = {
      {"alice alice@site.example\n", "senders:1: missing ':'"},
      {"# c\n\nalice: a@site.example\nbob\n", "senders:4: missing ':'"},
      {": a@site.example\n", "senders:1: invalid identity \"\""},
      {"al\x01ice: a@site.example\n", "senders:1: invalid identity"},
      {std::string(129, 'u') + ": a@site.example\n", "senders:1: invalid identity"},
      {"alice:\n", "senders:1: identity \"alice\" lists no addresses"},
      {"alice:   \n", "senders:1: identity \"alice\" lists no addresses"},
      {"alice: a@site.example,\n", "senders:1: empty address in the list of \"alice\""},
      {"alice: a@site.example,, b@site.example\n", "senders:1: empty address"},
      {"alice: not-an-address\n", "senders:1: invalid address \"not-an-address\""},
      {"alice: a@@site.example\n", "senders:1: invalid address"},
      {"alice: a b@site.example\n", "senders:1: invalid address"},
      {"alice: a@site..example\n", "senders:1: invalid address"},
      {"alice: *@\n", "senders:1: invalid domain in wildcard \"*@\""},
      {"alice: *@*.site.example\n", "senders:1: invalid domain in wildcard"},
      {"alice: *\n", "senders:1: invalid wildcard \"*\""},
      {"alice: *.site.example\n", "senders:1: invalid wildcard"},
      {"alice: a*@site.example\n", "senders:1: invalid wildcard"},
      {"alice: a@site.example\n\n# x\nalice: b@site.example\n",
       "senders:4: duplicate identity \"alice\" (first listed on line 1)"},
  };
  for (const auto& k : cases) {
    const std::string error = error_of([&] { parse_sender_map(k.text, "senders"); });
    EXPECT_TRUE(error.starts_with(k.expected_prefix)) << "text: " << k.text << "\nerror: " << error;
  }
}

TEST(SenderMap, DefaultAllowedIsOwnNameAtLocalDomains) {
  const std::vector<std::string> local{"site.example", "other.example"};
  EXPECT_TRUE(SenderMap::default_allowed("alice", "alice@site.example", local));
  EXPECT_TRUE(SenderMap::default_allowed("alice", "alice@other.example", local));
  EXPECT_TRUE(SenderMap::default_allowed("alice", "ALICE@Site.Example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "alice@elsewhere.example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "bob@site.example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "alice.smith@site.example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "alice@sub.site.example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "", local)) << "the null sender is the session's";
  EXPECT_FALSE(SenderMap::default_allowed("", "@site.example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice", "alice@site.example", {}));
  // An identity that is an address may use exactly that address, at any domain.
  EXPECT_TRUE(SenderMap::default_allowed("alice@elsewhere.example", "Alice@Elsewhere.Example", local));
  EXPECT_FALSE(SenderMap::default_allowed("alice@elsewhere.example", "bob@elsewhere.example", local));
}

TEST(SenderMap, LoadNamesTheUnreadableFile) {
  const std::string missing = (std::filesystem::temp_directory_path() / "postern-no-such-sender-map").string();
  EXPECT_TRUE(error_of([&] { load_sender_map(missing); }).starts_with(missing + ": cannot read sender map"));
  const std::string dir = std::filesystem::temp_directory_path().string();
  EXPECT_TRUE(error_of([&] { load_sender_map(dir); }).starts_with(dir + ": cannot read sender map"));

  const auto path = std::filesystem::temp_directory_path() / ("postern-sender-map-" + std::to_string(::getpid()));
  std::ofstream(path) << "alice: a@site.example\nbob b@site.example\n";
  EXPECT_TRUE(error_of([&] { load_sender_map(path.string()); }).starts_with(path.string() + ":2: missing ':'"));
  std::ofstream(path) << "alice: a@site.example\n";
  EXPECT_TRUE(load_sender_map(path.string()).may_send_as("alice", "a@site.example"));
  std::filesystem::remove(path);
}

// ---- recipient map --------------------------------------------------------------------------

using Targets = std::vector<std::string>;

const char* const kRecipients =
    "# mailboxes\n"
    "alice@site.example\n"
    "Bob@Site.Example\n"
    "carol@site.example\n"
    "\n"
    "# aliases\n"
    "sales@site.example: alice@site.example, BOB@site.example\n"
    "team@site.example: sales@site.example, carol@site.example, alice@site.example, dave@partner.example\n"
    "all@site.example: team@site.example, sales@site.example, Dave@Partner.example\n"
    "archive@site.example: archive@site.example, backup@offsite.example\n"
    "forward@site.example: Someone@Remote.example\n";

TEST(RecipientMap, MailboxesAliasesAndUnknown) {
  const RecipientMap map = parse_recipient_map(kRecipients, "recipients");
  EXPECT_EQ(map.resolve("alice@site.example"), Targets{"alice@site.example"});
  EXPECT_EQ(map.resolve("bob@site.example"), Targets{"bob@site.example"}) << "mailboxes come back case-folded";
  EXPECT_EQ(map.resolve("sales@site.example"), (Targets{"alice@site.example", "bob@site.example"}));
  EXPECT_EQ(map.resolve("nobody@site.example"), std::nullopt);
  EXPECT_EQ(map.resolve("alice@other.example"), std::nullopt);
  EXPECT_EQ(map.resolve(""), std::nullopt);
  EXPECT_TRUE(map.contains("SALES@site.example"));
  EXPECT_FALSE(map.contains("sale@site.example"));
}

TEST(RecipientMap, FanOutRecursesDeduplicatesAndKeepsOrder) {
  const RecipientMap map = parse_recipient_map(kRecipients, "recipients");
  EXPECT_EQ(map.resolve("team@site.example"),
            (Targets{"alice@site.example", "bob@site.example", "carol@site.example", "dave@partner.example"}));
  // team, then sales again (already there), then Dave again in another case: each once.
  EXPECT_EQ(map.resolve("all@site.example"),
            (Targets{"alice@site.example", "bob@site.example", "carol@site.example", "dave@partner.example"}));
  EXPECT_EQ(map.resolve("archive@site.example"), (Targets{"archive@site.example", "backup@offsite.example"}))
      << "self-reference is the alias's own mailbox";
  EXPECT_EQ(map.resolve("forward@site.example"), Targets{"Someone@Remote.example"})
      << "a remote target is kept as written";
}

TEST(RecipientMap, CaseRules) {
  const RecipientMap map = parse_recipient_map(kRecipients, "recipients");
  EXPECT_EQ(map.resolve("ALICE@SITE.EXAMPLE"), Targets{"alice@site.example"});
  EXPECT_EQ(map.resolve("Sales@Site.Example"), (Targets{"alice@site.example", "bob@site.example"}));
}

// a0 -> a1 -> ... -> a(n-1) -> m@x: a0 is n aliases deep.
std::string alias_chain(int n) {
  std::string text = "m@x.example\n";
  for (int i = 0; i < n; ++i) {
    const std::string next = i + 1 < n ? "a" + std::to_string(i + 1) + "@x.example" : "m@x.example";
    text += "a" + std::to_string(i) + "@x.example: " + next + "\n";
  }
  return text;
}

TEST(RecipientMap, DepthLimitIsTen) {
  const RecipientMap ten = parse_recipient_map(alias_chain(kMaxAliasDepth), "recipients");
  EXPECT_EQ(ten.resolve("a0@x.example"), Targets{"m@x.example"});
  // Eleven deep: the error is on a0's line (line 2: line 1 is the mailbox).
  const std::string error = error_of([] { parse_recipient_map(alias_chain(kMaxAliasDepth + 1), "recipients"); });
  EXPECT_TRUE(error.starts_with("recipients:2: alias \"a0@x.example\" nests more than 10 aliases deep (via \"a1@x.example\")"))
      << error;
}

TEST(RecipientMap, LoopsAreLoadErrors) {
  const ErrorCase cases[] = {
      {"a@x.example: b@x.example\nb@x.example: a@x.example\n",
       "recipients:2: alias loop: a@x.example -> b@x.example -> a@x.example"},
      {"m@x.example\na@x.example: m@x.example, b@x.example\nb@x.example: c@x.example\nc@x.example: B@x.example\n",
       "recipients:4: alias loop: b@x.example -> c@x.example -> b@x.example"},
  };
  for (const auto& k : cases) {
    const std::string error = error_of([&] { parse_recipient_map(k.text, "recipients"); });
    EXPECT_TRUE(error.starts_with(k.expected_prefix)) << "text: " << k.text << "\nerror: " << error;
  }
  // A diamond (two paths to the same alias) is not a loop.
  const RecipientMap diamond = parse_recipient_map(
      "m@x.example\nd@x.example: m@x.example\nb@x.example: d@x.example\nc@x.example: d@x.example\n"
      "a@x.example: b@x.example, c@x.example\n",
      "recipients");
  EXPECT_EQ(diamond.resolve("a@x.example"), Targets{"m@x.example"});
}

TEST(RecipientMap, EverySyntaxErrorNamesItsLine) {
  const ErrorCase cases[] = {
      {"not-an-address\n", "recipients:1: invalid address \"not-an-address\""},
      {"m@x.example\n: m@x.example\n", "recipients:2: invalid address \"\""},
      {"sales@x.example:\n", "recipients:1: alias \"sales@x.example\" lists no targets"},
      {"sales@x.example: a@x.example,\n", "recipients:1: empty target in the alias \"sales@x.example\""},
      {"sales@x.example: a@x.example, bad\n", "recipients:1: invalid alias target \"bad\""},
      {"m@x.example\n# c\nM@X.example\n", "recipients:3: duplicate recipient \"m@x.example\" (first listed on line 1)"},
      {"m@x.example\nm@x.example: n@y.example\n", "recipients:2: duplicate recipient"},
  };
  for (const auto& k : cases) {
    const std::string error = error_of([&] { parse_recipient_map(k.text, "recipients"); });
    EXPECT_TRUE(error.starts_with(k.expected_prefix)) << "text: " << k.text << "\nerror: " << error;
  }
}

TEST(RecipientMap, LocalDomainChecks) {
  const std::vector<std::string> local{"site.example"};
  const std::string ok = "alice@site.example\nsales@Site.Example: alice@site.example, x@remote.example\n";
  EXPECT_EQ(parse_recipient_map(ok, "r", local).resolve("sales@site.example"),
            (Targets{"alice@site.example", "x@remote.example"}));
  EXPECT_TRUE(error_of([&] { parse_recipient_map("alice@site.example\nbob@remote.example\n", "r", local); })
                  .starts_with("r:2: \"bob@remote.example\" is not at a local domain (remote.example)"));
  EXPECT_TRUE(error_of([&] { parse_recipient_map("alice@site.example\nsales@site.example: alcie@site.example\n", "r", local); })
                  .starts_with("r:2: alias target \"alcie@site.example\" is at a local domain but is neither a mailbox nor an alias"));
  // Without local domains, a target nobody defines is passed through (for the relay).
  EXPECT_EQ(parse_recipient_map("sales@site.example: alcie@site.example\n", "r").resolve("sales@site.example"),
            Targets{"alcie@site.example"});
}

TEST(RecipientMap, LoadNamesTheUnreadableFile) {
  const std::string missing = (std::filesystem::temp_directory_path() / "postern-no-such-recipient-map").string();
  EXPECT_TRUE(error_of([&] { load_recipient_map(missing); }).starts_with(missing + ": cannot read recipient map"));
}

// ---- rate limits ----------------------------------------------------------------------------

const Limiter::TimePoint t0 = Limiter::TimePoint{} + 100h;

TEST(RateLimit, NoLimitsAllowAllAndStoreNothing) {
  Limiter limiter;
  for (int i = 0; i < 1000; ++i) limiter.record("alice", 50, t0 + std::chrono::seconds(i));
  EXPECT_TRUE(limiter.check("alice", 1000, t0 + 1000s).ok());
  EXPECT_EQ(limiter.tracked_users(), 0u);
}

TEST(RateLimit, MessagesPerHourSlidesAndResets) {
  Limiter limiter({.messages_per_hour = 3});
  EXPECT_TRUE(limiter.check("alice", 1, t0).ok());
  limiter.record("alice", 1, t0);
  limiter.record("alice", 1, t0 + 10min);
  limiter.record("alice", 1, t0 + 20min);
  const auto refused = limiter.check("alice", 1, t0 + 30min);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.exceeded, RateLimit::messages_per_hour);
  EXPECT_EQ(refused.limit, 3u);
  EXPECT_EQ(refused.resets_at, t0 + 1h) << "when the oldest of the three ages out";
  EXPECT_EQ(refused.retry_after(t0 + 30min), 30min);
  EXPECT_TRUE(limiter.check("bob", 1, t0 + 30min).ok()) << "per user";
  // The window slides: the first message stops counting exactly one hour after it.
  EXPECT_FALSE(limiter.check("alice", 1, t0 + 1h - 1ns).ok());
  EXPECT_TRUE(limiter.check("alice", 1, t0 + 1h).ok());
  limiter.record("alice", 1, t0 + 1h);
  const auto again = limiter.check("alice", 1, t0 + 1h + 1min);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.resets_at, t0 + 10min + 1h);
  // A full hour after the last one, everything has reset.
  EXPECT_TRUE(limiter.check("alice", 1, t0 + 2h).ok());
}

TEST(RateLimit, RecipientsPerHourCountsRecipients) {
  Limiter limiter({.recipients_per_hour = 10});
  limiter.record("alice", 4, t0);
  limiter.record("alice", 3, t0 + 5min);
  EXPECT_TRUE(limiter.check("alice", 3, t0 + 6min).ok());  // 4 + 3 + 3 = 10
  const auto refused = limiter.check("alice", 4, t0 + 6min);  // 11
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.exceeded, RateLimit::recipients_per_hour);
  EXPECT_EQ(refused.limit, 10u);
  EXPECT_EQ(refused.resets_at, t0 + 1h) << "dropping the first (4) is enough";
  const auto more = limiter.check("alice", 8, t0 + 6min);  // needs both gone
  EXPECT_EQ(more.resets_at, t0 + 5min + 1h);
  // One message with more recipients than the limit can never fit: the best is an empty window.
  const auto never = limiter.check("alice", 11, t0 + 6min);
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.resets_at, t0 + 5min + 1h);
  EXPECT_EQ(limiter.check("bob", 11, t0).resets_at, t0);
  EXPECT_EQ(limiter.check("bob", 11, t0).retry_after(t0), 1s) << "a refusal never says 'retry in 0 s'";
  EXPECT_TRUE(limiter.check("alice", 10, t0 + 5min + 1h).ok());
}

TEST(RateLimit, MessagesAreCheckedFirst) {
  Limiter limiter({.messages_per_hour = 1, .recipients_per_hour = 1});
  limiter.record("alice", 1, t0);
  EXPECT_EQ(limiter.check("alice", 1, t0 + 1s).exceeded, RateLimit::messages_per_hour);
}

TEST(RateLimit, CheckChangesNothing) {
  Limiter limiter({.messages_per_hour = 1});
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.check("alice", 1, t0).ok());
  EXPECT_EQ(limiter.tracked_users(), 0u);
  EXPECT_TRUE(limiter.refusals().empty());
}

TEST(RateLimit, IdleUsersAreDropped) {
  Limiter limiter({.messages_per_hour = 100});
  for (int i = 0; i < 50; ++i) limiter.record("user" + std::to_string(i), 1, t0 + std::chrono::seconds(i));
  EXPECT_EQ(limiter.tracked_users(), 50u);
  // An hour later, one more record sweeps every user with an empty window.
  limiter.record("alice", 1, t0 + 1h + 50s);
  EXPECT_EQ(limiter.tracked_users(), 1u);
  limiter.expire(t0 + 2h + 50s);
  EXPECT_EQ(limiter.tracked_users(), 0u);
  EXPECT_TRUE(limiter.check("user1", 1, t0 + 3h).ok());
}

TEST(RateLimit, SweepRunsAtMostOncePerMinute) {
  Limiter limiter({.messages_per_hour = 2});
  limiter.record("bob", 1, t0);
  limiter.record("alice", 1, t0 + 1h - 30s);  // the sweep ran at t0; bob still live then
  limiter.record("alice", 1, t0 + 1h + 1s);   // within a minute of the last sweep: bob stays...
  EXPECT_EQ(limiter.tracked_users(), 2u);
  EXPECT_TRUE(limiter.check("bob", 1, t0 + 1h + 1s).ok());  // ...but no longer counts
  limiter.record("alice", 1, t0 + 1h + 2min);  // a minute on: the sweep drops bob
  EXPECT_EQ(limiter.tracked_users(), 1u);
  EXPECT_FALSE(limiter.check("alice", 1, t0 + 1h + 2min).ok());
}

TEST(RateLimit, RefusalCounters) {
  Limiter limiter({.messages_per_hour = 1, .recipients_per_hour = 5});
  limiter.note_refusal("bob", RateLimit::messages_per_hour);
  limiter.note_refusal("alice", RateLimit::recipients_per_hour);
  limiter.note_refusal("bob", RateLimit::recipients_per_hour);
  limiter.note_refusal("bob", RateLimit::messages_per_hour);
  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  EXPECT_EQ(limiter.refusals(), (Counts{{"alice", 1}, {"bob", 3}}));
  EXPECT_EQ(limiter.refusals(RateLimit::messages_per_hour), 2u);
  EXPECT_EQ(limiter.refusals(RateLimit::recipients_per_hour), 2u);
  limiter.expire(t0 + 10h);
  EXPECT_EQ(limiter.refusals().size(), 2u) << "counters outlive the window";
  EXPECT_EQ(to_string(RateLimit::messages_per_hour), "messages_per_hour");
  EXPECT_EQ(to_string(RateLimit::recipients_per_hour), "recipients_per_hour");
}

}  // namespace
}  // namespace postern::smtp
