// The client side of the status socket (protocol in status_server.hpp): connect, send one
// request line, read the answer to EOF. Errors come back as sentences an operator can act on
// ("no daemon is listening at ...", "... is root-only: run postern status as root").
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace postern::cli::status {

struct StatusAnswer {
  std::string body;   // the report, as the daemon formatted it
  std::string error;  // set instead of body when anything failed
  bool ok() const { return error.empty(); }
};

StatusAnswer request_status(const std::filesystem::path& socket_path, bool json,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Any request line of the protocol ("queue list json", ...; without the "\n").
StatusAnswer request_line(const std::filesystem::path& socket_path, const std::string& line,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
// True when the answer's error means no daemon runs there (missing or stale socket), so a
// read-only tool may fall back to reading the daemon's files itself.
bool no_daemon(const std::filesystem::path& socket_path);

}  // namespace postern::cli::status
