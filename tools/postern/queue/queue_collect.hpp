// Turns the spool's message snapshots (a running server's QueueRunner::list(), or a stopped
// server's files read by spool::list_queue_snapshot()) into the QueueListing `postern queue`
// prints, and answers the queue requests of the status socket on the daemon's side.
#pragma once

#include "smtp/spool/queue_snapshot.hpp"
#include "tools/postern/queue/queue_report.hpp"

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

// The daemon side of "queue ..." status-socket requests (protocol in queue_command.cpp):
// "queue list json|text", "queue show ID json|text", "queue retry ID|all", "queue delete ID",
// "queue hold ID", "queue release ID". Returns the answer, "error: ...\n" for a bad or failed
// request, or "" when `request` is not a queue request at all.
std::string answer_queue_request(smtp::server::SmtpService& smtp, std::string_view request);

}  // namespace postern::cli::queue
