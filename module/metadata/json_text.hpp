#pragma once
/// JSON values in error messages, shared by the parsers of JSON metadata (Oracle's vnics/,
/// cloud-init's instance data, the last good view).

#include <nlohmann/json.hpp>

#include <string>

#include "nicsync/address.hpp"

namespace nicsync {

/// A JSON value as it appears in the document, cut short (40 characters) for a message;
/// strings are quoted. Always printable ASCII: strings nested in arrays and objects are dumped
/// with \uXXXX escapes.
inline std::string shown(const nlohmann::json& value) {
  if (value.is_string()) return quote(value.get_ref<const std::string&>());
  constexpr size_t kMax = 40;
  // What dump(-1, ' ', true, replace) prints, but only as far as it is shown: dump() recurses
  // once per level of nesting (a hostile document of [[[[... overflows the stack) and prints it
  // all. Every level adds a character, so this stops after at most kMax + 1 levels.
  std::string text;
  auto print = [&text](const nlohmann::json& item, auto& self) -> void {
    auto dump = [](const nlohmann::json& scalar) {
      return scalar.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
    };
    if (item.is_array()) {
      text += '[';
      for (size_t i = 0; i < item.size() && text.size() <= kMax; ++i) {
        if (i != 0) text += ',';
        self(item[i], self);
      }
      text += ']';
    } else if (item.is_object()) {
      text += '{';
      for (auto it = item.begin(); it != item.end() && text.size() <= kMax; ++it) {
        if (it != item.begin()) text += ',';
        text += dump(nlohmann::json(it.key())) + ':';
        self(it.value(), self);
      }
      text += '}';
    } else {
      text += dump(item);
    }
  };
  print(value, print);
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

}  // namespace nicsync
