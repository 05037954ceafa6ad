#include "app/unified_diff.hpp"

#include <algorithm>
#include <vector>

namespace nicsync {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  lines.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size() - 1;
    lines.push_back(text.substr(start, end - start + 1));
    start = end + 1;
  }
  return lines;
}

enum class Op { keep, remove, add };

/// Beyond this many edits the middle of the files is shown as removed and re-added: still a
/// correct diff, and the search's memory stays bounded (it grows with the square of the edits).
constexpr int kMaxEdits = 500;

/// The shortest edit script from a[lo..a_hi) to b[lo..b_hi) (Myers), appended to ops.
void myers(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b, size_t lo,
           size_t a_hi, size_t b_hi, std::vector<Op>& ops) {
  const int n = static_cast<int>(a_hi - lo);
  const int m = static_cast<int>(b_hi - lo);
  if (n == 0 || m == 0) {  // a new, emptied or removed file: no search needed
    ops.insert(ops.end(), static_cast<size_t>(n), Op::remove);
    ops.insert(ops.end(), static_cast<size_t>(m), Op::add);
    return;
  }
  auto same = [&](int x, int y) { return a[lo + static_cast<size_t>(x)] == b[lo + static_cast<size_t>(y)]; };
  // v[k] for diagonals -d..d of every step d, kept per step for the walk back.
  std::vector<std::vector<int>> trace;
  std::vector<int> v{0, 0, 0};  // before step 0: diagonal 1 "reaches" x = 0
  int v_offset = 1;
  int found = -1;
  for (int d = 0; d <= std::min(n + m, kMaxEdits) && found < 0; ++d) {
    std::vector<int> next(static_cast<size_t>(2 * d + 1), 0);
    auto at = [&](const std::vector<int>& vec, int off, int k) { return vec[static_cast<size_t>(off + k)]; };
    for (int k = -d; k <= d; k += 2) {
      bool down = k == -d || (k != d && at(v, v_offset, k - 1) < at(v, v_offset, k + 1));
      int x = down ? at(v, v_offset, k + 1) : at(v, v_offset, k - 1) + 1;
      int y = x - k;
      while (x < n && y < m && same(x, y)) {
        ++x;
        ++y;
      }
      next[static_cast<size_t>(d + k)] = x;
      if (x >= n && y >= m) found = d;
    }
    trace.push_back(next);
    // Pad so diagonals -(d+1)-1 .. (d+1)+1 can be read in the next step.
    v.assign(static_cast<size_t>(2 * d + 5), 0);
    for (int k = -d; k <= d; ++k) v[static_cast<size_t>(d + 2 + k)] = next[static_cast<size_t>(d + k)];
    v_offset = d + 2;
  }
  if (found < 0) {  // too different: remove the old middle, add the new one
    ops.insert(ops.end(), static_cast<size_t>(n), Op::remove);
    ops.insert(ops.end(), static_cast<size_t>(m), Op::add);
    return;
  }
  std::vector<Op> reversed;
  int x = n;
  int y = m;
  for (int d = found; d > 0; --d) {
    const std::vector<int>& prev = trace[static_cast<size_t>(d - 1)];
    auto prev_at = [&](int k) { return prev[static_cast<size_t>(d - 1 + k)]; };
    int k = x - y;
    bool down = k == -d || (k != d && prev_at(k - 1) < prev_at(k + 1));
    int prev_k = down ? k + 1 : k - 1;
    int prev_x = prev_at(prev_k);
    int prev_y = prev_x - prev_k;
    int mid_x = down ? prev_x : prev_x + 1;  // where the snake of step d starts
    while (x > mid_x) {
      reversed.push_back(Op::keep);
      --x;
      --y;
    }
    reversed.push_back(down ? Op::add : Op::remove);
    x = prev_x;
    y = prev_y;
  }
  while (x > 0) {
    reversed.push_back(Op::keep);
    --x;
  }
  ops.insert(ops.end(), reversed.rbegin(), reversed.rend());
}

/// The edit script from a to b: common head and tail kept, the middle by myers().
std::vector<Op> edit_script(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head && a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
    ++tail;
  }
  std::vector<Op> ops(head, Op::keep);
  myers(a, b, head, a.size() - tail, b.size() - tail, ops);
  ops.insert(ops.end(), tail, Op::keep);
  return ops;
}

/// What follows a last line that has no newline, as diff -u writes it.
constexpr std::string_view kNoNewline = "\n\\ No newline at end of file\n";

