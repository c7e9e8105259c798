// TCP + OpenSSL transport for `postern send`; see transport.hpp for the contract.
#include "tools/postern/send/transport.hpp"

#include "common/certificate_names.hpp"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace postern::tools::send {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kRecordedBytes = 512;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::string seconds_text(std::chrono::milliseconds ms) {
  return fmt::format("{:g}s", static_cast<double>(ms.count()) / 1000.0);
}

// Tries one resolved address; returns the connected fd or -1 with errno_out set.
int connect_one(const addrinfo& ai, Clock::time_point deadline, int& errno_out) {
  int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) {
    errno_out = errno;
    return -1;
  }
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) {
    errno_out = errno;
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, remaining_ms(deadline));
  int err = ETIMEDOUT;
  socklen_t len = sizeof(err);
  if (n > 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) return fd;
  errno_out = n > 0 ? err : ETIMEDOUT;
  ::close(fd);
  return -1;
}

std::string connect_failure(const HostPort& ep, int err, std::chrono::milliseconds timeout) {
  switch (err) {
    case ECONNREFUSED:
      return fmt::format("connection refused by {} (nothing listening)", ep.to_string());
    case ETIMEDOUT:
      return fmt::format("no answer from {} within {} (host down, or a firewall drops the packets)",
                         ep.to_string(), seconds_text(timeout));
    case EHOSTUNREACH:
    case ENETUNREACH:
      return fmt::format("{} is unreachable: {} (check the address, the routes, or that the VPN is up)",
                         ep.to_string(), std::strerror(err));
    default:
      return fmt::format("cannot connect to {}: {}", ep.to_string(), std::strerror(err));
  }
}

// Records the first bytes OpenSSL reads from the socket so a failed handshake can say what the
// server actually sent (an SMTP greeting, an HTTP reply, ...).
long record_reads(BIO* bio, int oper, const char* argp, std::size_t, int, long, int ret,
                  std::size_t* processed) {
  if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed != nullptr) {
    auto* sink = reinterpret_cast<std::string*>(BIO_get_callback_arg(bio));
    if (sink != nullptr && sink->size() < kRecordedBytes) {
      sink->append(argp, std::min(*processed, kRecordedBytes - sink->size()));
    }
  }
  return ret;
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (out.empty()) out = buf;
  }
  return out;
}

std::string first_line(std::string_view bytes) {
  auto end = bytes.find_first_of("\r\n");
  std::string line(bytes.substr(0, end == std::string_view::npos ? 80 : std::min<std::size_t>(end, 120)));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return line;
}

// OpenSSL keeps no peer certificate after a failed client handshake, so the verify callback
// notes the leaf's subject and names ("/CN=mx.other.example, names mx.other.example, 10.0.0.5")
// in the std::string this ex_data index points at, for the rejection message.
int leaf_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int note_leaf(int preverified, X509_STORE_CTX* store) {
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (X509_STORE_CTX_get_error_depth(store) == 0 && cert != nullptr && ssl != nullptr) {
    if (auto* out = static_cast<std::string*>(SSL_get_ex_data(ssl, leaf_index()))) {
      char buf[256];
      X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
      *out = std::string(buf) + ", names " + certificate_names(cert);
    }
  }
  return preverified;
}

}  // namespace

bool looks_like_smtp_text(std::string_view b) {
  if (b.size() < 4) return false;
  bool digits = b[0] >= '2' && b[0] <= '5' && std::isdigit(static_cast<unsigned char>(b[1])) &&
                std::isdigit(static_cast<unsigned char>(b[2]));
  return digits && (b[3] == ' ' || b[3] == '-');
}

bool looks_like_tls_record(std::string_view b) {
  return b.size() >= 2 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 0x03;
}

HostPort parse_server(std::string_view text, std::uint16_t default_port) {
  auto server = HostPort::parse(text, default_port);
  if (!server) {
    throw SendError(fmt::format("bad server address \"{}\": expected host, host:port or [IPv6]:port (port 1-65535)", text));
  }
  return *server;
}

