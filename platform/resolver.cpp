// Pure parts of the DNS backends (see resolver.hpp).
#include "platform/resolver.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace postern::platform {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

bool valid_interface(std::string_view s) {
  // IFNAMSIZ is 16 including the NUL; names never contain '/', whitespace or ':'.
  if (s.empty() || s.size() > 15) return false;
  for (char c : s) {
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(ResolverBackend backend) {
  return backend == ResolverBackend::resolved ? "resolved" : "file";
}

bool resolved_running(const std::filesystem::path& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& p = socket_path.native();
  if (p.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::vector<std::vector<std::string>> resolvectl_apply_commands(const DnsSettings& s) {
  std::vector<std::string> dns{"resolvectl", "dns", s.interface};
  for (const auto& server : s.servers) dns.push_back(server.to_string());
  std::vector<std::string> domain{"resolvectl", "domain", s.interface};
  for (const auto& d : s.domains) domain.push_back(d.to_string());
  if (s.domains.empty()) domain.emplace_back();  // "" clears what an earlier session set
  return {dns, domain, {"resolvectl", "default-route", s.interface, s.default_route ? "yes" : "no"}};
}

std::vector<std::string> resolvectl_revert_command(std::string_view interface) {
  return {"resolvectl", "revert", std::string(interface)};
}

std::string render_resolv_conf(const DnsSettings& s, std::string_view original) {
  std::string out = "# Written by postern for the tunnel on " + s.interface +
                    "; the original is restored when the tunnel client exits.\n";
  for (const auto& server : s.servers) out += "nameserver " + server.to_string() + "\n";
  std::string search;
  for (const auto& d : s.domains) {
    if (!d.routing_only) search += " " + d.name;
  }
  if (!search.empty()) out += "search" + search + "\n";
  for (auto line : split_lines(original)) {
    if (line.starts_with("options") && line.size() > 7 && (line[7] == ' ' || line[7] == '\t')) {
      out.append(line);
      out += '\n';
    }
  }
  return out;
}

std::vector<std::string> routing_only_domains(const DnsSettings& s) {
  std::vector<std::string> out;
  for (const auto& d : s.domains) {
    if (d.routing_only) out.push_back(d.to_string());
  }
  return out;
}

std::string encode_apply_request(const DnsSettings& s) {
  std::string out = "apply\ninterface " + s.interface + "\n";
  for (const auto& server : s.servers) out += "nameserver " + server.to_string() + "\n";
  for (const auto& d : s.domains) out += "domain " + d.to_string() + "\n";
  out += std::string("default-route ") + (s.default_route ? "yes" : "no") + "\n";
  return out;
}

std::optional<DnsSettings> decode_apply_request(std::string_view text) {
  auto lines = split_lines(text);
  if (lines.empty() || lines[0] != "apply") return std::nullopt;
  DnsSettings s;
  bool have_interface = false, have_default_route = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    auto space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    std::string_view key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "interface" && !have_interface && valid_interface(value)) {
      s.interface = value;
      have_interface = true;
    } else if (key == "nameserver" && s.servers.size() < 64) {
      auto ip = IpAddress::parse(value);
      if (!ip) return std::nullopt;
      s.servers.push_back(*ip);
    } else if (key == "domain" && s.domains.size() < dns::kMaxPushedDomains) {
      auto d = dns::parse_domain(value);
      if (!d) return std::nullopt;
      s.domains.push_back(std::move(*d));
    } else if (key == "default-route" && !have_default_route && (value == "yes" || value == "no")) {
      s.default_route = value == "yes";
      have_default_route = true;
    } else {
      return std::nullopt;
    }
  }
  if (!have_interface || !have_default_route) return std::nullopt;
  return s;
}

}  // namespace postern::platform
