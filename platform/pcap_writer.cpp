// PcapWriter implementation (see pcap_writer.hpp): libpcap's dumper over a FILE* that wraps the
// fd we created with mode 0600.
#include "platform/pcap_writer.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace postern::platform {

PcapWriter PcapWriter::create(const std::filesystem::path& path, PcapCreateMode mode,
                              std::uint32_t snaplen) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                    (mode == PcapCreateMode::exclusive ? O_EXCL : O_TRUNC);
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd) throw_errno("create pcap " + path.string());
  // O_TRUNC on an existing file keeps its old mode; enforce 0600 either way.
  if (::fchmod(fd.get(), 0600) < 0) throw_errno("chmod 0600 " + path.string());

  pcap_t* handle = ::pcap_open_dead(DLT_RAW, static_cast<int>(snaplen));
  if (handle == nullptr) {
    throw std::system_error(std::make_error_code(std::errc::not_enough_memory),
                            "pcap_open_dead for " + path.string());
  }
  FILE* file = ::fdopen(fd.get(), "wb");
  if (file == nullptr) {
    ::pcap_close(handle);
    throw_errno("fdopen " + path.string());
  }
  fd.release();  // the FILE owns it now
  pcap_dumper_t* dumper = ::pcap_dump_fopen(handle, file);
  if (dumper == nullptr) {
    const std::string reason = ::pcap_geterr(handle);
    ::fclose(file);
    ::pcap_close(handle);
    throw std::system_error(std::make_error_code(std::errc::io_error),
                            "pcap_dump_fopen " + path.string() + ": " + reason);
  }
  return PcapWriter(handle, dumper, snaplen);
}

PcapWriter::~PcapWriter() { close(); }

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      dumper_(std::exchange(other.dumper_, nullptr)),
      snaplen_(other.snaplen_) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = std::exchange(other.handle_, nullptr);
    dumper_ = std::exchange(other.dumper_, nullptr);
    snaplen_ = other.snaplen_;
  }
  return *this;
}

std::error_code PcapWriter::write(std::span<const std::uint8_t> packet,
                                  std::chrono::system_clock::time_point timestamp) {
  if (dumper_ == nullptr) return std::make_error_code(std::errc::bad_file_descriptor);
  using namespace std::chrono;
  const auto since_epoch = duration_cast<microseconds>(timestamp.time_since_epoch());
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(since_epoch.count() / 1'000'000);
  header.ts.tv_usec = static_cast<suseconds_t>(since_epoch.count() % 1'000'000);
  header.len = static_cast<bpf_u_int32>(packet.size());
  header.caplen = static_cast<bpf_u_int32>(packet.size() < snaplen_ ? packet.size() : snaplen_);
  // pcap_dump's signature is a pcap_handler: user data is the dumper as u_char*.
  ::pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, packet.data());
  if (std::ferror(::pcap_dump_file(dumper_)) != 0) return std::make_error_code(std::errc::io_error);
  return {};
}

std::error_code PcapWriter::flush() {
  if (dumper_ == nullptr) return std::make_error_code(std::errc::bad_file_descriptor);
  if (::pcap_dump_flush(dumper_) != 0) return std::make_error_code(std::errc::io_error);
  return {};
}

std::error_code PcapWriter::close() {
  std::error_code ec;
  if (dumper_ != nullptr) {
    if (::pcap_dump_flush(dumper_) != 0) ec = std::make_error_code(std::errc::io_error);
    ::pcap_dump_close(dumper_);  // also fcloses the FILE and its fd
    dumper_ = nullptr;
  }
  if (handle_ != nullptr) {
    ::pcap_close(handle_);
    handle_ = nullptr;
  }
  return ec;
}

}  // namespace postern::platform
