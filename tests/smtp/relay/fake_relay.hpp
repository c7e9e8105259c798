// A scripted SMTP server on 127.0.0.1 for the relay tests: one thread, blocking Asio, serves
// `connections` connections one after another. It offers PIPELINING and 8BITMIME (and
// STARTTLS when given a certificate), answers 550 to recipients starting with "bad", and
// records every command line it received.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace postern::smtp::relay::test {

struct FakeRelayOptions {
  std::optional<std::filesystem::path> certificate, key;  // STARTTLS offered when set
  int connections = 1;
  std::string greeting = "220 fake.relay.test ESMTP";
};

class FakeRelay {
 public:
  explicit FakeRelay(FakeRelayOptions options);
  ~FakeRelay();  // stops accepting and joins the thread
  std::uint16_t port() const { return port_; }
  void wait();   // until the scripted connections are served
  std::vector<std::string> commands() const;
  std::vector<std::string> messages() const;  // DATA contents, still dot-stuffed
  int accepted() const { return accepted_; }
  bool saw_tls() const { return saw_tls_; }

 private:
  void run();
  void serve(asio::ip::tcp::socket socket);

  FakeRelayOptions options_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> commands_, messages_;
  std::atomic<int> accepted_{0};
  std::atomic<bool> saw_tls_{false};
  int queued_ = 0;
};

}  // namespace postern::smtp::relay::test
