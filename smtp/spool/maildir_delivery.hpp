// Local delivery into Maildir folders: <root>/<mailbox>/{tmp,new,cur}, created on demand.
// <mailbox> is the recipient address made safe as a single path component (see mailbox_name);
// the file name in new/ is derived from the queue id only ("<id>.postern"), which is unique in
// a mailbox and makes "was this already delivered?" a link(2) that fails with EEXIST.
// Steps per delivery: write tmp/<name>, fdatasync, link to new/<name> (never replacing),
// unlink the tmp name, fsync new/. The file holds the message bytes exactly as queued (CRLF
// line ends, as received), so what was sent can be compared byte for byte.
#pragma once

#include "smtp/spool/delivery.hpp"

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

class MaildirDelivery : public Delivery {
 public:
  explicit MaildirDelivery(std::filesystem::path root);
  // Each recipient in turn (a Maildir write has no batching to gain).
  std::vector<DeliveryResult> deliver(const QueuedMessage& message,
                                      std::span<const std::string> recipients) override;
  DeliveryResult deliver_one(const QueuedMessage& message, std::string_view recipient);

  // Where deliver() puts (message id, recipient), for tests and logs.
  std::optional<std::filesystem::path> delivered_path(std::string_view id,
                                                      std::string_view recipient) const;

 private:
  bool already_in_cur(const std::filesystem::path& mailbox, const std::string& name) const;

  std::filesystem::path root_;
};

}  // namespace postern::smtp::spool
