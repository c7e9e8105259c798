// Maildir delivery (see maildir_delivery.hpp for the steps and the naming).
#include "smtp/spool/maildir_delivery.hpp"

#include "smtp/spool/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace postern::smtp::spool {
namespace {

constexpr std::size_t kMaxName = 255;

bool plain_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '+' || c == '_' || c == '=' || c == '-' || c == '@';
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(hex[c >> 4]);
  out.push_back(hex[c & 0xF]);
}

// Before the Maildir-convention names (kept so a message queued by an older version and
// delivered just before a crash is still recognised).
std::string legacy_file_name(std::string_view id) { return std::string(id) + ".postern"; }

DeliveryResult temporary(std::string what, const std::error_code& ec) {
  return make_result(DeliveryStatus::temporary_failure, what + ": " + ec.message());
}

}  // namespace

std::string_view to_string(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::delivered: return "delivered";
    case DeliveryStatus::temporary_failure: return "temporary_failure";
    case DeliveryStatus::permanent_failure: return "permanent_failure";
  }
  return "unknown";
}

std::optional<std::string> mailbox_name(std::string_view recipient) {
  if (recipient.empty()) return std::nullopt;
  std::size_t at = recipient.rfind('@');
  std::string out;
  for (std::size_t i = 0; i < recipient.size(); ++i) {
    auto c = static_cast<unsigned char>(recipient[i]);
    if (at != std::string_view::npos && i > at && c >= 'A' && c <= 'Z') {
      c = static_cast<unsigned char>(c - 'A' + 'a');  // domains are case-insensitive
    }
    // '@' is only kept as the separator, so "a@b"@c and a@b@c cannot collide.
    bool keep = plain_byte(c) && !(c == '@' && i != at) && !(i == 0 && c == '.');
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      append_escaped(out, c);
    }
  }
  if (out.size() > kMaxName) return std::nullopt;
  return out;
}

std::string maildir_file_name(const QueuedMessage& message, std::string_view hostname) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::microseconds>(message.queued_at.time_since_epoch());
  const long long usec_total = std::max<long long>(0, since_epoch.count());
  std::string host;
  for (char c : hostname) {
    if (c == '/') host += "\\057";
    else if (c == ':') host += "\\072";
    else host += c;
  }
  return std::to_string(usec_total / 1'000'000) + ".M" + std::to_string(usec_total % 1'000'000) + "Q" + message.id +
         "." + host + ",S=" + std::to_string(message.message.size());
}

MaildirDelivery::MaildirDelivery(std::filesystem::path root, MaildirOptions options)
    : root_(std::move(root)), options_(std::move(options)) {}

std::optional<std::filesystem::path> MaildirDelivery::delivered_path(
    const QueuedMessage& message, std::string_view recipient) const {
  auto mailbox = mailbox_name(recipient);
  if (!mailbox) return std::nullopt;
  return root_ / *mailbox / "new" / maildir_file_name(message, options_.hostname);
}

bool MaildirDelivery::already_in_cur(const std::filesystem::path& mailbox,
                                     const std::string& name) const {
  // A mail reader moves new/<name> to cur/<name>:2,<flags> (or cur/<name>).
  std::vector<std::string> entries;
  if (fs::list_directory(mailbox / "cur", entries)) return false;
  for (const std::string& entry : entries) {
    if (entry == name || entry.starts_with(name + ":")) return true;
  }
  return false;
}

std::vector<DeliveryResult> MaildirDelivery::deliver(const QueuedMessage& message,
                                                     std::span<const std::string> recipients) {
  std::vector<DeliveryResult> results;
  results.reserve(recipients.size());
  for (const std::string& rcpt : recipients) results.push_back(deliver_one(message, rcpt));
  return results;
}

DeliveryResult MaildirDelivery::deliver_one(const QueuedMessage& message,
                                            std::string_view recipient) {
  auto mailbox_dir = mailbox_name(recipient);
  if (!mailbox_dir) return make_result(DeliveryStatus::permanent_failure, "recipient cannot name a mailbox", "5.1.3");
  const std::filesystem::path mailbox = root_ / *mailbox_dir;
  const std::string name = maildir_file_name(message, options_.hostname);
  for (const char* sub : {"tmp", "new", "cur"}) {
    if (auto ec = fs::make_directories_synced(mailbox / sub, options_.ownership)) {
      return temporary("cannot create " + (mailbox / sub).string(), ec);
    }
  }
  const std::filesystem::path final_path = mailbox / "new" / name;
  if (message.recovered) {
    const std::string legacy = legacy_file_name(message.id);
    struct stat st {};
    if (already_in_cur(mailbox, name) || already_in_cur(mailbox, legacy) ||
        ::lstat((mailbox / "new" / legacy).c_str(), &st) == 0) {
      return make_result(DeliveryStatus::delivered, "already delivered before restart");
    }
  }
  const std::filesystem::path tmp_path = mailbox / "tmp" / name;
  ::unlink(tmp_path.c_str());  // leftover of a crash mid-write: it never reached new/
  if (auto ec = fs::write_file_synced(tmp_path, {message.message}, options_.ownership)) {
    ::unlink(tmp_path.c_str());
    return temporary("cannot write " + tmp_path.string(), ec);
  }
  bool existed = false;
  if (::link(tmp_path.c_str(), final_path.c_str()) != 0) {
    std::error_code ec = fs::last_error();
    ::unlink(tmp_path.c_str());
    if (ec != std::errc::file_exists) return temporary("cannot link " + final_path.string(), ec);
    existed = true;
  } else {
    ::unlink(tmp_path.c_str());
  }
  // Even when it existed: the earlier run may have crashed before this fsync.
  if (auto ec = fs::sync_directory(mailbox / "new")) {
    return temporary("cannot sync " + (mailbox / "new").string(), ec);
  }
  return make_result(DeliveryStatus::delivered,
                     existed ? "already delivered before restart" : final_path.string());
}

}  // namespace postern::smtp::spool
