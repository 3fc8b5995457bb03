// The Philox stream: Random123's known answers, value ranges and moments, and
// the stream properties the eager layer and kernels rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/rng/philox.h"
#include "runtime/rng/philox_cpu.h"

namespace janus::rng {
namespace {

// Random123's published known-answer vectors for Philox4x32-10.
TEST(Philox, KnownAnswers) {
  struct Case {
    Block counter;
    uint32_t key0, key1;
    Block expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Case& c : cases) {
    const Block got = philox4x32_10(c.counter, c.key0, c.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], c.expected.v[i]) << "lane " << i;
  }
}

TEST(Philox, UniformFloatsAreInRangeWithTheRightMean) {
  std::vector<float> f(100000);
  fill_uniform(f.data(), f.size(), 42, 0);
  double sum = 0;
  for (float x : f) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    sum += x;
  }
  EXPECT_NEAR(sum / f.size(), 0.5, 0.005);

  std::vector<double> d(100000);
  fill_uniform(d.data(), d.size(), 42, 0);
  sum = 0;
  for (double x : d) {
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    sum += x;
  }
  EXPECT_NEAR(sum / d.size(), 0.5, 0.005);
}

TEST(Philox, NormalsHaveUnitVariance) {
  std::vector<double> z(200001);  // odd, to cover the dropped last value
  fill_normal(z.data(), z.size(), 7, 0);
  double mean = 0, square = 0;
  for (double x : z) {
    ASSERT_TRUE(std::isfinite(x));
    mean += x;
    square += x * x;
  }
  mean /= z.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(square / z.size() - mean * mean, 1.0, 0.01);
}

TEST(Philox, StartingAtABlockOffsetContinuesTheStream) {
  const size_t n = 37, skip = 12;
  std::vector<float> whole(n + skip), tail(n);
  fill_uniform(whole.data(), whole.size(), 5, 0);
  fill_uniform(tail.data(), n, 5, skip);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(tail[i], whole[skip + i]);
}

TEST(Philox, FloatUniformIsTheTop24BitsOfEachWord) {
  std::vector<uint32_t> words(9);
  std::vector<float> f(9);
  fill_words(words.data(), words.size(), 99, 4);
  fill_uniform(f.data(), f.size(), 99, 4);
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f[i], static_cast<float>(words[i] >> 8) / 16777216.0f);
  }
}

TEST(Philox, WordsUsedRoundUpToWholeBlocks) {
  EXPECT_EQ(words_used(Distribution::kUniform, false, 1), 4u);
  EXPECT_EQ(words_used(Distribution::kUniform, false, 8), 8u);
  EXPECT_EQ(words_used(Distribution::kUniform, true, 3), 8u);
  EXPECT_EQ(words_used(Distribution::kNormal, false, 5), 8u);
  EXPECT_EQ(words_used(Distribution::kNormal, true, 0), 0u);
}

TEST(Philox, DifferentSeedsGiveDifferentStreams) {
  EXPECT_NE(stream_word(1, 0), stream_word(2, 0));
  EXPECT_NE(stream_word(1ull << 32, 0), stream_word(0, 0));  // the seed's high word matters
}

}  // namespace
}  // namespace janus::rng
