// The durable spool (see spool.hpp for the layout and the store() contract).
#include "smtp/spool/spool.hpp"

#include "smtp/spool/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kDoneSuffix = ".done";
constexpr int kIdAttempts = 8;

// Runs `sync` (an fsync-style call returning std::error_code) and records how long it took.
template <typename F>
std::error_code timed(SyncLatency& latency, F&& sync) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec = sync();
  latency.observe(std::chrono::steady_clock::now() - start);
  return ec;
}

class SpoolCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "postern.spool"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};

}  // namespace

std::string_view to_string(errc e) {
  switch (e) {
    case errc::invalid_envelope: return "invalid envelope";
    case errc::corrupt_file: return "corrupt queue file";
    case errc::id_collision: return "queue id collision";
    case errc::symlinked_directory: return "tmp/ or queue/ is a symbolic link or not a directory (refused)";
  }
  return "unknown spool error";
}

const std::error_category& spool_category() {
  static const SpoolCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), spool_category()}; }

Spool::Spool(std::filesystem::path root, IdGenerator next_id)
    : root_(std::move(root)),
      tmp_dir_(root_ / "tmp"),
      queue_dir_(root_ / "queue"),
      next_id_(std::move(next_id)) {}

std::filesystem::path Spool::queue_path(std::string_view id) const { return queue_dir_ / id; }

std::error_code Spool::open() {
  if (auto ec = fs::make_directories_synced(tmp_dir_)) return ec;
  if (auto ec = fs::make_directories_synced(queue_dir_)) return ec;
  // Every later create, link and unlink is relative to these: a tmp/ or queue/ replaced by a
  // symbolic link is refused here (ELOOP), and nothing below follows one.
  auto open_dir = [](const std::filesystem::path& dir, fs::Fd& fd) -> std::error_code {
    fd = fs::Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.valid()) return {};
    return errno == ELOOP || errno == ENOTDIR ? make_error_code(errc::symlinked_directory) : fs::last_error();
  };
  if (auto ec = open_dir(tmp_dir_, tmp_fd_)) return ec;
  if (auto ec = open_dir(queue_dir_, queue_fd_)) return ec;
  std::vector<std::string> names;
  if (auto ec = fs::list_directory(tmp_dir_, names)) return ec;
  for (const std::string& name : names) ::unlinkat(tmp_fd_.get(), name.c_str(), 0);
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

StoreResult Spool::store(const MessageEnvelope& envelope, std::string_view message) {
  MessageEnvelope normal;
  if (auto ec = normalize_envelope(envelope, normal)) return {{}, ec};
  const std::string header = encode_envelope(normal);
  for (int attempt = 0; attempt < kIdAttempts; ++attempt) {
    std::string id = make_id();
    std::error_code ec = store_checked(id, header, message);
    if (ec == make_error_code(errc::id_collision)) continue;
    if (ec) return {{}, ec};
    return {std::move(id), {}};
  }
  return {{}, make_error_code(errc::id_collision)};
}

std::error_code Spool::store_as(std::string_view id, const MessageEnvelope& envelope,
                                std::string_view message) {
  MessageEnvelope normal;
  if (!is_queue_id(id)) return make_error_code(errc::invalid_envelope);
  if (auto ec = normalize_envelope(envelope, normal)) return ec;
  return store_checked(std::string(id), encode_envelope(normal), message);
}

std::error_code Spool::begin(std::string_view id, const MessageEnvelope& envelope, MessageWriter& out) {
  MessageEnvelope normal;
  if (!is_queue_id(id)) return make_error_code(errc::invalid_envelope);
  if (auto ec = normalize_envelope(envelope, normal)) return ec;
  return begin_checked(std::string(id), encode_envelope(normal), out);
}

