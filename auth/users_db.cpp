// UsersDb, the users file and scrypt hashing (see users_db.hpp).
#include "auth/users_db.hpp"

#include "platform/file_replace.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace postern::auth {
namespace {

constexpr std::size_t salt_size = 16;
constexpr std::size_t hash_size = 32;
constexpr std::string_view scrypt_prefix = "$scrypt$";
constexpr std::string_view b64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::span<const std::uint8_t> in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (i + 1 < in.size()) v |= std::uint32_t{in[i + 1]} << 8;
    if (i + 2 < in.size()) v |= in[i + 2];
    out += b64_alphabet[(v >> 18) & 63];
    out += b64_alphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64_alphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? b64_alphabet[v & 63] : '=';
  }
  return out;
}

// Accepts padded or unpadded standard base64; nullopt on any other character.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    auto pos = b64_alphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

bool params_in_bounds(const ScryptParams& p) {
  // 128 * r * N bytes of memory; keep it under 1 GiB, and p small (it only adds time).
  if (p.log2_n < 1 || p.log2_n > 22 || p.r < 1 || p.r > 64 || p.p < 1 || p.p > 16) return false;
  return (std::uint64_t{128} * p.r << p.log2_n) <= (std::uint64_t{1} << 30);
}

bool scrypt(const SecretBytes& password, std::span<const std::uint8_t> salt, const ScryptParams& sp,
            std::span<std::uint8_t> out) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr),
                                                         &EVP_KDF_free);
  if (!kdf) return false;
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                 &EVP_KDF_CTX_free);
  if (!ctx) return false;
  static std::uint8_t empty = 0;  // OpenSSL wants a non-null pointer even for empty strings
  std::uint64_t n = std::uint64_t{1} << sp.log2_n;
  std::uint32_t r = sp.r;
  std::uint32_t p = sp.p;
  std::uint64_t maxmem = (std::uint64_t{1} << 30) + (std::uint64_t{1} << 20) * 64;
  auto* pw = const_cast<std::uint8_t*>(password.empty() ? &empty : password.data());
  auto* sa = const_cast<std::uint8_t*>(salt.empty() ? &empty : salt.data());
  std::array<OSSL_PARAM, 7> params = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, pw, password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, sa, salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  return EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) == 1;
}

template <typename Int>
bool parse_param(std::string_view field, std::string_view key, Int& value) {
  if (field.substr(0, key.size()) != key || field.size() <= key.size() || field[key.size()] != '=')
    return false;
  field.remove_prefix(key.size() + 1);
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  return ec == std::errc() && ptr == field.data() + field.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void system_random(std::span<std::uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
    throw UsersDbError("RAND_bytes failed");
}

std::string encode_password_hash(const PasswordHash& h) {
  return std::string(scrypt_prefix) + "ln=" + std::to_string(h.params.log2_n) +
         ",r=" + std::to_string(h.params.r) + ",p=" + std::to_string(h.params.p) + "$" +
         base64_encode(h.salt) + "$" + base64_encode(h.hash);
}

std::optional<PasswordHash> decode_password_hash(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<PasswordHash> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (text.substr(0, scrypt_prefix.size()) != scrypt_prefix)
    return fail("expected a hash starting with \"$scrypt$\"");
  auto parts = split(text.substr(scrypt_prefix.size()), '$');
  if (parts.size() != 3) return fail("expected \"$scrypt$ln=N,r=R,p=P$salt$hash\"");
  auto fields = split(parts[0], ',');
  PasswordHash h;
  unsigned log2_n = 0;
  if (fields.size() != 3 || !parse_param(fields[0], "ln", log2_n) ||
      !parse_param(fields[1], "r", h.params.r) || !parse_param(fields[2], "p", h.params.p) ||
      log2_n > 255)
    return fail("bad scrypt parameters \"" + std::string(parts[0]) + "\" (expected ln=N,r=R,p=P)");
  h.params.log2_n = static_cast<std::uint8_t>(log2_n);
  if (!params_in_bounds(h.params))
    return fail("scrypt parameters out of range (ln 1..22, r 1..64, p 1..16, at most 1 GiB)");
  auto salt = base64_decode(parts[1]);
  auto hash = base64_decode(parts[2]);
  if (!salt || salt->size() < 8) return fail("bad salt (expected base64 of at least 8 bytes)");
  if (!hash || hash->size() < 16) return fail("bad hash (expected base64 of at least 16 bytes)");
  h.salt = std::move(*salt);
  h.hash = std::move(*hash);
  return h;
}

PasswordHash make_password_hash(const SecretBytes& password, const ScryptParams& params,
                                const RandomSource& random) {
  if (!params_in_bounds(params)) throw UsersDbError("scrypt parameters out of range");
  PasswordHash h{params, std::vector<std::uint8_t>(salt_size), std::vector<std::uint8_t>(hash_size)};
  random(h.salt);
  if (!scrypt(password, h.salt, params, h.hash)) throw UsersDbError("scrypt failed");
  return h;
}

bool check_password_hash(const PasswordHash& h, const SecretBytes& password) {
  SecretBytes computed(h.hash.size());
  if (h.hash.empty() || !scrypt(password, h.salt, h.params, computed.span())) return false;
  return CRYPTO_memcmp(computed.data(), h.hash.data(), h.hash.size()) == 0;
}

bool is_valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != ':' && c != '#';
  });
}

