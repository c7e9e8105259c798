// NetlinkSocket and NetlinkMessage: the transport under netlink.hpp. A NETLINK_ROUTE socket that
// sends one request at a time and waits for its answer (RFC 3549 describes the framing;
// the kernel's include/uapi/linux/netlink.h and rtnetlink.h are the reference).
// Contract: request() sends with NLM_F_ACK and returns the kernel's errno for that sequence
// number (0 = success) plus the extended-ack text when the kernel gives one ("Invalid prefix
// for given prefix length"); dump() calls the visitor for every reply message until NLMSG_DONE.
// Messages are built and parsed with memcpy into local structs: the buffer never gets
// reinterpret_cast to a kernel struct, so malformed replies cannot cause misaligned access.
// Not thread-safe: one socket per thread (setup code is single-threaded anyway).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "platform/unique_fd.hpp"

namespace postern::platform {

// One outgoing netlink message: nlmsghdr, a family header (ifinfomsg, rtmsg...), attributes.
class NetlinkMessage {
 public:
  static constexpr std::size_t capacity = 1024;

  NetlinkMessage(std::uint16_t type, std::uint16_t flags);

  // The family-specific header; call once, right after construction.
  template <typename Header>
  void put_header(const Header& header) {
    append(&header, sizeof(header));
  }
  void put_attr(std::uint16_t type, const void* data, std::size_t size);
  void put_u32(std::uint16_t type, std::uint32_t value) { put_attr(type, &value, sizeof(value)); }
  void put_u8(std::uint16_t type, std::uint8_t value) { put_attr(type, &value, sizeof(value)); }
  void put_string(std::uint16_t type, std::string_view text);  // NUL-terminated

  std::uint16_t type() const { return type_; }
  void add_flags(std::uint16_t flags) { flags_ = static_cast<std::uint16_t>(flags_ | flags); }
  // Finalises nlmsg_len/seq/pid and returns the wire bytes.
  std::span<const std::uint8_t> finish(std::uint32_t seq);

 private:
  void append(const void* data, std::size_t size);

  alignas(4) std::array<std::uint8_t, capacity> buffer_{};
  std::size_t size_ = 0;
  std::uint16_t type_;
  std::uint16_t flags_;
};

// Walks the rtattr list in bytes; visitor(type, payload). Stops at the first malformed one.
void for_each_attr(std::span<const std::uint8_t> bytes,
                   const std::function<void(std::uint16_t, std::span<const std::uint8_t>)>& visit);

// Reads a fixed-size struct from the start of bytes; false when too short.
template <typename T>
bool read_struct(std::span<const std::uint8_t> bytes, T& out) {
  if (bytes.size() < sizeof(T)) return false;
  std::memcpy(&out, bytes.data(), sizeof(T));
  return true;
}

class NetlinkSocket {
 public:
  // Setup-time: throws std::system_error naming the failed call.
  static NetlinkSocket open();

  NetlinkSocket() = default;

  // Adds NLM_F_REQUEST|NLM_F_ACK to message, sends it and waits for the ACK; returns the
  // kernel errno (std::system_category, so ec.message() reads "File exists").
  std::error_code request(NetlinkMessage& message);

  // Sends a dump request (NLM_F_REQUEST|NLM_F_DUMP) and calls visit(type, payload) for every
  // reply, payload being the bytes after nlmsghdr.
  using Visitor = std::function<void(std::uint16_t type, std::span<const std::uint8_t> payload)>;
  std::error_code dump(NetlinkMessage& message, const Visitor& visit);

  // The kernel's extended-ack message for the last failed request, "" if it gave none.
  const std::string& last_error_detail() const { return detail_; }
  int fd() const { return fd_.get(); }

 private:
  explicit NetlinkSocket(UniqueFd fd) : fd_(std::move(fd)), rx_(64 * 1024) {}

  std::error_code send(NetlinkMessage& message, std::uint32_t seq);
  // Receives until the answer to seq is complete (NLMSG_ERROR ack or NLMSG_DONE).
  std::error_code receive(std::uint32_t seq, const Visitor* visit);
  // Handles one received message; sets done when the exchange is over.
  std::error_code handle(std::uint16_t type, std::uint16_t flags,
                         std::span<const std::uint8_t> payload, const Visitor* visit, bool& done);

  UniqueFd fd_;
  std::vector<std::uint8_t> rx_;
  std::uint32_t seq_ = 0;
  std::string detail_;
};

}  // namespace postern::platform
