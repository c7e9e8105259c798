// The durable spool: where an accepted message lives between "250 queued" and delivery.
//
// Layout under the spool root:
//   tmp/<id>          being written; anything here at start-up is garbage from a crash
//   queue/<id>        accepted: envelope header lines, a blank line, then the message bytes
//   queue/<id>.done   one line per finished recipient ("delivered <rcpt>" / "failed <rcpt>"),
//                     appended and fdatasync'ed by the queue runner before it moves on
//
// Contract of store(): when it returns an id, the message file has been fdatasync'ed, renamed
// into queue/ and queue/ has been fsync'ed, so the caller may reply 250 (RFC 5321 6.1: once
// accepted, the server is responsible for the message). Concurrent store() calls share one
// directory fsync (group commit). Every method is blocking file I/O: call it from a worker
// thread, never from the network thread. Queue ids come from the injected generator (no global
// RNG here), rendered as 16 lower-case hex digits, or from the caller (store_as). Errors are values (std::error_code).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace postern::smtp::spool {

enum class errc {
  invalid_envelope = 1,  // no recipient, an address holding CR, LF or NUL, or a bad id
  corrupt_file,          // a queue file whose envelope header cannot be parsed
  id_collision,          // the generator kept returning ids already in use
};
std::string_view to_string(errc e);
const std::error_category& spool_category();
std::error_code make_error_code(errc e);

// A message as the queue runner and the deliveries see it.
struct QueuedMessage {
  std::string id;
  std::string sender;                   // reverse-path without <>; "" is the null sender
  std::vector<std::string> recipients;  // forward-paths without <>, duplicates removed
  std::string message;                  // exactly the bytes to deliver (CRLF lines)
  bool recovered = false;  // found at start-up: an earlier run may have delivered some copies
};

enum class Outcome { delivered, failed };
std::string_view to_string(Outcome outcome);

struct DoneRecord {
  std::string recipient;
  Outcome outcome = Outcome::delivered;
};

struct StoreResult {
  std::string id;  // set on success
  std::error_code error;
};

class Spool {
 public:
  using IdGenerator = std::function<std::uint64_t()>;

  Spool(std::filesystem::path root, IdGenerator next_id);

  // Creates root/{tmp,queue} (durably) and empties tmp/. Call once before anything else.
  std::error_code open();

  // Thread-safe. See the contract above.
  StoreResult store(std::string_view sender, std::span<const std::string> recipients,
                    std::string_view message);
  // Same, under an id the caller already announced (the SMTP session names it in the Received
  // header and the 250 reply). `id` must be 1..64 bytes of [0-9A-Za-z]; an id already queued is
  // refused with errc::id_collision, never overwritten.
  std::error_code store_as(std::string_view id, std::string_view sender,
                           std::span<const std::string> recipients, std::string_view message);

  // Ids of every message in queue/ (unsorted); removes a .done file whose message is gone.
  std::error_code list_queue(std::vector<std::string>& ids);
  std::error_code load(std::string_view id, QueuedMessage& message,
                       std::vector<DoneRecord>& done) const;
  // Appends one record to queue/<id>.done and fdatasyncs it; the first record also fsyncs
  // queue/ so the .done file's name survives a crash.
  std::error_code record_done(std::string_view id, std::string_view recipient, Outcome outcome);
  // Removes queue/<id> then queue/<id>.done (in that order: a lone .done is cleaned by
  // list_queue, a message whose .done vanished first would be delivered twice).
  std::error_code remove(std::string_view id);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path queue_path(std::string_view id) const;

 private:
  std::string make_id();
  std::error_code store_checked(const std::string& id, const std::string& header,
                                std::string_view message);
  std::error_code commit_queue_directory();

  std::filesystem::path root_;
  std::filesystem::path tmp_dir_;
  std::filesystem::path queue_dir_;
  IdGenerator next_id_;
  std::mutex id_mutex_;

  // Group commit of the queue/ fsync: a store waits until a sync that started after its
  // rename has finished, and the first waiter without one in flight runs it for everybody.
  std::mutex sync_mutex_;
  std::condition_variable sync_done_;
  std::uint64_t renamed_ = 0;  // renames issued
  std::uint64_t synced_ = 0;   // renames covered by a finished fsync
  bool syncing_ = false;
};

// Envelope header encoding, exposed for tests and tools.
std::string encode_envelope(std::string_view sender, std::span<const std::string> recipients);
// Parses a queue file into `out` (id and recovered untouched). False if malformed.
bool decode_queue_file(std::string_view file, QueuedMessage& out);
// Parses a .done file; a torn last line (no '\n') is ignored.
std::vector<DoneRecord> decode_done_file(std::string_view file);

}  // namespace postern::smtp::spool

template <>
struct std::is_error_code_enum<postern::smtp::spool::errc> : std::true_type {};