UsersDb::UsersDb(ScryptParams params, RandomSource random)
    : params_(params), random_(std::move(random)) {
  // Unknown users are checked against this: same cost as a real user, a hash nothing matches
  // (all-zero output of scrypt has negligible probability).
  dummy_ = PasswordHash{params_, std::vector<std::uint8_t>(salt_size, 0x5a),
                        std::vector<std::uint8_t>(hash_size, 0)};
}

UsersDb::Entries UsersDb::parse_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsersDbError(path.string() + ": cannot open: " + errno_text());
  Entries entries;
  std::string raw;
  for (int line_no = 1; std::getline(in, raw); ++line_no) {
    auto where = [&] { return path.string() + ":" + std::to_string(line_no) + ": "; };
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      throw UsersDbError(where() + "expected \"name:$scrypt$...\"");
    std::string_view name = line.substr(0, colon);
    if (!is_valid_user_name(name))
      throw UsersDbError(where() + "invalid user name \"" + std::string(name) + "\"");
    std::string why;
    auto hash = decode_password_hash(line.substr(colon + 1), &why);
    if (!hash) throw UsersDbError(where() + "user " + std::string(name) + ": " + why);
    if (!entries.emplace(std::string(name), std::move(*hash)).second)
      throw UsersDbError(where() + "duplicate user \"" + std::string(name) + "\"");
  }
  if (in.bad()) throw UsersDbError(path.string() + ": read error");
  return entries;
}

void UsersDb::load(const std::filesystem::path& path) {
  Entries entries = parse_file(path);
  std::lock_guard lock(mutex_);
  path_ = path;
  entries_ = std::move(entries);
}

void UsersDb::reload() { load(this->path()); }

void UsersDb::reset(const std::filesystem::path& path) {
  std::lock_guard lock(mutex_);
  path_ = path;
  entries_.clear();
}

bool UsersDb::verify(std::string_view name, const SecretBytes& password) const {
  PasswordHash h;
  bool known = false;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    known = it != entries_.end();
    h = known ? it->second : dummy_;
  }
  // Always run scrypt, outside the lock, so neither timing nor contention reveals existence.
  bool ok = check_password_hash(h, password);
  return ok && known;
}

bool UsersDb::set_password(std::string_view name, const SecretBytes& password) {
  if (!is_valid_user_name(name))
    throw UsersDbError("invalid user name \"" + std::string(name) +
                       "\" (1-128 printable characters, no spaces, ':' or '#')");
  PasswordHash h = make_password_hash(password, params_, random_);
  std::lock_guard lock(mutex_);
  auto [it, inserted] = entries_.insert_or_assign(std::string(name), std::move(h));
  return !inserted;
}

bool UsersDb::remove(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

bool UsersDb::contains(std::string_view name) const {
  std::lock_guard lock(mutex_);
  return entries_.find(name) != entries_.end();
}

std::vector<std::string> UsersDb::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, hash] : entries_) out.push_back(name);
  return out;
}

std::size_t UsersDb::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::filesystem::path UsersDb::path() const {
  std::lock_guard lock(mutex_);
  return path_;
}

void UsersDb::save() const {
  std::string text = "# postern users file: name:$scrypt$ln=..,r=..,p=..$salt$hash\n"
                     "# Managed by `postern user add|del`; comments are not preserved.\n";
  std::filesystem::path target;
  {
    std::lock_guard lock(mutex_);
    target = path_;
    for (const auto& [name, hash] : entries_) text += name + ":" + encode_password_hash(hash) + "\n";
  }
  if (target.empty()) throw UsersDbError("users database has no file");
  // The daemon re-reads this file on SIGHUP after dropping to its run-as user, so a rewrite must
  // not take that user's access away: an existing file keeps its owner, group and mode (never
  // more than 0640); a new one is 0640 with the directory's group (the package makes /etc/postern
  // root:postern 0750, so the daemon's group can read it and nobody else can).
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  platform::FileOwnership ownership = platform::own_ownership(0640);
  if (auto existing = platform::ownership_of(target)) {
    ownership = *existing;
    ownership.mode &= 0640;
  } else if (auto parent = platform::ownership_of(dir)) {
    ownership.gid = parent->gid;
  }
  try {
    platform::replace_file(target, text, ownership);
  } catch (const std::system_error& e) {
    throw UsersDbError(e.what());
  }
}

PasswordVerdict UsersDb::authenticate(const PasswordRequest& request) const {
  if (verify(request.user, request.password)) return PasswordVerdict::accepted();
  return PasswordVerdict::rejected("bad user or password");
}

std::string_view to_string(PasswordOutcome outcome) {
  switch (outcome) {
    case PasswordOutcome::accepted: return "accepted";
    case PasswordOutcome::rejected: return "rejected";
    case PasswordOutcome::temporarily_failed: return "temporarily_failed";
  }
  return "rejected";
}

}  // namespace postern::auth