void append_line(std::string& out, char sign, std::string_view line) {
  out += sign;
  out += line;
  if (line.empty() || line.back() != '\n') out += kNoNewline;
}

std::string range(size_t start, size_t count) {
  // diff -u numbers from 1; an empty range is shown at the line before it.
  size_t first = count == 0 ? start : start + 1;
  return count == 1 ? std::to_string(first) : std::to_string(first) + "," + std::to_string(count);
}

/// The two lines that name the files.
std::string file_header(const std::string& a_label, const std::string& b_label) {
  return "--- " + a_label + "\n+++ " + b_label + "\n";
}

/// A hunk's first line: where it starts and how many lines it spans on either side.
std::string hunk_header(size_t a_start, size_t a_count, size_t b_start, size_t b_count) {
  return "@@ -" + range(a_start, a_count) + " +" + range(b_start, b_count) + " @@\n";
}

/// The diff of a new file: one hunk adding every line. What the edit script would give, without
/// splitting the file or building the script (a plan's new netplan file has thousands of lines).
std::string new_file_diff(std::string_view after, const std::string& a_label, const std::string& b_label) {
  // Two passes with memchr: count the lines (the hunk header needs them), then copy each after
  // its '+' into a string sized once. Appending line by line, and std::count before it, cost
  // 170 instructions a line.
  const bool no_newline = after.back() != '\n';
  size_t lines = no_newline ? 1 : 0;
  for (size_t at = after.find('\n'); at != std::string_view::npos; at = after.find('\n', at + 1)) ++lines;
  const std::string head = file_header(a_label, b_label) + hunk_header(0, 0, 0, lines);
  std::string out(head.size() + lines + after.size() + (no_newline ? kNoNewline.size() : 0), '\0');
  char* to = std::copy(head.begin(), head.end(), out.data());
  for (size_t start = 0; start < after.size();) {
    size_t end = after.find('\n', start);
    end = end == std::string_view::npos ? after.size() : end + 1;
    *to++ = '+';
    to = std::copy(after.data() + start, after.data() + end, to);
    start = end;
  }
  if (no_newline) std::copy(kNoNewline.begin(), kNoNewline.end(), to);
  return out;
}

}  // namespace

std::string unified_diff(std::string_view before, std::string_view after, const std::string& a_label,
                         const std::string& b_label) {
  if (before == after) return {};
  if (before.empty()) return new_file_diff(after, a_label, b_label);
  const auto a = split_lines(before);
  const auto b = split_lines(after);
  const std::vector<Op> ops = edit_script(a, b);
  constexpr size_t kContext = 3;

  std::string out;
  // Every line of either side is shown at most once, with its sign: no reallocation on the way.
  out.reserve(before.size() + after.size() + ops.size() + a_label.size() + b_label.size() + 256);
  out += file_header(a_label, b_label);
  size_t i = 0;  // position in ops
  while (i < ops.size()) {
    if (ops[i] == Op::keep) {
      ++i;
      continue;
    }
    // A hunk: from up to kContext keeps before this change to the end of a run of changes whose
    // gaps are at most 2*kContext keeps.
    size_t start = i >= kContext ? i - kContext : 0;
    while (start < i && ops[start] != Op::keep) ++start;
    size_t end = i;
    size_t last_change = i;
    while (end < ops.size()) {
      if (ops[end] != Op::keep) {
        last_change = end;
      } else if (end - last_change > 2 * kContext) {
        break;
      }
      ++end;
    }
    end = std::min(ops.size(), last_change + 1 + kContext);
    // Line numbers at `start`.
    size_t ai = 0;
    size_t bi = 0;
    for (size_t j = 0; j < start; ++j) {
      if (ops[j] != Op::add) ++ai;
      if (ops[j] != Op::remove) ++bi;
    }
    size_t a_count = 0;
    size_t b_count = 0;
    for (size_t j = start; j < end; ++j) {
      if (ops[j] != Op::add) ++a_count;
      if (ops[j] != Op::remove) ++b_count;
    }
    out += hunk_header(ai, a_count, bi, b_count);
    size_t ax = ai;
    size_t bx = bi;
    for (size_t j = start; j < end; ++j) {
      switch (ops[j]) {
        case Op::keep: append_line(out, ' ', a[ax++]); ++bx; break;
        case Op::remove: append_line(out, '-', a[ax++]); break;
        case Op::add: append_line(out, '+', b[bx++]); break;
      }
    }
    i = end;
  }
  return out;
}

}  // namespace nicsync
