// The durable spool (see spool.hpp for the layout and the store() contract).
#include "smtp/spool/spool.hpp"

#include "smtp/spool/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kMagic = "postern-spool 1\n";
constexpr std::string_view kDoneSuffix = ".done";
constexpr int kIdAttempts = 8;

class SpoolCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "postern.spool"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};

bool valid_address(std::string_view address) {
  return address.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_queue_id(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

}  // namespace

std::string_view to_string(errc e) {
  switch (e) {
    case errc::invalid_envelope: return "invalid envelope";
    case errc::corrupt_file: return "corrupt queue file";
    case errc::id_collision: return "queue id collision";
  }
  return "unknown spool error";
}

const std::error_category& spool_category() {
  static const SpoolCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), spool_category()}; }

std::string_view to_string(Outcome outcome) {
  return outcome == Outcome::delivered ? "delivered" : "failed";
}

std::string encode_envelope(std::string_view sender, std::span<const std::string> recipients) {
  std::string out(kMagic);
  out.append("sender ").append(sender).append("\n");
  for (const std::string& rcpt : recipients) out.append("recipient ").append(rcpt).append("\n");
  out.append("\n");
  return out;
}

bool decode_queue_file(std::string_view file, QueuedMessage& out) {
  if (!file.starts_with(kMagic)) return false;
  file.remove_prefix(kMagic.size());
  out.sender.clear();
  out.recipients.clear();
  bool have_sender = false;
  for (;;) {
    std::size_t eol = file.find('\n');
    if (eol == std::string_view::npos) return false;
    std::string_view line = file.substr(0, eol);
    file.remove_prefix(eol + 1);
    if (line.empty()) break;
    if (line.starts_with("sender ")) {
      out.sender = line.substr(7);
      have_sender = true;
    } else if (line.starts_with("recipient ")) {
      out.recipients.emplace_back(line.substr(10));
    } else {
      return false;
    }
  }
  if (!have_sender || out.recipients.empty()) return false;
  out.message.assign(file);
  return true;
}

std::vector<DoneRecord> decode_done_file(std::string_view file) {
  std::vector<DoneRecord> records;
  for (;;) {
    std::size_t eol = file.find('\n');
    if (eol == std::string_view::npos) break;  // torn tail: the record never became durable
    std::string_view line = file.substr(0, eol);
    file.remove_prefix(eol + 1);
    if (line.starts_with("delivered ")) {
      records.push_back({std::string(line.substr(10)), Outcome::delivered});
    } else if (line.starts_with("failed ")) {
      records.push_back({std::string(line.substr(7)), Outcome::failed});
    }
    // Anything else is a torn record glued to a later one; its recipient is simply retried
    // and the delivery's own idempotence check (Maildir: the deterministic name) answers.
  }
  return records;
}

Spool::Spool(std::filesystem::path root, IdGenerator next_id)
    : root_(std::move(root)),
      tmp_dir_(root_ / "tmp"),
      queue_dir_(root_ / "queue"),
      next_id_(std::move(next_id)) {}

std::filesystem::path Spool::queue_path(std::string_view id) const { return queue_dir_ / id; }

std::error_code Spool::open() {
  if (auto ec = fs::make_directories_synced(tmp_dir_)) return ec;
  if (auto ec = fs::make_directories_synced(queue_dir_)) return ec;
  std::vector<std::string> names;
  if (auto ec = fs::list_directory(tmp_dir_, names)) return ec;
  for (const std::string& name : names) ::unlink((tmp_dir_ / name).c_str());
  return {};
}

