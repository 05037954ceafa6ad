#pragma once
/// The `show` command's views of an Instance.

#include <string>

#include "nicsync/model.hpp"

namespace nicsync {

/// Human-readable, one block per interface.
std::string describe_text(const Instance& instance);
/// JSON object (stable keys; see the README).
std::string describe_json(const Instance& instance);

}  // namespace nicsync
