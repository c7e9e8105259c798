// The fixed stage of `postern demo`: namespace, interface and address names, the two daemon
// configuration files it writes, and small file/proc helpers (random tokens, Maildir scan,
// "is this port listening in that process's namespace"). No process is started here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace postern::cli::demo {

// Names are fixed (not per-run) so `postern demo --stop` can find a --keep'd demo, and a second
// demo refuses to start instead of piling up.
struct Stage {
  static constexpr const char* laptop_ns = "postern-demo-laptop";
  static constexpr const char* site_ns = "postern-demo-site";
  static constexpr const char* laptop_veth = "pdemo-laptop";
  static constexpr const char* site_veth = "pdemo-site";
  static constexpr const char* laptop_cidr = "10.99.0.1/24";
  static constexpr const char* site_cidr = "10.99.0.2/24";
  static constexpr const char* site_ip = "10.99.0.2";
  static constexpr std::uint16_t tunnel_port = 1723;
  static constexpr const char* tun_name = "pdemo0";
  static constexpr const char* pool = "10.77.0.0/24";
  static constexpr const char* site_tunnel_ip = "10.77.0.1";  // first host of the pool
  static constexpr const char* domain = "site.test";
  static constexpr const char* user = "demo";
  static constexpr const char* mail_address = "demo@site.test";
  static constexpr const char* state_file = "/run/postern-demo.state";
};

// site.toml: [tunnel] server + [smtp] on the tunnel address (25 and 587 STARTTLS, 465 TLS).
void write_server_config(const std::filesystem::path& dir);
// laptop.toml: [tunnel] client with the laptop certificate.
void write_client_config(const std::filesystem::path& dir);


// `bytes` random bytes (OpenSSL RAND_bytes) as lower-case hex.
std::string random_hex(std::size_t bytes);

// Writes `text` to `file` with mode `mode` (0600 for the password).
void write_file(const std::filesystem::path& file, const std::string& text, std::filesystem::perms mode);

// Regular files in any `new/` folder below `maildir`, sorted by modification time.
std::vector<std::filesystem::path> delivered_messages(const std::filesystem::path& maildir);

// What a person wants to see of a delivered message: the first line of its Received: header
// (added by the server), its From/To/Subject headers and the first body line (CR stripped).
std::vector<std::string> message_summary(const std::filesystem::path& file);
// Whether `needle` occurs anywhere in the file.
bool file_contains(const std::filesystem::path& file, const std::string& needle);

// True when a TCP socket listens on ip:port in the network namespace of process `pid`
// (/proc/PID/net/tcp shows the sockets of that process's namespace).
bool tcp_listening(pid_t pid, const std::string& ip, std::uint16_t port);

}  // namespace postern::cli::demo
