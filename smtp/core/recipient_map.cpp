// The recipient map: grammar, checks, and alias expansion at load time (see recipient_map.hpp).
// Two passes: read every line into Entry (syntax, duplicates, local-domain checks), then expand
// each alias depth first with memoisation, so a shared sub-alias is expanded once and a loop is
// seen as a key met again while it is still being expanded.
#include "smtp/core/recipient_map.hpp"

#include <algorithm>
#include <unordered_set>

#include "smtp/core/address.hpp"
#include "smtp/core/map_lines.hpp"

namespace postern::smtp {
namespace {

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

struct Entry {
  std::size_t line = 0;
  bool alias = false;
  std::vector<std::string> targets;  // as written
};

bool is_local(std::string_view address, std::span<const std::string> local_domains) {
  const std::string_view domain = domain_of(address);
  return std::any_of(local_domains.begin(), local_domains.end(),
                     [&](const std::string& local) { return iequals(local, domain); });
}

class Expander {
 public:
  Expander(const std::unordered_map<std::string, Entry>& entries, std::string_view file_name,
           std::span<const std::string> local_domains)
      : entries_(entries), file_name_(file_name), local_domains_(local_domains) {}

  // Final recipients of `key` (a key of entries_), memoised.
  const std::vector<std::string>& expand(const std::string& key) {
    if (auto done = done_.find(key); done != done_.end()) return done->second.targets;
    const Entry& entry = entries_.at(key);
    Result result;
    if (!entry.alias) {
      result.targets = {key};
      return done_.emplace(key, std::move(result)).first->second.targets;
    }
    stack_.push_back(key);
    std::unordered_set<std::string> seen;
    const auto add = [&](const std::string& target) {
      if (seen.insert(map_lines::fold_case(target)).second) result.targets.push_back(target);
    };
    std::string deepest;
    for (const std::string& target : entry.targets) {
      const std::string folded = map_lines::fold_case(target);
      if (folded == key) {
        add(key);  // its own mailbox
      } else if (entries_.contains(folded)) {
        check_no_loop(folded, entry.line);
        for (const std::string& t : expand(folded)) add(t);
        if (depth_of(folded) > result.depth - 1) {
          result.depth = depth_of(folded) + 1;
          deepest = folded;
        }
      } else if (!local_domains_.empty() && is_local(folded, local_domains_)) {
        map_lines::fail(file_name_, entry.line,
                        "alias target " + quoted(target) + " is at a local domain but is neither a mailbox nor an alias");
      } else {
        add(target);  // elsewhere: the relay's
      }
    }
    if (result.depth > kMaxAliasDepth) {
      map_lines::fail(file_name_, entry.line,
                      "alias " + quoted(key) + " nests more than " + std::to_string(kMaxAliasDepth) +
                          " aliases deep (via " + quoted(deepest) + ")");
    }
    stack_.pop_back();
    return done_.emplace(key, std::move(result)).first->second.targets;
  }

 private:
  struct Result {
    std::vector<std::string> targets;
    int depth = 1;  // an alias of final targets; a mailbox is 0
  };

  int depth_of(const std::string& key) const { return entries_.at(key).alias ? done_.at(key).depth : 0; }

  void check_no_loop(const std::string& next, std::size_t line) const {
    const auto start = std::find(stack_.begin(), stack_.end(), next);
    if (start == stack_.end()) return;
    std::string chain;
    for (auto it = start; it != stack_.end(); ++it) chain += *it + " -> ";
    map_lines::fail(file_name_, line, "alias loop: " + chain + next);
  }

  const std::unordered_map<std::string, Entry>& entries_;
  std::string_view file_name_;
  std::span<const std::string> local_domains_;
  std::vector<std::string> stack_;  // aliases being expanded, outermost first
  std::unordered_map<std::string, Result> done_;
};

// Pass 1: one line into (key, Entry), with every check that needs only that line.
std::pair<std::string, Entry> parse_line(const map_lines::Line& line, std::string_view file_name,
                                         std::span<const std::string> local_domains) {
  const auto fail = [&](const std::string& what) { map_lines::fail(file_name, line.number, what); };
  const std::size_t colon = map_lines::find_unquoted(line.text, ':');
  const std::string_view key = map_lines::trim(line.text.substr(0, colon));
  if (!valid_mailbox(key)) fail("invalid address " + quoted(key));
  if (!local_domains.empty() && !is_local(key, local_domains)) {
    fail(quoted(key) + " is not at a local domain (" + std::string(domain_of(key)) + ")");
  }
  Entry entry;
  entry.line = line.number;
  if (colon != std::string_view::npos) {
    entry.alias = true;
    const std::string_view list = map_lines::trim(line.text.substr(colon + 1));
    if (list.empty()) fail("alias " + quoted(key) + " lists no targets");
    for (std::string_view target : map_lines::split_list(list)) {
      if (target.empty()) fail("empty target in the alias " + quoted(key));
      if (!valid_mailbox(target)) fail("invalid alias target " + quoted(target));
      entry.targets.emplace_back(target);
    }
  }
  return {map_lines::fold_case(key), std::move(entry)};
}

}  // namespace

RecipientMap parse_recipient_map(std::string_view text, std::string_view file_name,
                                 std::span<const std::string> local_domains) {
  std::unordered_map<std::string, Entry> entries;
  std::vector<std::string> order;  // file order, so errors and expansion are deterministic
  for (const map_lines::Line& line : map_lines::content_lines(text)) {
    auto [key, entry] = parse_line(line, file_name, local_domains);
    if (auto it = entries.find(key); it != entries.end()) {
      map_lines::fail(file_name, line.number,
                      "duplicate recipient " + quoted(key) + " (first listed on line " + std::to_string(it->second.line) + ")");
    }
    order.push_back(key);
    entries.emplace(std::move(key), std::move(entry));
  }
  RecipientMap map;
  Expander expander(entries, file_name, local_domains);
  for (const std::string& key : order) map.resolved_.emplace(key, expander.expand(key));
  return map;
}

RecipientMap load_recipient_map(const std::string& path, std::span<const std::string> local_domains) {
  return parse_recipient_map(map_lines::read_map_file(path, "recipient map"), path, local_domains);
}

std::optional<std::vector<std::string>> RecipientMap::resolve(std::string_view address) const {
  const auto it = resolved_.find(map_lines::fold_case(address));
  if (it == resolved_.end()) return std::nullopt;
  return it->second;
}

bool RecipientMap::contains(std::string_view address) const {
  return resolved_.contains(map_lines::fold_case(address));
}

}  // namespace postern::smtp
