// Certificate lifecycle watch of the daemons: the expiry of the daemon's own certificates (tunnel,
// smtp), the CA it trusts and the CRL, logged at start, at SIGHUP and every hour, and shown by
// `postern status`. A file is read when the daemon itself reads it: certificates at start (as
// root, before the privilege drop; a renewed file on disk takes effect at the next restart), the
// client CA and CRL again at SIGHUP (the server reloads them then). The hourly check only
// compares the remembered times with the clock, so it never needs to read a file as the run-as
// user. Levels and messages are auth/cert_expiry's (30 days out, or a third of the
// lifetime if shorter; an error once past). The server also warns hourly about each connected
// session whose client certificate is close to (or past) its end.
// Threading: every member runs on the io_context thread (start, SIGHUP and status handlers).
#pragma once

#include "common/config.hpp"
#include "auth/cert_expiry.hpp"

#include <asio.hpp>

#include <cstdint>
#include <vector>

namespace postern::tunnel::daemon {
class DataPlane;
}

namespace postern::cli {

// The files a daemon running `cfg` uses: [tunnel] certificate, client_ca, crl (server) or
// certificate, ca (client), and [smtp] certificate.
std::vector<auth::WatchedFile> watched_files(const config::Config& cfg);

class CertWatch {
 public:
  // Reads every file now. `sessions` (may be nullptr) is the server's data plane.
  CertWatch(asio::io_context& io, std::vector<auth::WatchedFile> files,
            const tunnel::daemon::DataPlane* sessions = nullptr);

  // Logs every file (info when ok) and arms the hourly check.
  void start();
  void stop();
  // SIGHUP: re-reads the CA and CRL files and logs them again.
  void reload();
  // The remembered files against `unix_now`.
  std::vector<auth::Expiry> expiries(std::int64_t unix_now) const;

  static std::int64_t unix_now();

 private:
  void log_files(bool include_ok) const;
  void log_sessions() const;
  void arm();

  struct Entry {
    auth::WatchedFile file;
    auth::Expiry read;  // times as read; level recomputed against the clock
  };
  asio::steady_timer timer_;
  std::vector<Entry> entries_;
  const tunnel::daemon::DataPlane* sessions_;
};

}  // namespace postern::cli
