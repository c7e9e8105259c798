// RelayDelivery against FakeRelay on loopback: STARTTLS verified against a test CA, name
// mismatch and missing STARTTLS (deferred, no MAIL seen), encrypt with a self-signed
// certificate, failover from a dead host, connection reuse, one recipient refused.
// Certificates are made once per run with openssl(1) in a temporary directory.
#include <gtest/gtest.h>

#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/log.hpp"
#include "smtp/relay/relay_delivery.hpp"
#include "tests/smtp/relay/fake_relay.hpp"

namespace postern::smtp::relay::test {
namespace {

namespace fs = std::filesystem;

struct Pki {
  fs::path dir, ca, cert, key, self_cert, self_key;
};

const Pki& pki() {
  static const Pki p = [] {
    Pki k;
    k.dir = fs::temp_directory_path() / ("postern-relay-test-" + std::to_string(::getpid()));
    fs::create_directories(k.dir);
    k.ca = k.dir / "ca.pem";
    k.cert = k.dir / "relay.pem";
    k.key = k.dir / "relay.key";
    k.self_cert = k.dir / "self.pem";
    k.self_key = k.dir / "self.key";
    const std::string d = k.dir.string();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    const std::string script =
        "(cd " + d + " && openssl req -x509" + ec + " -keyout ca.key -out ca.pem -subj /CN=postern-test-ca -days 2"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        " && openssl req" + ec + " -keyout relay.key -out relay.csr -subj /CN=relay.test"
        " && printf 'subjectAltName=DNS:relay.test,IP:127.0.0.1\\n' > san.ext"
        " && openssl x509 -req -in relay.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out relay.pem -days 2"
        " -extfile san.ext"
        " && openssl req -x509" + ec + " -keyout self.key -out self.pem -subj /CN=self.test -days 2)";
    if (std::system((script + " >/dev/null 2>&1").c_str()) != 0) k.dir.clear();
    static const struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ignored;
        if (!dir.empty()) fs::remove_all(dir, ignored);
      }
    } cleanup{d};
    return k;
  }();
  return p;
}

class RelayDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (pki().dir.empty()) GTEST_SKIP() << "openssl(1) could not make test certificates";
    log::set_sink([this](log::Level, std::string_view line) { log_ += std::string(line) + "\n"; });
  }
  void TearDown() override { log::set_sink(nullptr); }

  static config::RelayConfig relay_config(std::uint16_t port, config::RelayTlsPolicy tls) {
    config::RelayConfig c;
    c.hosts = {HostPort{"127.0.0.1", port}};
    c.tls = tls;
    c.ca = pki().ca;
    c.connect_timeout = std::chrono::seconds(5);
    c.command_timeout = c.data_timeout = c.final_timeout = std::chrono::seconds(5);
    c.reuse_idle = std::chrono::seconds(30);
    return c;
  }

  static spool::QueuedMessage message(std::vector<std::string> rcpts) {
    spool::QueuedMessage m;
    m.id = "Q1";
    m.sender = "alice@example.test";
    m.recipients = std::move(rcpts);
    m.message = "Subject: hi\r\n\r\n.leading dot\r\nbody\r\n";
    return m;
  }

  static std::vector<spool::DeliveryResult> deliver(RelayDelivery& d, const spool::QueuedMessage& m) {
    return d.deliver(m, m.recipients);
  }

  static bool saw(const FakeRelay& relay, std::string_view prefix) {
    auto c = relay.commands();
    return std::any_of(c.begin(), c.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
  }

  std::string log_;
};