std::error_code Spool::begin_checked(const std::string& id, const std::string& header, MessageWriter& out) {
  if (!tmp_fd_.valid() || !queue_fd_.valid()) return std::make_error_code(std::errc::bad_file_descriptor);
  // Known now rather than after the whole transfer; link() below still refuses a race.
  struct stat st {};
  if (::fstatat(queue_fd_.get(), id.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return make_error_code(errc::id_collision);
  fs::Fd fd(::openat(tmp_fd_.get(), id.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  // EEXIST: another store is writing the same id right now.
  if (!fd.valid()) return errno == EEXIST ? make_error_code(errc::id_collision) : fs::last_error();
  MessageWriter writer(*this, id, std::move(fd));
  if (auto ec = fs::write_all(writer.fd_.get(), header)) return ec;  // the writer unlinks tmp/<id>
  out = std::move(writer);
  return {};
}

std::error_code Spool::store_checked(const std::string& id, const std::string& header,
                                     std::string_view message) {
  MessageWriter writer;
  if (auto ec = begin_checked(id, header, writer)) return ec;
  if (auto ec = writer.append(message)) return ec;
  return writer.commit();
}

void Spool::drop_tmp(const std::string& id) { ::unlinkat(tmp_fd_.get(), id.c_str(), 0); }

std::error_code Spool::commit(MessageWriter& writer) {
  fs::Fd fd = std::move(writer.fd_);  // the writer is spent whatever happens
  // fdatasync is enough: the size is part of the data it flushes; the name is made durable by
  // the directory fsync after the link.
  std::error_code ec = timed(sync_latency_, [&] { return ::fdatasync(fd.get()) != 0 ? fs::last_error() : std::error_code{}; });
  if (!ec && ::close(fd.release()) != 0) ec = fs::last_error();
  if (ec) {
    drop_tmp(writer.id_);
    return ec;
  }
  // link() rather than rename(): it refuses to replace an existing queue file, so an id
  // collision can never overwrite a message that was already acknowledged.
  const char* name = writer.id_.c_str();
  if (::linkat(tmp_fd_.get(), name, queue_fd_.get(), name, 0) != 0) {
    ec = fs::last_error();
    drop_tmp(writer.id_);
    return ec == std::errc::file_exists ? make_error_code(errc::id_collision) : ec;
  }
  drop_tmp(writer.id_);
  if (auto sync_ec = commit_queue_directory()) {
    // Not durable, so not accepted: the client gets 451 and sends the message again, and a
    // queue file left here would be delivered as a second copy.
    ::unlinkat(queue_fd_.get(), name, 0);
    return sync_ec;
  }
  return {};
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
    std::error_code ec = timed(sync_latency_, [&] {
      if (sync_dir_) return sync_dir_(queue_fd_.get());
      return ::fsync(queue_fd_.get()) != 0 ? fs::last_error() : std::error_code{};
    });
    lock.lock();
    syncing_ = false;
    if (!ec) synced_ = covers;
    sync_done_.notify_all();
    if (ec) return ec;
  }
  return {};
}

std::error_code Spool::list_ids(std::vector<std::string>& ids) const {
  std::vector<std::string> names;
  if (auto ec = fs::list_directory(queue_dir_, names)) return ec;
  ids.clear();
  for (std::string& name : names) {
    if (is_queue_id(name)) ids.push_back(std::move(name));
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
                            std::vector<QueueRecord>& records) const {
  if (!is_queue_id(id)) return make_error_code(errc::invalid_envelope);
  const std::filesystem::path path = queue_dir_ / id;
  std::string file;
  if (auto ec = fs::read_file(path, file)) return ec;
  if (!decode_queue_file_owned(std::move(file), message)) return make_error_code(errc::corrupt_file);
  if (message.queued_at == WallTime{}) {
    // A file of the first version: the time it was written is the time it was accepted.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      message.queued_at = from_unix_ms(std::int64_t{st.st_mtim.tv_sec} * 1000 +
                                       st.st_mtim.tv_nsec / 1'000'000);
    }
  }
  message.id = id;
  records.clear();
  std::string done_file;
  std::error_code ec = fs::read_file(queue_dir_ / (std::string(id) + std::string(kDoneSuffix)),
                                     done_file);
  if (ec && ec != std::errc::no_such_file_or_directory) return ec;
  if (!ec) records = decode_records(done_file);
  return {};
}

namespace {

// Cuts a torn last line (a crash mid-append) so the next append starts on a line of its own.
std::error_code cut_torn_tail(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fs::last_error();
  if (st.st_size == 0) return {};
  char last = 0;
  if (::pread(fd, &last, 1, st.st_size - 1) != 1) return fs::last_error();
  if (last == '\n') return {};
  std::string content(static_cast<std::size_t>(st.st_size), '\0');
  if (::pread(fd, content.data(), content.size(), 0) != st.st_size) return fs::last_error();
  std::size_t keep = content.rfind('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  if (::ftruncate(fd, static_cast<off_t>(keep)) != 0) return fs::last_error();
  return {};
}

}  // namespace

std::error_code Spool::append_records(std::string_view id, std::span<const QueueRecord> records) {
  if (!is_queue_id(id)) return make_error_code(errc::invalid_envelope);
  std::string batch;
  for (const QueueRecord& r : records) {
    const bool names_recipient = r.type == RecordType::delivered ||
                                 r.type == RecordType::failed || r.type == RecordType::deferred;
    if (names_recipient && !recordable_address(r.recipient)) {
      return make_error_code(errc::invalid_envelope);
    }
    batch += encode_record(r);
  }
  if (batch.empty()) return {};
  std::filesystem::path path = queue_dir_ / (std::string(id) + std::string(kDoneSuffix));
  bool created = true;
  // O_EXCL never follows a symbolic link; the reopen of an existing record file must not either.
  fs::Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid() && errno == EEXIST) {
    created = false;
    fd = fs::Fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!fd.valid()) return fs::last_error();
  if (!created) {
    if (auto ec = cut_torn_tail(fd.get())) return ec;
  }
  if (auto ec = fs::write_all(fd.get(), batch)) return ec;
  if (auto ec = timed(sync_latency_, [&] { return ::fdatasync(fd.get()) != 0 ? fs::last_error() : std::error_code{}; }))
    return ec;
  if (created) return timed(sync_latency_, [&] { return fs::sync_directory(queue_dir_); });
  return {};
}

std::error_code Spool::remove(std::string_view id) {
  if (!is_queue_id(id)) return make_error_code(errc::invalid_envelope);
  if (::unlink((queue_dir_ / id).c_str()) != 0 && errno != ENOENT) return fs::last_error();
  std::filesystem::path done = queue_dir_ / (std::string(id) + std::string(kDoneSuffix));
  if (::unlink(done.c_str()) != 0 && errno != ENOENT) return fs::last_error();
  // Not fsync'ed on purpose: if the removal is lost in a crash, the message comes back with
  // its complete .done file and is removed again without a second delivery.
  return {};
}

}  // namespace postern::smtp::spool
