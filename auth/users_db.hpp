// The users file shared by tunnel password auth and SMTP AUTH: one user per line,
//   name:$scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>
// with '#' comments and blank lines. Passwords are hashed with scrypt (RFC 7914) through
// OpenSSL 3's EVP_KDF "SCRYPT": 16-byte random salt, 32-byte output.
// Contract:
//  - load()/reload() throw UsersDbError naming the file and line; a failed reload keeps the
//    previous contents. All public members are thread-safe (verify() may run on several
//    threads while reload() runs on SIGHUP).
//  - verify() takes as long for an unknown user as for a known one (a dummy scrypt runs) and
//    compares in constant time. It costs one scrypt (~50 ms at the defaults): adapters must not
//    call it on a thread that also moves packets.
//  - save() writes atomically: temp file in the same directory, fsync, rename. An existing file
//    keeps its owner, group and mode (at most 0640); a new file is 0640 with the directory's
//    group, so the daemon's run-as group (the package's `postern`) can re-read it on SIGHUP.
//  - Passwords are only ever held in SecretBytes; nothing here logs them.
#pragma once

#include "auth/password_backend.hpp"
#include "common/secret.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

class UsersDbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// scrypt cost: N = 2^log2_n. Defaults cost ~50 ms and 32 MiB; tests use log2_n = 4.
struct ScryptParams {
  std::uint8_t log2_n = 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
  bool operator==(const ScryptParams&) const = default;
};

// Fills the span with cryptographically secure random bytes (default: RAND_bytes).
using RandomSource = std::function<void(std::span<std::uint8_t>)>;
void system_random(std::span<std::uint8_t> out);

// A parsed "$scrypt$..." hash string.
struct PasswordHash {
  ScryptParams params;
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> hash;
};
// Encodes as "$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>".
std::string encode_password_hash(const PasswordHash& h);
// nullopt with *error set to a short reason when the text is malformed or the cost is
// outside sane bounds (log2_n 1..22, r*p < 2^30).
std::optional<PasswordHash> decode_password_hash(std::string_view text, std::string* error = nullptr);
// Computes a new hash of `password` with a fresh salt from `random`.
PasswordHash make_password_hash(const SecretBytes& password, const ScryptParams& params,
                                const RandomSource& random = system_random);
// Recomputes and compares in constant time.
bool check_password_hash(const PasswordHash& h, const SecretBytes& password);

// A user name: 1..128 bytes, printable ASCII, no ':' and no whitespace (so that SMTP AUTH
// names like "alice@example.org" are fine).
bool is_valid_user_name(std::string_view name);

// The "file" password backend ([auth] backend = "file"): authenticate() is verify().
class UsersDb : public PasswordBackend {
 public:
  // `params` is the cost used for new passwords and for the dummy hash of unknown users.
  explicit UsersDb(ScryptParams params = {}, RandomSource random = system_random);
  UsersDb(const UsersDb&) = delete;
  UsersDb& operator=(const UsersDb&) = delete;

  // Reads `path` (a missing file is an error) and remembers it for reload()/save().
  void load(const std::filesystem::path& path);
  // Re-reads the remembered path; on error throws and keeps the old contents.
  void reload() override;
  // Starts an empty database bound to `path` (for `postern user add` on a new file).
  void reset(const std::filesystem::path& path);

  bool verify(std::string_view name, const SecretBytes& password) const;

  // PasswordBackend: "bad user or password" when verify() fails; never temporarily_failed.
  PasswordVerdict authenticate(const PasswordRequest& request) const override;
  std::string_view kind() const override { return "file"; }
  bool may_still_exist(std::string_view user) const override { return contains(user); }
  std::string summary() const override { return std::to_string(size()); }

  // Adds or replaces; throws UsersDbError for an invalid name. Returns true if it replaced.
  bool set_password(std::string_view name, const SecretBytes& password);
  // Returns false if there was no such user.
  bool remove(std::string_view name);
  bool contains(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  std::size_t size() const;
  std::filesystem::path path() const;

  // Writes atomically to path() (ownership and mode as above). Throws UsersDbError on I/O errors.
  void save() const;

 private:
  using Entries = std::map<std::string, PasswordHash, std::less<>>;
  static Entries parse_file(const std::filesystem::path& path);

  ScryptParams params_;
  RandomSource random_;
  PasswordHash dummy_;  // verified against when the user is unknown
  mutable std::mutex mutex_;
  std::filesystem::path path_;
  Entries entries_;
};

}  // namespace postern::auth