TEST_F(RelayDeliveryTest, DeliveredWithStartTlsVerified) {
  FakeRelay relay({pki().cert, pki().key, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::delivered) << r[0].detail;
  EXPECT_EQ(r[0].remote_mta, "127.0.0.1");
  EXPECT_EQ(r[0].detail, "relayed to 127.0.0.1 (queued as FAKE1)");
  EXPECT_EQ(r[0].remote_reply, "250 2.0.0 Ok: queued as FAKE1");
  d.idle();
  relay.wait();
  EXPECT_TRUE(relay.saw_tls());
  ASSERT_EQ(relay.messages().size(), 1u);
  EXPECT_EQ(relay.messages()[0], "Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n");
  EXPECT_NE(log_.find("verified=yes"), std::string::npos) << log_;
  EXPECT_NE(log_.find("relay_id=FAKE1"), std::string::npos) << log_;
}

TEST_F(RelayDeliveryTest, NameMismatchUnderVerifyIsTemporary) {
  FakeRelay relay({pki().cert, pki().key, 1});
  auto config = relay_config(relay.port(), config::RelayTlsPolicy::verify);
  config.server_name = "mx.other.test";
  RelayDelivery d(config, std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::temporary_failure);
  EXPECT_NE(r[0].detail.find("certificate name mismatch: wanted mx.other.test"), std::string::npos) << r[0].detail;
  EXPECT_NE(r[0].detail.find("certificate names relay.test, 127.0.0.1"), std::string::npos) << r[0].detail;  // the names it carries
  relay.wait();
  EXPECT_FALSE(saw(relay, "MAIL"));
}

TEST_F(RelayDeliveryTest, UntrustedCertificateUnderVerifyIsTemporary) {
  FakeRelay relay({pki().self_cert, pki().self_key, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::temporary_failure);
  EXPECT_NE(r[0].detail.find("certificate verify failed"), std::string::npos) << r[0].detail;
  relay.wait();
  EXPECT_FALSE(saw(relay, "MAIL"));
}

TEST_F(RelayDeliveryTest, NoStartTlsUnderVerifyIsTemporaryAndSendsNoMail) {
  FakeRelay relay({std::nullopt, std::nullopt, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::temporary_failure);
  EXPECT_NE(r[0].detail.find("relay offers no STARTTLS"), std::string::npos) << r[0].detail;
  relay.wait();
  auto commands = relay.commands();
  ASSERT_EQ(commands.size(), 2u);
  EXPECT_EQ(commands[0], "EHLO postern.test");
  EXPECT_EQ(commands[1], "QUIT");
  EXPECT_NE(log_.find("relay offers no STARTTLS"), std::string::npos);
}

TEST_F(RelayDeliveryTest, EncryptAcceptsSelfSigned) {
  FakeRelay relay({pki().self_cert, pki().self_key, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::encrypt), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::delivered) << r[0].detail;
  d.idle();
  relay.wait();
  EXPECT_TRUE(relay.saw_tls());
  EXPECT_NE(log_.find("verified=no"), std::string::npos) << log_;
}

TEST_F(RelayDeliveryTest, FailsOverFromDeadHost) {
  std::uint16_t dead_port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = a.local_endpoint().port();
  }  // closed: connecting there is refused
  FakeRelay relay({pki().cert, pki().key, 1});
  auto config = relay_config(relay.port(), config::RelayTlsPolicy::verify);
  config.hosts.insert(config.hosts.begin(), HostPort{"127.0.0.1", dead_port});
  RelayDelivery d(config, std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test"}));
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::delivered) << r[0].detail;
  EXPECT_NE(log_.find("attempt_failed"), std::string::npos) << log_;
  d.idle();
}

TEST_F(RelayDeliveryTest, ReusesTheConnection) {
  FakeRelay relay({pki().cert, pki().key, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  EXPECT_EQ(deliver(d, message({"bob@elsewhere.test"}))[0].status, spool::DeliveryStatus::delivered);
  auto second = message({"carol@elsewhere.test"});
  second.id = "Q2";
  auto r = deliver(d, second);
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::delivered) << r[0].detail;
  EXPECT_EQ(r[0].detail, "relayed to 127.0.0.1 (queued as FAKE2)");
  EXPECT_EQ(d.connections_opened(), 1u);
  d.idle();
  relay.wait();
  EXPECT_EQ(relay.accepted(), 1);
  EXPECT_EQ(relay.messages().size(), 2u);
}

TEST_F(RelayDeliveryTest, OneRecipientRefused) {
  FakeRelay relay({pki().cert, pki().key, 1});
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bad@elsewhere.test", "bob@elsewhere.test"}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, spool::DeliveryStatus::permanent_failure);
  EXPECT_EQ(r[0].status_code, "5.1.1");
  EXPECT_EQ(r[0].remote_reply, "550 5.1.1 <bad>: Recipient address rejected: User unknown");
  EXPECT_EQ(r[0].remote_mta, "127.0.0.1");
  EXPECT_EQ(r[1].status, spool::DeliveryStatus::delivered);
  d.idle();
}

TEST_F(RelayDeliveryTest, PlaintextPolicyNone) {
  FakeRelay relay({pki().cert, pki().key, 1});  // offers STARTTLS; tls = none does not use it
  RelayDelivery d(relay_config(relay.port(), config::RelayTlsPolicy::none), std::nullopt, "postern.test");
  EXPECT_EQ(deliver(d, message({"bob@elsewhere.test"}))[0].status, spool::DeliveryStatus::delivered);
  d.idle();
  relay.wait();
  EXPECT_FALSE(relay.saw_tls());
}

TEST_F(RelayDeliveryTest, NobodyListening) {
  std::uint16_t dead_port;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = a.local_endpoint().port();
  }
  RelayDelivery d(relay_config(dead_port, config::RelayTlsPolicy::verify), std::nullopt, "postern.test");
  auto r = deliver(d, message({"bob@elsewhere.test", "carol@elsewhere.test"}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].status, spool::DeliveryStatus::temporary_failure);
  EXPECT_NE(r[1].detail.find("connect failed"), std::string::npos) << r[1].detail;
}

}  // namespace
}  // namespace postern::smtp::relay::test
