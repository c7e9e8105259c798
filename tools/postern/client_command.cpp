// `postern client -c FILE`: the laptop daemon. Opens the TUN device, connects to the site's
// tunnel server, applies the negotiated address, MTU and routes, and keeps the tunnel up
// (reconnecting with backoff). Root until the privilege drop, then only CAP_NET_ADMIN is kept
// (to re-apply address and routes after a reconnect, and to mark each new control socket).
// With leak_protection the UDP socket is marked at bind time and the TunnelClient installs the
// policy rules; it is destroyed after the data plane, so it removes them after the TUN is gone.
// With apply_dns (the default) the root DNS helper is forked just before the drop
// (platform/resolver_helper.hpp): it applies pushed DNS for the TunnelClient and undoes it when
// this process ends, however it ends; it is destroyed last, after it has restored.
#include "tools/postern/cert_watch.hpp"
#include "tools/postern/command.hpp"
#include "tools/postern/daemon_runtime.hpp"
#include "tools/postern/metrics/metrics_server.hpp"
#include "tools/postern/status/daemon_status.hpp"

#include "common/config.hpp"
#include "common/log.hpp"
#include "platform/netlink.hpp"
#include "platform/resolver_helper.hpp"
#include "platform/tun_device.hpp"
#include "platform/udp_socket.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/session_setup.hpp"
#include "tunnel/daemon/tunnel_client.hpp"

#include <asio.hpp>

#include <memory>

namespace postern::cli {
namespace {

using tunnel::daemon::DataPlane;
using tunnel::daemon::TunnelClient;

// Buffers are sized for this; the negotiated MTU is never larger (the server NAKs above its own).
constexpr std::uint16_t kMaxClientMtu = 1500;

// The data channel goes to the address the control channel connected to, IPv4 or IPv6, and
// which one is known only per connection (Happy Eyeballs, reconnects to a new network), while
// the socket must exist before the privilege drop (SO_MARK needs CAP_NET_ADMIN). So one
// dual-stack IPv6 socket serves both families (IPv4 servers are sent to as AF_INET,
// platform/udp_socket.hpp). A host without IPv6 (ipv6.disable=1: no AF_INET6 sockets) gets an
// IPv4 socket: an IPv6 server is then reached over the TLS fallback only (the UDP sends fail,
// counted as tx_send_error, and the transport monitor falls back after fallback_after).
platform::UdpSocket bind_data_socket(platform::UdpOptions options) {
  options.v6_only = false;
  try {
    return platform::UdpSocket::bind(IpEndpoint(IpAddress::any(IpAddress::Family::v6), 0), options);
  } catch (const std::system_error& e) {
    log::warn("tunnel", "", "no_ipv6_udp_socket",
              {{"error", e.what()}, {"effect", "an IPv6 server is reached over the TLS fallback only"}});
  }
  return platform::UdpSocket::bind(IpEndpoint(IpAddress::any(IpAddress::Family::v4), 0), options);
}

int run_client(const std::string& path) {
  config::Config cfg = config::load_config(path);
  if (!cfg.client) throw std::runtime_error(path + " has no client [tunnel] section (server = \"host:port\" or servers = [...])");
  const config::TunnelClientConfig& c = *cfg.client;
  log::set_min_level(cfg.daemon.log_level);
  raise_descriptor_limit();

  SecretBytes password;
  if (c.password_file) password = config::read_password_file(*c.password_file);

  asio::io_context io(1);
  auto tun = platform::TunDevice::open({c.interface, false, false});
  auto netlink = platform::Netlink::open();
  platform::UdpOptions udp_options;
  // Leak protection: SO_MARK needs CAP_NET_ADMIN, and the mark must be on the socket before the
  // first datagram so the data channel bypasses the tunnel's own routing table.
  if (c.leak_protection) udp_options.mark = c.fwmark;
  auto udp = bind_data_socket(udp_options);

  tunnel::daemon::DataPlaneOptions options;
  options.server = false;
  options.mtu = kMaxClientMtu;
  options.offload = c.offload;
  options.echo_magic = tunnel::daemon::random_u32();
  std::unique_ptr<platform::ResolverHelper> dns;  // outlives the client, which holds a pointer
  std::unique_ptr<TunnelClient> client;
  DataPlane data_plane(options, std::move(tun), std::move(udp), [&client](auto session, auto direction, auto epoch) {
    // Runs on a data thread; request_key only posts to the io_context.
    client->request_key(std::move(session), direction, epoch);
  });
  if (c.apply_dns) {
    platform::ResolverOptions dns_options;
    if (c.dns_backend == config::DnsBackend::resolved) dns_options.backend = platform::ResolverBackend::resolved;
    if (c.dns_backend == config::DnsBackend::file) dns_options.backend = platform::ResolverBackend::file;
    dns_options.state_dir = c.dns_state_dir;
    dns_options.interface = data_plane.tun().name();
    // Forked while the process has one thread, before the drop: the helper keeps root.
    dns = platform::ResolverHelper::spawn(dns_options);
  }
  client = std::make_unique<TunnelClient>(io, c, data_plane, netlink, std::move(password), dns.get());
  data_plane.set_tls_frames_handler([&client](auto session) { client->on_tls_frames(std::move(session)); });
  status::enable_inner_capture(cfg.daemon, data_plane);
  CertWatch certificates(io, watched_files(cfg));  // read as root, like the TLS context
  const status::StatusSources sources{"client", path, std::chrono::steady_clock::now(), &data_plane, nullptr, nullptr,
                                      [&certificates](std::int64_t now) { return certificates.expiries(now); },
                                      client.get()};
  auto status_server = status::open_status_server(io, cfg.daemon, sources);

  drop_to_run_as_user(cfg.daemon, {platform::Capability::net_admin});
  // Threads of its own, so after the drop; declared after the data plane, so destroyed first.
  auto metrics_server = metrics::open_metrics_server(io, cfg.daemon, sources);

  data_plane.start();
  client->start();
  status_server->start();
  certificates.start();
  run_until_signalled(
      io,
      [&] {
        status_server->stop();
        certificates.stop();
        client->stop();
      },
      {}, {status_line_of(sources), [&client] { return client->established(); }});
  data_plane.stop();
  return client->exit_status().value_or(0);
}

POSTERN_REGISTER_COMMAND(11, [](CLI::App& app) {
  auto* cmd = app.add_subcommand("client", "Run the laptop daemon: connect the tunnel to the site");
  auto path = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *path, "Configuration file (TOML)")->required();
  cmd->callback([path] { set_exit_status(run_client(*path)); });
});

}  // namespace
}  // namespace postern::cli