std::string Spool::make_id() {
  std::uint64_t value;
  {
    std::lock_guard lock(id_mutex_);
    value = next_id_();
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

namespace {

bool valid_envelope(std::string_view sender, std::span<const std::string> recipients) {
  return !recipients.empty() && valid_address(sender) &&
         std::all_of(recipients.begin(), recipients.end(),
                     [](const std::string& r) { return valid_address(r); });
}

std::vector<std::string> without_duplicates(std::span<const std::string> recipients) {
  std::vector<std::string> unique;
  for (const std::string& r : recipients) {
    if (std::find(unique.begin(), unique.end(), r) == unique.end()) unique.push_back(r);
  }
  return unique;
}

}  // namespace

StoreResult Spool::store(std::string_view sender, std::span<const std::string> recipients,
                         std::string_view message) {
  if (!valid_envelope(sender, recipients)) return {{}, make_error_code(errc::invalid_envelope)};
  const std::string header = encode_envelope(sender, without_duplicates(recipients));
  for (int attempt = 0; attempt < kIdAttempts; ++attempt) {
    std::string id = make_id();
    std::error_code ec = store_checked(id, header, message);
    if (ec == make_error_code(errc::id_collision)) continue;
    if (ec) return {{}, ec};
    return {std::move(id), {}};
  }
  return {{}, make_error_code(errc::id_collision)};
}

std::error_code Spool::store_as(std::string_view id, std::string_view sender,
                                std::span<const std::string> recipients, std::string_view message) {
  if (!is_queue_id(id) || !valid_envelope(sender, recipients)) {
    return make_error_code(errc::invalid_envelope);
  }
  return store_checked(std::string(id), encode_envelope(sender, without_duplicates(recipients)),
                       message);
}

std::error_code Spool::store_checked(const std::string& id, const std::string& header,
                                     std::string_view message) {
  std::filesystem::path tmp = tmp_dir_ / id;
  std::error_code ec = fs::write_file_synced(tmp, {header, message});
  // Another store is writing the same id right now.
  if (ec == std::errc::file_exists) return make_error_code(errc::id_collision);
  if (ec) {
    ::unlink(tmp.c_str());
    return ec;
  }
  // link() rather than rename(): it refuses to replace an existing queue file, so an id
  // collision can never overwrite a message that was already acknowledged.
  std::filesystem::path target = queue_dir_ / id;
  if (::link(tmp.c_str(), target.c_str()) != 0) {
    ec = fs::last_error();
    ::unlink(tmp.c_str());
    return ec == std::errc::file_exists ? make_error_code(errc::id_collision) : ec;
  }
  ::unlink(tmp.c_str());
  return commit_queue_directory();
}

std::error_code Spool::commit_queue_directory() {
  std::unique_lock lock(sync_mutex_);
  const std::uint64_t mine = ++renamed_;
  while (synced_ < mine) {
    if (syncing_) {
      sync_done_.wait(lock);
      continue;
    }
    // Lead a sync covering every rename issued so far, including other threads' waiting ones.
    syncing_ = true;
    const std::uint64_t covers = renamed_;
    lock.unlock();
    std::error_code ec = fs::sync_directory(queue_dir_);
    lock.lock();
    syncing_ = false;
    if (!ec) synced_ = covers;
    sync_done_.notify_all();
    if (ec) return ec;
  }
  return {};
}

std::error_code Spool::list_queue(std::vector<std::string>& ids) {
  std::vector<std::string> names;
  if (auto ec = fs::list_directory(queue_dir_, names)) return ec;
  ids.clear();
  for (const std::string& name : names) {
    if (is_queue_id(name)) ids.push_back(name);
  }
  for (const std::string& name : names) {
    if (!name.ends_with(kDoneSuffix)) continue;
    std::string id = name.substr(0, name.size() - kDoneSuffix.size());
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      ::unlink((queue_dir_ / name).c_str());
    }
  }
  return {};
}

std::error_code Spool::load(std::string_view id, QueuedMessage& message,
                            std::vector<DoneRecord>& done) const {
  std::string file;
  if (auto ec = fs::read_file(queue_dir_ / id, file)) return ec;
  if (!decode_queue_file(file, message)) return make_error_code(errc::corrupt_file);
  message.id = id;
  done.clear();
  std::string done_file;
  std::error_code ec = fs::read_file(queue_dir_ / (std::string(id) + std::string(kDoneSuffix)),
                                     done_file);
  if (ec && ec != std::errc::no_such_file_or_directory) return ec;
  if (!ec) done = decode_done_file(done_file);
  return {};
}

std::error_code Spool::record_done(std::string_view id, std::string_view recipient,
                                   Outcome outcome) {
  if (!valid_address(recipient)) return make_error_code(errc::invalid_envelope);
  std::filesystem::path path = queue_dir_ / (std::string(id) + std::string(kDoneSuffix));
  bool created = true;
  fs::Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid() && errno == EEXIST) {
    created = false;
    fd = fs::Fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  }
  if (!fd.valid()) return fs::last_error();
  std::string line = std::string(to_string(outcome)) + " " + std::string(recipient) + "\n";
  if (auto ec = fs::write_all(fd.get(), line)) return ec;
  if (::fdatasync(fd.get()) != 0) return fs::last_error();
  if (created) return fs::sync_directory(queue_dir_);
  return {};
}

std::error_code Spool::remove(std::string_view id) {
  if (::unlink((queue_dir_ / id).c_str()) != 0 && errno != ENOENT) return fs::last_error();
  std::filesystem::path done = queue_dir_ / (std::string(id) + std::string(kDoneSuffix));
  if (::unlink(done.c_str()) != 0 && errno != ENOENT) return fs::last_error();
  // Not fsync'ed on purpose: if the removal is lost in a crash, the message comes back with
  // its complete .done file and is removed again without a second delivery.
  return {};
}

}  // namespace postern::smtp::spool
