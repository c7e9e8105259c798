// One SMTP connection: the adapter between a TCP socket (plain or TLS) and smtp::Session.
// It picks the TLS mode from the listener (and, in auto mode, from the first byte), then loops:
// read with the session's timeout, feed, write take_output(), perform take_actions(). It holds
// no SMTP verbs: every reply comes from the session except the three the session cannot see
// (connection limits, early talker, which never reach a session).
// Contract: run() never throws (errors are values); it closes the socket before returning and
// logs one "disconnect" line with the reason.
#pragma once

#include "common/config.hpp"
#include "smtp/server/service_state.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace postern::smtp::server {

asio::awaitable<void> run_connection(std::shared_ptr<ServiceState> state,
                                     std::shared_ptr<asio::ip::tcp::socket> socket,
                                     config::SmtpTlsMode mode, std::string session_id);

// The reply for a client refused by the connection limits (RFC 5321 4.2.5, RFC 3463 4.7.0).
std::string too_many_connections_reply(const std::string& hostname);

}  // namespace postern::smtp::server
