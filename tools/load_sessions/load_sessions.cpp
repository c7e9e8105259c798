// `load_sessions`: brings up N tunnel sessions against one postern server from one process, for
// the capacity figures of docs/scaling.md (tools/bench_sessions.sh drives it). Not a test and not
// installed. Each session is what a laptop does on its control channel, with the real code:
// TCP connect, TLS 1.3 with its own client certificate (make_client_tls_context and
// prepare_client_connection, as `postern client`), then the real ClientNegotiator (HELLO/AUTH,
// LCP, IPCP, DATA_CHANNEL) pumped by the real ControlStream, until Established. No TUN and no
// data plane on this side: after Established a session is held, kept alive by the negotiator's
// LCP echoes inside TLS every --keepalive, so the server holds a full session (its PeerSession,
// pool lease and TLS state) for each. Nothing is sent on the UDP data channel.
// Bounded: at most --concurrency sessions are being set up at once, every step has a timeout,
// --sessions is capped at 50,000, and the identities (load-00000 ...) are issued once into the
// --pki directory (from its ca.pem/ca.key) and loaded into memory before the clock starts.
// With --password-file the sessions log in as users load-NNNNN with that password instead (the
// server's users file must hold them: password logins measure the server's scrypt).
// Output: one `key=value` summary line for the ramp, `holding N` when every session is up or has
// failed, and one summary line for the hold (sessions lost while held); the process ends after
// --hold seconds, closing every session with TERMINATE.
#include "auth/pki.hpp"
#include "common/config.hpp"
#include "common/asio_address.hpp"
#include "common/duration.hpp"
#include "common/secret.hpp"
#include "platform/open_file_limit.hpp"
#include "tunnel/control/negotiator_client.hpp"
#include "tunnel/daemon/control_stream.hpp"
#include "tunnel/daemon/session_setup.hpp"
#include "tunnel/daemon/tls_setup.hpp"

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace postern;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxSessions = 50'000;

struct Options {
  std::string server;  // ip:port
  std::string server_name;
  std::filesystem::path pki;
  std::size_t sessions = 100;
  std::size_t concurrency = 32;
  double hold_seconds = 10;
  double timeout_seconds = 20;  // per session: connect + TLS + negotiation
  int keepalive_seconds = 10;
  SecretBytes password;  // set: password logins as load-NNNNN, no client certificate
};

struct Identity {
  auth::X509Ptr cert;
  auth::EvpPkeyPtr key;
};

enum class Phase { pending, connecting, up, failed, lost };

// The certificate CN or user name of session i: "load-00042".
std::string identity_name(std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "load-%05zu", i);
  return name;
}

struct Session {
  explicit Session(asio::io_context& io) : signal(io, Clock::time_point::max()) {}
  std::shared_ptr<tunnel::daemon::ControlStream> stream;
  std::unique_ptr<tunnel::control::ClientNegotiator> negotiator;
  asio::steady_timer signal;  // cancelled when the phase changes
  Phase phase = Phase::pending;
  std::string reason;
  Clock::time_point started, established;
};

class Load {
 public:
  Load(asio::io_context& io, Options options, std::vector<Identity> identities)
      : io_(io), options_(std::move(options)), identities_(std::move(identities)),
        tls_(tunnel::daemon::make_client_tls_context(client_config())), wake_(io, Clock::time_point::max()) {
    cfg_ = client_config();
  }

