// NETLINK_ROUTE transport (see netlink_socket.hpp).
#include "platform/netlink_socket.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <utility>

#include "platform/sys_error.hpp"

namespace postern::platform {
namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3U) & ~std::size_t{3}; }
constexpr std::size_t k_header_size = align4(sizeof(nlmsghdr));

struct RtAttrHeader {  // struct rtattr / struct nlattr: same layout
  std::uint16_t len;
  std::uint16_t type;
};

std::error_code kernel_error(int negative_errno) {
  return {-negative_errno, std::system_category()};
}

// Extended ack (linux/netlink.h, NLM_F_ACK_TLVS): TLVs follow struct nlmsgerr and, unless
// NLM_F_CAPPED, the echoed request payload. NLMSGERR_ATTR_MSG holds a human-readable reason.
std::string extack_message(std::uint16_t flags, std::span<const std::uint8_t> payload) {
  nlmsgerr err{};
  if ((flags & NLM_F_ACK_TLVS) == 0 || !read_struct(payload, err)) return {};
  std::size_t offset = sizeof(nlmsgerr);
  if ((flags & NLM_F_CAPPED) == 0 && err.msg.nlmsg_len > sizeof(nlmsghdr)) {
    offset += align4(err.msg.nlmsg_len - sizeof(nlmsghdr));
  }
  if (offset >= payload.size()) return {};
  std::string text;
  for_each_attr(payload.subspan(offset), [&](std::uint16_t type, std::span<const std::uint8_t> value) {
    if (type != NLMSGERR_ATTR_MSG || value.empty()) return;
    const auto* chars = reinterpret_cast<const char*>(value.data());
    text.assign(chars, ::strnlen(chars, value.size()));
  });
  return text;
}

}  // namespace

NetlinkMessage::NetlinkMessage(std::uint16_t type, std::uint16_t flags)
    : type_(type), flags_(flags) {
  size_ = k_header_size;
}

void NetlinkMessage::append(const void* data, std::size_t size) {
  // Capacity is sized for every request netlink.cpp builds; overflowing it is a programming error.
  if (size_ + align4(size) > capacity) throw std::length_error("netlink message overflow");
  std::memcpy(buffer_.data() + size_, data, size);
  size_ += align4(size);
}

void NetlinkMessage::put_attr(std::uint16_t type, const void* data, std::size_t size) {
  const RtAttrHeader header{static_cast<std::uint16_t>(sizeof(RtAttrHeader) + size), type};
  if (size_ + sizeof(header) + align4(size) > capacity) {
    throw std::length_error("netlink message overflow");
  }
  std::memcpy(buffer_.data() + size_, &header, sizeof(header));
  size_ += sizeof(header);
  append(data, size);
}

void NetlinkMessage::put_string(std::uint16_t type, std::string_view text) {
  std::array<char, 256> copy{};
  if (text.size() >= copy.size()) throw std::length_error("netlink string attribute too long");
  std::memcpy(copy.data(), text.data(), text.size());
  put_attr(type, copy.data(), text.size() + 1);
}

std::span<const std::uint8_t> NetlinkMessage::finish(std::uint32_t seq) {
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(size_);
  header.nlmsg_type = type_;
  header.nlmsg_flags = flags_;
  header.nlmsg_seq = seq;
  header.nlmsg_pid = 0;  // the kernel fills in our port id
  std::memcpy(buffer_.data(), &header, sizeof(header));
  return {buffer_.data(), size_};
}

void for_each_attr(std::span<const std::uint8_t> bytes,
                   const std::function<void(std::uint16_t, std::span<const std::uint8_t>)>& visit) {
  while (bytes.size() >= sizeof(RtAttrHeader)) {
    RtAttrHeader header{};
    read_struct(bytes, header);
    if (header.len < sizeof(RtAttrHeader) || header.len > bytes.size()) return;
    // NLA_F_NESTED / NLA_F_NET_BYTEORDER live in the top bits of the type.
    visit(static_cast<std::uint16_t>(header.type & 0x3FFF),
          bytes.subspan(sizeof(RtAttrHeader), header.len - sizeof(RtAttrHeader)));
    const std::size_t step = align4(header.len);
    if (step >= bytes.size()) return;
    bytes = bytes.subspan(step);
  }
}

NetlinkSocket NetlinkSocket::open() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) throw_errno("socket(AF_NETLINK, NETLINK_ROUTE)");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) < 0) {
    throw_errno("bind netlink socket");
  }
  // Ask for extended acks (kernel >= 4.12) so failures come with a reason; harmless if refused.
  const int on = 1;
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
  // The kernel answers rtnetlink requests synchronously; a timeout only guards against a bug
  // (ours or the kernel's) turning daemon startup into a silent hang.
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return NetlinkSocket(std::move(fd));
}

std::error_code NetlinkSocket::send(NetlinkMessage& message, std::uint32_t seq) {
  const auto bytes = message.finish(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    const ssize_t n = ::sendto(fd_.get(), bytes.data(), bytes.size(), 0,
                               reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) return {};
    if (errno != EINTR) return last_error();
  }
}

std::error_code NetlinkSocket::request(NetlinkMessage& message) {
  detail_.clear();
  const std::uint32_t seq = ++seq_;
  message.add_flags(NLM_F_REQUEST | NLM_F_ACK);
  if (auto ec = send(message, seq)) return ec;
  return receive(seq, nullptr);
}

std::error_code NetlinkSocket::dump(NetlinkMessage& message, const Visitor& visit) {
  detail_.clear();
  const std::uint32_t seq = ++seq_;
  message.add_flags(NLM_F_REQUEST | NLM_F_DUMP);
  if (auto ec = send(message, seq)) return ec;
  return receive(seq, &visit);
}

std::error_code NetlinkSocket::receive(std::uint32_t seq, const Visitor* visit) {
  std::error_code result;
  bool done = false;
  while (!done) {
    const ssize_t n = ::recv(fd_.get(), rx_.data(), rx_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    std::span<const std::uint8_t> bytes(rx_.data(), static_cast<std::size_t>(n));
    while (bytes.size() >= sizeof(nlmsghdr)) {
      nlmsghdr header{};
      read_struct(bytes, header);
      if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > bytes.size()) break;
      const auto payload = bytes.subspan(k_header_size, header.nlmsg_len - k_header_size);
      // Late answers to earlier, abandoned requests carry another seq: skip them.
      if (header.nlmsg_seq == seq) {
        auto ec = handle(header.nlmsg_type, header.nlmsg_flags, payload, visit, done);
        if (ec && !result) result = ec;
      }
      const std::size_t step = align4(header.nlmsg_len);
      if (step >= bytes.size()) break;
      bytes = bytes.subspan(step);
    }
  }
  return result;
}

std::error_code NetlinkSocket::handle(std::uint16_t type, std::uint16_t flags,
                                      std::span<const std::uint8_t> payload, const Visitor* visit,
                                      bool& done) {
  if (type == NLMSG_ERROR) {
    done = true;
    nlmsgerr err{};
    if (!read_struct(payload, err)) return std::make_error_code(std::errc::bad_message);
    if (err.error == 0) return {};
    detail_ = extack_message(flags, payload);
    return kernel_error(err.error);
  }
  if (type == NLMSG_DONE) {
    done = true;
    int status = 0;
    read_struct(payload, status);
    return status < 0 ? kernel_error(status) : std::error_code{};
  }
  if (visit != nullptr && type != NLMSG_NOOP) (*visit)(type, payload);
  return {};
}

}  // namespace postern::platform
