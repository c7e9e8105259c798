// The durable spool: where an accepted message lives between "250 queued" and delivery.
//
// Layout under the spool root:
//   tmp/<id>          being written; anything here at start-up is garbage from a crash
//   queue/<id>        accepted: envelope header lines, a blank line, then the message bytes
//   queue/<id>.done   the message's append-only record file (queue_records.hpp): per-recipient
//                     outcomes, attempts, hold/release; appended and fdatasync'ed by the queue
//                     runner, one write per attempt, before it moves on
//
// Queue file header (one "key value" per line after the magic; values never hold CR/LF/NUL):
//   sender <addr>            reverse-path without <>, "" for the null sender
//   queued <unix-ms>         when the transfer began (absent in old files: the file's mtime)
//   body 8bitmime / smtputf8 / ret FULL|HDRS / envid <xtext>     (RFC 6152, 6531, 3461)
//   recipient <addr>         one per recipient, each optionally followed by
//   notify <list> / orcpt <type;xtext>                           (RFC 3461 4.1, 4.2)
// Every line is optional except sender and at least one recipient, so files written before
// the DSN lines existed still load (the magic did not change).
//
// Contract of store() and of MessageWriter::commit() (a message streamed in while it arrives,
// message_writer.hpp): when it succeeds, the message file has been fdatasync'ed, linked into
// queue/ and queue/ has been fsync'ed, so the caller may reply 250 (RFC 5321 6.1: once
// accepted, the server is responsible for the message). Concurrent stores share one directory
// fsync (group commit); when that fsync fails the queue file is unlinked again before the error
// is returned, so the client's retry after its 451 is the only copy. Writing needs open(): the
// spool then holds descriptors of tmp/ and queue/ (opened O_DIRECTORY|O_NOFOLLOW: neither may be
// a symbolic link; the root may) and creates, links and removes files relative to them, never
// following a symbolic link. Every method is blocking file I/O: call it from a worker thread,
// never from the network thread. Queue ids come from the injected generator (no global
// RNG here), rendered as 16 lower-case hex digits, or from the caller (store_as). Errors are
// values (std::error_code).
#pragma once

#include "smtp/spool/fs.hpp"
#include "smtp/spool/message_writer.hpp"
#include "smtp/spool/queue_records.hpp"
#include "smtp/spool/sync_latency.hpp"

#include <chrono>
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
  invalid_envelope = 1,  // no recipient, a value holding CR, LF, NUL (addresses: or TAB), a bad
                         // id or DSN parameter: a bug in the caller, do not retry
  corrupt_file,          // a queue file whose envelope header cannot be parsed: leave it in place
  id_collision,          // the id is already queued (store_as) or the generator kept repeating
  symlinked_directory,   // open(): tmp/ or queue/ is a symbolic link (or not a directory): refused
};
std::string_view to_string(errc e);
const std::error_category& spool_category();
std::error_code make_error_code(errc e);

struct RecipientParams {  // RFC 3461 per-recipient DSN parameters, "" when absent
  std::string notify;     // "NEVER" or comma list of SUCCESS,FAILURE,DELAY (upper case)
  std::string orcpt;      // ORCPT value as received: "rfc822;user@example.org" (xtext kept)
};

struct MessageEnvelope {
  std::string sender;                             // "" = null sender
  std::vector<std::string> recipients;            // duplicates removed (keep first's params)
  std::vector<RecipientParams> recipient_params;  // empty or one per recipient
  std::string dsn_ret;                            // "FULL", "HDRS" or ""
  std::string dsn_envid;                          // ENVID as received (xtext), or ""
  bool eight_bit = false;                         // BODY=8BITMIME
  bool smtputf8 = false;                          // SMTPUTF8
  std::chrono::system_clock::time_point queued_at{};  // when the transfer began (the SMTP DATA/BDAT)

  // The params of recipient i ("" fields when none were given).
  const RecipientParams& params(std::size_t i) const;
};

// A message as the queue runner and the deliveries see it.
struct QueuedMessage : MessageEnvelope {
  std::string id;
  std::string message;     // exactly the bytes to deliver (CRLF lines)
  bool recovered = false;  // found at start-up: an earlier run may have delivered some copies
};

struct StoreResult {
  std::string id;  // set on success
  std::error_code error;
};

class Spool {
 public:
  using IdGenerator = std::function<std::uint64_t()>;

  Spool(std::filesystem::path root, IdGenerator next_id);

  // Creates root/{tmp,queue} (durably) and empties tmp/. Call once before anything else, in
  // the server only: a tool reading a stopped server's spool does not call it.
  std::error_code open();

