// UsersDb: scrypt verify, file format errors with line numbers, atomic save keeping ownership.
#include "auth/users_db.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;
const ScryptParams cheap{4, 8, 1};  // N=16: fast enough for tests

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "postern_users_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

TEST(PasswordHash, KnownAnswerRfc7914) {
  // RFC 7914 section 12, second vector: P="password", S="NaCl", N=1024, r=8, p=16 (64 bytes).
  PasswordHash h{{10, 8, 16}, {'N', 'a', 'C', 'l'}, {}};
  const std::uint8_t want[] = {0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d,
                               0x01, 0xe9, 0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73,
                               0x76, 0x63, 0x4b, 0x37, 0x31, 0x62, 0x2e, 0xaf, 0x30, 0xd9, 0x2e, 0x22, 0xa3,
                               0x88, 0x6f, 0xf1, 0x09, 0x27, 0x9d, 0x98, 0x30, 0xda, 0xc7, 0x27, 0xaf, 0xb9,
                               0x4a, 0x83, 0xee, 0x6d, 0x83, 0x60, 0xcb, 0xdf, 0xa2, 0xcc, 0x06, 0x40};
  h.hash.assign(std::begin(want), std::end(want));
  EXPECT_TRUE(check_password_hash(h, SecretBytes(std::string_view("password"))));
  EXPECT_FALSE(check_password_hash(h, SecretBytes(std::string_view("passwore"))));
}

