#include "nicsync/model.hpp"

namespace nicsync {

std::string_view vendor_name(Vendor vendor) {
  switch (vendor) {
    case Vendor::aws: return "aws";
    case Vendor::oracle: return "oracle";
    case Vendor::alibaba: return "alibaba";
  }
  return "unknown";
}

Result<Vendor> parse_vendor(std::string_view text) {
  if (text == "aws") return Vendor::aws;
  if (text == "oracle") return Vendor::oracle;
  if (text == "alibaba") return Vendor::alibaba;
  return Error{quote(text) + " is not a vendor (aws, oracle or alibaba)"};
}

const Interface* Instance::primary() const {
  for (const Interface& nic : interfaces) {
    if (nic.role == NicRole::primary) return &nic;
  }
  return nullptr;
}

bool is_hostname_label(std::string_view text) {
  if (text.empty() || text.size() > 63 || text.front() == '-' || text.back() == '-') return false;
  for (char c : text) {
    bool ok = c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace nicsync
