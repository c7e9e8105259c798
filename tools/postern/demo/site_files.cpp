// The fixed stage of `postern demo` (see site_files.hpp). Configuration keys follow
// docs/configuration.md; relative paths in them resolve against the file's directory.
#include "tools/postern/demo/site_files.hpp"

#include <arpa/inet.h>
#include <unistd.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace postern::cli::demo {

namespace fs = std::filesystem;

void write_file(const fs::path& file, const std::string& text, fs::perms mode) {
  {
    std::ofstream out(file, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + file.string());
  }
  fs::permissions(file, mode);
}

void write_server_config(const fs::path& dir) {
  std::ostringstream c;
  c << "# postern demo: the site (tunnel server + SMTP submission on the tunnel address)\n"
    << "[tunnel]\n"
    << "listen = \"" << Stage::site_ip << ':' << Stage::tunnel_port << "\"\n"
    << "certificate = \"pki/server.pem\"\nprivate_key = \"pki/server.key\"\nclient_ca = \"pki/ca.pem\"\n"
    << "users = \"users\"\n"
    << "pool = \"" << Stage::pool << "\"\n"
    << "interface = \"" << Stage::tun_name << "\"\n\n"
    << "[smtp]\n"
    << "listen = [\"" << Stage::site_tunnel_ip << ":25 starttls\", \"" << Stage::site_tunnel_ip
    << ":587 starttls\", \"" << Stage::site_tunnel_ip << ":465 tls\"]\n"
    << "hostname = \"mail." << Stage::domain << "\"\n"
    << "certificate = \"pki/server.pem\"\nprivate_key = \"pki/server.key\"\n"
    << "spool = \"spool\"\nmaildir = \"maildir\"\n"
    << "domains = [\"" << Stage::domain << "\"]\n"
    << "users = \"users\"\n"
    // Not trusting the pool: the demo shows AUTH working inside the tunnel.
    << "trusted_networks = []\n\n"
    << "[daemon]\n"
    << "status_socket = \"" << (dir / "site.sock").string() << "\"\n";
  write_file(dir / "site.toml", c.str(), fs::perms(0644));
}

void write_client_config(const fs::path& dir) {
  std::ostringstream c;
  c << "# postern demo: the laptop (tunnel client with a certificate)\n"
    << "[tunnel]\n"
    << "server = \"" << Stage::site_ip << ':' << Stage::tunnel_port << "\"\n"
    << "ca = \"pki/ca.pem\"\ncertificate = \"pki/" << Stage::user << ".pem\"\nprivate_key = \"pki/" << Stage::user
    << ".key\"\n"
    << "interface = \"" << Stage::tun_name << "\"\n\n"
    << "[daemon]\n"
    << "status_socket = \"" << (dir / "laptop.sock").string() << "\"\n";
  write_file(dir / "laptop.toml", c.str(), fs::perms(0644));
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::vector<fs::path> delivered_messages(const fs::path& maildir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(maildir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(maildir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().parent_path().filename() == "new") out.push_back(it->path());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    std::error_code e1, e2;
    return fs::last_write_time(a, e1) < fs::last_write_time(b, e2);
  });
  return out;
}

std::vector<std::string> message_summary(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  std::string line;
  bool in_body = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (in_body) {
      if (line.empty()) continue;
      out.push_back(line);
      break;
    }
    if (line.empty()) {
      in_body = true;
      out.push_back("");
    } else if ((out.empty() && line.rfind("Received:", 0) == 0) || line.rfind("From:", 0) == 0 ||
               line.rfind("To:", 0) == 0 || line.rfind("Subject:", 0) == 0) {
      out.push_back(line);
    }
  }
  return out;
}

bool file_contains(const fs::path& file, const std::string& needle) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find(needle) != std::string::npos;
}

bool tcp_listening(pid_t pid, const std::string& ip, std::uint16_t port) {
  in_addr addr{};
  if (::inet_pton(AF_INET, ip.c_str(), &addr) != 1) return false;
  // The kernel prints the raw network-order word with %08X, i.e. as a host-order integer.
  char want[16];
  std::snprintf(want, sizeof want, "%08X:%04X", addr.s_addr, port);
  std::ifstream in("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (local == want && state == "0A") return true;  // 0A = TCP_LISTEN
  }
  return false;
}

}  // namespace postern::cli::demo
