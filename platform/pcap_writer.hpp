// PcapWriter: writes the raw IP packets that cross the TUN to a classic pcap file
// (link type DLT_RAW: each record is a bare IPv4/IPv6 packet) for debugging with tcpdump or
// Wireshark. Tunnel payloads are users' traffic, so the file is created mode 0600 by us
// (open(2) with O_CREAT and an explicit mode) before libpcap ever sees it.
// Contract: create() is setup-time and throws std::system_error naming the path; write() and
// flush() return errors as values and never throw. Single writer: not thread-safe; a daemon
// with several packet threads gives each its own file or serialises calls itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <system_error>

struct pcap;
struct pcap_dumper;

namespace postern::platform {

enum class PcapCreateMode {
  exclusive,  // O_EXCL: fail if the file exists (never follow a planted symlink)
  truncate,   // O_TRUNC: overwrite an existing file (O_NOFOLLOW still refuses symlinks)
};

class PcapWriter {
 public:
  static constexpr std::uint32_t default_snaplen = 65535;

  static PcapWriter create(const std::filesystem::path& path,
                           PcapCreateMode mode = PcapCreateMode::exclusive,
                           std::uint32_t snaplen = default_snaplen);

  PcapWriter() = default;
  ~PcapWriter();
  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  bool is_open() const { return dumper_ != nullptr; }
  // Appends one packet (cut to snaplen; the original length is recorded). The timestamp is
  // wall-clock time, which is what pcap readers display.
  std::error_code write(std::span<const std::uint8_t> packet,
                        std::chrono::system_clock::time_point timestamp);
  std::error_code flush();
  // Flushes and closes; also done by the destructor.
  std::error_code close();

 private:
  PcapWriter(pcap* handle, pcap_dumper* dumper, std::uint32_t snaplen)
      : handle_(handle), dumper_(dumper), snaplen_(snaplen) {}

  pcap* handle_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  std::uint32_t snaplen_ = default_snaplen;
};

}  // namespace postern::platform