Connection::Connection(const HostPort& endpoint, std::chrono::milliseconds timeout)
    : endpoint_(endpoint), timeout_(timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    throw SendError(fmt::format("cannot resolve {}: {}", endpoint.host, ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(list, &::freeaddrinfo);
  auto deadline = Clock::now() + timeout;
  int err = 0;
  int best_err = 0;
  for (addrinfo* ai = list; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
    fd_ = connect_one(*ai, deadline, err);
    // A refusal is the most telling answer when a name has several addresses.
    if (fd_ < 0 && (best_err == 0 || err == ECONNREFUSED)) best_err = err;
  }
  if (fd_ < 0) throw SendError(connect_failure(endpoint, best_err, timeout));
}

Connection::~Connection() {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

void Connection::wait_fd(bool for_write, Clock::time_point deadline) {
  pollfd p{fd_, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  int n = ::poll(&p, 1, remaining_ms(deadline));
  if (n < 0 && errno != EINTR) throw SendError(fmt::format("poll: {}", std::strerror(errno)));
  if (n == 0) {
    throw ReadTimeout(fmt::format("{} did not answer within {}", endpoint_.to_string(), seconds_text(timeout_)));
  }
}

void Connection::start_tls(const TlsOptions& options, bool implicit) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) throw SendError("cannot create a TLS context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);  // RFC 8996: no TLS 1.0/1.1
  if (!options.insecure) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, note_leaf);
    int ok = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                     : SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr);
    if (ok != 1) throw SendError(fmt::format("cannot load CA certificates from {}: {}",
                                             options.ca_file.empty() ? "the system store" : options.ca_file,
                                             openssl_errors()));
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_ex_data(ssl_, leaf_index(), &leaf_);
  if (!endpoint_.is_ip_literal()) {
    // SNI (RFC 6066 3); SSL_set_tlsext_host_name is a macro with a C cast, so call SSL_ctrl.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(endpoint_.host.c_str()));
  }
  if (!options.insecure) {
    // RFC 6125: the certificate must name the host we were asked to reach.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (endpoint_.is_ip_literal()) {
      X509_VERIFY_PARAM_set1_ip_asc(param, endpoint_.host.c_str());
    } else {
      SSL_set1_host(ssl_, endpoint_.host.c_str());
    }
  }
  BIO* rbio = SSL_get_rbio(ssl_);
  BIO_set_callback_arg(rbio, reinterpret_cast<char*>(&first_bytes_));
  BIO_set_callback_ex(rbio, record_reads);
  ERR_clear_error();
  try {
    tls_handshake(Clock::now() + timeout_);
  } catch (const ReadTimeout&) {
    throw SendError(fmt::format("TLS handshake with {} timed out after {}", endpoint_.to_string(),
                                seconds_text(timeout_)));
  } catch (const SendError& e) {
    throw_handshake_failure(options, implicit, e.what());
  }
  BIO_set_callback_ex(rbio, nullptr);
  verified_ = !options.insecure;
}

void Connection::tls_handshake(Clock::time_point deadline) {
  for (;;) {
    int rc = SSL_connect(ssl_);
    if (rc == 1) return;
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      wait_fd(err == SSL_ERROR_WANT_WRITE, deadline);
      continue;
    }
    std::string reason = openssl_errors();
    if (reason.empty()) reason = err == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno)
                                                                          : "connection closed by the server";
    throw SendError(reason);
  }
}

void Connection::throw_handshake_failure(const TlsOptions& options, bool implicit,
                                         const std::string& openssl_error) {
  long verify = SSL_get_verify_result(ssl_);
  if (!options.insecure && verify != X509_V_OK) {
    const std::string& subject = leaf_;
    throw SendError(fmt::format(
        "the TLS certificate of {} was rejected: {}{}. If this is your server, pass --ca FILE with "
        "the CA certificate that signed it; to skip verification (testing only) pass --insecure",
        endpoint_.to_string(), X509_verify_cert_error_string(verify),
        subject.empty() ? "" : fmt::format(" (certificate subject {})", subject)));
  }
  if (implicit && looks_like_smtp_text(first_bytes_)) {
    // The greeting may have been cut after the 5-byte record header; read the rest of the line.
    try {
      char buf[256];
      wait_fd(false, Clock::now() + std::chrono::milliseconds(200));
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) first_bytes_.append(buf, static_cast<std::size_t>(n));
    } catch (const SendError&) {
    }
    throw SendError(fmt::format(
        "{} speaks plaintext SMTP, not implicit TLS: use --starttls (or port 465 with --tls) "
        "(server said \"{}\")",
        endpoint_.to_string(), first_line(first_bytes_)));
  }
  if (!first_bytes_.empty() && !looks_like_tls_record(first_bytes_)) {
    throw SendError(fmt::format("{} does not speak TLS (it sent \"{}\"): {}", endpoint_.to_string(),
                                first_line(first_bytes_), openssl_error));
  }
  throw SendError(fmt::format("TLS handshake with {} failed: {}", endpoint_.to_string(), openssl_error));
}

bool Connection::server_sent_tls_record() const { return looks_like_tls_record(first_bytes_); }

std::string Connection::tls_description() const {
  if (ssl_ == nullptr) return "plaintext";
  return fmt::format("{}, {}, certificate {}", SSL_get_version(ssl_),
                     SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_)),
                     verified_ ? "verified" : "NOT verified (--insecure)");
}

void Connection::write(std::string_view bytes) {
  auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    if (ssl_ != nullptr) {
      std::size_t written = 0;
      int rc = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written);
      if (rc == 1) {
        bytes.remove_prefix(written);
        continue;
      }
      int err = SSL_get_error(ssl_, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        throw SendError(fmt::format("sending to {} failed: {}", endpoint_.to_string(), openssl_errors()));
      }
      wait_fd(err == SSL_ERROR_WANT_WRITE, deadline);
      continue;
    }
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_fd(true, deadline);
    } else if (errno != EINTR) {
      throw SendError(fmt::format("sending to {} failed: {}", endpoint_.to_string(), std::strerror(errno)));
    }
  }
}

std::string Connection::read_some(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    if (ssl_ != nullptr) {
      std::size_t got = 0;
      int rc = SSL_read_ex(ssl_, buf, sizeof(buf), &got);
      if (rc == 1) return std::string(buf, got);
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_ZERO_RETURN) return {};
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        wait_fd(err == SSL_ERROR_WANT_WRITE, deadline);
        continue;
      }
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return {};  // closed without close_notify
      throw SendError(fmt::format("reading from {} failed: {}", endpoint_.to_string(), openssl_errors()));
    }
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_fd(false, deadline);
    } else if (errno == ECONNRESET) {
      return {};
    } else if (errno != EINTR) {
      throw SendError(fmt::format("reading from {} failed: {}", endpoint_.to_string(), std::strerror(errno)));
    }
  }
}

}  // namespace postern::tools::send