  asio::awaitable<void> run() {
    auto endpoint = parse_target();
    const auto start = Clock::now();
    for (std::size_t i = 0; i < options_.sessions; ++i) {
      while (in_flight_ >= options_.concurrency) co_await wake_.async_wait(kAsTuple);
      ++in_flight_;
      sessions_.push_back(std::make_unique<Session>(io_));
      asio::co_spawn(io_, bring_up(*sessions_.back(), i, endpoint), asio::detached);
    }
    while (in_flight_ > 0) co_await wake_.async_wait(kAsTuple);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    report_ramp(elapsed);
    std::printf("holding %zu\n", count(Phase::up));
    std::fflush(stdout);
    asio::steady_timer hold(io_, std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.hold_seconds)));
    co_await hold.async_wait(kAsTuple);
    std::printf("hold seconds=%.1f still_up=%zu lost=%zu", options_.hold_seconds, count(Phase::up), count(Phase::lost));
    print_reasons(Phase::lost);
    std::printf("\n");
    std::fflush(stdout);
    for (auto& s : sessions_) {
      if (s->phase == Phase::up) {
        s->negotiator->terminate("load test done", Clock::now());
        drain(*s);
      }
    }
    asio::steady_timer linger(io_, std::chrono::seconds(1));  // lets the TERMINATEs go out
    co_await linger.async_wait(kAsTuple);
    io_.stop();
  }

 private:
  config::TunnelClientConfig client_config() const {
    config::TunnelClientConfig c;
    c.ca = options_.pki / "ca.pem";
    c.server_name = options_.server_name;
    return c;
  }

  asio::ip::tcp::endpoint parse_target() const {
    auto e = IpEndpoint::parse(options_.server);
    if (!e || e->port() == 0) throw std::runtime_error("--server: expected ip:port, got " + options_.server);
    return to_asio_tcp(*e);
  }

  asio::awaitable<void> bring_up(Session& s, std::size_t index, asio::ip::tcp::endpoint endpoint) {
    s.started = Clock::now();
    s.phase = Phase::connecting;
    const auto deadline = s.started + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options_.timeout_seconds));
    std::string failure = co_await connect_and_negotiate(s, index, endpoint, deadline);
    if (!failure.empty() && s.phase != Phase::up) {
      s.phase = Phase::failed;
      s.reason = failure;
      if (s.stream) s.stream->close(failure);
    }
    --in_flight_;
    wake_.cancel();
  }

  asio::awaitable<std::string> connect_and_negotiate(Session& s, std::size_t index, asio::ip::tcp::endpoint endpoint,
                                                     Clock::time_point deadline) {
    asio::ip::tcp::socket socket(io_);
    asio::steady_timer timer(io_, deadline);
    auto connected = co_await (socket.async_connect(endpoint, kAsTuple) || timer.async_wait(kAsTuple));
    if (connected.index() == 1) co_return "connect timeout";
    if (auto [ec] = std::get<0>(connected); ec) co_return "connect: " + ec.message();
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    s.stream = std::make_shared<tunnel::daemon::ControlStream>(tunnel::daemon::TlsStream(std::move(socket), tls_));
    SSL* ssl = s.stream->ssl();
    if (options_.password.empty()) {
      const Identity& id = identities_[index];
      if (SSL_use_certificate(ssl, id.cert.get()) != 1 || SSL_use_PrivateKey(ssl, id.key.get()) != 1)
        co_return "cannot use the client certificate";
    }
    tunnel::daemon::prepare_client_connection(ssl, cfg_, options_.server_name);
    auto shaken = co_await (s.stream->stream().async_handshake(asio::ssl::stream_base::client, kAsTuple) ||
                            timer.async_wait(kAsTuple));
    if (shaken.index() == 1) co_return "TLS handshake timeout";
    if (auto [ec] = std::get<0>(shaken); ec) co_return "TLS handshake: " + ec.message();

    tunnel::control::ClientConfig cc;
    cc.receive_session_id = (tunnel::daemon::random_u32() & 0xffffff) | 1;
    cc.echo_magic = tunnel::daemon::random_u32();
    cc.keepalive = std::chrono::seconds(options_.keepalive_seconds);
    cc.dead_peer = cc.keepalive * 7 / 2;
    cc.log_id = "load";
    if (!options_.password.empty()) {
      cc.user = identity_name(index);
      cc.password = options_.password.clone();
    }
    s.negotiator = std::make_unique<tunnel::control::ClientNegotiator>(std::move(cc));
    tunnel::daemon::ControlStream::Driver driver;
    Session* session = &s;
    driver.on_bytes = [this, session](std::span<const std::uint8_t> bytes, tunnel::daemon::SteadyTime now) {
      session->negotiator->feed(bytes, now);
      drain(*session);
    };
    driver.on_timer = [this, session](tunnel::daemon::SteadyTime now) {
      session->negotiator->on_timer(now);
      drain(*session);
    };
    driver.next_deadline = [session] { return session->negotiator->next_deadline(); };
    driver.on_writable = [] {};
    driver.on_closed = [this, session](const std::string& reason) { on_closed(*session, reason); };
    s.stream->start(std::move(driver));
    s.negotiator->start(Clock::now());
    drain(s);
    while (s.phase == Phase::connecting) {
      auto woke = co_await (s.signal.async_wait(kAsTuple) || timer.async_wait(kAsTuple));
      if (woke.index() == 1 && s.phase == Phase::connecting) co_return "negotiation timeout";
    }
    co_return s.phase == Phase::up ? std::string() : s.reason;
  }

  void drain(Session& s) {
    for (auto& action : s.negotiator->take_actions()) {
      if (auto* send = std::get_if<tunnel::control::SendBytes>(&action)) {
        s.stream->send(send->bytes);
      } else if (std::holds_alternative<tunnel::control::Established>(action)) {
        s.established = Clock::now();
        s.phase = Phase::up;
        s.signal.cancel();
      } else if (auto* closed = std::get_if<tunnel::control::Closed>(&action)) {
        if (s.reason.empty()) s.reason = closed->reason;
        s.stream->close(closed->reason);
      }
    }
  }

  void on_closed(Session& s, const std::string& reason) {
    if (s.reason.empty()) s.reason = reason;
    if (s.phase == Phase::up) s.phase = Phase::lost;
    else if (s.phase == Phase::connecting) s.phase = Phase::failed;
    s.signal.cancel();
  }

  std::size_t count(Phase phase) const {
    return static_cast<std::size_t>(
        std::count_if(sessions_.begin(), sessions_.end(), [phase](const auto& s) { return s->phase == phase; }));
  }

  void print_reasons(Phase phase) const {
    std::map<std::string, std::size_t> reasons;
    for (const auto& s : sessions_) {
      if (s->phase == phase) ++reasons[s->reason];
    }
    for (const auto& [reason, n] : reasons) std::printf(" reason[%s]=%zu", reason.c_str(), n);
  }

  void report_ramp(double elapsed) const {
    std::vector<double> ms;
    for (const auto& s : sessions_) {
      if (s->phase == Phase::up) ms.push_back(std::chrono::duration<double, std::milli>(s->established - s->started).count());
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&ms](double p) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ms.size())))]; };
    std::printf("ramp sessions=%zu established=%zu failed=%zu concurrency=%zu elapsed_s=%.2f handshakes_per_s=%.1f "
                "setup_ms_p50=%.1f setup_ms_p90=%.1f setup_ms_p99=%.1f setup_ms_max=%.1f",
                sessions_.size(), ms.size(), count(Phase::failed), options_.concurrency, elapsed,
                elapsed > 0 ? static_cast<double>(ms.size()) / elapsed : 0.0, pct(0.5), pct(0.9), pct(0.99),
                ms.empty() ? 0.0 : ms.back());
    print_reasons(Phase::failed);
    std::printf("\n");
    std::fflush(stdout);
  }

  asio::io_context& io_;
  Options options_;
  std::vector<Identity> identities_;
  config::TunnelClientConfig cfg_;
  asio::ssl::context tls_;
  asio::steady_timer wake_;  // cancelled when a session's setup ends
  std::size_t in_flight_ = 0;
  std::vector<std::unique_ptr<Session>> sessions_;
};

