// One message being written into the spool while it arrives (the SMTP DATA/BDAT stream), so a
// session never holds the whole message in memory.
//
// Lifecycle: Spool::begin() creates tmp/<id> (O_EXCL, O_NOFOLLOW, relative to the spool's
// tmp/ descriptor) and writes the envelope header; append() adds message bytes as they arrive
// (plain write(2) into the page cache, no sync); commit() fdatasyncs the file, link()s it into
// queue/ and fsyncs queue/ (shared with concurrent stores: Spool's group commit), after which the
// caller may reply 250. A writer that is destroyed or discard()ed before a successful commit
// unlinks its tmp/ file, so an aborted or refused transfer leaves nothing; after a crash the
// tmp/ file is removed by the next Spool::open().
// Contract: blocking file I/O, run it on a worker thread; one thread at a time per writer (the
// connection awaits each call). Errors are values; after an append() error the writer is
// useless: discard it (the caller replies 451 at the end of the transfer).
#pragma once

#include "smtp/spool/fs.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace postern::smtp::spool {

class Spool;

class MessageWriter {
 public:
  MessageWriter() = default;
  MessageWriter(MessageWriter&& other) noexcept;
  MessageWriter& operator=(MessageWriter&& other) noexcept;
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;
  ~MessageWriter() { discard(); }

  bool is_open() const { return fd_.valid(); }
  const std::string& id() const { return id_; }
  std::uint64_t size() const { return size_; }  // message bytes appended (the header excluded)

  std::error_code append(std::string_view bytes);
  // Durable and queued when it returns {}; on error nothing is queued (the file is gone).
  std::error_code commit();
  // Closes and unlinks the tmp/ file; nothing once committed or never opened.
  void discard();

 private:
  friend class Spool;
  MessageWriter(Spool& spool, std::string id, fs::Fd fd) : spool_(&spool), id_(std::move(id)), fd_(std::move(fd)) {}

  Spool* spool_ = nullptr;
  std::string id_;
  fs::Fd fd_;
  std::uint64_t size_ = 0;
};

}  // namespace postern::smtp::spool
