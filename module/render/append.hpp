#pragma once
/// Text building for the renderers.

#include <string>

namespace nicsync {

/// Appends the pieces (strings, string views, literals) to `out`, one after another. A rendered
/// file has a line or more per address and rule, thousands at 80 NICs; building each line as
/// `a + b + c` made and freed a temporary string per `+` (a third of an 80 x 50 run's
/// instructions with network-scripts).
template <typename... Pieces>
void append(std::string& out, const Pieces&... pieces) {
  (out.append(pieces), ...);
}

}  // namespace nicsync
