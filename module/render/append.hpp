#pragma once
/// Text building for the renderers.

#include <cstddef>
#include <string>
#include <string_view>

namespace nicsync {

namespace append_detail {
/// A literal's length is its array's, less the terminating NUL: no strlen() per piece.
template <std::size_t N>
void piece(std::string& out, const char (&literal)[N]) {
  out.append(literal, N - 1);
}
inline void piece(std::string& out, std::string_view text) { out.append(text); }
}  // namespace append_detail

/// Appends the pieces (strings, string views, string literals) to `out`, one after another. A
/// character array is taken as a literal: all of it but the last character. A rendered
/// file has a line or more per address and rule, thousands at 80 NICs; building each line as
/// `a + b + c` made and freed a temporary string per `+` (a third of an 80 x 50 run's
/// instructions with network-scripts).
template <typename... Pieces>
void append(std::string& out, const Pieces&... pieces) {
  (append_detail::piece(out, pieces), ...);
}

}  // namespace nicsync
