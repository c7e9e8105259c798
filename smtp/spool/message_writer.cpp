// A message streamed into the spool (see message_writer.hpp); the queue/ side is Spool::commit.
#include "smtp/spool/message_writer.hpp"

#include "smtp/spool/spool.hpp"

#include <utility>

namespace postern::smtp::spool {

MessageWriter::MessageWriter(MessageWriter&& other) noexcept
    : spool_(std::exchange(other.spool_, nullptr)),
      id_(std::move(other.id_)),
      fd_(std::move(other.fd_)),
      size_(std::exchange(other.size_, 0)) {}

MessageWriter& MessageWriter::operator=(MessageWriter&& other) noexcept {
  if (this != &other) {
    discard();
    spool_ = std::exchange(other.spool_, nullptr);
    id_ = std::move(other.id_);
    fd_ = std::move(other.fd_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

std::error_code MessageWriter::append(std::string_view bytes) {
  if (!fd_.valid()) return std::make_error_code(std::errc::bad_file_descriptor);
  if (auto ec = fs::write_all(fd_.get(), bytes)) return ec;
  size_ += bytes.size();
  return {};
}

std::error_code MessageWriter::commit() {
  if (!fd_.valid()) return std::make_error_code(std::errc::bad_file_descriptor);
  return spool_->commit(*this);
}

void MessageWriter::discard() {
  if (!fd_.valid()) return;
  fd_ = fs::Fd();
  spool_->drop_tmp(id_);
}

}  // namespace postern::smtp::spool
