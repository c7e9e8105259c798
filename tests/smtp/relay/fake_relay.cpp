// The scripted SMTP server of the relay tests (see fake_relay.hpp).
#include "tests/smtp/relay/fake_relay.hpp"

#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <sys/socket.h>

#include <istream>
#include <memory>

namespace postern::smtp::relay::test {

using asio::ip::tcp;

FakeRelay::FakeRelay(FakeRelayOptions options)
    : options_(std::move(options)), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  thread_ = std::thread([this] { run(); });
}

FakeRelay::~FakeRelay() {
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes a blocked accept() on Linux
  if (thread_.joinable()) thread_.join();
}

void FakeRelay::wait() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> FakeRelay::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

std::vector<std::string> FakeRelay::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

void FakeRelay::run() {
  for (int i = 0; i < options_.connections; ++i) {
    std::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    if (ec) return;
    ++accepted_;
    try {
      serve(std::move(socket));
    } catch (const std::exception&) {
      // the client hung up or the handshake failed: next connection
    }
  }
}

void FakeRelay::serve(tcp::socket socket) {
  std::unique_ptr<asio::ssl::context> ctx;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  asio::streambuf in;
  auto write = [&](const std::string& text) {
    if (tls) asio::write(*tls, asio::buffer(text));
    else asio::write(socket, asio::buffer(text));
  };
  auto read_until = [&](std::string_view delim) {
    std::size_t n = tls ? asio::read_until(*tls, in, std::string(delim)) : asio::read_until(socket, in, std::string(delim));
    std::string data(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + static_cast<std::ptrdiff_t>(n));
    in.consume(n);
    return data;
  };
  write(options_.greeting + "\r\n");
  if (options_.greeting.rfind("220", 0) != 0) return;
  for (;;) {
    std::string line = read_until("\r\n");
    line.resize(line.size() - 2);
    {
      std::lock_guard lock(mutex_);
      commands_.push_back(line);
    }
    const std::string verb = line.substr(0, 4);
    if (verb == "EHLO") {
      std::string reply = "250-fake.relay.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n";
      if (options_.certificate && !tls) reply += "250-STARTTLS\r\n";
      write(reply + "250 8BITMIME\r\n");
    } else if (verb == "STAR") {
      write("220 2.0.0 Ready to start TLS\r\n");
      ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      ctx->use_certificate_chain_file(options_.certificate->string());
      ctx->use_private_key_file(options_.key->string(), asio::ssl::context::pem);
      tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket, *ctx);
      tls->handshake(asio::ssl::stream_base::server);
      saw_tls_ = true;
    } else if (verb == "MAIL") {
      write("250 2.1.0 Ok\r\n");
    } else if (verb == "RCPT") {
      write(line.rfind("RCPT TO:<bad", 0) == 0 ? "550 5.1.1 <bad>: Recipient address rejected: User unknown\r\n"
                                              : "250 2.1.5 Ok\r\n");
    } else if (verb == "DATA") {
      write("354 End data with <CR><LF>.<CR><LF>\r\n");
      std::string body = read_until("\r\n.\r\n");
      {
        std::lock_guard lock(mutex_);
        messages_.push_back(body);
      }
      write("250 2.0.0 Ok: queued as FAKE" + std::to_string(++queued_) + "\r\n");
    } else if (verb == "RSET") {
      write("250 2.0.0 Ok\r\n");
    } else if (verb == "QUIT") {
      write("221 2.0.0 Bye\r\n");
      return;
    } else {
      write("502 5.5.2 Error: command not recognized\r\n");
    }
  }
}

}  // namespace postern::smtp::relay::test
