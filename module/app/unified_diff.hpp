#pragma once
/// Line-based unified diff (Myers' O(ND) algorithm), as `diff -u` prints it.

#include <string>
#include <string_view>

namespace nicsync {

/// The unified diff from `before` to `after` with 3 lines of context, headed
/// "--- a_label" / "+++ b_label"; empty when the texts are equal.
std::string unified_diff(std::string_view before, std::string_view after, const std::string& a_label,
                         const std::string& b_label);

}  // namespace nicsync
