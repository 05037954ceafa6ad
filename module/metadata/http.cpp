#include <string>
#include <string_view>

#include "nicsync/http.hpp"

namespace nicsync {

std::string_view http_method_name(HttpMethod method) {
  switch (method) {
    case HttpMethod::get:
      return "GET";
    case HttpMethod::put:
      return "PUT";
    case HttpMethod::post:
      return "POST";
  }
  return "GET";
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

}  // namespace nicsync