// load-00000 ... : issued into the PKI directory the first time, then reused.
std::vector<Identity> load_identities(const std::filesystem::path& pki, std::size_t n) {
  std::vector<Identity> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string name = identity_name(i);
    if (!std::filesystem::exists(pki / (name + ".pem"))) auth::pki_issue(pki, name, {});
    out.push_back({auth::read_certificate_pem(pki / (name + ".pem")), auth::read_private_key_pem(pki / (name + ".key"))});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Bring up N postern tunnel sessions from one process (docs/scaling.md)"};
  app.add_option("--server", o.server, "The server's control endpoint, ip:port")->required();
  app.add_option("--server-name", o.server_name, "Name (or IP) the server certificate carries")->required();
  app.add_option("--pki", o.pki, "PKI directory (ca.pem, ca.key); identities load-NNNNN are issued there")->required();
  app.add_option("--sessions", o.sessions, "Sessions to bring up")->check(CLI::Range(std::size_t{1}, kMaxSessions));
  app.add_option("--concurrency", o.concurrency, "Sessions being set up at once")->check(CLI::Range(1, 4096));
  app.add_option("--hold", o.hold_seconds, "Seconds to hold the sessions once all are up")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--timeout", o.timeout_seconds, "Seconds per session for connect, TLS and negotiation")->check(CLI::Range(1.0, 300.0));
  app.add_option("--keepalive", o.keepalive_seconds, "LCP echo interval inside TLS, seconds")->check(CLI::Range(1, 3600));
  std::filesystem::path password_file;
  app.add_option("--password-file", password_file,
                 "Log in as users load-NNNNN with this file's password instead of certificates");
  CLI11_PARSE(app, argc, argv);
  try {
    if (auto limit = platform::raise_open_file_limit(); limit.error || limit.after < o.sessions + 64) {
      std::fprintf(stderr, "open files limit %llu is too low for %zu sessions\n",
                   static_cast<unsigned long long>(limit.after), o.sessions);
      return 1;
    }
    if (!password_file.empty()) {
      o.password = config::read_password_file(password_file);
    }
    auto identities = o.password.empty() ? load_identities(o.pki, o.sessions) : std::vector<Identity>{};
    asio::io_context io(1);
    Load load(io, std::move(o), std::move(identities));
    asio::co_spawn(io, load.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_sessions: %s\n", e.what());
    return 1;
  }
  return 0;
}
