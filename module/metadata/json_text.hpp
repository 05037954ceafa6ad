#pragma once
/// JSON values in error messages, shared by the parsers of JSON metadata (Oracle's vnics/,
/// cloud-init's instance data, the last good view).

#include <nlohmann/json.hpp>

#include <string>

#include "nicsync/address.hpp"

namespace nicsync {

/// A JSON value as it appears in the document, cut short (40 characters) for a message;
/// strings are quoted.
inline std::string shown(const nlohmann::json& value) {
  if (value.is_string()) return quote(value.get_ref<const std::string&>());
  std::string text = value.dump();
  constexpr size_t kMax = 40;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

}  // namespace nicsync
