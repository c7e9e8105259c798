// AeadKey: known answers (AES-256-GCM), agreement with a fresh one-shot OpenSSL context for both
// suites (so the reused context with IV-only re-init is right), tamper detection, misuse.
#include "tunnel/data/aead.hpp"

#include <openssl/evp.h>

#include <gtest/gtest.h>

#include <vector>

#include "tests/tunnel/data/test_support.hpp"

namespace postern::tunnel::data {
namespace {

using test::test_key;

std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 13);
  return v;
}

// Independent one-shot reference: a brand-new context per call.
std::vector<std::uint8_t> reference_seal(Suite suite, std::span<const std::uint8_t> key, std::uint64_t counter,
                                         std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plain) {
  EVP_CIPHER* cipher =
      EVP_CIPHER_fetch(nullptr, suite == Suite::aes_256_gcm ? "AES-256-GCM" : "ChaCha20-Poly1305", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::uint8_t nonce[kNonceSize] = {};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
  std::vector<std::uint8_t> out(plain.size() + kTagSize);
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex2(ctx, cipher, key.data(), nonce, nullptr), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &len, plain.data(), static_cast<int>(plain.size())), 1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, out.data() + len, &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data() + plain.size()), 1);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

TEST(AeadNonce, ZeroPrefixThenBigEndianCounter) {
  std::array<std::uint8_t, kNonceSize> nonce{};
  make_nonce(0x0102030405060708ULL, nonce);
  const std::array<std::uint8_t, kNonceSize> expected = {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(nonce, expected);
}

// NIST GCM spec (McGrew & Viega) test case 14: 256-bit zero key, 96-bit zero IV (= counter 0).
TEST(AeadKey, AesGcmKnownAnswer) {
  const std::array<std::uint8_t, 32> key{};
  auto sealer = AeadKey::create(Suite::aes_256_gcm, AeadPurpose::seal, key);
  ASSERT_TRUE(sealer);
  std::array<std::uint8_t, 16> block{};
  std::array<std::uint8_t, 16> tag{};
  ASSERT_TRUE(sealer->seal(0, {}, block, tag));
  const std::array<std::uint8_t, 16> c = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
                                          0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
  const std::array<std::uint8_t, 16> t = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
                                          0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
  EXPECT_EQ(block, c);
  EXPECT_EQ(tag, t);
}

class AeadSuiteTest : public ::testing::TestWithParam<Suite> {};

TEST_P(AeadSuiteTest, ReusedContextMatchesOneShotReference) {
  const auto key = test_key(1, 0);
  auto sealer = AeadKey::create(GetParam(), AeadPurpose::seal, key);
  ASSERT_TRUE(sealer);
  const auto aad = bytes(12, 3);
  for (std::uint64_t counter : {0ULL, 1ULL, 2ULL, 0xFFFFFFFFULL, 0x123456789ABCULL}) {
    for (std::size_t len : {std::size_t{2}, std::size_t{17}, std::size_t{1402}}) {
      auto buf = bytes(len, static_cast<std::uint8_t>(counter));
      const auto expected = reference_seal(GetParam(), key, counter, aad, buf);
      std::array<std::uint8_t, kTagSize> tag{};
      ASSERT_TRUE(sealer->seal(counter, aad, buf, tag));
      EXPECT_TRUE(std::equal(buf.begin(), buf.end(), expected.begin())) << counter << " " << len;
      EXPECT_TRUE(std::equal(tag.begin(), tag.end(), expected.begin() + static_cast<std::ptrdiff_t>(len)));
    }
  }
}

TEST_P(AeadSuiteTest, RoundTripAndTamper) {
  const auto key = test_key(2, 5);
  auto sealer = AeadKey::create(GetParam(), AeadPurpose::seal, key);
  auto opener = AeadKey::create(GetParam(), AeadPurpose::open, key);
  ASSERT_TRUE(sealer && opener);
  EXPECT_EQ(sealer->suite(), GetParam());
  const auto aad = bytes(12, 9);
  const auto plain = bytes(100, 1);
  auto sealed = plain;
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(sealer->seal(42, aad, sealed, tag));
  EXPECT_NE(sealed, plain);

  auto opened = sealed;
  ASSERT_TRUE(opener->open(42, aad, opened, tag));
  EXPECT_EQ(opened, plain);

  // Wrong counter, any flipped ciphertext, AAD or tag byte: refused.
  opened = sealed;
  EXPECT_FALSE(opener->open(43, aad, opened, tag));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    opened = sealed;
    opened[i] ^= 0x01;
    EXPECT_FALSE(opener->open(42, aad, opened, tag)) << i;
  }
  for (std::size_t i = 0; i < aad.size(); ++i) {
    auto bad_aad = aad;
    bad_aad[i] ^= 0x80;
    opened = sealed;
    EXPECT_FALSE(opener->open(42, bad_aad, opened, tag)) << i;
  }
  for (std::size_t i = 0; i < tag.size(); ++i) {
    auto bad_tag = tag;
    bad_tag[i] ^= 0x10;
    opened = sealed;
    EXPECT_FALSE(opener->open(42, aad, opened, bad_tag)) << i;
  }
  // The context is still good after failures.
  opened = sealed;
  EXPECT_TRUE(opener->open(42, aad, opened, tag));
}

TEST_P(AeadSuiteTest, WrongKeyFails) {
  auto sealer = AeadKey::create(GetParam(), AeadPurpose::seal, test_key(1, 1));
  auto opener = AeadKey::create(GetParam(), AeadPurpose::open, test_key(1, 2));
  ASSERT_TRUE(sealer && opener);
  auto buf = bytes(40, 0);
  std::array<std::uint8_t, kTagSize> tag{};
  ASSERT_TRUE(sealer->seal(0, {}, buf, tag));
  EXPECT_FALSE(opener->open(0, {}, buf, tag));
}

TEST_P(AeadSuiteTest, MoveAndMisuse) {
  auto sealer = AeadKey::create(GetParam(), AeadPurpose::seal, test_key(3, 0));
  ASSERT_TRUE(sealer);
  AeadKey moved = std::move(*sealer);
  auto buf = bytes(10, 0);
  std::array<std::uint8_t, kTagSize> tag{};
  EXPECT_TRUE(moved.seal(1, {}, buf, tag));
  EXPECT_FALSE(sealer->seal(1, {}, buf, tag));  // NOLINT(bugprone-use-after-move): moved-from refuses
  EXPECT_FALSE(moved.open(1, {}, buf, tag));    // a sealing key does not open
  EXPECT_FALSE(AeadKey::create(GetParam(), AeadPurpose::seal, std::span(buf).first(10)));
}

INSTANTIATE_TEST_SUITE_P(Suites, AeadSuiteTest, ::testing::Values(Suite::aes_256_gcm, Suite::chacha20_poly1305),
                         [](const auto& param_info) { return param_info.param == Suite::aes_256_gcm ? "Aes" : "ChaCha"; });

}  // namespace
}  // namespace postern::tunnel::data