TEST(PasswordHash, EncodeDecodeRoundTrip) {
  auto h = make_password_hash(SecretBytes(std::string_view("pw")), cheap);
  std::string text = encode_password_hash(h);
  EXPECT_EQ(text.rfind("$scrypt$ln=4,r=8,p=1$", 0), 0u) << text;
  auto back = decode_password_hash(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->params, cheap);
  EXPECT_EQ(back->salt, h.salt);
  EXPECT_EQ(back->hash, h.hash);
  EXPECT_EQ(h.salt.size(), 16u);
  EXPECT_EQ(h.hash.size(), 32u);
  std::string why;
  for (const char* bad : {"$bcrypt$x", "$scrypt$ln=4,r=8$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                          "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                          "$scrypt$ln=4,r=8,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAA=="}) {
    EXPECT_FALSE(decode_password_hash(bad, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

TEST(UsersDb, VerifyGoodBadUnknown) {
  TempDir dir;
  UsersDb db(cheap);
  db.reset(dir.path() / "users");
  EXPECT_FALSE(db.set_password("alice", SecretBytes(std::string_view("correct horse"))));
  EXPECT_TRUE(db.set_password("alice", SecretBytes(std::string_view("battery staple"))));
  db.set_password("bob@example.org", SecretBytes(std::string_view("")));
  EXPECT_TRUE(db.verify("alice", SecretBytes(std::string_view("battery staple"))));
  EXPECT_FALSE(db.verify("alice", SecretBytes(std::string_view("correct horse"))));
  EXPECT_FALSE(db.verify("alice", SecretBytes(std::string_view(""))));
  EXPECT_TRUE(db.verify("bob@example.org", SecretBytes(std::string_view(""))));
  EXPECT_FALSE(db.verify("carol", SecretBytes(std::string_view("battery staple"))));
  EXPECT_THROW(db.set_password("bad:name", SecretBytes(std::string_view("x"))), UsersDbError);
  EXPECT_THROW(db.set_password("two words", SecretBytes(std::string_view("x"))), UsersDbError);
  EXPECT_EQ(db.names(), (std::vector<std::string>{"alice", "bob@example.org"}));
  EXPECT_TRUE(db.remove("alice"));
  EXPECT_FALSE(db.remove("alice"));
  EXPECT_FALSE(db.verify("alice", SecretBytes(std::string_view("battery staple"))));
}

TEST(UsersDb, SaveIsAtomicNeverWorldReadableAndLoads) {
  TempDir dir;
  fs::path file = dir.path() / "users";
  write(file, "old contents\n");
  ::chmod(file.c_str(), 0644);
  {
    UsersDb db(cheap);
    db.reset(file);
    db.set_password("alice", SecretBytes(std::string_view("pw1")));
    db.set_password("bob", SecretBytes(std::string_view("pw2")));
    db.save();
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the old mode without the world bit
  // No temp file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  UsersDb loaded(cheap);
  loaded.load(file);
  EXPECT_EQ(loaded.size(), 2u);
  EXPECT_TRUE(loaded.verify("bob", SecretBytes(std::string_view("pw2"))));
  EXPECT_FALSE(loaded.verify("bob", SecretBytes(std::string_view("pw1"))));
}

// `postern user add` run by root must not take the daemon's read access away (issue 16): a
// rewrite keeps the file's owner, group and mode; a new file takes the directory's group, 0640.
TEST(UsersDb, SaveKeepsOwnerGroupAndModeAndNewFilesTakeTheDirectorysGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  TempDir dir;
  ASSERT_EQ(::chown(dir.path().c_str(), 0, 4242), 0);  // like /etc/postern root:postern
  fs::path file = dir.path() / "users";
  {
    UsersDb db(cheap);
    db.reset(file);
    db.set_password("alice", SecretBytes(std::string_view("pw1")));
    db.save();
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 4242u);
  ASSERT_EQ(::chown(file.c_str(), 4343, 4444), 0);  // an operator's own choice
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  {
    UsersDb db(cheap);
    db.load(file);
    db.set_password("bob", SecretBytes(std::string_view("pw2")));
    db.save();
  }
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 4343u);
  EXPECT_EQ(st.st_gid, 4444u);
}

std::string load_error(const fs::path& file, const std::string& text) {
  write(file, text);
  UsersDb db(cheap);
  try {
    db.load(file);
  } catch (const UsersDbError& e) {
    return e.what();
  }
  return "no error";
}

TEST(UsersDb, FormatErrorsNameFileAndLine) {
  TempDir dir;
  fs::path file = dir.path() / "users";
  auto good = encode_password_hash(make_password_hash(SecretBytes(std::string_view("x")), cheap));
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"# comment\n\nalice\n", ":3: expected \"name:$scrypt$...\""},
      {"alice:" + good + "\nalice:" + good + "\n", ":2: duplicate user \"alice\""},
      {"alice:" + good + "\n\n bob:$scrypt$ln=4,r=8,p=1$AAAA\n", ":3: user bob: expected"},
      {"al ice:" + good + "\n", ":1: invalid user name"},
      {"alice:$scrypt$ln=0,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==\n", ":1: user alice: scrypt parameters out of range"},
  };
  for (const auto& c : cases) {
    std::string err = load_error(file, c.text);
    EXPECT_EQ(err.find(file.string() + c.want), 0u) << err << "\nwant: " << c.want;
  }
  EXPECT_THROW(UsersDb(cheap).load(dir.path() / "missing"), UsersDbError);
}

TEST(UsersDb, FailedReloadKeepsOldContents) {
  TempDir dir;
  fs::path file = dir.path() / "users";
  auto hash = encode_password_hash(make_password_hash(SecretBytes(std::string_view("pw")), cheap));
  write(file, "# users\nalice:" + hash + "\n");
  UsersDb db(cheap);
  db.load(file);
  write(file, "alice:garbage\n");
  EXPECT_THROW(db.reload(), UsersDbError);
  EXPECT_TRUE(db.verify("alice", SecretBytes(std::string_view("pw"))));
  write(file, "bob:" + hash + "\n");
  db.reload();
  EXPECT_FALSE(db.contains("alice"));
  EXPECT_TRUE(db.verify("bob", SecretBytes(std::string_view("pw"))));
}

}  // namespace
}  // namespace postern::auth
