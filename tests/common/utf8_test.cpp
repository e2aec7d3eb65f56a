// UTF-8 validation, and the readers that refuse text that is not UTF-8.
#include <string>

#include <gtest/gtest.h>

#include "kpu/common/hw_config.h"
#include "kpu/common/utf8.h"

namespace kpu {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
    EXPECT_TRUE(isValidUtf8(""));
    EXPECT_TRUE(isValidUtf8("plain ascii"));
    EXPECT_TRUE(isValidUtf8("\xc3\xa9t\xc3\xa9"));    // été
    EXPECT_TRUE(isValidUtf8("\xe2\x88\x9a"));         // √ U+221A
    EXPECT_TRUE(isValidUtf8("\xf0\x9f\x98\x80"));     // U+1F600
    EXPECT_TRUE(isValidUtf8("\xf4\x8f\xbf\xbf"));     // U+10FFFF, the last code point
    EXPECT_TRUE(isValidUtf8(std::string("a\0b", 3))); // NUL is a code point
}

TEST(Utf8, NamesTheFirstIllFormedByte) {
    EXPECT_EQ(firstInvalidUtf8("ab\x9b"), 2u);           // a lone continuation byte
    EXPECT_EQ(firstInvalidUtf8("\xc0\x80"), 0u);         // overlong NUL
    EXPECT_EQ(firstInvalidUtf8("\xc1\xbf"), 0u);         // overlong
    EXPECT_EQ(firstInvalidUtf8("\xe0\x80\x80"), 0u);     // overlong 3-byte form
    EXPECT_EQ(firstInvalidUtf8("x\xed\xa0\x80"), 1u);    // a UTF-16 surrogate
    EXPECT_EQ(firstInvalidUtf8("\xf4\x90\x80\x80"), 0u); // above U+10FFFF
    EXPECT_EQ(firstInvalidUtf8("\xf5\x80\x80\x80"), 0u); // no such lead byte
    EXPECT_EQ(firstInvalidUtf8("ok\xe2\x88"), 2u);       // truncated at the end
    EXPECT_EQ(firstInvalidUtf8("\xc3\xa9\xc3("), 2u);    // bad continuation
}

TEST(Utf8, YamlConfigsMustBeUtf8LikeJsonOnes) {
    auto r = parseConfigYaml("name: \"caf\xe9\"\n", "k.yaml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "k.yaml:1:7: error: the scalar is not valid UTF-8");
    r = parseConfigYaml("name: k\n\"\xff\": 1\n", "k.yaml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "k.yaml:2:1: error: the key is not valid UTF-8");
}

} // namespace
} // namespace kpu
