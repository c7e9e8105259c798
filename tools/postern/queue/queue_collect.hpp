// Turns the spool's message snapshots (a running server's QueueRunner::list(), or a stopped
// server's files read by spool::list_queue_snapshot()) into the QueueListing `postern queue`
// prints, and answers the queue requests of the status socket on the daemon's side.
#pragma once

#include "smtp/spool/queue_snapshot.hpp"
#include "tools/postern/queue/queue_report.hpp"
#include "tools/postern/status/status_protocol.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp::server {
class SmtpService;
}

namespace postern::cli::queue {

QueueListing make_listing(const std::vector<smtp::spool::MessageSnapshot>& messages, std::string source,
                          std::chrono::system_clock::time_point now);

// The daemon side of the status socket's queue requests (decoded by status_protocol.hpp):
// returns the answer, or "error: ...\n" for an unknown id.
std::string answer_queue_request(smtp::server::SmtpService& smtp, const status::QueueRequest& request);

}  // namespace postern::cli::queue
