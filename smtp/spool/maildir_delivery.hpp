// Local delivery into Maildir folders: <root>/<mailbox>/{tmp,new,cur}, created on demand
// (only for recipients the session accepted: with [smtp] recipients, listed ones).
// <mailbox> is the recipient address made safe as a single path component (see mailbox_name).
// File names follow the Maildir convention (maildir(5), Dovecot's maildir format):
//   <seconds>.M<microseconds>Q<queue id>.<host>,S=<size>
// with the time the message was queued (the start of its transfer), so the name is unique (the queue id is)
// and the same on every attempt: "was this already delivered?" is a link(2) that fails with
// EEXIST, and after a restart a search of cur/ for the name (a reader may have moved it).
// ",S=" is the file size, which Dovecot uses as the message's physical size.
// Steps per delivery: write tmp/<name>, fdatasync, link to new/<name> (never replacing),
// unlink the tmp name, fsync new/. The file holds the message bytes exactly as queued (CRLF
// line ends, as received), so what was sent can be compared byte for byte. Files get
// MaildirOptions::ownership (mode, group), directories the matching mode (fs::directory_mode).
#pragma once

#include "smtp/spool/delivery.hpp"
#include "smtp/spool/fs.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace postern::smtp::spool {

// The directory name for a recipient: the domain (after the last '@') lower-cased, the local
// part kept (it is case-sensitive, RFC 5321 2.4); every byte outside [A-Za-z0-9.+_=-@] and a
// leading '.' are %XX-escaped, so the mapping is injective, never contains '/' and never is
// "." or "..". nullopt for an empty address or one longer than 255 bytes once escaped.
std::optional<std::string> mailbox_name(std::string_view recipient);

struct MaildirOptions {
  std::string hostname = "localhost";  // the <host> part of file names
  fs::Ownership ownership;             // [smtp] maildir_mode, maildir_group
};

// The Maildir file name of a message (see above); '/' and ':' in the host are written \057 and
// \072 as the Maildir convention asks.
std::string maildir_file_name(const QueuedMessage& message, std::string_view hostname);

class MaildirDelivery : public Delivery {
 public:
  explicit MaildirDelivery(std::filesystem::path root, MaildirOptions options = {});
  // Each recipient in turn (a Maildir write has no batching to gain).
  std::vector<DeliveryResult> deliver(const QueuedMessage& message,
                                      std::span<const std::string> recipients) override;
  DeliveryResult deliver_one(const QueuedMessage& message, std::string_view recipient);

  // Where deliver() puts (message, recipient), for tests and logs.
  std::optional<std::filesystem::path> delivered_path(const QueuedMessage& message,
                                                      std::string_view recipient) const;

 private:
  bool already_in_cur(const std::filesystem::path& mailbox, const std::string& name) const;

  std::filesystem::path root_;
  MaildirOptions options_;
};

}  // namespace postern::smtp::spool
