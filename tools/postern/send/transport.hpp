// The byte pipe under `postern send`: a TCP connection, optionally wrapped in TLS (implicit or
// after STARTTLS), with per-operation timeouts. Its job beyond moving bytes is to turn failures
// into sentences a user can act on (never "socket error 10061"): connection refused, no answer,
// plaintext SMTP on a TLS port, certificate rejected and why, with the option that fixes it.
// Contract: synchronous, single-threaded; every failure throws SendError whose what() is the
// complete user-facing message; EOF is a normal result of read_some() (empty string).
#pragma once

#include <openssl/ssl.h>

#include "common/host_port.hpp"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::tools::send {

class SendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A read that saw no byte before its deadline; the caller decides what silence means.
class ReadTimeout : public SendError {
 public:
  using SendError::SendError;
};

// "host:port", "[::1]:587" or "host" (then default_port), as HostPort::parse reads them.
// Throws SendError naming the text.
HostPort parse_server(std::string_view text, std::uint16_t default_port);

struct TlsOptions {
  std::string ca_file;    // empty: the system trust store
  bool insecure = false;  // skip certificate and name verification (must be asked for)
};

class Connection {
 public:
  // Resolves and connects (every address in turn). Throws SendError in words.
  Connection(const HostPort& endpoint, std::chrono::milliseconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // TLS handshake on the open socket. implicit: TLS from the first byte (SMTPS, RFC 8314 3.3),
  // so a plaintext SMTP greeting here is diagnosed as a wrong port/mode.
  void start_tls(const TlsOptions& options, bool implicit);
  bool is_tls() const { return ssl_ != nullptr; }
  // "TLSv1.3, TLS_AES_256_GCM_SHA384, certificate verified" (or "NOT verified").
  std::string tls_description() const;
  // True if the first bytes of the handshake from the server were a TLS record (used to probe).
  bool server_sent_tls_record() const;

  void write(std::string_view bytes);
  // Some bytes, or "" at EOF. Throws ReadTimeout when nothing arrives within timeout.
  std::string read_some(std::chrono::milliseconds timeout);

  const HostPort& endpoint() const { return endpoint_; }

 private:
  void wait_fd(bool for_write, std::chrono::steady_clock::time_point deadline);
  void tls_handshake(std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void throw_handshake_failure(const TlsOptions& options, bool implicit,
                                            const std::string& openssl_error);

  HostPort endpoint_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool verified_ = false;
  std::string leaf_;         // the server certificate's subject and names, noted while verifying
  std::string first_bytes_;  // the first bytes OpenSSL read from the server (for diagnoses)
};

// True if bytes look like the start of an SMTP reply ("220 ", "554-") rather than TLS.
bool looks_like_smtp_text(std::string_view bytes);
// True if bytes start like a TLS record: handshake (22) or alert (21), version 3.x.
bool looks_like_tls_record(std::string_view bytes);

}  // namespace postern::tools::send
