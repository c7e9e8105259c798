// Expiry logging of the daemons' certificates and CRL (see cert_watch.hpp).
#include "tools/postern/cert_watch.hpp"

#include "common/log.hpp"
#include "tunnel/daemon/data_plane.hpp"

#include <chrono>

namespace postern::cli {
namespace {

namespace auth = postern::auth;
constexpr auto kCheckEvery = std::chrono::hours(1);

// The remembered times against a new `now`.
auth::Expiry at(auth::Expiry e, std::int64_t now) {
  if (e.error.empty() && e.end != 0) {
    e.days_left = auth::days_left(e.end, now);
    e.level = auth::expiry_level(e.start, e.end, now);
  }
  return e;
}

void log_one(const auth::Expiry& e, auth::ExpiryKind kind, bool include_ok) {
  const std::string until = e.end != 0 ? auth::format_utc(e.end) : std::string("never");
  const char* key = kind == auth::ExpiryKind::crl ? "next_update" : "not_after";
  if (!e.error.empty()) {
    log::warn("pki", "", "unreadable", {{"file", e.what}, {"path", e.path}, {"error", e.error}});
  } else if (auto notice = auth::expiry_notice(e, kind, std::filesystem::path(e.path).stem().string())) {
    const std::initializer_list<log::Field> fields = {
        {"file", e.what}, {"path", e.path}, {key, until}, {"expires_in_days", e.days_left}, {"hint", notice->hint}};
    if (notice->level == auth::ExpiryLevel::expired) {
      log::error("pki", "", notice->event, fields);
    } else {
      log::warn("pki", "", notice->event, fields);
    }
  } else if (include_ok) {
    log::info("pki", "", "valid", {{"file", e.what}, {"path", e.path}, {key, until}, {"expires_in_days", e.days_left}});
  }
}

}  // namespace

std::vector<auth::WatchedFile> watched_files(const config::Config& cfg) {
  std::vector<auth::WatchedFile> out;
  if (cfg.server) {
    out.push_back({"tunnel certificate", cfg.server->certificate, auth::ExpiryKind::server_certificate});
    if (cfg.server->client_ca) out.push_back({"client CA", *cfg.server->client_ca, auth::ExpiryKind::ca});
    if (cfg.server->crl) out.push_back({"CRL", *cfg.server->crl, auth::ExpiryKind::crl});
  }
  if (cfg.client) {
    if (cfg.client->certificate)
      out.push_back({"client certificate", *cfg.client->certificate, auth::ExpiryKind::client_certificate});
    if (cfg.client->ca) out.push_back({"server CA", *cfg.client->ca, auth::ExpiryKind::ca});
  }
  if (cfg.smtp) out.push_back({"smtp certificate", cfg.smtp->certificate, auth::ExpiryKind::server_certificate});
  return out;
}

std::int64_t CertWatch::unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

CertWatch::CertWatch(asio::io_context& io, std::vector<auth::WatchedFile> files,
                     const tunnel::daemon::DataPlane* sessions)
    : timer_(io), sessions_(sessions) {
  const std::int64_t now = unix_now();
  for (auto& file : files) {
    auth::Expiry read = auth::file_expiry(file, now);
    entries_.push_back({std::move(file), std::move(read)});
  }
}

void CertWatch::start() {
  log_files(true);
  arm();
}

void CertWatch::stop() { timer_.cancel(); }

void CertWatch::reload() {
  const std::int64_t now = unix_now();
  for (auto& entry : entries_) {
    if (entry.file.kind == auth::ExpiryKind::ca || entry.file.kind == auth::ExpiryKind::crl) {
      entry.read = auth::file_expiry(entry.file, now);
    }
  }
  log_files(false);
  log_sessions();
}

std::vector<auth::Expiry> CertWatch::expiries(std::int64_t now) const {
  std::vector<auth::Expiry> out;
  for (const auto& entry : entries_) out.push_back(at(entry.read, now));
  return out;
}

void CertWatch::log_files(bool include_ok) const {
  const std::int64_t now = unix_now();
  for (const auto& entry : entries_) log_one(at(entry.read, now), entry.file.kind, include_ok);
}

void CertWatch::log_sessions() const {
  if (sessions_ == nullptr) return;
  const std::int64_t now = unix_now();
  for (const auto& s : sessions_->sessions()) {
    if (s->certificate_not_after == 0) continue;
    auth::Expiry e;
    e.what = "client certificate";
    e.start = s->certificate_not_before;
    e.end = s->certificate_not_after;
    e = at(std::move(e), now);
    if (auto notice = auth::expiry_notice(e, auth::ExpiryKind::client_certificate, s->identity)) {
      log::warn("tunnel", s->log_id, notice->event,
                {{"identity", s->identity}, {"not_after", auth::format_utc(e.end)},
                 {"expires_in_days", e.days_left}, {"hint", notice->hint}});
    }
  }
}

void CertWatch::arm() {
  timer_.expires_after(kCheckEvery);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    log_files(false);
    log_sessions();
    arm();
  });
}

}  // namespace postern::cli