  // Thread-safe. See the contract above. Duplicate recipients are dropped (the first one's
  // params kept); envelope.queued_at is written as given (the caller's "now").
  StoreResult store(const MessageEnvelope& envelope, std::string_view message);
  // Same, under an id the caller already announced (the SMTP session names it in the Received
  // header and the 250 reply). `id` must be 1..64 bytes of [0-9A-Za-z]; an id already queued is
  // refused with errc::id_collision, never overwritten.
  std::error_code store_as(std::string_view id, const MessageEnvelope& envelope,
                           std::string_view message);
  // Starts a message under `id` (same rules as store_as) whose bytes arrive later: creates
  // tmp/<id> with the envelope header (envelope.queued_at as given: the caller's "now" when the
  // transfer began) and hands it to `out`; append() and commit() it (message_writer.hpp).
  std::error_code begin(std::string_view id, const MessageEnvelope& envelope, MessageWriter& out);

  // Ids of every message in queue/ (unsorted); removes a .done file whose message is gone.
  std::error_code list_queue(std::vector<std::string>& ids);
  // The same without touching anything (for tools reading a spool they do not own).
  std::error_code list_ids(std::vector<std::string>& ids) const;
  // Reads queue/<id> and its records. queued_at falls back to the file's mtime for old files.
  std::error_code load(std::string_view id, QueuedMessage& message,
                       std::vector<QueueRecord>& records) const;
  // Appends the records to queue/<id>.done in ONE write followed by one fdatasync; the file's
  // creation also fsyncs queue/ so its name survives a crash. A torn tail left by a crash is
  // cut off first, so it can never glue onto the new records. errc::invalid_envelope if a
  // record's recipient holds TAB, CR, LF or NUL (nothing is written then).
  std::error_code append_records(std::string_view id, std::span<const QueueRecord> records);
  // Removes queue/<id> then queue/<id>.done (in that order: a lone .done is cleaned by
  // list_queue, a message whose .done vanished first would be delivered twice).
  std::error_code remove(std::string_view id);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path queue_path(std::string_view id) const;
  // Every fsync/fdatasync store() and append_records() waited for (see sync_latency.hpp).
  const SyncLatency& sync_latency() const { return sync_latency_; }
  // Fault injection for tests: replaces fsync(2) of queue/ (given its descriptor).
  void set_directory_sync_for_test(std::function<std::error_code(int)> sync) { sync_dir_ = std::move(sync); }

 private:
  friend class MessageWriter;
  std::string make_id();
  std::error_code begin_checked(const std::string& id, const std::string& header, MessageWriter& out);
  std::error_code store_checked(const std::string& id, const std::string& header,
                                std::string_view message);
  std::error_code commit(MessageWriter& writer);  // MessageWriter::commit
  void drop_tmp(const std::string& id);           // MessageWriter::discard
  std::error_code commit_queue_directory();

  std::filesystem::path root_;
  std::filesystem::path tmp_dir_;
  std::filesystem::path queue_dir_;
  fs::Fd tmp_fd_;    // tmp/ and queue/, opened by open()
  fs::Fd queue_fd_;
  std::function<std::error_code(int)> sync_dir_;
  IdGenerator next_id_;
  std::mutex id_mutex_;

  // Group commit of the queue/ fsync: a store waits until a sync that started after its
  // rename has finished, and the first waiter without one in flight runs it for everybody.
  std::mutex sync_mutex_;
  std::condition_variable sync_done_;
  std::uint64_t renamed_ = 0;  // renames issued
  std::uint64_t synced_ = 0;   // renames covered by a finished fsync
  bool syncing_ = false;
  SyncLatency sync_latency_;
};

// 1..64 bytes of [0-9A-Za-z].
bool is_queue_id(std::string_view name);

// The envelope with duplicate recipients removed, or errc::invalid_envelope (see errc).
std::error_code normalize_envelope(const MessageEnvelope& in, MessageEnvelope& out);

// Queue file header encoding (queue_file.cpp), exposed for tests, tools and the fuzzer.
// encode_envelope does not validate: pass a normalized envelope.
std::string encode_envelope(const MessageEnvelope& envelope);
// Parses a queue file into `out` (id and recovered untouched; queued_at stays {} when the file
// has no `queued` line). False if malformed.
bool decode_queue_file(std::string_view file, QueuedMessage& out);
// The same, taking the file's memory for out.message (no second copy of a large message).
bool decode_queue_file_owned(std::string&& file, QueuedMessage& out);

}  // namespace postern::smtp::spool

template <>
struct std::is_error_code_enum<postern::smtp::spool::errc> : std::true_type {};
