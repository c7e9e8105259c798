#include "common/secret.hpp"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(SecretBytes, MoveLeavesSourceEmpty) {
  SecretBytes a(std::string_view("hunter2"));
  SecretBytes b(std::move(a));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.view(), "hunter2");
}

TEST(SecretBytes, WipeEmpties) {
  SecretBytes a(std::string_view("k"));
  a.wipe();
  EXPECT_TRUE(a.empty());
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  const std::uint8_t x[] = {1, 2, 3}, y[] = {1, 2, 3}, z[] = {1, 2, 4};
  EXPECT_TRUE(constant_time_equal(x, y));
  EXPECT_FALSE(constant_time_equal(x, z));
  EXPECT_FALSE(constant_time_equal(std::span(x, 2), y));
}

}  // namespace
}  // namespace postern
