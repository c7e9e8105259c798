// `postern server -c FILE`: the site daemon. Runs the tunnel server ([tunnel] with `listen`)
// and/or the SMTP listener ([smtp]) from one config file.
// Startup order (root until the drop): config -> TUN + address via netlink -> UDP and TCP
// listeners -> certificates, users file / directory secrets read -> SMTP listeners bound -> privilege drop -> threads.
#include "tools/postern/cert_watch.hpp"
#include "tools/postern/command.hpp"
#include "tools/postern/daemon_runtime.hpp"
#include "tools/postern/metrics/metrics_server.hpp"
#include "tools/postern/preflight.hpp"
#include "tools/postern/status/daemon_status.hpp"

#include "auth/password_backends.hpp"
#include "auth/radius_accounting.hpp"
#include "common/asio_address.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "platform/netlink.hpp"
#include "platform/sysctl.hpp"
#include "platform/tun_device.hpp"
#include "platform/udp_socket.hpp"
#include "smtp/server/smtp_service.hpp"
#include "tools/postern/queue/queue_collect.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/interface_setup.hpp"
#include "tunnel/daemon/session_setup.hpp"
#include "tunnel/daemon/tunnel_server.hpp"

#include <asio.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <memory>
#include <thread>

namespace postern::cli {
namespace {

using tunnel::daemon::DataPlane;
using tunnel::daemon::TunnelServer;

struct ServerTunnel {
  std::unique_ptr<DataPlane> data_plane;
  std::unique_ptr<TunnelServer> server;
};

// Per family: routes beyond the pool (pool6) are pushed, so this host must forward them. Only
// warned about: turning forwarding on is the site's decision (for IPv6 it also changes how the
// host treats router advertisements).
void warn_if_not_forwarding(const config::TunnelServerConfig& s) {
  bool beyond_pool = false, beyond_pool6 = false;
  for (const auto& r : s.routes) {
    if (r.address.is_v4()) beyond_pool |= !(r.network() == s.pool.network() && r.prefix_len == s.pool.prefix_len);
    if (r.address.is_v6() && s.pool6) beyond_pool6 |= !(r.network() == s.pool6->network() && r.prefix_len == s.pool6->prefix_len);
  }
  bool forwarding = false;
  if (beyond_pool && !platform::ip_forwarding_enabled(IpAddress::Family::v4, forwarding) && !forwarding) {
    log::warn("tunnel", "", "ip_forwarding_off",
              {{"hint", "routes beyond the pool are pushed to clients but this host will not forward them: "
                        "sysctl -w net.ipv4.ip_forward=1"}});
  }
  forwarding = false;
  if (beyond_pool6 && !platform::ip_forwarding_enabled(IpAddress::Family::v6, forwarding) && !forwarding) {
    log::warn("tunnel", "", "ipv6_forwarding_off",
              {{"hint", "IPv6 routes beyond pool6 are pushed to clients but this host will not forward them: "
                        "sysctl -w net.ipv6.conf.all.forwarding=1"}});
  }
}

// After `kill -9` of a previous server the kernel frees its TUN device asynchronously, and
// TUNSETIFF on the same name fails with EBUSY for a moment: retry for a few seconds (a restart
// under a supervisor must not fail on it). Any other error fails at once.
platform::TunDevice open_tun_with_retry(const std::string& name) {
  constexpr auto kRetryFor = std::chrono::seconds(5);
  constexpr auto kRetryEvery = std::chrono::milliseconds(200);
  const auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  for (int attempt = 1;; ++attempt) {
    try {
      return platform::TunDevice::open({name, false, false});
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::device_or_resource_busy || std::chrono::steady_clock::now() >= deadline) throw;
      if (attempt == 1) {
        log::warn("tunnel", "", "tun_busy",
                  {{"interface", name}, {"error", e.what()}, {"retry_for_s", kRetryFor.count()}});
      }
    }
    std::this_thread::sleep_for(kRetryEvery);
  }
}

// The password backend of each service: the directory one is shared by the tunnel and SMTP
// AUTH; with backend = "file" each reads its own users file.
struct PasswordBackends {
  std::shared_ptr<auth::PasswordBackend> tunnel, smtp;
  std::shared_ptr<auth::RadiusAccounting> accounting;
};

PasswordBackends open_password_backends(const config::Config& cfg) {
  PasswordBackends out;
  if (cfg.auth.backend != config::PasswordBackendKind::file) {
    out.tunnel = out.smtp = auth::make_password_backend(cfg.auth, std::nullopt);
    log::info("daemon", "", "password_backend", {{"backend", config::to_string(cfg.auth.backend)}});
  } else {
    if (cfg.server) out.tunnel = auth::make_password_backend(cfg.auth, cfg.server->users);
    if (cfg.smtp) out.smtp = auth::make_password_backend(cfg.auth, cfg.smtp->users);
  }
  if (cfg.auth.radius && cfg.auth.radius->accounting) {
    char run_id[20];  // this daemon run's Acct-Session-Id, for its Accounting-On and -Off
    std::snprintf(run_id, sizeof run_id, "%08x%08x", tunnel::daemon::random_u32(), tunnel::daemon::random_u32());
    out.accounting = std::make_shared<auth::RadiusAccounting>(
        *cfg.auth.radius, config::read_password_file(cfg.auth.radius->secret_file), run_id);
  }
  return out;
}

std::unique_ptr<ServerTunnel> open_tunnel(asio::io_context& io, const config::TunnelServerConfig& s,
                                          const PasswordBackends& passwords) {
  auto tun = open_tun_with_retry(s.interface);
  auto netlink = platform::Netlink::open();
  tunnel::daemon::InterfaceSettings settings;
  settings.name = tun.name();
  settings.address = s.pool.first_host();
  settings.prefix_len = s.pool.prefix_len;
  if (s.pool6) settings.address6 = IpPrefix{s.pool6->first_host(), s.pool6->prefix_len};
  settings.mtu = s.mtu;
  settings.queue_length = s.tun_queue_length;
  tunnel::daemon::configure_interface(netlink, settings);
  warn_if_not_forwarding(s);

  // listen = "[::]:port" is dual-stack (IPv4 clients arrive unmapped, see udp_socket.hpp), like
  // the control acceptor; a specific address serves its own family only.
  platform::UdpOptions udp_options;
  udp_options.v6_only = !(s.listen.address().is_v6() && s.listen.address().is_unspecified());
  auto udp = platform::UdpSocket::bind(IpEndpoint(s.listen.address(), s.data_port), udp_options);

  tunnel::daemon::DataPlaneOptions options;
  options.server = true;
  options.mtu = static_cast<std::uint16_t>(s.mtu);
  options.mss_clamp = s.mss_clamp;
  options.offload = s.offload;
  options.client_to_client = s.client_to_client;
  options.pool = s.pool;
  options.server_address = s.pool.first_host();
  options.pool6 = s.pool6;
  if (s.pool6) options.server_address6 = s.pool6->first_host();
  options.echo_magic = tunnel::daemon::random_u32();

  auto t = std::make_unique<ServerTunnel>();
  ServerTunnel* self = t.get();  // outlives the data plane it owns
  t->data_plane = std::make_unique<DataPlane>(options, std::move(tun), std::move(udp),
                                              [self](auto session, auto direction, auto epoch) {
                                                self->server->request_key(std::move(session), direction, epoch);
                                              });
  t->server = std::make_unique<TunnelServer>(io, s, *t->data_plane, passwords.tunnel, passwords.accounting);
  t->data_plane->set_tls_frames_handler([self](auto session) { self->server->on_tls_frames(std::move(session)); });
  t->server->start();
  return t;
}

bool in_networks(const std::vector<IpPrefix>& networks, const asio::ip::address& address) {
  const IpAddress a = from_asio(address).unmapped();
  for (const auto& n : networks) {
    if (n.contains(a)) return true;
  }
  return false;
}

int run_server(const std::string& path) {
  config::Config cfg = config::load_config(path);
  if (cfg.client) throw std::runtime_error(path + " is a client configuration ([tunnel] server = ...): use `postern client -c`");
  if (!cfg.server && !cfg.smtp) throw std::runtime_error(path + " configures neither a tunnel server nor [smtp]");
  log::set_min_level(cfg.daemon.log_level);
  raise_descriptor_limit();
  // Asio sends with MSG_NOSIGNAL, but libldap writes to its socket with plain write(): a
  // directory server that went away must make a login fail, not kill the daemon with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  // The checks check-config runs, before anything is opened: a refusal names file:line:key and
  // the fix instead of a bare errno from deep in the setup.
  std::string refused;
  for (const auto& problem : preflight(cfg, {.in_use_warns = false, .run_as_files = ::geteuid() == 0})) {
    if (problem.warning) {
      log::warn("daemon", "", "preflight", {{"problem", problem.where + ": " + problem.what}, {"fix", problem.fix}});
    } else {
      refused += "\n" + problem.text();
    }
  }
  if (!refused.empty()) throw std::runtime_error("refusing to start:" + refused);

  asio::io_context io(1);
  std::unique_ptr<ServerTunnel> tunnel;
  const PasswordBackends passwords = open_password_backends(cfg);  // reads secrets: before the drop
  if (cfg.server) tunnel = open_tunnel(io, *cfg.server, passwords);
  TunnelServer* tunnel_server = tunnel ? tunnel->server.get() : nullptr;

  std::unique_ptr<smtp::server::SmtpService> mail;
  if (cfg.smtp) {
    prepare_writable_dir(cfg.smtp->spool, cfg.daemon);
    prepare_writable_dir(cfg.smtp->maildir, cfg.daemon);
    const auto& trusted = cfg.smtp->trusted_networks;
    mail = std::make_unique<smtp::server::SmtpService>(
        io, *cfg.smtp, [&trusted](const asio::ip::address& a) { return in_networks(trusted, a); },
        [tunnel_server](const asio::ip::address& a) {
          return tunnel_server ? tunnel_server->identity_of(from_asio(a).unmapped()) : std::string();
        },
        passwords.smtp);
    mail->open();
  }
  if (tunnel) status::enable_inner_capture(cfg.daemon, *tunnel->data_plane);
  // Read as root, before the drop, like the TLS contexts read them.
  CertWatch certificates(io, watched_files(cfg), tunnel ? tunnel->data_plane.get() : nullptr);
  const status::StatusSources sources{"server", path, std::chrono::steady_clock::now(),
                                      tunnel ? tunnel->data_plane.get() : nullptr, mail.get(), tunnel_server,
                                      [&certificates](std::int64_t now) { return certificates.expiries(now); }};
  auto status_server = status::open_status_server(io, cfg.daemon, sources);

  if (mail) {
    status_server->set_command_handler(
        [&mail](const status::QueueRequest& request) { return queue::answer_queue_request(*mail, request); });
  }

  std::vector<std::string> extra_groups;
  if (cfg.smtp && cfg.smtp->maildir_group) extra_groups.push_back(*cfg.smtp->maildir_group);
  drop_to_run_as_user(cfg.daemon, {}, extra_groups);
  // Threads of its own, so after the drop; declared after tunnel and mail, so destroyed first.
  auto metrics_server = metrics::open_metrics_server(io, cfg.daemon, sources);

  if (passwords.accounting) passwords.accounting->start();  // a thread: after the drop
  if (tunnel) tunnel->data_plane->start();
  if (mail) mail->start();
  status_server->start();
  certificates.start();
  log::info("daemon", "", "ready", {{"config", path}, {"tunnel", cfg.server ? "server" : "off"},
                                    {"smtp", cfg.smtp ? "on" : "off"}});
  run_until_signalled(
      io,
      [&] {
        status_server->stop();
        certificates.stop();
        if (tunnel) tunnel->server->stop();
        if (mail) mail->stop();
      },
      [&] {
        if (tunnel) tunnel->server->reload();
        if (mail) mail->reload();
        certificates.reload();
      },
      {status_line_of(sources), nullptr});
  if (mail) mail->stop();
  if (tunnel) tunnel->data_plane->stop();
  // After the sessions' Stops (queued while the loop ran them down); sent before this returns,
  // when the last owner of the accounting sender lets it go.
  if (passwords.accounting) passwords.accounting->finish();
  return 0;
}

POSTERN_REGISTER_COMMAND(10, [](CLI::App& app) {
  auto* cmd = app.add_subcommand("server", "Run the site daemon: tunnel server and/or SMTP listener");
  auto path = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *path, "Configuration file (TOML)")->required();
  cmd->callback([path] { set_exit_status(run_server(*path)); });
});

}  // namespace
}  // namespace postern::cli
