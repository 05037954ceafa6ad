#include <doctest/doctest.h>

#include "app/unified_diff.hpp"

using nicsync::unified_diff;

TEST_SUITE("app::unified_diff") {
  TEST_CASE("equal texts give no diff") { CHECK(unified_diff("a\nb\n", "a\nb\n", "a", "b").empty()); }

  TEST_CASE("a new file is all additions") {
    CHECK(unified_diff("", "x\ny\n", "/dev/null", "b/f") == "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  }

  TEST_CASE("a new file of one line, of empty lines, without a final newline") {
    CHECK(unified_diff("", "x\n", "/dev/null", "b/f") == "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n");
    CHECK(unified_diff("", "\n\n\n", "/dev/null", "b/f") == "--- /dev/null\n+++ b/f\n@@ -0,0 +1,3 @@\n+\n+\n+\n");
    CHECK(unified_diff("", "x\ny", "/dev/null", "b/f") ==
          "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n");
    CHECK(unified_diff("", "y", "/dev/null", "b/f") ==
          "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+y\n\\ No newline at end of file\n");
  }

  TEST_CASE("a removed file is all removals") {
    CHECK(unified_diff("x\n", "", "a/f", "/dev/null") == "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
  }

  TEST_CASE("a change in the middle shows three lines of context") {
    std::string before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    std::string after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
    CHECK(unified_diff(before, after, "a/f", "b/f") ==
          "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
  }

  TEST_CASE("distant changes make separate hunks") {
    std::string before, after;
    for (int i = 1; i <= 20; ++i) {
      before += std::to_string(i) + "\n";
      after += (i == 2 || i == 18 ? "x" : std::to_string(i)) + std::string("\n");
    }
    CHECK(unified_diff(before, after, "a", "b") ==
          "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+x\n 19\n 20\n");
  }

  TEST_CASE("an insertion and a deletion are minimal") {
    CHECK(unified_diff("a\nb\nc\n", "a\nc\nd\n", "a", "b") == "--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n-b\n c\n+d\n");
  }

  TEST_CASE("a missing final newline is marked") {
    CHECK(unified_diff("a\n", "a\nb", "a", "b") == "--- a\n+++ b\n@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n");
  }

  TEST_CASE("very different large texts still diff correctly") {
    std::string before, after;
    for (int i = 0; i < 2000; ++i) {
      before += "old " + std::to_string(i) + "\n";
      after += "new " + std::to_string(i) + "\n";
    }
    std::string diff = unified_diff(before, after, "a", "b");
    CHECK(diff.rfind("--- a\n+++ b\n@@ -1,2000 +1,2000 @@\n-old 0\n", 0) == 0);
    CHECK(diff.find("\n+new 1999\n") != std::string::npos);
  }
}
